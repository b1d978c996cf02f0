package pebblestore

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
)

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

// item is one (tag, key) of an expiry entry's value.
type item struct {
	tag byte
	key []byte
}

func decodeItems(b []byte) ([]item, error) {
	var out []item
	err := items{b}.each(func(tag byte, key []byte) error {
		out = append(out, item{tag, bytes.Clone(key)})
		return nil
	})
	return out, err
}

func encodeItems(list []item) []byte {
	var it items
	for _, x := range list {
		it.add(x.tag, x.key)
	}
	return it.b
}

// FuzzDecodeItems: an expiry entry's value read back from disk decodes
// cleanly or not at all, and what decodes survives a round trip. A length
// varint need not be minimal to decode, so the input bytes themselves may
// not come back; what add writes does, byte for byte.
func FuzzDecodeItems(f *testing.F) {
	var it items
	it.add(tagEvent, []byte("key"))
	it.add(tagLink, nil)
	f.Add(it.b)
	f.Add([]byte{tagEvent, 3, 'k', 'e', 'y', tagLink, 0}) // the same, by hand
	f.Add([]byte{tagEvent, 0xff, 0x7f})
	f.Add([]byte{tagEvent, 0x80, 0x00}) // a non-minimal empty length
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeItems(b)
		if err != nil {
			return
		}
		enc := encodeItems(got)
		again, err := decodeItems(enc)
		if err != nil {
			t.Fatalf("%x decodes to %v, whose encoding %x does not decode: %v", b, got, enc, err)
		}
		if !slices.EqualFunc(got, again, func(a, b item) bool { return a.tag == b.tag && bytes.Equal(a.key, b.key) }) {
			t.Fatalf("round trip of %x: %v, then %v", b, got, again)
		}
		if re := encodeItems(again); !bytes.Equal(re, enc) {
			t.Fatalf("encoding is not stable: %x, then %x", enc, re)
		}
	})
}

// sameEvent compares what decodeEvent rebuilds (series and key stay in
// the prefix, which it does not parse).
func sameEvent(a, b store.Event) bool {
	return a.ID == b.ID && a.At.Equal(b.At) && a.Amount == b.Amount && a.Quantity == b.Quantity && a.Ref == b.Ref
}

// FuzzDecodeEvent: a stored event decodes cleanly or not at all, and what
// decodes survives a round trip: the key is canonical (time and ID rebuilt
// after the same prefix give the input key back), the value decodes to
// the same event once re-encoded (a varint need not be minimal to decode,
// so the input value itself may not come back).
func FuzzDecodeEvent(f *testing.F) {
	e := store.Event{ID: "e1", Series: "s", At: time.Unix(1700000000, 0), Amount: -5, Quantity: 3, Ref: "r"}
	k := eventKey(e)
	f.Add(k, encodeEvent(e), len(eventPrefix(e.Series, e.Key)))
	before := store.Event{ID: "", Series: "s", At: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC), Amount: math.MinInt64, Quantity: math.MaxInt64}
	f.Add(eventKey(before), encodeEvent(before), len(eventPrefix(before.Series, before.Key)))
	// Written out by hand, not by encodeEvent, so an encoder bug cannot
	// hide behind seeds it made: amount -5 and quantity 3 as zig-zag
	// varints, then the ref.
	f.Add(k, []byte{eventV1, 0x09, 0x06, 'r'}, len(eventPrefix(e.Series, e.Key)))
	f.Add(k, []byte{eventV1, 0x80, 0x00, 0x06}, len(eventPrefix(e.Series, e.Key))) // a non-minimal amount
	f.Fuzz(func(t *testing.T, key, val []byte, prefix int) {
		if prefix < 0 || prefix > len(key) {
			return
		}
		got, err := decodeEvent(prefix, key, val)
		if err != nil {
			return
		}
		tk := timeKey(got.At)
		rebuilt := append(append(bytes.Clone(key[:prefix]), tk[:]...), got.ID...)
		if !bytes.Equal(rebuilt, key) {
			t.Fatalf("key %x decodes to %+v, which rebuilds as %x", key, got, rebuilt)
		}
		enc := encodeEvent(got)
		again, err := decodeEvent(prefix, rebuilt, enc)
		if err != nil {
			t.Fatalf("%+v re-encoded as %x does not decode: %v", got, enc, err)
		}
		if !sameEvent(again, got) {
			t.Fatalf("round trip of %x %x: %+v, then %+v", key, val, got, again)
		}
		if re := encodeEvent(again); !bytes.Equal(re, enc) {
			t.Fatalf("encoding is not stable: %x, then %x", enc, re)
		}
	})
}

// The encoders whole, as the tests build stored bytes with them (the store
// appends into buffers it reuses).

func encodeRecord(r record) []byte { return append(appendRecordHead(nil, r), r.decision...) }

func eventKey(e store.Event) []byte { return appendEventKey(nil, e) }

func encodeEvent(e store.Event) []byte { return appendEvent(nil, e) }

// Guards: a batch entry's value is its time key and then its subjects;
// one written before subjects were kept (or imported from bbolt) has
// none, and a damaged one is an error, not a wrong answer.
func TestDecodeBatch(t *testing.T) {
	tk := timeKey(time.Unix(1700000000, 0))
	ids := []store.Identifier{{Kind: store.KindDevice, Hash: [store.HashSize]byte{1}}, {Kind: store.KindRecipient, Hash: [store.HashSize]byte{2}}}
	got, err := decodeBatch(appendSubjects(tk[:], ids))
	if err != nil || !slices.Equal(got, ids) {
		t.Fatalf("decodeBatch(encoded) = %v, %v; want %v", got, err, ids)
	}
	if got, err := decodeBatch(tk[:]); err != nil || len(got) != 0 {
		t.Fatalf("decodeBatch(time key alone) = %v, %v; want none", got, err)
	}
	for _, bad := range [][]byte{nil, tk[:7], append(tk[:], 1, 2, 3), appendSubjects(tk[:], []store.Identifier{{Kind: 200}})} {
		if _, err := decodeBatch(bad); !errors.Is(err, errCorrupt) {
			t.Errorf("decodeBatch(%d bytes) = %v, want errCorrupt", len(bad), err)
		}
	}
}
