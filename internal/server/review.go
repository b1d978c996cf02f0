package server

// The review desk's API (risk.v1.ReviewService): searching decisions,
// working cases, and the feed of resolutions. The store does each change
// once, whoever races for it (package store, Reviews); this file turns
// requests into those changes and resolutions into what the caller must
// do.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	// claimLease is how long a claim holds a case: long enough to read it
	// and call the account holder back, short enough that a case an
	// analyst walked away from is back in the queue well before it is due.
	claimLease = 5 * time.Minute
	// defaultPageSize and maxScan bound a listing: a page, and the
	// decisions or cases one call reads to fill it.
	defaultPageSize = 50
	maxScan         = 5000
	// feedBatch is how many resolutions a watch reads at a time.
	feedBatch = 100
	// feedPoll is how often a watch looks for resolutions made by other
	// replicas; this replica's own wake it at once.
	feedPoll = time.Second
	// expiryBatch is how many due cases one expiry pass takes at a time.
	expiryBatch = 100
)

// ExpiredActor is who the audit and the feed say resolved a case that
// nobody resolved in time.
const ExpiredActor = "riskd (expired)"

// reviewService answers risk.v1.ReviewService. Requests arrive validated.
type reviewService struct {
	riskv1.UnimplementedReviewServiceServer
	store store.Store
	keys  *pseudonym.Keyer
	clock func() time.Time
	log   *slog.Logger
	// feed wakes the watches when this replica adds a resolution.
	feed *feedSignal
	// closing ends the watches: riskd is draining or shutting down.
	closing <-chan struct{}
}

var _ riskv1.ReviewServiceServer = (*reviewService)(nil)

// feedSignal wakes whoever waits on it; a waiter takes the channel before
// it reads the store, so a resolution committed meanwhile is never missed.
type feedSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newFeedSignal() *feedSignal { return &feedSignal{ch: make(chan struct{})} }

func (f *feedSignal) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ch
}

func (f *feedSignal) notify() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.ch)
	f.ch = make(chan struct{})
}

// caseProto is a case as the API shows it at now: a lapsed claim is no
// claim.
func caseProto(c *store.Case, now time.Time) *riskv1.Case {
	if c == nil {
		return nil
	}
	out := &riskv1.Case{
		DecisionId: c.DecisionID, Check: c.Check, State: riskv1.CaseState(c.State),
		OpenedAt: timestamppb.New(c.DecidedAt), DueAt: timestamppb.New(c.Due), OnExpiry: riskv1.ExpiryAction(c.OnExpiry),
		Resolution: riskv1.CaseResolution(c.Verdict), ResolvedBy: c.ResolvedBy,
	}
	if h := c.ClaimedBy(now); h != "" {
		out.Holder, out.ClaimedUntil = h, timestamppb.New(c.ClaimedUntil)
	}
	if !c.ResolvedAt.IsZero() {
		out.ResolvedAt = timestamppb.New(c.ResolvedAt)
	}
	if c.Amount.Currency != "" {
		out.Amount = &riskv1.Money{AmountMinor: c.Amount.Minor, Currency: c.Amount.Currency}
	}
	return out
}

// resolutionOf names a verdict as the API does.
func resolutionOf(v store.Verdict) string { return riskv1.CaseResolution(v).String() }

func pageSize(n int32) int {
	if n <= 0 {
		return defaultPageSize
	}
	return int(n)
}

// queryHash identifies a listing's filters (everything but the page), so
// that a page token only continues the listing it came from.
func (r *reviewService) queryHash(req proto.Message) ([8]byte, error) {
	m := proto.Clone(req)
	f := m.ProtoReflect()
	for _, name := range []string{"page_token", "page_size"} {
		f.Clear(f.Descriptor().Fields().ByName(protoreflect.Name(name)))
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return [8]byte{}, err
	}
	sum := r.keys.Content(append([]byte(string(f.Descriptor().FullName())+"\x00"), b...))
	return [8]byte(sum[:8]), nil
}

