package quality_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/quality"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// fakeLog is a decision log with outcomes, enough for FromLog.
type fakeLog struct {
	decisions map[string]*riskv1.Decision
	outcomes  []store.Outcome
}

func (f fakeLog) ScanOutcomes(_ context.Context, from, to time.Time, fn func(store.Outcome) error) error {
	for _, o := range f.outcomes {
		if !o.At.Before(from) && o.At.Before(to) {
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f fakeLog) Decision(_ context.Context, id string) (*riskv1.Decision, error) {
	if d, ok := f.decisions[id]; ok {
		return d, nil
	}
	return nil, store.ErrNotFound
}

func decision(id string, check riskv1.Check, o riskv1.Outcome, reasons ...*riskv1.Reason) *riskv1.Decision {
	return &riskv1.Decision{DecisionId: id, Check: check, Outcome: o, Reasons: reasons}
}

func TestFromLog(t *testing.T) {
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	call := &riskv1.Reason{Code: "ACTIVE_CALL", Source: "rule:active-call", Score: 25}
	first := &riskv1.Reason{Code: "FIRST_GIFT_CARD_PURCHASE", Source: "spending", Score: 10}
	banned := &riskv1.Reason{Code: "LINKED_TO_BANNED_SELLER", Source: "links", Score: 60}
	gc, seller := riskv1.Check_CHECK_GIFT_CARD_PURCHASE, riskv1.Check_CHECK_SELLER
	log := fakeLog{
		decisions: map[string]*riskv1.Decision{
			"d1": decision("d1", gc, riskv1.Outcome_OUTCOME_REVIEW, call, first),
			"d2": decision("d2", gc, riskv1.Outcome_OUTCOME_APPROVE, first),
			"d3": decision("d3", gc, riskv1.Outcome_OUTCOME_APPROVE, call),
			"d4": decision("d4", seller, riskv1.Outcome_OUTCOME_DECLINE, banned),
			"d6": decision("d6", gc, riskv1.Outcome_OUTCOME_APPROVE, call),
		},
		outcomes: []store.Outcome{
			{DecisionID: "d1", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, At: at},
			{DecisionID: "d2", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, At: at.Add(time.Hour)},
			// Cleared first, then a chargeback: the latest label counts.
			{DecisionID: "d3", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, At: at.Add(2 * time.Hour)},
			{DecisionID: "d3", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK, At: at.Add(3 * time.Hour)},
			{DecisionID: "d4", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_SELLER_BANNED, At: at.Add(4 * time.Hour)},
			{DecisionID: "d5", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, At: at.Add(5 * time.Hour)},  // expired
			{DecisionID: "d6", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, At: at.Add(48 * time.Hour)}, // out of range
		},
	}
	items, st, err := quality.FromLog(t.Context(), log, at, at.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcomes != 6 || st.Decisions != 4 || st.Expired != 1 {
		t.Errorf("stats = %+v, want 6 outcomes, 4 decisions, 1 expired", st)
	}
	rep := quality.Build(items)
	g := rep.Checks[1]
	if g.Check != quality.CheckGiftCard || g.Cases != 3 || g.Fraud != 2 || g.FraudCaught != 1 || g.FraudApproved != 1 || g.Genuine != 1 {
		t.Errorf("gift-card row = %+v", *g)
	}
	if r := g.Rules["rule:active-call"]; r == nil || r.Hits != 2 || r.Fraud != 2 || r.Precision() != 1 {
		t.Errorf("rule:active-call = %+v, want 2 hits, both fraud", r)
	}
	if r := g.Rules["spending:FIRST_GIFT_CARD_PURCHASE"]; r == nil || r.Hits != 2 || r.Fraud != 1 || r.Precision() != 0.5 {
		t.Errorf("spending:FIRST_GIFT_CARD_PURCHASE = %+v, want 2 hits, 1 fraud", r)
	}
	if s := rep.Checks[0]; s.Fraud != 1 || s.FraudCaught != 1 || s.Rules["links:LINKED_TO_BANNED_SELLER"].Hits != 1 {
		t.Errorf("seller row = %+v", *s)
	}
	var b strings.Builder
	rep.Write(&b)
	for _, want := range []string{"rule:active-call", "100.0%", "spending:FIRST_GIFT_CARD_PURCHASE", "50.0%"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestGates(t *testing.T) {
	gc := riskv1.Check_CHECK_GIFT_CARD_PURCHASE
	var items []quality.Item
	add := func(label quality.Label, o riskv1.Outcome, n int) {
		for range n {
			items = append(items, quality.Item{Name: "x", Check: quality.CheckGiftCard, Label: label, Decision: decision("d", gc, o)})
		}
	}
	add(quality.Genuine, riskv1.Outcome_OUTCOME_APPROVE, 95)
	add(quality.Genuine, riskv1.Outcome_OUTCOME_REVIEW, 5) // exactly 5%: passes
	add(quality.Fraud, riskv1.Outcome_OUTCOME_REVIEW, 3)
	if f, ok := quality.Build(items).Gates(); !ok {
		t.Errorf("gates fail at 5%% genuine reviewed: %v", f)
	}
	add(quality.Genuine, riskv1.Outcome_OUTCOME_REVIEW, 1) // 6 of 101
	if f, ok := quality.Build(items).Gates(); ok || len(f) != 6 {
		t.Errorf("gates at 6 of 101 genuine reviewed = %d failures, ok %v; want the 6 listed", len(f), ok)
	}
	items = items[:100]
	add(quality.Genuine, riskv1.Outcome_OUTCOME_DECLINE, 1)
	add(quality.Fraud, riskv1.Outcome_OUTCOME_APPROVE, 1)
	items = append(items, quality.Item{Name: "broken", Check: quality.CheckRefund, Label: quality.Fraud, Err: context.DeadlineExceeded})
	// The review gate is per check: 5 of 100 gift-card cases pass, but 1
	// of 2 refunds does not, though the 6 of 102 genuine in all are under 6%.
	withRefunds := append(append([]quality.Item(nil), items[:100]...),
		quality.Item{Name: "r1", Check: quality.CheckRefund, Label: quality.Genuine, Decision: decision("r1", riskv1.Check_CHECK_REFUND, riskv1.Outcome_OUTCOME_REVIEW)},
		quality.Item{Name: "r2", Check: quality.CheckRefund, Label: quality.Genuine, Decision: decision("r2", riskv1.Check_CHECK_REFUND, riskv1.Outcome_OUTCOME_APPROVE)})
	if f, ok := quality.Build(withRefunds).Gates(); ok || len(f) != 1 || f[0].Item.Name != "r1" {
		t.Errorf("gates with 1 of 2 genuine refunds reviewed = %v, ok %v; want r1 listed", f, ok)
	}
	f, ok := quality.Build(items).Gates()
	if ok || len(f) != 3 {
		t.Fatalf("gates = %d failures, ok %v; want genuine declined, fraud approved, not decided", len(f), ok)
	}
	for i, want := range []string{"genuine declined", "fraud approved", "not decided"} {
		if f[i].Why != want {
			t.Errorf("failure %d = %q, want %q", i, f[i].Why, want)
		}
	}
}

// The quality report split by version (issue 22): a canary's labelled
// decisions are counted apart from the version in force's.
func TestByVersion(t *testing.T) {
	gc := riskv1.Check_CHECK_GIFT_CARD_PURCHASE
	rule := &riskv1.Reason{Code: "NEW_DEVICE_REVIEW", Source: "rule:new-device-review"}
	in := func(id string, o riskv1.Outcome, canary bool, rs ...*riskv1.Reason) *riskv1.Decision {
		d := decision(id, gc, o, rs...)
		d.PolicyVersion, d.Canary = "sha256:old", false
		if canary {
			d.PolicyVersion, d.Canary = "sha256:new", true
		}
		return d
	}
	items := []quality.Item{
		{Name: "1", Check: "gift_card_purchase", Label: quality.Genuine, Decision: in("1", riskv1.Outcome_OUTCOME_APPROVE, false)},
		{Name: "2", Check: "gift_card_purchase", Label: quality.Genuine, Decision: in("2", riskv1.Outcome_OUTCOME_APPROVE, false)},
		{Name: "3", Check: "gift_card_purchase", Label: quality.Fraud, Decision: in("3", riskv1.Outcome_OUTCOME_APPROVE, false)},
		{Name: "4", Check: "gift_card_purchase", Label: quality.Genuine, Decision: in("4", riskv1.Outcome_OUTCOME_REVIEW, true, rule)},
		{Name: "5", Check: "gift_card_purchase", Label: quality.Fraud, Decision: in("5", riskv1.Outcome_OUTCOME_REVIEW, true, rule)},
	}
	vs := quality.ByVersion(items)
	if len(vs) != 2 {
		t.Fatalf("%d versions, want 2", len(vs))
	}
	old, cand := vs[0], vs[1]
	if old.Version != "sha256:old" || old.Canary || old.Decisions != 3 || old.Approved != 3 || old.Reviewed != 0 {
		t.Errorf("in force: %+v", *old)
	}
	if cand.Version != "sha256:new" || !cand.Canary || cand.Decisions != 2 || cand.Reviewed != 2 || cand.Approved != 0 {
		t.Errorf("canary: %+v", *cand)
	}
	rs := cand.Report.Checks[1].Rules["rule:new-device-review"]
	if cand.Report.Checks[1].Check != "gift_card_purchase" || rs == nil || rs.Hits != 2 || rs.Fraud != 1 {
		t.Errorf("the canary's rule hits: %+v", rs)
	}
	if _, ok := old.Report.Checks[1].Rules["rule:new-device-review"]; ok {
		t.Error("the canary's rule is counted for the version in force")
	}
	var b strings.Builder
	quality.WriteVersions(&b, vs)
	for _, want := range []string{"sha256:old              false           3   100.0%     0.0%     0.0%", "sha256:new              true            2     0.0%   100.0%     0.0%", "== sha256:new (canary): 2 labelled decisions"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
