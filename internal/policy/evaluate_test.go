package policy_test

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testNow is the server clock in every evaluation test: one fixed instant,
// so that time-window rules are decided by the inputs alone.
var testNow = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

const (
	approve = riskv1.Outcome_OUTCOME_APPROVE
	review  = riskv1.Outcome_OUTCOME_REVIEW
	decline = riskv1.Outcome_OUTCOME_DECLINE

	actManual  = riskv1.Action_ACTION_MANUAL_REVIEW
	actDocs    = riskv1.Action_ACTION_REQUEST_DOCUMENTS
	actHold    = riskv1.Action_ACTION_HOLD_CODE_DELIVERY
	actConfirm = riskv1.Action_ACTION_CONFIRM_WITH_ACCOUNT_HOLDER
	actFreeze  = riskv1.Action_ACTION_FREEZE_ISSUED_CODES
	actRefund  = riskv1.Action_ACTION_REFUND_TO_ORIGINAL_METHOD
)

// reason is the part of a riskv1.Reason the tests compare; messages are
// prose and free to change.
type reason struct {
	Code   string
	Source string
	Score  int32
	Shadow bool
}

func (r reason) String() string {
	s := fmt.Sprintf("%s(%s %+d)", r.Code, r.Source, r.Score)
	if r.Shadow {
		s += "[shadow]"
	}
	return s
}

// reasonsOf returns the verdict's reasons in a fixed order, so that tests
// do not depend on the order rules happen to be listed in.
func reasonsOf(rs []*riskv1.Reason) []reason {
	out := make([]reason, 0, len(rs))
	for _, r := range rs {
		out = append(out, reason{Code: r.GetCode(), Source: r.GetSource(), Score: r.GetScore(), Shadow: r.GetShadow()})
	}
	sortReasons(out)
	return out
}

func sortReasons(rs []reason) {
	slices.SortFunc(rs, func(a, b reason) int {
		return cmp.Or(cmp.Compare(a.Code, b.Code), cmp.Compare(a.Source, b.Source), cmp.Compare(fmt.Sprint(a.Shadow), fmt.Sprint(b.Shadow)))
	})
}

// run describes one verifier's account for a test; runsFor turns it into
// a policy.VerifierRun with the check's own spec for that verifier.
type run struct {
	name     string
	status   policy.Status
	findings []verifier.Finding
	signals  map[string]any
}

func ok(name string, findings ...verifier.Finding) run {
	return run{name: name, status: policy.StatusOK, findings: findings}
}

func finding(code string, score int) verifier.Finding {
	return verifier.Finding{Code: code, Score: score, Message: "Found " + code + "."}
}

func runsFor(t *testing.T, cp *policy.CheckPolicy, rs []run) []policy.VerifierRun {
	t.Helper()
	var out []policy.VerifierRun
	for _, r := range rs {
		i := slices.IndexFunc(cp.Verifiers, func(s policy.VerifierSpec) bool { return s.Name == r.name })
		if i < 0 {
			t.Fatalf("test bug: the check has no verifier %q", r.name)
		}
		out = append(out, policy.VerifierRun{
			Spec:   cp.Verifiers[i],
			Status: r.status,
			Result: verifier.Result{Signals: r.signals, Findings: r.findings},
		})
	}
	return out
}

// giftCardCheck loads a gift-card check from its YAML body inside an
// otherwise valid policy.
func giftCardCheck(t *testing.T, body string) *policy.CheckPolicy {
	t.Helper()
	return mustLoad(t, wrapCheck("gift_card_purchase", body), testKnown).Check(riskv1.Check_CHECK_GIFT_CARD_PURCHASE)
}

// evalBody is a gift-card check with thresholds 30/70, verifier v with the
// given failure mode and verifier w that is ignored on failure.
func evalBody(vMode, rules string) string {
	b := fmt.Sprintf(`thresholds: {review: 30, decline: 70}
verifiers:
  - {name: v, budget: 50ms, on_failure: %s}
  - {name: w, budget: 50ms, on_failure: ignore}
`, vMode)
	if strings.TrimSpace(rules) == "" {
		return b + "rules: []"
	}
	return b + "rules:\n" + strings.Trim(rules, "\n")
}

type evalCase struct {
	name  string
	vMode string // on_failure of verifier v; "ignore" when empty
	// ruleMode is the check's on_rule_error; absent (review) when empty.
	ruleMode string
	rules    string // YAML list items under rules:, flush left
	runs     []run
	req      *riskv1.ScoreGiftCardPurchaseRequest
	now      time.Time // testNow when zero
	want     riskv1.Outcome
	score    int
	reason   []reason
	errs     []string // rules that must be reported in RuleErrors
}

func (tc evalCase) evaluate(t *testing.T) policy.Verdict {
	t.Helper()
	mode := cmp.Or(tc.vMode, "ignore")
	body := evalBody(mode, tc.rules)
	if tc.ruleMode != "" {
		body = "on_rule_error: " + tc.ruleMode + "\n" + body
	}
	cp := giftCardCheck(t, body)
	req := tc.req
	if req == nil {
		req = &riskv1.ScoreGiftCardPurchaseRequest{}
	}
	now := tc.now
	if now.IsZero() {
		now = testNow
	}
	return cp.Evaluate(policy.Facts{Request: req, Now: now, Runs: runsFor(t, cp, tc.runs)})
}

