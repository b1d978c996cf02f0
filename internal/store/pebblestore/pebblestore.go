// Package pebblestore is riskd's embedded store: a pebble LSM in the data
// directory, needing no set-up and surviving restarts.
//
// Why an LSM: a decision writes about a dozen small keys (the record, its
// request index, events, links, expiry entries). A B+tree (the bbolt store
// this replaced) turns them into 10-13 random page writes per decision;
// pebble appends them to its write-ahead log, one sequential write and one
// fdatasync for a whole group of decisions, and sorts them into tables in
// the background. Measured on the 2-core box with this exact write set:
// about 2x bbolt's commits per second with 4-8x fewer bytes written.
// pebble is pure Go (the binary stays static) and runs under CockroachDB.
//
// Writes go through one commit loop, as they did with bbolt: concurrent
// writes that queue up while one group is syncing are applied together in
// the next group, through an indexed batch so that every check-then-write
// (idempotency, first use of a link, a batch entry already recorded) sees
// the writes before it, and the group is committed with one synced WAL
// append. An acknowledged write is on disk; a read after it sees it.
//
// The key layout is bbolt's, bucket by bucket, each bucket a one-byte key
// prefix: an existing bbolt data directory is imported on first open.
package pebblestore

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/groupcommit"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// DirName is the folder inside the data directory that holds the LSM.
const DirName = "pebble"

// Key prefixes, one per bucket of the layout. They are stored on disk:
// never renumber without a migration.
const (
	pMeta         byte = 'M'
	pDecisions    byte = 'D' // decision id -> record
	pRequests     byte = 'R' // check byte + request id -> decision id
	pEvents       byte = 'E' // series 0 kind hash time id -> amount, quantity, ref
	pBatches      byte = 'B' // RecordEvents event id -> time, subjects
	pLinks        byte = 'L' // kind hash subject -> time
	pMarks        byte = 'K' // kind hash decision-id 0 label -> time
	pOutcomes     byte = 'O' // decision id 0 label -> time, note
	pExpEvents    byte = 'X' // time tag key -> items, for events' retention
	pExpDecisions byte = 'Y' // time tag key -> items, for the decision log's
	pErasures     byte = 'Z' // time id -> JSON store.ErasureRecord, never expired
)

// Expiry indexes hold one entry per write, not per item: the key is the
// time, a tag and an ID; the value lists the (tag, key) items to delete
// with it.
const (
	tagEvent = 'e'
	// tagEventValue is an event with its value (its key's length, the
	// key, then the value), so that rebuilding the in-memory window at
	// start reads the time-ordered index alone, not a random point read
	// per event. Stores written before it hold tagEvent items.
	tagEventValue = 'v'
	tagBatch      = 'b'
	tagDecision   = 'd'
	tagLink       = 'l'
	tagMark       = 'm'
	tagOutcome    = 'o'
	tagGroup      = 'g' // an entry whose value lists its items
)

// schemaVersion 2 added the review desk: the subject index, cases, their
// audit and the feed (review.go); 3 the named lists (lists.go), which an
// older riskd would ignore, letting blocked values through: it refuses
// the directory instead.
const schemaVersion = 3

var (
	metaSchema   = []byte{pMeta, 's'}
	metaKeyCheck = []byte{pMeta, 'k'}
	metaImported = []byte{pMeta, 'i'}
)

// ErrKeyMismatch means the data directory was written under another
// identifier key: every stored link would silently stop matching.
var ErrKeyMismatch = errors.New("pebblestore: the identifier key differs from the one this data was written with")

// maxBatch bounds one group commit, so a burst cannot make one group (and
// the callers waiting on it) arbitrarily long.
const maxBatch = 256

// Options configure Open.
type Options struct {
	// KeyCheck is a fingerprint of the identifier key (never the key). The
	// first open records it; a later open with another is refused.
	KeyCheck []byte
	// LockTimeout is how long to wait for another process holding the
	// directory.
	LockTimeout time.Duration
	// Logger receives pebble's own messages (compactions, recovery); nil
	// discards them.
	Logger *slog.Logger
	// FS replaces the operating system's filesystem; tests use a crashable
	// in-memory one to prove that what was acknowledged was synced.
	FS vfs.FS
	// NoSync commits without fdatasync. Only the power-loss test sets it,
	// to show that the test can tell.
	NoSync bool
	// Clock places the in-memory event window (HotWindow before now);
	// time.Now if nil. Tests with fixed times set it.
	Clock func() time.Time
}

// Store is the pebble backend.
type Store struct {
	dir    string
	db     *pebble.DB
	sync   *pebble.WriteOptions
	queue  *groupcommit.Queue[*op]
	hot    *hotIndex
	cold   *coldIndex
	marked *markSet
	// lists knows which values the named lists hold (lists.go).
	lists *listIndex
	// links is touched only by the commit loop's goroutine: every write
	// that reads or deletes a link runs there.
	links *linkSet
	now   func() time.Time
	// prefixLinks: link keys are split after their identifier, so that
	// Linked can skip, by bloom filter, every table without the identifier.
	prefixLinks bool
	// groups and commits count what the commit loop made durable.
	groups, commits atomic.Uint64
}

