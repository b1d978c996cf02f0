// Package boltstore is riskd's embedded store: one bbolt file in the data
// directory, needing no set-up and surviving restarts.
//
// Why bbolt: it is pure Go (the binary stays static), a single file with
// ACID transactions and fsync on commit, a B+tree whose ordered keys give
// time-windowed range scans for counters directly, and it has years of
// production use under etcd. SQLite (modernc) would add a SQL layer and a
// much larger dependency for queries this store does not need.
//
// bbolt allows one writer at a time and each commit costs an fsync, so
// writes go through a group-commit loop: concurrent commits that queue up
// while one transaction is syncing are applied together in the next
// transaction and share its fsync. A lone commit never waits for company,
// so latency at low load is one fsync, and throughput under load is many
// decisions per fsync.
package boltstore

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// FileName is the database file inside the data directory.
const FileName = "riskd.db"

// Buckets. Names are stored on disk: never rename without a migration.
var (
	bMeta         = []byte("meta")
	bDecisions    = []byte("decisions")     // decision id -> record
	bRequests     = []byte("requests")      // check byte + request id -> decision id
	bEvents       = []byte("events")        // series 0 kind hash time id -> amount, quantity, ref
	bBatches      = []byte("batches")       // RecordEvents event id -> time
	bLinks        = []byte("links")         // kind hash subject -> time
	bMarks        = []byte("marks")         // kind hash decision-id 0 label -> time
	bOutcomes     = []byte("outcomes")      // decision id 0 label -> time, note
	bExpEvents    = []byte("expire_events") // time tag key -> nil, for events' retention
	bExpDecisions = []byte("expire_decisions")
)

// Expiry indexes hold one entry per write, not per item: the key is the
// time, a tag and an ID; the value lists the (tag, key) items to delete
// with it. One entry per commit keeps commits small.
const (
	tagEvent    = 'e'
	tagBatch    = 'b'
	tagDecision = 'd'
	tagLink     = 'l'
	tagMark     = 'm'
	tagOutcome  = 'o'
	tagGroup    = 'g' // an entry whose value lists its items
)

// schemaVersion is the layout this code writes. migrations[i] upgrades a
// file from version i to i+1, inside the opening transaction.
const schemaVersion = 1

var migrations = []func(tx *bolt.Tx) error{
	func(tx *bolt.Tx) error { // 0 -> 1: the first layout
		for _, b := range [][]byte{bDecisions, bRequests, bEvents, bBatches, bLinks, bMarks, bOutcomes, bExpEvents, bExpDecisions} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
}

// ErrKeyMismatch means the data directory was written under another
// identifier key: every stored link would silently stop matching.
var ErrKeyMismatch = errors.New("boltstore: the identifier key differs from the one this data was written with")

// maxBatch bounds one group commit, so a burst cannot make one transaction
// (and the callers waiting on it) arbitrarily long.
const maxBatch = 256

// Options configure Open.
type Options struct {
	// KeyCheck is a fingerprint of the identifier key (never the key). The
	// first open records it; a later open with another is refused.
	KeyCheck []byte
	// LockTimeout is how long to wait for another process holding the file.
	LockTimeout time.Duration
}

// Store is the bbolt backend.
type Store struct {
	dir      string
	db       *bolt.DB
	queue    chan *op
	mu       sync.RWMutex // guards sending on queue against Close
	closed   atomic.Bool
	loopDone chan struct{}
}

var _ store.Store = (*Store)(nil)

type op struct {
	// apply runs inside the group's transaction and returns the op's
	// result. It may run twice (alone, after its group failed).
	apply func(tx *bolt.Tx) (any, error)
	// result is set by the commit loop before done is sent, and read by
	// the caller only after receiving from done: a caller that gave up
	// on its context never touches it.
	result any
	done   chan error
}

// Open opens or creates the store in dir.
func Open(dir string, o Options) (*Store, error) {
	if o.LockTimeout == 0 {
		o.LockTimeout = 2 * time.Second
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      o.LockTimeout,
		FreelistType: bolt.FreelistMapType,
		// The freelist is rebuilt on open instead of written on every
		// commit: smaller commits, same durability.
		NoFreelistSync: true,
		// Map a large address range from the start: growing the map later
		// stops every reader and writer while it is redone. It is address
		// space, not memory; the file grows as data does.
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("boltstore: %s is in use by another process", path)
		}
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return prepare(tx, o.KeyCheck) }); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{dir: dir, db: db, queue: make(chan *op, maxBatch), loopDone: make(chan struct{})}
	go s.loop()
	return s, nil
}

