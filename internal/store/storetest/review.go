package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// The review desk (issue 20): the decision search, cases with their
// claims, resolutions and audit, and the resolutions feed.

var listTests = []test{
	{"decisions are listed newest first, page by page, none lost or repeated while new ones arrive", testListPages},
	{"a subject finds the decisions made with it, by their subjects and indexed identifiers, and no other", testListSubject},
	{"a time range is half-open and bounds a subject's listing too", testListRange},
	{"filters select by check, outcome, action, policy version, reason and case state", testListFilters},
	{"MaxScan bounds the work of a call, and the next page goes on where it stopped", testListMaxScan},
}

var caseTests = []test{
	{"a decision opens its case in its own commit, once, and a replay opens none", testCaseOpened},
	{"a claim is exclusive, renewable by its holder, released only by its holder, and lapses", testClaims},
	{"only the holder of a live claim resolves, and a resolution ends the claim", testResolveNeedsClaim},
	{"concurrent resolutions of one case: exactly one wins, with one audit entry, one feed entry and one outcome", testResolveOnce},
	{"a resolution's label is recorded exactly as ReportOutcome records it", testResolveLabel},
	{"expiry: due cases are resolved once by their expiry action; an escalation keeps the case open and due no more", testCaseExpiry},
	{"the queue lists unresolved cases soonest due first, filtered and paged", testListCases},
	{"notes are appended to the audit trail, resolved or not, and the audit is kept in order", testCaseNotes},
}

var feedTests = []test{
	{"the feed holds every resolution once, numbered from 1 without gaps in commit order, read from any cursor", testFeed},
	{"concurrent resolutions of many cases leave a feed without gaps or repeats", testFeedConcurrent},
	{"expiry takes a decision's case, audit, feed entries and index entries with it", testReviewExpire},
}

// listed is a page's decision IDs.
func listed(p store.DecisionPage) []string {
	out := make([]string, len(p.Decisions))
	for i, d := range p.Decisions {
		out[i] = d.Decision.GetDecisionId()
	}
	return out
}

// listAll pages through q until the store says nothing is left, and
// returns every decision ID in order. between, if set, runs after each
// page.
func listAll(t *testing.T, s store.Store, q store.DecisionQuery, between func()) []string {
	t.Helper()
	var out []string
	for range 1000 {
		p, err := s.ListDecisions(t.Context(), q)
		if err != nil {
			t.Fatalf("ListDecisions: %v", err)
		}
		if len(p.Decisions) > q.Limit {
			t.Fatalf("ListDecisions returned %d decisions, more than the limit %d", len(p.Decisions), q.Limit)
		}
		out = append(out, listed(p)...)
		if p.Next == nil {
			return out
		}
		q.After = p.Next
		if between != nil {
			between()
		}
	}
	t.Fatal("ListDecisions never said the listing was over")
	return nil
}

// newestFirst returns the commits' decision IDs as a listing orders them.
func newestFirst(cs ...store.Commit) []string {
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(a, b store.Commit) int {
		at, bt := decidedAt(a.Decision), decidedAt(b.Decision)
		if c := bt.Compare(at); c != 0 {
			return c
		}
		switch ai, bi := a.Decision.GetDecisionId(), b.Decision.GetDecisionId(); {
		case ai > bi:
			return -1
		case ai < bi:
			return 1
		}
		return 0
	})
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Decision.GetDecisionId()
	}
	return out
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func testListPages(t *testing.T, s store.Store) {
	var cs []store.Commit
	for i := range 7 {
		at := base.Add(time.Duration(i) * time.Minute)
		if i == 3 {
			at = base.Add(2 * time.Minute) // two decisions at one instant: the ID orders them
		}
		cs = append(cs, commitDecision(t, s, riskv1.Check_CHECK_REFUND, fmt.Sprintf("list-%d", i), at, nil))
	}
	n := 0
	got := listAll(t, s, store.DecisionQuery{Limit: 2, MaxScan: 100}, func() {
		// New decisions, newer than every listed one, arrive meanwhile.
		n++
		commitDecision(t, s, riskv1.Check_CHECK_REFUND, fmt.Sprintf("late-%d", n), base.Add(time.Hour+time.Duration(n)*time.Second), nil)
	})
	wantIDs(t, "pages of 2 while decisions arrive", got, newestFirst(cs...))
	all := listAll(t, s, store.DecisionQuery{Limit: 500, MaxScan: 500}, nil)
	if len(all) != len(cs)+n {
		t.Errorf("one page of everything: %d decisions, want %d", len(all), len(cs)+n)
	}
}

func testListSubject(t *testing.T, s store.Store) {
	phone, device, seller := ident(store.KindMobile, "13800138000"), ident(store.KindDevice, "dev-1"), ident(store.KindSeller, "S1")
	a := commitDecision(t, s, riskv1.Check_CHECK_SELLER, "subj-a", base, func(c *store.Commit) { c.Subjects = []store.Identifier{phone, device} })
	b := commitDecision(t, s, riskv1.Check_CHECK_REFUND, "subj-b", base.Add(time.Minute), func(c *store.Commit) {
		c.Subjects = []store.Identifier{device}
		c.Indexed = []store.Identifier{seller, device} // device twice: one entry
	})
	commitDecision(t, s, riskv1.Check_CHECK_SELLER, "subj-c", base.Add(2*time.Minute), func(c *store.Commit) {
		c.Subjects = []store.Identifier{ident(store.KindMobile, "13900139000")}
	})
	q := func(id store.Identifier) store.DecisionQuery {
		return store.DecisionQuery{Subject: &id, Limit: 10, MaxScan: 100}
	}
	wantIDs(t, "by phone", listAll(t, s, q(phone), nil), newestFirst(a))
	wantIDs(t, "by device", listAll(t, s, q(device), nil), newestFirst(a, b))
	wantIDs(t, "by an indexed seller", listAll(t, s, q(seller), nil), newestFirst(b))
	// The same hash under another kind is another identifier.
	wantIDs(t, "by the phone's hash as a landline", listAll(t, s, q(store.Identifier{Kind: store.KindLandline, Hash: phone.Hash}), nil), nil)
	wantIDs(t, "by an identifier never seen", listAll(t, s, q(ident(store.KindEmail, "x@example.com")), nil), nil)
}

