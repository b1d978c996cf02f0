package spending_test

// Unit tests of the spending verifier (G1 of docs/fraud-patterns.md) against a small
// in-memory history reader with the stores' Events semantics. Past orders
// are written the way the server commits them: the events history.Derive
// returns for the request at its decision time, with history.RefDeclined on
// the gift-card events of a declined order.

import (
	"bytes"
	"context"
	"fmt"
	"github.com/riskd/riskd/internal/history/historytest"
	"slices"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pebblestore"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/spending"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// now is the instant of the decision under test.
var now = time.Date(2026, 6, 15, 9, 30, 0, 0, time.UTC)

const (
	day      = 24 * time.Hour
	lookback = 400 * day // the verifier's default, policy.DefaultLookback
	me       = "acct-me"
)

// order is a gift-card order by account for amount (minor units).
func order(account string, amount int64, caller *riskv1.PurchaseHistory) *riskv1.ScoreGiftCardPurchaseRequest {
	return &riskv1.ScoreGiftCardPurchaseRequest{
		RequestId:     "req-" + account,
		OrderId:       "order-" + account,
		AccountId:     account,
		Client:        &riskv1.Client{DeviceId: "device-shared", IpAddress: "198.51.100.7"},
		Total:         &riskv1.Money{AmountMinor: amount, Currency: "CNY"},
		Cards:         []*riskv1.GiftCardLine{{FaceValueMinor: amount, Quantity: 1}},
		Payment:       &riskv1.PaymentInstrument{Fingerprint: "card-fp-shared", Kind: riskv1.InstrumentKind_INSTRUMENT_KIND_DEBIT_CARD},
		Recipient:     &riskv1.Recipient{Email: "shared@example.com"},
		Brand:         "apple",
		CallerHistory: caller,
	}
}

// callerHistory is what the caller says of the account's past gift-card
// orders: how many, and the typical order's value (0: not sent).
func callerHistory(orders int32, typical int64) *riskv1.PurchaseHistory {
	h := &riskv1.PurchaseHistory{PastGiftCardOrders: orders}
	if typical > 0 {
		h.TypicalOrderValue = &riskv1.Money{AmountMinor: typical, Currency: "CNY"}
	}
	return h
}

type fixture struct {
	t    *testing.T
	keys *pseudonym.Keyer
	h    *historytest.Reader
	v    *spending.Verifier
	seq  int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	keys, err := pseudonym.New(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	h := &historytest.Reader{}
	return &fixture{t: t, keys: keys, h: h, v: spending.New(h, keys)}
}

// derive writes what the server commits for req decided at at.
func (f *fixture) derive(req *riskv1.ScoreGiftCardPurchaseRequest, at time.Time, declined bool) {
	f.t.Helper()
	f.seq++
	f.h.AddDecided(f.t, f.keys, req, fmt.Sprintf("decision-%d", f.seq), at, declined)
}

func (f *fixture) verify(req *riskv1.ScoreGiftCardPurchaseRequest) verifier.Result {
	f.t.Helper()
	return f.verifyBack(req, 0)
}

// verifyBack verifies req under a policy look-back (0: the default).
func (f *fixture) verifyBack(req *riskv1.ScoreGiftCardPurchaseRequest, back time.Duration) verifier.Result {
	f.t.Helper()
	res, err := f.v.Verify(context.Background(), verifier.Input{
		Check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE, DecisionID: "decision-under-test", Request: req, Now: now,
		Lookback: back,
	})
	if err != nil {
		f.t.Fatalf("verify: %v", err)
	}
	return res
}

// past is one of the account's earlier orders.
type past struct {
	age      time.Duration // before now
	amount   int64
	declined bool
}

// spendCase is one order against one history and what the verifier must
// answer. A zero limit, median or p90 means the signal must be absent.
type spendCase struct {
	name        string
	past        []past
	caller      *riskv1.PurchaseHistory
	amount      int64
	orders      int64
	limit       int64
	median, p90 int64
	codes       []string
	// lookback is the policy's history_lookback; zero leaves the default.
	lookback time.Duration
}

var (
	first = spending.CodeFirstPurchase
	above = spending.CodeAboveHistory
)

func runCases(t *testing.T, cases []spendCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for _, p := range tc.past {
				f.derive(order(me, p.amount, nil), now.Add(-p.age), p.declined)
			}
			res := f.verifyBack(order(me, tc.amount, tc.caller), tc.lookback)
			checkResult(t, res, tc)
		})
	}
}

