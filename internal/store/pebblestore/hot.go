package pebblestore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/riskd/riskd/internal/store"
)

// HotWindow is how far back the in-memory index of events reaches at
// least: the windows that every gift-card decision reads (velocity's
// 10 min, 1 h and 24 h, spending's "last day") with an hour to spare. A
// read of a window inside it is served from memory, with no storage
// iterator; an older window (the spending look-back) is read from the
// cache of older events (coldIndex) or the LSM.
const HotWindow = 25 * time.Hour

// hotSlack is how much further back than HotWindow the index may reach
// before expiry moves its start: moving it in steps of an hour, not at
// every expiry run, is what lets the cache of older events stay valid
// between steps.
const hotSlack = time.Hour

// hotShards spreads the index over independent locks: keys are keyed
// hashes, so their first byte spreads evenly.
const hotShards = 64

// hotEvent is one event as the index keeps it; series and key are the
// map key it sits under.
type hotEvent struct {
	at       int64 // UnixNano
	id       string
	amount   int64
	quantity int64
	ref      string
}

type hotShard struct {
	mu sync.RWMutex
	// events maps eventPrefix to its events ordered by (at, id), as the
	// LSM orders them. Lists are held by pointer so that adding to a known
	// key does not store the key again (which would copy it).
	events map[string]*[]hotEvent
}

// hotIndex keeps every stored event with At at or after from in memory.
// That invariant is what makes a read from it exact: it is established at
// open (rebuilt from the expiry index, which is ordered by time) and kept
// by adding each committed event before its commit is acknowledged. from
// only moves forward: with time (older events are pruned) and past every
// expiry cutoff (an expired event leaves the LSM, so it must not be read
// here either).
type hotIndex struct {
	fromMu sync.RWMutex
	from   time.Time
	shards [hotShards]hotShard
}

func newHotIndex(from time.Time) *hotIndex {
	h := &hotIndex{from: from}
	for i := range h.shards {
		h.shards[i].events = map[string]*[]hotEvent{}
	}
	return h
}

func (h *hotIndex) shard(prefix []byte) *hotShard {
	return &h.shards[prefix[len(prefix)-1]%hotShards]
}

// covers reports whether every stored event at or after since is here.
func (h *hotIndex) covers(since time.Time) bool {
	h.fromMu.RLock()
	defer h.fromMu.RUnlock()
	return !since.Before(h.from)
}

func (h *hotIndex) fromNanos() int64 {
	h.fromMu.RLock()
	defer h.fromMu.RUnlock()
	return h.from.UnixNano()
}

// nextFrom is where expiry at now (with events before cutoff expired)
// moves from to: the cutoff if it is later, the window's start if from lags
// it by more than hotSlack, else nowhere.
func (h *hotIndex) nextFrom(now, cutoff time.Time) time.Time {
	h.fromMu.RLock()
	from := h.from
	h.fromMu.RUnlock()
	next := cutoff
	if w := now.Add(-HotWindow); from.Before(w.Add(-hotSlack)) && w.After(next) {
		next = w
	}
	return next
}

// raise moves from forward to t, if t is later.
func (h *hotIndex) raise(t time.Time) {
	h.fromMu.Lock()
	if t.After(h.from) {
		h.from = t
	}
	h.fromMu.Unlock()
}

// add puts events that were just made durable into the index. Events
// before from are left out: no read from memory reaches them.
func (h *hotIndex) add(events []store.Event) {
	h.fromMu.RLock()
	from := h.from
	h.fromMu.RUnlock()
	var buf [128]byte
	for _, e := range events {
		if e.At.Before(from) {
			continue
		}
		prefix := appendEventPrefix(buf[:0], e.Series, e.Key)
		sh := h.shard(prefix)
		he := hotEvent{at: e.At.UnixNano(), id: e.ID, amount: e.Amount, quantity: e.Quantity, ref: e.Ref}
		sh.mu.Lock()
		list := sh.events[string(prefix)]
		if list == nil {
			list = new([]hotEvent)
			sh.events[string(prefix)] = list
		}
		i, found := slices.BinarySearchFunc(*list, he, compareHot)
		if !found { // the same event twice is one event, as in the LSM
			*list = slices.Insert(*list, i, he)
			// Prune this key's expired front while it is in hand.
			if cut, _ := slices.BinarySearchFunc(*list, hotEvent{at: from.UnixNano()}, compareHot); cut > 0 {
				*list = slices.Delete(*list, 0, cut)
			}
		}
		sh.mu.Unlock()
	}
}

