package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

var aggregateTests = []test{
	{"an empty history reads as zero and empty, not as an error", testHistoryEmpty},
	{"the window includes an event at since and excludes one at until", testWindowBounds},
	{"series and identifier kinds keep separate counts", testSeparateKeys},
	{"aggregate sums amount and quantity and counts distinct non-empty refs", testAggregateSums},
	{"events come oldest first and a limit keeps the oldest", testEventsOrderAndLimit},
	{"the same event written twice is counted once", testEventOnce},
}

var linkedTests = []test{
	{"linked lists every subject that used an identifier oldest first", testLinkedOrder},
	{"a subject linking the same identifier twice is one link with the first time", testLinkedOnce},
	{"an identifier of another kind with the same hash is not linked", testLinkedKinds},
}

var recordTests = []test{
	{"record counts recorded and duplicate entries within and across calls", testRecordCounts},
	{"a duplicate entry applies none of its events, links or marks", testRecordDuplicateApplies},
	{"recorded events count at their own time", testRecordEventTime},
	{"recorded links and marks are visible", testRecordLinksMarks},
	{"a recorded entry's subjects are kept under its event ID, the first write's", testRecordedSubjects},
}

func testHistoryEmpty(t *testing.T, s store.Store) {
	account := ident(store.KindAccount, "acct-1")
	for range 2 { // before and after a commit that touches other keys
		wantAggregate(t, "Aggregate", mustAggregate(t, s, seriesGiftCard, account, base.Add(-day), base.Add(day)), store.Aggregate{})
		if es := mustEvents(t, s, seriesGiftCard, account, base.Add(-day), base.Add(day), 0); len(es) != 0 {
			t.Errorf("Events = %d events, want none", len(es))
		}
		if ls := mustLinked(t, s, account); len(ls) != 0 {
			t.Errorf("Linked = %d links, want none", len(ls))
		}
		if ms := mustMarks(t, s, account); len(ms) != 0 {
			t.Errorf("Marks = %d marks, want none", len(ms))
		}
		other := ident(store.KindAccount, "acct-2")
		commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-"+newID(t), base, func(c *store.Commit) {
			c.Subjects = []store.Identifier{other}
			c.Events = []store.Event{event(newID(t), seriesGiftCard, other, base, 100)}
			c.Links = []store.Link{{ID: other, Subject: "seller:S1", At: base}}
		})
	}
}

func testWindowBounds(t *testing.T, s store.Store) {
	account := ident(store.KindAccount, "acct-1")
	since, until := base, base.Add(10*time.Minute)
	at := []time.Duration{-time.Second, 0, 5 * time.Minute, 10*time.Minute - time.Second, 10 * time.Minute}
	var all []store.Event
	for i, off := range at {
		all = append(all, event(fmt.Sprintf("evt-%d", i), seriesGiftCard, account, base.Add(off), int64(1000*(i+1))))
	}
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1", until, func(c *store.Commit) { c.Events = all })

	in := all[1:4]
	wantAggregate(t, "Aggregate [since, until)", mustAggregate(t, s, seriesGiftCard, account, since, until),
		store.Aggregate{Count: 3, Amount: 2000 + 3000 + 4000, Quantity: 3})
	wantEvents(t, "Events [since, until)", mustEvents(t, s, seriesGiftCard, account, since, until, 0), in)
	wantAggregate(t, "Aggregate [since, since)", mustAggregate(t, s, seriesGiftCard, account, since, since), store.Aggregate{})
	wantAggregate(t, "Aggregate [until, until+1s)", mustAggregate(t, s, seriesGiftCard, account, until, until.Add(time.Second)),
		store.Aggregate{Count: 1, Amount: 5000, Quantity: 1})
}

