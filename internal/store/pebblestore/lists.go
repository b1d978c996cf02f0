package pebblestore

// The named lists in the LSM. Keys:
//
//	T name                  a list: purpose, description, who and when
//	U name 0 entry-id       an entry: its value, reason, adder, times
//	V name 0 value          the entry ID a list holds for a value
//	W value                 the lookup index: every entry of any list for
//	                        that value, with its list, purpose and expiry
//
// A value is its kind, 0 and its 32-byte hash; an IP range is the IP kind,
// its family (4 or 6), its bits and its masked address. A decision's
// lookup asks the in-memory index (listIndex) for each identifier and for
// each length of range held (a handful at most), and reads W only for
// values it holds: whatever the number of entries, a miss reads nothing.
// Every write goes through the commit loop, whose writes are serial, so an
// entry's three keys, W and the in-memory index never disagree.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/riskd/riskd/internal/store"
)

const (
	pLists      byte = 'T'
	pListEntry  byte = 'U'
	pListValue  byte = 'V'
	pListLookup byte = 'W'
)

const (
	listV1      = 1
	listEntryV1 = 1
)

// valueKey appends a list value's key: kind, 0, hash; or kind, family,
// bits, address for a range.
func appendValueKey(b []byte, v store.ListValue) []byte {
	b = append(b, byte(v.ID.Kind))
	if !v.IsRange() {
		b = append(b, 0)
		return append(b, v.ID.Hash[:]...)
	}
	a := v.Range.Addr()
	if a.Is4() {
		a4 := a.As4()
		return append(append(b, 4, byte(v.Range.Bits())), a4[:]...)
	}
	a16 := a.As16()
	return append(append(b, 6, byte(v.Range.Bits())), a16[:]...)
}

// readValueKey parses appendValueKey's bytes.
func readValueKey(b []byte) (store.ListValue, error) {
	var v store.ListValue
	if len(b) < 2 {
		return v, fmt.Errorf("%w: list value", errCorrupt)
	}
	v.ID.Kind = store.Kind(b[0])
	switch {
	case b[1] == 0 && len(b) == 2+store.HashSize:
		copy(v.ID.Hash[:], b[2:])
		return v, nil
	case b[1] == 4 && len(b) == 3+4:
		v.Range = netip.PrefixFrom(netip.AddrFrom4([4]byte(b[3:])), int(b[2]))
	case b[1] == 6 && len(b) == 3+16:
		v.Range = netip.PrefixFrom(netip.AddrFrom16([16]byte(b[3:])), int(b[2]))
	default:
		return v, fmt.Errorf("%w: list value", errCorrupt)
	}
	if !v.Range.IsValid() {
		return v, fmt.Errorf("%w: list range", errCorrupt)
	}
	return v, nil
}

func listKey(name string) []byte { return key(pLists, []byte(name)) }

func listEntryKey(list, id string) []byte {
	return key(pListEntry, []byte(list), []byte{0}, []byte(id))
}

func listValueKey(list string, v store.ListValue) []byte {
	return appendValueKey(key(pListValue, []byte(list), []byte{0}), v)
}

func lookupKey(v store.ListValue) []byte { return appendValueKey([]byte{pListLookup}, v) }

func encodeList(l store.List) []byte {
	b := []byte{listV1, byte(l.Purpose)}
	b = appendTime(b, l.CreatedAt)
	b = appendString(b, l.CreatedBy)
	return appendString(b, l.Description)
}

func decodeList(name string, v []byte) (store.List, error) {
	l := store.List{Name: name}
	r := valueReader{b: v}
	if head := r.bytes(2, "list format"); head == nil || head[0] != listV1 {
		return l, fmt.Errorf("%w: unknown list format", errCorrupt)
	} else {
		l.Purpose = store.ListPurpose(head[1])
	}
	l.CreatedAt = r.time("list created")
	l.CreatedBy = r.string("list creator")
	l.Description = r.string("list description")
	if r.err == nil && len(r.b) != 0 {
		r.fail("list")
	}
	return l, r.err
}

func encodeListEntry(e store.ListEntry) []byte {
	b := []byte{listEntryV1}
	vk := appendValueKey(nil, e.Value)
	b = appendString(b, string(vk))
	b = appendTime(b, e.AddedAt)
	b = appendTime(b, e.Expires)
	b = appendString(b, e.AddedBy)
	return appendString(b, e.Reason)
}