// prepare migrates the file to schemaVersion and checks the key.
func prepare(tx *bolt.Tx, keyCheck []byte) error {
	meta, err := tx.CreateBucketIfNotExists(bMeta)
	if err != nil {
		return err
	}
	var v uint32
	if b := meta.Get([]byte("schema_version")); b != nil {
		v = binary.BigEndian.Uint32(b)
	}
	if v > schemaVersion {
		return fmt.Errorf("boltstore: data has schema version %d, newer than this riskd's %d", v, schemaVersion)
	}
	for ; v < schemaVersion; v++ {
		if err := migrations[v](tx); err != nil {
			return fmt.Errorf("boltstore: migrate to schema %d: %w", v+1, err)
		}
	}
	if err := meta.Put([]byte("schema_version"), binary.BigEndian.AppendUint32(nil, schemaVersion)); err != nil {
		return err
	}
	if len(keyCheck) > 0 {
		stored := meta.Get([]byte("key_check"))
		if stored == nil {
			return meta.Put([]byte("key_check"), keyCheck)
		}
		if subtle.ConstantTimeCompare(stored, keyCheck) != 1 {
			return ErrKeyMismatch
		}
	}
	return nil
}

// Dir is the data directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// Close stops the commit loop after the commits already queued, then closes
// the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	close(s.queue)
	s.mu.Unlock()
	<-s.loopDone
	return s.db.Close()
}

