package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

var commitTests = []test{
	{"a committed decision reads back equal by ID and by request", testCommitReadBack},
	{"an unknown decision or request is not found", testCommitNotFound},
	{"a replay with the same content returns the first decision and writes nothing", testCommitReplay},
	{"a replay with other content is a request conflict and writes nothing", testCommitConflict},
	{"the same request ID under another check is another request", testCommitOtherCheck},
	{"a decision changed by the caller after commit or read stays as stored", testCommitIsolation},
}

var scanTests = []test{
	{"scan visits the decisions decided in [from, to) oldest first", testScanRange},
	{"scan stops at the first error from fn and returns it", testScanStops},
}

func testCommitReadBack(t *testing.T, s store.Store) {
	// Microseconds, not nanoseconds: PostgreSQL keeps no finer time.
	at := base.Add(1234567 * time.Microsecond)
	d := decision(t, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1001", at)
	c := store.Commit{
		Decision:    d,
		RequestHash: contentHash("order-1001"),
		Subjects:    []store.Identifier{ident(store.KindAccount, "acct-1"), ident(store.KindDevice, "dev-1")},
		Events:      []store.Event{event("evt-1", seriesGiftCard, ident(store.KindAccount, "acct-1"), base, 50000)},
		Links:       []store.Link{{ID: ident(store.KindDevice, "dev-1"), Subject: "account:acct-1", At: base}},
		Facts:       []byte("facts of order-1001"),
	}
	want := proto.Clone(d).(*riskv1.Decision)

	stored := mustCommit(t, s, c, true)
	wantDecision(t, "Commit", stored, want)
	wantDecision(t, "Decision", mustDecision(t, s, d.GetDecisionId()), want)

	got, hash, err := s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1001")
	if err != nil {
		t.Fatalf("DecisionByRequest: %v", err)
	}
	wantDecision(t, "DecisionByRequest", got, want)
	if hash != c.RequestHash {
		t.Errorf("DecisionByRequest hash = %x, want %x", hash, c.RequestHash)
	}
	facts, err := s.Facts(t.Context(), d.GetDecisionId())
	if err != nil || string(facts) != "facts of order-1001" {
		t.Errorf("Facts = %q, %v, want what was committed", facts, err)
	}
	subjects, err := s.Subjects(t.Context(), d.GetDecisionId())
	if err != nil {
		t.Fatalf("Subjects: %v", err)
	}
	if len(subjects) != len(c.Subjects) || subjects[0] != c.Subjects[0] || subjects[1] != c.Subjects[1] {
		t.Errorf("Subjects = %v, want %v", subjects, c.Subjects)
	}
}

func testCommitNotFound(t *testing.T, s store.Store) {
	_, err := s.Decision(t.Context(), newID(t))
	wantNotFound(t, "Decision on an empty store", err)
	_, _, err = s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_SELLER, "seller-1")
	wantNotFound(t, "DecisionByRequest on an empty store", err)

	commitDecision(t, s, riskv1.Check_CHECK_SELLER, "seller-1", base, nil)
	_, err = s.Decision(t.Context(), newID(t))
	wantNotFound(t, "Decision of an unknown ID", err)
	_, _, err = s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_SELLER, "seller-2")
	wantNotFound(t, "DecisionByRequest of an unknown request", err)
	_, err = s.Subjects(t.Context(), newID(t))
	wantNotFound(t, "Subjects of an unknown ID", err)
	_, err = s.Facts(t.Context(), newID(t))
	wantNotFound(t, "Facts of an unknown ID", err)
}

// replayOf is a second decision for the same request, as a retried call
// would make it: its own decision ID, event IDs and a link of its own, so
// that anything it wrote would show.
func replayOf(t *testing.T, first store.Commit, hash [store.HashSize]byte) store.Commit {
	t.Helper()
	d := decision(t, first.Decision.GetCheck(), first.Decision.GetRequestId(), decidedAt(first.Decision).Add(time.Second))
	d.Outcome = riskv1.Outcome_OUTCOME_DECLINE
	return store.Commit{
		Decision:    d,
		RequestHash: hash,
		Subjects:    first.Subjects,
		Events:      []store.Event{event("evt-replay", seriesGiftCard, ident(store.KindAccount, "acct-1"), decidedAt(d), 70000)},
		Links:       []store.Link{{ID: ident(store.KindDevice, "dev-1"), Subject: "account:replay", At: decidedAt(d)}},
	}
}

