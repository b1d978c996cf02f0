package pebblestore

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
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

// TestOpensDirectoryOfDefaultComparer: a data directory made before link
// keys were split for bloom filters (pebble's default comparer) still
// opens, and its links are read without the filters.
func TestOpensDirectoryOfDefaultComparer(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(filepath.Join(dir, DirName), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	link := store.Link{ID: store.Identifier{Kind: store.KindDevice}, Subject: "seller:S1", At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for round := range 2 {
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if s.prefixLinks {
			t.Errorf("round %d: a directory of the default comparer read with link prefixes", round)
		}
		if round == 0 {
			if _, _, err := s.Record(t.Context(), []store.Batch{{EventID: "e1", Links: []store.Link{link}}}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Linked(t.Context(), link.ID, 0)
		if err != nil || len(got) != 1 || got[0] != link {
			t.Errorf("round %d: Linked = %v, %v; want %v", round, got, err, link)
		}
		s.Close()
	}
	fresh, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if !fresh.prefixLinks {
		t.Error("a new directory does not split link keys")
	}
}

// TestLinkedThroughTableFilters: links read back once they sit in tables
// (where the bloom filters of identifier prefixes are), from several
// tables and levels at once, and identifiers never linked read as none.
func TestLinkedThroughTableFilters(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ident := func(i int) store.Identifier {
		id := store.Identifier{Kind: store.KindDevice}
		id.Hash[0], id.Hash[1] = byte(i), byte(i>>8)
		return id
	}
	const ids, rounds = 200, 3
	for r := range rounds {
		var batch []store.Batch
		for i := range ids {
			batch = append(batch, store.Batch{EventID: fmt.Sprint(r, "-", i), Links: []store.Link{{ID: ident(i), Subject: fmt.Sprint("seller:", r), At: at}}})
		}
		if _, _, err := s.Record(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
		if err := s.db.Flush(); err != nil { // one table per round
			t.Fatal(err)
		}
		if r == 0 {
			if err := s.db.Compact(t.Context(), []byte{0}, []byte{0xff}, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range ids {
		got, err := s.Linked(t.Context(), ident(i), 0)
		if err != nil || len(got) != rounds {
			t.Fatalf("identifier %d: Linked = %d links (%v), want %d", i, len(got), err, rounds)
		}
	}
	for i := ids; i < ids+50; i++ {
		if got, err := s.Linked(t.Context(), ident(i), 0); err != nil || len(got) != 0 {
			t.Fatalf("identifier %d, never linked: Linked = %v, %v", i, got, err)
		}
	}
}

// TestRebuildReadsBothItemForms: the in-memory window is rebuilt at open
// from expiry items that carry their event's value, and from the older
// items that name the event only (read from the LSM).
func TestRebuildReadsBothItemForms(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	s, err := Open(dir, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	acct := store.Identifier{Kind: store.KindAccount}
	withValue := store.Event{ID: "new", Series: "giftcard", Key: acct, At: now.Add(-time.Hour), Amount: 100, Quantity: 1, Ref: "r"}
	if _, _, err := s.Record(t.Context(), []store.Batch{{EventID: "b1", Events: []store.Event{withValue}}}); err != nil {
		t.Fatal(err)
	}
	// An event as stores wrote it before items carried values.
	old := store.Event{ID: "old", Series: "giftcard", Key: acct, At: now.Add(-2 * time.Hour), Amount: 200, Quantity: 2}
	ek := eventKey(old)
	var it items
	it.add(tagEvent, ek)
	b := s.db.NewBatch()
	for _, kv := range [][2][]byte{
		{key(pEvents, ek), encodeEvent(old)},
		{expKey(pExpEvents, old.At, tagGroup, []byte("old-write")), it.b},
	} {
		if err := b.Set(kv[0], kv[1], nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if keys, events := s.hot.size(); keys != 1 || events != 2 {
		t.Fatalf("window rebuilt with %d keys, %d events; want 1 key, 2 events", keys, events)
	}
	var got []store.Event
	if !s.hot.scan("giftcard", acct, now.Add(-24*time.Hour), now, 0, func(e store.Event) { got = append(got, e) }) {
		t.Fatal("the window does not cover the last day")
	}
	if want := []store.Event{old, withValue}; !slices.Equal(got, want) {
		t.Fatalf("window holds %+v, want %+v", got, want)
	}
}