func checkResult(t *testing.T, res verifier.Result, tc spendCase) {
	t.Helper()
	want := map[string]any{"spending.orders": tc.orders}
	if tc.limit != 0 {
		want["spending.limit"] = tc.limit
	}
	if tc.median != 0 {
		want["spending.median"] = tc.median
	}
	if tc.p90 != 0 {
		want["spending.p90"] = tc.p90
	}
	for name, w := range want {
		if got, ok := res.Signals[name]; !ok || got != w {
			t.Errorf("signal %s = %v (%T), want int64 %v", name, got, got, w)
		}
	}
	for name, got := range res.Signals {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected signal %s = %v", name, got)
		}
	}
	var codes []string
	for _, fd := range res.Findings {
		codes = append(codes, fd.Code)
		wantScore := map[string]int{first: 10, above: 25}[fd.Code]
		if fd.Score != wantScore || fd.Message == "" || fd.Messages["zh-CN"] == "" {
			t.Errorf("finding %+v, want score %d with sentences", fd, wantScore)
		}
	}
	slices.Sort(codes)
	wantCodes := slices.Clone(tc.codes)
	slices.Sort(wantCodes)
	if !slices.Equal(codes, wantCodes) {
		t.Errorf("findings %v, want %v (signals %v)", codes, wantCodes, res.Signals)
	}
}

// Guards: FIRST_GIFT_CARD_PURCHASE only when neither the store (orders not
// declined, within the look-back, recent ones included) nor the caller
// knows an earlier gift-card order of the account.
func TestSpendingFirstGiftCardPurchase(t *testing.T) {
	runCases(t, []spendCase{
		{name: "no history anywhere", amount: 10_000, codes: []string{first}},
		{name: "no history anywhere, a large order: first but no yardstick", amount: 10_000_000, codes: []string{first}},
		{name: "caller history sent with zero orders", caller: callerHistory(0, 0), amount: 10_000, codes: []string{first}},
		{name: "caller knows one past order", caller: callerHistory(1, 0), amount: 10_000},
		{name: "store knows one past order", past: []past{{2 * day, 20_000, false}}, amount: 10_000,
			orders: 1, limit: 100_000},
		{name: "store knows one order of the last day only", past: []past{{time.Hour, 20_000, false}}, amount: 10_000,
			orders: 1},
		{name: "store knows only declined orders", past: []past{{2 * day, 20_000, true}, {time.Hour, 30_000, true}}, amount: 10_000,
			codes: []string{first}},
		{name: "store knows only an order past the look-back", past: []past{{lookback + time.Nanosecond, 20_000, false}}, amount: 10_000,
			codes: []string{first}},
		{name: "both know orders", past: []past{{2 * day, 20_000, false}}, caller: callerHistory(5, 0), amount: 10_000,
			orders: 1, limit: 100_000},
	})
}

