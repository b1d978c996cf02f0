package pebblestore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/riskd/riskd/internal/store"
)

// Bounds of the cache of older events. An event held costs about 100
// bytes (its fields and ID), so a full cache is about 50 MB; a key with
// more events than coldMaxPerKey is read from the LSM every time.
const (
	coldMaxEvents = 1 << 19
	coldMaxPerKey = 512
)

// coldIndex caches, per series and key, the stored events older than the
// in-memory window, for the reads that reach further back: the spending
// verifier reads an account's gift-card orders of the last 180 days on
// every gift-card decision. A read is served as the cached events from
// since up to the window's start, then the window (hotIndex).
//
// An entry is exact for [from, upTo): it holds every stored event of its
// key in that span. It is filled by a read of the LSM, extended (again by
// a read) as the window's start moves forward past upTo, and kept exact
// against writes by the commit path: a committed event older than the
// window's start is added to its key's entry, an event expiry deleted is
// removed from it, and either bumps the shard's generation, so a fill
// that raced with it is thrown away rather than installed without it.
type coldIndex struct {
	shards [hotShards]coldShard
}

type coldShard struct {
	mu      sync.Mutex
	gen     uint64
	held    int // events held by the shard's entries
	entries map[string]*coldEntry
}

type coldEntry struct {
	from, upTo int64      // UnixNano
	events     []hotEvent // ordered by (at, id)
}

func newColdIndex() *coldIndex {
	c := &coldIndex{}
	for i := range c.shards {
		c.shards[i].entries = map[string]*coldEntry{}
	}
	return c
}

func (c *coldIndex) shard(prefix []byte) *coldShard {
	return &c.shards[prefix[len(prefix)-1]%hotShards]
}

// remove takes events that expiry deleted (by their keys, without the
// bucket prefix) out of their entries, once the deletion is durable. A
// nil index (tests that read the LSM alone) holds nothing.
func (c *coldIndex) remove(keys [][]byte) {
	if c == nil {
		return
	}
	for _, k := range keys {
		// The key alone names the event; the value is a placeholder.
		e, err := decodeStoredEvent(k, []byte{eventV1, 0, 0})
		if err != nil {
			c.clear() // an unreadable key cannot be found: forget everything
			return
		}
		prefix := k[:len(k)-8-len(e.ID)]
		sh := c.shard(prefix)
		sh.mu.Lock()
		sh.gen++
		if en := sh.entries[string(prefix)]; en != nil {
			if i, found := slices.BinarySearchFunc(en.events, hotEvent{at: e.At.UnixNano(), id: e.ID}, compareHot); found {
				en.events = slices.Delete(en.events, i, i+1)
				sh.held--
			}
		}
		sh.mu.Unlock()
	}
}

func (c *coldIndex) clear() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.gen++
		clear(sh.entries)
		sh.held = 0
		sh.mu.Unlock()
	}
}

// add puts committed events older than hotFrom (the window's start, which
// the hot index left out) into the entries that span them. It runs after
// the commit and before the commit is acknowledged.
func (c *coldIndex) add(events []store.Event, hotFrom int64) {
	if c == nil || len(events) == 0 {
		return
	}
	var buf [128]byte
	for _, e := range events {
		at := e.At.UnixNano()
		if at >= hotFrom {
			continue
		}
		prefix := appendEventPrefix(buf[:0], e.Series, e.Key)
		sh := c.shard(prefix)
		sh.mu.Lock()
		sh.gen++
		if en := sh.entries[string(prefix)]; en != nil && at >= en.from && at < en.upTo {
			he := hotEvent{at: at, id: e.ID, amount: e.Amount, quantity: e.Quantity, ref: e.Ref}
			if i, found := slices.BinarySearchFunc(en.events, he, compareHot); !found {
				en.events = slices.Insert(en.events, i, he)
				sh.held++
				if len(en.events) > coldMaxPerKey {
					sh.drop(string(prefix), en)
				}
			}
		}
		sh.mu.Unlock()
	}
}

// drop removes an entry; the caller holds the shard's lock.
func (sh *coldShard) drop(k string, en *coldEntry) {
	sh.held -= len(en.events)
	delete(sh.entries, k)
}

