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

	"github.com/riskd/riskd/internal/facts"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Log is what replay reads.
type Log interface {
	ScanDecisions(ctx context.Context, from, to time.Time, fn func(*riskv1.Decision) error) error
	Facts(ctx context.Context, decisionID string) ([]byte, error)
}

// Outcome is what the candidate decides for one stored decision.
type Outcome struct {
	Stored, Candidate riskv1.Outcome
	// NewRules fired under the candidate but not at the time.
	NewRules []string
}

// Evaluate replays one decision's facts under a candidate.
func Evaluate(candidate *policy.Policy, d *riskv1.Decision, factBytes []byte) (Outcome, error) {
	f, err := facts.Decode(factBytes)
	if err != nil {
		return Outcome{}, fmt.Errorf("decision %s: %w", d.GetDecisionId(), err)
	}
	cp := candidate.Check(d.GetCheck())
	if cp == nil {
		return Outcome{}, fmt.Errorf("candidate has no %s check", d.GetCheck())
	}
	// The candidate's verifiers, in its order; one it adds that did not
	// run then counts as skipped, one it drops is left out.
	runs := make([]policy.VerifierRun, 0, len(cp.Verifiers))
	for _, spec := range cp.Verifiers {
		run := policy.VerifierRun{Spec: spec, Status: policy.StatusSkipped}
		if vf, ok := f.Verifiers[spec.Name]; ok {
			run.Status, run.Result = vf.Status, vf.Result
		}
		runs = append(runs, run)
	}
	v := cp.Evaluate(policy.Facts{Request: f.Request, Now: d.GetDecidedAt().AsTime(), Runs: runs})
	out := Outcome{Stored: d.GetOutcome(), Candidate: v.Outcome}
	for _, fr := range v.Fired {
		if !fr.Shadow && !slices.Contains(f.FiredRules, fr.Name) {
			out.NewRules = append(out.NewRules, fr.Name)
		}
	}
	return out, nil
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