func (tc evalCase) check(t *testing.T, v policy.Verdict) {
	t.Helper()
	if v.Outcome != tc.want {
		t.Errorf("Outcome = %s, want %s", v.Outcome, tc.want)
	}
	if v.Score != tc.score {
		t.Errorf("Score = %d, want %d", v.Score, tc.score)
	}
	got := reasonsOf(v.Reasons)
	want := slices.Clone(tc.reason)
	sortReasons(want)
	// A shadow reason's own score is pinned by TestEvaluateShadowReasonScore;
	// here only its presence matters.
	for i := range got {
		if got[i].Shadow {
			got[i].Score = 0
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Reasons = %v, want %v", got, want)
	}
	var errs []string
	for _, e := range v.RuleErrors {
		if e.Err == nil {
			t.Errorf("RuleErrors has %q with a nil error", e.Rule)
		}
		errs = append(errs, e.Rule)
	}
	if !slices.Equal(errs, tc.errs) {
		t.Errorf("RuleErrors = %v, want %v", v.RuleErrors, tc.errs)
	}
}

func runEvalCases(t *testing.T, tests []evalCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, tc.evaluate(t))
		})
	}
}

func TestEvaluateScore(t *testing.T) {
	runEvalCases(t, []evalCase{
		{
			name: "nothing found",
			want: approve,
		},
		{
			name: "findings of all verifiers and fired rules add up",
			runs: []run{ok("v", finding("A", 10), finding("B", 5)), ok("w", finding("C", 7))},
			rules: `
- {name: r, when: "true", score: 3, reason: R1, message: M.}
- {name: quiet, when: "false", score: 40, reason: R2, message: M.}`,
			want: approve, score: 25,
			reason: []reason{{"A", "v", 10, false}, {"B", "v", 5, false}, {"C", "w", 7, false}, {"R1", "rule:r", 3, false}},
		},
		{
			name:   "one below review approves",
			runs:   []run{ok("v", finding("A", 29))},
			want:   approve,
			score:  29,
			reason: []reason{{"A", "v", 29, false}},
		},
		{
			name:   "exactly review reviews",
			runs:   []run{ok("v", finding("A", 30))},
			want:   review,
			score:  30,
			reason: []reason{{"A", "v", 30, false}},
		},
		{
			name:   "one below decline reviews",
			runs:   []run{ok("v", finding("A", 20)), ok("w", finding("B", 49))},
			want:   review,
			score:  69,
			reason: []reason{{"A", "v", 20, false}, {"B", "w", 49, false}},
		},
		{
			name:   "exactly decline declines",
			runs:   []run{ok("v", finding("A", 20))},
			rules:  `- {name: r, when: "true", score: 50, reason: R1, message: M.}`,
			want:   decline,
			score:  70,
			reason: []reason{{"A", "v", 20, false}, {"R1", "rule:r", 50, false}},
		},
		{
			name:   "sum above 100 is clamped",
			runs:   []run{ok("v", finding("A", 80))},
			rules:  `- {name: r, when: "true", score: 50, reason: R1, message: M.}`,
			want:   decline,
			score:  100,
			reason: []reason{{"A", "v", 80, false}, {"R1", "rule:r", 50, false}},
		},
		{
			name:   "sum below 0 is clamped",
			rules:  `- {name: trusted, when: "true", score: -60, reason: TRUSTED, message: M.}`,
			want:   approve,
			score:  0,
			reason: []reason{{"TRUSTED", "rule:trusted", -60, false}},
		},
		{
			name:   "a negative rule lowers the score",
			runs:   []run{ok("v", finding("A", 40))},
			rules:  `- {name: trusted, when: "true", score: -15, reason: TRUSTED, message: M.}`,
			want:   approve,
			score:  25,
			reason: []reason{{"A", "v", 40, false}, {"TRUSTED", "rule:trusted", -15, false}},
		},
		{
			// The clamp applies to the total, not to each step: 80 + 50 - 40
			// is 90, not min(130, 100) - 40 = 60.
			name: "clamp applies once to the total",
			runs: []run{ok("v", finding("A", 80))},
			rules: `
- {name: up, when: "true", score: 50, reason: UP, message: M.}
- {name: down, when: "true", score: -40, reason: DOWN, message: M.}`,
			want: decline, score: 90,
			reason: []reason{{"A", "v", 80, false}, {"UP", "rule:up", 50, false}, {"DOWN", "rule:down", -40, false}},
		},
	})
}

