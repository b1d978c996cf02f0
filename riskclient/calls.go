package riskclient

import (
	"context"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
)

// CheckSeller decides whether a seller may open a shop. A DECLINE is a
// decision, not an error. req needs a request_id (ErrNoRequestID).
func (c *Client) CheckSeller(ctx context.Context, req *riskv1.CheckSellerRequest, opts ...grpc.CallOption) (*riskv1.Decision, error) {
	if req.GetRequestId() == "" {
		return nil, ErrNoRequestID
	}
	resp, err := c.risk.CheckSeller(ctx, req, opts...)
	return resp.GetDecision(), err
}

// ScoreGiftCardPurchase decides whether a gift-card order may go through
// and whether its codes may be delivered now (see the decision's actions).
// req needs a request_id (ErrNoRequestID).
func (c *Client) ScoreGiftCardPurchase(ctx context.Context, req *riskv1.ScoreGiftCardPurchaseRequest, opts ...grpc.CallOption) (*riskv1.Decision, error) {
	if req.GetRequestId() == "" {
		return nil, ErrNoRequestID
	}
	resp, err := c.risk.ScoreGiftCardPurchase(ctx, req, opts...)
	return resp.GetDecision(), err
}

// EvaluateRefund decides whether a refund may be paid, and to where. req
// needs a request_id (ErrNoRequestID).
func (c *Client) EvaluateRefund(ctx context.Context, req *riskv1.EvaluateRefundRequest, opts ...grpc.CallOption) (*riskv1.Decision, error) {
	if req.GetRequestId() == "" {
		return nil, ErrNoRequestID
	}
	resp, err := c.risk.EvaluateRefund(ctx, req, opts...)
	return resp.GetDecision(), err
}

// GetDecision returns a stored decision, with the content its caller got.
// An unknown ID is an *Error with code NOT_FOUND and reason
// DECISION_NOT_FOUND.
func (c *Client) GetDecision(ctx context.Context, decisionID string, opts ...grpc.CallOption) (*riskv1.Decision, error) {
	resp, err := c.risk.GetDecision(ctx, &riskv1.GetDecisionRequest{DecisionId: decisionID}, opts...)
	return resp.GetDecision(), err
}

// ReportOutcome records what later turned out true about a decision. The
// response lists, for fraud on a gift-card order, the related orders whose
// codes to freeze, and the actions to take on the reported decision.
// Reporting the same label for the same decision again changes nothing.
func (c *Client) ReportOutcome(ctx context.Context, req *riskv1.ReportOutcomeRequest, opts ...grpc.CallOption) (*riskv1.ReportOutcomeResponse, error) {
	return c.risk.ReportOutcome(ctx, req, opts...)
}

// RecordEvents takes in history from before riskd or from outside it. A
// batch is recorded whole or not at all; an event_id already recorded is
// counted in Duplicates instead of Recorded, which makes resending a batch
// safe.
func (c *Client) RecordEvents(ctx context.Context, req *riskv1.RecordEventsRequest, opts ...grpc.CallOption) (*riskv1.RecordEventsResponse, error) {
	return c.risk.RecordEvents(ctx, req, opts...)
}
