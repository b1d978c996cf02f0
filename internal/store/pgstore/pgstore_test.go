package pgstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pgstore/pgtest"
	"github.com/riskd/riskd/internal/store/storetest"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testURL and newSchema are pgtest's, under the names these tests use.
var testURL = pgtest.URL

func newSchema(t *testing.T) string { t.Helper(); return pgtest.Schema(t) }

func openIn(t *testing.T, schema string, keyCheck []byte) (*Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Open(ctx, Options{URL: testURL(), Schema: schema, MaxConns: 8, KeyCheck: keyCheck})
}

func TestConformance(t *testing.T) {
	open := func(t *testing.T) store.Store {
		schema := newSchema(t)
		s, err := openIn(t, schema, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		schemas[s] = schema
		return s
	}
	reopen := func(t *testing.T, s store.Store) store.Store {
		schema := schemas[s.(*Store)]
		s.Close()
		again, err := openIn(t, schema, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { again.Close() })
		return again
	}
	storetest.Run(t, open, reopen)
}

// schemas remembers each test store's schema for reopening it.
var schemas = map[*Store]string{}

func TestKeyCheckRefusesAnotherKey(t *testing.T) {
	schema := newSchema(t)
	s, err := openIn(t, schema, []byte("first key"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := openIn(t, schema, []byte("other key")); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("got %v, want ErrKeyMismatch", err)
	}
	s, err = openIn(t, schema, []byte("first key"))
	if err != nil {
		t.Fatalf("the same key was refused: %v", err)
	}
	s.Close()
}

// openTest opens a store in a schema of its own, closed when the test ends.
func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	schema := newSchema(t)
	s, err := openIn(t, schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, schema
}

// holdCommits stops every insert into the decisions table until release:
// the commit loop's group in flight then waits inside PostgreSQL, and the
// commits after it queue up. waiting reports how many inserts wait on it.
func holdCommits(t *testing.T, schema string) (waiting func() int, release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testURL())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	table := pgx.Identifier{schema, "decisions"}.Sanitize()
	if _, err := tx.Exec(ctx, `LOCK TABLE `+table+` IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			tx.Rollback(ctx)
			conn.Close(ctx)
		})
	}
	// Registered after the store's Close, so it runs first: Close waits
	// for the group held here.
	t.Cleanup(release)
	waiting = func() int {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE relation = $1::regclass AND NOT granted`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return waiting, release
}

// waitUntil polls cond. The bound is only there to fail a broken build
// instead of hanging it; no result depends on timing.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var groupBase = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// groupCommit is commit i for requestID: its own decision, event (counted
// by the request's account) and link (to the request's device), so that a
// second write of any of them would show.
func groupCommit(i int, requestID, content string) store.Commit {
	at := groupBase.Add(time.Duration(i) * time.Millisecond)
	account := store.Identifier{Kind: store.KindAccount, Hash: sha256.Sum256([]byte("account:" + requestID))}
	device := store.Identifier{Kind: store.KindDevice, Hash: sha256.Sum256([]byte("device:" + requestID))}
	return store.Commit{
		Decision: &riskv1.Decision{
			DecisionId: fmt.Sprintf("d-%04d", i),
			RequestId:  requestID,
			Check:      riskv1.Check_CHECK_GIFT_CARD_PURCHASE,
			Outcome:    riskv1.Outcome_OUTCOME_APPROVE,
			Score:      int32(i % 100),
			DecidedAt:  timestamppb.New(at),
		},
		RequestHash: sha256.Sum256([]byte(content)),
		Subjects:    []store.Identifier{account, device},
		Events: []store.Event{{ID: fmt.Sprintf("evt-%04d", i), Series: "giftcard", Key: account, At: at,
			Amount: int64(100 * (i + 1)), Quantity: 1, Ref: "seller:S1"}},
		Links: []store.Link{{ID: device, Subject: fmt.Sprintf("commit:%d", i), At: at}},
	}
}

type groupResult struct {
	stored *riskv1.Decision
	fresh  bool
	err    error
}

// TestConcurrentCommitsShareGroups: many concurrent commits, some of them
// replays of one request with the same content and one with other content,
// are grouped and still each get exactly the answer a lone commit would.
func TestConcurrentCommitsShareGroups(t *testing.T) {
	s, schema := openTest(t)
	const n, workers = 200, 50
	commits := make([]store.Commit, n)
	for i := range commits {
		requestID := fmt.Sprintf("order-%d", i)
		content := requestID
		switch {
		case i >= 190 && i < 198: // replays of order-0, order-20, ... order-140
			requestID = fmt.Sprintf("order-%d", (i-190)*20)
			content = requestID
		case i == 198: // order-5 again, with other content
			requestID, content = "order-5", "other content"
		case i == 199: // and once more with its own
			requestID, content = "order-5", "order-5"
		}
		commits[i] = groupCommit(i, requestID, content)
	}

	// A first commit holds the loop inside PostgreSQL until every worker
	// has queued a commit: the next group then has one from each, whatever
	// the scheduling.
	waiting, release := holdCommits(t, schema)
	first := make(chan error, 1)
	go func() {
		_, _, err := s.Commit(t.Context(), groupCommit(n, "order-first", "order-first"))
		first <- err
	}()
	waitUntil(t, "the first group waits in PostgreSQL", func() bool { return waiting() > 0 })
	results := make([]groupResult, n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				stored, fresh, err := s.Commit(t.Context(), commits[i])
				results[i] = groupResult{stored, fresh, err}
			}
		})
	}
	waitUntil(t, "every worker has queued a commit", func() bool { return s.queue.Len() == workers })
	release()
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatalf("first commit: %v", err)
	}

	byRequest := map[string][]int{}
	for i, c := range commits {
		byRequest[c.Decision.GetRequestId()] = append(byRequest[c.Decision.GetRequestId()], i)
	}
	conflicts := 0
	for requestID, is := range byRequest {
		winner := -1
		for _, i := range is {
			if results[i].err == nil && results[i].fresh {
				if winner >= 0 {
					t.Fatalf("%s: commits %d and %d both fresh", requestID, winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("%s: no fresh commit", requestID)
		}
		want := commits[winner].Decision
		if got, err := s.Decision(t.Context(), want.GetDecisionId()); err != nil || !proto.Equal(got, want) {
			t.Errorf("%s: Decision(%s) = %v, %v; want the fresh commit's", requestID, want.GetDecisionId(), got, err)
		}
		for _, i := range is {
			r := results[i]
			switch {
			case i == winner:
				if r.stored != want {
					t.Errorf("commit %d: fresh, but did not return its own decision", i)
				}
			case commits[i].RequestHash != commits[winner].RequestHash:
				conflicts++
				if !errors.Is(r.err, store.ErrRequestConflict) {
					t.Errorf("commit %d (other content than %d): err = %v, want store.ErrRequestConflict", i, winner, r.err)
				}
			case r.err != nil:
				t.Errorf("commit %d (a replay of %d): %v", i, winner, r.err)
			case !proto.Equal(r.stored, want):
				t.Errorf("commit %d (a replay of %d) returned %s, want the stored %s", i, winner,
					r.stored.GetDecisionId(), want.GetDecisionId())
			}
		}
		// Only the fresh commit's event and link were written.
		wc := commits[winner]
		agg, err := storetest.Aggregate(t.Context(), s, "giftcard", wc.Events[0].Key, groupBase.Add(-time.Hour), groupBase.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if want := (store.Aggregate{Count: 1, Amount: wc.Events[0].Amount, Quantity: 1, DistinctRefs: 1}); agg != want {
			t.Errorf("%s: Aggregate = %+v, want %+v (the fresh commit's event alone)", requestID, agg, want)
		}
		links, err := s.Linked(t.Context(), wc.Links[0].ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(links) != 1 || links[0].Subject != wc.Links[0].Subject {
			t.Errorf("%s: Linked = %+v, want the fresh commit's link %q alone", requestID, links, wc.Links[0].Subject)
		}
	}
	if conflicts == 0 {
		t.Error("no commit met a conflicting content hash")
	}
	st := s.CommitStats()
	if st.Commits != n+1 {
		t.Errorf("CommitStats.Commits = %d, want %d", st.Commits, n+1)
	}
	if st.Groups >= st.Commits {
		t.Errorf("CommitStats = %+v: no commits shared a group", st)
	}
}

// TestBadCommitFailsAlone: a commit that PostgreSQL refuses (a NUL byte in
// text) aborts its group's transaction; the others of the group must
// still be committed, and the bad one not at all.
func TestBadCommitFailsAlone(t *testing.T) {
	s, schema := openTest(t)
	waiting, release := holdCommits(t, schema)
	// A first commit holds the loop, so that the rest make one group.
	first := make(chan error, 1)
	go func() {
		_, _, err := s.Commit(t.Context(), groupCommit(100, "order-first", "order-first"))
		first <- err
	}()
	waitUntil(t, "the first group waits in PostgreSQL", func() bool { return waiting() > 0 })

	const n, bad = 12, 5
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		c := groupCommit(i, fmt.Sprintf("order-%d", i), fmt.Sprintf("order-%d", i))
		if i == bad {
			c.Events[0].Ref = "seller:\x00S1"
		}
		wg.Go(func() {
			_, fresh, err := s.Commit(t.Context(), c)
			if err == nil && !fresh {
				err = errors.New("fresh = false for a new request")
			}
			errs[i] = err
		})
	}
	waitUntil(t, "all commits are queued", func() bool { return s.queue.Len() == n })
	release()
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatalf("first commit: %v", err)
	}

	for i, err := range errs {
		c := groupCommit(i, fmt.Sprintf("order-%d", i), "")
		_, lookErr := s.Decision(t.Context(), c.Decision.GetDecisionId())
		agg, aggErr := storetest.Aggregate(t.Context(), s, "giftcard", c.Events[0].Key, groupBase.Add(-time.Hour), groupBase.Add(time.Hour))
		if aggErr != nil {
			t.Fatal(aggErr)
		}
		if i == bad {
			if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrRequestConflict) {
				t.Errorf("the bad commit: err = %v, want the database's refusal", err)
			}
			if !errors.Is(lookErr, store.ErrNotFound) || agg.Count != 0 {
				t.Errorf("the bad commit was half-stored: Decision: %v, Aggregate: %+v", lookErr, agg)
			}
			continue
		}
		if err != nil || lookErr != nil || agg.Count != 1 {
			t.Errorf("commit %d, in the group of a bad one: %v; Decision: %v; Aggregate: %+v", i, err, lookErr, agg)
		}
	}
	// The first group, then each good commit of the failed group alone:
	// the failed group itself committed nothing.
	if got, want := s.CommitStats(), (store.CommitStats{Groups: n, Commits: n}); got != want {
		t.Errorf("CommitStats = %+v, want %+v", got, want)
	}
}

// TestAbandonedGroupFreesTheLoop: a group whose callers all gave up stops
// waiting on the database, so that it cannot hold the loop (and a pooled
// connection) for as long as the server does not answer.
func TestAbandonedGroupFreesTheLoop(t *testing.T) {
	s, schema := openTest(t)
	waiting, release := holdCommits(t, schema)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Commit(ctx, groupCommit(0, "order-0", "order-0"))
		done <- err
	}()
	waitUntil(t, "the group waits in PostgreSQL", func() bool { return waiting() > 0 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Commit whose context was cancelled: err = %v, want context.Canceled", err)
	}
	waitUntil(t, "the abandoned group stops waiting", func() bool { return waiting() == 0 })
	release()
	if _, fresh, err := s.Commit(t.Context(), groupCommit(1, "order-1", "order-1")); err != nil || !fresh {
		t.Errorf("Commit after an abandoned group: fresh = %v, err = %v", fresh, err)
	}
}
