package server_test

// Issue 16, item 7, through the real server: history imported from 200 and
// 300 days ago makes a buyer a returning one, an amount far above it is
// seen as such, and RecordEvents takes history as far back as the policy's
// look-back reads, no further than the retention keeps.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/policy"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestGiftCardYearOldHistory(t *testing.T) {
	now := gcBase
	h := gcStart(t, newGCClock(now))
	day := 24 * time.Hour

	t.Run("a buyer of once-a-year cards is a returning buyer", func(t *testing.T) {
		r := gcOrder("yearly", now)
		gcCards(r, 500*yuan, 1)
		gcRecord(t, h, now, gcAs(r, "yearly-hist"), 500*yuan, 200*day, 300*day, 390*day)
		d := gcScore(t, h, r)
		gcExpect(t, "this year's card", d, gcApprove, nil)
		if n, _ := gcSignal(d, "spending.orders"); n != 3 {
			t.Errorf("spending.orders = %d, want the 3 orders of the last 400 days", n)
		}
	})

	t.Run("an amount far above last year's is above history", func(t *testing.T) {
		r := gcOrder("yearly-big", now)
		gcRecord(t, h, now, gcAs(r, "yearly-big-hist"), 300*yuan, 250*day, 320*day)
		gcCards(r, 1000*yuan, 5) // 5,000 yuan against 300
		d := gcScore(t, h, r)
		if !strings.Contains(strings.Join(gcCodes(d), ","), gcAbove) || strings.Contains(strings.Join(gcCodes(d), ","), gcFirst) {
			t.Errorf("5,000 yuan after two 300-yuan cards 250 and 320 days ago: %s, want %s and not %s", gcSummary(d), gcAbove, gcFirst)
		}
	})

	t.Run("history beyond the retention is refused, naming the event", func(t *testing.T) {
		old := gcOrder("too-old", now)
		_, err := h.client.RecordEvents(context.Background(), &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{{
			EventId: "too-old-1", OccurredAt: timestamppb.New(now.Add(-401 * day)),
			Event: &riskv1.HistoryEvent_GiftCardOrder{GiftCardOrder: old},
		}}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "events[0].occurred_at") {
			t.Fatalf("an order 401 days old: %v, want INVALID_ARGUMENT naming events[0].occurred_at", err)
		}
	})

}

// The look-back is the policy's: with 100 days, an order 150 days ago
// (kept, the retention is longer) no longer makes the buyer a returning one.
func TestGiftCardLookbackFromPolicy(t *testing.T) {
	now := gcBase
	doc := strings.Replace(string(policy.DefaultBytes()), "history_lookback: 400d", "history_lookback: 100d", 1)
	if doc == string(policy.DefaultBytes()) {
		t.Fatal("the default policy has no history_lookback: 400d to change")
	}
	h := start(t, setup{clock: newGCClock(now).Now, policyYAML: doc})
	day := 24 * time.Hour
	for _, tc := range []struct {
		name  string
		age   time.Duration
		codes []string
	}{
		{"inside the look-back", 99 * day, nil},
		{"outside the look-back", 150 * day, []string{gcFirst}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := gcOrder("lookback-"+strings.ReplaceAll(tc.name, " ", "-"), now)
			gcCards(r, 100*yuan, 1)
			gcRecord(t, h, now, gcAs(r, r.GetOrderId()+"-hist"), 100*yuan, tc.age)
			gcExpect(t, tc.name, gcScore(t, h, r), gcApprove, tc.codes)
		})
	}
}
