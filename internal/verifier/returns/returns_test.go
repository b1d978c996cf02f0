package returns_test

// Unit tests of the returns verifier (R1 of docs/fraud-patterns.md, seed 001) against a
// real embedded (pebble) store and a real keyer. History is seeded the way RecordEvents
// seeds it: refund events from history.Derive, recorded in store.Record
// batches, and RETURN_ITEM_MISMATCH marks on the buyer's account
// identifier.

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pebblestore"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/returns"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// now is the instant of the decision under test.
var now = time.Date(2026, 6, 15, 9, 30, 0, 0, time.UTC)

const day = 24 * time.Hour

type fixture struct {
	t    *testing.T
	st   *pebblestore.Store
	keys *pseudonym.Keyer
	v    *returns.Verifier
	seq  int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	keys, err := pseudonym.New(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return &fixture{t: t, st: st, keys: keys, v: returns.New(st, keys)}
}

func refundReq(buyer, seller string, orders int32) *riskv1.EvaluateRefundRequest {
	return &riskv1.EvaluateRefundRequest{
		RequestId:       "req-" + buyer + "-" + seller,
		OrderId:         "order-" + buyer + "-" + seller,
		BuyerAccountId:  buyer,
		SellerId:        seller,
		Client:          &riskv1.Client{DeviceId: "device-" + buyer, IpAddress: "198.51.100.10"},
		AmountRequested: &riskv1.Money{AmountMinor: 9_900, Currency: "CNY"},
		AmountPaid:      &riskv1.Money{AmountMinor: 9_900, Currency: "CNY"},
		GoodsKind:       riskv1.GoodsKind_GOODS_KIND_PHYSICAL,
		Destination:     &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD},
		BuyerOrders_90D: orders,
	}
}

// past records a refund by buyer from seller at the given time, as
// RecordEvents would: one batch entry with what history.Derive says.
func (f *fixture) past(buyer, seller string, at time.Time) {
	f.t.Helper()
	f.seq++
	eventID := fmt.Sprintf("x%d", f.seq)
	entry, err := history.Derive(f.keys, refundReq(buyer, seller, 0), "event:"+eventID, at)
	if err != nil {
		f.t.Fatal(err)
	}
	n, dups, err := f.st.Record(context.Background(), []store.Batch{{EventID: eventID, Events: entry.Events, Links: entry.Links}})
	if err != nil || n != 1 || dups != 0 {
		f.t.Fatalf("record refund: %d recorded, %d duplicates, %v", n, dups, err)
	}
}

// mark records an outcome on the buyer's account identifier.
func (f *fixture) mark(buyer string, label riskv1.OutcomeLabel, at time.Time) {
	f.t.Helper()
	id, ok := f.keys.Identifier(store.KindAccount, buyer)
	if !ok {
		f.t.Fatalf("blank buyer %q", buyer)
	}
	f.seq++
	eventID := fmt.Sprintf("mark%d", f.seq)
	b := store.Batch{EventID: eventID, Marks: []store.IdentifierMark{{ID: id,
		Mark: store.Mark{Label: label, DecisionID: "event:" + eventID, At: at}}}}
	if n, _, err := f.st.Record(context.Background(), []store.Batch{b}); err != nil || n != 1 {
		f.t.Fatalf("record mark: %d recorded, %v", n, err)
	}
}

func (f *fixture) verify(req *riskv1.EvaluateRefundRequest) verifier.Result {
	f.t.Helper()
	res, err := f.v.Verify(context.Background(), verifier.Input{
		Check: riskv1.Check_CHECK_REFUND, DecisionID: "decision-under-test", Request: req, Now: now,
	})
	if err != nil {
		f.t.Fatalf("verify: %v", err)
	}
	return res
}

