package server

import (
	"context"
	"errors"
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
	store  store.Store
	// known are the verifiers a candidate may name besides its own remote
	// ones: the built-ins.
	known map[string]bool
	clock func() time.Time
	log   *slog.Logger
}

var _ riskv1.PolicyServiceServer = (*policyService)(nil)

func (p *policyService) GetPolicy(context.Context, *riskv1.GetPolicyRequest) (*riskv1.GetPolicyResponse, error) {
	pol := p.engine.Policy()
	return &riskv1.GetPolicyResponse{Version: pol.Version, Source: pol.Source, LoadedAt: timestamppb.New(p.engine.PolicyLoadedAt())}, nil
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
