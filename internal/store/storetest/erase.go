package storetest

import (
	"slices"
	"testing"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// eraseTests hold a store.Eraser to its contract: everything kept of a
// subject goes, in every form, and nothing of anyone else. A backend
// that is no Eraser skips them.
var eraseTests = []test{
	{"ForgetsTheSubjectAndKeepsTheRest", testEraseForgets},
	{"IsIdempotent", testEraseIdempotent},
	{"ThenExpires", testEraseThenExpires},
	{"IsLogged", testEraseLogged},
}

// erasable commits a person's decision (account A, device X, their
// events, links and facts, an outcome marking them, a recorded batch)
// and another person's (account B, device Y), and returns the store as
// an Eraser, with the erasure of A and X and the person's decision ID.
func erasable(t *testing.T, s store.Store) (store.Eraser, store.Erasure, store.Commit, store.Commit) {
	t.Helper()
	eraser, ok := s.(store.Eraser)
	if !ok {
		t.Skip("the backend does not erase")
	}
	a, x := ident(store.KindAccount, "acct-A"), ident(store.KindDevice, "dev-X")
	b, y := ident(store.KindAccount, "acct-B"), ident(store.KindDevice, "dev-Y")
	facts, err := proto.Marshal(&riskv1.DecisionFacts{
		Request: &anypb.Any{TypeUrl: "type.googleapis.com/risk.v1.ScoreGiftCardPurchaseRequest", Value: []byte{0x0a, 0x02, 0xc2, 0xb7}},
		Verifiers: []*riskv1.VerifierFacts{{Name: "velocity", Status: riskv1.VerifierStatus_VERIFIER_STATUS_OK,
			Signals:  []*riskv1.Signal{{Name: "velocity.orders_1h", Value: &riskv1.Signal_IntValue{IntValue: 3}}},
			Findings: []*riskv1.Reason{{Code: "GIFT_CARD_VELOCITY"}}}},
		FiredRules: []string{"velocity_high"},
	})
	if err != nil {
		t.Fatal(err)
	}
	mine := commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "req-A", base, func(c *store.Commit) {
		x := event(c.Decision.GetDecisionId()+"/giftcard/1", "giftcard", x, base, 500)
		x.Ref = "ref-A"
		// An order of A's counted by a device shared with others, and not
		// erased itself: the event goes by its ref.
		z := event(c.Decision.GetDecisionId()+"/giftcard/2", "giftcard", ident(store.KindDevice, "dev-Z"), base, 500)
		z.Ref = "ref-A"
		c.Subjects = []store.Identifier{a, ident(store.KindDevice, "dev-X")}
		c.Events = []store.Event{event(c.Decision.GetDecisionId()+"/giftcard/0", "giftcard", a, base, 500), x, z}
		c.Links = []store.Link{{ID: ident(store.KindDevice, "dev-X"), Subject: "account:acct-A", At: base},
			{ID: ident(store.KindDevice, "dev-Z"), Subject: "account:acct-A", At: base}}
		c.Facts = facts
	})
	theirs := commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "req-B", base, func(c *store.Commit) {
		yv := event(c.Decision.GetDecisionId()+"/giftcard/1", "giftcard", y, base, 700)
		yv.Ref = "ref-B"
		c.Subjects = []store.Identifier{b, y}
		c.Events = []store.Event{event(c.Decision.GetDecisionId()+"/giftcard/0", "giftcard", b, base, 700), yv}
		c.Links = []store.Link{{ID: y, Subject: "account:acct-B", At: base}}
		c.Facts = facts
	})
	if err := s.ReportOutcome(t.Context(), store.Outcome{DecisionID: mine.Decision.GetDecisionId(),
		Label: riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, At: base}); err != nil {
		t.Fatal(err)
	}
	mustRecord(t, s, []store.Batch{{EventID: "order-A", Subjects: []store.Identifier{a, b},
		Events: []store.Event{event("order-A/refund/0", "refund", a, base, 100)}}}, 1, 0)
	e := store.Erasure{IDs: []store.Identifier{a, x}, LinkSubjects: []string{"account:acct-A"}, Refs: []string{"ref-A"}}
	// Read once, so that whatever a backend keeps of them in memory
	// (caches, windows) holds them when the erasure comes.
	for _, id := range append([]store.Identifier{ident(store.KindDevice, "dev-Z")}, e.IDs...) {
		if len(eventsNear(t, s, "giftcard", id)) != 1 {
			t.Fatalf("the person's giftcard events by %v were not stored", id.Kind)
		}
	}
	return eraser, e, mine, theirs
}