// write queues apply for the next group commit, waits until it is durable
// and returns apply's result.
func (s *Store) write(ctx context.Context, apply func(tx *bolt.Tx) (any, error)) (any, error) {
	o := &op{apply: apply, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed.Load() {
		s.mu.RUnlock()
		return nil, store.ErrClosed
	}
	select {
	case s.queue <- o:
	case <-ctx.Done():
		s.mu.RUnlock()
		return nil, ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case err := <-o.done:
		return o.result, err
	case <-ctx.Done():
		// The write may still land; an idempotent retry finds it.
		return nil, ctx.Err()
	}
}

func (s *Store) loop() {
	defer close(s.loopDone)
	batch := make([]*op, 0, maxBatch)
	for first := range s.queue {
		batch = append(batch[:0], first)
		batch = drain(s.queue, batch)
		s.commit(batch)
	}
}

func drain(queue chan *op, batch []*op) []*op {
	for len(batch) < maxBatch {
		select {
		case o, ok := <-queue:
			if !ok {
				return batch
			}
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// commit applies a group in one transaction. If the group fails, each op is
// retried alone, so one bad op cannot fail the others.
func (s *Store) commit(batch []*op) {
	results := make([]any, len(batch))
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i, o := range batch {
			r, err := o.apply(tx)
			if err != nil {
				return err
			}
			results[i] = r
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for i, o := range batch {
			o.result = results[i]
			o.done <- err
		}
		return
	}
	for _, o := range batch {
		o.done <- s.db.Update(func(tx *bolt.Tx) error {
			r, err := o.apply(tx)
			o.result = r
			return err
		})
	}
}

func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.View(fn)
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}

func requestKey(check riskv1.Check, requestID string) []byte {
	k := make([]byte, 0, 1+len(requestID))
	k = append(k, byte(check))
	return append(k, requestID...)
}

func expKey(at time.Time, tag byte, key []byte) []byte {
	tk := timeKey(at)
	k := make([]byte, 0, 9+len(key))
	k = append(k, tk[:]...)
	k = append(k, tag)
	return append(k, key...)
}

type commitResult struct {
	stored          []byte
	fresh, conflict bool
}

// Commit implements store.DecisionLog.
func (s *Store) Commit(ctx context.Context, c store.Commit) (*riskv1.Decision, bool, error) {
	d := c.Decision
	if d == nil || d.GetDecisionId() == "" || d.GetRequestId() == "" {
		return nil, false, errors.New("boltstore: commit needs a decision with its id and request id")
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(d)
	if err != nil {
		return nil, false, err
	}
	rec := encodeRecord(record{check: d.GetCheck(), requestID: d.GetRequestId(), requestHash: c.RequestHash, subjects: c.Subjects, facts: c.Facts, decision: body})
	reqKey := requestKey(d.GetCheck(), d.GetRequestId())
	decidedAt := d.GetDecidedAt().AsTime()

	res, err := s.write(ctx, func(tx *bolt.Tx) (any, error) {
		if id := tx.Bucket(bRequests).Get(reqKey); id != nil {
			prev, err := decodeRecord(tx.Bucket(bDecisions).Get(id))
			if err != nil {
				return nil, err
			}
			if prev.requestHash != c.RequestHash {
				return commitResult{conflict: true}, nil
			}
			return commitResult{stored: bytes.Clone(prev.decision)}, nil
		}
		id := []byte(d.GetDecisionId())
		if err := tx.Bucket(bDecisions).Put(id, rec); err != nil {
			return nil, err
		}
		if err := tx.Bucket(bRequests).Put(reqKey, id); err != nil {
			return nil, err
		}
		if err := tx.Bucket(bExpDecisions).Put(expKey(decidedAt, tagDecision, id), nil); err != nil {
			return nil, err
		}
		evItems, linkItems := groups{}, groups{}
		if err := putEvents(tx, c.Events, evItems); err != nil {
			return nil, err
		}
		if err := putLinks(tx, c.Links, linkItems); err != nil {
			return nil, err
		}
		if err := evItems.put(tx, bExpEvents, id); err != nil {
			return nil, err
		}
		if err := linkItems.put(tx, bExpDecisions, id); err != nil {
			return nil, err
		}
		return commitResult{fresh: true}, nil
	})
	if err != nil {
		return nil, false, err
	}
	r := res.(commitResult)
	switch {
	case r.conflict:
		return nil, false, store.ErrRequestConflict
	case r.fresh:
		return proto.Clone(d).(*riskv1.Decision), true, nil
	}
	out := &riskv1.Decision{}
	if err := proto.Unmarshal(r.stored, out); err != nil {
		return nil, false, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return out, false, nil
}

// items collects (tag, key) pairs for an expiry entry's value.
type items struct{ b []byte }

// groups collects items by the time they expire from (as its encoded key,
// so equal instants always share a group), each to land in the entry for
// its own time.
type groups map[[8]byte]*items

func (g groups) add(at time.Time, tag byte, key []byte) {
	tk := timeKey(at)
	it := g[tk]
	if it == nil {
		it = &items{}
		g[tk] = it
	}
	it.add(tag, key)
}

// put writes one expiry entry per time, each keyed by id.
func (g groups) put(tx *bolt.Tx, index []byte, id []byte) error {
	for tk, it := range g {
		if len(it.b) == 0 {
			continue
		}
		k := make([]byte, 0, 9+len(id))
		k = append(append(append(k, tk[:]...), tagGroup), id...)
		if err := tx.Bucket(index).Put(k, it.b); err != nil {
			return err
		}
	}
	return nil
}

func (it *items) add(tag byte, key []byte) {
	it.b = append(it.b, tag)
	it.b = binary.AppendUvarint(it.b, uint64(len(key)))
	it.b = append(it.b, key...)
}

// each calls fn for every item; it stops at the first malformed one.
func (it items) each(fn func(tag byte, key []byte) error) error {
	b := it.b
	for len(b) > 0 {
		tag := b[0]
		l, n := binary.Uvarint(b[1:])
		if n <= 0 || l > uint64(len(b)-1-n) {
			return fmt.Errorf("%w: expiry entry", errCorrupt)
		}
		key := b[1+n : 1+n+int(l)]
		b = b[1+n+int(l):]
		if err := fn(tag, key); err != nil {
			return err
		}
	}
	return nil
}

// putEvents writes events. An event is its series, key, time and ID: the
// same event written twice is one key in the tree, so it counts once.
func putEvents(tx *bolt.Tx, events []store.Event, exp groups) error {
	ev := tx.Bucket(bEvents)
	for _, e := range events {
		if e.ID == "" || e.Series == "" {
			return errors.New("boltstore: an event needs an id and a series")
		}
		k := eventKey(e)
		if ev.Get(k) != nil {
			continue
		}
		if err := ev.Put(k, encodeEvent(e)); err != nil {
			return err
		}
		exp.add(e.At, tagEvent, k)
	}
	return nil
}

func putLinks(tx *bolt.Tx, links []store.Link, exp groups) error {
	lb := tx.Bucket(bLinks)
	for _, l := range links {
		k := append(identKey(l.ID), l.Subject...)
		if lb.Get(k) != nil {
			continue // the first use is the one that counts
		}
		tk := timeKey(l.At)
		if err := lb.Put(k, tk[:]); err != nil {
			return err
		}
		exp.add(l.At, tagLink, k)
	}
	return nil
}

func putMark(tx *bolt.Tx, id store.Identifier, m store.Mark) error {
	k := append(identKey(id), m.DecisionID...)
	k = append(k, 0, byte(m.Label))
	mb := tx.Bucket(bMarks)
	if mb.Get(k) != nil {
		return nil
	}
	tk := timeKey(m.At)
	if err := mb.Put(k, tk[:]); err != nil {
		return err
	}
	return tx.Bucket(bExpDecisions).Put(expKey(m.At, tagMark, k), nil)
}

// readRecord reads one decision's record. The record's slices point into
// the file's memory, valid only inside fn.
func (s *Store) readRecord(ctx context.Context, id string, fn func(record) error) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bDecisions).Get([]byte(id))
		if v == nil {
			return store.ErrNotFound
		}
		r, err := decodeRecord(v)
		if err != nil {
			return err
		}
		return fn(r)
	})
}

// Decision implements store.DecisionLog.
func (s *Store) Decision(ctx context.Context, id string) (*riskv1.Decision, error) {
	var d *riskv1.Decision
	err := s.readRecord(ctx, id, func(r record) (err error) {
		d, err = r.unmarshalDecision()
		return err
	})
	return d, err
}

// Subjects implements store.DecisionLog.
func (s *Store) Subjects(ctx context.Context, id string) ([]store.Identifier, error) {
	var out []store.Identifier
	err := s.readRecord(ctx, id, func(r record) error {
		out = slices.Clone(r.subjects)
		return nil
	})
	return out, err
}

// Facts implements store.DecisionLog.
func (s *Store) Facts(ctx context.Context, id string) ([]byte, error) {
	var out []byte
	err := s.readRecord(ctx, id, func(r record) error {
		out = bytes.Clone(r.facts)
		return nil
	})
	return out, err
}

// DecisionByRequest implements store.DecisionLog.
func (s *Store) DecisionByRequest(ctx context.Context, check riskv1.Check, requestID string) (*riskv1.Decision, [store.HashSize]byte, error) {
	var d *riskv1.Decision
	var hash [store.HashSize]byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bRequests).Get(requestKey(check, requestID))
		if id == nil {
			return store.ErrNotFound
		}
		r, err := decodeRecord(tx.Bucket(bDecisions).Get(id))
		if err != nil {
			return err
		}
		hash = r.requestHash
		d, err = r.unmarshalDecision()
		return err
	})
	return d, hash, err
}

