package server

import (
	"context"
	"log/slog"

	"github.com/riskd/riskd/internal/engine"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// riskService answers risk.v1.RiskService. Requests arrive validated; the
// handlers only hand them to the engine and wrap the decision.
type riskService struct {
	riskv1.UnimplementedRiskServiceServer
	engine *engine.Engine
	log    *slog.Logger
}

var _ riskv1.RiskServiceServer = (*riskService)(nil)

func (r *riskService) CheckSeller(ctx context.Context, req *riskv1.CheckSellerRequest) (*riskv1.CheckSellerResponse, error) {
	d, err := r.engine.Decide(ctx, riskv1.Check_CHECK_SELLER, req.GetRequestId(), req)
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	return &riskv1.CheckSellerResponse{Decision: d}, nil
}

func (r *riskService) ScoreGiftCardPurchase(ctx context.Context, req *riskv1.ScoreGiftCardPurchaseRequest) (*riskv1.ScoreGiftCardPurchaseResponse, error) {
	d, err := r.engine.Decide(ctx, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, req.GetRequestId(), req)
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	return &riskv1.ScoreGiftCardPurchaseResponse{Decision: d}, nil
}

func (r *riskService) EvaluateRefund(ctx context.Context, req *riskv1.EvaluateRefundRequest) (*riskv1.EvaluateRefundResponse, error) {
	d, err := r.engine.Decide(ctx, riskv1.Check_CHECK_REFUND, req.GetRequestId(), req)
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	return &riskv1.EvaluateRefundResponse{Decision: d}, nil
}

// The next three need the decision log; until the store exists they say so
// plainly rather than pretending.

func (r *riskService) GetDecision(context.Context, *riskv1.GetDecisionRequest) (*riskv1.GetDecisionResponse, error) {
	return nil, status.Error(codes.Unimplemented, "GetDecision needs the decision store, which this build does not have yet")
}

func (r *riskService) ReportOutcome(context.Context, *riskv1.ReportOutcomeRequest) (*riskv1.ReportOutcomeResponse, error) {
	return nil, status.Error(codes.Unimplemented, "ReportOutcome needs the decision store, which this build does not have yet")
}

func (r *riskService) RecordEvents(context.Context, *riskv1.RecordEventsRequest) (*riskv1.RecordEventsResponse, error) {
	return nil, status.Error(codes.Unimplemented, "RecordEvents needs the history store, which this build does not have yet")
}