func decodeListEntry(list, id string, v []byte) (store.ListEntry, error) {
	e := store.ListEntry{ID: id, List: list}
	r := valueReader{b: v}
	if head := r.bytes(1, "entry format"); head == nil || head[0] != listEntryV1 {
		return e, fmt.Errorf("%w: unknown list entry format", errCorrupt)
	}
	vk := r.string("entry value")
	e.AddedAt, e.Expires = r.time("entry added"), r.time("entry expires")
	e.AddedBy, e.Reason = r.string("entry adder"), r.string("entry reason")
	if r.err != nil {
		return e, r.err
	}
	if len(r.b) != 0 {
		return e, fmt.Errorf("%w: list entry", errCorrupt)
	}
	var err error
	e.Value, err = readValueKey([]byte(vk))
	return e, err
}

// posting is one entry in the lookup index of a value.
type posting struct {
	list    string
	purpose store.ListPurpose
	entryID string
	expires time.Time
}

func encodePostings(ps []posting) []byte {
	b := binary.AppendUvarint(nil, uint64(len(ps)))
	for _, p := range ps {
		b = appendString(b, p.list)
		b = append(b, byte(p.purpose))
		b = appendString(b, p.entryID)
		b = appendTime(b, p.expires)
	}
	return b
}

func decodePostings(v []byte) ([]posting, error) {
	r := valueReader{b: v}
	n := r.uvarint("postings")
	if r.err == nil && n > uint64(len(r.b)) {
		r.fail("postings")
	}
	out := make([]posting, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		var p posting
		p.list = r.string("posting list")
		if b := r.bytes(1, "posting purpose"); b != nil {
			p.purpose = store.ListPurpose(b[0])
		}
		p.entryID = r.string("posting entry")
		p.expires = r.time("posting expiry")
		out = append(out, p)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("postings")
	}
	return out, r.err
}

// listIndex says, from memory, which values the lookup index (W) holds
// and which lengths of IP range: a decision's identifiers are almost
// never listed, and a miss answered here costs no read of the LSM (a
// read of a large, freshly imported LSM costs about 10 µs per key, most
// of it in the tables of level 0). It holds a 64-bit hash per listed value
// (about 40 bytes each: 40 MB at a million), loaded at open by one scan
// of the index and changed after each commit that creates or deletes a
// value's index key, before the write returns: the store is one process,
// so nothing else writes. A hash present sends the lookup to the LSM,
// which has the last word; a collision costs a read, never a wrong match.
type listIndex struct {
	seed maphash.Seed
	mu   sync.RWMutex
	// values counts the index keys whose value key hashes to each hash.
	values map[uint64]int32
	// lengths counts the ranges held per family (0: IPv4, 1: IPv6) and
	// length.
	lengths [2][129]int32
}

func newListIndex() *listIndex {
	return &listIndex{seed: maphash.MakeSeed(), values: map[uint64]int32{}}
}

// listDelta is what a batch changed in the index, applied once the batch
// is durable.
type listDelta struct {
	values  map[uint64]int32
	lengths map[[2]int]int32
}

// note records a value key (its bytes after the prefix) created (+1) or
// deleted (-1) in the lookup index.
func (x *listIndex) note(t *txn, v store.ListValue, vkey []byte, d int32) {
	if t.lists == nil {
		t.lists = &listDelta{values: map[uint64]int32{}, lengths: map[[2]int]int32{}}
	}
	t.lists.values[maphash.Bytes(x.seed, vkey)] += d
	if v.IsRange() {
		t.lists.lengths[[2]int{family(v.Range.Addr()), v.Range.Bits()}] += d
	}
}

func family(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

func (x *listIndex) apply(d *listDelta) {
	if d == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for h, n := range d.values {
		if x.values[h] += n; x.values[h] <= 0 {
			delete(x.values, h)
		}
	}
	for k, n := range d.lengths {
		x.lengths[k[0]][k[1]] += n
	}
}

// has reports whether the index may hold the value key.
func (x *listIndex) has(vkey []byte) bool {
	h := maphash.Bytes(x.seed, vkey)
	x.mu.RLock()
	_, ok := x.values[h]
	x.mu.RUnlock()
	return ok
}

// rangeLengths returns the lengths of range held for an address family,
// longest first, in buf.
func (x *listIndex) rangeLengths(fam int, buf []int) []int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for bits := 128; bits >= 0; bits-- {
		if x.lengths[fam][bits] > 0 {
			buf = append(buf, bits)
		}
	}
	return buf
}