func testListRange(t *testing.T, s store.Store) {
	device := ident(store.KindDevice, "dev-1")
	var cs []store.Commit
	for i := range 5 {
		cs = append(cs, commitDecision(t, s, riskv1.Check_CHECK_REFUND, fmt.Sprintf("range-%d", i), base.Add(time.Duration(i)*time.Hour), func(c *store.Commit) {
			c.Subjects = []store.Identifier{device}
		}))
	}
	from, to := base.Add(time.Hour), base.Add(3*time.Hour)
	want := newestFirst(cs[1], cs[2]) // from is in, to is out
	wantIDs(t, "[1h, 3h)", listAll(t, s, store.DecisionQuery{From: from, To: to, Limit: 1, MaxScan: 10}, nil), want)
	wantIDs(t, "[1h, 3h) by device", listAll(t, s, store.DecisionQuery{Subject: &device, From: from, To: to, Limit: 1, MaxScan: 10}, nil), want)
	wantIDs(t, "from 3h", listAll(t, s, store.DecisionQuery{From: base.Add(3 * time.Hour), Limit: 10, MaxScan: 10}, nil), newestFirst(cs[3], cs[4]))
}

func testListFilters(t *testing.T, s store.Store) {
	mk := func(req string, at time.Duration, check riskv1.Check, edit func(d *riskv1.Decision), open bool) store.Commit {
		return commitDecision(t, s, check, req, base.Add(at), func(c *store.Commit) {
			if edit != nil {
				edit(c.Decision)
			}
			if open {
				c.Case = &store.NewCase{Due: base.Add(at + time.Hour), OnExpiry: store.ExpireDecline}
			}
		})
	}
	// decision() is a REVIEW with MANUAL_REVIEW and HOLD_CODE_DELIVERY,
	// reasons GIFT_CARD_VELOCITY and a shadow NEW_DEVICE.
	held := mk("f-held", 0, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, nil, true)
	resolved := mk("f-resolved", time.Minute, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, nil, true)
	declined := mk("f-declined", 2*time.Minute, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, func(d *riskv1.Decision) {
		d.Outcome, d.Actions = riskv1.Outcome_OUTCOME_DECLINE, nil
		d.Reasons = []*riskv1.Reason{{Code: "LINKED_TO_CONFIRMED_FRAUD", Score: 70}}
	}, false)
	seller := mk("f-seller", 3*time.Minute, riskv1.Check_CHECK_SELLER, func(d *riskv1.Decision) {
		d.Actions = []riskv1.Action{riskv1.Action_ACTION_REQUEST_DOCUMENTS}
		d.PolicyVersion = "sha256:other"
	}, true)
	if _, _, err := s.Resolve(t.Context(), store.Resolution{DecisionID: resolved.Decision.GetDecisionId(), Verdict: store.VerdictLegitimate,
		Actor: "ana", At: base.Add(time.Hour)}); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	for _, tc := range []struct {
		name string
		f    store.DecisionFilter
		want []store.Commit
	}{
		{"no filter", store.DecisionFilter{}, []store.Commit{held, resolved, declined, seller}},
		{"check", store.DecisionFilter{Checks: []riskv1.Check{riskv1.Check_CHECK_SELLER}}, []store.Commit{seller}},
		{"outcome", store.DecisionFilter{Outcomes: []riskv1.Outcome{riskv1.Outcome_OUTCOME_DECLINE}}, []store.Commit{declined}},
		{"either of two outcomes", store.DecisionFilter{Outcomes: []riskv1.Outcome{riskv1.Outcome_OUTCOME_DECLINE, riskv1.Outcome_OUTCOME_REVIEW}},
			[]store.Commit{held, resolved, declined, seller}},
		{"action", store.DecisionFilter{Actions: []riskv1.Action{riskv1.Action_ACTION_HOLD_CODE_DELIVERY}}, []store.Commit{held, resolved}},
		{"policy version", store.DecisionFilter{PolicyVersion: "sha256:other"}, []store.Commit{seller}},
		{"reason", store.DecisionFilter{ReasonCode: "LINKED_TO_CONFIRMED_FRAUD"}, []store.Commit{declined}},
		{"a shadow reason", store.DecisionFilter{ReasonCode: "NEW_DEVICE"}, []store.Commit{held, resolved, seller}},
		{"open case", store.DecisionFilter{Case: store.OpenCase}, []store.Commit{held, seller}},
		{"resolved case", store.DecisionFilter{Case: store.ResolvedCase}, []store.Commit{resolved}},
		{"all at once", store.DecisionFilter{Checks: []riskv1.Check{riskv1.Check_CHECK_GIFT_CARD_PURCHASE}, ReasonCode: "GIFT_CARD_VELOCITY",
			Actions: []riskv1.Action{riskv1.Action_ACTION_MANUAL_REVIEW}, Case: store.OpenCase}, []store.Commit{held}},
	} {
		got := listAll(t, s, store.DecisionQuery{Filter: tc.f, Limit: 1, MaxScan: 100}, nil)
		wantIDs(t, tc.name, got, newestFirst(tc.want...))
	}
	// Each listed decision comes with its case.
	p, err := s.ListDecisions(t.Context(), store.DecisionQuery{Filter: store.DecisionFilter{Case: store.ResolvedCase}, Limit: 10, MaxScan: 100})
	if err != nil || len(p.Decisions) != 1 {
		t.Fatalf("ListDecisions(resolved) = %v, %v", p, err)
	}
	if c := p.Decisions[0].Case; c == nil || c.State != store.CaseResolved || c.Verdict != store.VerdictLegitimate || c.ResolvedBy != "ana" {
		t.Errorf("the resolved decision's case = %+v, want resolved LEGITIMATE by ana", c)
	}
	wantDecision(t, "the listed decision", p.Decisions[0].Decision, resolved.Decision)
}

