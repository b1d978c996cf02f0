package server

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/store"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// errorDomain names riskd in ErrorInfo details.
const errorDomain = "riskd"

// toStatus is the one place where domain errors become gRPC status codes.
// Anything it does not recognise is INTERNAL with a generic message, and
// the cause is logged here, so no internal text reaches a caller.
func (r *riskService) toStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the caller's deadline passed before a decision")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "the caller cancelled the call")
	case errors.Is(err, store.ErrNotFound):
		return withInfo(codes.NotFound, "no such decision", "DECISION_NOT_FOUND")
	case errors.Is(err, store.ErrRequestConflict):
		return withInfo(codes.AlreadyExists, "request_id was already used with different content", "REQUEST_ID_REUSED")
	case errors.Is(err, store.ErrClosed):
		return withInfo(codes.Unavailable, "riskd is shutting down", "SHUTTING_DOWN")
	case errors.Is(err, store.ErrUnavailable):
		// Never answer without the log: the caller retries, or falls back.
		r.log.ErrorContext(ctx, "decision store unreachable; call refused", "error", err)
		return withInfo(codes.Unavailable, "the decision store is unreachable; try again", "STORE_UNAVAILABLE")
	case errors.Is(err, engine.ErrNoCheck):
		return withInfo(codes.FailedPrecondition, "the policy in force does not define this check", "NO_POLICY_FOR_CHECK")
	}
	r.log.ErrorContext(ctx, "internal error", "error", err)
	return status.Error(codes.Internal, "internal error; see the server log under this call's trace_id")
}

func withInfo(c codes.Code, msg, reason string) error {
	st := status.New(c, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain}); err == nil {
		return d.Err()
	}
	return st.Err()
}

// validationInterceptor checks each request against its buf.validate rules,
// then against its consistency check if it has one, and answers
// INVALID_ARGUMENT with a google.rpc.BadRequest that lists every field at
// fault. Violation messages name the rule, never the value sent.
func validationInterceptor(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		msg, ok := req.(proto.Message)
		if !ok {
			return nil, status.Error(codes.Internal, "request is not a protobuf message")
		}
		if err := v.Validate(msg); err != nil {
			var verr *protovalidate.ValidationError
			if !errors.As(err, &verr) {
				// A rule that does not compile is our bug, not the caller's.
				return nil, status.Error(codes.Internal, "request validation is misconfigured")
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
			return nil, invalidArgument(br)
		}
		// Rules across fields that CEL cannot express (consistency.go),
		// in the same BadRequest shape.
		if check, ok := consistencyChecks[msg.ProtoReflect().Descriptor().FullName()]; ok {
			if fvs := check(msg); len(fvs) > 0 {
				return nil, invalidArgument(&errdetails.BadRequest{FieldViolations: fvs})
			}
		}
		return handler(ctx, req)
	}
}

// invalidArgument is INVALID_ARGUMENT with the field violations attached.
func invalidArgument(br *errdetails.BadRequest) error {
	st := status.New(codes.InvalidArgument, badRequestSummary(br))
	if d, err := st.WithDetails(br, &errdetails.ErrorInfo{Reason: "INVALID_REQUEST", Domain: errorDomain}); err == nil {
		st = d
	}
	return st.Err()
}

func badRequestSummary(br *errdetails.BadRequest) string {
	msg := "invalid request"
	for i, fv := range br.FieldViolations {
		if i == 3 {
			return msg + "; ..."
		}
		sep := ": "
		if i > 0 {
			sep = "; "
		}
		msg += sep + fv.Field + ": " + fv.Description
	}
	return msg
}

// recovered turns a panic into INTERNAL. The panic value and stack go to the
// log, never to the caller.
func (s *Server) recovered(ctx context.Context, p any) error {
	s.log.ErrorContext(ctx, "panic in handler", "panic", p, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error; see the server log under this call's trace_id")
}

// slogAdapter lets the logging interceptor write through slog.
func slogAdapter(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// codeToLevel logs what callers got wrong at warn and what we got wrong at
// error, so an SRE's error alert fires only on riskd's own failures. A
// successful call logs at debug: its decision is in the store and its span
// in the trace, and a line per call at thousands of calls a second is cost
// on the payment path that nobody reads.
func codeToLevel(c codes.Code) logging.Level {
	switch c {
	case codes.OK:
		return logging.LevelDebug
	case codes.Canceled, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists,
		codes.PermissionDenied, codes.Unauthenticated, codes.ResourceExhausted,
		codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented:
		return logging.LevelWarn
	default:
		return logging.LevelError
	}
}
