package velocity_test

// Unit tests of the velocity verifier (G1 and G2 of docs/fraud-patterns.md) against a
// small in-memory history reader with the stores' Events semantics. Past
// orders are written the way the server commits them: the events
// history.Derive returns for the request at its decision time.

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/history/historytest"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pebblestore"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/velocity"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// now is the instant of the decision under test.
var now = time.Date(2026, 6, 15, 9, 30, 0, 0, time.UTC)

// ids are the four keys a gift-card order counts under.
type ids struct{ account, device, instrument, recipient string }

// mine is the order under test's keys.
var mine = ids{"acct-me", "device-me", "card-fp-me", "me@example.com"}

// strangers are keys the order under test does not share.
var strangers = ids{"acct-other", "device-other", "card-fp-other", "other@example.com"}

// sharing returns strangers' keys with one of kind taken from mine.
func sharing(kind store.Kind) ids {
	k := strangers
	switch kind {
	case store.KindAccount:
		k.account = mine.account
	case store.KindDevice:
		k.device = mine.device
	case store.KindInstrument:
		k.instrument = mine.instrument
	case store.KindRecipient:
		k.recipient = mine.recipient
	default:
		panic(fmt.Sprintf("no key of kind %v", kind))
	}
	return k
}

// order is a gift-card order of the given total over card lines with the
// given quantities.
func order(k ids, total int64, quantities ...int32) *riskv1.ScoreGiftCardPurchaseRequest {
	req := &riskv1.ScoreGiftCardPurchaseRequest{
		RequestId: "req-" + k.account,
		OrderId:   "order-" + k.account,
		AccountId: k.account,
		Total:     &riskv1.Money{AmountMinor: total, Currency: "CNY"},
		Brand:     "apple",
	}
	if k.device != "" {
		req.Client = &riskv1.Client{DeviceId: k.device, IpAddress: "198.51.100.7"}
	}
	if k.instrument != "" {
		req.Payment = &riskv1.PaymentInstrument{Fingerprint: k.instrument, Kind: riskv1.InstrumentKind_INSTRUMENT_KIND_DEBIT_CARD}
	}
	if k.recipient != "" {
		req.Recipient = &riskv1.Recipient{Email: k.recipient}
	}
	for _, q := range quantities {
		req.Cards = append(req.Cards, &riskv1.GiftCardLine{FaceValueMinor: 10_000, Quantity: q})
	}
	return req
}