func testListMaxScan(t *testing.T, s store.Store) {
	var cs []store.Commit
	for i := range 6 {
		cs = append(cs, commitDecision(t, s, riskv1.Check_CHECK_REFUND, fmt.Sprintf("scan-%d", i), base.Add(time.Duration(i)*time.Minute), func(c *store.Commit) {
			if i == 0 {
				c.Decision.Outcome = riskv1.Outcome_OUTCOME_DECLINE // the oldest alone matches
			}
		}))
	}
	q := store.DecisionQuery{Filter: store.DecisionFilter{Outcomes: []riskv1.Outcome{riskv1.Outcome_OUTCOME_DECLINE}}, Limit: 10, MaxScan: 2}
	p, err := s.ListDecisions(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Decisions) != 0 || p.Next == nil {
		t.Fatalf("after reading 2 of 6 that do not match: %d decisions, next %v; want none and a cursor to go on", len(p.Decisions), p.Next)
	}
	if p.Next.DecisionID != cs[4].Decision.GetDecisionId() {
		t.Errorf("the cursor is at %s, want the second decision read (%s)", p.Next.DecisionID, cs[4].Decision.GetDecisionId())
	}
	wantIDs(t, "paging on", listAll(t, s, q, nil), newestFirst(cs[0]))
}

// openCase commits a decision that opens a case due at due, for an
// amount of its own (caseAmount), which every change to the case keeps.
func openCase(t *testing.T, s store.Store, requestID string, at, due time.Time, action store.ExpiryAction, subjects ...store.Identifier) store.Commit {
	t.Helper()
	return commitDecision(t, s, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, requestID, at, func(c *store.Commit) {
		c.Subjects = subjects
		c.Case = &store.NewCase{Due: due, OnExpiry: action, Amount: caseAmount(requestID)}
	})
}

// caseAmount is the amount openCase gives a request's case: one per
// request, a large one (over 2^31 fen) for long IDs.
func caseAmount(requestID string) store.Amount {
	return store.Amount{Minor: int64(len(requestID)) * 1_000_000_007, Currency: "CNY"}
}

func mustCase(t *testing.T, s store.Store, id string) store.Case {
	t.Helper()
	c, err := s.Case(t.Context(), id)
	if err != nil {
		t.Fatalf("Case(%s): %v", id, err)
	}
	return c
}

func mustAudit(t *testing.T, s store.Store, id string) []store.AuditEntry {
	t.Helper()
	a, err := s.CaseAudit(t.Context(), id)
	if err != nil {
		t.Fatalf("CaseAudit(%s): %v", id, err)
	}
	return a
}

// wantCaseErr checks err is a *store.CaseError wrapping want.
func wantCaseErr(t *testing.T, what string, err, want error) {
	t.Helper()
	var ce *store.CaseError
	if !errors.Is(err, want) || !errors.As(err, &ce) {
		t.Errorf("%s: err = %v, want a *store.CaseError wrapping %v", what, err, want)
	}
}

// auditSummary is an audit trail as "actor action" lines.
func auditSummary(as []store.AuditEntry) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%d %s %d", a.Seq, a.Actor, a.Action)
	}
	return out
}

func testCaseOpened(t *testing.T, s store.Store) {
	due := base.Add(30 * time.Minute)
	c := openCase(t, s, "case-1", base, due, store.ExpireDecline)
	id := c.Decision.GetDecisionId()
	got := mustCase(t, s, id)
	want := store.Case{DecisionID: id, Check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE, DecidedAt: base, Due: due, OnExpiry: store.ExpireDecline, State: store.CaseOpen,
		Amount: caseAmount("case-1")}
	if !sameCase(got, want) {
		t.Errorf("Case = %+v, want %+v", got, want)
	}
	// A replay with another case (the policy changed meanwhile) opens none.
	replay := store.Commit{Decision: decision(t, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "case-1", base.Add(time.Minute)), RequestHash: c.RequestHash,
		Case: &store.NewCase{Due: base.Add(time.Hour), OnExpiry: store.ExpireRelease}}
	mustCommit(t, s, replay, false)
	if _, err := s.Case(t.Context(), replay.Decision.GetDecisionId()); !errors.Is(err, store.ErrNoCase) {
		t.Errorf("Case of the replay's unstored decision: %v, want ErrNoCase", err)
	}
	if got := mustCase(t, s, id); !sameCase(got, want) {
		t.Errorf("after the replay: Case = %+v, want %+v", got, want)
	}
	plain := commitDecision(t, s, riskv1.Check_CHECK_REFUND, "no-case", base, nil)
	if _, err := s.Case(t.Context(), plain.Decision.GetDecisionId()); !errors.Is(err, store.ErrNoCase) {
		t.Errorf("Case of a decision without one: %v, want ErrNoCase", err)
	}
	if _, err := s.Case(t.Context(), newID(t)); !errors.Is(err, store.ErrNoCase) {
		t.Errorf("Case of an unknown decision: %v, want ErrNoCase", err)
	}
	if a := mustAudit(t, s, id); len(a) != 0 {
		t.Errorf("a new case's audit: %v, want none", auditSummary(a))
	}
}

// sameCase compares cases, times with Equal.
func sameCase(a, b store.Case) bool {
	return a.DecisionID == b.DecisionID && a.Check == b.Check && a.DecidedAt.Equal(b.DecidedAt) && a.Due.Equal(b.Due) &&
		a.OnExpiry == b.OnExpiry && a.State == b.State && a.Holder == b.Holder && a.ClaimedUntil.Equal(b.ClaimedUntil) &&
		a.Verdict == b.Verdict && a.ResolvedBy == b.ResolvedBy && a.ResolvedAt.Equal(b.ResolvedAt) && a.Amount == b.Amount
}

