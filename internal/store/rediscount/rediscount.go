// Package rediscount keeps riskd's velocity counters (the history events
// that Aggregate and Events read) in Redis, in front of a base store that
// keeps everything else and stays the record: the PostgreSQL one, for
// several riskd replicas.
//
// Every write goes to the base first. Only once the base has committed it
// are the events it newly added written to Redis, so Redis never counts an
// event the base does not hold. Reads of events come from Redis only.
//
// Layout: one sorted set per series and key,
//
//	Prefix + "ev:" + series + ":" + kind + ":" + hex(hash)
//
// scored by the event's time in unix milliseconds, whose members encode the
// event whole (see member.go): its time to the nanosecond, ID, amount,
// quantity and ref. A window is read with ZRANGEBYSCORE over the
// milliseconds it touches and then cut to the exact nanosecond.
//
// Exactness across replicas: an event always encodes to the same member,
// and ZADD NX of a member is atomic, so replicas writing one event at once,
// or a retry writing it again, count it once. Every write also sets the
// key's TTL (PEXPIRE), so a key nobody writes to any more goes by itself.
//
// Degradation: when Redis fails after the base committed, the write still
// succeeds (the base holds the decision; a failed call would make the
// caller retry into a replay that writes nothing anyway) and the failure is
// logged at warn. When Redis fails on a read, the read returns the error,
// so the velocity verifier fails fast and its failure mode applies.
// Each Redis call has a budget of its own inside the caller's deadline, and
// while Redis is known unreachable (a ping failed; see package gate) reads
// fail at once and writes go straight to the retry queue, so a partitioned
// Redis costs a decision nothing beyond the verifier's failure mode.
package rediscount

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/gate"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Options configure New.
type Options struct {
	// Client is the Redis to count in; the caller owns it and closes it
	// after the store. Give it ContextTimeoutEnabled, so that a context's
	// deadline, and not only the client's timeouts, bounds each call.
	Client *redis.Client
	// Prefix starts every key, such as "riskd:"; replicas sharing counters
	// share it, and nothing else in the Redis may use it.
	Prefix string
	// TTL is how long a key lives after its last write: the events
	// retention. Zero or less sets none, and only Expire removes events.
	TTL time.Duration
	// Logger takes the warnings about counters Redis did not take;
	// slog.Default() if nil.
	Logger *slog.Logger
	// WriteTimeout bounds the Redis write that follows a base Commit,
	// within the caller's deadline, so that a Redis that is down (its
	// client retrying its dials) costs a decision this much and not its
	// whole deadline; 100ms if zero. A healthy Redis takes a millisecond.
	// Record, a batch import, has the caller's deadline only.
	WriteTimeout time.Duration
	// Budget bounds each Redis call and each ping inside the caller's
	// deadline; a second if zero.
	Budget time.Duration
	// ProbeInterval is how often Redis is pinged; a second if zero.
	ProbeInterval time.Duration
}

// Store is a base store with its events counted in Redis.
type Store struct {
	// Reviews are the base store's: cases, audit and feed live there,
	// beside the decisions they are about.
	store.Reviews
	// Policies are the base store's too: every replica shares them.
	store.Policies
	// Lists are the base store's too: shared by every replica, with no
	// copy in Redis that a write could leave stale.
	store.NamedLists
	base   store.Store
	rdb    *redis.Client
	gate   *gate.Gate
	prefix string
	ttl    time.Duration
	log    *slog.Logger
	// writeTimeout bounds the write after a base commit.
	writeTimeout time.Duration
	closed       atomic.Bool
	// late holds the events of committed decisions whose write did not
	// finish in time (an overloaded box, a Redis hiccup); retryLate
	// writes them in the background, so a count arrives late rather than
	// never. ZADD NX makes a write that did land after all harmless.
	late     chan []store.Event
	stopLate chan struct{}
	lateDone chan struct{}
}

// lateQueue bounds the events waiting for a retry: past it, a Redis that
// stays down costs counts (logged), not memory.
const lateQueue = 4096

var _ store.Store = (*Store)(nil)

// defaultWriteTimeout is Options.WriteTimeout's default.
const defaultWriteTimeout = 100 * time.Millisecond

// expirePage is how many keys one SCAN step of Expire asks for.
const expirePage = 256

