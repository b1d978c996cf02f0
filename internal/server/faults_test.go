package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
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

// scanFailingStore is the real store whose decision log cannot be read.
type scanFailingStore struct {
	store.Store
	fail error
}

func (f *scanFailingStore) ScanDecisions(context.Context, time.Time, time.Time, func(*riskv1.Decision) error) error {
	return f.fail
}

// Guards (issue 17, item 3): PolicyService goes through the same error
// boundary as RiskService: a store failure during a replay is UNAVAILABLE
// or INTERNAL with riskd's own words, never Unknown with the database's
// address or a file path in it.
func TestReplayStoreFaultsGiveCleanErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail error
		want codes.Code
	}{
		{"database gone", fmt.Errorf("scan: %w: dial tcp 10.1.2.3:5432: connection refused", store.ErrUnavailable), codes.Unavailable},
		{"failing disk", errors.New("read /var/lib/riskd/000123.sst: input/output error"), codes.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, setup{wrapStore: func(s store.Store) store.Store { return &scanFailingStore{Store: s, fail: tc.fail} }})
			_, err := riskv1.NewPolicyServiceClient(h.conn).ReplayPolicy(context.Background(), &riskv1.ReplayPolicyRequest{
				Policy: policy.DefaultBytes(), Since: durationpb.New(time.Hour),
			})
			if status.Code(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
			for _, leak := range []string{"10.1.2.3", "5432", "/var/lib", ".sst"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error shows %q to the caller: %v", leak, err)
				}
			}
		})
	}
}
