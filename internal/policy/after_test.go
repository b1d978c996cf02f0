package policy_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/returns"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// afterKnown are the verifiers of the dependency tests: a structure check
// (lic), a lookup that should wait for it (reg) and two more.
var afterKnown = map[string]bool{"lic": true, "reg": true, "x": true, "y": true}

// TestLoadVerifierDependencies: after names verifiers of the same check,
// without cycles; when needs after, is a bool, and reads only the signals
// of the verifiers it waits for. Every refusal names its line.
func TestLoadVerifierDependencies(t *testing.T) {
	head := minimalCheck + "\nverifiers:\n" // the first verifier is on document line 5
	tests := []struct {
		name      string
		verifiers string
		line      int    // 0: the policy loads
		want      string // a fragment of the error
	}{
		{
			name:      "after and when",
			verifiers: "  - {name: lic, budget: 50ms, on_failure: review}\n  - {name: reg, budget: 50ms, on_failure: review, after: [lic], when: \"signals['lic.valid'] == true\"}",
		},
		{
			name:      "after listed before the verifier it names",
			verifiers: "  - {name: reg, budget: 50ms, on_failure: review, after: [lic]}\n  - {name: lic, budget: 50ms, on_failure: review}",
		},
		{
			name:      "a chain",
			verifiers: "  - {name: x, budget: 50ms, on_failure: review, after: [y]}\n  - {name: y, budget: 50ms, on_failure: review, after: [lic]}\n  - {name: lic, budget: 50ms, on_failure: review}",
		},
		{
			name:      "when over statuses, findings and the request",
			verifiers: "  - {name: lic, budget: 50ms, on_failure: review}\n  - {name: reg, budget: 50ms, on_failure: review, after: [lic], when: \"verifiers['lic'] == 'ok' && !('LICENSE_NUMBER_INVALID' in findings) && has(request.license)\"}",
		},
		{
			name:      "after names a verifier this check does not run",
			verifiers: "  - {name: lic, budget: 50ms, on_failure: review}\n  - {name: reg, budget: 50ms, on_failure: review, after: [x]}",
			line:      6, want: `verifier "reg": after names "x", which this check does not run`,
		},
		{
			name:      "after names an unknown verifier",
			verifiers: "  - {name: reg, budget: 50ms, on_failure: review, after: [oracle]}",
			line:      5, want: `after names "oracle"`,
		},
		{
			name:      "after names itself",
			verifiers: "  - {name: reg, budget: 50ms, on_failure: review, after: [reg]}",
			line:      5, want: `verifier "reg": after names itself`,
		},
		{
			name:      "after names one twice",
			verifiers: "  - {name: lic, budget: 50ms, on_failure: review}\n  - {name: reg, budget: 50ms, on_failure: review, after: [lic, lic]}",
			line:      6, want: `after names "lic" twice`,
		},
		{
			name:      "a cycle of two",
			verifiers: "  - {name: lic, budget: 50ms, on_failure: review}\n  - {name: x, budget: 50ms, on_failure: review, after: [y]}\n  - {name: y, budget: 50ms, on_failure: review, after: [x]}",
			line:      6, want: `after makes a cycle: x -> y -> x`,
		},
		{
			name:      "a cycle of three",
			verifiers: "  - {name: x, budget: 50ms, on_failure: review, after: [lic]}\n  - {name: lic, budget: 50ms, on_failure: review, after: [y]}\n  - {name: y, budget: 50ms, on_failure: review, after: [x]}",
			line:      5, want: `after makes a cycle: x -> lic -> y -> x`,
		},
		{
			name:      "when without after",
			verifiers: "  - {name: reg, budget: 50ms, on_failure: review, when: \"true\"}",
			line:      5, want: `verifier "reg": when needs after`,
		},
		{
			name:      "when reads a signal of a verifier it does not wait for",
			verifiers: "  - {name: lic, budget: 50ms, on_failure: review}\n  - {name: x, budget: 50ms, on_failure: review}\n  - {name: reg, budget: 50ms, on_failure: review, after: [lic], when: \"signals['x.ok'] == true\"}",
			line:      7, want: `when reads signal "x.ok", but after does not name verifier "x"`,
		},
		{
			name:      "when is not a bool",
			verifiers: "  - {name: lic, budget: 50ms, on_failure: review}\n  - {name: reg, budget: 50ms, on_failure: review, after: [lic], when: \"1 + 1\"}",
			line:      6, want: `verifier "reg": when: expression must be a bool`,
		},
		{
			name:      "when does not compile",
			verifiers: "  - {name: lic, budget: 50ms, on_failure: review}\n  - {name: reg, budget: 50ms, on_failure: review, after: [lic], when: \"signals[\"}",
			line:      6, want: `verifier "reg": when:`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := wrapCheck("seller", head+tt.verifiers)
			_, err := policy.Load(doc, "test.yaml", afterKnown)
			if tt.line == 0 {
				if err != nil {
					t.Fatalf("Load: %v\n%s", err, numbered(string(doc)))
				}
				return
			}
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Load: %v, want a *policy.Error\n%s", err, numbered(string(doc)))
			}
			if pe.Line != tt.line || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q (line %d), want line %d and %q\n%s", err, pe.Line, tt.line, tt.want, numbered(string(doc)))
			}
		})
	}
}