type fixture struct {
	t    *testing.T
	keys *pseudonym.Keyer
	h    *historytest.Reader
	v    *velocity.Verifier
	seq  int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	keys, err := pseudonym.New(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	h := &historytest.Reader{}
	return &fixture{t: t, keys: keys, h: h, v: velocity.New(h, keys)}
}

// past writes what the server commits for req decided at at; a declined
// order's gift-card events carry history.RefDeclined.
func (f *fixture) past(req *riskv1.ScoreGiftCardPurchaseRequest, at time.Time, declined bool) {
	f.t.Helper()
	f.seq++
	f.h.AddDecided(f.t, f.keys, req, fmt.Sprintf("decision-%d", f.seq), at, declined)
}

func (f *fixture) verify(req *riskv1.ScoreGiftCardPurchaseRequest) verifier.Result {
	f.t.Helper()
	res, err := f.v.Verify(context.Background(), verifier.Input{
		Check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE, DecisionID: "decision-under-test", Request: req, Now: now,
	})
	if err != nil {
		f.t.Fatalf("verify: %v", err)
	}
	if len(res.Findings) != 0 {
		f.t.Errorf("velocity returned findings %+v; it returns signals only", res.Findings)
	}
	return res
}

// counts are one key's numbers in one window.
type counts struct{ count, amount, cards int64 }

var (
	windows = []string{"10m", "1h", "24h"}
	kinds   = []struct {
		kind store.Kind
		name string
	}{
		{store.KindAccount, "account"},
		{store.KindDevice, "device"},
		{store.KindInstrument, "instrument"},
		{store.KindRecipient, "recipient"},
	}
)

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

func wantCounts(t *testing.T, res verifier.Result, key, window string, want counts) {
	t.Helper()
	prefix := "velocity." + key + "." + window + "."
	wantInt(t, res, prefix+"count", want.count)
	wantInt(t, res, prefix+"amount", want.amount)
	wantInt(t, res, prefix+"cards", want.cards)
}

// Guards: each of the four keys is counted over exactly [now-10m, now],
// [now-1h, now] and [now-24h, now], both ends inclusive, at nanosecond
// precision, and keys count independently.
func TestVelocityWindowEdges(t *testing.T) {
	const (
		ownTotal, ownCards   = 30_000, 3 // this order: lines of 1 and 2 cards
		pastTotal, pastCards = 12_345, 7
	)
	cases := []struct {
		name string
		age  time.Duration // how long before now the past order was decided
		in   [3]bool       // whether it counts in 10m, 1h, 24h
	}{
		{"exactly 10 minutes ago is inside 10m", 10 * time.Minute, [3]bool{true, true, true}},
		{"1ns inside 10 minutes", 10*time.Minute - time.Nanosecond, [3]bool{true, true, true}},
		{"1ns outside 10 minutes", 10*time.Minute + time.Nanosecond, [3]bool{false, true, true}},
		{"exactly 1 hour ago is inside 1h", time.Hour, [3]bool{false, true, true}},
		{"1ns inside 1 hour", time.Hour - time.Nanosecond, [3]bool{false, true, true}},
		{"1ns outside 1 hour", time.Hour + time.Nanosecond, [3]bool{false, false, true}},
		{"exactly 24 hours ago is inside 24h", 24 * time.Hour, [3]bool{false, false, true}},
		{"1ns inside 24 hours", 24*time.Hour - time.Nanosecond, [3]bool{false, false, true}},
		{"1ns outside 24 hours", 24*time.Hour + time.Nanosecond, [3]bool{false, false, false}},
		{"12 hours and a nanosecond ago is inside 24h", 12*time.Hour + time.Nanosecond, [3]bool{false, false, true}},
		{"30 minutes ago is outside 10m, inside 1h", 30 * time.Minute, [3]bool{false, true, true}},
		{"2 hours ago is outside 1h", 2 * time.Hour, [3]bool{false, false, true}},
		{"at this very instant", 0, [3]bool{true, true, true}},
		{"1ns in the future is not history yet", -time.Nanosecond, [3]bool{false, false, false}},
	}
	for _, k := range kinds {
		for _, tc := range cases {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t)
				// One past order sharing only this key with the order under test.
				f.past(order(sharing(k.kind), pastTotal, 3, 4), now.Add(-tc.age), false)
				res := f.verify(order(mine, ownTotal, 1, 2))
				for _, other := range kinds {
					for i, w := range windows {
						want := counts{1, ownTotal, ownCards}
						if other.kind == k.kind && tc.in[i] {
							want = counts{2, ownTotal + pastTotal, ownCards + pastCards}
						}
						wantCounts(t, res, other.name, w, want)
					}
				}
			})
		}
	}
}

// Guards: the order under test counts itself, its value and its cards in
// every window of every key, even with no history at all.
func TestVelocityCountsThisOrder(t *testing.T) {
	f := newFixture(t)
	res := f.verify(order(mine, 88_800, 2, 5, 1))
	for _, k := range kinds {
		for _, w := range windows {
			wantCounts(t, res, k.name, w, counts{1, 88_800, 8})
		}
	}
	for _, k := range kinds[1:] {
		for _, w := range windows[1:] {
			if got := res.Signals["velocity."+k.name+"."+w+".accounts"]; got != int64(1) {
				t.Errorf("%s %s accounts = %v, want 1 (this order's)", k.name, w, got)
			}
		}
	}
	// count, amount, cards for four keys; accounts over 1h and 24h for
	// the three shared ones.
	if len(res.Signals) != 4*3*3+3*2 {
		t.Errorf("%d signals, want 42: %v", len(res.Signals), res.Signals)
	}
}