func testClaims(t *testing.T, s store.Store) {
	id := openCase(t, s, "claims", base, base.Add(time.Hour), store.ExpireDecline).Decision.GetDecisionId()
	ctx := t.Context()
	lease := 5 * time.Minute
	claim := func(actor string, at time.Duration) (store.Case, error) {
		return s.ClaimCase(ctx, store.Claim{DecisionID: id, Actor: actor, At: base.Add(at), Until: base.Add(at + lease)})
	}
	c, err := claim("ana", time.Minute)
	if err != nil || c.Holder != "ana" || !c.ClaimedUntil.Equal(base.Add(6*time.Minute)) {
		t.Fatalf("ana's claim: %+v, %v", c, err)
	}
	_, err = claim("ben", 2*time.Minute)
	wantCaseErr(t, "ben's claim on ana's live claim", err, store.ErrCaseClaimed)
	if c, err = claim("ana", 4*time.Minute); err != nil || !c.ClaimedUntil.Equal(base.Add(9*time.Minute)) {
		t.Fatalf("ana renews: %+v, %v", c, err)
	}
	_, err = claim("ben", 8*time.Minute+59*time.Second)
	wantCaseErr(t, "ben's claim a second before the renewed lease ends", err, store.ErrCaseClaimed)
	// At the lease's end the claim has lapsed: ben takes it.
	if c, err = claim("ben", 9*time.Minute); err != nil || c.Holder != "ben" {
		t.Fatalf("ben's claim once ana's lapsed: %+v, %v", c, err)
	}
	_, err = s.ReleaseClaim(ctx, id, "ana", base.Add(10*time.Minute))
	wantCaseErr(t, "ana releases ben's claim", err, store.ErrCaseClaimed)
	if c, err = s.ReleaseClaim(ctx, id, "ben", base.Add(10*time.Minute)); err != nil || c.Holder != "" || c.ClaimedBy(base.Add(10*time.Minute)) != "" {
		t.Fatalf("ben releases: %+v, %v", c, err)
	}
	_, err = s.ReleaseClaim(ctx, id, "ben", base.Add(11*time.Minute))
	wantCaseErr(t, "ben releases again", err, store.ErrNotClaimed)
	if _, err := claim("cai", 12*time.Minute); err != nil {
		t.Fatalf("cai claims the released case: %v", err)
	}
	if _, err := s.ClaimCase(ctx, store.Claim{DecisionID: newID(t), Actor: "ana", At: base, Until: base.Add(lease)}); !errors.Is(err, store.ErrNoCase) {
		t.Errorf("a claim on no case: %v, want ErrNoCase", err)
	}
	got := mustAudit(t, s, id)
	wantIDs(t, "the audit", auditSummary(got), []string{
		fmt.Sprintf("1 ana %d", store.AuditClaimed), fmt.Sprintf("2 ana %d", store.AuditRenewed), fmt.Sprintf("3 ben %d", store.AuditClaimed),
		fmt.Sprintf("4 ben %d", store.AuditReleased), fmt.Sprintf("5 cai %d", store.AuditClaimed),
	})
	if len(got) == 5 && (!got[1].At.Equal(base.Add(4*time.Minute)) || !got[1].Until.Equal(base.Add(9*time.Minute))) {
		t.Errorf("the renewal's entry: at %v until %v, want %v until %v", got[1].At, got[1].Until, base.Add(4*time.Minute), base.Add(9*time.Minute))
	}
	// A resolved case takes no claim.
	if _, _, err := s.Resolve(ctx, store.Resolution{DecisionID: id, Verdict: store.VerdictLegitimate, Actor: "cai", At: base.Add(13 * time.Minute), ByClaim: true}); err != nil {
		t.Fatal(err)
	}
	_, err = claim("ana", 14*time.Minute)
	wantCaseErr(t, "a claim on a resolved case", err, store.ErrCaseResolved)
}

