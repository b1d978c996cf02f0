package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

var expireTests = []test{
	{"expire removes events older than the events retention and keeps the rest", testExpireEvents},
	{"expire removes decisions, links and marks older than the decisions retention", testExpireDecisions},
	{"expire deletes at most limit items per call until nothing is due", testExpireLimit},
	{"expire keeps what is exactly at the cutoff and deletes what is 1ns older", testExpireCutoff},
	{"a link that expired counts from its next use, as a new one", testExpiredLinkUsedAgain},
}

// retention is what the service runs with by default.
var retention = store.Retention{Events: 30 * day, Decisions: 400 * day}

// expireAll calls Expire until it deletes nothing, checking that no call
// goes over limit, and returns the total deleted and the calls that
// deleted something.
func expireAll(t *testing.T, s store.Store, now time.Time, limit int) (total, calls int) {
	t.Helper()
	for range 1000 {
		n, err := s.Expire(t.Context(), now, retention, limit)
		if err != nil {
			t.Fatalf("Expire: %v", err)
		}
		if n < 0 || n > limit {
			t.Fatalf("Expire(limit %d) deleted %d", limit, n)
		}
		if n == 0 {
			return total, calls
		}
		total += n
		calls++
	}
	t.Fatalf("Expire still deleting after 1000 calls (%d items)", total)
	return total, calls
}

func testExpireEvents(t *testing.T, s store.Store) {
	now := base
	account, device := ident(store.KindAccount, "acct-1"), ident(store.KindDevice, "dev-1")
	old := commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-old", now.Add(-31*day), func(c *store.Commit) {
		c.Events = []store.Event{
			event("evt-old-1", seriesGiftCard, account, now.Add(-31*day), 100),
			event("evt-old-2", seriesGiftCard, account, now.Add(-31*day+time.Hour), 200),
		}
		c.Links = []store.Link{{ID: device, Subject: "account:acct-1", At: now.Add(-31 * day)}}
	})
	recent := event("evt-recent", seriesGiftCard, account, now.Add(-29*day), 400)
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-recent", now.Add(-29*day), func(c *store.Commit) {
		c.Events = []store.Event{recent}
	})
	recorded := event("rec-recent", seriesGiftCard, account, now.Add(-day), 800)
	mustRecord(t, s, []store.Batch{
		{EventID: "rec-old", Events: []store.Event{event("rec-old", seriesGiftCard, account, now.Add(-45*day), 1600)}},
		{EventID: "rec-recent", Events: []store.Event{recorded}},
	}, 2, 0)

	total, _ := expireAll(t, s, now, 1000)
	if total < 3 {
		t.Errorf("Expire deleted %d items in all, want at least the 3 old events", total)
	}

	since, until := now.Add(-1000*day), now.Add(day)
	wantEvents(t, "Events after Expire", mustEvents(t, s, seriesGiftCard, account, since, until, 0), []store.Event{recent, recorded})
	wantAggregate(t, "Aggregate after Expire", mustAggregate(t, s, seriesGiftCard, account, since, until),
		store.Aggregate{Count: 2, Amount: 1200, Quantity: 2})

	// The decision log keeps longer than events: all of it is still there.
	wantDecision(t, "Decision older than the events retention", mustDecision(t, s, old.Decision.GetDecisionId()), old.Decision)
	mustCommit(t, s, replayOf(t, old, old.RequestHash), false)
	wantLinks(t, "Linked older than the events retention", mustLinked(t, s, device), old.Links)
	if n := len(scanAll(t, s, since, until)); n != 2 {
		t.Errorf("ScanDecisions after Expire found %d decisions, want 2", n)
	}
}

