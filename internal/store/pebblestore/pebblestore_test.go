package pebblestore

import (
	"testing"

	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	open := func(t *testing.T) store.Store {
		s, err := Open(t.TempDir(), Options{})
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
		again, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { again.Close() })
		return again
	}
	storetest.Run(t, open, reopen)
}