// ListDecisions implements riskv1.ReviewServiceServer.
func (r *reviewService) ListDecisions(ctx context.Context, req *riskv1.ListDecisionsRequest) (*riskv1.ListDecisionsResponse, error) {
	q := store.DecisionQuery{
		Limit: pageSize(req.GetPageSize()), MaxScan: maxScan,
		Filter: store.DecisionFilter{
			Checks: req.GetChecks(), Outcomes: req.GetOutcomes(), Actions: req.GetActions(),
			PolicyVersion: req.GetPolicyVersion(), ReasonCode: req.GetReasonCode(), Case: store.CaseFilter(req.GetCaseFilter()),
		},
	}
	if s := req.GetSubject(); s != nil {
		// Hashed exactly as a decision hashes its identifiers: the one
		// normalisation, under the one key (internal/pseudonym).
		id, ok := r.keys.Identifier(store.Kind(s.GetKind()), s.GetValue())
		if !ok {
			return nil, toStatus(ctx, r.log, &fieldError{field: "subject.value", reason: "subject.blank",
				err: errors.New("is blank once normalised as its kind")})
		}
		q.Subject = &id
	}
	if req.GetDecidedAfter() != nil {
		q.From = req.GetDecidedAfter().AsTime()
	}
	if req.GetDecidedBefore() != nil {
		q.To = req.GetDecidedBefore().AsTime()
	}
	query, err := r.queryHash(req)
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	if t := req.GetPageToken(); t != "" {
		pos, err := parsePageToken(r.keys, t, tokenDecision, query)
		if err != nil {
			return nil, toStatus(ctx, r.log, &fieldError{field: "page_token", reason: "page_token.invalid", err: err})
		}
		q.After = &store.Cursor{DecidedAt: pos.At, DecisionID: pos.ID}
	}
	page, err := r.store.ListDecisions(ctx, q)
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	now := r.clock()
	resp := &riskv1.ListDecisionsResponse{Decisions: make([]*riskv1.ListedDecision, len(page.Decisions))}
	for i, d := range page.Decisions {
		resp.Decisions[i] = &riskv1.ListedDecision{Decision: d.Decision, Case: caseProto(d.Case, now)}
	}
	if n := page.Next; n != nil {
		resp.NextPageToken = makePageToken(r.keys, tokenDecision, query, pagePosition{At: n.DecidedAt, ID: n.DecisionID})
	}
	return resp, nil
}

// ListCases implements riskv1.ReviewServiceServer.
func (r *reviewService) ListCases(ctx context.Context, req *riskv1.ListCasesRequest) (*riskv1.ListCasesResponse, error) {
	now := r.clock()
	q := store.CaseQuery{Checks: req.GetChecks(), Now: now, Limit: pageSize(req.GetPageSize()), MaxScan: maxScan}
	for _, st := range req.GetStates() {
		q.States = append(q.States, store.CaseState(st))
	}
	switch req.GetClaim() {
	case riskv1.ClaimFilter_CLAIM_FILTER_UNCLAIMED:
		q.Unclaimed = true
	case riskv1.ClaimFilter_CLAIM_FILTER_MINE:
		q.Holder = callerName(ctx)
	}
	query, err := r.queryHash(req)
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	if t := req.GetPageToken(); t != "" {
		pos, err := parsePageToken(r.keys, t, tokenCase, query)
		if err != nil {
			return nil, toStatus(ctx, r.log, &fieldError{field: "page_token", reason: "page_token.invalid", err: err})
		}
		q.After = &store.CaseCursor{Due: pos.At, DecisionID: pos.ID}
	}
	page, err := r.store.ListCases(ctx, q)
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	resp := &riskv1.ListCasesResponse{Cases: make([]*riskv1.QueuedCase, len(page.Cases))}
	for i, c := range page.Cases {
		resp.Cases[i] = &riskv1.QueuedCase{Case: caseProto(c.Case, now), Decision: c.Decision}
	}
	if n := page.Next; n != nil {
		resp.NextPageToken = makePageToken(r.keys, tokenCase, query, pagePosition{At: n.Due, ID: n.DecisionID})
	}
	return resp, nil
}

// GetCase implements riskv1.ReviewServiceServer.
func (r *reviewService) GetCase(ctx context.Context, req *riskv1.GetCaseRequest) (*riskv1.GetCaseResponse, error) {
	c, err := r.store.Case(ctx, req.GetDecisionId())
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	d, err := r.store.Decision(ctx, req.GetDecisionId())
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	audit, err := r.store.CaseAudit(ctx, req.GetDecisionId())
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	resp := &riskv1.GetCaseResponse{Case: caseProto(&c, r.clock()), Decision: d, Audit: make([]*riskv1.AuditEntry, len(audit))}
	for i, a := range audit {
		e := &riskv1.AuditEntry{Sequence: int32(a.Seq), At: timestamppb.New(a.At), Actor: a.Actor, Action: riskv1.AuditAction(a.Action),
			Resolution: riskv1.CaseResolution(a.Verdict), Note: a.Note}
		if !a.Until.IsZero() {
			e.ClaimedUntil = timestamppb.New(a.Until)
		}
		resp.Audit[i] = e
	}
	return resp, nil
}