func testSeparateKeys(t *testing.T, s store.Store) {
	// The same value as an account and as a device hashes the same: only the
	// kind tells the keys apart.
	account, device := ident(store.KindAccount, "13800138000"), ident(store.KindDevice, "13800138000")
	otherAccount := ident(store.KindAccount, "13900139000")
	if account.Hash != device.Hash {
		t.Fatal("ident hashes the kind: the test needs equal hashes")
	}
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1", base, func(c *store.Commit) {
		c.Events = []store.Event{
			event("evt-1", seriesGiftCard, account, base, 100),
			event("evt-2", seriesGiftCard, account, base.Add(time.Second), 200),
			event("evt-3", seriesGiftCard, device, base, 400),
			event("evt-4", seriesRefund, account, base, 800),
			event("evt-5", seriesGiftCard, otherAccount, base, 1600),
		}
	})
	since, until := base.Add(-time.Hour), base.Add(time.Hour)
	for _, tc := range []struct {
		name   string
		series string
		key    store.Identifier
		want   store.Aggregate
	}{
		{"gift cards by account", seriesGiftCard, account, store.Aggregate{Count: 2, Amount: 300, Quantity: 2}},
		{"gift cards by device with the account's hash", seriesGiftCard, device, store.Aggregate{Count: 1, Amount: 400, Quantity: 1}},
		{"refunds by account", seriesRefund, account, store.Aggregate{Count: 1, Amount: 800, Quantity: 1}},
		{"gift cards by another account", seriesGiftCard, otherAccount, store.Aggregate{Count: 1, Amount: 1600, Quantity: 1}},
		{"refunds by device", seriesRefund, device, store.Aggregate{}},
	} {
		wantAggregate(t, tc.name, mustAggregate(t, s, tc.series, tc.key, since, until), tc.want)
		if es := mustEvents(t, s, tc.series, tc.key, since, until, 0); int64(len(es)) != tc.want.Count {
			t.Errorf("%s: Events = %d events, want %d", tc.name, len(es), tc.want.Count)
		}
	}
}

func testAggregateSums(t *testing.T, s store.Store) {
	buyer := ident(store.KindAccount, "buyer-1")
	refund := func(id string, at time.Duration, amount, qty int64, ref string) store.Event {
		e := event(id, seriesRefund, buyer, base.Add(at), amount)
		e.Quantity, e.Ref = qty, ref
		return e
	}
	sellerA, sellerB, sellerC := fmt.Sprintf("%x", ident(store.KindSeller, "A").Hash), fmt.Sprintf("%x", ident(store.KindSeller, "B").Hash), fmt.Sprintf("%x", ident(store.KindSeller, "C").Hash)
	commitDecision(t, s, riskv1.Check_CHECK_REFUND, "refund-1", base, func(c *store.Commit) {
		c.Events = []store.Event{
			refund("r1", 0, 12999, 1, sellerA),
			refund("r2", time.Minute, 5000, 3, sellerB),
			refund("r3", 2*time.Minute, 1, 2, sellerA),
			refund("r4", 3*time.Minute, 700, 0, ""),
			refund("r5", 4*time.Minute, 300, 1, ""),
			refund("r6", -time.Hour, 99999, 9, sellerC), // outside the window
		}
	})
	wantAggregate(t, "refunds in the window", mustAggregate(t, s, seriesRefund, buyer, base, base.Add(time.Hour)),
		store.Aggregate{Count: 5, Amount: 12999 + 5000 + 1 + 700 + 300, Quantity: 1 + 3 + 2 + 0 + 1, DistinctRefs: 2})

	// The largest amounts the API allows must sum exactly.
	big := ident(store.KindAccount, "buyer-2")
	commitDecision(t, s, riskv1.Check_CHECK_REFUND, "refund-2", base, func(c *store.Commit) {
		for i := range 3 {
			e := event(fmt.Sprintf("big-%d", i), seriesRefund, big, base.Add(time.Duration(i)*time.Second), 999_999_999_999_999)
			c.Events = append(c.Events, e)
		}
	})
	wantAggregate(t, "large amounts", mustAggregate(t, s, seriesRefund, big, base, base.Add(time.Hour)),
		store.Aggregate{Count: 3, Amount: 2_999_999_999_999_997, Quantity: 3})
}

func testEventsOrderAndLimit(t *testing.T, s store.Store) {
	account := ident(store.KindAccount, "acct-1")
	mk := func(i int) store.Event {
		e := event(fmt.Sprintf("evt-%d", i), seriesGiftCard, account, base.Add(time.Duration(i)*time.Minute), int64(100+i))
		e.Quantity, e.Ref = int64(i%3+1), fmt.Sprintf("recipient-%d", i%2)
		return e
	}
	// Written out of order, within one commit and across commits.
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1", base.Add(time.Hour), func(c *store.Commit) {
		c.Events = []store.Event{mk(4), mk(1), mk(6)}
	})
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-2", base.Add(time.Hour), func(c *store.Commit) {
		c.Events = []store.Event{mk(5), mk(0), mk(3), mk(2)}
	})
	var all []store.Event
	for i := range 7 {
		all = append(all, mk(i))
	}
	since, until := base, base.Add(time.Hour)
	wantEvents(t, "no limit", mustEvents(t, s, seriesGiftCard, account, since, until, 0), all)
	wantEvents(t, "limit 3", mustEvents(t, s, seriesGiftCard, account, since, until, 3), all[:3])
	wantEvents(t, "limit 1", mustEvents(t, s, seriesGiftCard, account, since, until, 1), all[:1])
	wantEvents(t, "limit above the count", mustEvents(t, s, seriesGiftCard, account, since, until, 100), all)
	wantEvents(t, "limit 2 in a later window", mustEvents(t, s, seriesGiftCard, account, base.Add(3*time.Minute), until, 2), all[3:5])
}