func TestEvaluatePrecedence(t *testing.T) {
	const (
		approveRule = `- {name: allow, when: "true", action: approve, reason: ALLOWED, message: M.}`
		reviewRule  = `- {name: look, when: "true", action: review, reason: LOOK, message: M.}`
		declineRule = `- {name: stop, when: "true", action: decline, reason: STOP, message: M.}`
	)
	runEvalCases(t, []evalCase{
		{
			name:   "review rule reviews below the threshold",
			rules:  reviewRule,
			want:   review,
			reason: []reason{{"LOOK", "rule:look", 0, false}},
		},
		{
			name:   "decline rule declines with no score",
			rules:  declineRule,
			want:   decline,
			reason: []reason{{"STOP", "rule:stop", 0, false}},
		},
		{
			// Issue 16: a rule's action is the analyst's decision; the
			// thresholds decide only where no rule gave one.
			name:   "review rule caps a threshold decline",
			runs:   []run{ok("v", finding("A", 75))},
			rules:  reviewRule,
			want:   review,
			score:  75,
			reason: []reason{{"A", "v", 75, false}, {"LOOK", "rule:look", 0, false}},
		},
		{
			name:   "approve overrides a threshold decline",
			runs:   []run{ok("v", finding("A", 90))},
			rules:  approveRule,
			want:   approve,
			score:  90,
			reason: []reason{{"A", "v", 90, false}, {"ALLOWED", "rule:allow", 0, false}},
		},
		{
			name:   "approve overrides a threshold review",
			runs:   []run{ok("v", finding("A", 40))},
			rules:  approveRule,
			want:   approve,
			score:  40,
			reason: []reason{{"A", "v", 40, false}, {"ALLOWED", "rule:allow", 0, false}},
		},
		{
			name:   "approve overrides a review rule",
			rules:  reviewRule + "\n" + approveRule,
			want:   approve,
			reason: []reason{{"LOOK", "rule:look", 0, false}, {"ALLOWED", "rule:allow", 0, false}},
		},
		{
			name:   "approve listed first still overrides a review rule",
			rules:  approveRule + "\n" + reviewRule,
			want:   approve,
			reason: []reason{{"LOOK", "rule:look", 0, false}, {"ALLOWED", "rule:allow", 0, false}},
		},
		{
			name:   "decline beats approve",
			rules:  approveRule + "\n" + declineRule,
			want:   decline,
			reason: []reason{{"STOP", "rule:stop", 0, false}, {"ALLOWED", "rule:allow", 0, false}},
		},
		{
			name:   "decline listed first still beats approve",
			rules:  declineRule + "\n" + approveRule,
			want:   decline,
			reason: []reason{{"STOP", "rule:stop", 0, false}, {"ALLOWED", "rule:allow", 0, false}},
		},
		{
			name:   "declining verifier failure beats approve",
			vMode:  "decline",
			runs:   []run{{name: "v", status: policy.StatusFailed}},
			rules:  approveRule,
			want:   decline,
			reason: []reason{{policy.CodeVerifierFailed, "v", 0, false}, {"ALLOWED", "rule:allow", 0, false}},
		},
		{
			// Only a declining failure is named as stronger than approve;
			// a reviewing one is overridden like a review rule.
			name:   "approve overrides a reviewing verifier failure",
			vMode:  "review",
			runs:   []run{{name: "v", status: policy.StatusTimedOut}},
			rules:  approveRule,
			want:   approve,
			reason: []reason{{policy.CodeVerifierTimeout, "v", 0, false}, {"ALLOWED", "rule:allow", 0, false}},
		},
		{
			name:  "approve rule that does not fire changes nothing",
			runs:  []run{ok("v", finding("A", 90))},
			rules: `- {name: allow, when: "false", action: approve, reason: ALLOWED, message: M.}`,
			want:  decline, score: 90,
			reason: []reason{{"A", "v", 90, false}},
		},
	})
}

// TestEvaluatePrecedenceEveryCombination decides every combination of a
// decline rule, an approve rule, a review rule, a declining and a
// reviewing verifier failure, and a score below review, at review and at
// decline: decline (rule or failure mode) > approve rule > review rule >
// thresholds, with a reviewing failure as a floor that never lowers a
// threshold decline.
func TestEvaluatePrecedenceEveryCombination(t *testing.T) {
	body := `thresholds: {review: 30, decline: 70}
verifiers:
  - {name: v, budget: 50ms, on_failure: decline}
  - {name: w, budget: 50ms, on_failure: review}
rules:
  - {name: some, when: "request.order_id.contains('p')", score: 30, reason: SOME, message: M.}
  - {name: more, when: "request.order_id.contains('q')", score: 40, reason: MORE, message: M.}
  - {name: stop, when: "request.order_id.contains('D')", action: decline, reason: STOP, message: M.}
  - {name: allow, when: "request.order_id.contains('A')", action: approve, reason: ALLOWED, message: M.}
  - {name: look, when: "request.order_id.contains('R')", action: review, reason: LOOK, message: M.}`
	cp := giftCardCheck(t, body)
	scores := []struct {
		name  string
		score int
		order string // the score rules that fire
	}{{"score 0", 0, ""}, {"score 30 (review)", 30, "p"}, {"score 70 (decline)", 70, "pq"}}
	for mask := range 1 << 5 {
		declineRule, approveRule, reviewRule := mask&1 != 0, mask&2 != 0, mask&4 != 0
		declineFail, reviewFail := mask&8 != 0, mask&16 != 0
		for _, sc := range scores {
			var want riskv1.Outcome
			switch {
			case declineRule || declineFail:
				want = decline
			case approveRule:
				want = approve
			case reviewRule:
				want = review
			case sc.score >= 70:
				want = decline
			case reviewFail || sc.score >= 30:
				want = review
			default:
				want = approve
			}
			order := sc.order
			for _, c := range []struct {
				on bool
				s  string
			}{{declineRule, "D"}, {approveRule, "A"}, {reviewRule, "R"}} {
				if c.on {
					order += c.s
				}
			}
			status := func(failed bool) policy.Status {
				if failed {
					return policy.StatusFailed
				}
				return policy.StatusOK
			}
			runs := runsFor(t, cp, []run{
				{name: "v", status: status(declineFail)},
				{name: "w", status: status(reviewFail)},
			})
			name := fmt.Sprintf("rules %q, failed decline %v, failed review %v, %s", order, declineFail, reviewFail, sc.name)
			t.Run(name, func(t *testing.T) {
				v := cp.Evaluate(policy.Facts{Request: &riskv1.ScoreGiftCardPurchaseRequest{OrderId: order}, Now: testNow, Runs: runs})
				if v.Outcome != want {
					t.Errorf("Outcome = %s, want %s", v.Outcome, want)
				}
				if v.Score != sc.score {
					t.Errorf("Score = %d, want %d", v.Score, sc.score)
				}
			})
		}
	}
}

