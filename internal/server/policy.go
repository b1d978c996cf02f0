package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/replay"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// policyService answers risk.v1.PolicyService: the analysts' side.
type policyService struct {
	riskv1.UnimplementedPolicyServiceServer
	engine *engine.Engine
	life   *engine.Lifecycle
	store  store.Store
	// known are the verifiers a candidate may name besides its own remote
	// ones: the built-ins.
	known map[string]bool
	clock func() time.Time
	log   *slog.Logger
}

var _ riskv1.PolicyServiceServer = (*policyService)(nil)

func (p *policyService) GetPolicy(context.Context, *riskv1.GetPolicyRequest) (*riskv1.GetPolicyResponse, error) {
	pol, canary := p.engine.Policy(), p.engine.Canary()
	resp := &riskv1.GetPolicyResponse{Version: pol.Version, Source: pol.Source, LoadedAt: timestamppb.New(p.engine.PolicyLoadedAt()),
		StateSeq: p.engine.StateSeq()}
	if canary.Policy != nil {
		resp.CanaryVersion, resp.CanaryPercent = canary.Policy.Version, int32(canary.Percent)
	}
	return resp, nil
}

// ReplayPolicy loads the candidate (a bad one is INVALID_ARGUMENT naming
// its line and problem) and replays it over the decision log.
func (p *policyService) ReplayPolicy(ctx context.Context, req *riskv1.ReplayPolicyRequest) (*riskv1.ReplayPolicyResponse, error) {
	candidate, err := policy.Load(req.GetPolicy(), "candidate", p.known)
	if err != nil {
		var pe *policy.Error
		field := &errdetails.BadRequest_FieldViolation{Field: "policy", Description: err.Error(), Reason: "policy.invalid"}
		if errors.As(err, &pe) {
			field.Description = pe.Error()
		}
		return nil, invalidArgument(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{field}})
	}
	now := p.clock()
	resp, err := replay.Run(ctx, p.store, candidate, now.Add(-req.GetSince().AsDuration()), now.Add(time.Second), int(req.GetSample()))
	if err != nil {
		return nil, toStatus(ctx, p.log, err)
	}
	p.log.InfoContext(ctx, "policy replayed", "candidate_version", candidate.Version, "decisions", resp.GetDecisions(), "changed", resp.GetChanged())
	return resp, nil
}

// The policy lifecycle: versions kept, history, diff, canary, promotion
// and rollback. Changes are by the caller (its configured name), and take
// effect on this replica before the answer, on the others within their
// --policy-sync.

func policyStateOf(st store.PolicyState) *riskv1.PolicyState {
	return &riskv1.PolicyState{Seq: st.Seq, ActiveVersion: st.Active, CandidateVersion: st.Candidate,
		CanaryPercent: int32(st.Percent), FileVersion: st.FileVersion}
}

func policyVersionOf(v store.PolicyVersion) *riskv1.PolicyVersion {
	return &riskv1.PolicyVersion{Version: v.Version, Source: v.Source, KeptAt: timestamppb.New(v.At), KeptBy: v.By, Message: v.Message}
}

// policyInvalid is INVALID_ARGUMENT naming the policy's line and problem.
func policyInvalid(err error) error {
	field := &errdetails.BadRequest_FieldViolation{Field: "policy", Description: err.Error(), Reason: "policy.invalid"}
	return invalidArgument(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{field}})
}

func (p *policyService) ListPolicyVersions(ctx context.Context, req *riskv1.ListPolicyVersionsRequest) (*riskv1.ListPolicyVersionsResponse, error) {
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = 50
	}
	versions, err := p.store.PolicyVersions(ctx, limit)
	if err != nil {
		return nil, toStatus(ctx, p.log, err)
	}
	changes, err := p.store.PolicyChanges(ctx, limit)
	if err != nil {
		return nil, toStatus(ctx, p.log, err)
	}
	st, err := p.store.PolicyState(ctx)
	if err != nil {
		return nil, toStatus(ctx, p.log, err)
	}
	resp := &riskv1.ListPolicyVersionsResponse{State: policyStateOf(st)}
	for _, v := range versions {
		resp.Versions = append(resp.Versions, policyVersionOf(v))
	}
	for _, c := range changes {
		resp.Changes = append(resp.Changes, &riskv1.PolicyChange{Seq: c.Seq, At: timestamppb.New(c.At), By: c.By,
			Action: riskv1.PolicyAction(c.Action), Version: c.Version, Percent: int32(c.Percent), Message: c.Message})
	}
	return resp, nil
}

