package rediscount_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pgstore"
	"github.com/riskd/riskd/internal/store/pgstore/pgtest"
	"github.com/riskd/riskd/internal/store/rediscount"
	"github.com/riskd/riskd/internal/store/storetest"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// The servers the tests use: the machine's own, unless the environment
// names others.
var postgresURL = pgtest.URL

func redisAddr() string {
	if a := os.Getenv("RISKD_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newSchema makes a PostgreSQL schema for one test, dropped when it ends.
func newSchema(t *testing.T) string { t.Helper(); return pgtest.Schema(t) }

// openBase opens a PostgreSQL store on schema, closed when the test ends.
func openBase(t *testing.T, schema string) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pg, err := pgstore.Open(ctx, pgstore.Options{URL: postgresURL(), Schema: schema, MaxConns: 8})
	if err != nil {
		t.Fatalf("open PostgreSQL schema %s: %v", schema, err)
	}
	t.Cleanup(func() { pg.Close() })
	return pg
}

// newClient returns a client of the test Redis, closed when the test ends.
// An unreachable Redis fails the test, saying so: it is never skipped.
func newClient(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redisAddr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s is unreachable (start it, or set RISKD_TEST_REDIS_ADDR): %v", redisAddr(), err)
	}
	return c
}

// newPrefix returns a key prefix for one test; its keys are deleted when
// the test ends.
func newPrefix(t *testing.T, c *redis.Client) string {
	t.Helper()
	prefix := "riskd_test_" + randomHex(6) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys := prefixKeys(t, ctx, c, prefix)
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("delete the keys of %s: %v", prefix, err)
			}
		}
	})
	return prefix
}

// prefixKeys lists the keys under prefix (which holds no glob characters).
func prefixKeys(t *testing.T, ctx context.Context, c *redis.Client, prefix string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan the keys of %s: %v", prefix, err)
	}
	return keys
}

const ttl = 30 * 24 * time.Hour

func TestConformance(t *testing.T) {
	type where struct {
		schema, prefix string
		client         *redis.Client
	}
	wheres := map[store.Store]where{} // subtests run one at a time
	openAt := func(t *testing.T, w where) store.Store {
		s := rediscount.New(openBase(t, w.schema), rediscount.Options{Client: w.client, Prefix: w.prefix, TTL: ttl})
		t.Cleanup(func() { s.Close() })
		wheres[s] = w
		return s
	}
	open := func(t *testing.T) store.Store {
		c := newClient(t)
		return openAt(t, where{schema: newSchema(t), prefix: newPrefix(t, c), client: c})
	}
	reopen := func(t *testing.T, s store.Store) store.Store {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return openAt(t, wheres[s])
	}
	storetest.Run(t, open, reopen)
}

var base = time.Date(2026, time.January, 1, 9, 30, 0, 0, time.UTC)

func ident(kind store.Kind, value string) store.Identifier {
	return store.Identifier{Kind: kind, Hash: sha256.Sum256([]byte(value))}
}

// commit builds a commit of a new decision for requestID with events.
func commit(requestID string, at time.Time, events ...store.Event) store.Commit {
	return store.Commit{
		Decision: &riskv1.Decision{
			DecisionId: "dec-" + randomHex(8), RequestId: requestID, Check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE,
			Outcome: riskv1.Outcome_OUTCOME_APPROVE, DecidedAt: timestamppb.New(at),
		},
		RequestHash: sha256.Sum256([]byte(requestID)),
		Events:      events,
	}
}

// replicas opens n stores as n riskd replicas would: each with its own
// PostgreSQL pool and Redis client, over one schema and one prefix.
func replicas(t *testing.T, n int) ([]*rediscount.Store, string) {
	t.Helper()
	schema := newSchema(t)
	prefix := newPrefix(t, newClient(t))
	out := make([]*rediscount.Store, n)
	for i := range out {
		out[i] = rediscount.New(openBase(t, schema), rediscount.Options{Client: newClient(t), Prefix: prefix, TTL: ttl})
	}
	return out, prefix
}

// eventKey is the key the layout gives a series and identifier.
func eventKey(prefix, series string, id store.Identifier) string {
	return prefix + "ev:" + series + ":" + strconv.Itoa(int(id.Kind)) + ":" + hex.EncodeToString(id.Hash[:])
}