// remove takes events that an erasure deleted out of the index, once the
// deletion is durable.
func (h *hotIndex) remove(events []store.Event) {
	var buf [128]byte
	for _, e := range events {
		prefix := appendEventPrefix(buf[:0], e.Series, e.Key)
		sh := h.shard(prefix)
		sh.mu.Lock()
		if list := sh.events[string(prefix)]; list != nil {
			if i, found := slices.BinarySearchFunc(*list, hotEvent{at: e.At.UnixNano(), id: e.ID}, compareHot); found {
				*list = slices.Delete(*list, i, i+1)
			}
			if len(*list) == 0 {
				delete(sh.events, string(prefix))
			}
		}
		sh.mu.Unlock()
	}
}

func compareHot(a, b hotEvent) int {
	if a.at != b.at {
		if a.at < b.at {
			return -1
		}
		return 1
	}
	return strings.Compare(a.id, b.id)
}

// scan calls fn for each event of series and key with At in [since,
// until), oldest first, at most limit (0: all). ok is false if the index
// does not cover since; the caller reads the LSM then.
func (h *hotIndex) scan(series string, key store.Identifier, since, until time.Time, limit int, fn func(store.Event)) (ok bool) {
	if !h.covers(since) {
		return false
	}
	var buf [128]byte
	prefix := appendEventPrefix(buf[:0], series, key)
	sh := h.shard(prefix)
	lo, hi := since.UnixNano(), until.UnixNano()
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	var list []hotEvent
	if l := sh.events[string(prefix)]; l != nil {
		list = *l
	}
	i, _ := slices.BinarySearchFunc(list, hotEvent{at: lo}, compareHot)
	n := 0
	for ; i < len(list) && list[i].at < hi; i++ {
		e := list[i]
		fn(store.Event{ID: e.id, Series: series, Key: key, At: time.Unix(0, e.at).UTC(), Amount: e.amount, Quantity: e.quantity, Ref: e.ref})
		if n++; limit > 0 && n >= limit {
			break
		}
	}
	return true
}

// prune drops what is older than cutoff from every key and raises from to
// it, one shard at a time, so readers of other shards never wait.
func (h *hotIndex) prune(cutoff time.Time) {
	h.fromMu.RLock()
	moved := cutoff.After(h.from)
	h.fromMu.RUnlock()
	if !moved {
		return // every list was trimmed to from as it grew
	}
	h.raise(cutoff)
	c := cutoff.UnixNano()
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for k, list := range sh.events {
			cut, _ := slices.BinarySearchFunc(*list, hotEvent{at: c}, compareHot)
			switch {
			case cut == len(*list):
				delete(sh.events, k)
			case cut > 0:
				*list = slices.Clone((*list)[cut:])
			}
		}
		sh.mu.Unlock()
	}
}

// size counts the keys and events held, for the start-up log line.
func (h *hotIndex) size() (keys, events int) {
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		keys += len(sh.events)
		for _, l := range sh.events {
			events += len(*l)
		}
		sh.mu.RUnlock()
	}
	return keys, events
}

