package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// TestDependentVerifiers: a verifier with after starts once the verifiers
// it names have finished, within its own budget; when its when is false it
// is not called, is reported skipped and adds no reason; one whose when
// cannot be decided is called.
func TestDependentVerifiers(t *testing.T) {
	// lic is a structure check: valid unless the licence number is "bad".
	lic := verifier.Inline(verifier.Func(func(_ context.Context, in verifier.Input) (verifier.Result, error) {
		valid := in.Request.(*riskv1.CheckSellerRequest).GetLicense().GetUscc() != "bad"
		return verifier.Result{Signals: map[string]any{"lic.valid": valid}}, nil
	}))
	// slow takes 80 ms and says when it finished.
	var slowDone atomic.Bool
	slow := verifier.Func(func(ctx context.Context, _ verifier.Input) (verifier.Result, error) {
		select {
		case <-time.After(80 * time.Millisecond):
			slowDone.Store(true)
			return verifier.Result{Signals: map[string]any{"slow.done": true}}, nil
		case <-ctx.Done():
			return verifier.Result{}, ctx.Err()
		}
	})
	// reg counts its calls, and fails when slow had not finished before it
	// started; it takes 30 ms.
	var regCalls atomic.Int32
	reg := verifier.Func(func(ctx context.Context, _ verifier.Input) (verifier.Result, error) {
		regCalls.Add(1)
		if !slowDone.Load() {
			return verifier.Result{}, errors.New("started before slow finished")
		}
		select {
		case <-time.After(30 * time.Millisecond):
			return verifier.Result{Signals: map[string]any{"reg.ok": true}}, nil
		case <-ctx.Done():
			return verifier.Result{}, ctx.Err()
		}
	})
	registry := verifier.Registry{"lic": lic, "slow": slow, "reg": reg, "hang": hangVerifier}
	decide := func(t *testing.T, specs []string, uscc string) *riskv1.Decision {
		t.Helper()
		slowDone.Store(false)
		regCalls.Store(0)
		e := sellerEngine(t, registry, specs...)
		d, err := e.Decide(context.Background(), riskv1.Check_CHECK_SELLER, "req-1",
			&riskv1.CheckSellerRequest{RequestId: "req-1", License: &riskv1.BusinessLicense{Uscc: uscc}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// reg's budget (50 ms) is shorter than slow's 80 ms plus its own 30:
	// it counts from reg's start, not the decision's.
	specs := []string{
		"name: reg, budget: 50ms, on_failure: decline, after: [lic, slow], when: \"signals['lic.valid'] == true\"",
		"name: lic, budget: 50ms, on_failure: decline",
		"name: slow, budget: 500ms, on_failure: decline",
	}

	t.Run("dependencies met: called after them, within its own budget", func(t *testing.T) {
		d := decide(t, specs, "good")
		for _, name := range []string{"lic", "slow", "reg"} {
			if vr := result(t, d, name); vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_OK {
				t.Errorf("%s: %s %q", name, vr.GetStatus(), vr.GetError())
			}
		}
		if regCalls.Load() != 1 || d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
			t.Errorf("reg called %d times, outcome %s %v", regCalls.Load(), d.GetOutcome(), reasonCodes(d))
		}
		// Results stay in the policy's order.
		if got := d.GetVerifierResults()[0].GetName(); got != "reg" {
			t.Errorf("first result is %q, want reg (the policy's order)", got)
		}
	})
	t.Run("condition false: not called, skipped, no reason", func(t *testing.T) {
		d := decide(t, specs, "bad")
		vr := result(t, d, "reg")
		if vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_SKIPPED || regCalls.Load() != 0 {
			t.Fatalf("reg: %s %q, called %d times", vr.GetStatus(), vr.GetError(), regCalls.Load())
		}
		if want := "not called: its condition on lic, slow was false"; vr.GetError() != want {
			t.Errorf("reg's error = %q, want %q: a caller can always tell why", vr.GetError(), want)
		}
		// on_failure: decline would decline a failure; a skip is none.
		if d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE || len(d.GetReasons()) != 0 {
			t.Errorf("got %s %v, want APPROVE with no reasons", d.GetOutcome(), reasonCodes(d))
		}
	})
	t.Run("condition cannot be decided (its dependency timed out): called", func(t *testing.T) {
		d := decide(t, []string{
			"name: hang, budget: 20ms, on_failure: ignore",
			"name: slow, budget: 500ms, on_failure: decline",
			"name: reg, budget: 200ms, on_failure: decline, after: [hang, slow], when: \"signals['hang.ok'] == true\"",
		}, "good")
		if st := result(t, d, "hang").GetStatus(); st != riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT {
			t.Fatalf("hang: %s", st)
		}
		if vr := result(t, d, "reg"); vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_OK || regCalls.Load() != 1 {
			t.Errorf("reg: %s %q, called %d times", vr.GetStatus(), vr.GetError(), regCalls.Load())
		}
	})
	t.Run("a condition on a dependency's status", func(t *testing.T) {
		d := decide(t, []string{
			"name: hang, budget: 20ms, on_failure: ignore",
			"name: reg, budget: 200ms, on_failure: decline, after: [hang], when: \"verifiers['hang'] == 'ok'\"",
		}, "good")
		if st := result(t, d, "reg").GetStatus(); st != riskv1.VerifierStatus_VERIFIER_STATUS_SKIPPED || regCalls.Load() != 0 {
			t.Errorf("reg: %s, called %d times", st, regCalls.Load())
		}
	})
	t.Run("a chain: each waits for the one before", func(t *testing.T) {
		d := decide(t, []string{
			"name: reg, budget: 200ms, on_failure: decline, after: [lic]",
			"name: lic, budget: 50ms, on_failure: decline, after: [slow]",
			"name: slow, budget: 500ms, on_failure: decline",
		}, "good")
		for _, name := range []string{"lic", "slow", "reg"} {
			if vr := result(t, d, name); vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_OK {
				t.Errorf("%s: %s %q", name, vr.GetStatus(), vr.GetError())
			}
		}
	})
}