// Guards: with three or more yardstick orders the limit is the larger of
// 5x the median and 3x the 90th percentile, and only an amount above it is
// far above history.
func TestSpendingMedianAndP90Thresholds(t *testing.T) {
	// Three orders where 3x the p90 (300,000) beats 5x the median (100,000),
	// written out of amount order.
	p90Rules := []past{{10 * day, 100_000, false}, {20 * day, 10_000, false}, {5 * day, 20_000, false}}
	// Three orders where 5x the median (100,000) beats 3x the p90 (90,000).
	medianRules := []past{{3 * day, 30_000, false}, {9 * day, 20_000, false}, {4 * day, 20_000, false}}
	// Twenty orders: eighteen of 10,000, one of 40,000 and one outlier of
	// 1,000,000; the median is the 11th (10,000), the p90 the 19th (40,000).
	var twenty []past
	for i := range 18 {
		twenty = append(twenty, past{time.Duration(2+i) * day, 10_000, false})
	}
	twenty = append(twenty, past{30 * day, 1_000_000, false}, past{40 * day, 40_000, false})
	// Four orders: the median is the third (40,000), 5x of which (200,000)
	// beats 3x the p90 (180,000).
	four := []past{{2 * day, 60_000, false}, {3 * day, 10_000, false}, {4 * day, 40_000, false}, {5 * day, 20_000, false}}
	runCases(t, []spendCase{
		{name: "3x p90 rules: just below", past: p90Rules, amount: 299_999, orders: 3, limit: 300_000, median: 20_000, p90: 100_000},
		{name: "3x p90 rules: at the limit", past: p90Rules, amount: 300_000, orders: 3, limit: 300_000, median: 20_000, p90: 100_000},
		{name: "3x p90 rules: just above", past: p90Rules, amount: 300_001, orders: 3, limit: 300_000, median: 20_000, p90: 100_000,
			codes: []string{above}},
		{name: "5x median rules: just below", past: medianRules, amount: 99_999, orders: 3, limit: 100_000, median: 20_000, p90: 30_000},
		{name: "5x median rules: at the limit", past: medianRules, amount: 100_000, orders: 3, limit: 100_000, median: 20_000, p90: 30_000},
		{name: "5x median rules: just above", past: medianRules, amount: 100_001, orders: 3, limit: 100_000, median: 20_000, p90: 30_000,
			codes: []string{above}},
		{name: "one large past order does not lift the yardstick", past: twenty, amount: 120_001, orders: 20, limit: 120_000,
			median: 10_000, p90: 40_000, codes: []string{above}},
		{name: "twenty orders: at the limit", past: twenty, amount: 120_000, orders: 20, limit: 120_000, median: 10_000, p90: 40_000},
		{name: "four orders: the median is the upper middle one", past: four, amount: 200_000, orders: 4, limit: 200_000,
			median: 40_000, p90: 60_000},
		{name: "four orders: just above", past: four, amount: 200_001, orders: 4, limit: 200_000,
			median: 40_000, p90: 60_000, codes: []string{above}},
		{name: "the caller's typical value does not override the store", past: medianRules, caller: callerHistory(3, 1_000),
			amount: 100_001, orders: 3, limit: 100_000, median: 20_000, p90: 30_000, codes: []string{above}},
	})
}

// Guards: with one or two yardstick orders the limit is 5x the largest.
func TestSpendingFewOrdersUseLargest(t *testing.T) {
	one := []past{{2 * day, 20_000, false}}
	two := []past{{9 * day, 30_000, false}, {2 * day, 10_000, false}}
	runCases(t, []spendCase{
		{name: "one order: just below", past: one, amount: 99_999, orders: 1, limit: 100_000},
		{name: "one order: at the limit", past: one, amount: 100_000, orders: 1, limit: 100_000},
		{name: "one order: just above", past: one, amount: 100_001, orders: 1, limit: 100_000, codes: []string{above}},
		{name: "two orders: just below 5x the largest", past: two, amount: 149_999, orders: 2, limit: 150_000},
		{name: "two orders: at 5x the largest", past: two, amount: 150_000, orders: 2, limit: 150_000},
		{name: "two orders: just above 5x the largest", past: two, amount: 150_001, orders: 2, limit: 150_000, codes: []string{above}},
		{name: "two orders: the caller's typical value does not override the store", past: two, caller: callerHistory(9, 1_000_000),
			amount: 150_001, orders: 2, limit: 150_000, codes: []string{above}},
	})
}

// Guards: with no yardstick order the limit is 5x the typical order value
// the caller sent, and without one nothing is called far above.
func TestSpendingNoHistoryUsesCallerTypical(t *testing.T) {
	typical := callerHistory(4, 15_000)
	runCases(t, []spendCase{
		{name: "just below 5x typical", caller: typical, amount: 74_999, limit: 75_000},
		{name: "at 5x typical", caller: typical, amount: 75_000, limit: 75_000},
		{name: "just above 5x typical", caller: typical, amount: 75_001, limit: 75_000, codes: []string{above}},
		{name: "no typical value: no limit", caller: callerHistory(4, 0), amount: 5_000_000},
		{name: "no caller history: no limit", amount: 5_000_000, codes: []string{first}},
		{name: "only last-day orders: typical value is the yardstick", past: []past{{2 * time.Hour, 100_000, false}},
			caller: typical, amount: 75_001, orders: 1, limit: 75_000, codes: []string{above}},
		{name: "only declined orders: typical value is the yardstick", past: []past{{3 * day, 100_000, true}},
			caller: typical, amount: 75_001, limit: 75_000, codes: []string{above}},
	})
}

