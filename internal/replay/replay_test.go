package replay_test

import (
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/replay"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const other = `
  seller:
    thresholds: {review: 30, decline: 70}
  refund:
    thresholds: {review: 30, decline: 70}
`

func load(t *testing.T, giftCard string) *policy.Policy {
	t.Helper()
	p, err := policy.Load([]byte("checks:\n  gift_card_purchase:\n"+giftCard+other), "test.yaml", map[string]bool{"v": true, "w": true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func facts(t *testing.T, req proto.Message, fired []string, vs ...*riskv1.VerifierFacts) []byte {
	t.Helper()
	a, err := anypb.New(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&riskv1.DecisionFacts{Request: a, Verifiers: vs, FiredRules: fired})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEvaluateRebuildsWhatThePolicySaw(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	d := &riskv1.Decision{DecisionId: "d1", Check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE, Outcome: riskv1.Outcome_OUTCOME_APPROVE, DecidedAt: timestamppb.New(at)}
	req := &riskv1.ScoreGiftCardPurchaseRequest{
		Session: &riskv1.SessionFacts{NewDevice: true},
		Payment: &riskv1.PaymentInstrument{CreditDrawnAt: timestamppb.New(at.Add(-time.Hour))},
	}
	v := &riskv1.VerifierFacts{Name: "v", Status: riskv1.VerifierStatus_VERIFIER_STATUS_OK,
		Signals:  []*riskv1.Signal{{Name: "v.count", Value: &riskv1.Signal_IntValue{IntValue: 7}}},
		Findings: []*riskv1.Reason{{Code: "V_FOUND", Score: 10, Message: "found"}}}
	f := facts(t, req, []string{"old"}, v)

	cases := []struct {
		name     string
		policy   string
		want     riskv1.Outcome
		newRules []string
	}{
		{"the same policy decides the same", `    thresholds: {review: 30, decline: 70}
    verifiers: [{name: v, budget: 50ms, on_failure: review}]
    rules:
      - {name: old, when: "request.session.new_device", score: 5, reason: OLD_1, message: M.}`, riskv1.Outcome_OUTCOME_APPROVE, nil},
		{"a rule on a stored signal", `    thresholds: {review: 30, decline: 70}
    verifiers: [{name: v, budget: 50ms, on_failure: review}]
    rules:
      - {name: many, when: "signals['v.count'] >= 7", action: review, reason: MANY_1, message: M.}`, riskv1.Outcome_OUTCOME_REVIEW, []string{"many"}},
		{"a rule on the request's time facts, at the decision's own time", `    thresholds: {review: 30, decline: 70}
    rules:
      - {name: fresh, when: "now - request.payment.credit_drawn_at < duration('2h')", action: decline, reason: FRESH_1, message: M.}`, riskv1.Outcome_OUTCOME_DECLINE, []string{"fresh"}},
		{"a finding counts only if the candidate runs its verifier", `    thresholds: {review: 10, decline: 70}`, riskv1.Outcome_OUTCOME_APPROVE, nil},
		// A shadow rule is observed, never enforced: firing under the
		// candidate when it did not fire then makes it no new rule.
		{"a shadow rule that fires is not a new rule", `    thresholds: {review: 30, decline: 70}
    rules:
      - {name: trial, when: "request.session.new_device", action: decline, reason: TRIAL_1, message: M., shadow: true}`, riskv1.Outcome_OUTCOME_APPROVE, nil},
		{"a verifier that did not run then is skipped", `    thresholds: {review: 10, decline: 70}
    verifiers: [{name: w, budget: 50ms, on_failure: decline}]
    rules:
      - {name: skipped, when: "verifiers['w'] == 'skipped'", action: review, reason: SKIP_1, message: M.}`, riskv1.Outcome_OUTCOME_REVIEW, []string{"skipped"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := replay.Evaluate(load(t, tc.policy), d, f)
			if err != nil {
				t.Fatal(err)
			}
			if o.Stored != riskv1.Outcome_OUTCOME_APPROVE || o.Candidate != tc.want {
				t.Fatalf("got %s -> %s, want APPROVE -> %s", o.Stored, o.Candidate, tc.want)
			}
			if strings.Join(o.NewRules, ",") != strings.Join(tc.newRules, ",") {
				t.Fatalf("new rules %v, want %v", o.NewRules, tc.newRules)
			}
		})
	}
	if _, err := replay.Evaluate(load(t, cases[0].policy), d, []byte("not a proto")); err == nil {
		t.Fatal("garbage facts were replayed")
	}
}