// ClaimCase implements riskv1.ReviewServiceServer.
func (r *reviewService) ClaimCase(ctx context.Context, req *riskv1.ClaimCaseRequest) (*riskv1.ClaimCaseResponse, error) {
	now, actor := r.clock(), callerName(ctx)
	c, err := r.store.ClaimCase(ctx, store.Claim{DecisionID: req.GetDecisionId(), Actor: actor, At: now, Until: now.Add(claimLease)})
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	r.log.InfoContext(ctx, "case claimed", "decision_id", c.DecisionID, "actor", actor, "until", c.ClaimedUntil)
	return &riskv1.ClaimCaseResponse{Case: caseProto(&c, now)}, nil
}

// ReleaseClaim implements riskv1.ReviewServiceServer.
func (r *reviewService) ReleaseClaim(ctx context.Context, req *riskv1.ReleaseClaimRequest) (*riskv1.ReleaseClaimResponse, error) {
	now, actor := r.clock(), callerName(ctx)
	c, err := r.store.ReleaseClaim(ctx, req.GetDecisionId(), actor, now)
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	r.log.InfoContext(ctx, "case claim released", "decision_id", c.DecisionID, "actor", actor)
	return &riskv1.ReleaseClaimResponse{Case: caseProto(&c, now)}, nil
}

// AddCaseNote implements riskv1.ReviewServiceServer.
func (r *reviewService) AddCaseNote(ctx context.Context, req *riskv1.AddCaseNoteRequest) (*riskv1.AddCaseNoteResponse, error) {
	if err := r.store.AddCaseNote(ctx, req.GetDecisionId(), callerName(ctx), req.GetNote(), r.clock()); err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	return &riskv1.AddCaseNoteResponse{}, nil
}

// ResolveCase implements riskv1.ReviewServiceServer.
func (r *reviewService) ResolveCase(ctx context.Context, req *riskv1.ResolveCaseRequest) (*riskv1.ResolveCaseResponse, error) {
	now, actor := r.clock(), callerName(ctx)
	if _, err := r.store.Case(ctx, req.GetDecisionId()); err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	v := store.Verdict(req.GetResolution())
	ev, err := r.resolve(ctx, req.GetDecisionId(), v, labelOf(v), actor, req.GetNote(), now, byClaimHolder)
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	return &riskv1.ResolveCaseResponse{Event: ev}, nil
}

// labelOf is the label an analyst's verdict records, if any.
func labelOf(v store.Verdict) riskv1.OutcomeLabel {
	switch v {
	case store.VerdictConfirmedFraud:
		return riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED
	case store.VerdictLegitimate:
		return riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE
	}
	return riskv1.OutcomeLabel_OUTCOME_LABEL_UNSPECIFIED
}

// resolvedBy says who resolves a case, and so what it must hold.
type resolvedBy uint8

const (
	// byClaimHolder: an analyst, who must hold the case's live claim.
	byClaimHolder resolvedBy = iota
	// byExpiry: riskd, on a case still open and due.
	byExpiry
	// byReport: the caller, reporting what turned out true about the
	// decision (ReportOutcome): nobody needs to look any more.
	byReport
)