// ScanDecisions implements store.DecisionLog.
func (s *Store) ScanDecisions(ctx context.Context, from, to time.Time, fn func(*riskv1.Decision) error) error {
	// Collect IDs in one short read, then read decisions in small
	// transactions, so a long replay never pins old pages of the file.
	var ids [][]byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bExpDecisions).Cursor()
		start, end := timeKey(from), timeKey(to)
		for k, _ := c.Seek(start[:]); k != nil && bytes.Compare(k[:8], end[:]) < 0; k, _ = c.Next() {
			if k[8] == tagDecision {
				ids = append(ids, bytes.Clone(k[9:]))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		d, err := s.Decision(ctx, string(id))
		if errors.Is(err, store.ErrNotFound) {
			continue // expired meanwhile
		}
		if err != nil {
			return err
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// Aggregate implements store.History.
func (s *Store) Aggregate(ctx context.Context, series string, key store.Identifier, since, until time.Time) (store.Aggregate, error) {
	var a store.Aggregate
	refs := map[string]struct{}{}
	err := s.scanEvents(ctx, series, key, since, until, 0, func(e store.Event) {
		a.Count++
		a.Amount += e.Amount
		a.Quantity += e.Quantity
		if e.Ref != "" {
			refs[e.Ref] = struct{}{}
		}
	})
	a.DistinctRefs = int64(len(refs))
	return a, err
}

// Events implements store.History.
func (s *Store) Events(ctx context.Context, series string, key store.Identifier, since, until time.Time, limit int) ([]store.Event, error) {
	var out []store.Event
	err := s.scanEvents(ctx, series, key, since, until, limit, func(e store.Event) { out = append(out, e) })
	return out, err
}

func (s *Store) scanEvents(ctx context.Context, series string, key store.Identifier, since, until time.Time, limit int, fn func(store.Event)) error {
	prefix := eventPrefix(series, key)
	sinceT := timeKey(since)
	start := append(bytes.Clone(prefix), sinceT[:]...)
	endT := timeKey(until)
	return s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		n := 0
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) < len(prefix)+8 || bytes.Compare(k[len(prefix):len(prefix)+8], endT[:]) >= 0 {
				break
			}
			e, err := decodeEvent(len(prefix), k, v)
			if err != nil {
				return err
			}
			e.Series, e.Key = series, key
			fn(e)
			if n++; limit > 0 && n >= limit {
				break
			}
		}
		return nil
	})
}

