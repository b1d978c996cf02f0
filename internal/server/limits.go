package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// authInterceptor authenticates the caller and checks the method is
// granted to it.
func authInterceptor(t *auth.Table) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := t.Authenticate(ctx)
		if err != nil {
			return nil, err
		}
		id, _ := auth.FromContext(ctx)
		if !id.Allowed(info.FullMethod) {
			return nil, status.Errorf(codes.PermissionDenied, "caller %s may not call %s", id.Name, info.FullMethod)
		}
		return handler(ctx, req)
	}
}

// deadlineInterceptor gives a call without a deadline the server's
// default: nothing on the payment path may wait forever.
func deadlineInterceptor(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if _, ok := ctx.Deadline(); !ok && d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return handler(ctx, req)
	}
}

// inFlightInterceptor sheds calls beyond max at once with
// RESOURCE_EXHAUSTED: a queue that grows until deadlines pass helps no one.
func inFlightInterceptor(max int64) grpc.UnaryServerInterceptor {
	var n atomic.Int64
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if max <= 0 {
			return handler(ctx, req)
		}
		if n.Add(1) > max {
			n.Add(-1)
			return nil, status.Error(codes.ResourceExhausted, "riskd is at capacity; retry with backoff")
		}
		defer n.Add(-1)
		return handler(ctx, req)
	}
}

// rateInterceptor limits each caller to its share: one noisy client
// cannot take the capacity the others need.
func rateInterceptor(perSecond float64, burst int) grpc.UnaryServerInterceptor {
	var mu sync.Mutex
	limiters := map[string]*rate.Limiter{}
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if perSecond <= 0 {
			return handler(ctx, req)
		}
		name := "anonymous"
		if id, ok := auth.FromContext(ctx); ok {
			name = id.Name
		}
		mu.Lock()
		l := limiters[name]
		if l == nil {
			l = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
			limiters[name] = l
		}
		mu.Unlock()
		if !l.Allow() {
			return nil, status.Errorf(codes.ResourceExhausted, "caller %s is over its rate limit; retry with backoff", name)
		}
		return handler(ctx, req)
	}
}