func TestEvaluateShadow(t *testing.T) {
	runEvalCases(t, []evalCase{
		{
			name:   "shadow decline rule neither scores nor declines",
			rules:  `- {name: s, when: "true", action: decline, score: 50, reason: SHADOWED, message: M., shadow: true}`,
			want:   approve,
			reason: []reason{{"SHADOWED", "rule:s", 0, true}},
		},
		{
			name:   "shadow add_score rule does not reach the review threshold",
			runs:   []run{ok("v", finding("A", 20))},
			rules:  `- {name: s, when: "true", score: 40, reason: SHADOWED, message: M., shadow: true}`,
			want:   approve,
			score:  20,
			reason: []reason{{"A", "v", 20, false}, {"SHADOWED", "rule:s", 0, true}},
		},
		{
			name:   "shadow review rule does not review",
			rules:  `- {name: s, when: "true", action: review, reason: SHADOWED, message: M., shadow: true}`,
			want:   approve,
			reason: []reason{{"SHADOWED", "rule:s", 0, true}},
		},
		{
			name:   "shadow approve rule does not override a decline",
			runs:   []run{ok("v", finding("A", 80))},
			rules:  `- {name: s, when: "true", action: approve, reason: SHADOWED, message: M., shadow: true}`,
			want:   decline,
			score:  80,
			reason: []reason{{"A", "v", 80, false}, {"SHADOWED", "rule:s", 0, true}},
		},
		{
			name:  "shadow rule that does not fire leaves no reason",
			rules: `- {name: s, when: "false", action: decline, reason: SHADOWED, message: M., shadow: true}`,
			want:  approve,
		},
		{
			// The enforced reason keeps its own score; the shadow one is a
			// separate, marked line.
			name:   "shadow rule with a finding's code stays separate",
			runs:   []run{ok("v", finding("XX", 10))},
			rules:  `- {name: s, when: "true", score: 20, reason: XX, message: M., shadow: true}`,
			want:   approve,
			score:  10,
			reason: []reason{{"XX", "v", 10, false}, {"XX", "rule:s", 0, true}},
		},
		{
			name: "enforced rule after a shadow rule with its code has its own reason",
			rules: `
- {name: s, when: "true", score: 20, reason: XX, message: M., shadow: true}
- {name: e, when: "true", score: 5, reason: XX, message: M.}`,
			want: approve, score: 5,
			reason: []reason{{"XX", "rule:e", 5, false}, {"XX", "rule:s", 0, true}},
		},
	})
}

func TestEvaluateShadowReasonScore(t *testing.T) {
	// riskv1.Reason.score on a shadow reason is what the rule would have
	// added: the figure a shadow trial exists to measure. The decision's
	// own score must not include it.
	cp := giftCardCheck(t, evalBody("ignore", `- {name: s, when: "true", score: 40, reason: SHADOWED, message: M., shadow: true}`))
	v := cp.Evaluate(policy.Facts{Request: &riskv1.ScoreGiftCardPurchaseRequest{}, Now: testNow})
	if len(v.Reasons) != 1 || !v.Reasons[0].GetShadow() {
		t.Fatalf("Reasons = %v, want one shadow reason", v.Reasons)
	}
	if v.Score != 0 {
		t.Errorf("Score = %d, want 0", v.Score)
	}
	if got := v.Reasons[0].GetScore(); got != 40 {
		t.Errorf("shadow reason Score = %d, want 40: what it would have added", got)
	}
}

func TestEvaluateFiredRecordsShadow(t *testing.T) {
	// Verdict.Fired is what the engine turns into the rule-hit metric's
	// shadow attribute, the decision facts and replay's new rules: each
	// hit must carry its rule's own shadow flag, shadow hits included, in
	// policy order, and a rule that does not fire is no hit.
	cp := giftCardCheck(t, evalBody("ignore", `
- {name: enforced, when: "true", score: 10, reason: ENFORCED, message: M.}
- {name: shadow, when: "true", action: decline, score: 40, reason: SHADOWED, message: M., shadow: true}
- {name: quiet_shadow, when: "false", score: 40, reason: QUIET, message: M., shadow: true}
- {name: enforced_too, when: "true", action: review, reason: ENFORCED_TOO, message: M.}`))
	v := cp.Evaluate(policy.Facts{Request: &riskv1.ScoreGiftCardPurchaseRequest{}, Now: testNow})
	want := []policy.FiredRule{{Name: "enforced"}, {Name: "shadow", Shadow: true}, {Name: "enforced_too"}}
	if !slices.Equal(v.Fired, want) {
		t.Errorf("Fired = %+v, want %+v", v.Fired, want)
	}
}

func TestEvaluateReasonMerge(t *testing.T) {
	runEvalCases(t, []evalCase{
		{
			name:   "rule with a finding's code adds to that reason",
			runs:   []run{ok("v", finding("XX", 10))},
			rules:  `- {name: more-x, when: "'XX' in findings", score: 25, reason: XX, message: M.}`,
			want:   review,
			score:  35,
			reason: []reason{{"XX", "v", 35, false}},
		},
		{
			// The default seller policy escalates verifier findings this way.
			name:   "decline rule on a finding keeps one reason",
			runs:   []run{ok("v", finding("XX", 10))},
			rules:  `- {name: stop-x, when: "'XX' in findings", action: decline, reason: XX, message: M.}`,
			want:   decline,
			score:  10,
			reason: []reason{{"XX", "v", 10, false}},
		},
		{
			name: "two rules with one code give one reason",
			rules: `
- {name: a, when: "true", score: 10, reason: R1, message: M.}
- {name: b, when: "true", score: 15, reason: R1, message: M.}`,
			want: approve, score: 25,
			reason: []reason{{"R1", "rule:a", 25, false}},
		},
		{
			name: "rules with different codes give one reason each",
			rules: `
- {name: a, when: "true", score: 10, reason: R1, message: M.}
- {name: b, when: "true", score: 15, reason: R2, message: M.}`,
			want: approve, score: 25,
			reason: []reason{{"R1", "rule:a", 10, false}, {"R2", "rule:b", 15, false}},
		},
	})
}