func testEraseForgets(t *testing.T, s store.Store) {
	eraser, e, mine, theirs := erasable(t, s)
	x := e.IDs[1]
	out, err := eraser.Erase(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	want := store.EraseCounts{Decisions: 1, SubjectIndex: 2, Events: 4, Links: 2, Marks: 2, Batches: 1}
	if out.Counts != want {
		t.Errorf("counts = %+v, want %+v", out.Counts, want)
	}
	if len(out.Events) != 4 {
		t.Errorf("erased events = %v, want the 4 deleted", out.Events)
	}
	if evs := eventsNear(t, s, "giftcard", ident(store.KindDevice, "dev-Z")); len(evs) != 0 {
		t.Errorf("the erased account's order by a shared device is still counted: %v", evs)
	}
	for _, id := range e.IDs {
		for _, series := range []string{"giftcard", "refund"} {
			if evs := eventsNear(t, s, series, id); len(evs) != 0 {
				t.Errorf("%s events of %v after erasure: %v", series, id.Kind, evs)
			}
		}
		if marks, err := s.Marks(t.Context(), id); err != nil || len(marks) != 0 {
			t.Errorf("marks of %v after erasure: %v, %v", id.Kind, marks, err)
		}
		if p, err := s.ListDecisions(t.Context(), store.DecisionQuery{Subject: &id, Limit: 10, MaxScan: 10}); err != nil || len(p.Decisions) != 0 {
			t.Errorf("decisions listed by %v after erasure: %v, %v", id.Kind, p.Decisions, err)
		}
	}
	for _, id := range []store.Identifier{x, ident(store.KindDevice, "dev-Z")} {
		if links, err := s.Linked(t.Context(), id, 0); err != nil || len(links) != 0 {
			t.Errorf("links of %v after erasure: %v, %v", id.Kind, links, err)
		}
	}
	id := mine.Decision.GetDecisionId()
	if subs, err := s.Subjects(t.Context(), id); err != nil || len(subs) != 0 {
		t.Errorf("Subjects of the erased decision: %v, %v", subs, err)
	}
	if subs, err := s.RecordedSubjects(t.Context(), "order-A"); err != nil || !slices.Equal(subs, []store.Identifier{ident(store.KindAccount, "acct-B")}) {
		t.Errorf("RecordedSubjects of the batch: %v, %v; want acct-B's alone", subs, err)
	}
	raw, err := s.Facts(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	f := &riskv1.DecisionFacts{}
	if err := proto.Unmarshal(raw, f); err != nil || f.GetRequest() != nil || len(f.GetVerifiers()) != 1 ||
		len(f.GetVerifiers()[0].GetSignals()) != 0 || len(f.GetVerifiers()[0].GetFindings()) != 1 || len(f.GetFiredRules()) != 1 {
		t.Errorf("facts after erasure = %v, %v; want the findings and rules without the request and signals", f, err)
	}
	d := mustDecision(t, s, id)
	kept := proto.Clone(mine.Decision).(*riskv1.Decision)
	kept.Signals = nil
	if !proto.Equal(d, kept) {
		t.Errorf("the erased decision = %v, want it as committed without its signals", d)
	}
	// The other person's is untouched.
	if !proto.Equal(mustDecision(t, s, theirs.Decision.GetDecisionId()), theirs.Decision) {
		t.Error("the other person's decision changed")
	}
	if subs, err := s.Subjects(t.Context(), theirs.Decision.GetDecisionId()); err != nil || !slices.Equal(subs, theirs.Subjects) {
		t.Errorf("the other person's subjects: %v, %v", subs, err)
	}
	if raw, err := s.Facts(t.Context(), theirs.Decision.GetDecisionId()); err != nil || string(raw) != string(theirs.Facts) {
		t.Errorf("the other person's facts changed: %v", err)
	}
	for _, id := range theirs.Subjects {
		if evs := eventsNear(t, s, "giftcard", id); len(evs) != 1 {
			t.Errorf("the other person's events by %v: %v", id.Kind, evs)
		}
	}
	if links, err := s.Linked(t.Context(), theirs.Subjects[1], 0); err != nil || len(links) != 1 {
		t.Errorf("the other person's links: %v, %v", links, err)
	}
}

func testEraseIdempotent(t *testing.T, s store.Store) {
	eraser, e, _, _ := erasable(t, s)
	if _, err := eraser.Erase(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	out, err := eraser.Erase(t.Context(), e)
	if err != nil || out.Counts != (store.EraseCounts{}) || len(out.Events) != 0 {
		t.Errorf("a repeat erased %+v (%d events), %v", out.Counts, len(out.Events), err)
	}
	if out, err := eraser.Erase(t.Context(), store.Erasure{}); err != nil || out.Counts != (store.EraseCounts{}) {
		t.Errorf("an empty erasure: %+v, %v", out.Counts, err)
	}
}

// testEraseThenExpires: what an erasure leaves still expires, whole.
func testEraseThenExpires(t *testing.T, s store.Store) {
	eraser, e, mine, theirs := erasable(t, s)
	if _, err := eraser.Erase(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	expireAll(t, s, base.Add(retention.Decisions+2*day), 100)
	for _, c := range []store.Commit{mine, theirs} {
		if _, err := s.Decision(t.Context(), c.Decision.GetDecisionId()); err == nil {
			t.Errorf("decision %s outlived its retention", c.Decision.GetRequestId())
		}
	}
	if evs := eventsNear(t, s, "giftcard", theirs.Subjects[1]); len(evs) != 0 {
		t.Errorf("events outlived their retention: %v", evs)
	}
}

// eventsNear reads every event of a series and key within a day of base.
func eventsNear(t *testing.T, s store.Store, series string, id store.Identifier) []store.Event {
	t.Helper()
	return mustEvents(t, s, series, id, base.Add(-day), base.Add(day), 0)
}

// testEraseLogged: each erasure with a receipt appends it to the log with
// its counts, a repeat too; expiry leaves the log alone.
func testEraseLogged(t *testing.T, s store.Store) {
	eraser, e, _, _ := erasable(t, s)
	first := store.ErasureRecord{ID: "erasure-1", At: base.Add(day), Caller: "privacy-desk", Kinds: []string{"account", "device"}}
	e.Receipt = first
	out, err := eraser.Erase(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	e.Receipt = store.ErasureRecord{ID: "erasure-2", At: base.Add(2 * day), Caller: "privacy-desk", Kinds: []string{"account", "device"}}
	if _, err := eraser.Erase(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	expireAll(t, s, base.Add(retention.Decisions+10*day), 100)
	log, err := eraser.Erasures(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	first.Counts = out.Counts
	if len(log) != 2 || log[0].ID != "erasure-1" || !log[0].At.Equal(first.At) || log[0].Caller != first.Caller ||
		!slices.Equal(log[0].Kinds, first.Kinds) || log[0].Counts != out.Counts || log[1].ID != "erasure-2" || log[1].Counts != (store.EraseCounts{}) {
		t.Errorf("erasure log = %+v, want %+v then erasure-2 with zero counts", log, first)
	}
}
