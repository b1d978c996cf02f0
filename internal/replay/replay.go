// Package replay evaluates a candidate policy over the decision log: for
// each stored decision it rebuilds what the policy saw at the time (the
// redacted request, each verifier's signals and findings, the time of the
// decision) and asks the candidate, so an analyst sees what a rule change
// would have done before putting it in force. It calls no verifier and
// reads no raw personal data: only what the log keeps.
package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// Log is what replay reads.
type Log interface {
	ScanDecisions(ctx context.Context, from, to time.Time, fn func(*riskv1.Decision) error) error
	Facts(ctx context.Context, decisionID string) ([]byte, error)
}

var statuses = map[riskv1.VerifierStatus]policy.Status{
	riskv1.VerifierStatus_VERIFIER_STATUS_OK:        policy.StatusOK,
	riskv1.VerifierStatus_VERIFIER_STATUS_FAILED:    policy.StatusFailed,
	riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT: policy.StatusTimedOut,
	riskv1.VerifierStatus_VERIFIER_STATUS_SKIPPED:   policy.StatusSkipped,
}

// Outcome is what the candidate decides for one stored decision.
type Outcome struct {
	Stored, Candidate riskv1.Outcome
	// NewRules fired under the candidate but not at the time.
	NewRules []string
}

// Evaluate replays one decision's facts under a candidate.
func Evaluate(candidate *policy.Policy, d *riskv1.Decision, factBytes []byte) (Outcome, error) {
	var f riskv1.DecisionFacts
	if err := proto.Unmarshal(factBytes, &f); err != nil {
		return Outcome{}, fmt.Errorf("facts of %s: %w", d.GetDecisionId(), err)
	}
	req, err := f.GetRequest().UnmarshalNew()
	if err != nil {
		return Outcome{}, fmt.Errorf("request of %s: %w", d.GetDecisionId(), err)
	}
	cp := candidate.Check(d.GetCheck())
	if cp == nil {
		return Outcome{}, fmt.Errorf("candidate has no %s check", d.GetCheck())
	}
	byName := map[string]*riskv1.VerifierFacts{}
	for _, vf := range f.GetVerifiers() {
		byName[vf.GetName()] = vf
	}
	// The candidate's verifiers, in its order; one it adds that did not
	// run then counts as skipped, one it drops is left out.
	var runs []policy.VerifierRun
	for _, spec := range cp.Verifiers {
		run := policy.VerifierRun{Spec: spec, Status: policy.StatusSkipped}
		if vf, ok := byName[spec.Name]; ok {
			run.Status = statuses[vf.GetStatus()]
			run.Result = result(vf)
		}
		runs = append(runs, run)
	}
	v := cp.Evaluate(policy.Facts{Request: req, Now: d.GetDecidedAt().AsTime(), Runs: runs})
	out := Outcome{Stored: d.GetOutcome(), Candidate: v.Outcome}
	for _, fr := range v.Fired {
		if !fr.Shadow && !slices.Contains(f.GetFiredRules(), fr.Name) {
			out.NewRules = append(out.NewRules, fr.Name)
		}
	}
	return out, nil
}

func result(vf *riskv1.VerifierFacts) verifier.Result {
	r := verifier.Result{Signals: map[string]any{}}
	for _, s := range vf.GetSignals() {
		switch v := s.GetValue().(type) {
		case *riskv1.Signal_BoolValue:
			r.Signals[s.GetName()] = v.BoolValue
		case *riskv1.Signal_IntValue:
			r.Signals[s.GetName()] = v.IntValue
		case *riskv1.Signal_DoubleValue:
			r.Signals[s.GetName()] = v.DoubleValue
		case *riskv1.Signal_StringValue:
			r.Signals[s.GetName()] = v.StringValue
		}
	}
	for _, fd := range vf.GetFindings() {
		r.Findings = append(r.Findings, verifier.Finding{Code: fd.GetCode(), Score: int(fd.GetScore()), Message: fd.GetMessage()})
	}
	return r
}

// Run replays every decision decided in [from, to) and summarises the
// changes, with up to sample decision IDs per kind of change.
func Run(ctx context.Context, log Log, candidate *policy.Policy, from, to time.Time, sample int) (*riskv1.ReplayPolicyResponse, error) {
	resp := &riskv1.ReplayPolicyResponse{CandidateVersion: candidate.Version}
	type key struct {
		check    riskv1.Check
		from, to riskv1.Outcome
	}
	changes := map[key]*riskv1.OutcomeChange{}
	err := log.ScanDecisions(ctx, from, to, func(d *riskv1.Decision) error {
		facts, err := log.Facts(ctx, d.GetDecisionId())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if len(facts) == 0 {
			resp.Skipped++
			return nil
		}
		o, err := Evaluate(candidate, d, facts)
		if err != nil {
			resp.Skipped++
			return nil
		}
		resp.Decisions++
		if o.Candidate == o.Stored {
			return nil
		}
		resp.Changed++
		k := key{d.GetCheck(), o.Stored, o.Candidate}
		c := changes[k]
		if c == nil {
			c = &riskv1.OutcomeChange{Check: k.check, From: k.from, To: k.to, Rules: map[string]int64{}}
			changes[k] = c
		}
		c.Count++
		for _, r := range o.NewRules {
			c.Rules[r]++
		}
		if len(c.SampleDecisionIds) < sample {
			c.SampleDecisionIds = append(c.SampleDecisionIds, d.GetDecisionId())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		resp.Changes = append(resp.Changes, c)
	}
	slices.SortFunc(resp.Changes, func(a, b *riskv1.OutcomeChange) int {
		if a.GetCount() != b.GetCount() {
			return int(b.GetCount() - a.GetCount())
		}
		return int(a.GetCheck()-b.GetCheck())*100 + int(a.GetFrom()-b.GetFrom())*10 + int(a.GetTo()-b.GetTo())
	})
	return resp, nil
}