func (p *policyService) GetPolicyVersion(ctx context.Context, req *riskv1.GetPolicyVersionRequest) (*riskv1.GetPolicyVersionResponse, error) {
	version := req.GetVersion()
	if id := req.GetDecisionId(); id != "" {
		d, err := p.store.Decision(ctx, id)
		if err != nil {
			return nil, toStatus(ctx, p.log, err)
		}
		version = d.GetPolicyVersion()
	}
	v, err := p.store.PolicyVersion(ctx, version)
	if err != nil {
		return nil, toStatus(ctx, p.log, err)
	}
	return &riskv1.GetPolicyVersionResponse{Version: policyVersionOf(v), Document: v.Document}, nil
}

func (p *policyService) DiffPolicyVersions(ctx context.Context, req *riskv1.DiffPolicyVersionsRequest) (*riskv1.DiffPolicyVersionsResponse, error) {
	var pols [2]*policy.Policy
	for i, v := range []string{req.GetFrom(), req.GetTo()} {
		kept, err := p.store.PolicyVersion(ctx, v)
		if err != nil {
			return nil, toStatus(ctx, p.log, err)
		}
		// Kept versions passed the same load when they were kept; one that
		// no longer does (a verifier since removed) cannot be compared.
		if pols[i], err = policy.Load(kept.Document, kept.Source, p.known); err != nil {
			return nil, toStatus(ctx, p.log, fmt.Errorf("kept policy %s no longer loads: %w", v, err))
		}
	}
	resp := &riskv1.DiffPolicyVersionsResponse{}
	for _, d := range policy.Diff(pols[0], pols[1]) {
		resp.Differences = append(resp.Differences, &riskv1.PolicyDifference{Check: d.Check, Kind: d.Kind, Name: d.Name,
			Change: d.Change, Details: d.Details})
	}
	return resp, nil
}

func (p *policyService) PublishPolicy(ctx context.Context, req *riskv1.PublishPolicyRequest) (*riskv1.PublishPolicyResponse, error) {
	v, err := p.life.Publish(ctx, req.GetPolicy(), callerName(ctx), req.GetMessage())
	var pe *policy.Error
	if errors.As(err, &pe) {
		return nil, policyInvalid(pe)
	}
	if err != nil {
		return nil, toStatus(ctx, p.log, err)
	}
	p.log.InfoContext(ctx, "policy published", "version", v.Version, "by", v.By)
	return &riskv1.PublishPolicyResponse{Version: policyVersionOf(v)}, nil
}

// change applies one change to the shared state.
func (p *policyService) change(ctx context.Context, ch engine.Change) (*riskv1.PolicyState, error) {
	ch.By = callerName(ctx)
	st, err := p.life.Apply(ctx, ch)
	if err != nil {
		return nil, toStatus(ctx, p.log, err)
	}
	return policyStateOf(st), nil
}

func (p *policyService) StartCanary(ctx context.Context, req *riskv1.StartCanaryRequest) (*riskv1.StartCanaryResponse, error) {
	st, err := p.change(ctx, engine.Change{Kind: engine.ChangeCanary, Version: req.GetVersion(), Percent: int(req.GetPercent()), Message: req.GetMessage()})
	return &riskv1.StartCanaryResponse{State: st}, err
}

func (p *policyService) StopCanary(ctx context.Context, req *riskv1.StopCanaryRequest) (*riskv1.StopCanaryResponse, error) {
	st, err := p.change(ctx, engine.Change{Kind: engine.ChangeStop, Message: req.GetMessage()})
	return &riskv1.StopCanaryResponse{State: st}, err
}

func (p *policyService) PromotePolicy(ctx context.Context, req *riskv1.PromotePolicyRequest) (*riskv1.PromotePolicyResponse, error) {
	st, err := p.change(ctx, engine.Change{Kind: engine.ChangePromote, Version: req.GetVersion(), Message: req.GetMessage()})
	return &riskv1.PromotePolicyResponse{State: st}, err
}

func (p *policyService) RollbackPolicy(ctx context.Context, req *riskv1.RollbackPolicyRequest) (*riskv1.RollbackPolicyResponse, error) {
	st, err := p.change(ctx, engine.Change{Kind: engine.ChangeRollback, Version: req.GetVersion(), Message: req.GetMessage()})
	return &riskv1.RollbackPolicyResponse{State: st}, err
}
