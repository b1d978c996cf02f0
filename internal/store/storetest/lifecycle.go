package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

var contextTests = []test{
	{"a cancelled context never hangs a call and fails it only with context.Canceled", testCancelled},
}

var closeTests = []test{
	{"every call on a closed store fails without panicking", testClosed},
}

var durabilityTests = []struct {
	name string
	run  func(t *testing.T, s store.Store, reopen func(t *testing.T, s store.Store) store.Store)
}{
	{"everything committed, recorded and reported survives a reopen", testDurable},
	{"hostile text survives a reopen byte for byte", testDurableText},
	{"cases, claims, the audit, the subject index and the feed survive a reopen", testDurableReview},
	{"policy versions, the policy state and its history survive a reopen", testDurablePolicies},
	{"lists, their entries, ranges and expiries survive a reopen", testDurableLists},
}

// call is one store method, made with ctx.
type call struct {
	name string
	do   func(ctx context.Context, s store.Store) error
}

// calls commits a decision, then returns a call of every method of s that
// reads or builds on it, so that an error from one can only come from the
// context or the store's state, never from missing data.
func calls(t *testing.T, s store.Store) []call {
	t.Helper()
	c := sellerCommit(t, s, "seller-S1", base)
	id, subject := c.Decision.GetDecisionId(), c.Subjects[0]
	device := ident(store.KindDevice, "dev-1")
	next := store.Commit{
		Decision:    decision(t, riskv1.Check_CHECK_SELLER, "seller-S2", base.Add(time.Minute)),
		RequestHash: contentHash("seller-S2"),
		Events:      []store.Event{event("evt-1", seriesGiftCard, subject, base, 100)},
	}
	held := openCase(t, s, "calls-held", base, base.Add(time.Hour), store.ExpireDecline, subject).Decision.GetDecisionId()
	newList(t, s, "calls-list", store.PurposeBlock)
	listed := mustAdd(t, s, "calls-list", entry(t, device, "x"))[0]
	return []call{
		{"CreateList", func(ctx context.Context, s store.Store) error {
			_, _, err := s.CreateList(ctx, store.List{Name: "calls-other", Purpose: store.PurposeTrust, CreatedAt: base})
			return err
		}},
		{"Lists", func(ctx context.Context, s store.Store) error {
			_, err := s.Lists(ctx)
			return err
		}},
		{"AddListEntries", func(ctx context.Context, s store.Store) error {
			_, err := s.AddListEntries(ctx, "calls-list", []store.ListEntry{entry(t, subject, "y")})
			return err
		}},
		{"ListEntries", func(ctx context.Context, s store.Store) error {
			_, err := s.ListEntries(ctx, store.ListEntryQuery{List: "calls-list", Limit: 10})
			return err
		}},
		{"MatchLists", func(ctx context.Context, s store.Store) error {
			_, err := s.MatchLists(ctx, store.ListProbe{IDs: []store.Identifier{device}, Now: base})
			return err
		}},
		{"RemoveListEntry", func(ctx context.Context, s store.Store) error {
			return s.RemoveListEntry(ctx, "calls-list", listed)
		}},
		{"DeleteListValues", func(ctx context.Context, s store.Store) error {
			_, err := s.DeleteListValues(ctx, []store.Identifier{device})
			return err
		}},
		{"ListDecisions", func(ctx context.Context, s store.Store) error {
			_, err := s.ListDecisions(ctx, store.DecisionQuery{Subject: &subject, Limit: 10, MaxScan: 10})
			return err
		}},
		{"Case", func(ctx context.Context, s store.Store) error {
			_, err := s.Case(ctx, held)
			return err
		}},
		{"CaseAudit", func(ctx context.Context, s store.Store) error {
			_, err := s.CaseAudit(ctx, held)
			return err
		}},
		{"ListCases", func(ctx context.Context, s store.Store) error {
			_, err := s.ListCases(ctx, store.CaseQuery{Now: base, Limit: 10, MaxScan: 10})
			return err
		}},
		{"ClaimCase", func(ctx context.Context, s store.Store) error {
			_, err := s.ClaimCase(ctx, store.Claim{DecisionID: held, Actor: "ana", At: base, Until: base.Add(time.Minute)})
			return err
		}},
		{"AddCaseNote", func(ctx context.Context, s store.Store) error {
			return s.AddCaseNote(ctx, held, "ana", "note", base)
		}},
		{"Resolve", func(ctx context.Context, s store.Store) error {
			_, _, err := s.Resolve(ctx, store.Resolution{DecisionID: held, Verdict: store.VerdictLegitimate, Actor: "ana", At: base})
			return err
		}},
		{"DueCases", func(ctx context.Context, s store.Store) error {
			_, err := s.DueCases(ctx, base.Add(day), 10)
			return err
		}},
		{"Feed", func(ctx context.Context, s store.Store) error {
			_, err := s.Feed(ctx, 0, 10)
			return err
		}},
		{"FeedHead", func(ctx context.Context, s store.Store) error {
			_, err := s.FeedHead(ctx)
			return err
		}},
		{"Commit", func(ctx context.Context, s store.Store) error {
			_, _, err := s.Commit(ctx, next)
			return err
		}},
		{"Decision", func(ctx context.Context, s store.Store) error {
			_, err := s.Decision(ctx, id)
			return err
		}},
		{"DecisionByRequest", func(ctx context.Context, s store.Store) error {
			_, _, err := s.DecisionByRequest(ctx, riskv1.Check_CHECK_SELLER, "seller-S1")
			return err
		}},
		{"ScanDecisions", func(ctx context.Context, s store.Store) error {
			return s.ScanDecisions(ctx, base.Add(-day), base.Add(day), func(*riskv1.Decision) error { return nil })
		}},
		{"Events", func(ctx context.Context, s store.Store) error {
			_, err := s.Events(ctx, seriesGiftCard, subject, base.Add(-day), base.Add(day), 10)
			return err
		}},
		{"Linked", func(ctx context.Context, s store.Store) error {
			_, err := s.Linked(ctx, device, 0)
			return err
		}},
		{"Record", func(ctx context.Context, s store.Store) error {
			_, _, err := s.Record(ctx, []store.Batch{{
				EventID: "import-1",
				Events:  []store.Event{event("rec-1", seriesGiftCard, subject, base, 100)},
				Links:   []store.Link{{ID: device, Subject: "seller:S9", At: base}},
			}})
			return err
		}},
		{"ReportOutcome", func(ctx context.Context, s store.Store) error {
			return s.ReportOutcome(ctx, store.Outcome{DecisionID: id, Label: fraud, At: base.Add(day)})
		}},
		{"Marks", func(ctx context.Context, s store.Store) error {
			_, err := s.Marks(ctx, subject)
			return err
		}},
		{"Expire", func(ctx context.Context, s store.Store) error {
			_, err := s.Expire(ctx, base.Add(1000*day), retention, 100)
			return err
		}},
	}
}