func testExpireDecisions(t *testing.T, s store.Store) {
	now := base
	account, device := ident(store.KindAccount, "acct-1"), ident(store.KindDevice, "dev-1")
	other := ident(store.KindAccount, "acct-2")

	old := commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-old", now.Add(-401*day), func(c *store.Commit) {
		c.Subjects = []store.Identifier{account}
		c.Events = []store.Event{event("evt-old", seriesGiftCard, account, now.Add(-401*day), 100)}
		c.Links = []store.Link{{ID: device, Subject: "account:old", At: now.Add(-401 * day)}}
	})
	kept := commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-kept", now.Add(-10*day), func(c *store.Commit) {
		c.Subjects = []store.Identifier{account}
		c.Events = []store.Event{event("evt-kept", seriesGiftCard, account, now.Add(-10*day), 200)}
		c.Links = []store.Link{{ID: device, Subject: "account:kept", At: now.Add(-10 * day)}}
	})
	oldID, keptID := old.Decision.GetDecisionId(), kept.Decision.GetDecisionId()
	// A mark is kept by its own time: the one reported lately on the old
	// decision outlives the decision.
	mustReport(t, s, store.Outcome{DecisionID: oldID, Label: fraud, At: now.Add(-401*day + time.Hour)})
	mustReport(t, s, store.Outcome{DecisionID: oldID, Label: chargeback, At: now.Add(-100 * day)})
	mustReport(t, s, store.Outcome{DecisionID: keptID, Label: fraud, At: now.Add(-9 * day)})
	// Links and marks from Record follow the decisions retention too.
	mustRecord(t, s, []store.Batch{{
		EventID: "import-1",
		Links: []store.Link{
			{ID: device, Subject: "account:imported-old", At: now.Add(-500 * day)},
			{ID: device, Subject: "account:imported-mid", At: now.Add(-100 * day)},
		},
		Marks: []store.IdentifierMark{
			{ID: other, Mark: store.Mark{Label: riskv1.OutcomeLabel_OUTCOME_LABEL_SELLER_BANNED, DecisionID: "ext-1", At: now.Add(-450 * day)}},
			{ID: other, Mark: store.Mark{Label: chargeback, DecisionID: "ext-2", At: now.Add(-50 * day)}},
		},
	}}, 1, 0)

	total, _ := expireAll(t, s, now, 1000)
	// One decision, one event, two links and two marks at least.
	if total < 6 {
		t.Errorf("Expire deleted %d items in all, want at least 6", total)
	}

	_, err := s.Decision(t.Context(), oldID)
	wantNotFound(t, "Decision of an expired decision", err)
	_, _, err = s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-old")
	wantNotFound(t, "DecisionByRequest of an expired decision", err)
	err = s.ReportOutcome(t.Context(), store.Outcome{DecisionID: oldID, Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, At: now})
	wantNotFound(t, "ReportOutcome on an expired decision", err)

	wantDecision(t, "Decision of a kept decision", mustDecision(t, s, keptID), kept.Decision)
	byReq, _, err := s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-kept")
	if err != nil {
		t.Fatalf("DecisionByRequest of a kept decision: %v", err)
	}
	wantDecision(t, "DecisionByRequest of a kept decision", byReq, kept.Decision)
	scanned := scanAll(t, s, now.Add(-1000*day), now.Add(day))
	if len(scanned) != 1 {
		t.Fatalf("ScanDecisions after Expire found %d decisions, want 1", len(scanned))
	}
	wantDecision(t, "ScanDecisions after Expire", scanned[0], kept.Decision)

	wantLinks(t, "Linked after Expire", mustLinked(t, s, device), []store.Link{
		{ID: device, Subject: "account:imported-mid", At: now.Add(-100 * day)},
		{ID: device, Subject: "account:kept", At: now.Add(-10 * day)},
	})
	wantMarks(t, "Marks of a subject after Expire", mustMarks(t, s, account), []store.Mark{
		{Label: chargeback, DecisionID: oldID, At: now.Add(-100 * day)},
		{Label: fraud, DecisionID: keptID, At: now.Add(-9 * day)},
	})
	wantMarks(t, "Marks from Record after Expire", mustMarks(t, s, other), []store.Mark{
		{Label: chargeback, DecisionID: "ext-2", At: now.Add(-50 * day)},
	})
	wantAggregate(t, "Aggregate after Expire", mustAggregate(t, s, seriesGiftCard, account, now.Add(-1000*day), now.Add(day)),
		store.Aggregate{Count: 1, Amount: 200, Quantity: 1})

	// The expired request ID is free again, with any content.
	again := store.Commit{
		Decision:    decision(t, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-old", now),
		RequestHash: contentHash("order-old, another order"),
	}
	if _, fresh, err := s.Commit(t.Context(), again); err != nil || !fresh {
		t.Errorf("Commit of an expired request ID = (fresh %v, %v), want a fresh commit", fresh, err)
	}
}