// resolve applies a verdict (and label) to a case, once, and returns the
// feed entry as the caller sees it.
func (r *reviewService) resolve(ctx context.Context, id string, v store.Verdict, label riskv1.OutcomeLabel, actor, note string, now time.Time, by resolvedBy) (*riskv1.CaseEvent, error) {
	d, err := r.store.Decision(ctx, id)
	if err != nil {
		return nil, err
	}
	ev, err := caseEvent(ctx, r.store, d, v, label, actor, now)
	if err != nil {
		return nil, err
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(ev)
	if err != nil {
		return nil, err
	}
	_, seq, err := r.store.Resolve(ctx, store.Resolution{DecisionID: id, Verdict: v, Label: ev.GetLabel(), Actor: actor, Note: note, At: now,
		ByClaim: by == byClaimHolder, Overdue: by == byExpiry, Event: body})
	if err != nil {
		return nil, err
	}
	ev.Sequence = seq
	r.feed.notify()
	r.log.InfoContext(ctx, "case resolved", "decision_id", id, "resolution", ev.GetResolution().String(), "outcome", ev.GetOutcome().String(),
		"actor", actor, "sequence", seq, "related_orders", len(ev.GetRelated()))
	return ev, nil
}

// closeByReport resolves a decision's unresolved case when its caller
// reports what turned out true (ReportOutcome), by that caller and without
// a claim: nobody needs to look any more, and the case's expiry must not
// decline an order the caller has confirmed. LEGITIMATE resolves it
// LEGITIMATE, any other label CONFIRMED_FRAUD; the label recorded is the
// one reported. A case already resolved (by an analyst a moment before),
// or none, is left as it is.
func (r *reviewService) closeByReport(ctx context.Context, id string, label riskv1.OutcomeLabel, actor, note string, now time.Time) error {
	switch c, err := r.store.Case(ctx, id); {
	case errors.Is(err, store.ErrNoCase):
		return nil
	case err != nil:
		return err
	case !c.State.Unresolved():
		return nil
	}
	v := store.VerdictConfirmedFraud
	if label == riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE {
		v = store.VerdictLegitimate
	}
	_, err := r.resolve(ctx, id, v, label, actor, note, now, byReport)
	var ce *store.CaseError
	if errors.As(err, &ce) {
		return nil
	}
	return err
}

// caseEvent is what a verdict on a decision tells the caller: its outcome
// after review, what to do, and the label it records (for a fraud or
// legitimate verdict). The labels' effects are ReportOutcome's
// (outcomeEffects).
func caseEvent(ctx context.Context, st store.Store, d *riskv1.Decision, v store.Verdict, label riskv1.OutcomeLabel, actor string, now time.Time) (*riskv1.CaseEvent, error) {
	ev := &riskv1.CaseEvent{DecisionId: d.GetDecisionId(), RequestId: d.GetRequestId(), Check: d.GetCheck(),
		Resolution: riskv1.CaseResolution(v), Actor: actor, ResolvedAt: timestamppb.New(now)}
	held := holdsCodes(d)
	var err error
	switch v {
	case store.VerdictConfirmedFraud:
		ev.Outcome, ev.Label = riskv1.Outcome_OUTCOME_DECLINE, label
		ev.Actions, ev.Related, err = outcomeEffects(ctx, st, d, ev.Label, now)
	case store.VerdictLegitimate:
		ev.Outcome, ev.Label = riskv1.Outcome_OUTCOME_APPROVE, label
		ev.Actions, ev.Related, err = outcomeEffects(ctx, st, d, ev.Label, now)
	case store.VerdictNeedsHolderConfirmation:
		ev.Outcome, ev.Actions = riskv1.Outcome_OUTCOME_REVIEW, []riskv1.Action{riskv1.Action_ACTION_CONFIRM_WITH_ACCOUNT_HOLDER}
		if held {
			ev.Actions = append(ev.Actions, riskv1.Action_ACTION_HOLD_CODE_DELIVERY)
		}
	case store.VerdictExpiredRelease:
		ev.Outcome = riskv1.Outcome_OUTCOME_APPROVE
		if held {
			ev.Actions = []riskv1.Action{riskv1.Action_ACTION_RELEASE_CODE_DELIVERY}
		}
	case store.VerdictExpiredDecline:
		ev.Outcome = riskv1.Outcome_OUTCOME_DECLINE
	case store.VerdictEscalated:
		ev.Outcome, ev.Actions = riskv1.Outcome_OUTCOME_REVIEW, []riskv1.Action{riskv1.Action_ACTION_MANUAL_REVIEW}
		if held {
			ev.Actions = append(ev.Actions, riskv1.Action_ACTION_HOLD_CODE_DELIVERY)
		}
	default:
		return nil, fmt.Errorf("no such verdict %d", v)
	}
	return ev, err
}

// expiryVerdict is the verdict of a case's expiry action.
func expiryVerdict(a store.ExpiryAction) store.Verdict {
	switch a {
	case store.ExpireRelease:
		return store.VerdictExpiredRelease
	case store.ExpireEscalate:
		return store.VerdictEscalated
	}
	return store.VerdictExpiredDecline // the strictest, for anything unknown
}

// expireDue resolves the open cases due by now with their expiry
// actions, and returns how many it resolved. Every replica runs it: the
// store applies each expiry once, and a case another replica (or an
// analyst) resolved first is passed over.
func (r *reviewService) expireDue(ctx context.Context) (int, error) {
	n := 0
	for {
		now := r.clock()
		due, err := r.store.DueCases(ctx, now, expiryBatch)
		if err != nil {
			return n, err
		}
		for _, c := range due {
			_, err := r.resolve(ctx, c.DecisionID, expiryVerdict(c.OnExpiry), 0, ExpiredActor, "", now, byExpiry)
			var ce *store.CaseError
			switch {
			case errors.As(err, &ce), errors.Is(err, store.ErrNoCase), errors.Is(err, store.ErrNotFound):
				continue // resolved, escalated or expired meanwhile, elsewhere
			case err != nil:
				return n, err
			}
			n++
		}
		if len(due) < expiryBatch {
			return n, nil
		}
	}
}

// WatchCaseResolutions implements riskv1.ReviewServiceServer.
func (r *reviewService) WatchCaseResolutions(req *riskv1.WatchCaseResolutionsRequest, stream grpc.ServerStreamingServer[riskv1.WatchCaseResolutionsResponse]) error {
	ctx := stream.Context()
	cursor := req.GetAfterSequence()
	if req.GetFromNow() {
		head, err := r.store.FeedHead(ctx)
		if err != nil {
			return toStatus(ctx, r.log, err)
		}
		cursor = head
	}
	checks := req.GetChecks()
	poll := time.NewTicker(feedPoll)
	defer poll.Stop()
	for {
		select {
		case <-r.closing:
			return toStatus(ctx, r.log, &drainingError{cursor})
		default:
		}
		woken := r.feed.wait()
		entries, err := r.store.Feed(ctx, cursor, feedBatch)
		if err != nil {
			return toStatus(ctx, r.log, err)
		}
		for _, e := range entries {
			ev := &riskv1.CaseEvent{}
			if err := proto.Unmarshal(e.Event, ev); err != nil {
				return toStatus(ctx, r.log, fmt.Errorf("feed entry %d: %w", e.Seq, err))
			}
			cursor = e.Seq
			if len(checks) > 0 && !slices.Contains(checks, ev.GetCheck()) {
				continue
			}
			ev.Sequence = e.Seq
			if err := stream.Send(&riskv1.WatchCaseResolutionsResponse{Event: ev}); err != nil {
				return err
			}
		}
		if len(entries) == feedBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return toStatus(ctx, r.log, ctx.Err())
		case <-r.closing:
			return toStatus(ctx, r.log, &drainingError{cursor})
		case <-woken:
		case <-poll.C:
		}
	}
}