// TestReplicasCountOnce races two replicas writing one event: through one
// request (one of them decides it), through different requests that carry
// the same event, and through Record. Each way counts it once.
func TestReplicasCountOnce(t *testing.T) {
	rs, prefix := replicas(t, 2)
	account := ident(store.KindAccount, "acct-1")
	e := store.Event{ID: "evt-shared", Series: "giftcard", Key: account, At: base.Add(123 * time.Millisecond), Amount: 5000, Quantity: 2, Ref: "recipient-1"}
	want := store.Aggregate{Count: 1, Amount: 5000, Quantity: 2, DistinctRefs: 1}
	const perReplica = 10

	race := func(fn func(r, i int) error) {
		t.Helper()
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, len(rs)*perReplica)
		for r := range rs {
			for i := range perReplica {
				wg.Go(func() {
					<-start
					if err := fn(r, i); err != nil {
						errs <- err
					}
				})
			}
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	check := func(what string) {
		t.Helper()
		for r, s := range rs {
			got, err := storetest.Aggregate(t.Context(), s, "giftcard", account, base, base.Add(time.Hour))
			if err != nil {
				t.Fatalf("%s: replica %d: Aggregate: %v", what, r, err)
			}
			if got != want {
				t.Errorf("%s: replica %d: Aggregate = %+v, want %+v", what, r, got, want)
			}
		}
	}

	var fresh atomic.Int32
	race(func(r, i int) error {
		_, f, err := rs[r].Commit(t.Context(), commit("order-1", base, e))
		if f {
			fresh.Add(1)
		}
		return err
	})
	if n := fresh.Load(); n != 1 {
		t.Fatalf("%d commits of one request were fresh, want 1", n)
	}
	check("one request from both replicas")

	race(func(r, i int) error {
		_, f, err := rs[r].Commit(t.Context(), commit(fmt.Sprintf("order-%d-%d", r, i), base, e))
		if err == nil && !f {
			err = fmt.Errorf("a new request was not fresh")
		}
		return err
	})
	check("different requests with the same event")

	race(func(r, i int) error {
		_, _, err := rs[r].Record(t.Context(), []store.Batch{{EventID: fmt.Sprintf("import-%d-%d", r, i), Events: []store.Event{e}}})
		return err
	})
	check("the same event recorded from both replicas")

	if n, err := newClient(t).ZCard(t.Context(), eventKey(prefix, "giftcard", account)).Result(); err != nil || n != 1 {
		t.Errorf("ZCARD = %d (%v), want 1 member", n, err)
	}
}

// TestLayout checks the keys, scores, members and TTLs that other
// replicas (and operators) rely on, and that reads come from Redis.
func TestLayout(t *testing.T) {
	c := newClient(t)
	prefix := newPrefix(t, c)
	s := rediscount.New(openBase(t, newSchema(t)), rediscount.Options{Client: c, Prefix: prefix, TTL: time.Hour})
	defer s.Close()
	device := ident(store.KindDevice, "dev-1")
	// Nanoseconds: the service stamps events with its clock.
	at := base.Add(1234567891 * time.Nanosecond)
	e := store.Event{ID: "evt-1", Series: "giftcard", Key: device, At: at, Amount: 700, Quantity: 1, Ref: "r"}
	if _, _, err := s.Commit(t.Context(), commit("order-1", at, e)); err != nil {
		t.Fatal(err)
	}
	key := eventKey(prefix, "giftcard", device)
	score, err := c.ZScore(t.Context(), key, encodedMember(t, c, key)).Result()
	if err != nil {
		t.Fatalf("ZSCORE: %v", err)
	}
	if want := float64(at.UnixMilli()); score != want {
		t.Errorf("score = %v, want the event's unix millisecond %v", score, want)
	}
	if pttl := c.PTTL(t.Context(), key).Val(); pttl <= 0 || pttl > time.Hour {
		t.Errorf("PTTL = %v, want at most the TTL of an hour", pttl)
	}

	for _, w := range []struct {
		name         string
		since, until time.Time
		want         int
	}{
		{"exactly the event's nanosecond", at, at.Add(time.Nanosecond), 1},
		{"until the event's nanosecond", at.Add(-time.Millisecond), at, 0},
		{"from the nanosecond after", at.Add(time.Nanosecond), at.Add(time.Millisecond), 0},
		{"the event's millisecond", at.Truncate(time.Millisecond), at.Truncate(time.Millisecond).Add(time.Millisecond), 1},
		{"since before the epoch", time.Time{}, at.Add(time.Hour), 1},
	} {
		es, err := s.Events(t.Context(), "giftcard", device, w.since, w.until, 0)
		if err != nil {
			t.Fatalf("%s: Events: %v", w.name, err)
		}
		if len(es) != w.want {
			t.Errorf("%s: %d events, want %d", w.name, len(es), w.want)
		}
		if len(es) == 1 && (!es[0].At.Equal(at) || es[0] != (store.Event{ID: "evt-1", Series: "giftcard", Key: device, At: es[0].At, Amount: 700, Quantity: 1, Ref: "r"})) {
			t.Errorf("%s: Events = %+v, want %+v", w.name, es[0], e)
		}
	}

	// Reads come from Redis, not from the base that also holds the event.
	if err := c.Del(t.Context(), key).Err(); err != nil {
		t.Fatal(err)
	}
	if a, err := storetest.Aggregate(t.Context(), s, "giftcard", device, base, base.Add(time.Hour)); err != nil || a != (store.Aggregate{}) {
		t.Errorf("Aggregate with the key gone = %+v, %v; want zero", a, err)
	}
}

// encodedMember returns the one member of key.
func encodedMember(t *testing.T, c *redis.Client, key string) string {
	t.Helper()
	ms, err := c.ZRange(t.Context(), key, 0, -1).Result()
	if err != nil || len(ms) != 1 {
		t.Fatalf("ZRANGE %s = %d members (%v), want 1", key, len(ms), err)
	}
	return ms[0]
}

// TestRecordPartlyDuplicate records a batch where some entries were
// recorded before: only what the base newly holds is counted.
func TestRecordPartlyDuplicate(t *testing.T) {
	c := newClient(t)
	prefix := newPrefix(t, c)
	s := rediscount.New(openBase(t, newSchema(t)), rediscount.Options{Client: c, Prefix: prefix, TTL: ttl})
	defer s.Close()
	account := ident(store.KindAccount, "acct-1")
	ev := func(id string, amount int64) store.Event {
		return store.Event{ID: id, Series: "giftcard", Key: account, At: base.Add(time.Duration(amount) * time.Microsecond), Amount: amount, Quantity: 1}
	}
	if rec, dup, err := s.Record(t.Context(), []store.Batch{{EventID: "A", Events: []store.Event{ev("A/1", 100)}}}); err != nil || rec != 1 || dup != 0 {
		t.Fatalf("Record A = %d, %d, %v", rec, dup, err)
	}
	rec, dup, err := s.Record(t.Context(), []store.Batch{
		{EventID: "A", Events: []store.Event{ev("A/other", 999)}}, // a duplicate with other content
		{EventID: "B", Events: []store.Event{ev("B/1", 10), ev("B/2", 1)}},
		{EventID: "A", Events: []store.Event{ev("A/1", 100)}}, // a duplicate with the same content
	})
	if err != nil || rec != 1 || dup != 2 {
		t.Fatalf("Record = %d recorded, %d duplicates, %v; want 1, 2", rec, dup, err)
	}
	got, err := storetest.Aggregate(t.Context(), s, "giftcard", account, base, base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.Aggregate{Count: 3, Amount: 111, Quantity: 3}); got != want {
		t.Errorf("Aggregate = %+v, want %+v", got, want)
	}
	if n := c.ZCard(t.Context(), eventKey(prefix, "giftcard", account)).Val(); n != 3 {
		t.Errorf("ZCARD = %d, want 3", n)
	}
}

// TestExpireCutoffToTheNanosecond expires around a cutoff inside a
// millisecond: strictly older goes, the cutoff itself stays.
func TestExpireCutoffToTheNanosecond(t *testing.T) {
	c := newClient(t)
	prefix := newPrefix(t, c)
	s := rediscount.New(openBase(t, newSchema(t)), rediscount.Options{Client: c, Prefix: prefix, TTL: ttl})
	defer s.Close()
	account := ident(store.KindAccount, "acct-1")
	r := store.Retention{Events: 30 * 24 * time.Hour, Decisions: 400 * 24 * time.Hour}
	now := base.Add(500*time.Microsecond + 7000*time.Nanosecond)
	cutoff := now.Add(-r.Events)
	var events []store.Event
	for i, off := range []time.Duration{-time.Hour, -time.Millisecond, -time.Microsecond, -time.Nanosecond, 0, time.Nanosecond, time.Microsecond} {
		events = append(events, store.Event{ID: fmt.Sprintf("evt-%d", i), Series: "giftcard", Key: account, At: cutoff.Add(off), Amount: 1, Quantity: 1})
	}
	if _, _, err := s.Commit(t.Context(), commit("order-1", now, events...)); err != nil {
		t.Fatal(err)
	}
	total := 0
	for {
		n, err := s.Expire(t.Context(), now, r, 2)
		if err != nil {
			t.Fatalf("Expire: %v", err)
		}
		if n > 2 {
			t.Fatalf("Expire(limit 2) = %d", n)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 4 {
		t.Errorf("Expire deleted %d in all, want the 4 events before the cutoff", total)
	}
	es, err := s.Events(t.Context(), "giftcard", account, cutoff.Add(-day), cutoff.Add(day), 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	if got, want := strings.Join(ids, " "), "evt-4 evt-5 evt-6"; got != want {
		t.Errorf("Events after Expire = %s, want %s", got, want)
	}
}

const day = 24 * time.Hour

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRedisDown: with Redis unreachable, a commit still stands (and says
// so at warn), soon, while a read fails, and fails fast.
func TestRedisDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  *redis.Options
	}{
		{"a client with a short dial timeout", &redis.Options{
			Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, DialerRetries: 1, MaxRetries: -1, ContextTimeoutEnabled: true,
		}},
		// As cmd/riskd configures it: the client retries its dials for
		// longer than a checkout waits.
		{"a retrying client", &redis.Options{
			Addr: "127.0.0.1:1", DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { testRedisDown(t, tc.opt) })
	}
}

func testRedisDown(t *testing.T, opt *redis.Options) {
	dead := redis.NewClient(opt)
	defer dead.Close()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	s := rediscount.New(openBase(t, newSchema(t)), rediscount.Options{Client: dead, Prefix: "riskd_test_down:", TTL: ttl, Logger: log})
	defer s.Close()
	account := ident(store.KindAccount, "acct-1")
	e := store.Event{ID: "evt-1", Series: "giftcard", Key: account, At: base, Amount: 100, Quantity: 1}
	// A checkout's deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()

	c := commit("order-1", base, e)
	start := time.Now()
	d, fresh, err := s.Commit(ctx, c)
	if err != nil || !fresh || d.GetDecisionId() != c.Decision.GetDecisionId() {
		t.Fatalf("Commit with Redis down = (%v, fresh %v, %v), want the decision, fresh", d.GetDecisionId(), fresh, err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Commit with Redis down took %v, want the write timeout (100ms) and a little", took)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, c.Decision.GetDecisionId()) {
		t.Errorf("no warning naming the decision was logged:\n%s", out)
	}
	if _, err := s.Decision(t.Context(), c.Decision.GetDecisionId()); err != nil {
		t.Errorf("Decision after a commit with Redis down: %v", err)
	}
	rctx, rcancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer rcancel()
	if rec, _, err := s.Record(rctx, []store.Batch{{EventID: "import-1", Events: []store.Event{e}}}); err != nil || rec != 1 {
		t.Errorf("Record with Redis down = %d, %v; want 1 recorded", rec, err)
	}

	// A verifier's budget.
	vctx, vcancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer vcancel()
	start = time.Now()
	if _, err := storetest.Aggregate(vctx, s, "giftcard", account, base, base.Add(time.Hour)); err == nil {
		t.Error("Aggregate with Redis down returned no error")
	}
	if _, err := s.Events(vctx, "giftcard", account, base, base.Add(time.Hour), 10); err == nil {
		t.Error("Events with Redis down returned no error")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("reads with Redis down took %v, want them to fail fast", took)
	}
}

// TestLateWriteIsCountedLate: a committed decision whose Redis write does
// not finish within the write timeout (here a nanosecond, so it never
// does; in production an overloaded box or a Redis hiccup) still stands,
// and its events are counted by the background retry: a velocity count is
// late, never lost.
func TestLateWriteIsCountedLate(t *testing.T) {
	c := newClient(t)
	prefix := newPrefix(t, c)
	var logs syncBuffer
	s := rediscount.New(openBase(t, newSchema(t)), rediscount.Options{Client: c, Prefix: prefix, TTL: ttl,
		WriteTimeout: time.Nanosecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer s.Close()
	account := ident(store.KindAccount, "acct-late")
	const n = 5
	for i := range n {
		e := store.Event{ID: fmt.Sprintf("evt-%d", i), Series: "giftcard", Key: account, At: base.Add(time.Duration(i) * time.Second), Amount: 100, Quantity: 1}
		if _, fresh, err := s.Commit(t.Context(), commit(fmt.Sprintf("order-late-%d", i), base, e)); err != nil || !fresh {
			t.Fatalf("commit %d: fresh %v, %v", i, fresh, err)
		}
	}
	if !strings.Contains(logs.String(), "retried in the background") {
		t.Fatalf("the inline write did not fail, so the retry is not exercised:\n%s", logs.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := storetest.Aggregate(t.Context(), s, "giftcard", account, base, base.Add(time.Hour))
		if err == nil && a.Count == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s the late events count %+v (%v), want %d", a, err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