// firstCommit is the commit that replay and conflict tests repeat.
func firstCommit(t *testing.T, s store.Store) store.Commit {
	t.Helper()
	return commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1001", base, func(c *store.Commit) {
		c.Subjects = []store.Identifier{ident(store.KindAccount, "acct-1")}
		c.Events = []store.Event{event("evt-1", seriesGiftCard, ident(store.KindAccount, "acct-1"), base, 50000)}
		c.Links = []store.Link{{ID: ident(store.KindDevice, "dev-1"), Subject: "account:acct-1", At: base}}
	})
}

// wantOnlyFirst checks that nothing but the first commit was written.
func wantOnlyFirst(t *testing.T, s store.Store, first, other store.Commit) {
	t.Helper()
	_, err := s.Decision(t.Context(), other.Decision.GetDecisionId())
	wantNotFound(t, "Decision of the second commit's ID", err)
	got, hash, err := s.DecisionByRequest(t.Context(), first.Decision.GetCheck(), first.Decision.GetRequestId())
	if err != nil {
		t.Fatalf("DecisionByRequest: %v", err)
	}
	wantDecision(t, "DecisionByRequest", got, first.Decision)
	if hash != first.RequestHash {
		t.Errorf("DecisionByRequest hash = %x, want the first commit's %x", hash, first.RequestHash)
	}
	agg := mustAggregate(t, s, seriesGiftCard, ident(store.KindAccount, "acct-1"), base.Add(-day), base.Add(day))
	wantAggregate(t, "events after the second commit", agg, store.Aggregate{Count: 1, Amount: 50000, Quantity: 1})
	wantLinks(t, "links after the second commit", mustLinked(t, s, ident(store.KindDevice, "dev-1")),
		[]store.Link{{ID: ident(store.KindDevice, "dev-1"), Subject: "account:acct-1", At: base}})
	if n := len(scanAll(t, s, base.Add(-day), base.Add(day))); n != 1 {
		t.Errorf("ScanDecisions found %d decisions, want 1", n)
	}
}

func testCommitReplay(t *testing.T, s store.Store) {
	first := firstCommit(t, s)
	replay := replayOf(t, first, first.RequestHash)

	stored := mustCommit(t, s, replay, false)
	wantDecision(t, "Commit of a replay", stored, first.Decision)
	wantOnlyFirst(t, s, first, replay)
}

func testCommitConflict(t *testing.T, s store.Store) {
	first := firstCommit(t, s)
	other := replayOf(t, first, contentHash("order-1001 with another amount"))

	_, _, err := s.Commit(t.Context(), other)
	if !errors.Is(err, store.ErrRequestConflict) {
		t.Fatalf("Commit with other content: err = %v, want store.ErrRequestConflict", err)
	}
	wantOnlyFirst(t, s, first, other)
}

func testCommitOtherCheck(t *testing.T, s store.Store) {
	refund := commitDecision(t, s, riskv1.Check_CHECK_REFUND, "req-42", base, nil)
	// Another check, the same request ID and other content: not a conflict.
	seller := store.Commit{
		Decision:    decision(t, riskv1.Check_CHECK_SELLER, "req-42", base.Add(time.Minute)),
		RequestHash: contentHash("seller req-42"),
	}
	mustCommit(t, s, seller, true)

	for _, want := range []store.Commit{refund, seller} {
		check := want.Decision.GetCheck()
		got, hash, err := s.DecisionByRequest(t.Context(), check, "req-42")
		if err != nil {
			t.Fatalf("DecisionByRequest(%v): %v", check, err)
		}
		wantDecision(t, "DecisionByRequest("+check.String()+")", got, want.Decision)
		if hash != want.RequestHash {
			t.Errorf("DecisionByRequest(%v) hash = %x, want %x", check, hash, want.RequestHash)
		}
	}
	_, _, err := s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "req-42")
	wantNotFound(t, "DecisionByRequest under a third check", err)
}