// Guards: counts, amounts and cards are sums over every past order in the
// window (declined attempts included), each order's own amount and cards;
// other series and other keys are not counted.
func TestVelocitySumsAmountsAndCards(t *testing.T) {
	f := newFixture(t)
	acct := sharing(store.KindAccount)
	f.past(order(acct, 1_000, 1), now.Add(-2*time.Minute), false)           // 10m
	f.past(order(acct, 20_000, 2), now.Add(-9*time.Minute), true)           // 10m, declined
	f.past(order(acct, 300_000, 1, 3), now.Add(-40*time.Minute), false)     // 1h
	f.past(order(acct, 4_000_000, 8), now.Add(-5*time.Hour), false)         // 24h
	f.past(order(acct, 50_000_000, 16), now.Add(-25*time.Hour), false)      // outside
	f.past(order(strangers, 600_000_000, 32), now.Add(-time.Minute), false) // other keys
	// A refund by the same account is in another series.
	refund, err := history.Derive(f.keys, &riskv1.EvaluateRefundRequest{
		BuyerAccountId: mine.account, SellerId: "seller-1",
		AmountRequested: &riskv1.Money{AmountMinor: 7_000_000_000, Currency: "CNY"},
	}, "refund-1", now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	f.h.Add(refund.Events...)

	res := f.verify(order(mine, 100, 1))
	wantCounts(t, res, "account", "10m", counts{3, 100 + 1_000 + 20_000, 1 + 1 + 2})
	wantCounts(t, res, "account", "1h", counts{4, 100 + 1_000 + 20_000 + 300_000, 1 + 1 + 2 + 4})
	wantCounts(t, res, "account", "24h", counts{5, 100 + 1_000 + 20_000 + 300_000 + 4_000_000, 1 + 1 + 2 + 4 + 8})
	for _, k := range kinds[1:] {
		for _, w := range windows {
			wantCounts(t, res, k.name, w, counts{1, 100, 1})
		}
	}
}

// Guards: only the keys the order carries are counted; a blank device,
// instrument or recipient is no key and gets no signals.
func TestVelocityOnlyKeysTheOrderCarries(t *testing.T) {
	f := newFixture(t)
	// A past order with blank keys must not match this order's blanks.
	f.past(order(ids{account: "acct-other"}, 5_000, 1), now.Add(-time.Minute), false)
	f.past(order(ids{account: mine.account}, 7_000, 2), now.Add(-time.Minute), false)
	res := f.verify(order(ids{account: mine.account}, 1_000, 1))
	for _, w := range windows {
		wantCounts(t, res, "account", w, counts{2, 8_000, 3})
	}
	if len(res.Signals) != 3*3 {
		t.Errorf("%d signals, want the account's 9: %v", len(res.Signals), res.Signals)
	}
}

// Guards: the verifier refuses requests other than gift-card orders rather
// than counting nothing.
func TestVelocityRefusesOtherRequests(t *testing.T) {
	f := newFixture(t)
	res, err := f.v.Verify(context.Background(), verifier.Input{Check: riskv1.Check_CHECK_REFUND,
		Request: &riskv1.EvaluateRefundRequest{BuyerAccountId: "a"}, Now: now})
	if err == nil {
		t.Fatalf("want an error, got %+v", res)
	}
	if len(res.Signals) != 0 || len(res.Findings) != 0 {
		t.Errorf("an error came with a result: %+v", res)
	}
}

// Guards the fake: it answers Events exactly as a real store does, at the
// window's edges and with limits.
func TestFakeHistoryAgreesWithTheEmbeddedStore(t *testing.T) {
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	f := newFixture(t)
	ages := []time.Duration{25 * time.Hour, 24*time.Hour + 1, 24 * time.Hour, 24*time.Hour - 1, time.Hour, 10 * time.Minute, 1, 0, -1}
	for i, age := range ages {
		k := mine
		if i%3 == 0 {
			k.device = "device-other"
		}
		f.past(order(k, int64(1000*(i+1)), int32(i+1)), now.Add(-age), i%2 == 0)
	}
	if _, _, err := st.Record(context.Background(), []store.Batch{{EventID: "all", Events: f.h.All()}}); err != nil {
		t.Fatal(err)
	}
	acct, _ := f.keys.Identifier(store.KindAccount, mine.account)
	dev, _ := f.keys.Identifier(store.KindDevice, mine.device)
	for _, key := range []store.Identifier{acct, dev} {
		for _, q := range []struct{ since, until time.Time }{
			{now.Add(-24 * time.Hour), now.Add(1)},
			{now.Add(-24 * time.Hour), now},
			{now.Add(-time.Hour), now.Add(-10 * time.Minute)},
			{now, now},
			{now.Add(-48 * time.Hour), now.Add(time.Hour)},
		} {
			for _, limit := range []int{0, 1, 3, 100} {
				want, err := st.Events(context.Background(), history.SeriesGiftCard, key, q.since, q.until, limit)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := f.h.Events(context.Background(), history.SeriesGiftCard, key, q.since, q.until, limit)
				if !slices.EqualFunc(got, want, func(a, b store.Event) bool {
					return a.ID == b.ID && a.At.Equal(b.At) && a.Amount == b.Amount && a.Quantity == b.Quantity && a.Ref == b.Ref
				}) {
					t.Errorf("Events(%v, [%v, %v), %d): fake %v, store %v", key.Kind, q.since, q.until, limit, got, want)
				}
			}
		}
	}
}

// Guards (issue 16, item 5): distinct accounts per device, instrument and
// recipient, per window, this order's account included once; declined
// attempts count; the account's own orders add no account.
func TestVelocityDistinctAccounts(t *testing.T) {
	type past struct {
		account  string
		age      time.Duration
		declined bool
	}
	cases := []struct {
		name string
		past []past
		want [2]int64 // 1h, 24h
	}{
		{"no history", nil, [2]int64{1, 1}},
		{"the same account again", []past{{mine.account, time.Minute, false}, {mine.account, 2 * time.Minute, false}}, [2]int64{1, 1}},
		{"three other accounts in the hour", []past{
			{"mule-1", 5 * time.Minute, false}, {"mule-2", 20 * time.Minute, false}, {"mule-3", 50 * time.Minute, true},
		}, [2]int64{4, 4}},
		{"one other account twice", []past{{"mule-1", 5 * time.Minute, false}, {"mule-1", 30 * time.Minute, false}}, [2]int64{2, 2}},
		{"an account outside the hour, one outside the day", []past{
			{"mule-1", 25 * time.Hour, false}, {"mule-2", 3 * time.Hour, false}, {"mule-3", time.Hour + time.Nanosecond, false},
		}, [2]int64{1, 3}},
	}
	for _, shared := range kinds[1:] {
		for _, tc := range cases {
			t.Run(shared.name+"/"+tc.name, func(t *testing.T) {
				f := newFixture(t)
				for _, p := range tc.past {
					k := sharing(shared.kind)
					k.account = p.account
					f.past(order(k, 50_000, 1), now.Add(-p.age), p.declined)
				}
				res := f.verify(order(mine, 50_000, 1))
				for i, w := range windows[1:] {
					wantInt(t, res, "velocity."+shared.name+"."+w+".accounts", tc.want[i])
				}
				for _, name := range []string{"velocity.account.1h.accounts", "velocity." + shared.name + ".10m.accounts"} {
					if _, ok := res.Signals[name]; ok {
						t.Errorf("signal %s, which nothing reads, is there", name)
					}
				}
			})
		}
	}
}