// Guards: an amount below 50,000 minor units is never far above history;
// one of 50,000 or more above the limit is.
func TestSpendingFloor(t *testing.T) {
	low := callerHistory(4, 1_000) // limit 5,000
	small := []past{{3 * day, 2_000, false}}
	runCases(t, []spendCase{
		{name: "above the limit, just below the floor", caller: low, amount: 49_999, limit: 5_000},
		{name: "above the limit, at the floor", caller: low, amount: 50_000, limit: 5_000, codes: []string{above}},
		{name: "above the limit, just above the floor", caller: low, amount: 50_001, limit: 5_000, codes: []string{above}},
		{name: "just above the limit, far below the floor", caller: low, amount: 5_001, limit: 5_000},
		{name: "store yardstick: just below the floor", past: small, amount: 49_999, orders: 1, limit: 10_000},
		{name: "store yardstick: at the floor", past: small, amount: 50_000, orders: 1, limit: 10_000, codes: []string{above}},
		{name: "store yardstick: just above the floor", past: small, amount: 50_001, orders: 1, limit: 10_000, codes: []string{above}},
		{name: "above the floor, at the limit", past: []past{{3 * day, 20_000, false}}, amount: 100_000, orders: 1, limit: 100_000},
	})
}

// Guards: orders of the last 24 hours count in spending.orders but stay out
// of the yardstick (median, p90, largest), so a burst is not measured
// against itself; an order exactly 24 h old is still "last day".
func TestSpendingYardstickExcludesLastDay(t *testing.T) {
	burst := []past{
		{2 * day, 10_000, false}, {3 * day, 10_000, false}, {4 * day, 10_000, false},
		{23 * time.Hour, 200_000, false}, {12 * time.Hour, 200_000, false}, {time.Hour, 200_000, false},
	}
	runCases(t, []spendCase{
		{name: "a burst of the last day is counted but not the yardstick", past: burst, amount: 50_001,
			orders: 6, limit: 50_000, median: 10_000, p90: 10_000, codes: []string{above}},
		{name: "an order 23 hours ago alone is no yardstick", past: []past{{23 * time.Hour, 20_000, false}},
			amount: 100_001, orders: 1},
		{name: "an order 2 hours ago alone is no yardstick", past: []past{{2 * time.Hour, 20_000, false}},
			amount: 100_001, orders: 1},
		{name: "exactly 24 hours ago is still the last day", past: []past{{day, 20_000, false}},
			amount: 100_001, orders: 1},
		{name: "1ns inside the last day", past: []past{{day - time.Nanosecond, 20_000, false}},
			amount: 100_001, orders: 1},
		{name: "1ns before the last day is yardstick", past: []past{{day + time.Nanosecond, 20_000, false}},
			amount: 100_001, orders: 1, limit: 100_000, codes: []string{above}},
		{name: "last-day orders leave the 1/2-order rule to older ones",
			past:   []past{{2 * day, 20_000, false}, {23 * time.Hour, 1_000_000, false}, {20 * time.Hour, 1_000_000, false}},
			amount: 100_001, orders: 3, limit: 100_000, codes: []string{above}},
	})
}

// Guards: declined orders are attempts, not spend: they are neither counted
// in spending.orders nor part of the yardstick.
func TestSpendingExcludesDeclined(t *testing.T) {
	runCases(t, []spendCase{
		{name: "declined large orders do not lift the yardstick",
			past: []past{
				{2 * day, 10_000, false}, {3 * day, 10_000, false}, {4 * day, 10_000, false},
				{5 * day, 1_000_000, true}, {6 * day, 1_000_000, true},
			},
			amount: 60_000, orders: 3, limit: 50_000, median: 10_000, p90: 10_000, codes: []string{above}},
		{name: "a declined order does not make one order three",
			past:   []past{{2 * day, 20_000, false}, {3 * day, 1_000, true}, {4 * day, 1_000, true}},
			amount: 100_001, orders: 1, limit: 100_000, codes: []string{above}},
		{name: "a declined order of the last day is not counted",
			past:   []past{{2 * time.Hour, 20_000, true}},
			amount: 10_000, codes: []string{first}},
	})
}