// New returns base with its events counted in Redis. The store owns base
// (Close closes it), not the client.
func New(base store.Store, o Options) *Store {
	if base == nil || o.Client == nil {
		panic("rediscount: New needs a base store and a Redis client")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	wt := o.WriteTimeout
	if wt <= 0 {
		wt = defaultWriteTimeout
	}
	budget := o.Budget
	if budget <= 0 {
		budget = time.Second
	}
	s := &Store{Reviews: base, Policies: base, NamedLists: base, base: base, rdb: o.Client, prefix: o.Prefix, ttl: o.TTL, log: log, writeTimeout: wt,
		late: make(chan []store.Event, lateQueue), stopLate: make(chan struct{}), lateDone: make(chan struct{})}
	s.gate = gate.New(gate.Options{Name: "redis", Budget: budget, Interval: o.ProbeInterval, Logger: log,
		Probe:       func(ctx context.Context) error { return o.Client.Ping(ctx).Err() },
		Unreachable: unreachable})
	go s.retryLate()
	return s
}

// Close stops the retries (what is still queued is logged as lost), then
// closes the base; later calls return store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stopLate)
	<-s.lateDone
	s.gate.Close()
	if n := len(s.late); n > 0 {
		s.log.Error("rediscount: closing with committed decisions' events still not counted in Redis", "decisions", n)
	}
	return s.base.Close()
}

// retryLate writes the late events, one decision's at a time, retrying
// each with a growing pause until it lands or the store closes.
func (s *Store) retryLate() {
	defer close(s.lateDone)
	for {
		var events []store.Event
		select {
		case events = <-s.late:
		case <-s.stopLate:
			return
		}
		for pause := 50 * time.Millisecond; ; pause = min(2*pause, 5*time.Second) {
			err := s.add(context.Background(), events, false)
			if err == nil {
				break
			}
			select {
			case <-time.After(pause):
			case <-s.stopLate:
				s.log.Error("rediscount: closing with a committed decision's events not counted in Redis", "events", len(events), "error", err)
				return
			}
		}
	}
}

func (s *Store) live() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// key names the sorted set of one series and key.
func (s *Store) key(series string, id store.Identifier) string {
	return s.prefix + "ev:" + series + ":" + strconv.Itoa(int(id.Kind)) + ":" + hex.EncodeToString(id.Hash[:])
}

// The nanosecond times a member can hold (time.Time.UnixNano's range).
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// millis is the score of a time in nanoseconds: its unix millisecond,
// rounded down (also before 1970).
func millis(nanos int64) int64 {
	ms := nanos / 1e6
	if nanos%1e6 < 0 {
		ms--
	}
	return ms
}

// Commit implements store.DecisionLog: the base commits, then a fresh
// commit's events go to Redis. A replay (fresh false) writes nothing.
func (s *Store) Commit(ctx context.Context, c store.Commit) (*riskv1.Decision, bool, error) {
	if err := s.live(); err != nil {
		return nil, false, err
	}
	d, fresh, err := s.base.Commit(ctx, c)
	if err != nil || !fresh || len(c.Events) == 0 {
		return d, fresh, err
	}
	mctx, cancel := detach(ctx, s.writeTimeout)
	defer cancel()
	if err := s.add(mctx, c.Events, false); err != nil {
		select {
		case s.late <- c.Events:
			s.log.WarnContext(ctx, "rediscount: a committed decision's events are not counted in Redis yet; the decision stands and they are retried in the background",
				"decision_id", c.Decision.GetDecisionId(), "events", len(c.Events), "error", err)
		default:
			s.log.ErrorContext(ctx, "rediscount: a committed decision's events are not counted in Redis and the retry queue is full: they are lost",
				"decision_id", c.Decision.GetDecisionId(), "events", len(c.Events), "error", err, "queue", lateQueue)
		}
	}
	return d, fresh, nil
}

