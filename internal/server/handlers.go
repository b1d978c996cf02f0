package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
)

// riskService answers risk.v1.RiskService. Requests arrive validated.
type riskService struct {
	riskv1.UnimplementedRiskServiceServer
	engine    *engine.Engine
	store     store.Store
	keys      *pseudonym.Keyer
	retention store.Retention
	clock     func() time.Time
	log       *slog.Logger
	// review closes a decision's case when its outcome is reported.
	review *reviewService
}

var _ riskv1.RiskServiceServer = (*riskService)(nil)

func (r *riskService) CheckSeller(ctx context.Context, req *riskv1.CheckSellerRequest) (*riskv1.CheckSellerResponse, error) {
	d, err := r.engine.Decide(ctx, riskv1.Check_CHECK_SELLER, req.GetRequestId(), req)
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	return &riskv1.CheckSellerResponse{Decision: d}, nil
}

func (r *riskService) ScoreGiftCardPurchase(ctx context.Context, req *riskv1.ScoreGiftCardPurchaseRequest) (*riskv1.ScoreGiftCardPurchaseResponse, error) {
	d, err := r.engine.Decide(ctx, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, req.GetRequestId(), req)
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	return &riskv1.ScoreGiftCardPurchaseResponse{Decision: d}, nil
}

func (r *riskService) EvaluateRefund(ctx context.Context, req *riskv1.EvaluateRefundRequest) (*riskv1.EvaluateRefundResponse, error) {
	d, err := r.engine.Decide(ctx, riskv1.Check_CHECK_REFUND, req.GetRequestId(), req)
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	return &riskv1.EvaluateRefundResponse{Decision: d}, nil
}

func (r *riskService) GetDecision(ctx context.Context, req *riskv1.GetDecisionRequest) (*riskv1.GetDecisionResponse, error) {
	d, err := r.store.Decision(ctx, req.GetDecisionId())
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	return &riskv1.GetDecisionResponse{Decision: d}, nil
}

func (r *riskService) ReportOutcome(ctx context.Context, req *riskv1.ReportOutcomeRequest) (*riskv1.ReportOutcomeResponse, error) {
	now := r.clock()
	err := r.store.ReportOutcome(ctx, store.Outcome{
		DecisionID: req.GetDecisionId(), Label: req.GetLabel(), Note: req.GetNote(), At: now,
	})
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	d, err := r.store.Decision(ctx, req.GetDecisionId())
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	resp := &riskv1.ReportOutcomeResponse{}
	if resp.Actions, resp.Related, err = outcomeEffects(ctx, r.store, d, req.GetLabel(), now); err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	// A case still open for the decision is answered by this report.
	if err := r.review.closeByReport(ctx, d.GetDecisionId(), req.GetLabel(), callerName(ctx), req.GetNote(), now); err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	r.log.InfoContext(ctx, "outcome reported", "decision_id", req.GetDecisionId(), "label", req.GetLabel().String(),
		"related_orders", len(resp.Related))
	return resp, nil
}

// outcomeEffects is what follows from a label on a decision, for the
// caller to act on: ReportOutcome's answer, and a case resolution's (one
// code path). A fraud or chargeback on a gift-card order lists the related
// orders to freeze; LEGITIMATE on an order whose codes are held releases
// them.
func outcomeEffects(ctx context.Context, st store.Store, d *riskv1.Decision, label riskv1.OutcomeLabel, now time.Time) ([]riskv1.Action, []*riskv1.RelatedOrder, error) {
	if d.GetCheck() != riskv1.Check_CHECK_GIFT_CARD_PURCHASE {
		return nil, nil, nil
	}
	switch label {
	case riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK:
		related, err := relatedOrders(ctx, st, d.GetDecisionId(), now)
		return nil, related, err
	case riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE:
		if holdsCodes(d) {
			return []riskv1.Action{riskv1.Action_ACTION_RELEASE_CODE_DELIVERY}, nil, nil
		}
	}
	return nil, nil, nil
}

// holdsCodes reports whether a decision has gift-card codes waiting: it
// held them, and did not decline (a declined order issued none).
func holdsCodes(d *riskv1.Decision) bool {
	return d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE && slices.Contains(d.GetActions(), riskv1.Action_ACTION_HOLD_CODE_DELIVERY)
}

// freezeWindow is how far back orders linked to a reported fraud are
// listed: codes older than this are drained already, if they ever will be.
const freezeWindow = 72 * time.Hour

// relatedOrders lists the gift-card orders of the last 72 hours that share
// an account, device, instrument or recipient with a reported one and were
// not declined (a declined order issued no codes).
func relatedOrders(ctx context.Context, st store.Store, decisionID string, now time.Time) ([]*riskv1.RelatedOrder, error) {
	subjects, err := st.Subjects(ctx, decisionID)
	if err != nil {
		return nil, err
	}
	shared := map[string][]string{}
	for _, id := range subjects {
		events, err := st.Events(ctx, history.SeriesGiftCard, id, now.Add(-freezeWindow), now.Add(time.Second), 0)
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			// Event IDs start with their decision ID, or "event:<id>" for
			// history from RecordEvents (see history.Derive); the caller's
			// <id> may hold "/" too.
			order := history.EventPrefix(e.ID)
			if order == decisionID || history.IsDeclined(e.Ref) {
				continue
			}
			if !slices.Contains(shared[order], id.Kind.Name()) {
				shared[order] = append(shared[order], id.Kind.Name())
			}
		}
	}
	out := make([]*riskv1.RelatedOrder, 0, len(shared))
	for order, kinds := range shared {
		ro := &riskv1.RelatedOrder{Actions: []riskv1.Action{riskv1.Action_ACTION_FREEZE_ISSUED_CODES}, Shared: kinds}
		if ev, ok := strings.CutPrefix(order, eventPrefix); ok {
			ro.EventId = ev
		} else {
			ro.DecisionId = order
		}
		slices.Sort(ro.Shared)
		out = append(out, ro)
	}
	slices.SortFunc(out, func(a, b *riskv1.RelatedOrder) int {
		return strings.Compare(a.GetDecisionId()+a.GetEventId(), b.GetDecisionId()+b.GetEventId())
	})
	return out, nil
}

