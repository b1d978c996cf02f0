// Package spending compares a gift-card order with what the account itself
// has bought before, as riskd recorded it (G1 of docs/fraud-patterns.md): a first
// gift-card purchase, or one far above the account's usual spend, is how a
// coached victim's order looks next to their own past.
package spending

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Reason codes this verifier finds.
const (
	CodeFirstPurchase = "FIRST_GIFT_CARD_PURCHASE"
	CodeAboveHistory  = "AMOUNT_ABOVE_HISTORY"
)

const (
	scoreFirst = 10
	scoreAbove = 25
	// lookback is how far back the account's own orders are read when the
	// policy does not say (policy.DefaultLookback): more than a year, so a
	// once-a-year buyer is not a first-time one.
	lookback = 400 * 24 * time.Hour
	// floor is the smallest amount (minor units, 500 yuan) ever called
	// unusual: a 300-yuan card is not a scam's cash-out whatever the past.
	floor = 50_000
	// maxOrders bounds the scan; the statistics need no more.
	maxOrders = 5000
)

// Verifier is the spending verifier.
type Verifier struct {
	store history.Reader
	keys  *pseudonym.Keyer
}

var _ verifier.Verifier = (*Verifier)(nil)

// New returns a spending verifier over the store.
func New(r history.Reader, keys *pseudonym.Keyer) *Verifier { return &Verifier{store: r, keys: keys} }

// Verify reads the account's past gift-card orders (declined ones are
// attempts, not spend, and are left out) and the history the caller sent.
//
// The rule for "far above": with three or more past orders, above both
// five times the median and three times the 90th percentile; with one or
// two, above five times the largest; with none, above five times the
// typical order value the caller sent, if any. Robust statistics, because
// one earlier large order must not make every later scam look normal, and
// a thin history must not make every order look unusual.
func (v *Verifier) Verify(ctx context.Context, in verifier.Input) (verifier.Result, error) {
	req, ok := in.Request.(*riskv1.ScoreGiftCardPurchaseRequest)
	if !ok {
		return verifier.Result{}, fmt.Errorf("spending verifier applies to gift-card checks, not %s", in.Check)
	}
	entry, err := in.History(v.keys)
	if err != nil {
		return verifier.Result{}, err
	}
	own, ok := entry.Event(history.SeriesGiftCard, store.KindAccount)
	if !ok {
		return verifier.Result{}, fmt.Errorf("gift-card order without an account")
	}
	acct := own.Key
	back := in.Lookback
	if back <= 0 {
		back = lookback
	}
	past, err := v.store.Events(ctx, history.SeriesGiftCard, acct, in.Now.Add(-back), in.Now, maxOrders)
	if err != nil {
		return verifier.Result{}, err
	}
	// The last day's orders are left out: a burst of orders must not
	// become the yardstick it is measured against.
	var amounts []int64
	bought := 0 // every order not declined, recent ones too
	recent := in.Now.Add(-24 * time.Hour)
	for _, e := range past {
		if history.IsDeclined(e.Ref) {
			continue
		}
		bought++
		if e.At.Before(recent) {
			amounts = append(amounts, e.Amount)
		}
	}
	slices.Sort(amounts)
	amount := req.GetTotal().GetAmountMinor()
	caller := req.GetCallerHistory()
	res := verifier.Result{Signals: map[string]any{
		"spending.orders": int64(bought),
	}}

	if bought == 0 && caller.GetPastGiftCardOrders() == 0 {
		res.Findings = append(res.Findings, verifier.Finding{Code: CodeFirstPurchase, Score: scoreFirst,
			Message: "This account has never bought gift cards before.", Messages: verifier.ZH("该账户此前从未购买过礼品卡。")})
	}
	var limit int64
	switch n := len(amounts); {
	case n >= 3:
		median, p90 := amounts[n/2], amounts[min(n-1, n*9/10)]
		res.Signals["spending.median"] = median
		res.Signals["spending.p90"] = p90
		limit = max(5*median, 3*p90)
	case n > 0:
		limit = 5 * amounts[n-1]
	case caller.GetTypicalOrderValue().GetAmountMinor() > 0:
		limit = 5 * caller.GetTypicalOrderValue().GetAmountMinor()
	}
	if limit > 0 {
		res.Signals["spending.limit"] = limit
		if amount > limit && amount >= floor {
			res.Findings = append(res.Findings, verifier.Finding{Code: CodeAboveHistory, Score: scoreAbove,
				Message: "The amount is far above what this account usually spends on gift cards.", Messages: verifier.ZH("本次金额远高于该账户平时购买礼品卡的金额。")})
		}
	}
	return res, nil
}