// Record implements store.History: the base records the batch in one
// transaction, then the events of the entries it recorded go to Redis.
//
// The base says only how many entries it recorded, not which. Its
// duplicate detection goes by EventID in order, so the first entry with
// each EventID is the one that can be new; when the base recorded all of
// those, or none, that settles it. Otherwise (some were recorded before)
// each event is written only if the base now holds it with the same
// content: an event of a duplicate entry with other content is not there,
// and one with the same content is already counted, so writing it again
// changes nothing.
func (s *Store) Record(ctx context.Context, batch []store.Batch) (int, int, error) {
	if err := s.live(); err != nil {
		return 0, 0, err
	}
	recorded, dups, err := s.base.Record(ctx, batch)
	if err != nil || recorded == 0 {
		return recorded, dups, err
	}
	seen := make(map[string]bool, len(batch))
	var first []store.Event // the events of each EventID's first entry
	for _, b := range batch {
		if !seen[b.EventID] {
			seen[b.EventID] = true
			first = append(first, b.Events...)
		}
	}
	// A batch import waits on no checkout: it has the caller's deadline,
	// not the write timeout.
	mctx, cancel := detach(ctx, 0)
	defer cancel()
	events := first
	if recorded != len(seen) {
		events, err = s.held(mctx, first)
	}
	if err == nil {
		err = s.add(mctx, events, true)
	}
	if err != nil {
		s.log.WarnContext(ctx, "rediscount: recorded events are not counted in Redis; the record stands",
			"entries", recorded, "error", err)
	}
	return recorded, dups, nil
}

// detach returns a context for the work that follows a base commit: ctx's
// values and deadline, bounded by timeout if it is not zero, but not its
// cancellation. The base already holds what is written and a replay would
// not write it again, so a caller hanging up in the millisecond between
// the two must not leave the counters short.
func detach(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if timeout > 0 && (!ok || time.Now().Add(timeout).Before(deadline)) {
		deadline, ok = time.Now().Add(timeout), true
	}
	if !ok {
		return context.WithCancel(context.WithoutCancel(ctx))
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// held returns the events the base holds with the same content. The base
// may keep times coarser than a nanosecond (PostgreSQL keeps microseconds,
// rounding down), so an event is looked for in its microsecond.
func (s *Store) held(ctx context.Context, events []store.Event) ([]store.Event, error) {
	type slot struct {
		series string
		key    store.Identifier
		at     time.Time
	}
	found := map[slot][]store.Event{}
	var out []store.Event
	for _, e := range events {
		sl := slot{e.Series, e.Key, e.At.Truncate(time.Microsecond)}
		stored, ok := found[sl]
		if !ok {
			var err error
			stored, err = s.base.Events(ctx, sl.series, sl.key, sl.at, sl.at.Add(time.Microsecond), 0)
			if err != nil {
				return nil, fmt.Errorf("rediscount: read back recorded events: %w", err)
			}
			found[sl] = stored
		}
		for _, h := range stored {
			if h.ID == e.ID && h.Amount == e.Amount && h.Quantity == e.Quantity && h.Ref == e.Ref {
				out = append(out, e)
				break
			}
		}
	}
	return out, nil
}

// unreachable tells the errors that mean Redis could not be reached.
func unreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, redis.ErrPoolTimeout)
}

// add writes events to Redis in one MULTI: ZADD NX of each key's members,
// then its PEXPIRE. An event already there is left as it is. A long add
// (a batch import's) has the caller's deadline rather than the budget.
func (s *Store) add(ctx context.Context, events []store.Event, long bool) (err error) {
	byKey := map[string][]redis.Z{}
	var keys []string // in first-seen order, for a stable pipeline
	for _, e := range events {
		if e.At.Before(minTime) || e.At.After(maxTime) {
			return fmt.Errorf("rediscount: event time %v is outside what Redis scores can hold", e.At)
		}
		k := s.key(e.Series, e.Key)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], redis.Z{Score: float64(millis(e.At.UnixNano())), Member: encodeMember(e)})
	}
	if len(keys) == 0 {
		return nil
	}
	var op gate.Op
	if long {
		op, err = s.gate.BeginLong(ctx)
	} else {
		op, err = s.gate.Begin(ctx)
	}
	if err != nil {
		return err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.ZAddNX(ctx, k, byKey[k]...)
			if s.ttl > 0 {
				p.PExpire(ctx, k, s.ttl)
			}
		}
		return nil
	})
	return err
}

// window is a read's range: the scores it touches and its exact bounds.
type window struct {
	min, max     string // ZRANGEBYSCORE bounds, inclusive
	since, until int64  // nanoseconds, half-open
	empty        bool
}

