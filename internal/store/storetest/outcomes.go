package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

var outcomeTests = []test{
	{"reporting on an unknown decision is not found", testReportUnknown},
	{"reporting an outcome marks every subject of the decision and nothing else", testReportMarksSubjects},
	{"reporting the same label again keeps the one first mark", testReportSameLabel},
	{"another label adds a second mark and marks come oldest first", testReportOtherLabel},
	{"outcomes are listed by when they were reported, oldest first, once each", testScanOutcomes},
}

const (
	fraud      = riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED
	chargeback = riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK
)

// sellerCommit is a seller decision with three subjects and a linked,
// non-subject identifier.
func sellerCommit(t *testing.T, s store.Store, requestID string, at time.Time) store.Commit {
	t.Helper()
	return commitDecision(t, s, riskv1.Check_CHECK_SELLER, requestID, at, func(c *store.Commit) {
		c.Subjects = []store.Identifier{
			ident(store.KindIDNumber, "11010519491231002X"),
			ident(store.KindMobile, "+8613800138000"),
			ident(store.KindPayoutAccount, "6222020200112233445"),
		}
		c.Links = []store.Link{{ID: ident(store.KindDevice, "dev-1"), Subject: "seller:" + requestID, At: at}}
	})
}

func testReportUnknown(t *testing.T, s store.Store) {
	err := s.ReportOutcome(t.Context(), store.Outcome{DecisionID: newID(t), Label: fraud, At: base})
	wantNotFound(t, "ReportOutcome on an empty store", err)

	c := sellerCommit(t, s, "seller-S1", base)
	err = s.ReportOutcome(t.Context(), store.Outcome{DecisionID: newID(t), Label: fraud, At: base})
	wantNotFound(t, "ReportOutcome of an unknown decision", err)
	for _, id := range c.Subjects {
		if ms := mustMarks(t, s, id); len(ms) != 0 {
			t.Errorf("Marks(%v) after a report on another decision = %d marks, want none", id.Kind, len(ms))
		}
	}
}

func testReportMarksSubjects(t *testing.T, s store.Store) {
	c := sellerCommit(t, s, "seller-S1", base)
	// Another decision with the same subjects, not reported: its subjects'
	// marks name only the reported decision, once.
	sellerCommit(t, s, "seller-S2", base.Add(time.Minute))
	at := base.Add(30 * day)
	mustReport(t, s, store.Outcome{DecisionID: c.Decision.GetDecisionId(), Label: fraud, Note: "confirmed by the bank", At: at})

	want := []store.Mark{{Label: fraud, DecisionID: c.Decision.GetDecisionId(), At: at}}
	for _, id := range c.Subjects {
		wantMarks(t, "Marks("+id.Kind.String()+")", mustMarks(t, s, id), want)
	}
	if ms := mustMarks(t, s, ident(store.KindDevice, "dev-1")); len(ms) != 0 {
		t.Errorf("Marks of a linked identifier that is not a subject = %d marks, want none", len(ms))
	}
}

func testReportSameLabel(t *testing.T, s store.Store) {
	c := sellerCommit(t, s, "seller-S1", base)
	id := c.Decision.GetDecisionId()
	first := base.Add(day)
	mustReport(t, s, store.Outcome{DecisionID: id, Label: fraud, Note: "first report", At: first})
	mustReport(t, s, store.Outcome{DecisionID: id, Label: fraud, Note: "reported again", At: base.Add(2 * day)})
	mustReport(t, s, store.Outcome{DecisionID: id, Label: fraud, Note: "and earlier", At: base.Add(time.Hour)})

	want := []store.Mark{{Label: fraud, DecisionID: id, At: first}}
	for _, subject := range c.Subjects {
		wantMarks(t, "Marks("+subject.Kind.String()+")", mustMarks(t, s, subject), want)
	}
}

func testReportOtherLabel(t *testing.T, s store.Store) {
	c := sellerCommit(t, s, "seller-S1", base)
	d2 := sellerCommit(t, s, "seller-S2", base.Add(time.Minute))
	id, id2 := c.Decision.GetDecisionId(), d2.Decision.GetDecisionId()

	// Reported out of order: At is when it turned out true, not when it was
	// reported, and marks come back by At.
	mustReport(t, s, store.Outcome{DecisionID: id, Label: fraud, At: base.Add(3 * day)})
	mustReport(t, s, store.Outcome{DecisionID: id, Label: chargeback, At: base.Add(2 * day)})
	mustReport(t, s, store.Outcome{DecisionID: id2, Label: fraud, At: base.Add(4 * day)})
	mustReport(t, s, store.Outcome{DecisionID: id2, Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, At: base.Add(day)})

	want := []store.Mark{
		{Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, DecisionID: id2, At: base.Add(day)},
		{Label: chargeback, DecisionID: id, At: base.Add(2 * day)},
		{Label: fraud, DecisionID: id, At: base.Add(3 * day)},
		{Label: fraud, DecisionID: id2, At: base.Add(4 * day)},
	}
	for _, subject := range c.Subjects {
		wantMarks(t, "Marks("+subject.Kind.String()+")", mustMarks(t, s, subject), want)
	}
}

func testScanOutcomes(t *testing.T, s store.Store) {
	a := sellerCommit(t, s, "seller-S1", base)
	b := sellerCommit(t, s, "seller-S2", base.Add(time.Minute))
	sellerCommit(t, s, "seller-S3", base.Add(2*time.Minute)) // never reported
	legit := riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE
	reports := []store.Outcome{
		{DecisionID: b.Decision.GetDecisionId(), Label: legit, Note: "customer confirmed", At: base.Add(2 * day)},
		{DecisionID: a.Decision.GetDecisionId(), Label: fraud, Note: "bank confirmed", At: base.Add(day)},
		{DecisionID: a.Decision.GetDecisionId(), Label: chargeback, At: base.Add(3 * day)},
	}
	for _, o := range reports {
		mustReport(t, s, o)
	}
	// The same label again is no second outcome.
	mustReport(t, s, store.Outcome{DecisionID: a.Decision.GetDecisionId(), Label: fraud, Note: "again", At: base.Add(4 * day)})

	scan := func(from, to time.Time) []store.Outcome {
		t.Helper()
		var got []store.Outcome
		if err := s.ScanOutcomes(t.Context(), from, to, func(o store.Outcome) error {
			got = append(got, o)
			return nil
		}); err != nil {
			t.Fatalf("ScanOutcomes: %v", err)
		}
		return got
	}
	same := func(what string, got, want []store.Outcome) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d outcomes %v, want %d %v", what, len(got), got, len(want), want)
		}
		for i := range want {
			if got[i].DecisionID != want[i].DecisionID || got[i].Label != want[i].Label || got[i].Note != want[i].Note || !got[i].At.Equal(want[i].At) {
				t.Errorf("%s: outcome %d = %+v, want %+v", what, i, got[i], want[i])
			}
		}
	}
	same("all", scan(base, base.Add(10*day)), []store.Outcome{reports[1], reports[0], reports[2]})
	// [from, to): the one at to is left out, the one at from kept.
	same("a range", scan(base.Add(day), base.Add(3*day)), []store.Outcome{reports[1], reports[0]})
	same("before any", scan(base.Add(-day), base), nil)

	stop := errors.New("stop")
	n := 0
	err := s.ScanOutcomes(t.Context(), base, base.Add(10*day), func(store.Outcome) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("ScanOutcomes with fn failing = %v after %d calls, want stop after 1", err, n)
	}
}