// install puts a filled entry in place, unless a commit touched the shard
// since gen was read, making room by dropping other entries (map order:
// random) if the shard holds its share of coldMaxEvents.
func (sh *coldShard) install(k string, en *coldEntry, gen uint64) bool {
	if sh.gen != gen || len(en.events) > coldMaxPerKey {
		return false
	}
	if old := sh.entries[k]; old != nil {
		sh.drop(k, old)
	}
	for other, o := range sh.entries {
		if sh.held+len(en.events) <= coldMaxEvents/hotShards {
			break
		}
		sh.drop(other, o)
	}
	sh.entries[k] = en
	sh.held += len(en.events)
	return true
}

// scanCold answers a read that reaches before the in-memory window from
// the cache, filling or extending the key's entry from the LSM as needed.
// ok is false when the cache cannot answer (the key has too many events, or
// a commit raced with the fill); the caller reads the LSM then.
func (s *Store) scanCold(ctx context.Context, series string, k store.Identifier, since, until time.Time, limit int, fn func(store.Event)) (ok bool, err error) {
	var buf [128]byte
	prefix := appendEventPrefix(buf[:0], series, k)
	sh := s.cold.shard(prefix)
	lo, hi := since.UnixNano(), until.UnixNano()
	hotFrom := s.hot.fromNanos() // after since: the caller found since before it

	sh.mu.Lock()
	en, gen := sh.entries[string(prefix)], sh.gen
	var fillFrom int64
	switch {
	case en == nil || en.from > lo:
		fillFrom = lo
		en = nil
	case en.upTo < hotFrom:
		fillFrom = en.upTo
	default:
		fillFrom = hotFrom // up to date
	}
	sh.mu.Unlock()

	if fillFrom < hotFrom {
		var more []hotEvent
		over := false
		err := s.scanLSM(ctx, series, k, time.Unix(0, fillFrom), time.Unix(0, hotFrom), coldMaxPerKey+1, func(e store.Event) {
			more = append(more, hotEvent{at: e.At.UnixNano(), id: e.ID, amount: e.Amount, quantity: e.Quantity, ref: e.Ref})
			over = len(more) > coldMaxPerKey
		})
		if err != nil || over {
			return false, err
		}
		sh.mu.Lock()
		if en == nil {
			en = &coldEntry{from: lo, upTo: hotFrom, events: more}
			if !sh.install(string(prefix), en, gen) {
				sh.mu.Unlock()
				return false, nil
			}
		} else {
			if sh.gen != gen || sh.entries[string(prefix)] != en {
				sh.mu.Unlock()
				return false, nil
			}
			sh.held += len(more)
			en.events = append(en.events, more...)
			en.upTo = hotFrom
			if len(en.events) > coldMaxPerKey {
				sh.drop(string(prefix), en)
				sh.mu.Unlock()
				return false, nil
			}
		}
	} else {
		sh.mu.Lock()
		if sh.entries[string(prefix)] != en {
			sh.mu.Unlock()
			return false, nil
		}
	}

	// The entry is exact for [en.from, hotFrom): answer that part of the
	// read from it, then the rest from the window.
	i, _ := slices.BinarySearchFunc(en.events, hotEvent{at: lo}, compareHot)
	n := 0
	for ; i < len(en.events) && en.events[i].at < hi; i++ {
		e := en.events[i]
		fn(store.Event{ID: e.id, Series: series, Key: k, At: time.Unix(0, e.at).UTC(), Amount: e.amount, Quantity: e.quantity, Ref: e.ref})
		if n++; limit > 0 && n >= limit {
			sh.mu.Unlock()
			return true, nil
		}
	}
	sh.mu.Unlock()
	if hi <= hotFrom {
		return true, nil
	}
	rest := 0
	if limit > 0 {
		rest = limit - n
	}
	from := time.Unix(0, hotFrom)
	if s.hot.scan(series, k, from, until, rest, fn) {
		return true, nil
	}
	// The window moved on since hotFrom was read: what the cache did not
	// cover is in the LSM.
	return true, s.scanLSM(ctx, series, k, from, until, rest, fn)
}