func newWindow(since, until time.Time) window {
	if !since.Before(until) {
		return window{empty: true}
	}
	w := window{min: "-inf", max: "+inf", since: math.MinInt64, until: math.MaxInt64}
	if since.After(minTime) {
		w.since = since.UnixNano()
		w.min = strconv.FormatInt(millis(w.since), 10)
	}
	if until.Before(maxTime) {
		w.until = until.UnixNano()
		w.max = strconv.FormatInt(millis(w.until-1), 10) // the last nanosecond in is until-1
	}
	return w
}

// readSlack is how many members beyond its limit a read with a limit asks
// for at once: room for those before since in since's own millisecond.
const readSlack = 16

// read calls fn for a key's events in [since, until), oldest first, until
// fn returns false. Redis's order within a score is the members' byte
// order, which member.go makes time then ID, so the order needs no sort.
func (s *Store) read(ctx context.Context, key string, since, until time.Time, limit int, fn func(decoded) bool) (err error) {
	if err := s.live(); err != nil {
		return err
	}
	w := newWindow(since, until)
	if w.empty {
		return nil
	}
	op, err := s.gate.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	page := 0 // no LIMIT: the whole window in one reply
	if limit > 0 {
		page = limit + readSlack
	}
	for offset := 0; ; offset += page {
		members, err := s.rdb.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: w.min, Max: w.max, Offset: int64(offset), Count: int64(page)}).Result()
		if err != nil {
			return fmt.Errorf("rediscount: redis: %w", err)
		}
		for _, m := range members {
			d, err := decodeMember(m)
			if err != nil {
				return err
			}
			if d.nanos < w.since {
				continue
			}
			if d.nanos >= w.until || !fn(d) {
				return nil
			}
		}
		if page == 0 || len(members) < page {
			return nil
		}
	}
}

