package server_test

// Issue 16, item 11, through the real server: an outcome recorded through
// RecordEvents can name the order (recorded earlier, or earlier in the same
// batch) or the riskd decision it is about, and then marks every identifier
// of that order, so a chargeback declines later orders sharing its device,
// card or recipient. A name riskd does not know is INVALID_ARGUMENT with
// the field, and nothing of the batch is applied. Corporate accounts are an
// instrument kind of their own.

import (
	"context"
	"strings"
	"testing"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestOutcomesNameTheirOrder(t *testing.T) {
	ctx := context.Background()
	now := gcBase
	h := gcStart(t, newGCClock(now))
	record := func(events ...*riskv1.HistoryEvent) (*riskv1.RecordEventsResponse, error) {
		return h.client.RecordEvents(ctx, &riskv1.RecordEventsRequest{Events: events})
	}
	orderEvent := func(id string, r *riskv1.ScoreGiftCardPurchaseRequest, age time.Duration) *riskv1.HistoryEvent {
		return &riskv1.HistoryEvent{EventId: id, OccurredAt: timestamppb.New(now.Add(-age)),
			Event: &riskv1.HistoryEvent_GiftCardOrder{GiftCardOrder: r}}
	}
	outcome := func(id string, o *riskv1.OutcomeEvent) *riskv1.HistoryEvent {
		o.Label = riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK
		return &riskv1.HistoryEvent{EventId: id, OccurredAt: timestamppb.New(now.Add(-time.Hour)),
			Event: &riskv1.HistoryEvent_Outcome{Outcome: o}}
	}
	// later is a small, otherwise clean order by a new account sharing one
	// identifier with a reported order.
	later := func(name string, share func(r *riskv1.ScoreGiftCardPurchaseRequest)) *riskv1.Decision {
		r := gcOrder(name, now)
		gcCards(r, 100*yuan, 1)
		share(r)
		return gcScore(t, h, r)
	}

	// An order paid outside riskd, recorded, then charged back in a later batch.
	x := gcOrder("cb-x", now)
	if _, err := record(orderEvent("cb-x-order", x, 3*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := record(outcome("cb-x-chargeback", &riskv1.OutcomeEvent{OrderEventId: "cb-x-order"})); err != nil {
		t.Fatalf("outcome naming a recorded order: %v", err)
	}
	// An order decided by riskd, charged back through RecordEvents.
	y := gcOrder("cb-y", now.Add(-2*time.Hour))
	dy := gcScore(t, h, y)
	if _, err := record(outcome("cb-y-chargeback", &riskv1.OutcomeEvent{DecisionId: dy.GetDecisionId()})); err != nil {
		t.Fatalf("outcome naming a decision: %v", err)
	}
	// An order and its chargeback in one batch.
	z := gcOrder("cb-z", now)
	if _, err := record(orderEvent("cb-z-order", z, 2*24*time.Hour),
		outcome("cb-z-chargeback", &riskv1.OutcomeEvent{OrderEventId: "cb-z-order"})); err != nil {
		t.Fatalf("order and outcome in one batch: %v", err)
	}

	for _, tc := range []struct {
		name  string
		share func(r *riskv1.ScoreGiftCardPurchaseRequest)
	}{
		{"recorded order's device", func(r *riskv1.ScoreGiftCardPurchaseRequest) { r.Client.DeviceId = x.Client.DeviceId }},
		{"recorded order's card", func(r *riskv1.ScoreGiftCardPurchaseRequest) { r.Payment.Fingerprint = x.Payment.Fingerprint }},
		{"recorded order's recipient", func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Recipient = &riskv1.Recipient{Email: x.Recipient.Email, AddedAt: timestamppb.New(now.AddDate(0, -3, 0))}
		}},
		{"decided order's card", func(r *riskv1.ScoreGiftCardPurchaseRequest) { r.Payment.Fingerprint = y.Payment.Fingerprint }},
		{"same-batch order's device", func(r *riskv1.ScoreGiftCardPurchaseRequest) { r.Client.DeviceId = z.Client.DeviceId }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := later("after-"+strings.ReplaceAll(tc.name, " ", "-"), tc.share)
			if d.GetOutcome() != gcDecline || !strings.Contains(strings.Join(gcCodes(d), ","), gcLinked) {
				t.Errorf("a new account sharing the %s: %s, want DECLINE with %s", tc.name, gcSummary(d), gcLinked)
			}
		})
	}
	t.Run("an order sharing nothing is untouched", func(t *testing.T) {
		d := later("cb-unrelated", func(*riskv1.ScoreGiftCardPurchaseRequest) {})
		gcExpect(t, "unrelated order", d, gcApprove, []string{gcFirst})
	})

	t.Run("unknown names are refused, naming the field, and nothing is applied", func(t *testing.T) {
		good := orderEvent("cb-good", gcOrder("cb-good", now), time.Hour)
		for _, tc := range []struct {
			o     *riskv1.OutcomeEvent
			field string
		}{
			{&riskv1.OutcomeEvent{DecisionId: "01900000-0000-7000-8000-000000000000"}, "events[1].outcome.decision_id"},
			{&riskv1.OutcomeEvent{OrderEventId: "never-recorded"}, "events[1].outcome.order_event_id"},
			// A later entry of the same batch is not "earlier".
			{&riskv1.OutcomeEvent{OrderEventId: "cb-after"}, "events[1].outcome.order_event_id"},
		} {
			after := orderEvent("cb-after", gcOrder("cb-after", now), time.Hour)
			_, err := record(good, outcome("cb-bad", tc.o), after)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("outcome %v: %v, want INVALID_ARGUMENT naming %s", tc.o, err, tc.field)
			}
		}
		resp, err := record(good)
		if err != nil || resp.GetRecorded() != 1 {
			t.Fatalf("the good event after the refusals: %v, %v; want it recorded now, not before", resp, err)
		}
	})

	t.Run("more than one name is refused", func(t *testing.T) {
		_, err := record(outcome("cb-two", &riskv1.OutcomeEvent{AccountId: "acct-x", OrderEventId: "cb-x-order"}))
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("outcome naming an account and an order: %v, want INVALID_ARGUMENT", err)
		}
	})

	t.Run("a corporate account pays for staff cards", func(t *testing.T) {
		r := gcOrder("corporate", now)
		r.Payment.Kind = riskv1.InstrumentKind_INSTRUMENT_KIND_CORPORATE_ACCOUNT
		r.CallerHistory = &riskv1.PurchaseHistory{PastGiftCardOrders: 12}
		gcExpect(t, "corporate account", gcScore(t, h, r), gcApprove, nil)
	})
}