func testEventOnce(t *testing.T, s store.Store) {
	// An event is its series, key, time and ID: a retried write of it,
	// however it arrives, must not count it again.
	account := ident(store.KindAccount, "acct-1")
	e := event("evt-1", seriesGiftCard, account, base, 100)
	e.Ref = "recipient-1"
	since, until := base.Add(-time.Hour), base.Add(time.Hour)
	want := store.Aggregate{Count: 1, Amount: 100, Quantity: 1, DistinctRefs: 1}

	// Twice in one commit, then again in another commit.
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1", base, func(c *store.Commit) {
		c.Events = []store.Event{e, e}
	})
	wantAggregate(t, "after one commit with the event twice", mustAggregate(t, s, seriesGiftCard, account, since, until), want)
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-2", base.Add(time.Minute), func(c *store.Commit) {
		c.Events = []store.Event{e}
	})
	wantAggregate(t, "after a second commit", mustAggregate(t, s, seriesGiftCard, account, since, until), want)
	// Then through Record, which may carry what a commit already wrote.
	mustRecord(t, s, []store.Batch{{EventID: "order-1", Events: []store.Event{e}}}, 1, 0)
	wantAggregate(t, "after Record of a committed event", mustAggregate(t, s, seriesGiftCard, account, since, until), want)
	wantEvents(t, "after all the writes", mustEvents(t, s, seriesGiftCard, account, since, until, 0), []store.Event{e})

	// Twice through Record, in two entries of one call and in a later call.
	device := ident(store.KindDevice, "dev-1")
	rec := event("order-77/line-1", seriesGiftCard, device, base, 300)
	mustRecord(t, s, []store.Batch{
		{EventID: "order-77", Events: []store.Event{rec}},
		{EventID: "order-77-retry", Events: []store.Event{rec, rec}},
	}, 2, 0)
	mustRecord(t, s, []store.Batch{{EventID: "order-77-late", Events: []store.Event{rec}}}, 1, 0)
	wantAggregate(t, "after three recorded entries", mustAggregate(t, s, seriesGiftCard, device, since, until), store.Aggregate{Count: 1, Amount: 300, Quantity: 1})
	wantEvents(t, "after three recorded entries", mustEvents(t, s, seriesGiftCard, device, since, until, 0), []store.Event{rec})
}

func testLinkedOrder(t *testing.T, s store.Store) {
	phone := ident(store.KindMobile, "+8613800138000")
	link := func(subject string, at time.Duration) store.Link {
		return store.Link{ID: phone, Subject: subject, At: base.Add(at)}
	}
	commitDecision(t, s, riskv1.Check_CHECK_SELLER, "seller-S2", base.Add(2*day), func(c *store.Commit) {
		c.Links = []store.Link{link("seller:S2", 2*day), link("seller:S4", 4*day)}
	})
	commitDecision(t, s, riskv1.Check_CHECK_SELLER, "seller-S1", base.Add(day), func(c *store.Commit) {
		c.Links = []store.Link{link("seller:S3", 3*day), link("seller:S1", day)}
	})
	mustRecord(t, s, []store.Batch{{EventID: "import-1", Links: []store.Link{link("seller:S0", 0)}}}, 1, 0)

	wantLinks(t, "Linked", mustLinked(t, s, phone), []store.Link{
		link("seller:S0", 0), link("seller:S1", day), link("seller:S2", 2*day), link("seller:S3", 3*day), link("seller:S4", 4*day),
	})

	// A limit bounds the answer; which links come back is the backend's
	// choice, but they are real ones, distinct and oldest first.
	some, err := s.Linked(t.Context(), phone, 2)
	if err != nil {
		t.Fatalf("Linked with a limit: %v", err)
	}
	if len(some) != 2 || some[0].Subject == some[1].Subject || some[1].At.Before(some[0].At) {
		t.Fatalf("Linked(limit 2) = %v, want two distinct links oldest first", some)
	}
}

