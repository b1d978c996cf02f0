package policy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// The review block (issue 20, item 2): when a case is due and what riskd
// does when nobody resolved it, per check and per reason, checked at load
// with the line at fault.

func TestReviewTermsLoad(t *testing.T) {
	gc := riskv1.Check_CHECK_GIFT_CARD_PURCHASE
	for _, tc := range []struct {
		name string
		body string
		want policy.ReviewPolicy
	}{
		{"absent: the check's default", minimalCheck, policy.DefaultReview(gc)},
		{"both keys", minimalCheck + "\nreview: {due: 45m, on_expiry: escalate}",
			policy.ReviewPolicy{ReviewTerms: policy.ReviewTerms{Due: 45 * time.Minute, OnExpiry: store.ExpireEscalate}}},
		{"due alone keeps the default action", minimalCheck + "\nreview: {due: 2d}",
			policy.ReviewPolicy{ReviewTerms: policy.ReviewTerms{Due: 48 * time.Hour, OnExpiry: store.ExpireDecline}}},
		{"a reason inherits what it leaves out from the check's block", minimalCheck + `
review:
  due: 1h
  on_expiry: release
  reasons:
    SOCIAL_ENGINEERING_PATTERN: {due: 10m}
    NEW_DEVICE: {on_expiry: decline}`,
			policy.ReviewPolicy{
				ReviewTerms: policy.ReviewTerms{Due: time.Hour, OnExpiry: store.ExpireRelease},
				Reasons: map[string]policy.ReviewTerms{
					"SOCIAL_ENGINEERING_PATTERN": {Due: 10 * time.Minute, OnExpiry: store.ExpireRelease},
					"NEW_DEVICE":                 {Due: time.Hour, OnExpiry: store.ExpireDecline},
				},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustLoad(t, wrapCheck("gift_card_purchase", tc.body), testKnown).Check(gc).Review
			if got.ReviewTerms != tc.want.ReviewTerms || len(got.Reasons) != len(tc.want.Reasons) {
				t.Fatalf("review = %+v, want %+v", got, tc.want)
			}
			for code, w := range tc.want.Reasons {
				if got.Reasons[code] != w {
					t.Errorf("reasons[%s] = %+v, want %+v", code, got.Reasons[code], w)
				}
			}
		})
	}
}

func TestReviewTermsRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		line int
		want string
	}{
		{"unknown key", minimalCheck + "\nreview: {due: 30m, on_expire: decline}", 4, `unknown field "on_expire"`},
		{"unknown action", minimalCheck + "\nreview: {on_expiry: approve}", 4, `on_expiry "approve" must be release, decline or escalate`},
		{"due too short", minimalCheck + "\nreview: {due: 30s}", 4, `due "30s" must be a duration between 1m and 30d`},
		{"due too long", minimalCheck + "\nreview: {due: 31d}", 4, `due "31d" must be a duration between 1m and 30d`},
		{"due not a duration", minimalCheck + "\nreview: {due: soon}", 4, `due "soon"`},
		{"reason not a code", minimalCheck + "\nreview:\n  reasons:\n    new-device: {due: 5m}", 6, `"new-device" must be an upper snake case reason code`},
		{"reason with nothing", minimalCheck + "\nreview:\n  reasons:\n    NEW_DEVICE: {}", 6, `NEW_DEVICE sets neither due nor on_expiry`},
		{"reason with a bad due", minimalCheck + "\nreview:\n  due: 1h\n  reasons:\n    NEW_DEVICE: {due: 0m}", 7, `NEW_DEVICE: due "0m"`},
		{"the line of the value at fault", minimalCheck + "\nreview:\n  due: 1h\n  on_expiry: approve", 6, `on_expiry "approve"`},
		{"a reason's value on a line of its own", minimalCheck + "\nreview:\n  reasons:\n    NEW_DEVICE:\n      due: 5m\n      on_expiry: maybe", 8, `on_expiry "maybe"`},
		{"reason with an unknown key", minimalCheck + "\nreview:\n  reasons:\n    NEW_DEVICE: {due: 5m, escalate: true}", 6, `unknown field "escalate"`},
		{"reasons not a map", minimalCheck + "\nreview:\n  reasons: [NEW_DEVICE]", 5, `reasons must map reason codes`},
		{"reason twice", minimalCheck + "\nreview:\n  reasons:\n    NEW_DEVICE: {due: 5m}\n    NEW_DEVICE: {due: 6m}", 7, `listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := wrapCheck("gift_card_purchase", tc.body)
			_, err := policy.Load(doc, "inline.yaml", testKnown)
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Load = %v, want a *policy.Error\n%s", err, numbered(string(doc)))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
			if pe.Line != tc.line && (pe.Line != 0 || !strings.Contains(err.Error(), fmt.Sprintf("line %d:", tc.line))) {
				t.Errorf("err = %q (line %d), want line %d\n%s", err, pe.Line, tc.line, numbered(string(doc)))
			}
		})
	}
}

func TestReviewTermsOfADecision(t *testing.T) {
	p := mustLoad(t, wrapCheck("gift_card_purchase", minimalCheck+`
review:
  due: 1h
  on_expiry: release
  reasons:
    FAST: {due: 10m}
    STRICT: {due: 2h, on_expiry: decline}
    LENIENT: {due: 5m, on_expiry: release}`), testKnown)
	r := p.Check(riskv1.Check_CHECK_GIFT_CARD_PURCHASE).Review
	reasons := func(codes ...string) []*riskv1.Reason {
		var out []*riskv1.Reason
		for _, c := range codes {
			shadow := strings.HasPrefix(c, "~")
			out = append(out, &riskv1.Reason{Code: strings.TrimPrefix(c, "~"), Shadow: shadow})
		}
		return out
	}
	for _, tc := range []struct {
		codes []string
		want  policy.ReviewTerms
	}{
		{nil, policy.ReviewTerms{Due: time.Hour, OnExpiry: store.ExpireRelease}},
		{[]string{"OTHER"}, policy.ReviewTerms{Due: time.Hour, OnExpiry: store.ExpireRelease}},
		{[]string{"FAST"}, policy.ReviewTerms{Due: 10 * time.Minute, OnExpiry: store.ExpireRelease}},
		// The soonest due and the strictest action of those that apply.
		{[]string{"FAST", "STRICT", "OTHER"}, policy.ReviewTerms{Due: 10 * time.Minute, OnExpiry: store.ExpireDecline}},
		{[]string{"STRICT", "LENIENT"}, policy.ReviewTerms{Due: 5 * time.Minute, OnExpiry: store.ExpireDecline}},
		// A shadow reason is observed, not enforced: its terms do not apply.
		{[]string{"~FAST"}, policy.ReviewTerms{Due: time.Hour, OnExpiry: store.ExpireRelease}},
	} {
		if got := r.Terms(reasons(tc.codes...)); got != tc.want {
			t.Errorf("Terms(%v) = %+v, want %+v", tc.codes, got, tc.want)
		}
	}
}

func TestOpensCase(t *testing.T) {
	hold := []riskv1.Action{riskv1.Action_ACTION_HOLD_CODE_DELIVERY}
	for _, tc := range []struct {
		d    *riskv1.Decision
		want bool
	}{
		{&riskv1.Decision{Outcome: riskv1.Outcome_OUTCOME_REVIEW}, true},
		{&riskv1.Decision{Outcome: riskv1.Outcome_OUTCOME_APPROVE, Actions: hold}, true},
		{&riskv1.Decision{Outcome: riskv1.Outcome_OUTCOME_APPROVE}, false},
		// A decline is final: its hold means never deliver.
		{&riskv1.Decision{Outcome: riskv1.Outcome_OUTCOME_DECLINE, Actions: hold}, false},
	} {
		if got := policy.OpensCase(tc.d); got != tc.want {
			t.Errorf("OpensCase(%v %v) = %v, want %v", tc.d.GetOutcome(), tc.d.GetActions(), got, tc.want)
		}
	}
}

// The default policy's terms are the ones the README and docs/fraud-patterns.md
// promise: held gift-card codes are due in 30 minutes and never released
// unreviewed; the coached pattern sooner.
func TestDefaultPolicyReviewTerms(t *testing.T) {
	p, err := policy.Load(policy.DefaultBytes(), policy.DefaultSource, defaultKnown)
	if err != nil {
		t.Fatal(err)
	}
	gc := p.Check(riskv1.Check_CHECK_GIFT_CARD_PURCHASE).Review
	if want := (policy.ReviewTerms{Due: 30 * time.Minute, OnExpiry: store.ExpireDecline}); gc.ReviewTerms != want {
		t.Errorf("gift cards: %+v, want %+v", gc.ReviewTerms, want)
	}
	if got := gc.Terms([]*riskv1.Reason{{Code: "SOCIAL_ENGINEERING_PATTERN"}}); got.Due != 15*time.Minute || got.OnExpiry != store.ExpireDecline {
		t.Errorf("coached pattern: %+v, want 15m decline", got)
	}
	for _, c := range policy.Checks {
		r := p.Check(c.Check).Review
		if r.OnExpiry == store.ExpireRelease {
			t.Errorf("%s: the default policy releases an unreviewed case", c.Name)
		}
		for code, t2 := range r.Reasons {
			if t2.OnExpiry == store.ExpireRelease {
				t.Errorf("%s: reason %s releases an unreviewed case", c.Name, code)
			}
		}
		if r.Due == 0 {
			t.Errorf("%s: no review terms", c.Name)
		}
		if d := policy.DefaultReview(c.Check); d.Due == 0 || d.OnExpiry == 0 || d.OnExpiry == store.ExpireRelease {
			t.Errorf("%s: built-in default %+v, want a due time and an action that is not release", c.Name, d)
		}
	}
}
