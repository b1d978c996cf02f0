package pebblestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// On-disk encodings. Every value starts with a format byte so that a later
// schema can read old values or migrate them.

const recordV1 = 1

// record is a stored decision with what idempotency and outcomes need.
type record struct {
	check       riskv1.Check
	requestID   string
	requestHash [store.HashSize]byte
	subjects    []store.Identifier
	facts       []byte // encoded riskv1.DecisionFacts, for replay
	decision    []byte // deterministic proto encoding of the decision
}

var errCorrupt = errors.New("pebblestore: corrupt record")

// appendRecordHead appends all of r's encoding but the decision, which
// comes last: a caller can marshal it straight after.
func appendRecordHead(b []byte, r record) []byte {
	b = append(b, recordV1)
	b = binary.AppendUvarint(b, uint64(r.check))
	b = binary.AppendUvarint(b, uint64(len(r.requestID)))
	b = append(b, r.requestID...)
	b = append(b, r.requestHash[:]...)
	b = binary.AppendUvarint(b, uint64(len(r.subjects)))
	for _, s := range r.subjects {
		b = append(b, byte(s.Kind))
		b = append(b, s.Hash[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(r.facts)))
	return append(b, r.facts...)
}

// uvarint reads a varint as binary.Uvarint does, but refuses one not in
// its shortest form: one record has one encoding, so a damaged or forged
// file cannot pass for a different record that encodes the same.
func uvarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n > 0 && n != len(binary.AppendUvarint(nil, v)) {
		return 0, -n
	}
	return v, n
}

// decodeRecord parses a stored record. It is a parser of bytes from disk,
// so it checks every length rather than trusting the file.
func decodeRecord(b []byte) (record, error) {
	var r record
	if len(b) < 1 || b[0] != recordV1 {
		return r, fmt.Errorf("%w: unknown format", errCorrupt)
	}
	b = b[1:]
	check, n := uvarint(b)
	if n <= 0 || check > math.MaxInt32 {
		return r, fmt.Errorf("%w: check", errCorrupt)
	}
	r.check = riskv1.Check(check)
	b = b[n:]
	l, n := uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return r, fmt.Errorf("%w: request id", errCorrupt)
	}
	b = b[n:]
	r.requestID = string(b[:l])
	b = b[l:]
	if len(b) < store.HashSize {
		return r, fmt.Errorf("%w: request hash", errCorrupt)
	}
	copy(r.requestHash[:], b)
	b = b[store.HashSize:]
	count, n := uvarint(b)
	if n <= 0 || count > uint64(len(b)-n)/(1+store.HashSize) {
		return r, fmt.Errorf("%w: subjects", errCorrupt)
	}
	b = b[n:]
	r.subjects = make([]store.Identifier, count)
	for i := range r.subjects {
		r.subjects[i].Kind = store.Kind(b[0])
		copy(r.subjects[i].Hash[:], b[1:1+store.HashSize])
		b = b[1+store.HashSize:]
	}
	l, n = uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return r, fmt.Errorf("%w: facts", errCorrupt)
	}
	b = b[n:]
	if l > 0 {
		r.facts = b[:l]
	}
	r.decision = b[l:]
	return r, nil
}

func (r record) unmarshalDecision() (*riskv1.Decision, error) {
	d := &riskv1.Decision{}
	if err := proto.Unmarshal(r.decision, d); err != nil {
		return nil, fmt.Errorf("%w: decision: %v", errCorrupt, err)
	}
	return d, nil
}

// timeKey encodes a time so that byte order is time order, including
// before 1970.
func timeKey(t time.Time) [8]byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(t.UnixNano())^(1<<63))
	return k
}

func timeFromKey(b []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)^(1<<63))).UTC()
}

// identKey is kind then hash: 33 bytes.
func identKey(id store.Identifier) []byte {
	k := make([]byte, 0, 1+store.HashSize)
	k = append(k, byte(id.Kind))
	return append(k, id.Hash[:]...)
}

// eventPrefix is series, a zero byte, then the identifier: every event of
// one series and key sits together, ordered by time after it.
func eventPrefix(series string, key store.Identifier) []byte {
	return appendEventPrefix(make([]byte, 0, len(series)+2+store.HashSize), series, key)
}

func appendEventPrefix(b []byte, series string, key store.Identifier) []byte {
	b = append(b, series...)
	b = append(b, 0, byte(key.Kind))
	return append(b, key.Hash[:]...)
}

// appendEventKey appends the event's key: its prefix, time and ID.
func appendEventKey(b []byte, e store.Event) []byte {
	b = appendEventPrefix(b, e.Series, e.Key)
	tk := timeKey(e.At)
	b = append(b, tk[:]...)
	return append(b, e.ID...)
}

const eventV1 = 1

func appendEvent(b []byte, e store.Event) []byte {
	b = append(b, eventV1)
	b = binary.AppendVarint(b, e.Amount)
	b = binary.AppendVarint(b, e.Quantity)
	return append(b, e.Ref...)
}

// decodeEvent rebuilds an event from its key and value.
func decodeEvent(prefixLen int, key, val []byte) (store.Event, error) {
	var e store.Event
	if len(key) < prefixLen+8 || len(val) < 1 || val[0] != eventV1 {
		return e, fmt.Errorf("%w: event", errCorrupt)
	}
	e.At = timeFromKey(key[prefixLen : prefixLen+8])
	e.ID = string(key[prefixLen+8:])
	val = val[1:]
	var n int
	if e.Amount, n = binary.Varint(val); n <= 0 {
		return e, fmt.Errorf("%w: event amount", errCorrupt)
	}
	val = val[n:]
	if e.Quantity, n = binary.Varint(val); n <= 0 {
		return e, fmt.Errorf("%w: event quantity", errCorrupt)
	}
	e.Ref = string(val[n:])
	return e, nil
}

// appendSubjects appends ids, each its kind and hash, to b: a batch entry's
// value is its time key followed by them.
func appendSubjects(b []byte, ids []store.Identifier) []byte {
	for _, id := range ids {
		b = append(b, byte(id.Kind))
		b = append(b, id.Hash[:]...)
	}
	return b
}

// decodeBatch returns the subjects of a batch entry's value. Entries
// written before subjects were kept (and those imported from bbolt) hold
// the time key alone, and have none.
func decodeBatch(v []byte) ([]store.Identifier, error) {
	const size = 1 + store.HashSize
	if len(v) < 8 || (len(v)-8)%size != 0 {
		return nil, fmt.Errorf("%w: batch entry of %d bytes", errCorrupt, len(v))
	}
	v = v[8:]
	ids := make([]store.Identifier, 0, len(v)/size)
	for ; len(v) > 0; v = v[size:] {
		id := store.Identifier{Kind: store.Kind(v[0])}
		if !id.Kind.Valid() {
			return nil, fmt.Errorf("%w: batch subject of kind %d", errCorrupt, v[0])
		}
		copy(id.Hash[:], v[1:size])
		ids = append(ids, id)
	}
	return ids, nil
}
