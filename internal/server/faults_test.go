package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// faultyStore is the real store with commits made slow or failing: the
// faults a disk gives only when it wants to.
type faultyStore struct {
	store.Store
	delay time.Duration
	fail  error
}

func (f *faultyStore) Commit(ctx context.Context, c store.Commit) (*riskv1.Decision, bool, error) {
	if f.fail != nil {
		return nil, false, f.fail
	}
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	return f.Store.Commit(ctx, c)
}

func TestStoreFaultsGiveCleanErrors(t *testing.T) {
	cases := []struct {
		name  string
		fault *faultyStore
		want  codes.Code
	}{
		// A commit slower than the caller's deadline: the caller gets its
		// deadline, never an answer that was not stored.
		{"slow disk", &faultyStore{delay: 5 * time.Second}, codes.DeadlineExceeded},
		{"failing disk", &faultyStore{fail: errors.New("write /data/riskd.db: input/output error")}, codes.Internal},
		{"database gone", &faultyStore{fail: store.ErrUnavailable}, codes.Unavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{wrapStore: func(s store.Store) store.Store { tc.fault.Store = s; return tc.fault }})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			began := time.Now()
			_, err := h.client.EvaluateRefund(ctx, overPaidRefund())
			if status.Code(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
			if time.Since(began) > 2*time.Second {
				t.Fatalf("the error took %s: it must come by the deadline", time.Since(began))
			}
			if msg := status.Convert(err).Message(); strings.Contains(msg, "input/output") || strings.Contains(msg, "riskd.db") {
				t.Fatalf("internal detail reached the caller: %q", msg)
			}
			// Nothing half-stored: the decision is not in the log.
			if _, _, err := h.store.DecisionByRequest(context.Background(), riskv1.Check_CHECK_REFUND, overPaidRefund().RequestId); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a refused call left a decision: %v", err)
			}
		})
	}
}