// Events implements store.History, from Redis.
func (s *Store) Events(ctx context.Context, series string, key store.Identifier, since, until time.Time, limit int) ([]store.Event, error) {
	var out []store.Event
	err := s.read(ctx, s.key(series, key), since, until, limit, func(d decoded) bool {
		out = append(out, store.Event{
			ID: d.id, Series: series, Key: key, At: time.Unix(0, d.nanos).UTC(),
			Amount: d.amount, Quantity: d.quantity, Ref: d.ref,
		})
		return limit <= 0 || len(out) < limit
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// expireScript removes, from the sorted sets in KEYS, the members older
// than a cutoff, at most a budget of them in all, and returns how many it
// removed. It runs as one script so that counting and removing by rank see
// the same set when replicas expire at once.
//
// ARGV: the cutoff's score; the cutoff's time as a member's first 16 hex
// digits, in two halves of 8 (a Lua number holds 32 bits exactly, not 64);
// the budget. Members scored below the cutoff's score are older; in the
// cutoff's own millisecond the members' times decide, and those members
// come in time order.
var expireScript = redis.NewScript(`
local score, hi, lo, budget = ARGV[1], tonumber(ARGV[2], 16), tonumber(ARGV[3], 16), tonumber(ARGV[4])
local removed = 0
for _, key in ipairs(KEYS) do
	if removed >= budget then break end
	local n = redis.call('ZCOUNT', key, '-inf', '(' .. score)
	if n > budget - removed then n = budget - removed end
	if n > 0 then
		redis.call('ZREMRANGEBYRANK', key, 0, n - 1)
		removed = removed + n
	end
	if removed < budget then
		for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, score, score, 'LIMIT', 0, budget - removed)) do
			local mh, ml = tonumber(string.sub(m, 1, 8), 16), tonumber(string.sub(m, 9, 16), 16)
			if mh < hi or (mh == hi and ml < lo) then
				redis.call('ZREM', key, m)
				removed = removed + 1
			else
				break
			end
		end
	end
end
return removed
`)

// Expire implements store.Store. The base expires what it holds; then the
// sorted sets lose their members older than now minus the events
// retention (the TTL alone cannot do it: it runs on the clock, not on
// now), found with SCAN, at most limit of them.
//
// Each event lives twice, as the base's row and as a member here, and the
// conformance suite counts an event as one item however many copies a
// backend keeps. Both sides delete the same expired events, at most limit
// each, so a call returns the larger of the two counts: the events it
// expired when both hold the same ones, and never zero while either side
// still has something due.
func (s *Store) Expire(ctx context.Context, now time.Time, r store.Retention, limit int) (int, error) {
	if err := s.live(); err != nil {
		return 0, err
	}
	if limit <= 0 {
		limit = 1000 // as the base does with no limit
	}
	n, err := s.base.Expire(ctx, now, r, limit)
	if err != nil {
		return n, err
	}
	removed, err := s.expireEvents(ctx, now.Add(-r.Events), limit)
	return max(n, removed), err
}

// expireEvents removes members older than cutoff, at most limit of them.
func (s *Store) expireEvents(ctx context.Context, cutoff time.Time, limit int) (removed int, err error) {
	if !cutoff.After(minTime) {
		return 0, nil
	}
	op, err := s.gate.BeginLong(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	nanos := int64(math.MaxInt64)
	if cutoff.Before(maxTime) {
		nanos = cutoff.UnixNano()
	}
	digits := fmt.Sprintf("%016x", uint64(nanos)^(1<<63))
	score := strconv.FormatInt(millis(nanos), 10)
	match := globEscape(s.prefix+"ev:") + "*"
	var cursor uint64
	for removed < limit {
		keys, next, err := s.rdb.Scan(ctx, cursor, match, expirePage).Result()
		if err != nil {
			return removed, fmt.Errorf("rediscount: redis: %w", err)
		}
		if len(keys) > 0 {
			n, err := expireScript.Run(ctx, s.rdb, keys, score, digits[:8], digits[8:], limit-removed).Int()
			if err != nil {
				return removed, fmt.Errorf("rediscount: redis: %w", err)
			}
			removed += n
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	return removed, nil
}

// globEscape quotes the characters SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// The rest is the base's.

// WatchHealth implements store.HealthWatcher with the base's health: the
// base holds the record, and without Redis only the counters degrade.
func (s *Store) WatchHealth(fn func(up bool)) {
	if h, ok := s.base.(store.HealthWatcher); ok {
		h.WatchHealth(fn)
	}
}

// Decision implements store.DecisionLog.
func (s *Store) Decision(ctx context.Context, id string) (*riskv1.Decision, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	return s.base.Decision(ctx, id)
}

// DecisionByRequest implements store.DecisionLog.
func (s *Store) DecisionByRequest(ctx context.Context, check riskv1.Check, requestID string) (*riskv1.Decision, [store.HashSize]byte, error) {
	if err := s.live(); err != nil {
		return nil, [store.HashSize]byte{}, err
	}
	return s.base.DecisionByRequest(ctx, check, requestID)
}

// Subjects implements store.DecisionLog.
func (s *Store) Subjects(ctx context.Context, decisionID string) ([]store.Identifier, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	return s.base.Subjects(ctx, decisionID)
}

// RecordedSubjects implements store.History: the base keeps batch entries.
func (s *Store) RecordedSubjects(ctx context.Context, eventID string) ([]store.Identifier, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	return s.base.RecordedSubjects(ctx, eventID)
}

// Facts implements store.DecisionLog.
func (s *Store) Facts(ctx context.Context, decisionID string) ([]byte, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	return s.base.Facts(ctx, decisionID)
}

// ScanDecisions implements store.DecisionLog.
func (s *Store) ScanDecisions(ctx context.Context, from, to time.Time, fn func(*riskv1.Decision) error) error {
	if err := s.live(); err != nil {
		return err
	}
	return s.base.ScanDecisions(ctx, from, to, fn)
}

// Linked implements store.History.
func (s *Store) Linked(ctx context.Context, id store.Identifier, limit int) ([]store.Link, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	return s.base.Linked(ctx, id, limit)
}

// ReportOutcome implements store.Outcomes.
func (s *Store) ReportOutcome(ctx context.Context, o store.Outcome) error {
	if err := s.live(); err != nil {
		return err
	}
	return s.base.ReportOutcome(ctx, o)
}

// Marks implements store.Outcomes.
func (s *Store) Marks(ctx context.Context, id store.Identifier) ([]store.Mark, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	return s.base.Marks(ctx, id)
}

// ScanOutcomes implements store.Outcomes: outcomes live in the base store.
func (s *Store) ScanOutcomes(ctx context.Context, from, to time.Time, fn func(store.Outcome) error) error {
	return s.base.ScanOutcomes(ctx, from, to, fn)
}

// CommitStats reports the group commits of the store under the counters.
func (s *Store) CommitStats() store.CommitStats {
	if c, ok := s.base.(store.CommitCounter); ok {
		return c.CommitStats()
	}
	return store.CommitStats{}
}