func testLinkedOnce(t *testing.T, s store.Store) {
	license := ident(store.KindLicense, "91350100M000100Y43")
	first := store.Link{ID: license, Subject: "seller:S1", At: base}
	later := store.Link{ID: license, Subject: "seller:S1", At: base.Add(day)}
	other := store.Link{ID: license, Subject: "seller:S2", At: base.Add(2 * day)}

	commitDecision(t, s, riskv1.Check_CHECK_SELLER, "seller-S1", base, func(c *store.Commit) {
		c.Links = []store.Link{first, first}
	})
	commitDecision(t, s, riskv1.Check_CHECK_SELLER, "seller-S1-again", base.Add(day), func(c *store.Commit) {
		c.Links = []store.Link{later, other}
	})
	mustRecord(t, s, []store.Batch{{EventID: "import-1", Links: []store.Link{later}}}, 1, 0)

	wantLinks(t, "Linked", mustLinked(t, s, license), []store.Link{first, other})
}

func testLinkedKinds(t *testing.T, s store.Store) {
	mobile, landline := ident(store.KindMobile, "02512345678"), ident(store.KindLandline, "02512345678")
	commitDecision(t, s, riskv1.Check_CHECK_SELLER, "seller-S1", base, func(c *store.Commit) {
		c.Links = []store.Link{
			{ID: mobile, Subject: "seller:S1", At: base},
			{ID: landline, Subject: "seller:S2", At: base.Add(time.Second)},
		}
	})
	wantLinks(t, "Linked(mobile)", mustLinked(t, s, mobile), []store.Link{{ID: mobile, Subject: "seller:S1", At: base}})
	wantLinks(t, "Linked(landline)", mustLinked(t, s, landline), []store.Link{{ID: landline, Subject: "seller:S2", At: base.Add(time.Second)}})
	if ls := mustLinked(t, s, ident(store.KindEmail, "02512345678")); len(ls) != 0 {
		t.Errorf("Linked(e-mail with the same hash) = %d links, want none", len(ls))
	}
}

func testRecordCounts(t *testing.T, s store.Store) {
	account := ident(store.KindAccount, "acct-1")
	entry := func(id string, at time.Duration) store.Batch {
		return store.Batch{EventID: id, Events: []store.Event{event(id+"/1", seriesGiftCard, account, base.Add(at), 100)}}
	}
	mustRecord(t, s, nil, 0, 0)
	mustRecord(t, s, []store.Batch{entry("A", 0), entry("B", time.Minute), entry("A", 0)}, 2, 1)
	mustRecord(t, s, []store.Batch{entry("B", time.Minute), entry("C", 2*time.Minute)}, 1, 1)
	mustRecord(t, s, []store.Batch{entry("A", 0), entry("B", time.Minute), entry("C", 2*time.Minute)}, 0, 3)
	wantAggregate(t, "events of A, B and C", mustAggregate(t, s, seriesGiftCard, account, base, base.Add(time.Hour)),
		store.Aggregate{Count: 3, Amount: 300, Quantity: 3})
}

func testRecordDuplicateApplies(t *testing.T, s store.Store) {
	account, device := ident(store.KindAccount, "acct-1"), ident(store.KindDevice, "dev-1")
	// The second and third entries reuse the first's EventID with other
	// content: none of it may land.
	entry := func(n int) store.Batch {
		at := base.Add(time.Duration(n) * time.Minute)
		return store.Batch{
			EventID: "order-9",
			Events:  []store.Event{event(fmt.Sprintf("order-9/%d", n), seriesGiftCard, account, at, int64(100*(n+1)))},
			Links:   []store.Link{{ID: device, Subject: fmt.Sprintf("account:%d", n), At: at}},
			Marks: []store.IdentifierMark{{ID: account, Mark: store.Mark{
				Label: riskv1.OutcomeLabel(n + 1), DecisionID: fmt.Sprintf("external-%d", n), At: at,
			}}},
		}
	}
	mustRecord(t, s, []store.Batch{entry(0), entry(1)}, 1, 1)
	mustRecord(t, s, []store.Batch{entry(2)}, 0, 1)

	at := base
	wantAggregate(t, "events", mustAggregate(t, s, seriesGiftCard, account, base, base.Add(time.Hour)), store.Aggregate{Count: 1, Amount: 100, Quantity: 1})
	wantLinks(t, "links", mustLinked(t, s, device), []store.Link{{ID: device, Subject: "account:0", At: at}})
	wantMarks(t, "marks", mustMarks(t, s, account), []store.Mark{{Label: riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, DecisionID: "external-0", At: at}})
}