func codes(res verifier.Result) []string {
	out := make([]string, 0, len(res.Findings))
	for _, fd := range res.Findings {
		out = append(out, fd.Code)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	if s == nil {
		s = []string{}
	}
	return s
}

func wantInt(t *testing.T, res verifier.Result, name string, want int64) {
	t.Helper()
	got, ok := res.Signals[name]
	if !ok {
		t.Errorf("signal %s missing; signals %v", name, res.Signals)
		return
	}
	if v, ok := got.(int64); !ok || v != want {
		t.Errorf("signal %s = %v (%T), want int64 %d", name, got, got, want)
	}
}

func wantRate(t *testing.T, res verifier.Result, want float64) {
	t.Helper()
	got, ok := res.Signals["returns.refund_rate_90d"]
	if !ok {
		t.Errorf("returns.refund_rate_90d missing; signals %v", res.Signals)
		return
	}
	if v, ok := got.(float64); !ok || v < want-1e-9 || v > want+1e-9 {
		t.Errorf("returns.refund_rate_90d = %v (%T), want %v", got, got, want)
	}
}

func TestRefundCountsAtWindowBoundaries(t *testing.T) {
	cases := []struct {
		name     string
		ages     []time.Duration // before now, all from one seller
		n30, n90 int64
	}{
		{"no history: this refund alone", nil, 1, 1},
		{"exactly 30 days ago is inside 30 days", []time.Duration{30 * day}, 2, 2},
		{"30 days and a nanosecond ago is outside 30, inside 90", []time.Duration{30*day + time.Nanosecond}, 1, 2},
		{"exactly 90 days ago is inside 90 days", []time.Duration{90 * day}, 1, 2},
		{"90 days and a nanosecond ago is outside", []time.Duration{90*day + time.Nanosecond}, 1, 1},
		{"a refund at this very instant counts", []time.Duration{0}, 2, 2},
		{"a refund a nanosecond in the future does not", []time.Duration{-time.Nanosecond}, 1, 1},
		{"mixed", []time.Duration{time.Hour, 29 * day, 31 * day, 89 * day, 91 * day, 400 * day}, 3, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for _, age := range tc.ages {
				f.past("buyer-w", "seller-a", now.Add(-age))
			}
			res := f.verify(refundReq("buyer-w", "seller-a", 0))
			wantInt(t, res, "returns.refunds_30d", tc.n30)
			wantInt(t, res, "returns.refunds_90d", tc.n90)
			wantInt(t, res, "returns.sellers_90d", 1)
			wantInt(t, res, "returns.item_mismatch_reports", 0)
		})
	}
}

func TestRefundCountsOnlyThisBuyersRefunds(t *testing.T) {
	f := newFixture(t)
	// Other buyers' refunds from the same seller, and this buyer's
	// gift-card orders under the same account identifier, are not its
	// refunds.
	for i := range 5 {
		f.past(fmt.Sprintf("other-buyer-%d", i), "seller-a", now.Add(-time.Duration(i+1)*day))
	}
	gc := &riskv1.ScoreGiftCardPurchaseRequest{AccountId: "buyer-o", Client: &riskv1.Client{DeviceId: "d"},
		Total: &riskv1.Money{AmountMinor: 100, Currency: "CNY"}}
	entry, err := history.Derive(f.keys, gc, "event:gc", now.Add(-day))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.st.Record(context.Background(), []store.Batch{{EventID: "gc", Events: entry.Events}}); err != nil {
		t.Fatal(err)
	}
	f.mark("other-buyer-0", riskv1.OutcomeLabel_OUTCOME_LABEL_RETURN_ITEM_MISMATCH, now.Add(-time.Hour))

	res := f.verify(refundReq("buyer-o", "seller-a", 0))
	wantInt(t, res, "returns.refunds_30d", 1)
	wantInt(t, res, "returns.refunds_90d", 1)
	wantInt(t, res, "returns.sellers_90d", 1)
	wantInt(t, res, "returns.item_mismatch_reports", 0)
	if got := codes(res); len(got) != 0 {
		t.Errorf("findings %v, want none", got)
	}
}

func TestRefundRateWithAndWithoutOrders(t *testing.T) {
	cases := []struct {
		name     string
		orders   int32
		past     int // refunds 40..(40+past) days ago: in 90, not in 30
		rate     float64
		hasRate  bool
		findings []string
	}{
		{"unknown orders: no rate claimed", 0, 0, 0, false, nil},
		{"three refunds, orders unknown, not serial", 0, 2, 0, false, nil},
		{"one refund of ten orders", 10, 0, 0.1, true, nil},
		{"three refunds of seven orders: below half", 7, 2, 3.0 / 7, true, nil},
		{"three refunds of six orders: exactly half is serial", 6, 2, 0.5, true, []string{returns.CodeSerial}},
		{"two refunds of four orders: half, but fewer than three", 4, 1, 0.5, true, nil},
		{"more refunds than orders the caller knows: rate capped at 1", 2, 2, 1, true, []string{returns.CodeSerial}},
		{"many orders, two refunds", 50, 1, 0.04, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for i := range tc.past {
				f.past("buyer-r", "seller-a", now.Add(-time.Duration(40+i)*day))
			}
			res := f.verify(refundReq("buyer-r", "seller-a", tc.orders))
			wantInt(t, res, "returns.refunds_30d", 1)
			wantInt(t, res, "returns.refunds_90d", int64(tc.past+1))
			if tc.hasRate {
				wantRate(t, res, tc.rate)
			} else if v, ok := res.Signals["returns.refund_rate_90d"]; ok {
				t.Errorf("rate %v claimed without the buyer's order count", v)
			}
			if got, want := codes(res), sorted(tc.findings...); !slices.Equal(got, want) {
				t.Errorf("findings %v, want %v", got, want)
			}
		})
	}
}

