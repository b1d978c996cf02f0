package server_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// TestVerifierWaitsForLicenceCheck: a registry lookup that waits for the
// licence's structure check (after: [license]) and runs only for a valid
// number is not called for an invalid one. The decision, and the copy
// GetDecision returns, report it skipped with the reason, and carry no
// failure of it; a valid number is looked up as before.
func TestVerifierWaitsForLicenceCheck(t *testing.T) {
	var calls atomic.Int32
	registry := verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
		calls.Add(1)
		return verifier.Result{Signals: map[string]any{"registry.status": "active"}}, nil
	})
	doc := strings.Replace(string(policy.DefaultBytes()),
		"      - {name: links, budget: 150ms, on_failure: review}\n",
		"      - {name: links, budget: 150ms, on_failure: review}\n"+
			"      - {name: registry, budget: 150ms, on_failure: decline, after: [license], when: \"signals['license.valid'] == true\"}\n", 1)
	h := start(t, setup{policyYAML: doc, extra: verifier.Registry{"registry": registry}})
	ctx := context.Background()
	registryOf := func(d *riskv1.Decision) *riskv1.VerifierResult {
		for _, vr := range d.GetVerifierResults() {
			if vr.GetName() == "registry" {
				return vr
			}
		}
		t.Fatalf("no registry result in %v", d.GetVerifierResults())
		return nil
	}

	bad := cleanSeller()
	bad.RequestId = "req-after-bad"
	bad.License.Uscc = "91350100M000100Y44" // wrong check character
	resp, err := h.client.CheckSeller(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	d := resp.GetDecision()
	vr := registryOf(d)
	if calls.Load() != 0 || vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_SKIPPED ||
		!strings.Contains(vr.GetError(), "license") {
		t.Fatalf("invalid licence: registry called %d times, result %v", calls.Load(), vr)
	}
	// on_failure: decline would decline a failure; declined here only for
	// the number itself, with no failure reason.
	if d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE || !hasCode(d, "LICENSE_NUMBER_INVALID") ||
		hasCode(d, "VERIFIER_FAILED") || hasCode(d, "VERIFIER_TIMEOUT") {
		t.Fatalf("invalid licence: %s %v", d.GetOutcome(), codes_(d))
	}
	stored, err := h.client.GetDecision(ctx, &riskv1.GetDecisionRequest{DecisionId: d.GetDecisionId()})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(stored.GetDecision(), d) {
		t.Errorf("GetDecision differs from the answer:\n%v\n%v", stored.GetDecision(), d)
	}

	good := cleanSeller()
	good.RequestId = "req-after-good"
	if resp, err = h.client.CheckSeller(ctx, good); err != nil {
		t.Fatal(err)
	}
	d = resp.GetDecision()
	if vr := registryOf(d); calls.Load() != 1 || vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_OK || d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
		t.Fatalf("valid licence: registry called %d times, result %v, %s %v", calls.Load(), vr, d.GetOutcome(), codes_(d))
	}
}