var _ store.Store = (*Store)(nil)

// txn is a group's batch with the events written through it, which go to
// the in-memory index once the batch is durable.
type txn struct {
	*pebble.Batch
	events []store.Event
	marked []store.Identifier
	// links is the store's set of known link keys; linked collects the
	// keys this batch found or wrote, added to it once the batch is durable.
	links  *linkSet
	linked []string
	// expired collects the events deleted, to leave the cache of older
	// events once the deletion is durable.
	expired [][]byte
	// scratch is reused for keys and values the batch copies.
	scratch []byte
	// lists is what the batch changed in the lists' lookup index, for
	// the store's in-memory index once the batch is durable.
	lists *listDelta
}

type op struct {
	// apply writes through t, inside the group's batch, and returns the
	// op's result. It may run twice (alone, after its group failed).
	apply func(t *txn) (any, error)
	// result is set by the commit loop before done is sent, and read by
	// the caller only after receiving from done.
	result any
	done   chan error
}

// Open opens or creates the store in dir (in its DirName folder), importing
// a bbolt data file found there on the first open.
func Open(dir string, o Options) (*Store, error) {
	start := time.Now() // the whole open is logged: it is the restart time
	if o.LockTimeout == 0 {
		o.LockTimeout = 2 * time.Second
	}
	fs := o.FS
	if fs == nil {
		fs = vfs.Default
	}
	path := filepath.Join(dir, DirName)
	opts := &pebble.Options{
		Comparer:           comparer,
		FS:                 fs,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLog{o.Logger},
		// Every read is a point lookup or a short prefix scan: bloom
		// filters let a lookup of an absent key (a new request ID, a
		// link never seen) skip every table.
		MemTableSize: 32 << 20,
		// Every decision reads index and filter blocks of every table
		// its keys could be in; they must stay in memory, or each read
		// is a system call.
		CacheSize: 128 << 20,
		// WAL files are deleted once obsolete, never recycled: a recycled
		// file keeps its old records past the new ones' end, and those
		// would outlive an erasure. Files are preallocated, so a new one
		// costs one creation per 32 MB memtable.
		Cleaner: noRecycle{Cleaner: pebble.DeleteCleaner{}},
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		// The upper levels hold little and are rewritten by every
		// compaction: compressing them costs CPU on the decision path's
		// two cores for no lasting saving. The last two levels hold nearly
		// all the data and stay compressed.
		opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
		if i >= len(opts.Levels)-2 {
			opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.SnappyCompression }
		}
	}
	db, err := openLocked(path, opts, o.LockTimeout)
	prefixLinks := true
	if err != nil && strings.Contains(err.Error(), "comparer name from file") {
		// A directory made before link prefixes had bloom filters: its
		// filters hold whole keys, so it is opened as it was made and
		// Linked scans without them.
		opts.Comparer = pebble.DefaultComparer
		db, err = openLocked(path, opts, o.LockTimeout)
		prefixLinks = false
	}
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, db: db, sync: pebble.Sync, links: newLinkSet(maxKnownLinks), prefixLinks: prefixLinks}
	if o.NoSync {
		s.sync = pebble.NoSync
	}
	if o.FS == nil {
		if err := importBolt(db, dir, o.KeyCheck, o.Logger); err != nil {
			db.Close()
			return nil, err
		}
	}
	logIndexed := func(n int) {
		if o.Logger != nil {
			o.Logger.Info("store: decisions made before the subject index were indexed by subject", "decisions", n)
		}
	}
	if err := s.prepare(o.KeyCheck, logIndexed); err != nil {
		db.Close()
		return nil, err
	}
	s.now = o.Clock
	if s.now == nil {
		s.now = time.Now
	}
	s.hot = newHotIndex(s.now().Add(-HotWindow))
	s.cold = newColdIndex()
	if err := s.hot.rebuild(s); err != nil {
		db.Close()
		return nil, err
	}
	if s.marked, err = loadMarkSet(s); err != nil {
		db.Close()
		return nil, err
	}
	if s.lists, err = loadListIndex(s); err != nil {
		db.Close()
		return nil, err
	}
	if o.Logger != nil {
		keys, events := s.hot.size()
		o.Logger.Info("store: opened", "dir", path, "hot_keys", keys, "hot_events", events, "took", time.Since(start).String())
	}
	s.queue = groupcommit.New(maxBatch, s.commit)
	return s, nil
}

// noRecycle deletes obsolete files with DeleteCleaner's Clean (promoted
// from the shallower embedding); ArchiveCleaner, one level deeper, gives
// it only the unexported marker that tells pebble the cleaner needs the
// files' contents, which turns WAL recycling off.
type noRecycle struct {
	pebble.Cleaner
	needsContents
}

type needsContents struct{ pebble.ArchiveCleaner }

// String names the cleaner in pebble's OPTIONS file: it deletes, as
// "delete" does (ArchiveCleaner's "archive" would be promoted otherwise).
func (noRecycle) String() string { return "delete" }