func testCommitIsolation(t *testing.T, s store.Store) {
	d := decision(t, riskv1.Check_CHECK_REFUND, "refund-7", base)
	want := proto.Clone(d).(*riskv1.Decision)
	id := d.GetDecisionId()
	spoil := func(d *riskv1.Decision) {
		d.Outcome = riskv1.Outcome_OUTCOME_APPROVE
		d.Score = 0
		d.Signals = nil
		if len(d.Reasons) > 0 {
			d.Reasons[0].Code = "SPOILED"
		}
		if d.DecidedAt != nil {
			d.DecidedAt.Seconds++
		}
	}

	stored := mustCommit(t, s, store.Commit{Decision: d, RequestHash: contentHash("refund-7")}, true)
	spoil(d)
	spoil(stored)
	wantDecision(t, "Decision after the caller changed the committed and returned values", mustDecision(t, s, id), want)

	spoil(mustDecision(t, s, id))
	wantDecision(t, "Decision after the caller changed what Decision returned", mustDecision(t, s, id), want)

	byReq, _, err := s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_REFUND, "refund-7")
	if err != nil {
		t.Fatalf("DecisionByRequest: %v", err)
	}
	spoil(byReq)
	byReq, _, err = s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_REFUND, "refund-7")
	if err != nil {
		t.Fatalf("DecisionByRequest: %v", err)
	}
	wantDecision(t, "DecisionByRequest after the caller changed what it returned", byReq, want)

	_ = s.ScanDecisions(t.Context(), base, base.Add(time.Second), func(d *riskv1.Decision) error {
		spoil(d)
		return nil
	})
	wantDecision(t, "Decision after the caller changed what ScanDecisions passed", mustDecision(t, s, id), want)
}

func testScanRange(t *testing.T, s store.Store) {
	from, to := base, base.Add(2*time.Hour)
	// Committed out of order; decision IDs are made now, not at decided_at,
	// so a scan that walks IDs instead of decision times gets this wrong.
	offsets := []time.Duration{
		time.Hour,                    // in
		-time.Second,                 // before from
		2 * time.Hour,                // at to: out
		0,                            // at from: in
		2*time.Hour - time.Second,    // in, last
		time.Hour + time.Millisecond, // in
		3 * time.Hour,                // after to
	}
	byOffset := map[time.Duration]*riskv1.Decision{}
	for i, off := range offsets {
		c := commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, fmt.Sprintf("order-%d", i), base.Add(off), nil)
		byOffset[off] = c.Decision
	}

	got := scanAll(t, s, from, to)
	want := []*riskv1.Decision{
		byOffset[0], byOffset[time.Hour], byOffset[time.Hour+time.Millisecond], byOffset[2*time.Hour-time.Second],
	}
	if len(got) != len(want) {
		t.Fatalf("ScanDecisions [from, to) visited %d decisions, want %d", len(got), len(want))
	}
	for i := range want {
		wantDecision(t, fmt.Sprintf("ScanDecisions, decision %d", i), got[i], want[i])
	}

	if got := scanAll(t, s, base.Add(4*time.Hour), base.Add(5*time.Hour)); len(got) != 0 {
		t.Errorf("ScanDecisions over an empty range visited %d decisions", len(got))
	}
	if got := scanAll(t, s, from, from); len(got) != 0 {
		t.Errorf("ScanDecisions [from, from) visited %d decisions", len(got))
	}
}

func testScanStops(t *testing.T, s store.Store) {
	for i := range 5 {
		commitDecision(t, s, riskv1.Check_CHECK_SELLER, fmt.Sprintf("seller-%d", i), base.Add(time.Duration(i)*time.Minute), nil)
	}
	errStop := errors.New("replay stopped")
	var calls int
	err := s.ScanDecisions(t.Context(), base, base.Add(time.Hour), func(*riskv1.Decision) error {
		calls++
		if calls == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Errorf("ScanDecisions: err = %v, want fn's error", err)
	}
	if calls != 2 {
		t.Errorf("ScanDecisions called fn %d times after it failed on the 2nd, want 2", calls)
	}
}