func testResolveNeedsClaim(t *testing.T, s store.Store) {
	id := openCase(t, s, "needs-claim", base, base.Add(time.Hour), store.ExpireDecline).Decision.GetDecisionId()
	ctx := t.Context()
	res := func(actor string, at time.Duration) (store.Case, uint64, error) {
		return s.Resolve(ctx, store.Resolution{DecisionID: id, Verdict: store.VerdictConfirmedFraud, Actor: actor, Note: "n", At: base.Add(at), ByClaim: true, Event: []byte("e")})
	}
	_, _, err := res("ana", time.Minute)
	wantCaseErr(t, "resolving without a claim", err, store.ErrNotClaimed)
	if _, err := s.ClaimCase(ctx, store.Claim{DecisionID: id, Actor: "ana", At: base.Add(2 * time.Minute), Until: base.Add(7 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	_, _, err = res("ben", 3*time.Minute)
	wantCaseErr(t, "resolving on another's claim", err, store.ErrCaseClaimed)
	_, _, err = res("ana", 7*time.Minute)
	wantCaseErr(t, "resolving when the claim has lapsed", err, store.ErrNotClaimed)
	if _, err := s.ClaimCase(ctx, store.Claim{DecisionID: id, Actor: "ana", At: base.Add(8 * time.Minute), Until: base.Add(13 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	c, seq, err := res("ana", 9*time.Minute)
	if err != nil || seq != 1 {
		t.Fatalf("the holder resolves: %+v, seq %d, %v", c, seq, err)
	}
	want := store.Case{DecisionID: id, Check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE, DecidedAt: base, Due: base.Add(time.Hour), OnExpiry: store.ExpireDecline,
		State: store.CaseResolved, Holder: "ana", Verdict: store.VerdictConfirmedFraud, ResolvedBy: "ana", ResolvedAt: base.Add(9 * time.Minute),
		Amount: c.Amount}
	if c.Amount == (store.Amount{}) {
		t.Error("the resolved case lost its amount")
	}
	if !sameCase(c, want) || !sameCase(mustCase(t, s, id), want) {
		t.Errorf("resolved case = %+v (stored %+v), want %+v", c, mustCase(t, s, id), want)
	}
	_, _, err = res("ana", 10*time.Minute)
	wantCaseErr(t, "resolving again", err, store.ErrCaseResolved)
	if _, _, err := s.Resolve(ctx, store.Resolution{DecisionID: newID(t), Verdict: store.VerdictLegitimate, Actor: "ana", At: base}); !errors.Is(err, store.ErrNoCase) {
		t.Errorf("resolving no case: %v, want ErrNoCase", err)
	}
}

func testResolveOnce(t *testing.T, s store.Store) {
	account := ident(store.KindAccount, "acct-1")
	id := openCase(t, s, "once", base, base.Add(time.Hour), store.ExpireDecline, account).Decision.GetDecisionId()
	type result struct {
		seq uint64
		err error
	}
	results := make([]result, goroutines)
	// A long write first, so that a store that commits in groups gathers
	// the racing resolutions into one group behind it: they must see each
	// other there too.
	busy := make(chan struct{})
	go func() {
		defer close(busy)
		batch := make([]store.Batch, 2000)
		for i := range batch {
			key := ident(store.KindDevice, fmt.Sprintf("busy-%d", i))
			batch[i] = store.Batch{EventID: fmt.Sprintf("busy-%d", i), Events: []store.Event{event(fmt.Sprintf("busy-%d", i), seriesGiftCard, key, base, 1)}}
		}
		if _, _, err := s.Record(t.Context(), batch); err != nil {
			t.Errorf("Record: %v", err)
		}
	}()
	time.Sleep(5 * time.Millisecond)
	defer func() { <-busy }()
	race(func(i int) {
		// Half are analysts, half the expiry of a replica, all at once.
		r := store.Resolution{DecisionID: id, Verdict: store.VerdictConfirmedFraud, Label: fraud, Actor: fmt.Sprintf("analyst-%d", i),
			Note: fmt.Sprintf("note %d", i), At: base.Add(2 * time.Hour), Event: fmt.Appendf(nil, "event %d", i)}
		if i%2 == 1 {
			r.Verdict, r.Label, r.Actor, r.Overdue = store.VerdictExpiredDecline, 0, "riskd (expired)", true
		}
		_, seq, err := s.Resolve(t.Context(), r)
		results[i] = result{seq, err}
	})
	winner := -1
	for i, r := range results {
		switch {
		case r.err == nil && winner >= 0:
			t.Fatalf("resolutions %d and %d both succeeded", winner, i)
		case r.err == nil:
			winner = i
		default:
			if !errors.Is(r.err, store.ErrCaseResolved) && !errors.Is(r.err, store.ErrNotDue) {
				t.Errorf("resolution %d: %v, want ErrCaseResolved", i, r.err)
			}
		}
	}
	if winner < 0 {
		t.Fatal("no resolution succeeded")
	}
	if results[winner].seq != 1 {
		t.Errorf("the winner's feed sequence = %d, want 1", results[winner].seq)
	}
	if a := mustAudit(t, s, id); len(a) != 1 {
		t.Errorf("audit after %d racing resolutions: %v, want one entry", goroutines, auditSummary(a))
	}
	feed, err := s.Feed(t.Context(), 0, 100)
	if err != nil || len(feed) != 1 || string(feed[0].Event) != fmt.Sprintf("event %d", winner) {
		t.Errorf("feed = %v, %v; want the winner's one event", feed, err)
	}
	wantMarks := 0
	if winner%2 == 0 {
		wantMarks = 1
	}
	if ms := mustMarks(t, s, account); len(ms) != wantMarks {
		t.Errorf("marks on the account: %d, want %d (the winner %d's label, once)", len(ms), wantMarks, winner)
	}
}

func testResolveLabel(t *testing.T, s store.Store) {
	c := sellerCommit(t, s, "label-seller", base)
	// Two cases: other shares an identifier with the seller, held two more.
	other := openCase(t, s, "label-other", base, base.Add(time.Hour), store.ExpireDecline, c.Subjects[0])
	held := openCase(t, s, "label-held", base, base.Add(time.Hour), store.ExpireDecline, c.Subjects[1], c.Subjects[2])
	at := base.Add(10 * time.Minute)
	if _, _, err := s.Resolve(t.Context(), store.Resolution{DecisionID: held.Decision.GetDecisionId(), Verdict: store.VerdictConfirmedFraud, Label: fraud,
		Actor: "ana", Note: "holder confirmed the call", At: at}); err != nil {
		t.Fatal(err)
	}
	want := []store.Mark{{Label: fraud, DecisionID: held.Decision.GetDecisionId(), At: at}}
	for _, subject := range held.Subjects {
		wantMarks(t, "Marks("+subject.Kind.String()+")", mustMarks(t, s, subject), want)
	}
	if ms := mustMarks(t, s, c.Subjects[0]); len(ms) != 0 {
		t.Errorf("an identifier of another decision got %d marks", len(ms))
	}
	var outcomes []store.Outcome
	if err := s.ScanOutcomes(t.Context(), base, base.Add(day), func(o store.Outcome) error { outcomes = append(outcomes, o); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(outcomes) != 1 || outcomes[0].DecisionID != held.Decision.GetDecisionId() || outcomes[0].Label != fraud ||
		outcomes[0].Note != "holder confirmed the call" || !outcomes[0].At.Equal(at) {
		t.Errorf("outcomes = %+v, want the resolution's, with its note", outcomes)
	}
	// ReportOutcome of the same label afterwards changes nothing, as a
	// second report would.
	mustReport(t, s, store.Outcome{DecisionID: held.Decision.GetDecisionId(), Label: fraud, Note: "again", At: at.Add(time.Hour)})
	for _, subject := range held.Subjects {
		wantMarks(t, "Marks after ReportOutcome of the same label", mustMarks(t, s, subject), want)
	}
	// A verdict without a label records no outcome.
	if _, _, err := s.Resolve(t.Context(), store.Resolution{DecisionID: other.Decision.GetDecisionId(), Verdict: store.VerdictNeedsHolderConfirmation,
		Actor: "ana", At: at}); err != nil {
		t.Fatal(err)
	}
	if ms := mustMarks(t, s, c.Subjects[0]); len(ms) != 0 {
		t.Errorf("a resolution without a label marked its subject: %v", ms)
	}
}

func testCaseExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := openCase(t, s, "due-a", base, base.Add(30*time.Minute), store.ExpireDecline).Decision.GetDecisionId()
	b := openCase(t, s, "due-b", base, base.Add(10*time.Minute), store.ExpireEscalate).Decision.GetDecisionId()
	c := openCase(t, s, "due-c", base, base.Add(40*time.Minute), store.ExpireRelease).Decision.GetDecisionId()
	due := func(at time.Duration) []string {
		cs, err := s.DueCases(ctx, base.Add(at), 10)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.DecisionID
		}
		return out
	}
	wantIDs(t, "due at 5m", due(5*time.Minute), nil)
	wantIDs(t, "due at 30m (at its due time a case is due)", due(30*time.Minute), []string{b, a})
	if cs, _ := s.DueCases(ctx, base.Add(time.Hour), 1); len(cs) != 1 || cs[0].DecisionID != b {
		t.Errorf("DueCases limit 1 = %v, want the soonest due", cs)
	}
	expire := func(id string, v store.Verdict, at time.Duration) error {
		_, _, err := s.Resolve(ctx, store.Resolution{DecisionID: id, Verdict: v, Actor: "riskd (expired)", At: base.Add(at), Overdue: true})
		return err
	}
	err := expire(c, store.VerdictExpiredRelease, 39*time.Minute)
	wantCaseErr(t, "expiring a case before it is due", err, store.ErrNotDue)
	if err := expire(b, store.VerdictEscalated, 30*time.Minute); err != nil {
		t.Fatalf("escalating b: %v", err)
	}
	if got := mustCase(t, s, b); got.State != store.CaseEscalated || got.Verdict != store.VerdictEscalated || got.ResolvedBy != "riskd (expired)" {
		t.Errorf("escalated case = %+v", got)
	}
	wantCaseErr(t, "escalating twice", expire(b, store.VerdictEscalated, 31*time.Minute), store.ErrNotDue)
	if err := expire(a, store.VerdictExpiredDecline, 30*time.Minute); err != nil {
		t.Fatalf("expiring a: %v", err)
	}
	wantCaseErr(t, "expiring a resolved case", expire(a, store.VerdictExpiredDecline, 31*time.Minute), store.ErrCaseResolved)
	wantIDs(t, "due at 1h, once a and b are done", due(time.Hour), []string{c})
	// An escalated case is still a person's to resolve.
	if _, err := s.ClaimCase(ctx, store.Claim{DecisionID: b, Actor: "ana", At: base.Add(time.Hour), Until: base.Add(time.Hour + 5*time.Minute)}); err != nil {
		t.Fatalf("claiming the escalated case: %v", err)
	}
	if _, _, err := s.Resolve(ctx, store.Resolution{DecisionID: b, Verdict: store.VerdictLegitimate, Actor: "ana", At: base.Add(time.Hour + time.Minute), ByClaim: true}); err != nil {
		t.Fatalf("resolving the escalated case: %v", err)
	}
	wantIDs(t, "b's audit", auditSummary(mustAudit(t, s, b)), []string{
		fmt.Sprintf("1 riskd (expired) %d", store.AuditEscalated), fmt.Sprintf("2 ana %d", store.AuditClaimed), fmt.Sprintf("3 ana %d", store.AuditResolved),
	})
	wantIDs(t, "a's audit", auditSummary(mustAudit(t, s, a)), []string{fmt.Sprintf("1 riskd (expired) %d", store.AuditExpired)})
}

func testListCases(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := base.Add(time.Minute)
	var ids []string
	for i, due := range []time.Duration{40, 10, 30, 10, 20} {
		c := openCase(t, s, fmt.Sprintf("queue-%d", i), base, base.Add(due*time.Minute), store.ExpireDecline)
		ids = append(ids, c.Decision.GetDecisionId())
	}
	refund := commitDecision(t, s, riskv1.Check_CHECK_REFUND, "queue-refund", base, func(c *store.Commit) {
		c.Case = &store.NewCase{Due: base.Add(15 * time.Minute), OnExpiry: store.ExpireEscalate}
	}).Decision.GetDecisionId()
	// Cases 1 and 3 are due together: the ID orders them.
	tie := []string{ids[1], ids[3]}
	slices.Sort(tie)
	all := []string{tie[0], tie[1], refund, ids[4], ids[2], ids[0]}
	if _, err := s.ClaimCase(ctx, store.Claim{DecisionID: ids[4], Actor: "ana", At: now, Until: now.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Resolve(ctx, store.Resolution{DecisionID: ids[2], Verdict: store.VerdictLegitimate, Actor: "ben", At: now}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Resolve(ctx, store.Resolution{DecisionID: refund, Verdict: store.VerdictEscalated, Actor: "riskd (expired)", At: base.Add(15 * time.Minute), Overdue: true}); err != nil {
		t.Fatal(err)
	}
	pageAll := func(q store.CaseQuery) []string {
		var out []string
		for range 100 {
			p, err := s.ListCases(ctx, q)
			if err != nil {
				t.Fatalf("ListCases: %v", err)
			}
			if len(p.Cases) > q.Limit {
				t.Fatalf("ListCases returned %d, over the limit %d", len(p.Cases), q.Limit)
			}
			for _, c := range p.Cases {
				if c.Case == nil || c.Decision.GetDecisionId() != c.Case.DecisionID {
					t.Fatalf("a listed case without its decision: %+v", c)
				}
				out = append(out, c.Case.DecisionID)
			}
			if p.Next == nil {
				return out
			}
			q.After = p.Next
		}
		t.Fatal("ListCases never ended")
		return nil
	}
	without := func(ids []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return slices.Contains(drop, id) })
	}
	q := func(edit func(*store.CaseQuery)) store.CaseQuery {
		q := store.CaseQuery{Now: now, Limit: 2, MaxScan: 100}
		if edit != nil {
			edit(&q)
		}
		return q
	}
	wantIDs(t, "every unresolved case, soonest due first", pageAll(q(nil)), without(all, ids[2]))
	wantIDs(t, "open ones", pageAll(q(func(q *store.CaseQuery) { q.States = []store.CaseState{store.CaseOpen} })), without(all, ids[2], refund))
	wantIDs(t, "escalated ones", pageAll(q(func(q *store.CaseQuery) { q.States = []store.CaseState{store.CaseEscalated} })), []string{refund})
	wantIDs(t, "refunds", pageAll(q(func(q *store.CaseQuery) { q.Checks = []riskv1.Check{riskv1.Check_CHECK_REFUND} })), []string{refund})
	wantIDs(t, "ana's", pageAll(q(func(q *store.CaseQuery) { q.Holder = "ana" })), []string{ids[4]})
	wantIDs(t, "unclaimed", pageAll(q(func(q *store.CaseQuery) { q.Unclaimed = true })), without(all, ids[2], ids[4]))
	// Once ana's lease has run out, her case is unclaimed again.
	wantIDs(t, "unclaimed after the lease", pageAll(q(func(q *store.CaseQuery) { q.Unclaimed, q.Now = true, now.Add(5*time.Minute) })), without(all, ids[2]))
	p, err := s.ListCases(ctx, q(func(q *store.CaseQuery) { q.MaxScan = 1; q.Holder = "ana" }))
	if err != nil || len(p.Cases) != 0 || p.Next == nil {
		t.Errorf("ListCases reading one case that does not match: %+v, %v; want none and a cursor", p, err)
	}
}

func testCaseNotes(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := openCase(t, s, "notes", base, base.Add(time.Hour), store.ExpireDecline).Decision.GetDecisionId()
	hostile := "called back:\r\n\tno answer \u200b\u202e 🙂"
	if err := s.AddCaseNote(ctx, id, "ana", hostile, base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Resolve(ctx, store.Resolution{DecisionID: id, Verdict: store.VerdictLegitimate, Actor: "ben", Note: "holder confirmed", At: base.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCaseNote(ctx, id, "cai", "holder called again", base.Add(3*time.Minute)); err != nil {
		t.Fatalf("a note on a resolved case: %v", err)
	}
	if err := s.AddCaseNote(ctx, newID(t), "ana", "x", base); !errors.Is(err, store.ErrNoCase) {
		t.Errorf("a note on no case: %v, want ErrNoCase", err)
	}
	got := mustAudit(t, s, id)
	wantIDs(t, "audit", auditSummary(got), []string{
		fmt.Sprintf("1 ana %d", store.AuditNoted), fmt.Sprintf("2 ben %d", store.AuditResolved), fmt.Sprintf("3 cai %d", store.AuditNoted),
	})
	if len(got) == 3 {
		if got[0].Note != hostile || !got[0].At.Equal(base.Add(time.Minute)) {
			t.Errorf("the first note = %q at %v, want %q at %v", got[0].Note, got[0].At, hostile, base.Add(time.Minute))
		}
		if got[1].Note != "holder confirmed" || got[1].Verdict != store.VerdictLegitimate {
			t.Errorf("the resolution's entry = %+v", got[1])
		}
	}
}

func testFeed(t *testing.T, s store.Store) {
	ctx := t.Context()
	if h, err := s.FeedHead(ctx); err != nil || h != 0 {
		t.Fatalf("FeedHead of an empty store = %d, %v; want 0", h, err)
	}
	var ids []string
	for i := range 5 {
		id := openCase(t, s, fmt.Sprintf("feed-%d", i), base, base.Add(time.Hour), store.ExpireDecline).Decision.GetDecisionId()
		ids = append(ids, id)
		_, seq, err := s.Resolve(ctx, store.Resolution{DecisionID: id, Verdict: store.VerdictLegitimate, Actor: "ana", At: base.Add(time.Duration(i) * time.Minute),
			Event: fmt.Appendf(nil, "resolved %d", i)})
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("resolution %d: seq %d, %v; want seq %d", i, seq, err, i+1)
		}
	}
	all, err := s.Feed(ctx, 0, 100)
	if err != nil || len(all) != 5 {
		t.Fatalf("Feed(0) = %d entries, %v; want 5", len(all), err)
	}
	for i, f := range all {
		if f.Seq != uint64(i+1) || f.DecisionID != ids[i] || string(f.Event) != fmt.Sprintf("resolved %d", i) || !f.At.Equal(base.Add(time.Duration(i)*time.Minute)) {
			t.Errorf("entry %d = %+v", i, f)
		}
	}
	if f, _ := s.Feed(ctx, 2, 2); len(f) != 2 || f[0].Seq != 3 || f[1].Seq != 4 {
		t.Errorf("Feed(after 2, limit 2) = %+v, want 3 and 4", f)
	}
	if f, _ := s.Feed(ctx, 5, 10); len(f) != 0 {
		t.Errorf("Feed(after the head) = %+v, want none", f)
	}
	if h, _ := s.FeedHead(ctx); h != 5 {
		t.Errorf("FeedHead = %d, want 5", h)
	}
}

func testFeedConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	ids := make([]string, goroutines)
	for i := range ids {
		ids[i] = openCase(t, s, fmt.Sprintf("feed-race-%d", i), base, base.Add(time.Hour), store.ExpireDecline).Decision.GetDecisionId()
	}
	var mu sync.Mutex
	seqs := map[uint64]string{}
	race(func(i int) {
		_, seq, err := s.Resolve(ctx, store.Resolution{DecisionID: ids[i], Verdict: store.VerdictLegitimate, Actor: "ana", At: base.Add(time.Minute), Event: []byte(ids[i])})
		if err != nil {
			t.Errorf("resolution %d: %v", i, err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := seqs[seq]; dup {
			t.Errorf("sequence %d given to %s and %s", seq, prev, ids[i])
		}
		seqs[seq] = ids[i]
	})
	feed, err := s.Feed(ctx, 0, 1000)
	if err != nil || len(feed) != goroutines {
		t.Fatalf("Feed = %d entries, %v; want %d", len(feed), err, goroutines)
	}
	for i, f := range feed {
		if f.Seq != uint64(i+1) || seqs[f.Seq] != f.DecisionID || string(f.Event) != f.DecisionID {
			t.Errorf("entry %d = seq %d %s, want seq %d as Resolve answered (%s)", i, f.Seq, f.DecisionID, i+1, seqs[uint64(i+1)])
		}
	}
}

func testReviewExpire(t *testing.T, s store.Store) {
	ctx := t.Context()
	device := ident(store.KindDevice, "dev-1")
	old := openCase(t, s, "expire-old", base, base.Add(time.Hour), store.ExpireDecline, device)
	young := openCase(t, s, "expire-young", base.Add(10*day), base.Add(10*day+time.Hour), store.ExpireDecline, device)
	for i, c := range []store.Commit{old, young} {
		id := c.Decision.GetDecisionId()
		if err := s.AddCaseNote(ctx, id, "ana", "a note", base.Add(20*day)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Resolve(ctx, store.Resolution{DecisionID: id, Verdict: store.VerdictLegitimate, Actor: "ana", At: base.Add(20 * day), Event: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// The decision retention is 400 days: at base+405d, old (decided at
	// base) is gone, young (base+10d) is kept, whenever their cases changed.
	r := store.Retention{Events: 400 * day, Decisions: 400 * day}
	for {
		n, err := s.Expire(ctx, base.Add(405*day), r, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if _, err := s.Case(ctx, old.Decision.GetDecisionId()); !errors.Is(err, store.ErrNoCase) {
		t.Errorf("the expired decision's case: %v, want ErrNoCase", err)
	}
	if a := mustAudit(t, s, old.Decision.GetDecisionId()); len(a) != 0 {
		t.Errorf("the expired decision's audit: %v, want none", auditSummary(a))
	}
	if c := mustCase(t, s, young.Decision.GetDecisionId()); c.State != store.CaseResolved {
		t.Errorf("the kept decision's case: %+v", c)
	}
	if a := mustAudit(t, s, young.Decision.GetDecisionId()); len(a) != 2 {
		t.Errorf("the kept decision's audit: %v, want 2 entries", auditSummary(a))
	}
	feed, err := s.Feed(ctx, 0, 10)
	if err != nil || len(feed) != 1 || feed[0].DecisionID != young.Decision.GetDecisionId() || feed[0].Seq != 2 {
		t.Errorf("feed after expiry = %+v, %v; want the kept decision's entry alone, still seq 2", feed, err)
	}
	wantIDs(t, "by device after expiry", listAll(t, s, store.DecisionQuery{Subject: &device, Limit: 10, MaxScan: 10}, nil), newestFirst(young))
	// A sequence is never given twice, even once its entry is gone.
	id := openCase(t, s, "expire-after", base.Add(404*day), base.Add(405*day), store.ExpireDecline).Decision.GetDecisionId()
	if _, seq, err := s.Resolve(ctx, store.Resolution{DecisionID: id, Verdict: store.VerdictLegitimate, Actor: "ana", At: base.Add(405 * day)}); err != nil || seq != 3 {
		t.Errorf("the next resolution's sequence = %d, %v; want 3", seq, err)
	}
}

func testDurableReview(t *testing.T, s store.Store, reopen func(t *testing.T, s store.Store) store.Store) {
	device := ident(store.KindDevice, "dev-1")
	a := openCase(t, s, "durable-a", base, base.Add(time.Hour), store.ExpireEscalate, device)
	b := openCase(t, s, "durable-b", base.Add(time.Minute), base.Add(time.Hour), store.ExpireDecline)
	ida, idb := a.Decision.GetDecisionId(), b.Decision.GetDecisionId()
	if _, err := s.ClaimCase(t.Context(), store.Claim{DecisionID: ida, Actor: "ana", At: base, Until: base.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Resolve(t.Context(), store.Resolution{DecisionID: idb, Verdict: store.VerdictConfirmedFraud, Actor: "ben", Note: "n", At: base.Add(2 * time.Minute), Event: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	wantA, wantB := mustCase(t, s, ida), mustCase(t, s, idb)
	s = reopen(t, s)
	if got := mustCase(t, s, ida); !sameCase(got, wantA) {
		t.Errorf("after a reopen: %+v, want %+v", got, wantA)
	}
	if got := mustCase(t, s, idb); !sameCase(got, wantB) {
		t.Errorf("after a reopen: %+v, want %+v", got, wantB)
	}
	wantIDs(t, "a's audit after a reopen", auditSummary(mustAudit(t, s, ida)), []string{fmt.Sprintf("1 ana %d", store.AuditClaimed)})
	wantIDs(t, "by device after a reopen", listAll(t, s, store.DecisionQuery{Subject: &device, Limit: 10, MaxScan: 10}, nil), newestFirst(a))
	// The claim still holds, and the feed goes on from where it was.
	_, err := s.ClaimCase(t.Context(), store.Claim{DecisionID: ida, Actor: "ben", At: base.Add(time.Minute), Until: base.Add(6 * time.Minute)})
	wantCaseErr(t, "ben's claim on ana's after a reopen", err, store.ErrCaseClaimed)
	if _, seq, err := s.Resolve(t.Context(), store.Resolution{DecisionID: ida, Verdict: store.VerdictLegitimate, Actor: "ana", At: base.Add(3 * time.Minute), ByClaim: true}); err != nil || seq != 2 {
		t.Errorf("resolving after a reopen: seq %d, %v; want 2", seq, err)
	}
}