// hangLimit is how long a call on a cancelled context or a closed store
// may take before the suite calls it hung. Generous: such calls should
// return at once.
const hangLimit = 5 * time.Second

// within runs fn and returns its error, or reports a hang and returns
// done false. A hung fn is left behind: there is no way to stop it.
func within(t *testing.T, name string, fn func() error) (done bool, err error) {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	select {
	case err := <-ch:
		return true, err
	case <-time.After(hangLimit):
		t.Errorf("%s did not return within %v", name, hangLimit)
		return false, nil
	}
}

func testCancelled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range calls(t, s) {
		done, err := within(t, c.name, func() error { return c.do(ctx, s) })
		if done && err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: err = %v, want nil or one that wraps context.Canceled", c.name, err)
		}
	}
}

func testClosed(t *testing.T, s store.Store) {
	cs := calls(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, c := range cs {
		done, err := within(t, c.name, func() error { return c.do(t.Context(), s) })
		switch {
		case !done:
		case err == nil:
			t.Errorf("%s on a closed store returned no error", c.name)
		case !errors.Is(err, store.ErrClosed):
			t.Logf("%s on a closed store: %v (store.ErrClosed would tell the caller more)", c.name, err)
		}
	}
}

func testDurable(t *testing.T, s store.Store, reopen func(t *testing.T, s store.Store) store.Store) {
	account, device := ident(store.KindAccount, "acct-1"), ident(store.KindDevice, "dev-1")
	c := commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1", base, func(c *store.Commit) {
		c.Subjects = []store.Identifier{account, device}
		c.Events = []store.Event{
			event("evt-1", seriesGiftCard, account, base, 5000),
			event("evt-2", seriesGiftCard, device, base, 5000),
		}
		c.Links = []store.Link{{ID: device, Subject: "account:acct-1", At: base}}
	})
	id := c.Decision.GetDecisionId()
	mustReport(t, s, store.Outcome{DecisionID: id, Label: fraud, Note: "bank confirmed", At: base.Add(day)})
	recorded := event("order-0/line-1", seriesGiftCard, account, base.Add(-time.Hour), 3000)
	mustRecord(t, s, []store.Batch{{
		EventID: "order-0",
		Events:  []store.Event{recorded},
		Links:   []store.Link{{ID: device, Subject: "account:acct-0", At: base.Add(-time.Hour)}},
		Marks: []store.IdentifierMark{{ID: account, Mark: store.Mark{
			Label: chargeback, DecisionID: "psp-cb-1", At: base.Add(-time.Hour),
		}}},
	}}, 1, 0)

	s = reopen(t, s)

	wantDecision(t, "Decision after reopen", mustDecision(t, s, id), c.Decision)
	byReq, hash, err := s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1")
	if err != nil {
		t.Fatalf("DecisionByRequest after reopen: %v", err)
	}
	wantDecision(t, "DecisionByRequest after reopen", byReq, c.Decision)
	if hash != c.RequestHash {
		t.Errorf("DecisionByRequest hash after reopen = %x, want %x", hash, c.RequestHash)
	}
	if scanned := scanAll(t, s, base.Add(-day), base.Add(day)); len(scanned) != 1 {
		t.Errorf("ScanDecisions after reopen found %d decisions, want 1", len(scanned))
	}

	since, until := base.Add(-day), base.Add(day)
	wantEvents(t, "Events after reopen", mustEvents(t, s, seriesGiftCard, account, since, until, 0), []store.Event{recorded, c.Events[0]})
	wantAggregate(t, "Aggregate(device) after reopen", mustAggregate(t, s, seriesGiftCard, device, since, until),
		store.Aggregate{Count: 1, Amount: 5000, Quantity: 1})
	wantLinks(t, "Linked after reopen", mustLinked(t, s, device), []store.Link{
		{ID: device, Subject: "account:acct-0", At: base.Add(-time.Hour)},
		{ID: device, Subject: "account:acct-1", At: base},
	})
	wantMarks(t, "Marks after reopen", mustMarks(t, s, account), []store.Mark{
		{Label: chargeback, DecisionID: "psp-cb-1", At: base.Add(-time.Hour)},
		{Label: fraud, DecisionID: id, At: base.Add(day)},
	})
	wantMarks(t, "Marks(device) after reopen", mustMarks(t, s, device), []store.Mark{{Label: fraud, DecisionID: id, At: base.Add(day)}})

	// What makes a write idempotent survives too.
	mustCommit(t, s, replayOf(t, c, c.RequestHash), false)
	if _, _, err := s.Commit(t.Context(), replayOf(t, c, contentHash("other content"))); !errors.Is(err, store.ErrRequestConflict) {
		t.Errorf("Commit with other content after reopen: err = %v, want store.ErrRequestConflict", err)
	}
	mustRecord(t, s, []store.Batch{{EventID: "order-0", Events: []store.Event{event("order-0/again", seriesGiftCard, account, base, 1)}}}, 0, 1)
	mustReport(t, s, store.Outcome{DecisionID: id, Label: fraud, At: base.Add(2 * day)})
	commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-2", base.Add(time.Minute), func(c *store.Commit) {
		c.Events = []store.Event{event("evt-1", seriesGiftCard, account, base, 5000)} // already stored
	})
	wantAggregate(t, "Aggregate(account) after writes that repeat stored IDs", mustAggregate(t, s, seriesGiftCard, account, since, until),
		store.Aggregate{Count: 2, Amount: 8000, Quantity: 2})
	if ms := mustMarks(t, s, device); len(ms) != 1 {
		t.Errorf("Marks(device) after a repeated report = %d marks, want 1", len(ms))
	}
}