// TestShouldRun: a verifier's when sees only the verifiers it waits for;
// false skips it, and one that cannot be evaluated runs it.
func TestShouldRun(t *testing.T) {
	doc := wrapCheck("seller", minimalCheck+`
verifiers:
  - {name: lic, budget: 50ms, on_failure: review}
  - {name: x, budget: 50ms, on_failure: review}
  - {name: reg, budget: 50ms, on_failure: review, after: [lic], when: "signals['lic.valid'] == true"}
  - {name: y, budget: 50ms, on_failure: review, after: [lic]}`)
	cp := mustLoad(t, doc, afterKnown).Check(riskv1.Check_CHECK_SELLER)
	if !cp.HasDependencies() {
		t.Fatal("HasDependencies = false")
	}
	if got := cp.Verifiers[2].Deps(); !slices.Equal(got, []int{0}) {
		t.Fatalf("reg's Deps = %v, want [0]", got)
	}
	if got := cp.Verifiers[1].Deps(); got != nil {
		t.Fatalf("x's Deps = %v, want none", got)
	}
	lic := func(status policy.Status, signals map[string]any) []policy.VerifierRun {
		runs := make([]policy.VerifierRun, len(cp.Verifiers))
		runs[0] = policy.VerifierRun{Spec: cp.Verifiers[0], Status: status, Result: verifier.Result{Signals: signals}}
		// x's signal must not be visible to reg's condition.
		runs[1] = policy.VerifierRun{Spec: cp.Verifiers[1], Status: policy.StatusOK, Result: verifier.Result{Signals: map[string]any{"lic.valid": true}}}
		return runs
	}
	tests := []struct {
		name    string
		runs    []policy.VerifierRun
		run     bool
		wantErr bool
	}{
		{"licence valid", lic(policy.StatusOK, map[string]any{"lic.valid": true}), true, false},
		{"licence invalid", lic(policy.StatusOK, map[string]any{"lic.valid": false}), false, false},
		{"licence check failed: the condition cannot be decided, so the verifier runs", lic(policy.StatusFailed, nil), true, true},
		{"signal absent", lic(policy.StatusOK, map[string]any{}), true, true},
	}
	req := &riskv1.CheckSellerRequest{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, err := cp.ShouldRun(2, req, testNow, tt.runs)
			if run != tt.run || (err != nil) != tt.wantErr {
				t.Errorf("ShouldRun = %v, %v; want %v, error %v", run, err, tt.run, tt.wantErr)
			}
		})
	}
	if run, err := cp.ShouldRun(3, req, testNow, lic(policy.StatusOK, map[string]any{"lic.valid": false})); !run || err != nil {
		t.Errorf("a verifier with after and no when: ShouldRun = %v, %v; want true", run, err)
	}
}

// TestLoadVerifierSettings: a verifier's settings are read by its own
// parser at load; a bad table is refused with the line of the problem, and
// a verifier that takes none refuses any.
func TestLoadVerifierSettings(t *testing.T) {
	known := map[string]bool{"returns": true, "v": true}
	good := wrapCheck("refund", minimalCheck+`
verifiers:
  - name: returns
    budget: 50ms
    on_failure: ignore
    settings:
      weight_tolerance:
        default: {percent: 4, grams: 25}
        categories: {electronics: {percent: 2, grams: 10}}`)
	cp := mustLoad(t, good, known).Check(riskv1.Check_CHECK_REFUND)
	s, ok := cp.Verifiers[0].Settings.(*returns.Settings)
	if !ok {
		t.Fatalf("Settings = %T, want *returns.Settings", cp.Verifiers[0].Settings)
	}
	if w := s.Weigh("Electronics/Phone", 1000, 1000); w.ToleranceGrams != 20 {
		t.Errorf("the policy's electronics tolerance: %+v", w)
	}
	if got := mustLoad(t, wrapCheck("refund", minimalCheck+"\nverifiers:\n  - {name: returns, budget: 50ms, on_failure: ignore}"), known).
		Check(riskv1.Check_CHECK_REFUND).Verifiers[0].Settings; got != nil {
		t.Errorf("no settings given: Settings = %v, want nil (the verifier's defaults)", got)
	}
	for _, tt := range []struct {
		name, body string
		line       int
		want       string
	}{
		{"a verifier that takes none", "  - name: v\n    budget: 50ms\n    on_failure: ignore\n    settings: {x: 1}", 5, `verifier "v" takes no settings`},
		{"a percent out of range", "  - name: returns\n    budget: 50ms\n    on_failure: ignore\n    settings:\n      weight_tolerance:\n        default: {percent: 150, grams: 25}", 10, `verifier "returns": settings: weight_tolerance.default: percent 150`},
		{"a misspelt key", "  - name: returns\n    budget: 50ms\n    on_failure: ignore\n    settings:\n      weight_tolerances: {}", 9, `unknown field "weight_tolerances"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := wrapCheck("refund", minimalCheck+"\nverifiers:\n"+tt.body)
			_, err := policy.Load(doc, "test.yaml", known)
			var pe *policy.Error
			if !errors.As(err, &pe) || pe.Line != tt.line || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want line %d and %q\n%s", err, tt.line, tt.want, numbered(string(doc)))
			}
		})
	}
}
