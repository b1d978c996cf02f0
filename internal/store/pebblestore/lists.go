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
// lookup is one point read of W per identifier (bloom filters skip every
// table without it, so a miss costs no disk read), plus one per length of
// range held (a handful at most), whatever the number of entries. Every
// write goes through the commit loop, whose writes are serial, so an
// entry's three keys and the index never disagree.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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

// rangeLengths counts the ranges held per family and length, so that a
// lookup reads only the lengths there are. It is loaded at open and
// changed after each commit that adds or removes a range.
type rangeLengths struct {
	mu sync.RWMutex
	n  map[[2]byte]int // {4 or 6, bits} -> ranges
}

func (r *rangeLengths) apply(delta map[[2]byte]int) {
	if len(delta) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, d := range delta {
		if r.n[k] += d; r.n[k] <= 0 {
			delete(r.n, k)
		}
	}
}

// lengths returns the lengths held for an address's family, longest first.
func (r *rangeLengths) lengths(family byte) []int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []int
	for k := range r.n {
		if k[0] == family {
			out = append(out, int(k[1]))
		}
	}
	return out
}

func loadRangeLengths(s *Store) (*rangeLengths, error) {
	r := &rangeLengths{n: map[[2]byte]int{}}
	lower := []byte{pListLookup, byte(store.KindIP), 1}
	err := s.iterate(context.Background(), lower, []byte{pListLookup, byte(store.KindIP), 7}, func(k, _ []byte) (bool, error) {
		v, err := readValueKey(k[1:])
		if err != nil {
			return false, err
		}
		r.n[rangeKey(v.Range)]++
		return true, nil
	})
	return r, err
}

func rangeKey(p netip.Prefix) [2]byte {
	if p.Addr().Is4() {
		return [2]byte{4, byte(p.Bits())}
	}
	return [2]byte{6, byte(p.Bits())}
}

// noteRange records, for after the commit, a range added (+1) or removed.
func (t *txn) noteRange(v store.ListValue, d int) {
	if !v.IsRange() {
		return
	}
	if t.ranges == nil {
		t.ranges = map[[2]byte]int{}
	}
	t.ranges[rangeKey(v.Range)] += d
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
				t.noteRange(e.Value, +1)
				if err := t.Set(vkey, []byte(e.ID), nil); err != nil {
					return nil, err
				}
			}
			if err := t.Set(listEntryKey(list, e.ID), encodeListEntry(e), nil); err != nil {
				return nil, err
			}
			if err := updatePostings(t, e.Value, func(ps []posting) []posting {
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

// updatePostings rewrites a value's lookup index through t.
func updatePostings(t *txn, v store.ListValue, change func([]posting) []posting) error {
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
		return t.Delete(k, nil)
	}
	return t.Set(k, encodePostings(ps), nil)
}

// deleteEntry deletes an entry's three keys and its posting through t.
func deleteEntry(t *txn, e store.ListEntry) error {
	if err := t.Delete(listEntryKey(e.List, e.ID), nil); err != nil {
		return err
	}
	if err := t.Delete(listValueKey(e.List, e.Value), nil); err != nil {
		return err
	}
	t.noteRange(e.Value, -1)
	return updatePostings(t, e.Value, func(ps []posting) []posting {
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
		return nil, deleteEntry(t, e)
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

// MatchLists implements store.NamedLists.
func (s *Store) MatchLists(ctx context.Context, p store.ListProbe) ([]store.ListMatch, error) {
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	var out []store.ListMatch
	var buf [3 + 16 + 1]byte
	// A value's key is built in buf: a probe of a decision allocates
	// nothing until it finds an entry.
	read := func(v store.ListValue) error {
		k := appendValueKey(append(buf[:0], pListLookup), v)
		raw, closer, err := s.db.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		defer closer.Close()
		ps, err := decodePostings(raw)
		if err != nil {
			return err
		}
		for _, po := range ps {
			if po.expires.IsZero() || p.Now.Before(po.expires) {
				out = append(out, store.ListMatch{List: po.list, Purpose: po.purpose, EntryID: po.entryID, Value: v})
			}
		}
		return nil
	}
	for _, id := range p.IDs {
		if err := read(store.ListValue{ID: id}); err != nil {
			return nil, err
		}
	}
	if p.IP.IsValid() {
		ip := p.IP.Unmap()
		family := byte(6)
		if ip.Is4() {
			family = 4
		}
		for _, bits := range s.ranges.lengths(family) {
			r, err := ip.Prefix(bits)
			if err != nil {
				continue
			}
			if err := read(store.ListValue{ID: store.Identifier{Kind: store.KindIP}, Range: r}); err != nil {
				return nil, err
			}
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
				if err := deleteEntry(t, store.ListEntry{ID: po.entryID, List: po.list, Value: v}); err != nil {
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
	return r.(int), nil
}