// loadListIndex reads the lookup index's keys at open.
func loadListIndex(s *Store) (*listIndex, error) {
	x := newListIndex()
	err := s.iterate(context.Background(), []byte{pListLookup}, []byte{pListLookup + 1}, func(k, _ []byte) (bool, error) {
		v, err := readValueKey(k[1:])
		if err != nil {
			return false, err
		}
		x.values[maphash.Bytes(x.seed, k[1:])]++
		if v.IsRange() {
			x.lengths[family(v.Range.Addr())][v.Range.Bits()]++
		}
		return true, nil
	})
	return x, err
}

// CreateList implements store.NamedLists.
func (s *Store) CreateList(ctx context.Context, l store.List) (store.List, bool, error) {
	if !l.Purpose.Valid() {
		return store.List{}, false, fmt.Errorf("pebblestore: list purpose %d", l.Purpose)
	}
	type result struct {
		l       store.List
		created bool
	}
	r, err := s.write(ctx, func(t *txn) (any, error) {
		old, err := getCopy(t, listKey(l.Name))
		if err != nil {
			return nil, err
		}
		if old != nil {
			stored, err := decodeList(l.Name, old)
			if err != nil {
				return nil, err
			}
			if stored.Purpose != l.Purpose {
				return nil, store.ErrListExists
			}
			return result{stored, false}, nil
		}
		return result{l, true}, t.Set(listKey(l.Name), encodeList(l), nil)
	})
	if err != nil {
		return store.List{}, false, err
	}
	res := r.(result)
	return res.l, res.created, nil
}

// Lists implements store.NamedLists.
func (s *Store) Lists(ctx context.Context) ([]store.List, error) {
	var out []store.List
	err := s.iterate(ctx, []byte{pLists}, []byte{pLists + 1}, func(k, v []byte) (bool, error) {
		l, err := decodeList(string(k[1:]), v)
		out = append(out, l)
		return err == nil, err
	})
	return out, err
}

// readList returns a list's purpose through r, or ErrNoList.
func readList(r reader, name string) (store.List, error) {
	v, err := getCopy(r, listKey(name))
	if err != nil {
		return store.List{}, err
	}
	if v == nil {
		return store.List{}, store.ErrNoList
	}
	return decodeList(name, v)
}

// AddListEntries implements store.NamedLists: one op of the commit loop, so the
// whole call is one batch, applied entirely or not at all.
func (s *Store) AddListEntries(ctx context.Context, list string, entries []store.ListEntry) ([]string, error) {
	if err := store.CheckListEntries(entries); err != nil {
		return nil, err
	}
	r, err := s.write(ctx, func(t *txn) (any, error) {
		l, err := readList(t, list)
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(entries))
		for i, e := range entries {
			e.List = list
			vkey := listValueKey(list, e.Value)
			old, err := getCopy(t, vkey)
			if err != nil {
				return nil, err
			}
			if old != nil {
				e.ID = string(old) // the value's entry keeps its ID
			} else {
				if err := t.Set(vkey, []byte(e.ID), nil); err != nil {
					return nil, err
				}
			}
			if err := t.Set(listEntryKey(list, e.ID), encodeListEntry(e), nil); err != nil {
				return nil, err
			}
			if err := s.updatePostings(t, e.Value, func(ps []posting) []posting {
				ps = slices.DeleteFunc(ps, func(p posting) bool { return p.entryID == e.ID })
				return append(ps, posting{list: list, purpose: l.Purpose, entryID: e.ID, expires: e.Expires})
			}); err != nil {
				return nil, err
			}
			ids[i] = e.ID
		}
		return ids, nil
	})
	if err != nil {
		return nil, err
	}
	return r.([]string), nil
}

// updatePostings rewrites a value's lookup index through t, and notes for
// the in-memory index a value that comes or goes.
func (s *Store) updatePostings(t *txn, v store.ListValue, change func([]posting) []posting) error {
	k := lookupKey(v)
	old, err := getCopy(t, k)
	if err != nil {
		return err
	}
	var ps []posting
	if old != nil {
		if ps, err = decodePostings(old); err != nil {
			return err
		}
	}
	ps = change(ps)
	if len(ps) == 0 {
		if old != nil {
			s.lists.note(t, v, k[1:], -1)
		}
		return t.Delete(k, nil)
	}
	if old == nil {
		s.lists.note(t, v, k[1:], +1)
	}
	return t.Set(k, encodePostings(ps), nil)
}

// deleteEntry deletes an entry's three keys and its posting through t.
func (s *Store) deleteEntry(t *txn, e store.ListEntry) error {
	if err := t.Delete(listEntryKey(e.List, e.ID), nil); err != nil {
		return err
	}
	if err := t.Delete(listValueKey(e.List, e.Value), nil); err != nil {
		return err
	}
	return s.updatePostings(t, e.Value, func(ps []posting) []posting {
		return slices.DeleteFunc(ps, func(p posting) bool { return p.entryID == e.ID })
	})
}

