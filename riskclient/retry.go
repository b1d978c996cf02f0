package riskclient

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// safeToRetry are the methods whose repetition changes nothing (see the
// package documentation for why each is). A method not listed, one added
// to riskd later included, is sent once.
var safeToRetry = map[string]bool{
	riskv1.RiskService_CheckSeller_FullMethodName:           true, // idempotent by request_id
	riskv1.RiskService_ScoreGiftCardPurchase_FullMethodName: true, // idempotent by request_id
	riskv1.RiskService_EvaluateRefund_FullMethodName:        true, // idempotent by request_id
	riskv1.RiskService_ReportOutcome_FullMethodName:         true, // idempotent by (decision_id, label)
	riskv1.RiskService_RecordEvents_FullMethodName:          true, // idempotent by event_id, batch all or nothing
	riskv1.RiskService_GetDecision_FullMethodName:           true, // read only
	riskv1.PolicyService_GetPolicy_FullMethodName:           true, // read only
	riskv1.PolicyService_ReplayPolicy_FullMethodName:        true, // read only
}

// intercept is the client's unary interceptor: it gives a call without a
// deadline the default one, sends a retryable call again while that
// deadline allows, and makes the error an *Error.
//
// It is a small loop rather than go-grpc-middleware's retry interceptor
// (the module depends on go-grpc-middleware already) because of what the
// caller gets when time runs out: the middleware sleeps its backoff into
// the deadline and answers DEADLINE_EXCEEDED, hiding riskd's answer
// (RESOURCE_EXHAUSTED, or UNAVAILABLE with STORE_UNAVAILABLE), which is
// what tells the caller to fall back rather than to give riskd more time.
// This loop does not start a wait the deadline cannot cover, and returns
// the last answer with the number of attempts. gRPC's own retry policy
// (service config) is not used either: its attempts are invisible to
// interceptors and to the caller, and it caps them at five.
func (c *Client) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if _, ok := ctx.Deadline(); !ok && c.deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.deadline)
		defer cancel()
	}
	attempts := 1
	if safeToRetry[method] {
		attempts = c.attempts
	}
	for n := 1; ; n++ {
		// The same req every time: for an evaluating call, the same
		// request_id with the same content, which is what makes it safe.
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err == nil || n >= attempts || !retryableCode(status.Code(err)) {
			return newError(err, n)
		}
		wait := c.wait(n)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			return newError(err, n) // no time left for another attempt
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.Canceled) {
				return newError(status.FromContextError(ctx.Err()).Err(), n)
			}
			return newError(err, n)
		}
	}
}

// wait is the backoff before attempt n+1: backoff doubled n-1 times, at
// most MaxBackoff, less a random part of up to half of it.
func (c *Client) wait(n int) time.Duration {
	d := c.backoff
	for i := 1; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, MaxBackoff)
	if d <= 1 {
		return d
	}
	return d - rand.N(d/2)
}