// Linked implements store.History.
func (s *Store) Linked(ctx context.Context, id store.Identifier, limit int) ([]store.Link, error) {
	var out []store.Link
	prefix := identKey(id)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bLinks).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) != 8 {
				return fmt.Errorf("%w: link", errCorrupt)
			}
			out = append(out, store.Link{ID: id, Subject: string(k[len(prefix):]), At: timeFromKey(v)})
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, err
}

// Record implements store.History.
func (s *Store) Record(ctx context.Context, batch []store.Batch) (int, int, error) {
	res, err := s.write(ctx, func(tx *bolt.Tx) (any, error) {
		var recorded, dups int
		bb, exp := tx.Bucket(bBatches), bExpEvents
		for _, b := range batch {
			if b.EventID == "" {
				return nil, errors.New("boltstore: a batch entry needs an event id")
			}
			if bb.Get([]byte(b.EventID)) != nil {
				dups++
				continue
			}
			at := b.Time()
			tk := timeKey(at)
			if err := bb.Put([]byte(b.EventID), tk[:]); err != nil {
				return nil, err
			}
			evItems, linkItems := groups{}, groups{}
			evItems.add(at, tagBatch, []byte(b.EventID))
			if err := putEvents(tx, b.Events, evItems); err != nil {
				return nil, err
			}
			if err := putLinks(tx, b.Links, linkItems); err != nil {
				return nil, err
			}
			id := []byte("batch:" + b.EventID)
			if err := evItems.put(tx, exp, id); err != nil {
				return nil, err
			}
			if err := linkItems.put(tx, bExpDecisions, id); err != nil {
				return nil, err
			}
			for _, m := range b.Marks {
				if err := putMark(tx, m.ID, m.Mark); err != nil {
					return nil, err
				}
			}
			recorded++
		}
		return [2]int{recorded, dups}, nil
	})
	if err != nil {
		return 0, 0, err
	}
	counts := res.([2]int)
	return counts[0], counts[1], nil
}

// ReportOutcome implements store.Outcomes.
func (s *Store) ReportOutcome(ctx context.Context, o store.Outcome) error {
	_, err := s.write(ctx, func(tx *bolt.Tx) (any, error) { return nil, reportOutcome(tx, o) })
	return err
}