// rebuild loads every stored event at or after h.from, through the events'
// expiry index: it is ordered by time, so only the hot window is read, in
// one sequential scan, because each item carries its event's value
// (tagEventValue). Items of stores written before that (tagEvent) name
// the event only; those events are read from the LSM, in key order through
// one iterator.
func (h *hotIndex) rebuild(s *Store) error {
	from := timeKey(h.from)
	var keys [][]byte
	var batch []store.Event
	err := s.iterate(context.Background(), key(pExpEvents, from[:]), []byte{pExpEvents + 1}, func(k, v []byte) (bool, error) {
		if len(k) < 10 {
			return false, fmt.Errorf("%w: expiry key", errCorrupt)
		}
		if k[9] != tagGroup {
			return true, nil
		}
		return true, items{v}.each(func(tag byte, item []byte) error {
			switch tag {
			case tagEvent:
				keys = append(keys, key(pEvents, item))
			case tagEventValue:
				ek, ev, err := splitEventValue(item)
				if err != nil {
					return err
				}
				e, err := decodeStoredEvent(ek, ev)
				if err != nil {
					return err
				}
				batch = append(batch, e)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("pebblestore: rebuild the in-memory event index: %w", err)
	}
	slices.SortFunc(keys, bytes.Compare)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pEvents}, UpperBound: []byte{pEvents + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for _, k := range keys {
		if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) {
			continue // expired meanwhile
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		e, err := decodeStoredEvent(k[1:], v)
		if err != nil {
			return fmt.Errorf("pebblestore: rebuild the in-memory event index: %w", err)
		}
		batch = append(batch, e)
	}
	if err := it.Error(); err != nil {
		return err
	}
	h.add(batch)
	return nil
}

// decodeStoredEvent rebuilds an event, series and key included, from its
// full key (without the bucket prefix) and value.
func decodeStoredEvent(k, v []byte) (store.Event, error) {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) < i+2+store.HashSize+8 {
		return store.Event{}, fmt.Errorf("%w: event key", errCorrupt)
	}
	var id store.Identifier
	id.Kind = store.Kind(k[i+1])
	copy(id.Hash[:], k[i+2:i+2+store.HashSize])
	e, err := decodeEvent(i+2+store.HashSize, k, v)
	if err != nil {
		return e, err
	}
	e.Series, e.Key = string(k[:i]), id
	return e, nil
}

// markSet holds every identifier that has, or may have, a mark (an
// outcome reported on one of its decisions, or marked through
// RecordEvents). Marks are rare and every decision asks for the marks of
// each of its identifiers, so the set answers the common "none" from
// memory. It may hold identifiers whose marks have expired since: those
// are read from the LSM, which answers exactly. It never lacks one that
// has a mark: it is loaded at open and each commit adds its marks before
// it is acknowledged.
type markSet struct {
	mu  sync.RWMutex
	ids map[store.Identifier]struct{}
}

func loadMarkSet(s *Store) (*markSet, error) {
	m := &markSet{ids: map[store.Identifier]struct{}{}}
	err := s.iterate(context.Background(), []byte{pMarks}, []byte{pMarks + 1}, func(k, _ []byte) (bool, error) {
		if len(k) < 2+store.HashSize {
			return false, fmt.Errorf("%w: mark key", errCorrupt)
		}
		var id store.Identifier
		id.Kind = store.Kind(k[1])
		copy(id.Hash[:], k[2:2+store.HashSize])
		m.ids[id] = struct{}{}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: load the marked identifiers: %w", err)
	}
	return m, nil
}

func (m *markSet) add(ids []store.Identifier) {
	if len(ids) == 0 {
		return
	}
	m.mu.Lock()
	for _, id := range ids {
		m.ids[id] = struct{}{}
	}
	m.mu.Unlock()
}

func (m *markSet) has(id store.Identifier) bool {
	m.mu.RLock()
	_, ok := m.ids[id]
	m.mu.RUnlock()
	return ok
}

// maxKnownLinks bounds the set of known link keys: about 100 bytes each
// (key and map entry), so 13 MB when full.
const maxKnownLinks = 1 << 17

// linkSet holds link keys known to be stored, so a decision that uses an
// identifier its subject used before (the common case) skips reading the
// LSM to find that out. It may lack stored links (it starts empty and
// forgets some when full), never hold one that is not stored: a key enters
// only once a batch that found or wrote it is durable, and leaves when
// expiry deletes it. Only the commit loop's goroutine touches it, so it
// has no lock.
type linkSet struct {
	keys map[string]struct{}
	max  int
}

func newLinkSet(max int) *linkSet { return &linkSet{keys: make(map[string]struct{}), max: max} }

func (l *linkSet) has(k []byte) bool { _, ok := l.keys[string(k)]; return ok }

func (l *linkSet) forget(k []byte) { delete(l.keys, string(k)) }

func (l *linkSet) add(keys []string) {
	for _, k := range keys {
		if len(l.keys) >= l.max {
			l.evict()
		}
		l.keys[k] = struct{}{}
	}
}

// evict forgets about an eighth of the keys, chosen by map iteration order
// (random): cheaper than keeping recency, and a forgotten key costs one
// read of the LSM the next time.
func (l *linkSet) evict() {
	n := len(l.keys) / 8
	for k := range l.keys {
		if n <= 0 {
			break
		}
		delete(l.keys, k)
		n--
	}
}