// ListRelatedDecisions implements riskv1.ReviewServiceServer. It reads the
// subject index once per identifier of the decision (a handful), newest
// first, at most a page each, and merges: the decisions a case is judged
// against, without a query that could walk a shared landline's thousands.
func (r *reviewService) ListRelatedDecisions(ctx context.Context, req *riskv1.ListRelatedDecisionsRequest) (*riskv1.ListRelatedDecisionsResponse, error) {
	id, limit := req.GetDecisionId(), pageSize(req.GetPageSize())
	subjects, err := r.store.Subjects(ctx, id)
	if err != nil {
		return nil, toStatus(ctx, r.log, err)
	}
	type related struct {
		d      store.CaseDecision
		shared []riskv1.SubjectKind
	}
	byID := map[string]*related{}
	truncated := false
	for _, s := range subjects {
		kind := riskv1.SubjectKind(s.Kind)
		if len(req.GetKinds()) > 0 && !slices.Contains(req.GetKinds(), kind) {
			continue
		}
		// One more than a page: the decision itself is among them.
		page, err := r.store.ListDecisions(ctx, store.DecisionQuery{Subject: &s, Limit: limit + 1, MaxScan: maxScan})
		if err != nil {
			return nil, toStatus(ctx, r.log, err)
		}
		truncated = truncated || page.Next != nil
		for _, d := range page.Decisions {
			did := d.Decision.GetDecisionId()
			if did == id {
				continue
			}
			rel := byID[did]
			if rel == nil {
				rel = &related{d: d}
				byID[did] = rel
			}
			if !slices.Contains(rel.shared, kind) {
				rel.shared = append(rel.shared, kind)
			}
		}
	}
	all := make([]*related, 0, len(byID))
	for _, rel := range byID {
		slices.Sort(rel.shared)
		all = append(all, rel)
	}
	// Newest first, as ListDecisions: by time, then by ID, so equal times
	// list in one order on every call.
	slices.SortFunc(all, func(a, b *related) int {
		if c := b.d.Decision.GetDecidedAt().AsTime().Compare(a.d.Decision.GetDecidedAt().AsTime()); c != 0 {
			return c
		}
		return strings.Compare(b.d.Decision.GetDecisionId(), a.d.Decision.GetDecisionId())
	})
	if len(all) > limit {
		all, truncated = all[:limit], true
	}
	now := r.clock()
	resp := &riskv1.ListRelatedDecisionsResponse{Decisions: make([]*riskv1.RelatedDecision, len(all)), Truncated: truncated}
	for i, rel := range all {
		resp.Decisions[i] = &riskv1.RelatedDecision{Decision: rel.d.Decision, Case: caseProto(rel.d.Case, now), Shared: rel.shared}
	}
	return resp, nil
}