func testRecordEventTime(t *testing.T, s store.Store) {
	// The service reads windows back from its own now; here now is fixed.
	now := base
	recipient := ident(store.KindRecipient, "recipient-1")
	recent := event("order-1/line-1", seriesGiftCard, recipient, now.Add(-5*time.Minute), 20000)
	lastWeek := event("order-0/line-1", seriesGiftCard, recipient, now.Add(-7*day), 30000)
	mustRecord(t, s, []store.Batch{
		{EventID: "order-1", Events: []store.Event{recent}},
		{EventID: "order-0", Events: []store.Event{lastWeek}},
	}, 2, 0)

	wantAggregate(t, "last 10 minutes", mustAggregate(t, s, seriesGiftCard, recipient, now.Add(-10*time.Minute), now),
		store.Aggregate{Count: 1, Amount: 20000, Quantity: 1})
	wantEvents(t, "last 10 minutes", mustEvents(t, s, seriesGiftCard, recipient, now.Add(-10*time.Minute), now, 0), []store.Event{recent})
	wantAggregate(t, "last 30 days", mustAggregate(t, s, seriesGiftCard, recipient, now.Add(-30*day), now),
		store.Aggregate{Count: 2, Amount: 50000, Quantity: 2})
}

func testRecordLinksMarks(t *testing.T, s store.Store) {
	account, payout := ident(store.KindAccount, "acct-1"), ident(store.KindPayoutAccount, "6222020200112233445")
	mustRecord(t, s, []store.Batch{
		{
			EventID: "chargeback-1",
			Links:   []store.Link{{ID: payout, Subject: "seller:S1", At: base.Add(time.Hour)}},
			Marks: []store.IdentifierMark{
				{ID: account, Mark: store.Mark{Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK, DecisionID: "psp-cb-1", At: base.Add(time.Hour)}},
				{ID: payout, Mark: store.Mark{Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK, DecisionID: "psp-cb-1", At: base.Add(time.Hour)}},
			},
		},
		{
			EventID: "ban-1",
			Links:   []store.Link{{ID: payout, Subject: "seller:S0", At: base}},
			Marks: []store.IdentifierMark{
				{ID: account, Mark: store.Mark{Label: riskv1.OutcomeLabel_OUTCOME_LABEL_SELLER_BANNED, DecisionID: "", At: base}},
			},
		},
	}, 2, 0)

	wantLinks(t, "Linked(payout)", mustLinked(t, s, payout), []store.Link{
		{ID: payout, Subject: "seller:S0", At: base},
		{ID: payout, Subject: "seller:S1", At: base.Add(time.Hour)},
	})
	wantMarks(t, "Marks(account)", mustMarks(t, s, account), []store.Mark{
		{Label: riskv1.OutcomeLabel_OUTCOME_LABEL_SELLER_BANNED, At: base},
		{Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK, DecisionID: "psp-cb-1", At: base.Add(time.Hour)},
	})
	wantMarks(t, "Marks(payout)", mustMarks(t, s, payout), []store.Mark{
		{Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK, DecisionID: "psp-cb-1", At: base.Add(time.Hour)},
	})
}

func testRecordedSubjects(t *testing.T, s store.Store) {
	order := []store.Identifier{
		ident(store.KindAccount, "acct-1"), ident(store.KindDevice, "dev-1"),
		ident(store.KindInstrument, "card-1"), ident(store.KindRecipient, "r@example.com"),
	}
	mustRecord(t, s, []store.Batch{
		{EventID: "order-1", Subjects: order, Events: []store.Event{event("order-1/0", seriesGiftCard, order[0], base, 100)}},
		{EventID: "outcome-1"},
	}, 2, 0)
	// A duplicate with other subjects changes nothing.
	mustRecord(t, s, []store.Batch{{EventID: "order-1", Subjects: order[:1]}}, 0, 1)
	got, err := s.RecordedSubjects(t.Context(), "order-1")
	if err != nil || !slices.Equal(got, order) {
		t.Fatalf("RecordedSubjects(order-1) = %v, %v; want %v", got, err, order)
	}
	if got, err := s.RecordedSubjects(t.Context(), "outcome-1"); err != nil || len(got) != 0 {
		t.Fatalf("RecordedSubjects of an entry without subjects = %v, %v; want none", got, err)
	}
	if _, err := s.RecordedSubjects(t.Context(), "never-recorded"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RecordedSubjects of an unknown event ID: %v, want ErrNotFound", err)
	}
}