func reportOutcome(tx *bolt.Tx, o store.Outcome) error {
	v := tx.Bucket(bDecisions).Get([]byte(o.DecisionID))
	if v == nil {
		return store.ErrNotFound
	}
	r, err := decodeRecord(v)
	if err != nil {
		return err
	}
	k := append([]byte(o.DecisionID), 0, byte(o.Label))
	ob := tx.Bucket(bOutcomes)
	if ob.Get(k) != nil {
		return nil
	}
	tk := timeKey(o.At)
	if err := ob.Put(k, append(tk[:], o.Note...)); err != nil {
		return err
	}
	if err := tx.Bucket(bExpDecisions).Put(expKey(o.At, tagOutcome, k), nil); err != nil {
		return err
	}
	for _, id := range r.subjects {
		if err := putMark(tx, id, store.Mark{Label: o.Label, DecisionID: o.DecisionID, At: o.At}); err != nil {
			return err
		}
	}
	return nil
}

// Marks implements store.Outcomes.
func (s *Store) Marks(ctx context.Context, id store.Identifier) ([]store.Mark, error) {
	var out []store.Mark
	prefix := identKey(id)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bMarks).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			rest := k[len(prefix):]
			if len(rest) < 2 || rest[len(rest)-2] != 0 || len(v) != 8 {
				return fmt.Errorf("%w: mark", errCorrupt)
			}
			out = append(out, store.Mark{
				DecisionID: string(rest[:len(rest)-2]),
				Label:      riskv1.OutcomeLabel(rest[len(rest)-1]),
				At:         timeFromKey(v),
			})
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, err
}

// Expire implements store.Store. It goes through the two expiry indexes
// from their oldest end, so each call touches only what is due.
func (s *Store) Expire(ctx context.Context, now time.Time, r store.Retention, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	res, err := s.write(ctx, func(tx *bolt.Tx) (any, error) {
		n, err := expireIndex(tx, bExpEvents, now.Add(-r.Events), limit)
		if err != nil {
			return nil, err
		}
		m, err := expireIndex(tx, bExpDecisions, now.Add(-r.Decisions), limit-n)
		return n + m, err
	})
	if err != nil {
		return 0, err
	}
	return res.(int), nil
}

// expireIndex deletes what is due in one expiry index, oldest first, until
// at least limit items are gone. It returns how many items it deleted.
func expireIndex(tx *bolt.Tx, index []byte, cutoff time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	type entry struct {
		key  []byte
		list items
	}
	end := timeKey(cutoff)
	var due []entry
	counted := 0
	c := tx.Bucket(index).Cursor()
	for k, v := c.First(); k != nil && counted < limit && bytes.Compare(k[:8], end[:]) < 0; k, v = c.Next() {
		e := entry{key: bytes.Clone(k), list: items{bytes.Clone(v)}}
		if k[8] != tagGroup {
			counted++ // the decision, mark or outcome the key names
		}
		if err := e.list.each(func(byte, []byte) error { counted++; return nil }); err != nil {
			return 0, err
		}
		due = append(due, e)
	}
	for _, e := range due {
		if err := expireItem(tx, e.key[8], e.key[9:]); err != nil {
			return 0, err
		}
		if err := e.list.each(func(tag byte, key []byte) error { return expireItem(tx, tag, key) }); err != nil {
			return 0, err
		}
		if err := tx.Bucket(index).Delete(e.key); err != nil {
			return 0, err
		}
	}
	return counted, nil
}

func expireItem(tx *bolt.Tx, tag byte, key []byte) error {
	switch tag {
	case tagEvent:
		return tx.Bucket(bEvents).Delete(key)
	case tagBatch:
		return tx.Bucket(bBatches).Delete(key)
	case tagLink:
		return tx.Bucket(bLinks).Delete(key)
	case tagMark:
		return tx.Bucket(bMarks).Delete(key)
	case tagOutcome:
		return tx.Bucket(bOutcomes).Delete(key)
	case tagDecision:
		return deleteDecision(tx, key)
	}
	return nil
}

func deleteDecision(tx *bolt.Tx, id []byte) error {
	db := tx.Bucket(bDecisions)
	if v := db.Get(id); v != nil {
		if r, err := decodeRecord(v); err == nil {
			rk := requestKey(r.check, r.requestID)
			// Only if the index still points here.
			if bytes.Equal(tx.Bucket(bRequests).Get(rk), id) {
				if err := tx.Bucket(bRequests).Delete(rk); err != nil {
					return err
				}
			}
		}
	}
	return db.Delete(id)
}