// openLocked opens the LSM, waiting up to timeout for another process that
// holds its lock.
func openLocked(path string, opts *pebble.Options, timeout time.Duration) (*pebble.DB, error) {
	deadline := time.Now().Add(timeout)
	for {
		db, err := pebble.Open(path, opts)
		if err == nil {
			return db, nil
		}
		if !isLocked(err) {
			return nil, fmt.Errorf("pebblestore: open %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("pebblestore: %s is in use by another process", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// isLocked reports whether Open failed on the directory's lock (flock
// answers EWOULDBLOCK while another process holds it).
func isLocked(err error) bool {
	return errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(err.Error(), syscall.EWOULDBLOCK.Error())
}

// prepare checks the schema version and the identifier key.
func (s *Store) prepare(keyCheck []byte, logIndexed func(n int)) error {
	b := s.db.NewBatch()
	defer b.Close()
	v, err := s.get(metaSchema)
	if err != nil {
		return err
	}
	if v != nil && binary.BigEndian.Uint32(v) > schemaVersion {
		return fmt.Errorf("pebblestore: data has schema version %d, newer than this riskd's %d", binary.BigEndian.Uint32(v), schemaVersion)
	}
	if v == nil || binary.BigEndian.Uint32(v) < 2 {
		if err := s.indexEarlierDecisions(logIndexed); err != nil {
			return fmt.Errorf("pebblestore: indexing earlier decisions by subject: %w", err)
		}
	}
	if err := b.Set(metaSchema, binary.BigEndian.AppendUint32(nil, schemaVersion), nil); err != nil {
		return err
	}
	if len(keyCheck) > 0 {
		stored, err := s.get(metaKeyCheck)
		if err != nil {
			return err
		}
		if stored == nil {
			if err := b.Set(metaKeyCheck, keyCheck, nil); err != nil {
				return err
			}
		} else if subtle.ConstantTimeCompare(stored, keyCheck) != 1 {
			return ErrKeyMismatch
		}
	}
	return b.Commit(pebble.Sync)
}

// get returns a copy of key's value in the LSM, or nil if there is none.
func (s *Store) get(key []byte) ([]byte, error) { return getCopy(s.db, key) }

// reader is what point reads need: the LSM itself, or a group's batch,
// which reads through to it.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

// Dir is the data directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// Close stops the commit loop after the commits already queued, then closes
// the LSM.
func (s *Store) Close() error {
	if !s.queue.Close() {
		return nil
	}
	return s.db.Close()
}

// write queues apply for the next group commit, waits until it is durable
// and returns apply's result.
func (s *Store) write(ctx context.Context, apply func(t *txn) (any, error)) (any, error) {
	o := &op{apply: apply, done: make(chan error, 1)}
	if err := s.queue.Send(ctx, o); err != nil {
		return nil, err
	}
	select {
	case err := <-o.done:
		return o.result, err
	case <-ctx.Done():
		// The write may still land; an idempotent retry finds it.
		return nil, ctx.Err()
	}
}

// commit applies a group in one batch and one synced WAL append. If the
// group fails, each op is retried alone, so one bad op cannot fail the
// others.
func (s *Store) commit(group []*op) {
	results := make([]any, len(group))
	err := s.apply(len(group), func(t *txn) error {
		for i, o := range group {
			r, err := o.apply(t)
			if err != nil {
				return err
			}
			results[i] = r
		}
		return nil
	})
	if err == nil || len(group) == 1 {
		for i, o := range group {
			o.result = results[i]
			o.done <- err
		}
		return
	}
	for _, o := range group {
		o.done <- s.apply(1, func(t *txn) error {
			r, err := o.apply(t)
			o.result = r
			return err
		})
	}
}

// apply runs fn, the writes of n ops, over a new indexed batch (reads
// through it see its own writes), commits the batch, synced, and then puts
// the events it wrote into the in-memory index, before anyone is told the
// write is done.
func (s *Store) apply(n int, fn func(t *txn) error) error {
	t := &txn{Batch: s.db.NewIndexedBatch(), links: s.links}
	defer t.Close()
	if err := fn(t); err != nil {
		return err
	}
	if t.Empty() {
		return nil
	}
	if err := t.Commit(s.sync); err != nil {
		return err
	}
	s.groups.Add(1)
	s.commits.Add(uint64(n))
	s.hot.add(t.events)
	s.cold.add(t.events, s.hot.fromNanos())
	s.cold.remove(t.expired)
	s.marked.add(t.marked)
	s.links.add(t.linked)
	s.lists.apply(t.lists)
	return nil
}

// CommitStats implements store.CommitCounter.
func (s *Store) CommitStats() store.CommitStats {
	return store.CommitStats{Groups: s.groups.Load(), Commits: s.commits.Load()}
}

// linkPrefixLen is a link key's bucket byte and identifier: every link of
// one identifier shares it.
const linkPrefixLen = 1 + 1 + store.HashSize

// comparer orders keys bytewise, as pebble's default does, and splits a
// link key after its identifier, so that tables' bloom filters hold
// identifiers and Linked skips every table without its identifier. Other
// keys are their own prefix, so point reads (request IDs, decisions) filter
// on the whole key as before. Its name is stored in the directory: pebble
// refuses to open it with a comparer of another name.
var comparer = func() *pebble.Comparer {
	c := *pebble.DefaultComparer
	c.Name = "riskd.link-prefix.v1"
	c.Split = func(k []byte) int {
		if len(k) >= linkPrefixLen && k[0] == pLinks {
			return linkPrefixLen
		}
		return len(k)
	}
	return &c
}()

// has reports whether key exists.
func has(r reader, key []byte) (bool, error) {
	_, c, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, c.Close()
}

// getCopy returns a copy of key's value, nil if absent.
func getCopy(r reader, key []byte) ([]byte, error) {
	v, c, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	return out, c.Close()
}

// key builds prefix + parts.
func key(prefix byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	k = append(k, prefix)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// upperBound is the smallest key after every key that starts with prefix.
func upperBound(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// readable reports whether reads may go on: not after Close. (Open reads
// before the commit loop starts.)
func (s *Store) readable(ctx context.Context) error {
	if s.queue != nil && s.queue.Closed() {
		return store.ErrClosed
	}
	return ctx.Err()
}

func requestKey(check riskv1.Check, requestID string) []byte {
	k := make([]byte, 0, 2+len(requestID))
	k = append(k, pRequests, byte(check))
	return append(k, requestID...)
}

func expKey(prefix byte, at time.Time, tag byte, id []byte) []byte {
	tk := timeKey(at)
	k := make([]byte, 0, 10+len(id))
	k = append(k, prefix)
	k = append(k, tk[:]...)
	k = append(k, tag)
	return append(k, id...)
}

type commitResult struct {
	stored          []byte
	fresh, conflict bool
}

// Commit implements store.DecisionLog.
func (s *Store) Commit(ctx context.Context, c store.Commit) (*riskv1.Decision, bool, error) {
	d := c.Decision
	if d == nil || d.GetDecisionId() == "" || d.GetRequestId() == "" {
		return nil, false, errors.New("pebblestore: commit needs a decision with its id and request id")
	}
	// The record is encoded into a pooled buffer (the batch copies it),
	// the decision marshalled straight into it.
	buf := recordBufs.Get().(*[]byte)
	rec := appendRecordHead((*buf)[:0], record{check: d.GetCheck(), requestID: d.GetRequestId(), requestHash: c.RequestHash, subjects: c.Subjects, facts: c.Facts})
	rec, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(rec, d)
	if err != nil {
		recordBufs.Put(buf)
		return nil, false, err
	}
	reqKey := requestKey(d.GetCheck(), d.GetRequestId())
	id := []byte(d.GetDecisionId())
	decidedAt := d.GetDecidedAt().AsTime()

	res, err := s.write(ctx, func(b *txn) (any, error) {
		prevID, err := getCopy(b, reqKey)
		if err != nil {
			return nil, err
		}
		if prevID != nil {
			v, err := getCopy(b, key(pDecisions, prevID))
			if err != nil {
				return nil, err
			}
			prev, err := decodeRecord(v)
			if err != nil {
				return nil, err
			}
			if prev.requestHash != c.RequestHash {
				return commitResult{conflict: true}, nil
			}
			return commitResult{stored: prev.decision}, nil
		}
		if err := b.Set(key(pDecisions, id), rec, nil); err != nil {
			return nil, err
		}
		if err := b.Set(reqKey, id, nil); err != nil {
			return nil, err
		}
		// The subject index, each key an item of the decision's own
		// expiry entry, so that it goes with the decision.
		keys := c.SearchKeys()
		index := items{b: make([]byte, 0, len(keys)*(2+subjectKeyLen+len(id)))}
		for _, sk := range keys {
			b.scratch = appendSubjectKey(b.scratch[:0], sk, decidedAt, d.GetDecisionId())
			if err := b.Set(b.scratch, nil, nil); err != nil {
				return nil, err
			}
			index.add(tagSubject, b.scratch[1:])
		}
		if err := b.Set(expKey(pExpDecisions, decidedAt, tagDecision, id), index.b, nil); err != nil {
			return nil, err
		}
		if c.Case != nil {
			if err := openCase(b, d.GetDecisionId(), c.Case, d.GetCheck(), decidedAt); err != nil {
				return nil, err
			}
		}
		evItems, linkItems := groups{}, groups{}
		// A new decision's events carry its new ID, so they cannot be
		// stored already: no lookup before writing them.
		if err := putEvents(b, c.Events, evItems, false); err != nil {
			return nil, err
		}
		if err := putLinks(b, c.Links, linkItems); err != nil {
			return nil, err
		}
		if err := evItems.put(b, pExpEvents, id); err != nil {
			return nil, err
		}
		if err := linkItems.put(b, pExpDecisions, id); err != nil {
			return nil, err
		}
		return commitResult{fresh: true}, nil
	})
	// A write abandoned on the caller's deadline may still be applied
	// later, reading rec: its buffer is left to the collector then.
	if ctx.Err() == nil {
		*buf = rec
		recordBufs.Put(buf)
	}
	if err != nil {
		return nil, false, err
	}
	r := res.(commitResult)
	switch {
	case r.conflict:
		return nil, false, store.ErrRequestConflict
	case r.fresh:
		return d, true, nil
	}
	out := &riskv1.Decision{}
	if err := proto.Unmarshal(r.stored, out); err != nil {
		return nil, false, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return out, false, nil
}

// recordBufs holds buffers for encoding decision records.
var recordBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// items collects (tag, key) pairs for an expiry entry's value.
type items struct{ b []byte }

// groups collects items by the time they expire from (as its encoded key,
// so equal instants always share a group), each to land in the entry for
// its own time.
type groups map[[8]byte]*items

func (g groups) add(at time.Time, tag byte, k []byte) { g.at(at).add(tag, k) }

// addEvent adds an event's item with its value (tagEventValue).
func (g groups) addEvent(at time.Time, k, v []byte) {
	it := g.at(at)
	it.b = append(it.b, tagEventValue)
	it.b = binary.AppendUvarint(it.b, uint64(binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(len(k)))+len(k)+len(v)))
	it.b = binary.AppendUvarint(it.b, uint64(len(k)))
	it.b = append(append(it.b, k...), v...)
}

func (g groups) at(at time.Time) *items {
	tk := timeKey(at)
	it := g[tk]
	if it == nil {
		it = &items{}
		g[tk] = it
	}
	return it
}

// splitEventValue splits a tagEventValue item into the event's key and
// value.
func splitEventValue(item []byte) (k, v []byte, err error) {
	n, w := uvarint(item)
	if w <= 0 || n > uint64(len(item)-w) {
		return nil, nil, fmt.Errorf("%w: expiry item of an event", errCorrupt)
	}
	return item[w : w+int(n)], item[w+int(n):], nil
}

// put writes one expiry entry per time, each keyed by id.
func (g groups) put(b *txn, index byte, id []byte) error {
	for tk, it := range g {
		if len(it.b) == 0 {
			continue
		}
		k := make([]byte, 0, 10+len(id))
		k = append(append(append(append(k, index), tk[:]...), tagGroup), id...)
		if err := b.Set(k, it.b, nil); err != nil {
			return err
		}
	}
	return nil
}

func (it *items) add(tag byte, k []byte) {
	it.b = append(it.b, tag)
	it.b = binary.AppendUvarint(it.b, uint64(len(k)))
	it.b = append(it.b, k...)
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
		k := b[1+n : 1+n+int(l)]
		b = b[1+n+int(l):]
		if err := fn(tag, k); err != nil {
			return err
		}
	}
	return nil
}

// putEvents writes events. An event is its series, key, time and ID: the
// same event written twice is one key, so it counts once. lookup says
// whether the events may be stored already (outside events, resent).
func putEvents(b *txn, events []store.Event, exp groups, lookup bool) error {
	for _, e := range events {
		if e.ID == "" || e.Series == "" {
			return errors.New("pebblestore: an event needs an id and a series")
		}
		// The batch copies key and value, and exp copies the key: both
		// are built in scratch space that the next event reuses.
		b.scratch = appendEventKey(append(b.scratch[:0], pEvents), e)
		n := len(b.scratch)
		if lookup {
			ok, err := has(b, b.scratch)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		b.scratch = appendEvent(b.scratch, e)
		k := b.scratch[:n]
		if err := b.Set(k, b.scratch[n:], nil); err != nil {
			return err
		}
		b.events = append(b.events, e)
		exp.addEvent(e.At, k[1:], b.scratch[n:])
	}
	return nil
}

// putLinks writes the links not stored yet: the first use is the one that
// counts. Most links of a decision were seen before (the same account on
// the same device), so the set of known links answers most of them
// without a read of the LSM.
func putLinks(b *txn, links []store.Link, exp groups) error {
	for _, l := range links {
		b.scratch = append(append(append(b.scratch[:0], pLinks, byte(l.ID.Kind)), l.ID.Hash[:]...), l.Subject...)
		k := b.scratch // copied by everything that keeps it
		if b.links.has(k) {
			continue
		}
		ok, err := has(b, k)
		if err != nil {
			return err
		}
		b.linked = append(b.linked, string(k))
		if ok {
			continue
		}
		tk := timeKey(l.At)
		if err := b.Set(k, tk[:], nil); err != nil {
			return err
		}
		exp.add(l.At, tagLink, k[1:])
	}
	return nil
}

func putMark(b *txn, id store.Identifier, m store.Mark) error {
	k := key(pMarks, identKey(id), []byte(m.DecisionID), []byte{0, byte(m.Label)})
	ok, err := has(b, k)
	if err != nil || ok {
		return err
	}
	tk := timeKey(m.At)
	if err := b.Set(k, tk[:], nil); err != nil {
		return err
	}
	b.marked = append(b.marked, id)
	return b.Set(expKey(pExpDecisions, m.At, tagMark, k[1:]), nil, nil)
}

// readRecord reads one decision's record.
func (s *Store) readRecord(ctx context.Context, id string, fn func(record) error) error {
	if err := s.readable(ctx); err != nil {
		return err
	}
	v, c, err := s.db.Get(key(pDecisions, []byte(id)))
	if errors.Is(err, pebble.ErrNotFound) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := decodeRecord(v)
	if err != nil {
		return err
	}
	return fn(r)
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
	var hash [store.HashSize]byte
	if err := s.readable(ctx); err != nil {
		return nil, hash, err
	}
	id, err := s.get(requestKey(check, requestID))
	if err != nil {
		return nil, hash, err
	}
	if id == nil {
		return nil, hash, store.ErrNotFound
	}
	var d *riskv1.Decision
	err = s.readRecord(ctx, string(id), func(r record) (err error) {
		hash = r.requestHash
		d, err = r.unmarshalDecision()
		return err
	})
	return d, hash, err
}

// iterate calls fn for each key in [lower, upper) in order, until fn
// returns false or an error.
func (s *Store) iterate(ctx context.Context, lower, upper []byte, fn func(k, v []byte) (bool, error)) error {
	return s.scan(ctx, lower, upper, false, fn)
}

// iteratePrefix is iterate over the keys that share lower's prefix (as the
// comparer splits it: lower must be one whole prefix), consulting the
// tables' bloom filters first.
func (s *Store) iteratePrefix(ctx context.Context, lower, upper []byte, fn func(k, v []byte) (bool, error)) error {
	return s.scan(ctx, lower, upper, true, fn)
}

func (s *Store) scan(ctx context.Context, lower, upper []byte, prefix bool, fn func(k, v []byte) (bool, error)) error {
	if err := s.readable(ctx); err != nil {
		return err
	}
	// The last level holds most of the data, so its filters count most
	// (pebble skips them by default, expecting few misses there).
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper, UseL6Filters: prefix})
	if err != nil {
		return err
	}
	first := it.First
	if prefix {
		first = func() bool { return it.SeekPrefixGE(lower) }
	}
	for valid := first(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		more, err := fn(it.Key(), v)
		if err != nil || !more {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// ScanDecisions implements store.DecisionLog.
func (s *Store) ScanDecisions(ctx context.Context, from, to time.Time, fn func(*riskv1.Decision) error) error {
	// Collect IDs first, then read decisions one by one, so a long replay
	// never holds an iterator (and the tables under it) open.
	var ids [][]byte
	start, end := timeKey(from), timeKey(to)
	err := s.iterate(ctx, key(pExpDecisions, start[:]), key(pExpDecisions, end[:]), func(k, _ []byte) (bool, error) {
		if len(k) > 9 && k[9] == tagDecision {
			ids = append(ids, bytes.Clone(k[10:]))
		}
		return true, nil
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

// Events implements store.History.
func (s *Store) Events(ctx context.Context, series string, k store.Identifier, since, until time.Time, limit int) ([]store.Event, error) {
	var out []store.Event
	err := s.scanEvents(ctx, series, k, since, until, limit, func(e store.Event) { out = append(out, e) })
	return out, err
}

func (s *Store) scanEvents(ctx context.Context, series string, k store.Identifier, since, until time.Time, limit int, fn func(store.Event)) error {
	if !until.After(since) {
		return s.readable(ctx)
	}
	if err := s.readable(ctx); err != nil {
		return err
	}
	if s.hot.scan(series, k, since, until, limit, fn) {
		return nil
	}
	if s.cold != nil {
		if ok, err := s.scanCold(ctx, series, k, since, until, limit, fn); ok || err != nil {
			return err
		}
	}
	return s.scanLSM(ctx, series, k, since, until, limit, fn)
}

// scanLSM reads events from the LSM.
func (s *Store) scanLSM(ctx context.Context, series string, k store.Identifier, since, until time.Time, limit int, fn func(store.Event)) error {
	n := 0
	prefix := key(pEvents, eventPrefix(series, k))
	sinceT, untilT := timeKey(since), timeKey(until)
	return s.iterate(ctx, key(pEvents, eventPrefix(series, k), sinceT[:]), key(pEvents, eventPrefix(series, k), untilT[:]),
		func(kk, v []byte) (bool, error) {
			e, err := decodeEvent(len(prefix), kk, v)
			if err != nil {
				return false, err
			}
			e.Series, e.Key = series, k
			fn(e)
			n++
			return limit <= 0 || n < limit, nil
		})
}

// Linked implements store.History.
func (s *Store) Linked(ctx context.Context, id store.Identifier, limit int) ([]store.Link, error) {
	var out []store.Link
	prefix := key(pLinks, identKey(id))
	scan := s.iterate
	if s.prefixLinks {
		// Most identifiers a seller or an order brings were never seen:
		// the tables' filters say so without a read.
		scan = s.iteratePrefix
	}
	err := scan(ctx, prefix, upperBound(prefix), func(k, v []byte) (bool, error) {
		if len(v) != 8 {
			return false, fmt.Errorf("%w: link", errCorrupt)
		}
		out = append(out, store.Link{ID: id, Subject: string(k[len(prefix):]), At: timeFromKey(v)})
		return limit <= 0 || len(out) < limit, nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, err
}

// Record implements store.History.
func (s *Store) Record(ctx context.Context, batch []store.Batch) (int, int, error) {
	res, err := s.write(ctx, func(b *txn) (any, error) {
		var recorded, dups int
		for _, e := range batch {
			if e.EventID == "" {
				return nil, errors.New("pebblestore: a batch entry needs an event id")
			}
			bk := key(pBatches, []byte(e.EventID))
			ok, err := has(b, bk)
			if err != nil {
				return nil, err
			}
			if ok {
				dups++
				continue
			}
			at := e.Time()
			tk := timeKey(at)
			if err := b.Set(bk, appendSubjects(tk[:], e.Subjects), nil); err != nil {
				return nil, err
			}
			evItems, linkItems := groups{}, groups{}
			evItems.add(at, tagBatch, []byte(e.EventID))
			if err := putEvents(b, e.Events, evItems, true); err != nil {
				return nil, err
			}
			if err := putLinks(b, e.Links, linkItems); err != nil {
				return nil, err
			}
			id := []byte("batch:" + e.EventID)
			if err := evItems.put(b, pExpEvents, id); err != nil {
				return nil, err
			}
			if err := linkItems.put(b, pExpDecisions, id); err != nil {
				return nil, err
			}
			for _, m := range e.Marks {
				if err := putMark(b, m.ID, m.Mark); err != nil {
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

// RecordedSubjects implements store.History.
func (s *Store) RecordedSubjects(ctx context.Context, eventID string) ([]store.Identifier, error) {
	if err := s.readable(ctx); err != nil {
		return nil, err
	}
	v, err := s.get(key(pBatches, []byte(eventID)))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, store.ErrNotFound
	}
	return decodeBatch(v)
}

// ReportOutcome implements store.Outcomes.
func (s *Store) ReportOutcome(ctx context.Context, o store.Outcome) error {
	_, err := s.write(ctx, func(b *txn) (any, error) { return nil, reportOutcome(b, o) })
	return err
}

func reportOutcome(b *txn, o store.Outcome) error {
	v, err := getCopy(b, key(pDecisions, []byte(o.DecisionID)))
	if err != nil {
		return err
	}
	if v == nil {
		return store.ErrNotFound
	}
	r, err := decodeRecord(v)
	if err != nil {
		return err
	}
	k := key(pOutcomes, []byte(o.DecisionID), []byte{0, byte(o.Label)})
	ok, err := has(b, k)
	if err != nil || ok {
		return err
	}
	tk := timeKey(o.At)
	if err := b.Set(k, append(tk[:], o.Note...), nil); err != nil {
		return err
	}
	if err := b.Set(expKey(pExpDecisions, o.At, tagOutcome, k[1:]), nil, nil); err != nil {
		return err
	}
	for _, id := range r.subjects {
		if err := putMark(b, id, store.Mark{Label: o.Label, DecisionID: o.DecisionID, At: o.At}); err != nil {
			return err
		}
	}
	return nil
}

// Marks implements store.Outcomes.
func (s *Store) Marks(ctx context.Context, id store.Identifier) ([]store.Mark, error) {
	var out []store.Mark
	if !s.marked.has(id) {
		// Most identifiers were never marked: no iterator for them.
		return nil, s.readable(ctx)
	}
	prefix := key(pMarks, identKey(id))
	err := s.iterate(ctx, prefix, upperBound(prefix), func(k, v []byte) (bool, error) {
		rest := k[len(prefix):]
		if len(rest) < 2 || rest[len(rest)-2] != 0 || len(v) != 8 {
			return false, fmt.Errorf("%w: mark", errCorrupt)
		}
		out = append(out, store.Mark{
			DecisionID: string(rest[:len(rest)-2]),
			Label:      riskv1.OutcomeLabel(rest[len(rest)-1]),
			At:         timeFromKey(v),
		})
		return true, nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, err
}

// ScanOutcomes implements store.Outcomes. Outcomes are few next to
// decisions, and keyed by decision: it reads them all and keeps those in
// the range.
func (s *Store) ScanOutcomes(ctx context.Context, from, to time.Time, fn func(store.Outcome) error) error {
	var out []store.Outcome
	prefix := []byte{pOutcomes}
	err := s.iterate(ctx, prefix, upperBound(prefix), func(k, v []byte) (bool, error) {
		rest := k[1:]
		if len(rest) < 3 || rest[len(rest)-2] != 0 || len(v) < 8 {
			return false, fmt.Errorf("%w: outcome", errCorrupt)
		}
		at := timeFromKey(v[:8])
		if at.Before(from) || !at.Before(to) {
			return true, nil
		}
		out = append(out, store.Outcome{
			DecisionID: string(rest[:len(rest)-2]),
			Label:      riskv1.OutcomeLabel(rest[len(rest)-1]),
			Note:       string(v[8:]),
			At:         at,
		})
		return true, nil
	})
	if err != nil {
		return err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	for _, o := range out {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// Expire implements store.Store. It goes through the two expiry indexes
// from their oldest end, so each call touches only what is due.
func (s *Store) Expire(ctx context.Context, now time.Time, r store.Retention, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	// Events at or after the cutoff stay; the in-memory indexes stop
	// answering for anything before it (some of it will be gone from the
	// LSM), and the window lets go of what fell out of it.
	defer s.hot.prune(s.hot.nextFrom(s.now(), now.Add(-r.Events)))
	res, err := s.write(ctx, func(b *txn) (any, error) {
		n, err := s.expireIndex(ctx, b, pExpEvents, now.Add(-r.Events), limit)
		if err != nil {
			return nil, err
		}
		m, err := s.expireIndex(ctx, b, pExpDecisions, now.Add(-r.Decisions), limit-n)
		return n + m, err
	})
	if err != nil {
		return 0, err
	}
	return res.(int), nil
}

// expireIndex deletes what is due in one expiry index, oldest first, until
// at least limit items are gone. It returns how many items it deleted.
func (s *Store) expireIndex(ctx context.Context, b *txn, index byte, cutoff time.Time, limit int) (int, error) {
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
	err := s.iterate(ctx, []byte{index}, key(index, end[:]), func(k, v []byte) (bool, error) {
		if len(k) < 10 {
			return false, fmt.Errorf("%w: expiry key", errCorrupt)
		}
		e := entry{key: bytes.Clone(k), list: items{bytes.Clone(v)}}
		if k[9] != tagGroup {
			counted++ // the decision, mark or outcome the key names
		}
		if err := e.list.each(func(byte, []byte) error { counted++; return nil }); err != nil {
			return false, err
		}
		due = append(due, e)
		return counted < limit, nil
	})
	if err != nil || len(due) == 0 {
		return 0, err
	}
	for _, e := range due {
		if err := expireItem(b, e.key[9], e.key[10:]); err != nil {
			return 0, err
		}
		if err := e.list.each(func(tag byte, k []byte) error { return expireItem(b, tag, k) }); err != nil {
			return 0, err
		}
		// A point deletion, not a range over the run: a write in the same
		// group may have added an entry inside that range.
		if err := b.Delete(e.key, nil); err != nil {
			return 0, err
		}
	}
	return counted, nil
}

func expireItem(b *txn, tag byte, k []byte) error {
	switch tag {
	case tagEventValue:
		ek, _, err := splitEventValue(k)
		if err != nil {
			return err
		}
		return expireItem(b, tagEvent, ek)
	case tagEvent:
		b.expired = append(b.expired, k)
		return b.Delete(key(pEvents, k), nil)
	case tagBatch:
		return b.Delete(key(pBatches, k), nil)
	case tagLink:
		lk := key(pLinks, k)
		b.links.forget(lk)
		return b.Delete(lk, nil)
	case tagMark:
		return b.Delete(key(pMarks, k), nil)
	case tagOutcome:
		return b.Delete(key(pOutcomes, k), nil)
	case tagDecision:
		return deleteDecision(b, k)
	case tagSubject:
		return b.Delete(key(pSubjects, k), nil)
	}
	return nil
}

func deleteDecision(b *txn, id []byte) error {
	if err := deleteCase(b, string(id)); err != nil {
		return err
	}
	dk := key(pDecisions, id)
	v, err := getCopy(b, dk)
	if err != nil {
		return err
	}
	if v != nil {
		if r, err := decodeRecord(v); err == nil {
			rk := requestKey(r.check, r.requestID)
			// Only if the index still points here.
			cur, err := getCopy(b, rk)
			if err != nil {
				return err
			}
			if bytes.Equal(cur, id) {
				if err := b.Delete(rk, nil); err != nil {
					return err
				}
			}
		}
	}
	return b.Delete(dk, nil)
}

// ForEachKV calls fn with every key and value as stored, in key order: for
// audits of what the store holds (the privacy test reads it to prove that
// no raw identifier is kept) and for debugging. It holds one iterator for
// the whole walk.
func (s *Store) ForEachKV(fn func(k, v []byte) error) error {
	return s.iterate(context.Background(), nil, nil, func(k, v []byte) (bool, error) { return true, fn(k, v) })
}

// pebbleLog sends pebble's messages to the service's JSON log.
type pebbleLog struct{ log *slog.Logger }

func (l pebbleLog) Infof(format string, args ...any) {
	if l.log != nil {
		l.log.Debug("pebble: " + fmt.Sprintf(format, args...))
	}
}

func (l pebbleLog) Errorf(format string, args ...any) {
	if l.log != nil {
		l.log.Error("pebble: " + fmt.Sprintf(format, args...))
	}
}

func (l pebbleLog) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	if l.log != nil {
		l.log.Error(msg)
	}
	panic(msg)
}