func TestEvaluateVerifierFailures(t *testing.T) {
	// A failed run's result must be ignored whatever it holds: a verifier
	// that errors half-way may have filled in garbage.
	junk := verifier.Result{Findings: []verifier.Finding{finding("JUNK", 60)}, Signals: map[string]any{"v.junk": true}}
	var tests []evalCase
	for _, st := range []struct {
		status policy.Status
		code   string
	}{
		{policy.StatusFailed, policy.CodeVerifierFailed},
		{policy.StatusTimedOut, policy.CodeVerifierTimeout},
	} {
		for _, m := range []struct {
			mode string
			want riskv1.Outcome
		}{
			{"ignore", approve},
			{"review", review},
			{"decline", decline},
		} {
			tests = append(tests, evalCase{
				name:   fmt.Sprintf("%s with on_failure %s", st.status, m.mode),
				vMode:  m.mode,
				runs:   []run{{name: "v", status: st.status, findings: junk.Findings, signals: junk.Signals}},
				rules:  `- {name: junk, when: "'JUNK' in findings || 'v.junk' in signals", score: 60, reason: JUNK_SEEN, message: M.}`,
				want:   m.want,
				reason: []reason{{st.code, "v", 0, false}},
			})
		}
	}
	tests = append(tests,
		evalCase{
			name:   "ignored failure still lets other findings decide",
			runs:   []run{{name: "w", status: policy.StatusFailed}, ok("v", finding("A", 35))},
			want:   review,
			score:  35,
			reason: []reason{{policy.CodeVerifierFailed, "w", 0, false}, {"A", "v", 35, false}},
		},
		evalCase{
			name:   "each failed verifier has its own reason",
			vMode:  "review",
			runs:   []run{{name: "v", status: policy.StatusTimedOut}, {name: "w", status: policy.StatusFailed}},
			want:   review,
			reason: []reason{{policy.CodeVerifierTimeout, "v", 0, false}, {policy.CodeVerifierFailed, "w", 0, false}},
		},
		evalCase{
			name:  "skipped verifier gives no reason",
			vMode: "decline",
			runs:  []run{{name: "v", status: policy.StatusSkipped}},
			want:  approve,
		},
	)
	runEvalCases(t, tests)
}

func TestEvaluateFailureMessageNamesVerifier(t *testing.T) {
	cp := giftCardCheck(t, evalBody("decline", ""))
	v := cp.Evaluate(policy.Facts{Request: &riskv1.ScoreGiftCardPurchaseRequest{}, Now: testNow,
		Runs: runsFor(t, cp, []run{{name: "v", status: policy.StatusTimedOut}})})
	if len(v.Reasons) != 1 {
		t.Fatalf("Reasons = %v, want one", v.Reasons)
	}
	// A support agent reads this out: it must say which check and what
	// the policy did about it.
	if msg := v.Reasons[0].GetMessage(); !strings.Contains(msg, `"v"`) || !strings.Contains(msg, "declined") {
		t.Errorf("Message = %q, want it to name verifier \"v\" and say it declined", msg)
	}
}