func testExpireLimit(t *testing.T, s store.Store) {
	const limit, expired, fresh = 7, 25, 5
	now := base
	account := ident(store.KindAccount, "acct-1")
	// A decision 31 days old is kept, its events are not. Each event is one
	// item, however a backend indexes it, so the total is exact.
	old := commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-old", now.Add(-31*day), func(c *store.Commit) {
		for i := range expired {
			c.Events = append(c.Events, event(fmt.Sprintf("old-%d", i), seriesGiftCard, account, now.Add(-31*day-time.Duration(i)*time.Minute), 100))
		}
	})
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-new", now.Add(-day), func(c *store.Commit) {
		for i := range fresh {
			c.Events = append(c.Events, event(fmt.Sprintf("new-%d", i), seriesGiftCard, account, now.Add(-day+time.Duration(i)*time.Minute), 10))
		}
	})

	total, calls := expireAll(t, s, now, limit)
	if total != expired {
		t.Errorf("Expire deleted %d items in all, want the %d expired events", total, expired)
	}
	if want := (expired + limit - 1) / limit; calls < want {
		t.Errorf("Expire took %d calls at limit %d, want at least %d", calls, limit, want)
	}
	wantAggregate(t, "Aggregate after Expire", mustAggregate(t, s, seriesGiftCard, account, now.Add(-1000*day), now.Add(day)),
		store.Aggregate{Count: fresh, Amount: 10 * fresh, Quantity: fresh})
	if _, err := s.Decision(t.Context(), old.Decision.GetDecisionId()); errors.Is(err, store.ErrNotFound) {
		t.Error("Expire removed a decision that the decisions retention keeps")
	}
}