func TestRefundDistinctSellers(t *testing.T) {
	cases := []struct {
		name     string
		past     []string // sellers of earlier refunds, 40+ days ago
		seller   string   // seller of this refund
		want     int64
		findings []string
	}{
		{"same seller twice counts once", []string{"seller-a", "seller-a"}, "seller-a", 1, nil},
		{"two sellers", []string{"seller-a", "seller-a"}, "seller-b", 2, nil},
		{"three sellers, this one included", []string{"seller-a", "seller-b"}, "seller-c", 3, []string{returns.CodeManySellers}},
		{"three refunds, two sellers", []string{"seller-a", "seller-b"}, "seller-a", 2, nil},
		{"five sellers", []string{"s1", "s2", "s3", "s4"}, "s5", 5, []string{returns.CodeManySellers}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for i, s := range tc.past {
				f.past("buyer-s", s, now.Add(-time.Duration(40+i*5)*day))
			}
			res := f.verify(refundReq("buyer-s", tc.seller, 0))
			wantInt(t, res, "returns.sellers_90d", tc.want)
			if got, want := codes(res), sorted(tc.findings...); !slices.Equal(got, want) {
				t.Errorf("findings %v, want %v", got, want)
			}
		})
	}

	t.Run("a seller refunded over 90 days ago is not counted", func(t *testing.T) {
		f := newFixture(t)
		f.past("buyer-s", "seller-old-1", now.Add(-91*day))
		f.past("buyer-s", "seller-old-2", now.Add(-100*day))
		f.past("buyer-s", "seller-b", now.Add(-50*day))
		res := f.verify(refundReq("buyer-s", "seller-c", 0))
		wantInt(t, res, "returns.sellers_90d", 2)
		if got := codes(res); len(got) != 0 {
			t.Errorf("findings %v, want none", got)
		}
	})
}

func TestRefundSerialThresholds(t *testing.T) {
	cases := []struct {
		name     string
		ages     []time.Duration
		findings []string
	}{
		{"two in 30 days: not serial", []time.Duration{5 * day}, nil},
		{"three in 30 days: serial", []time.Duration{5 * day, 29 * day}, []string{returns.CodeSerial}},
		{"three in 31 days: not serial", []time.Duration{5 * day, 31 * day}, nil},
		{"five in 90 days, two in 30: not serial", []time.Duration{day, 40 * day, 50 * day, 60 * day}, nil},
		{"six in 90 days, two in 30: serial", []time.Duration{day, 40 * day, 50 * day, 60 * day, 90 * day}, []string{returns.CodeSerial}},
		{"six over 91 days: not serial", []time.Duration{day, 40 * day, 50 * day, 60 * day, 91 * day}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for _, age := range tc.ages {
				f.past("buyer-t", "seller-a", now.Add(-age)) // one seller: no spread
			}
			res := f.verify(refundReq("buyer-t", "seller-a", 0))
			if got, want := codes(res), sorted(tc.findings...); !slices.Equal(got, want) {
				t.Errorf("findings %v, want %v (signals %v)", got, want, res.Signals)
			}
			for _, fd := range res.Findings {
				if fd.Code == returns.CodeSerial && (fd.Score != 30 || fd.Message == "") {
					t.Errorf("serial finding %+v, want score 30 with a sentence", fd)
				}
			}
		})
	}
}

