package quality

import (
	"context"
	"errors"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// LabelOf says what a reported outcome makes of its decision: fraud for
// FRAUD_CONFIRMED, CHARGEBACK, RETURN_ITEM_MISMATCH and SELLER_BANNED,
// genuine for LEGITIMATE.
func LabelOf(l riskv1.OutcomeLabel) (Label, bool) {
	switch l {
	case riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK,
		riskv1.OutcomeLabel_OUTCOME_LABEL_RETURN_ITEM_MISMATCH, riskv1.OutcomeLabel_OUTCOME_LABEL_SELLER_BANNED:
		return Fraud, true
	case riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE:
		return Genuine, true
	}
	return "", false
}

// LogReader is what FromLog reads of a store.
type LogReader interface {
	ScanOutcomes(ctx context.Context, from, to time.Time, fn func(store.Outcome) error) error
	Decision(ctx context.Context, id string) (*riskv1.Decision, error)
}

// LogStats says what FromLog found besides the items.
type LogStats struct {
	// Outcomes reported in the range, and decisions they labelled.
	Outcomes, Decisions int
	// Expired: outcomes whose decision is no longer in the log.
	Expired int
}

// FromLog turns the outcomes reported in [from, to) into labelled items,
// one per decision, with the decision as the log keeps it (what the caller
// got). A decision reported more than once takes its latest label: a
// chargeback after a "legitimate" makes it fraud, a "legitimate" after a
// complaint clears it.
func FromLog(ctx context.Context, r LogReader, from, to time.Time) ([]Item, LogStats, error) {
	var st LogStats
	latest := map[string]store.Outcome{}
	var order []string
	err := r.ScanOutcomes(ctx, from, to, func(o store.Outcome) error {
		st.Outcomes++
		if _, ok := LabelOf(o.Label); !ok {
			return nil
		}
		if _, seen := latest[o.DecisionID]; !seen {
			order = append(order, o.DecisionID)
		}
		if prev, ok := latest[o.DecisionID]; !ok || !o.At.Before(prev.At) {
			latest[o.DecisionID] = o
		}
		return nil
	})
	if err != nil {
		return nil, st, err
	}
	items := make([]Item, 0, len(order))
	for _, id := range order {
		d, err := r.Decision(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			st.Expired++
			continue
		}
		if err != nil {
			return nil, st, err
		}
		label, _ := LabelOf(latest[id].Label)
		items = append(items, Item{Name: "decision " + id, Check: CheckName(d.GetCheck()), Label: label, Decision: d})
	}
	st.Decisions = len(items)
	return items, st, nil
}