func TestEvaluateRuleVariables(t *testing.T) {
	fires := func(name string) []reason { return []reason{{"FIRED", "rule:" + name, 0, false}} }
	// Every case has one review rule whose only job is to show whether its
	// expression was true.
	rule := func(name, expr string) string {
		return fmt.Sprintf("- {name: %s, when: %q, action: review, reason: FIRED, message: M.}", name, expr)
	}
	inCall := &riskv1.ScoreGiftCardPurchaseRequest{Session: &riskv1.SessionFacts{ActiveCall: true}}
	runEvalCases(t, []evalCase{
		{
			name:   "findings: code present",
			runs:   []run{ok("v", finding("XX", 0))},
			rules:  rule("f", "'XX' in findings"),
			want:   review,
			reason: append(fires("f"), reason{"XX", "v", 0, false}),
		},
		{
			name:   "findings: code absent",
			runs:   []run{ok("v", finding("Y", 0))},
			rules:  rule("f", "'XX' in findings"),
			want:   approve,
			reason: []reason{{"Y", "v", 0, false}},
		},
		{
			name:   "findings: scores of one code add up across verifiers",
			runs:   []run{ok("v", finding("XX", 10)), ok("w", finding("XX", 12))},
			rules:  rule("f", "findings['XX'] == 22"),
			want:   review,
			score:  22,
			reason: append(fires("f"), reason{"XX", "v", 10, false}, reason{"XX", "w", 12, false}),
		},
		{
			name:   "findings: a failure is a finding",
			runs:   []run{{name: "v", status: policy.StatusFailed}},
			rules:  rule("f", "'VERIFIER_FAILED' in findings && !('VERIFIER_TIMEOUT' in findings)"),
			want:   review,
			reason: append(fires("f"), reason{policy.CodeVerifierFailed, "v", 0, false}),
		},
		{
			name:   "signals: int below the limit",
			runs:   []run{{name: "v", status: policy.StatusOK, signals: map[string]any{"v.age": int64(16)}}},
			rules:  rule("minor", "signals['v.age'] < 18"),
			want:   review,
			reason: fires("minor"),
		},
		{
			name:  "signals: int above the limit",
			runs:  []run{{name: "v", status: policy.StatusOK, signals: map[string]any{"v.age": int64(30)}}},
			rules: rule("minor", "signals['v.age'] < 18"),
			want:  approve,
		},
		{
			name: "signals: of every verifier that answered",
			runs: []run{
				{name: "v", status: policy.StatusOK, signals: map[string]any{"v.name": "bob"}},
				{name: "w", status: policy.StatusOK, signals: map[string]any{"w.valid": true, "w.ratio": 0.5}},
			},
			rules:  rule("all", "signals['v.name'] == 'bob' && signals['w.valid'] == true && signals['w.ratio'] < 1.0"),
			want:   review,
			reason: fires("all"),
		},
		{
			name:   "verifiers: timed out",
			vMode:  "ignore",
			runs:   []run{{name: "v", status: policy.StatusTimedOut}},
			rules:  rule("slow", "verifiers['v'] == 'timed_out'"),
			want:   review,
			reason: append(fires("slow"), reason{policy.CodeVerifierTimeout, "v", 0, false}),
		},
		{
			name:  "verifiers: ok is not timed out",
			runs:  []run{ok("v")},
			rules: rule("slow", "verifiers['v'] == 'timed_out'"),
			want:  approve,
		},
		{
			name:   "verifiers: every status by name",
			runs:   []run{ok("v"), {name: "w", status: policy.StatusSkipped}},
			rules:  rule("st", "verifiers['v'] == 'ok' && verifiers['w'] == 'skipped' && size(verifiers) == 2"),
			want:   review,
			reason: fires("st"),
		},
		{
			name:   "verifiers: a verifier that did not run is absent",
			rules:  rule("none", "!('v' in verifiers)"),
			want:   review,
			reason: fires("none"),
		},
		{
			name:   "now: the server's clock",
			rules:  rule("late", "now == timestamp('2026-03-14T12:00:00Z')"),
			want:   review,
			reason: fires("late"),
		},
		{
			name:   "now: against a request time",
			req:    &riskv1.ScoreGiftCardPurchaseRequest{AccountCreatedAt: timestamppb.New(testNow.Add(-time.Hour))},
			rules:  rule("young", "now - request.account_created_at < duration('2h')"),
			want:   review,
			reason: fires("young"),
		},
		{
			name:  "now: a different clock gives a different answer",
			req:   &riskv1.ScoreGiftCardPurchaseRequest{AccountCreatedAt: timestamppb.New(testNow.Add(-time.Hour))},
			now:   testNow.Add(3 * time.Hour),
			rules: rule("young", "now - request.account_created_at < duration('2h')"),
			want:  approve,
		},
		{
			name:   "request: a session flag",
			req:    inCall,
			rules:  rule("call", "request.session.active_call"),
			want:   review,
			reason: fires("call"),
		},
		{
			name:  "request: the flag unset",
			rules: rule("call", "request.session.active_call"),
			want:  approve,
		},
	})
}

