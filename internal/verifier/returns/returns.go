// Package returns reads a buyer's refund history (R1 of docs/fraud-patterns.md, seed
// 001): how many refunds in 30 and 90 days, at what rate against the
// buyer's orders, across how many sellers, and whether earlier returns were
// reported as not the item sold; and whether the returned parcel weighs
// what was declared, under a tolerance per item category (weight.go). Its
// history signals are also the buyer's consumption-credit view that callers
// can show or use.
package returns

import (
	"context"
	"fmt"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Reason codes this verifier finds.
const (
	CodeSerial           = "REFUND_SERIAL"
	CodeManySellers      = "REFUND_MANY_SELLERS"
	CodeMismatchHistory  = "REFUND_ITEM_MISMATCH_HISTORY"
	scoreSerial          = 30
	scoreManySellers     = 15
	scoreMismatchHistory = 40
	maxRefunds           = 5000
)

// Thresholds, counting this refund: three in 30 days or six in 90 is
// serial whatever the orders; half of 90 days' orders refunded, with at
// least three refunds, is serial too. Three sellers in 90 days is a spread
// no ordinary buyer's returns show.
const (
	serial30    = 3
	serial90    = 6
	serialRate  = 0.5
	manySellers = 3
)

// Verifier is the returns verifier.
type Verifier struct {
	store history.Reader
	keys  *pseudonym.Keyer
}

var _ verifier.Verifier = (*Verifier)(nil)

// New returns a returns verifier over the store.
func New(r history.Reader, keys *pseudonym.Keyer) *Verifier { return &Verifier{store: r, keys: keys} }

// Verify reads the buyer's refunds of the last 90 days, this one included.
func (v *Verifier) Verify(ctx context.Context, in verifier.Input) (verifier.Result, error) {
	req, ok := in.Request.(*riskv1.EvaluateRefundRequest)
	if !ok {
		return verifier.Result{}, fmt.Errorf("returns verifier applies to refund checks, not %s", in.Check)
	}
	entry, err := in.History(v.keys)
	if err != nil {
		return verifier.Result{}, err
	}
	// The buyer's refund event: its key is the buyer, its Ref the seller.
	own, ok := entry.Event(history.SeriesRefund, store.KindAccount)
	if !ok {
		return verifier.Result{}, fmt.Errorf("refund without a buyer account")
	}
	buyer := own.Key
	past, err := v.store.Events(ctx, history.SeriesRefund, buyer, in.Now.Add(-90*24*time.Hour), in.Now.Add(time.Nanosecond), maxRefunds)
	if err != nil {
		return verifier.Result{}, err
	}
	n30, n90 := int64(1), int64(1)
	sellers := map[string]bool{own.Ref: true}
	for _, e := range past {
		n90++
		if !e.At.Before(in.Now.Add(-30 * 24 * time.Hour)) {
			n30++
		}
		if e.Ref != "" {
			sellers[e.Ref] = true
		}
	}
	marks, err := v.store.Marks(ctx, buyer)
	if err != nil {
		return verifier.Result{}, err
	}
	mismatches := int64(0)
	for _, m := range marks {
		if m.Label == riskv1.OutcomeLabel_OUTCOME_LABEL_RETURN_ITEM_MISMATCH {
			mismatches++
		}
	}
	settings := defaultSettings
	if s, ok := in.Settings.(*Settings); ok && s != nil {
		settings = s
	}
	rs := req.GetReturnShipment()
	w := settings.Weigh(req.GetItemCategory(), int64(rs.GetDeclaredWeightGrams()), int64(rs.GetMeasuredWeightGrams()))
	res := verifier.Result{Signals: map[string]any{
		"returns.refunds_30d":           n30,
		"returns.refunds_90d":           n90,
		"returns.sellers_90d":           int64(len(sellers)),
		"returns.item_mismatch_reports": mismatches,
		// Always given, so rules read them without guarding: false and ""
		// when no weights were sent.
		"returns.weight_mismatch": w.Mismatch,
		"returns.weight_category": w.Category,
	}}
	if w.Measured {
		res.Signals["returns.weight_delta_grams"] = w.DeltaGrams
		res.Signals["returns.weight_tolerance_grams"] = w.ToleranceGrams
	}
	// The rate needs the caller's order count; without it, none is claimed.
	orders := int64(req.GetBuyerOrders_90D())
	rate := 0.0
	if orders > 0 {
		rate = float64(n90) / float64(max(orders, n90))
		res.Signals["returns.refund_rate_90d"] = rate
	}
	if n30 >= serial30 || n90 >= serial90 || (rate >= serialRate && n90 >= serial30) {
		res.Findings = append(res.Findings, verifier.Finding{Code: CodeSerial, Score: scoreSerial,
			Message:  fmt.Sprintf("The buyer has asked for %d refunds in 30 days and %d in 90.", n30, n90),
			Messages: verifier.ZH(fmt.Sprintf("该买家30天内申请退款%d次，90天内%d次。", n30, n90))})
	}
	if int64(len(sellers)) >= manySellers {
		res.Findings = append(res.Findings, verifier.Finding{Code: CodeManySellers, Score: scoreManySellers,
			Message:  fmt.Sprintf("The buyer's refunds in 90 days are spread over %d sellers.", len(sellers)),
			Messages: verifier.ZH(fmt.Sprintf("该买家90天内的退款涉及%d个商家。", len(sellers)))})
	}
	if mismatches > 0 {
		res.Findings = append(res.Findings, verifier.Finding{Code: CodeMismatchHistory, Score: scoreMismatchHistory,
			Message: "Earlier returns from this buyer were reported as not the item sold.", Messages: verifier.ZH("该买家此前的退货曾被认定与所售商品不符。")})
	}
	return res, nil
}
