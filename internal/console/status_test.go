package console

import (
	"net/http"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func withReason(code codes.Code, reason string) error {
	st, _ := status.New(code, "x").WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "riskd"})
	return st.Err()
}

// Every message key httpStatus answers is in the catalogs, and the
// service's refusals map to the statuses the README gives.
func TestHTTPStatusOfServiceErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
		key  string
	}{
		{withReason(codes.FailedPrecondition, "CASE_RESOLVED"), http.StatusConflict, "err_case_resolved"},
		{withReason(codes.FailedPrecondition, "CASE_CLAIMED"), http.StatusConflict, "err_case_claimed"},
		{withReason(codes.FailedPrecondition, "CLAIM_REQUIRED"), http.StatusConflict, "err_claim_required"},
		{withReason(codes.NotFound, "CASE_NOT_FOUND"), http.StatusNotFound, "err_not_found"},
		{status.Error(codes.PermissionDenied, "x"), http.StatusForbidden, "err_not_granted"},
		{status.Error(codes.Unauthenticated, "x"), http.StatusUnauthorized, "err_signed_out"},
		{status.Error(codes.InvalidArgument, "x"), http.StatusBadRequest, "err_bad_request"},
		{status.Error(codes.ResourceExhausted, "x"), http.StatusServiceUnavailable, "err_unavailable"},
		{status.Error(codes.Unavailable, "x"), http.StatusServiceUnavailable, "err_unavailable"},
		{status.Error(codes.Internal, "x"), http.StatusInternalServerError, "err_internal"},
	} {
		code, key := httpStatus(c.err)
		if code != c.code || key != c.key {
			t.Errorf("%v: %d %s, want %d %s", c.err, code, key, c.code, c.key)
		}
		for lang, m := range catalogs {
			if _, ok := m[key]; !ok {
				t.Errorf("%s is not in the %s catalog", key, lang)
			}
		}
	}
}
