package server

// The interceptors of the chain server.New assembles, in one place: each
// is one concern (authentication and grants, deadlines, load shedding, rate
// limits, validation, panics, call logging).

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"buf.build/go/protovalidate"
	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/riskd/riskd/internal/auth"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// authInterceptor authenticates the caller and checks the method is
// granted to it; log gets the warning about a caller's short token.
func authInterceptor(t *auth.Table, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := authorize(ctx, t, log, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// authStreamInterceptor is authInterceptor for streams: the same caller,
// the same per-method grants.
func authStreamInterceptor(t *auth.Table, log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := authorize(ss.Context(), t, log, info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, withContext(ss, ctx))
	}
}

// authorize authenticates a call's caller and checks fullMethod is
// granted to it.
func authorize(ctx context.Context, t *auth.Table, log *slog.Logger, fullMethod string) (context.Context, error) {
	ctx, err := t.Authenticate(ctx, log)
	if err != nil {
		return nil, err
	}
	id, _ := auth.FromContext(ctx)
	if !id.Allowed(fullMethod) {
		return nil, status.Errorf(codes.PermissionDenied, "caller %s may not call %s", id.Name, fullMethod)
	}
	return ctx, nil
}

// withContext is a stream whose context is ctx (one made from its own).
func withContext(ss grpc.ServerStream, ctx context.Context) grpc.ServerStream {
	w := middleware.WrapServerStream(ss)
	w.WrappedContext = ctx
	return w
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
// n counts the calls in flight, also with no limit: the riskd.server.in_flight
// gauge reads it when metrics are collected, not on the call's path.
func inFlightInterceptor(max int64, n *atomic.Int64, shed *shedder) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if max <= 0 {
			n.Add(1)
			defer n.Add(-1)
			return handler(ctx, req)
		}
		if n.Add(1) > max {
			n.Add(-1)
			return nil, shed.caller(shedInFlight, callerName(ctx)).refuse(ctx)
		}
		defer n.Add(-1)
		return handler(ctx, req)
	}
}

// inFlightGauge registers riskd.server.in_flight over the count the
// in-flight interceptor keeps.
func inFlightGauge(meter metric.Meter) (*atomic.Int64, error) {
	n := new(atomic.Int64)
	if meter == nil {
		return n, nil
	}
	_, err := meter.Int64ObservableGauge("riskd.server.in_flight",
		metric.WithDescription("Calls being answered now (health probes aside), shed ones excluded."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(n.Load())
			return nil
		}))
	return n, err
}

// rateLimits limits each caller to its share: one noisy client cannot
// take the capacity the others need. A call, or the opening of a stream,
// counts once against its caller's rate.
type rateLimits struct {
	perSecond float64
	burst     int
	shed      *shedder
	mu        sync.Mutex
	limits    map[string]callerLimit
}

type callerLimit struct {
	*rate.Limiter
	shed *shedCaller
}

func newRateLimits(perSecond float64, burst int, shed *shedder) *rateLimits {
	return &rateLimits{perSecond: perSecond, burst: burst, shed: shed, limits: map[string]callerLimit{}}
}

// allow refuses a call over its caller's rate.
func (r *rateLimits) allow(ctx context.Context) error {
	if r.perSecond <= 0 {
		return nil
	}
	name := callerName(ctx)
	r.mu.Lock()
	l, ok := r.limits[name]
	if !ok {
		l = callerLimit{rate.NewLimiter(rate.Limit(r.perSecond), max(r.burst, 1)), r.shed.caller(shedRateLimit, name)}
		r.limits[name] = l
	}
	r.mu.Unlock()
	if !l.Allow() {
		return l.shed.refuse(ctx)
	}
	return nil
}

func (r *rateLimits) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := r.allow(ctx); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (r *rateLimits) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := r.allow(ss.Context()); err != nil {
		return err
	}
	return handler(srv, ss)
}

// callerName is the authenticated caller's name; "anonymous" before
// authentication or without it.
func callerName(ctx context.Context) string {
	if id, ok := auth.FromContext(ctx); ok {
		return id.Name
	}
	return "anonymous"
}

// validationInterceptor checks each request against its buf.validate rules,
// then against its consistency check if it has one, and answers
// INVALID_ARGUMENT with a google.rpc.BadRequest that lists every field at
// fault. Violation messages name the rule, never the value sent.
func validationInterceptor(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := validateRequest(v, req); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// validationStreamInterceptor checks each message a stream receives as
// validationInterceptor checks a request: a server-streaming call's one
// request is refused before its handler reads it.
func validationStreamInterceptor(v protovalidate.Validator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, validatedStream{ss, v})
	}
}

type validatedStream struct {
	grpc.ServerStream
	v protovalidate.Validator
}

func (s validatedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return validateRequest(s.v, m)
}

// validateRequest is the check both validation interceptors make.
func validateRequest(v protovalidate.Validator, req any) error {
	msg, ok := req.(proto.Message)
	if !ok {
		return status.Error(codes.Internal, "request is not a protobuf message")
	}
	// Bytes that are not a message of this method's type (wireCodec).
	if why, bad := undecodable(msg); bad {
		return withInfo(codes.InvalidArgument,
			"the request body is not a valid "+string(msg.ProtoReflect().Descriptor().FullName())+" message: "+why,
			"MALFORMED_REQUEST")
	}
	if err := v.Validate(msg); err != nil {
		var verr *protovalidate.ValidationError
		if !errors.As(err, &verr) {
			// A rule that does not compile is our bug, not the caller's.
			return status.Error(codes.Internal, "request validation is misconfigured")
		}
		br := &errdetails.BadRequest{}
		for _, viol := range verr.Violations {
			field := protovalidate.FieldPathString(viol.Proto.GetField())
			if field == "" {
				// A rule on the whole message (two fields that must
				// agree): name the rule, so the caller still has a
				// handle on what to fix.
				field = viol.Proto.GetRuleId()
			}
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field:       field,
				Description: viol.Proto.GetMessage(),
				Reason:      viol.Proto.GetRuleId(),
			})
		}
		return invalidArgument(br)
	}
	// Rules across fields that CEL cannot express (consistency.go),
	// in the same BadRequest shape.
	if check, ok := consistencyChecks[msg.ProtoReflect().Descriptor().FullName()]; ok {
		if fvs := check(msg); len(fvs) > 0 {
			return invalidArgument(&errdetails.BadRequest{FieldViolations: fvs})
		}
	}
	return nil
}

// recovered turns a panic into INTERNAL. The panic value and stack go to the
// log, never to the caller.
func (s *Server) recovered(ctx context.Context, p any) error {
	s.log.ErrorContext(ctx, "panic in handler", "panic", p, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error; see the server log under this call's trace_id")
}

// shedErrorFields marks the call-log line of a shed call for slogAdapter.
func shedErrorFields(err error) logging.Fields {
	var shed *shedError
	if errors.As(err, &shed) {
		return logging.Fields{shedLogField, true}
	}
	return nil
}

// codeToLevel logs what callers got wrong at warn and what we got wrong at
// error, so an SRE's error alert fires only on riskd's own failures. A
// successful call logs at info, sampled as CallLog says (calllog.go).
func codeToLevel(c codes.Code) logging.Level {
	switch c {
	case codes.OK:
		return logging.LevelInfo
	case codes.Canceled, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists,
		codes.PermissionDenied, codes.Unauthenticated, codes.ResourceExhausted,
		codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented:
		return logging.LevelWarn
	default:
		return logging.LevelError
	}
}
