package riskclient

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Reasons riskd puts in a google.rpc.ErrorInfo (domain "riskd"), as
// Error.Reason carries them. A reason is stable; the message is for people.
const (
	// ReasonInvalidRequest: INVALID_ARGUMENT, with the fields at fault in
	// Error.Fields.
	ReasonInvalidRequest = "INVALID_REQUEST"
	// ReasonMalformedRequest: INVALID_ARGUMENT, the body was not a valid
	// message of the method's type.
	ReasonMalformedRequest = "MALFORMED_REQUEST"
	// ReasonRequestIDReused: ALREADY_EXISTS, the request_id was decided
	// before with other content. Not retried: use a new request_id for a
	// new request.
	ReasonRequestIDReused = "REQUEST_ID_REUSED"
	// ReasonDecisionNotFound: NOT_FOUND, no decision riskd keeps has this ID.
	ReasonDecisionNotFound = "DECISION_NOT_FOUND"
	// ReasonStoreUnavailable: UNAVAILABLE, riskd cannot reach its decision
	// store and answers nothing it cannot log. Retried.
	ReasonStoreUnavailable = "STORE_UNAVAILABLE"
	// ReasonShuttingDown: UNAVAILABLE, this riskd is stopping. Retried.
	ReasonShuttingDown = "SHUTTING_DOWN"
	// ReasonNoPolicyForCheck: FAILED_PRECONDITION, the policy in force does
	// not define this check.
	ReasonNoPolicyForCheck = "NO_POLICY_FOR_CHECK"
)

// ErrNoRequestID is returned, without calling riskd, for an evaluating
// call whose request has no request_id: the request_id is what makes the
// call idempotent, so without one a retry could not be known to be safe
// (and riskd would refuse the request anyway).
var ErrNoRequestID = errors.New("riskclient: the request has no request_id: an evaluating call needs one, and a retry sends the same")

// Error is a call riskd (or the connection to it) did not answer: its gRPC
// code and message, riskd's reason and the fields at fault. Every error
// the Client's calls return that came from gRPC is an *Error; get it with
// errors.As. status.Code and status.FromError work on it too.
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the status message, for people.
	Message string
	// Reason is the google.rpc.ErrorInfo reason (one of the Reason
	// constants for domain "riskd"), empty when the status carries none
	// (a transport failure, a shed call, a refused credential).
	Reason string
	// Domain is the ErrorInfo domain: "riskd" for riskd's own reasons.
	Domain string
	// Fields are the google.rpc.BadRequest field violations of an
	// INVALID_ARGUMENT: every field at fault, never the value sent.
	Fields []FieldViolation
	// Attempts is how many times the call was sent, retries included.
	Attempts int

	st *status.Status
}

// FieldViolation is one field at fault in a request.
type FieldViolation struct {
	// Field is the path of the field, such as "client.ip_address" or
	// "events[3].occurred_at".
	Field string
	// Description says what is wrong with it.
	Description string
	// Reason is the rule broken, such as "string.ip".
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "riskd: %s: %s", e.Code, e.Message)
	if e.Reason != "" {
		fmt.Fprintf(&b, " (reason %s)", e.Reason)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	return b.String()
}

// GRPCStatus lets status.FromError and status.Code read the status.
func (e *Error) GRPCStatus() *status.Status {
	if e.st == nil { // an Error made by hand, in a caller's test
		return status.New(e.Code, e.Message)
	}
	return e.st
}

// Retryable reports whether the same call may succeed later: riskd was
// unavailable or at capacity. The Client has retried it already, as far as
// its deadline and WithRetry allowed; a caller may try again later with
// the same request, or fall back.
func (e *Error) Retryable() bool { return retryableCode(e.Code) }

// IsRetryable reports whether err is an *Error that is Retryable.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable()
}

// retryableCode is the one list of codes a call is sent again on.
func retryableCode(c codes.Code) bool {
	return c == codes.Unavailable || c == codes.ResourceExhausted
}

// newError makes err, a gRPC status error, an *Error with its details read.
// An error that is not a status (none should reach here) is returned as it
// is.
func newError(err error, attempts int) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := &Error{Code: st.Code(), Message: st.Message(), Attempts: attempts, st: st}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			e.Reason, e.Domain = d.GetReason(), d.GetDomain()
		case *errdetails.BadRequest:
			for _, fv := range d.GetFieldViolations() {
				e.Fields = append(e.Fields, FieldViolation{Field: fv.GetField(), Description: fv.GetDescription(), Reason: fv.GetReason()})
			}
		}
	}
	return e
}
