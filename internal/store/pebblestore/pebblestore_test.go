package pebblestore

import (
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Run("reads from the LSM", func(t *testing.T) { conformance(t, nil) })
	// The suite's times start at 2026-01-01 09:30 UTC: with the clock
	// there, its windows fall inside the in-memory event index.
	suiteNow := time.Date(2026, time.January, 1, 9, 30, 0, 0, time.UTC)
	t.Run("reads from memory", func(t *testing.T) { conformance(t, func() time.Time { return suiteNow }) })
}

func conformance(t *testing.T, clock func() time.Time) {
	open := func(t *testing.T) store.Store {
		s, err := Open(t.TempDir(), Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	reopen := func(t *testing.T, s store.Store) store.Store {
		dir := s.(*Store).Dir()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := Open(dir, Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { again.Close() })
		return again
	}
	storetest.Run(t, open, reopen)
}