// A rule that cannot be evaluated fails closed: it adds a VERIFIER_FAILED
// reason with the rule as its source (the API has no code of its own for a
// rule error) and forces the outcome the check's on_rule_error declares,
// review when the policy says nothing. Only ignore lets it count as not
// fired, and a shadow rule's error is recorded, never enforced.
func TestEvaluateRuleErrors(t *testing.T) {
	broken := "- {name: broken, when: \"signals['v.age'] < 18\", action: decline, score: 50, reason: BROKEN, message: M.}"
	runEvalCases(t, []evalCase{
		{
			name: "missing signal is an error and reviews by default",
			runs: []run{ok("v")},
			rules: broken + `
- {name: fine, when: "true", score: 5, reason: FINE, message: M.}`,
			want: review, score: 5,
			reason: []reason{{"FINE", "rule:fine", 5, false}, {"VERIFIER_FAILED", "rule:broken", 0, false}},
			errs:   []string{"broken"},
		},
		{
			name: "on_rule_error: review reviews", ruleMode: "review",
			runs: []run{ok("v")}, rules: broken,
			want:   review,
			reason: []reason{{"VERIFIER_FAILED", "rule:broken", 0, false}},
			errs:   []string{"broken"},
		},
		{
			name: "on_rule_error: decline declines", ruleMode: "decline",
			runs: []run{ok("v")}, rules: broken,
			want:   decline,
			reason: []reason{{"VERIFIER_FAILED", "rule:broken", 0, false}},
			errs:   []string{"broken"},
		},
		{
			name: "on_rule_error: ignore decides without the rule", ruleMode: "ignore",
			runs: []run{ok("v")}, rules: broken,
			want:   approve,
			reason: []reason{{"VERIFIER_FAILED", "rule:broken", 0, false}},
			errs:   []string{"broken"},
		},
		{
			name: "a rule error beats an approve rule, as a decline rule would not be overridden",
			runs: []run{ok("v")}, ruleMode: "decline",
			rules: broken + `
- {name: allow, when: "true", action: approve, reason: ALLOWED, message: M.}`,
			want:   decline,
			reason: []reason{{"VERIFIER_FAILED", "rule:broken", 0, false}, {"ALLOWED", "rule:allow", 0, false}},
			errs:   []string{"broken"},
		},
		{
			name: "review by rule error does not lower a score-driven decline",
			runs: []run{ok("v", finding("A", 80))}, rules: broken,
			want: decline, score: 80,
			reason: []reason{{"A", "v", 80, false}, {"VERIFIER_FAILED", "rule:broken", 0, false}},
			errs:   []string{"broken"},
		},
		{
			name: "a shadow rule's error is recorded, never enforced",
			runs: []run{ok("v")}, ruleMode: "decline",
			rules:  "- {name: trial, when: \"signals['v.age'] < 18\", action: decline, reason: TRIAL, message: M., shadow: true}",
			want:   approve,
			reason: []reason{{"VERIFIER_FAILED", "rule:trial", 0, true}},
			errs:   []string{"trial"},
		},
		{
			name:   "signal present is no error",
			runs:   []run{{name: "v", status: policy.StatusOK, signals: map[string]any{"v.age": int64(40)}}},
			rules:  broken,
			want:   approve,
			reason: nil,
		},
		{
			name: "every broken rule is reported, in order",
			rules: `
- {name: one, when: "signals['v.a'] == 1", reason: ONE, message: M.}
- {name: two, when: "findings['NOPE'] > 0", reason: TWO, message: M.}`,
			want:   review,
			reason: []reason{{"VERIFIER_FAILED", "rule:one", 0, false}, {"VERIFIER_FAILED", "rule:two", 0, false}},
			errs:   []string{"one", "two"},
		},
		{
			// CEL's cost limit stops a runaway rule: 100 cards nested three
			// deep is a million steps, which must not stall a checkout, nor
			// let the order through unseen.
			name:   "rule over its cost limit is an error",
			req:    &riskv1.ScoreGiftCardPurchaseRequest{Cards: cards(100)},
			rules:  `- {name: costly, when: "request.cards.all(a, request.cards.all(b, request.cards.all(c, a.quantity == 1)))", action: decline, reason: COSTLY, message: M.}`,
			want:   review,
			reason: []reason{{"VERIFIER_FAILED", "rule:costly", 0, false}},
			errs:   []string{"costly"},
		},
		{
			name:   "the same rule over a small order is fine",
			req:    &riskv1.ScoreGiftCardPurchaseRequest{Cards: cards(5)},
			rules:  `- {name: costly, when: "request.cards.all(a, request.cards.all(b, request.cards.all(c, a.quantity == 1)))", action: decline, reason: COSTLY, message: M.}`,
			want:   decline,
			reason: []reason{{"COSTLY", "rule:costly", 0, false}},
		},
		{
			name:  "a broken approve rule does not override a decline",
			runs:  []run{ok("v", finding("A", 80))},
			rules: `- {name: allow, when: "signals['v.trusted'] == true", action: approve, reason: ALLOWED, message: M.}`,
			want:  decline, score: 80,
			reason: []reason{{"A", "v", 80, false}, {"VERIFIER_FAILED", "rule:allow", 0, false}},
			errs:   []string{"allow"},
		},
	})
}

// cards returns n gift-card lines of one card each.
func cards(n int) []*riskv1.GiftCardLine {
	out := make([]*riskv1.GiftCardLine, n)
	for i := range out {
		out[i] = &riskv1.GiftCardLine{FaceValueMinor: 10_000, Quantity: 1}
	}
	return out
}

func TestEvaluateActions(t *testing.T) {
	const body = `thresholds: {review: 30, decline: 70}
actions:
  approve: [FREEZE_ISSUED_CODES]
  review: [MANUAL_REVIEW]
  decline: [HOLD_CODE_DELIVERY, MANUAL_REVIEW]
rules:
`
	tests := []struct {
		name  string
		rules string
		want  riskv1.Outcome
		acts  []riskv1.Action
	}{
		{
			name:  "only the outcome's own actions",
			rules: `- {name: quiet, when: "false", reason: R1, message: M., actions: [CONFIRM_WITH_ACCOUNT_HOLDER]}`,
			want:  approve,
			acts:  []riskv1.Action{actFreeze},
		},
		{
			name:  "fired add_score rule's actions join even on approve",
			rules: `- {name: a, when: "true", score: 10, reason: R1, message: M., actions: [CONFIRM_WITH_ACCOUNT_HOLDER, HOLD_CODE_DELIVERY]}`,
			want:  approve,
			acts:  []riskv1.Action{actHold, actConfirm, actFreeze},
		},
		{
			name: "union of rules and outcome, sorted, without duplicates",
			rules: `
- {name: a, when: "true", action: review, reason: R1, message: M., actions: [CONFIRM_WITH_ACCOUNT_HOLDER, MANUAL_REVIEW]}
- {name: b, when: "true", reason: R2, message: M., actions: [REFUND_TO_ORIGINAL_METHOD, CONFIRM_WITH_ACCOUNT_HOLDER, HOLD_CODE_DELIVERY]}`,
			want: review,
			acts: []riskv1.Action{actManual, actHold, actConfirm, actRefund},
		},
		{
			name:  "decline outcome's actions merge with the rule's",
			rules: `- {name: stop, when: "true", action: decline, reason: R1, message: M., actions: [HOLD_CODE_DELIVERY, REQUEST_DOCUMENTS]}`,
			want:  decline,
			acts:  []riskv1.Action{actManual, actDocs, actHold},
		},
		{
			name: "rules that do not fire or are shadow add nothing",
			rules: `
- {name: quiet, when: "false", reason: R1, message: M., actions: [HOLD_CODE_DELIVERY]}
- {name: shadow, when: "true", reason: R2, message: M., shadow: true, actions: [CONFIRM_WITH_ACCOUNT_HOLDER]}`,
			want: approve,
			acts: []riskv1.Action{actFreeze},
		},
		{
			// The broken rule's own actions are not asked for (it did not
			// fire); the outcome it forces brings that outcome's actions.
			name: "a rule that breaks reviews with the review actions only",
			rules: `
- {name: broken, when: "findings['NOPE'] == 1", reason: R3, message: M., actions: [REQUEST_DOCUMENTS]}`,
			want: review,
			acts: []riskv1.Action{actManual},
		},
		{
			name: "outcome with no configured actions",
			rules: `
- {name: allow, when: "true", action: approve, reason: R1, message: M.}`,
			want: approve,
			acts: []riskv1.Action{actFreeze},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := giftCardCheck(t, body+strings.Trim(tt.rules, "\n"))
			v := cp.Evaluate(policy.Facts{Request: &riskv1.ScoreGiftCardPurchaseRequest{}, Now: testNow})
			if v.Outcome != tt.want {
				t.Errorf("Outcome = %s, want %s", v.Outcome, tt.want)
			}
			if !slices.Equal(v.Actions, tt.acts) {
				t.Errorf("Actions = %v, want %v", v.Actions, tt.acts)
			}
		})
	}
	t.Run("no actions configured at all", func(t *testing.T) {
		cp := giftCardCheck(t, minimalCheck)
		v := cp.Evaluate(policy.Facts{Request: &riskv1.ScoreGiftCardPurchaseRequest{}, Now: testNow})
		if len(v.Actions) != 0 {
			t.Errorf("Actions = %v, want none", v.Actions)
		}
	})
}