// RemoveListEntry implements store.NamedLists.
func (s *Store) RemoveListEntry(ctx context.Context, list, entryID string) error {
	_, err := s.write(ctx, func(t *txn) (any, error) {
		v, err := getCopy(t, listEntryKey(list, entryID))
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, store.ErrNoListEntry
		}
		e, err := decodeListEntry(list, entryID, v)
		if err != nil {
			return nil, err
		}
		return nil, s.deleteEntry(t, e)
	})
	return err
}

// ListEntries implements store.NamedLists.
func (s *Store) ListEntries(ctx context.Context, q store.ListEntryQuery) ([]store.ListEntry, error) {
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	if _, err := readList(s.db, q.List); err != nil {
		return nil, err
	}
	prefix := key(pListEntry, []byte(q.List), []byte{0})
	lower := prefix
	if q.After != "" {
		lower = append(bytes.Clone(prefix), q.After...)
		lower = append(lower, 0) // the first ID after q.After
	}
	var out []store.ListEntry
	err := s.iterate(ctx, lower, upperBound(prefix), func(k, v []byte) (bool, error) {
		e, err := decodeListEntry(q.List, string(k[len(prefix):]), v)
		out = append(out, e)
		return err == nil && (q.Limit <= 0 || len(out) < q.Limit), err
	})
	return out, err
}

// MatchLists implements store.NamedLists. A value the in-memory index
// does not hold is answered without a read; one it holds is read from the
// LSM, which has the last word.
func (s *Store) MatchLists(ctx context.Context, p store.ListProbe) ([]store.ListMatch, error) {
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	var out []store.ListMatch
	var buf [1 + 1 + 1 + store.HashSize]byte
	var err error
	for _, id := range p.IDs {
		v := store.ListValue{ID: id}
		if out, err = s.matchValue(appendValueKey(append(buf[:0], pListLookup), v), v, p.Now, out); err != nil {
			return nil, err
		}
	}
	if !p.IP.IsValid() {
		return out, nil
	}
	ip := p.IP.Unmap()
	var lengths [129]int
	for _, bits := range s.lists.rangeLengths(family(ip), lengths[:0]) {
		r, err := ip.Prefix(bits)
		if err != nil {
			continue
		}
		v := store.ListValue{ID: store.Identifier{Kind: store.KindIP}, Range: r}
		if out, err = s.matchValue(appendValueKey(append(buf[:0], pListLookup), v), v, p.Now, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// matchValue appends the live entries of a value's lookup key k to out.
func (s *Store) matchValue(k []byte, v store.ListValue, now time.Time, out []store.ListMatch) ([]store.ListMatch, error) {
	if !s.lists.has(k[1:]) {
		return out, nil
	}
	raw, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	defer closer.Close()
	ps, err := decodePostings(raw)
	if err != nil {
		return out, err
	}
	for _, po := range ps {
		if po.expires.IsZero() || now.Before(po.expires) {
			out = append(out, store.ListMatch{List: po.list, Purpose: po.purpose, EntryID: po.entryID, Value: v})
		}
	}
	return out, nil
}

// DeleteListValues implements store.NamedLists.
func (s *Store) DeleteListValues(ctx context.Context, ids []store.Identifier) (int, error) {
	r, err := s.write(ctx, func(t *txn) (any, error) {
		n := 0
		for _, id := range ids {
			v := store.ListValue{ID: id}
			raw, err := getCopy(t, lookupKey(v))
			if err != nil || raw == nil {
				if err != nil {
					return nil, err
				}
				continue
			}
			ps, err := decodePostings(raw)
			if err != nil {
				return nil, err
			}
			for _, po := range ps {
				if err := s.deleteEntry(t, store.ListEntry{ID: po.entryID, List: po.list, Value: v}); err != nil {
					return nil, err
				}
				n++
			}
		}
		return n, nil
	})
	if err != nil {
		return 0, err
	}
	if n := r.(int); n > 0 {
		// An erasure calls this: the deleted values must leave the
		// tables and the WAL too, not only become unreachable. Erasures
		// are rare; compacting the lists' keys costs a pass over them.
		if err := s.db.Flush(); err != nil {
			return n, err
		}
		if err := s.db.Compact(ctx, []byte{pLists}, []byte{pListLookup + 1}, false); err != nil {
			return n, err
		}
	}
	return r.(int), nil
}
