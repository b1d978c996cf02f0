package pebblestore

import (
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	// The suite's times are at 2026-01-01 09:30 UTC and before: with the
	// real clock they are older than the in-memory window, so reads come
	// from the cache of older events, or, with it switched off, the LSM.
	t.Run("reads from the LSM", func(t *testing.T) { conformance(t, nil, false) })
	t.Run("reads from the cache of older events", func(t *testing.T) { conformance(t, nil, true) })
	// With the clock at the suite's times, its windows fall inside the
	// in-memory window.
	suiteNow := time.Date(2026, time.January, 1, 9, 30, 0, 0, time.UTC)
	t.Run("reads from memory", func(t *testing.T) { conformance(t, func() time.Time { return suiteNow }, true) })
}

func conformance(t *testing.T, clock func() time.Time, cache bool) {
	open := func(t *testing.T) store.Store {
		s, err := Open(t.TempDir(), Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		if !cache {
			s.cold = nil // before any read or write: Open starts nothing that uses it
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
		if !cache {
			again.cold = nil
		}
		t.Cleanup(func() { again.Close() })
		return again
	}
	storetest.Run(t, open, reopen)
}
