package server

// Errors as callers see them: domain errors become status codes here, and
// only here.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

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
	case errors.Is(err, store.ErrNoPolicyVersion):
		return withInfo(codes.NotFound, "no such policy version: riskd keeps every version in force or published (see ListPolicyVersions)", "POLICY_VERSION_NOT_FOUND")
	case errors.Is(err, store.ErrPolicyRaced):
		return withInfo(codes.Aborted, "the policy state changed meanwhile, again and again; look at it and try again", "POLICY_STATE_RACED")
	case errors.Is(err, engine.ErrFilePending):
		return withInfo(codes.FailedPrecondition, "the policy file changed on disk and riskd has not taken it yet: a change through the API now would race with it; wait for the file to load (or revert it) and try again", "POLICY_FILE_PENDING")
	case errors.Is(err, engine.ErrNoCanary):
		return withInfo(codes.FailedPrecondition, "no canary is running", "NO_CANARY")
	case errors.Is(err, engine.ErrAlreadyInForce):
		return withInfo(codes.FailedPrecondition, "that version is the one in force", "POLICY_ALREADY_IN_FORCE")
	case errors.Is(err, engine.ErrNoEarlierVersion):
		return withInfo(codes.FailedPrecondition, "no earlier version was in force: name the version to put back", "NO_EARLIER_POLICY")
	case errors.Is(err, store.ErrNoList):
		return withInfo(codes.NotFound, "no list of that name; create it with CreateList", "LIST_NOT_FOUND")
	case errors.Is(err, store.ErrNoListEntry):
		return withInfo(codes.NotFound, "no entry of that ID on that list", "LIST_ENTRY_NOT_FOUND")
	case errors.Is(err, store.ErrListExists):
		return withInfo(codes.AlreadyExists, "a list of that name exists with another purpose", "LIST_EXISTS")
	case errors.Is(err, store.ErrNoCase):
		return withInfo(codes.NotFound, "no case for this decision: it waits for nobody, or riskd does not keep it", "CASE_NOT_FOUND")
	}
	// A change to a case that its state refuses: the loser of a race, a
	// second click, a lapsed claim. The message says how the case stands.
	var ce *store.CaseError
	if errors.As(err, &ce) {
		c := ce.Case
		switch {
		case errors.Is(err, store.ErrCaseResolved):
			return withInfo(codes.FailedPrecondition, fmt.Sprintf("the case was resolved already (%s by %s at %s)",
				resolutionOf(c.Verdict), c.ResolvedBy, c.ResolvedAt.Format(time.RFC3339)), "CASE_RESOLVED")
		case errors.Is(err, store.ErrCaseClaimed):
			return withInfo(codes.FailedPrecondition, fmt.Sprintf("the case is claimed by %s until %s",
				c.Holder, c.ClaimedUntil.Format(time.RFC3339)), "CASE_CLAIMED")
		case errors.Is(err, store.ErrNotClaimed):
			return withInfo(codes.FailedPrecondition, "claim the case first: only the holder of a live claim may resolve it or release it", "CLAIM_REQUIRED")
		case errors.Is(err, store.ErrNotDue):
			return withInfo(codes.FailedPrecondition, "the case is not due", "CASE_NOT_DUE")
		}
	}
	var de *drainingError
	if errors.As(err, &de) {
		return withInfo(codes.Unavailable, fmt.Sprintf("riskd is shutting down; resume after sequence %d on another replica", de.after), "SHUTTING_DOWN")
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return invalidArgument(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: fe.field, Description: fe.err.Error(), Reason: fe.reason},
		}})
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

// fieldError is a request that passed its validation rules but that riskd
// cannot take, for a reason about one field: a page token it did not
// make, an identifier that normalises to nothing.
type fieldError struct {
	field, reason string
	err           error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// drainingError ends a stream because riskd drains or shuts down; after is
// the last sequence the stream sent, where its consumer resumes.
type drainingError struct{ after uint64 }

func (e *drainingError) Error() string {
	return fmt.Sprintf("draining; resume after sequence %d", e.after)
}
