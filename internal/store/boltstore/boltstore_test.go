package boltstore

import (
	"bytes"
	"errors"
	"testing"
	"time"

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

func TestKeyCheckRefusesAnotherKey(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{KeyCheck: []byte("first key")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(dir, Options{KeyCheck: []byte("other key")}); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("got %v, want ErrKeyMismatch", err)
	}
	s, err = Open(dir, Options{KeyCheck: []byte("first key")})
	if err != nil {
		t.Fatalf("same key refused: %v", err)
	}
	s.Close()
}

func TestSecondOpenIsRefusedWhileLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(dir, Options{LockTimeout: 50 * time.Millisecond}); err == nil {
		t.Fatal("a second open of a locked file succeeded")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := record{check: 2, requestID: "req-1", subjects: []store.Identifier{{Kind: store.KindDevice}}, decision: []byte{1, 2, 3}}
	r.requestHash[0] = 9
	r.subjects[0].Hash[31] = 7
	got, err := decodeRecord(encodeRecord(r))
	if err != nil {
		t.Fatal(err)
	}
	if got.check != r.check || got.requestID != r.requestID || got.requestHash != r.requestHash ||
		len(got.subjects) != 1 || got.subjects[0] != r.subjects[0] || !bytes.Equal(got.decision, r.decision) {
		t.Fatalf("round trip: %+v", got)
	}
}

// FuzzDecodeRecord: records are read back from a file that a disk or a
// person may have damaged; decoding must fail cleanly, never panic.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(record{check: 1, requestID: "r", decision: []byte("x")}))
	f.Add([]byte{recordV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		if !bytes.Equal(encodeRecord(r), b) {
			t.Fatalf("decode/encode not stable for %x", b)
		}
	})
}

func FuzzDecodeItems(f *testing.F) {
	var it items
	it.add(tagEvent, []byte("key"))
	it.add(tagLink, nil)
	f.Add(it.b)
	f.Add([]byte{tagEvent, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = items{b}.each(func(byte, []byte) error { return nil })
	})
}

func FuzzDecodeEvent(f *testing.F) {
	e := store.Event{ID: "e1", Series: "s", At: time.Unix(1700000000, 0), Amount: -5, Quantity: 3, Ref: "r"}
	k := eventKey(e)
	f.Add(k, encodeEvent(e), len(eventPrefix(e.Series, e.Key)))
	f.Fuzz(func(t *testing.T, key, val []byte, prefix int) {
		if prefix < 0 || prefix > len(key) {
			return
		}
		_, _ = decodeEvent(prefix, key, val)
	})
}
