package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
)

// TestFailedGroupRetriesEachCommitAlone: one decision whose write fails
// inside a group commit must not take the others of its group down with
// it. The bad one (an event without an ID) fails inside the real commit
// loop every time it is applied, in a group that queued up behind a write
// holding the loop.
func TestFailedGroupRetriesEachCommitAlone(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Hold the loop on a first write so that the rest queue into one group.
	gate := make(chan struct{})
	go s.write(context.Background(), func(*txn) (any, error) { <-gate; return nil, nil })
	time.Sleep(20 * time.Millisecond)

	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := powerLossCommit(i, base)
			if i == 5 {
				c.Events[0].ID = ""
			}
			_, _, errs[i] = s.Commit(context.Background(), c)
		}()
	}
	for s.queue.Len() < n {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i, err := range errs {
		_, lookErr := s.Decision(context.Background(), fmt.Sprintf("d-%04d", i))
		if i == 5 {
			if err == nil {
				t.Errorf("the bad commit was acknowledged")
			}
			if !errors.Is(lookErr, store.ErrNotFound) {
				t.Errorf("poisoned commit was half-stored: %v", lookErr)
			}
			continue
		}
		if err != nil || lookErr != nil {
			t.Errorf("commit %d in the same group as a failing one: %v, stored: %v", i, err, lookErr)
		}
	}
}

// TestCommitStatsCountGroups: commits that queued up behind a busy loop
// reach the disk as one group, and the counters say so.
func TestCommitStatsCountGroups(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gate, held := make(chan struct{}), make(chan struct{})
	go s.write(context.Background(), func(*txn) (any, error) { close(held); <-gate; return nil, nil })
	<-held
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	const n = 10
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.Commit(context.Background(), powerLossCommit(i, base)); err != nil {
				t.Error(err)
			}
		}()
	}
	for s.queue.Len() < n {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	// The gate wrote nothing, so it is not counted.
	if got, want := s.CommitStats(), (store.CommitStats{Groups: 1, Commits: n}); got != want {
		t.Errorf("CommitStats = %+v, want %+v", got, want)
	}
}

func TestLinkSetForgetsWhenFull(t *testing.T) {
	l := newLinkSet(16)
	for i := range 100 {
		l.add([]string{fmt.Sprint(i)})
		if len(l.keys) > 16 {
			t.Fatalf("%d keys held, bound 16", len(l.keys))
		}
	}
	if !l.has([]byte("99")) {
		t.Error("the last key added is not held")
	}
	l.forget([]byte("99"))
	if l.has([]byte("99")) {
		t.Error("a forgotten key is still held")
	}
}