func TestEvaluateSignals(t *testing.T) {
	cp := giftCardCheck(t, evalBody("ignore", ""))
	v := cp.Evaluate(policy.Facts{Request: &riskv1.ScoreGiftCardPurchaseRequest{}, Now: testNow, Runs: runsFor(t, cp, []run{
		{name: "v", status: policy.StatusOK, signals: map[string]any{"v.age": int64(30), "v.valid": true}},
		{name: "w", status: policy.StatusFailed, signals: map[string]any{"w.half": "done"}},
	})})
	want := map[string]any{"v.age": int64(30), "v.valid": true}
	if len(v.Signals) != len(want) {
		t.Errorf("Signals = %v, want %v (a failed verifier's signals are not facts)", v.Signals, want)
	}
	for k, w := range want {
		if v.Signals[k] != w {
			t.Errorf("Signals[%q] = %v, want %v", k, v.Signals[k], w)
		}
	}
}

func TestEvaluateConcurrent(t *testing.T) {
	// A Policy is shared by every request in flight; run with -race.
	cp := giftCardCheck(t, evalBody("review", `
- {name: minor, when: "signals['v.age'] < 18", action: decline, reason: MINOR, message: M.}
- {name: merge, when: "'XX' in findings", score: 5, reason: XX, message: M.}`))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				age := int64(10 + (g+i)%20)
				v := cp.Evaluate(policy.Facts{Request: &riskv1.ScoreGiftCardPurchaseRequest{}, Now: testNow, Runs: []policy.VerifierRun{{
					Spec:   cp.Verifiers[0],
					Status: policy.StatusOK,
					Result: verifier.Result{Signals: map[string]any{"v.age": age}, Findings: []verifier.Finding{finding("XX", 20)}},
				}}})
				want := approve
				if age < 18 {
					want = decline
				}
				if v.Outcome != want || v.Score != 25 || len(v.Reasons) < 1 || v.Reasons[0].GetScore() != 25 {
					t.Errorf("age %d: outcome %s score %d reasons %v", age, v.Outcome, v.Score, v.Reasons)
					return
				}
			}
		})
	}
	wg.Wait()
}

// Guards (issue 17, item 5: one home per sentence): a rule that escalates
// a finding of its own code without a message leaves the finding's
// sentence (the verifier knows the facts); one with a message gives the
// sentence, in the caller's locale; a shadow escalation records the
// finding's sentence too. No rule's sentence is written and never read.
func TestEvaluateEscalationSentence(t *testing.T) {
	for _, tc := range []struct {
		name, rules, want string
	}{
		{"no message: the finding's sentence", `- {name: stop-x, when: "'XX' in findings", action: decline, reason: XX}`, "Found XX."},
		{"a message: the rule's sentence", `- {name: stop-x, when: "'XX' in findings", action: decline, reason: XX, message: Held until confirmed.}`, "Held until confirmed."},
		{"a message with more conditions", `- {name: stop-x, when: "'XX' in findings && true", score: 5, reason: XX, message: Held.}`, "Held."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := evalCase{runs: []run{ok("v", finding("XX", 10))}, rules: tc.rules}.evaluate(t)
			if len(v.Reasons) != 1 || v.Reasons[0].GetMessage() != tc.want {
				t.Fatalf("reasons %v, want one XX saying %q", v.Reasons, tc.want)
			}
		})
	}
	t.Run("shadow escalation without a message", func(t *testing.T) {
		v := evalCase{runs: []run{ok("v", finding("XX", 10))},
			rules: `- {name: try-x, when: "'XX' in findings", action: decline, reason: XX, shadow: true}`}.evaluate(t)
		for _, r := range v.Reasons {
			if r.GetMessage() != "Found XX." {
				t.Errorf("reason %v has sentence %q, want the finding's", r.GetCode(), r.GetMessage())
			}
		}
	})
}
