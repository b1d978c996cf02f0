package pebblestore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// TestPowerLossKeepsEveryAcknowledgedDecision: "acknowledged means durable".
// The store runs on a filesystem that keeps unsynced data apart; a crash
// clone holds exactly what was synced, as a disk does after power loss.
// Every decision whose Commit returned must be in the clone, with its
// request index and its events. The same test with fsync off must lose
// some, or it could not tell the disk from the page cache.
func TestPowerLossKeepsEveryAcknowledgedDecision(t *testing.T) {
	t.Run("synced", func(t *testing.T) {
		acked, lost := commitThenLosePower(t, false)
		if lost != 0 {
			t.Fatalf("%d of %d acknowledged decisions lost at power loss", lost, acked)
		}
	})
	t.Run("fsync off loses decisions, so the test can tell", func(t *testing.T) {
		acked, lost := commitThenLosePower(t, true)
		if lost == 0 {
			t.Fatalf("all %d decisions survived with fsync off: the crash simulation keeps unsynced data", acked)
		}
	})
}

// commitThenLosePower commits decisions from several goroutines (so group
// commits form), cuts power at an arbitrary moment while commits are still
// in flight, and counts the acknowledged decisions missing afterwards.
func commitThenLosePower(t *testing.T, noSync bool) (acked, lost int) {
	t.Helper()
	fs := vfs.NewCrashableMem()
	s, err := Open("/data", Options{FS: fs, NoSync: noSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var done []int
	var crashed *vfs.MemFS
	var wg sync.WaitGroup
	const workers, each = 8, 40
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := w*each + i
				if _, _, err := s.Commit(context.Background(), powerLossCommit(n, base)); err != nil {
					t.Errorf("commit %d: %v", n, err)
					return
				}
				mu.Lock()
				done = append(done, n)
				// Power goes off two thirds of the way, with commits of
				// the other workers still queued or syncing.
				if len(done) == workers*each*2/3 {
					crashed = fs.CrashClone(vfs.CrashCloneCfg{})
					acked = len(done)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if crashed == nil {
		t.Fatal("no crash clone taken")
	}
	survivors := done[:acked]

	after, err := Open("/data", Options{FS: crashed})
	if err != nil {
		t.Fatalf("reopen after power loss: %v", err)
	}
	defer after.Close()
	ctx := context.Background()
	for _, n := range survivors {
		d, err := after.Decision(ctx, fmt.Sprintf("d-%04d", n))
		if errors.Is(err, store.ErrNotFound) {
			lost++
			continue
		}
		if err != nil {
			t.Fatalf("decision %d: %v", n, err)
		}
		if d.GetRequestId() != fmt.Sprintf("r-%04d", n) {
			t.Fatalf("decision %d came back as %v", n, d)
		}
		if _, _, err := after.DecisionByRequest(ctx, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, d.GetRequestId()); err != nil {
			t.Fatalf("decision %d has no request index after power loss: %v", n, err)
		}
		ev, err := after.Events(ctx, "giftcard", powerLossAccount(n), base, base.Add(time.Hour), 0)
		if err != nil || len(ev) != 1 {
			t.Fatalf("decision %d: events %v, %v; want its one event", n, ev, err)
		}
	}
	return acked, lost
}

func powerLossAccount(n int) store.Identifier {
	return store.Identifier{Kind: store.KindAccount, Hash: sha256.Sum256(fmt.Appendf(nil, "acct-%d", n))}
}

func powerLossCommit(n int, base time.Time) store.Commit {
	at := base.Add(time.Duration(n) * time.Second)
	acct := powerLossAccount(n)
	return store.Commit{
		Decision: &riskv1.Decision{
			DecisionId: fmt.Sprintf("d-%04d", n),
			RequestId:  fmt.Sprintf("r-%04d", n),
			Check:      riskv1.Check_CHECK_GIFT_CARD_PURCHASE,
			Outcome:    riskv1.Outcome_OUTCOME_APPROVE,
			DecidedAt:  timestamppb.New(at),
		},
		RequestHash: sha256.Sum256(fmt.Appendf(nil, "req-%d", n)),
		Subjects:    []store.Identifier{acct},
		Events:      []store.Event{{ID: fmt.Sprintf("d-%04d", n), Series: "giftcard", Key: acct, At: at, Amount: 10000, Quantity: 1}},
	}
}