// Guards: the account's orders are read back exactly the look-back (400
// days by default, the policy's when it says): an order at the edge
// counts, one a nanosecond older does not.
func TestSpendingLookbackEdge(t *testing.T) {
	runCases(t, []spendCase{
		{name: "exactly 400 days ago is inside", past: []past{{lookback, 20_000, false}},
			amount: 100_001, orders: 1, limit: 100_000, codes: []string{above}},
		{name: "1ns inside 400 days", past: []past{{lookback - time.Nanosecond, 20_000, false}},
			amount: 100_001, orders: 1, limit: 100_000, codes: []string{above}},
		{name: "1ns outside 400 days", past: []past{{lookback + time.Nanosecond, 20_000, false}},
			amount: 100_001, codes: []string{first}},
		{name: "only the orders inside make the yardstick",
			past: []past{
				{lookback + time.Nanosecond, 500_000, false}, {lookback + day, 500_000, false},
				{lookback, 10_000, false}, {90 * day, 10_000, false}, {2 * day, 10_000, false},
			},
			amount: 50_001, orders: 3, limit: 50_000, median: 10_000, p90: 10_000, codes: []string{above}},
		{name: "a year-old order makes a returning buyer", past: []past{{300 * day, 20_000, false}},
			amount: 20_000, orders: 1, limit: 100_000},
		{name: "the policy's look-back: 90 days, edge inside", past: []past{{90 * day, 20_000, false}},
			amount: 100_001, orders: 1, limit: 100_000, codes: []string{above}, lookback: 90 * day},
		{name: "the policy's look-back: 90 days, 1ns outside", past: []past{{90*day + time.Nanosecond, 20_000, false}},
			amount: 100_001, codes: []string{first}, lookback: 90 * day},
	})
}

// Guards: only this account's gift-card orders are its history: not those
// of another account on the same device, card and recipient, nor its own
// refunds.
func TestSpendingReadsOnlyThisAccount(t *testing.T) {
	f := newFixture(t)
	for i := range 3 {
		f.derive(order("acct-other", 20_000, nil), now.Add(-time.Duration(2+i)*day), false)
	}
	refund, err := history.Derive(f.keys, &riskv1.EvaluateRefundRequest{
		BuyerAccountId: me, SellerId: "seller-1",
		AmountRequested: &riskv1.Money{AmountMinor: 20_000, Currency: "CNY"},
	}, "refund-1", now.Add(-3*day))
	if err != nil {
		t.Fatal(err)
	}
	f.h.Add(refund.Events...)
	res := f.verify(order(me, 100_001, nil))
	checkResult(t, res, spendCase{orders: 0, codes: []string{first}})
}

// Guards: the verifier refuses requests other than gift-card orders, and
// gift-card orders without an account, rather than judging nothing.
func TestSpendingRefusesOtherRequests(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		in   verifier.Input
	}{
		{"a refund", verifier.Input{Check: riskv1.Check_CHECK_REFUND, Request: &riskv1.EvaluateRefundRequest{BuyerAccountId: me}, Now: now}},
		{"a gift-card order without an account", verifier.Input{Check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE,
			Request: order("  ", 10_000, nil), Now: now}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.v.Verify(context.Background(), tc.in)
			if err == nil {
				t.Fatalf("want an error, got %+v", res)
			}
			if len(res.Signals) != 0 || len(res.Findings) != 0 {
				t.Errorf("an error came with a result: %+v", res)
			}
		})
	}
}

// Guards the fake: it answers Events exactly as a real store does, at the
// look-back's edges and with limits.
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
	ages := []time.Duration{lookback + 1, lookback, lookback - 1, 10 * day, day + 1, day, time.Hour, 1, 0, -1}
	for i, age := range ages {
		acct := me
		if i%3 == 0 {
			acct = "acct-other"
		}
		f.derive(order(acct, int64(1000*(i+1)), nil), now.Add(-age), i%2 == 0)
	}
	if _, _, err := st.Record(context.Background(), []store.Batch{{EventID: "all", Events: f.h.All()}}); err != nil {
		t.Fatal(err)
	}
	acct, _ := f.keys.Identifier(store.KindAccount, me)
	dev, _ := f.keys.Identifier(store.KindDevice, "device-shared")
	for _, key := range []store.Identifier{acct, dev} {
		for _, q := range []struct{ since, until time.Time }{
			{now.Add(-lookback), now},
			{now.Add(-lookback), now.Add(1)},
			{now.Add(-day), now.Add(-time.Hour)},
			{now, now},
			{now.Add(-2 * lookback), now.Add(day)},
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
