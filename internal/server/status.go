package server

// Errors as callers see them: domain errors become status codes here, and
// only here.

import (
	"context"
	"errors"
	"log/slog"

	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/store"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errorDomain names riskd in ErrorInfo details.
const errorDomain = "riskd"

// toStatus is the one place where domain errors become gRPC status codes,
// for every service. Anything it does not recognise is INTERNAL with a
// generic message, and the cause is logged here (to log), so no internal
// text (a file path, a database address) reaches a caller.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
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
		log.ErrorContext(ctx, "decision store unreachable; call refused", "error", err)
		return withInfo(codes.Unavailable, "the decision store is unreachable; try again", "STORE_UNAVAILABLE")
	case errors.Is(err, engine.ErrNoCheck):
		return withInfo(codes.FailedPrecondition, "the policy in force does not define this check", "NO_POLICY_FOR_CHECK")
	}
	log.ErrorContext(ctx, "internal error", "error", err)
	return status.Error(codes.Internal, "internal error; see the server log under this call's trace_id")
}

func withInfo(c codes.Code, msg, reason string) error {
	st := status.New(c, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain}); err == nil {
		return d.Err()
	}
	return st.Err()
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