func TestRefundItemMismatchHistory(t *testing.T) {
	t.Run("one report on the buyer", func(t *testing.T) {
		f := newFixture(t)
		f.past("buyer-m", "seller-a", now.Add(-20*day))
		f.mark("buyer-m", riskv1.OutcomeLabel_OUTCOME_LABEL_RETURN_ITEM_MISMATCH, now.Add(-10*day))
		res := f.verify(refundReq("buyer-m", "seller-b", 0))
		wantInt(t, res, "returns.item_mismatch_reports", 1)
		if got, want := codes(res), sorted(returns.CodeMismatchHistory); !slices.Equal(got, want) {
			t.Fatalf("findings %v, want %v", got, want)
		}
		if fd := res.Findings[0]; fd.Score != 40 || fd.Message == "" {
			t.Errorf("finding %+v, want score 40 with a sentence", fd)
		}
	})
	t.Run("reports are not windowed; other labels do not count", func(t *testing.T) {
		f := newFixture(t)
		f.mark("buyer-m", riskv1.OutcomeLabel_OUTCOME_LABEL_RETURN_ITEM_MISMATCH, now.Add(-300*day))
		f.mark("buyer-m", riskv1.OutcomeLabel_OUTCOME_LABEL_RETURN_ITEM_MISMATCH, now.Add(-2*day))
		f.mark("buyer-m", riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, now.Add(-day))
		f.mark("buyer-m", riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK, now.Add(-day))
		res := f.verify(refundReq("buyer-m", "seller-a", 0))
		wantInt(t, res, "returns.item_mismatch_reports", 2)
		if got, want := codes(res), sorted(returns.CodeMismatchHistory); !slices.Equal(got, want) {
			t.Errorf("findings %v, want %v", got, want)
		}
	})
	t.Run("a legitimate report alone adds nothing", func(t *testing.T) {
		f := newFixture(t)
		f.mark("buyer-m", riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, now.Add(-day))
		res := f.verify(refundReq("buyer-m", "seller-a", 0))
		wantInt(t, res, "returns.item_mismatch_reports", 0)
		if got := codes(res); len(got) != 0 {
			t.Errorf("findings %v, want none", got)
		}
	})
	t.Run("seed 001 history: serial, many sellers and a mismatch report", func(t *testing.T) {
		f := newFixture(t)
		for i, s := range []string{"lipstick-seller", "phone-seller", "seller-3", "seller-4"} {
			f.past("buyer-001", s, now.Add(-time.Duration(24-6*i)*day))
		}
		f.mark("buyer-001", riskv1.OutcomeLabel_OUTCOME_LABEL_RETURN_ITEM_MISMATCH, now.Add(-10*day))
		res := f.verify(refundReq("buyer-001", "seller-5", 8))
		wantInt(t, res, "returns.refunds_30d", 5)
		wantInt(t, res, "returns.refunds_90d", 5)
		wantInt(t, res, "returns.sellers_90d", 5)
		wantInt(t, res, "returns.item_mismatch_reports", 1)
		wantRate(t, res, 5.0/8)
		want := sorted(returns.CodeSerial, returns.CodeManySellers, returns.CodeMismatchHistory)
		if got := codes(res); !slices.Equal(got, want) {
			t.Errorf("findings %v, want %v", got, want)
		}
		total := 0
		for _, fd := range res.Findings {
			total += fd.Score
		}
		if total != 85 {
			t.Errorf("findings add %d, want 30+15+40 = 85", total)
		}
	})
}

func TestRefundMessagesHoldNoIdentifiers(t *testing.T) {
	f := newFixture(t)
	for i, s := range []string{"seller-x1", "seller-x2", "seller-x3"} {
		f.past("buyer-secret-77", s, now.Add(-time.Duration(i+1)*day))
	}
	f.mark("buyer-secret-77", riskv1.OutcomeLabel_OUTCOME_LABEL_RETURN_ITEM_MISMATCH, now.Add(-day))
	res := f.verify(refundReq("buyer-secret-77", "seller-x4", 0))
	if len(res.Findings) != 3 {
		t.Fatalf("findings %v, want three", codes(res))
	}
	for _, fd := range res.Findings {
		if strings.Contains(fd.Message, "buyer-secret-77") || strings.Contains(fd.Message, "seller-x") {
			t.Errorf("finding sentence names an identifier: %q", fd.Message)
		}
	}
}

func TestRefundVerifierRefusesOtherRequests(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		in   verifier.Input
	}{
		{"a seller check", verifier.Input{Check: riskv1.Check_CHECK_SELLER, Request: &riskv1.CheckSellerRequest{SellerId: "s"}, Now: now}},
		{"a gift-card purchase", verifier.Input{Check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE,
			Request: &riskv1.ScoreGiftCardPurchaseRequest{AccountId: "a"}, Now: now}},
		{"a refund without a buyer account", verifier.Input{Check: riskv1.Check_CHECK_REFUND,
			Request: refundReq("   ", "seller-a", 0), Now: now}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.v.Verify(context.Background(), tc.in)
			if err == nil {
				t.Fatalf("want an error, got %+v", res)
			}
			if len(res.Findings) != 0 || len(res.Signals) != 0 {
				t.Errorf("an error came with a result: %+v", res)
			}
		})
	}
}