// testExpireCutoff pins the boundary of "older than the retention allows":
// an event, recorded batch, decision, link or mark exactly at now minus
// its retention is kept, and one a nanosecond older is deleted. The cutoffs
// are whole milliseconds, so every backend reads the kept items back
// exactly; the older ones are only checked to be gone.
func testExpireCutoff(t *testing.T, s store.Store) {
	now := base.Add(250 * time.Millisecond)
	eventsCutoff, decisionsCutoff := now.Add(-retention.Events), now.Add(-retention.Decisions)
	account, device, other := ident(store.KindAccount, "acct-1"), ident(store.KindDevice, "dev-1"), ident(store.KindAccount, "acct-2")
	// Recorded events have a key of their own: two events at one instant
	// may come back in either order.
	recipient := ident(store.KindRecipient, "rcpt-1")

	atEvent := event("evt-at-cutoff", seriesGiftCard, account, eventsCutoff, 100)
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-events", now.Add(-day), func(c *store.Commit) {
		c.Events = []store.Event{atEvent, event("evt-1ns-older", seriesGiftCard, account, eventsCutoff.Add(-time.Nanosecond), 200)}
	})
	atRecorded := event("rec-at-cutoff", seriesGiftCard, recipient, eventsCutoff, 400)
	batches := []store.Batch{
		{EventID: "rec-at-cutoff", Events: []store.Event{atRecorded}},
		{EventID: "rec-1ns-older", Events: []store.Event{event("rec-1ns-older", seriesGiftCard, recipient, eventsCutoff.Add(-time.Nanosecond), 800)}},
	}
	mustRecord(t, s, batches, 2, 0)

	atDecision := commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-at-cutoff", decisionsCutoff, nil)
	olderDecision := commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1ns-older", decisionsCutoff.Add(-time.Nanosecond), nil)
	atLink := store.Link{ID: device, Subject: "account:at-cutoff", At: decisionsCutoff}
	atMark := store.Mark{Label: chargeback, DecisionID: "ext-at-cutoff", At: decisionsCutoff}
	mustRecord(t, s, []store.Batch{{
		EventID: "import-1",
		Links:   []store.Link{atLink, {ID: device, Subject: "account:1ns-older", At: decisionsCutoff.Add(-time.Nanosecond)}},
		Marks: []store.IdentifierMark{
			{ID: other, Mark: atMark},
			{ID: other, Mark: store.Mark{Label: fraud, DecisionID: "ext-1ns-older", At: decisionsCutoff.Add(-time.Nanosecond)}},
		},
	}}, 1, 0)

	// Everything is there before Expire, so what goes is Expire's doing.
	since, until := now.Add(-1000*day), now.Add(day)
	if na, nr := len(mustEvents(t, s, seriesGiftCard, account, since, until, 0)), len(mustEvents(t, s, seriesGiftCard, recipient, since, until, 0)); na != 2 || nr != 2 {
		t.Fatalf("Events before Expire: %d and %d, want 2 and 2", na, nr)
	}
	mustDecision(t, s, olderDecision.Decision.GetDecisionId())
	if nl, nm := len(mustLinked(t, s, device)), len(mustMarks(t, s, other)); nl != 2 || nm != 2 {
		t.Fatalf("before Expire: %d links and %d marks, want 2 and 2", nl, nm)
	}

	total, _ := expireAll(t, s, now, 1000)
	// Two events, one decision, one link and one mark at least.
	if total < 5 {
		t.Errorf("Expire deleted %d items in all, want at least the 5 a nanosecond older than their cutoff", total)
	}

	wantEvents(t, "Events after Expire", mustEvents(t, s, seriesGiftCard, account, since, until, 0), []store.Event{atEvent})
	wantEvents(t, "Recorded events after Expire", mustEvents(t, s, seriesGiftCard, recipient, since, until, 0), []store.Event{atRecorded})
	wantDecision(t, "Decision decided exactly at the cutoff", mustDecision(t, s, atDecision.Decision.GetDecisionId()), atDecision.Decision)
	mustCommit(t, s, replayOf(t, atDecision, atDecision.RequestHash), false)
	_, err := s.Decision(t.Context(), olderDecision.Decision.GetDecisionId())
	wantNotFound(t, "Decision decided 1ns before the cutoff", err)
	_, _, err = s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1ns-older")
	wantNotFound(t, "DecisionByRequest of a decision decided 1ns before the cutoff", err)
	wantLinks(t, "Linked after Expire", mustLinked(t, s, device), []store.Link{atLink})
	wantMarks(t, "Marks after Expire", mustMarks(t, s, other), []store.Mark{atMark})
	// A recorded batch's ID lasts at least as long as its events: the one
	// at the cutoff is still a duplicate. (Whether the older one's ID is
	// forgotten is the backend's choice.)
	mustRecord(t, s, batches[:1], 0, 1)
}

// testExpiredLinkUsedAgain: once expiry deleted a link, the subject's next
// use of the identifier is a first use again, stored with its own time. A
// backend that remembers which links it stored (to skip rereading them)
// must forget the ones expiry deleted.
func testExpiredLinkUsedAgain(t *testing.T, s store.Store) {
	now := base
	device := ident(store.KindDevice, "dev-again")
	link := func(at time.Time) []store.Link { return []store.Link{{ID: device, Subject: "account:again", At: at}} }
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-first", now.Add(-401*day), func(c *store.Commit) {
		c.Links = link(now.Add(-401 * day))
	})
	// Used again while stored: the first use still counts.
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-second", now.Add(-400*day-time.Hour), func(c *store.Commit) {
		c.Links = link(now.Add(-400*day - time.Hour))
	})
	wantLinks(t, "Linked before Expire", mustLinked(t, s, device), link(now.Add(-401*day)))
	expireAll(t, s, now, 1000)
	if ls := mustLinked(t, s, device); len(ls) != 0 {
		t.Fatalf("Linked after Expire = %v, want none", ls)
	}
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-third", now, func(c *store.Commit) {
		c.Links = link(now)
	})
	wantLinks(t, "Linked after the next use", mustLinked(t, s, device), link(now))
}