// eventPrefix starts the history IDs of events from RecordEvents.
const eventPrefix = "event:"

// maxClockSkew is how far in the future an event's time may be, for callers
// whose clocks run a little ahead of ours.
const maxClockSkew = time.Minute

// outcomeSubjects returns the identifiers an outcome event marks: its
// account or seller, the subjects of the decision it names, or those of the
// order it names (recorded earlier, or earlier in this batch). A decision
// or order riskd does not know is the caller's mistake: a violation on the
// field, not an error.
func (r *riskService) outcomeSubjects(ctx context.Context, o *riskv1.OutcomeEvent, earlier []store.Batch) ([]store.Identifier, *errdetails.BadRequest_FieldViolation, error) {
	switch {
	case o.GetDecisionId() != "":
		ids, err := r.store.Subjects(ctx, o.GetDecisionId())
		if errors.Is(err, store.ErrNotFound) {
			return nil, &errdetails.BadRequest_FieldViolation{Field: "decision_id",
				Description: "names no decision riskd keeps", Reason: "decision_id.unknown"}, nil
		}
		return ids, nil, err
	case o.GetOrderEventId() != "":
		for _, b := range slices.Backward(earlier) {
			if b.EventID == o.GetOrderEventId() {
				return b.Subjects, nil, nil
			}
		}
		ids, err := r.store.RecordedSubjects(ctx, o.GetOrderEventId())
		if errors.Is(err, store.ErrNotFound) {
			return nil, &errdetails.BadRequest_FieldViolation{Field: "order_event_id",
				Description: "names no order recorded through RecordEvents that riskd keeps", Reason: "order_event_id.unknown"}, nil
		}
		return ids, nil, err
	}
	kind, raw := store.KindAccount, o.GetAccountId()
	if raw == "" {
		kind, raw = store.KindSeller, o.GetSellerId()
	}
	if id, ok := r.keys.Identifier(kind, raw); ok {
		return []store.Identifier{id}, nil, nil
	}
	return nil, nil, nil
}

// RecordEvents takes a batch of past events. It is all or nothing: if any
// event is bad, none is applied and every bad one is reported by index, so
// the caller fixes them and sends the same batch again (event IDs make
// that safe) instead of working out which half went in.
func (r *riskService) RecordEvents(ctx context.Context, req *riskv1.RecordEventsRequest) (*riskv1.RecordEventsResponse, error) {
	now := r.clock()
	oldest := now.Add(-r.retention.Events)
	var bad []*errdetails.BadRequest_FieldViolation
	batch := make([]store.Batch, 0, len(req.GetEvents()))
	for i, ev := range req.GetEvents() {
		at := ev.GetOccurredAt().AsTime()
		field := fmt.Sprintf("events[%d].occurred_at", i)
		switch {
		case at.After(now.Add(maxClockSkew)):
			bad = append(bad, &errdetails.BadRequest_FieldViolation{Field: field, Description: "is in the future", Reason: "occurred_at.future"})
			continue
		case at.Before(oldest):
			bad = append(bad, &errdetails.BadRequest_FieldViolation{Field: field,
				Description: fmt.Sprintf("is older than the %s retention period", r.retention.Events), Reason: "occurred_at.too_old"})
			continue
		}
		b := store.Batch{EventID: ev.GetEventId()}
		prefix := eventPrefix + ev.GetEventId()
		var derived proto.Message
		switch e := ev.GetEvent().(type) {
		case *riskv1.HistoryEvent_GiftCardOrder:
			derived = e.GiftCardOrder
		case *riskv1.HistoryEvent_Refund:
			derived = e.Refund
		case *riskv1.HistoryEvent_Outcome:
			ids, violation, err := r.outcomeSubjects(ctx, e.Outcome, batch)
			if err != nil {
				return nil, toStatus(ctx, r.log, err)
			}
			if violation != nil {
				violation.Field = fmt.Sprintf("events[%d].outcome.%s", i, violation.Field)
				bad = append(bad, violation)
				continue
			}
			mark := store.Mark{Label: e.Outcome.GetLabel(), DecisionID: prefix, At: at}
			for _, id := range ids {
				b.Marks = append(b.Marks, store.IdentifierMark{ID: id, Mark: mark})
			}
		}
		if derived != nil {
			entry, err := history.Derive(r.keys, derived, prefix, at)
			if err != nil {
				return nil, toStatus(ctx, r.log, err)
			}
			b.Subjects, b.Events, b.Links = entry.Subjects, entry.Events, entry.Links
		}
		batch = append(batch, b)
	}
	if len(bad) > 0 {
		return nil, invalidArgument(&errdetails.BadRequest{FieldViolations: bad})
	}
	recorded, dups, err := r.store.Record(ctx, batch)
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	return &riskv1.RecordEventsResponse{Recorded: int32(recorded), Duplicates: int32(dups)}, nil
}
