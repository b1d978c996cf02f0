package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Run runs every conformance test against stores made by open. open returns a
// new, empty store (t.Cleanup closes it). reopen, if not nil, closes the given
// store and reopens the same data (for durability tests).
//
// Subtests run one after another, each with its own store.
func Run(t *testing.T, open func(t *testing.T) store.Store, reopen func(t *testing.T, s store.Store) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Commit", commitTests},
		{"Concurrency", concurrencyTests},
		{"ScanDecisions", scanTests},
		{"Aggregate", aggregateTests},
		{"Linked", linkedTests},
		{"Record", recordTests},
		{"Outcomes", outcomeTests},
		{"Expire", expireTests},
		{"List", listTests},
		{"Cases", caseTests},
		{"NamedLists", namedListTests},
		{"Feed", feedTests},
		{"Policies", policyTests},
		{"Text", textTests},
		{"Context", contextTests},
		{"Close", closeTests},
		{"Erase", eraseTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
			}
		})
	}
	t.Run("Durability", func(t *testing.T) {
		if reopen == nil {
			t.Skip("the backend has nothing to reopen")
		}
		for _, tc := range durabilityTests {
			t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t), reopen) })
		}
	})
}

// test is one behaviour, checked against a new, empty store.
type test struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// Fixed times keep the suite deterministic and independent of the clock.
var base = time.Date(2026, time.January, 1, 9, 30, 0, 0, time.UTC)

const day = 24 * time.Hour

// Series names as the service uses them.
const (
	seriesGiftCard = "giftcard"
	seriesRefund   = "refund"
)

// ident stands in for the service's keyed hash (HMAC-SHA256): a store only
// compares hashes, so a plain SHA-256 of the value will do.
func ident(kind store.Kind, value string) store.Identifier {
	return store.Identifier{Kind: kind, Hash: sha256.Sum256([]byte(value))}
}

// contentHash stands in for a request's keyed content hash.
func contentHash(content string) [store.HashSize]byte {
	return sha256.Sum256([]byte("request content:" + content))
}

// newID returns a decision ID as the service makes them.
func newID(t testing.TB) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("uuid.NewV7: %v", err)
	}
	return id.String()
}

// decision builds a realistic decision: reasons (one of them shadow),
// actions, verifier results with durations (one timed out), a signal of
// every oneof kind, a policy version and a trace ID.
func decision(t testing.TB, check riskv1.Check, requestID string, decidedAt time.Time) *riskv1.Decision {
	t.Helper()
	return &riskv1.Decision{
		DecisionId: newID(t),
		RequestId:  requestID,
		Check:      check,
		Outcome:    riskv1.Outcome_OUTCOME_REVIEW,
		Score:      65,
		Reasons: []*riskv1.Reason{
			{
				Code:    "GIFT_CARD_VELOCITY",
				Message: "This account bought more gift cards in the last hour than usual.",
				Source:  "velocity",
				Score:   40,
			},
			{
				Code:    "NEW_DEVICE",
				Message: "The purchase came from a device first seen today.",
				Source:  "rule:new_device_high_value",
				Shadow:  true,
				Score:   25,
			},
		},
		Actions: []riskv1.Action{
			riskv1.Action_ACTION_MANUAL_REVIEW,
			riskv1.Action_ACTION_HOLD_CODE_DELIVERY,
		},
		VerifierResults: []*riskv1.VerifierResult{
			{Name: "velocity", Status: riskv1.VerifierStatus_VERIFIER_STATUS_OK, Duration: durationpb.New(3250 * time.Microsecond)},
			{Name: "lists", Status: riskv1.VerifierStatus_VERIFIER_STATUS_OK, Duration: durationpb.New(410 * time.Microsecond)},
			{
				Name:     "remote-bank",
				Status:   riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT,
				Duration: durationpb.New(150 * time.Millisecond),
				Error:    "context deadline exceeded",
			},
		},
		PolicyVersion: "sha256:9f2c1d0b7a44e6b1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e1f3a5b7",
		DecidedAt:     timestamppb.New(decidedAt),
		TraceId:       "4bf92f3577b34da6a3ce929d0e0e4736",
		Signals: []*riskv1.Signal{
			{Name: "velocity.orders_1h", Value: &riskv1.Signal_IntValue{IntValue: 7}},
			{Name: "session.new_device", Value: &riskv1.Signal_BoolValue{BoolValue: true}},
			{Name: "velocity.value_ratio", Value: &riskv1.Signal_DoubleValue{DoubleValue: 3.75}},
			{Name: "lists.match", Value: &riskv1.Signal_StringValue{StringValue: "none"}},
		},
	}
}

// decidedAt reads a decision's time.
func decidedAt(d *riskv1.Decision) time.Time { return d.GetDecidedAt().AsTime() }

// event builds an event; Quantity is 1 and Ref empty unless set after.
func event(id, series string, key store.Identifier, at time.Time, amount int64) store.Event {
	return store.Event{ID: id, Series: series, Key: key, At: at, Amount: amount, Quantity: 1}
}

// mustCommit commits c and fails the test on an error or when fresh is not
// what the test expects.
func mustCommit(t testing.TB, s store.Store, c store.Commit, wantFresh bool) *riskv1.Decision {
	t.Helper()
	stored, fresh, err := s.Commit(t.Context(), c)
	if err != nil {
		t.Fatalf("Commit(%s): %v", c.Decision.GetRequestId(), err)
	}
	if fresh != wantFresh {
		t.Fatalf("Commit(%s): fresh = %v, want %v", c.Decision.GetRequestId(), fresh, wantFresh)
	}
	if stored == nil {
		t.Fatalf("Commit(%s): returned a nil decision", c.Decision.GetRequestId())
	}
	return stored
}

// commitDecision commits a new decision with the given extras and returns
// the commit as made.
func commitDecision(t testing.TB, s store.Store, check riskv1.Check, requestID string, at time.Time, extra func(*store.Commit)) store.Commit {
	t.Helper()
	c := store.Commit{Decision: decision(t, check, requestID, at), RequestHash: contentHash(requestID)}
	if extra != nil {
		extra(&c)
	}
	mustCommit(t, s, c, true)
	return c
}

func mustDecision(t testing.TB, s store.Store, id string) *riskv1.Decision {
	t.Helper()
	d, err := s.Decision(t.Context(), id)
	if err != nil {
		t.Fatalf("Decision(%s): %v", id, err)
	}
	return d
}

func mustAggregate(t testing.TB, s store.Store, series string, key store.Identifier, since, until time.Time) store.Aggregate {
	t.Helper()
	a, err := Aggregate(t.Context(), s, series, key, since, until)
	if err != nil {
		t.Fatalf("Aggregate(%s): %v", series, err)
	}
	return a
}

// EventReader is the read a window's totals need.
type EventReader interface {
	Events(ctx context.Context, series string, key store.Identifier, since, until time.Time, limit int) ([]store.Event, error)
}

// Aggregate is the totals (store.Sum) of a series' events for key with At
// in [since, until): what the stores' and the server's tests compare
// against, read through Events like every verifier.
func Aggregate(ctx context.Context, r EventReader, series string, key store.Identifier, since, until time.Time) (store.Aggregate, error) {
	events, err := r.Events(ctx, series, key, since, until, 0)
	if err != nil {
		return store.Aggregate{}, err
	}
	return store.Sum(events), nil
}

func mustEvents(t testing.TB, s store.Store, series string, key store.Identifier, since, until time.Time, limit int) []store.Event {
	t.Helper()
	es, err := s.Events(t.Context(), series, key, since, until, limit)
	if err != nil {
		t.Fatalf("Events(%s): %v", series, err)
	}
	return es
}

func mustLinked(t testing.TB, s store.Store, id store.Identifier) []store.Link {
	t.Helper()
	ls, err := s.Linked(t.Context(), id, 0)
	if err != nil {
		t.Fatalf("Linked(%v): %v", id.Kind, err)
	}
	return ls
}

func mustMarks(t testing.TB, s store.Store, id store.Identifier) []store.Mark {
	t.Helper()
	ms, err := s.Marks(t.Context(), id)
	if err != nil {
		t.Fatalf("Marks(%v): %v", id.Kind, err)
	}
	return ms
}

func mustRecord(t testing.TB, s store.Store, batch []store.Batch, wantRecorded, wantDuplicates int) {
	t.Helper()
	rec, dup, err := s.Record(t.Context(), batch)
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	if rec != wantRecorded || dup != wantDuplicates {
		t.Fatalf("Record = (%d recorded, %d duplicates), want (%d, %d)", rec, dup, wantRecorded, wantDuplicates)
	}
}

func mustReport(t testing.TB, s store.Store, o store.Outcome) {
	t.Helper()
	if err := s.ReportOutcome(t.Context(), o); err != nil {
		t.Fatalf("ReportOutcome(%s, %v): %v", o.DecisionID, o.Label, err)
	}
}

// scanAll returns the decisions ScanDecisions visits in [from, to).
func scanAll(t testing.TB, s store.Store, from, to time.Time) []*riskv1.Decision {
	t.Helper()
	var out []*riskv1.Decision
	err := s.ScanDecisions(t.Context(), from, to, func(d *riskv1.Decision) error {
		out = append(out, d)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanDecisions: %v", err)
	}
	return out
}

func wantNotFound(t testing.TB, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: err = %v, want store.ErrNotFound", what, err)
	}
}

func wantDecision(t testing.TB, what string, got, want *riskv1.Decision) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func wantAggregate(t testing.TB, what string, got, want store.Aggregate) {
	t.Helper()
	if got != want {
		t.Errorf("%s: Aggregate = %+v, want %+v", what, got, want)
	}
}

// Times are compared with Equal: a backend may return another location.

func wantEvents(t testing.TB, what string, got, want []store.Event) {
	t.Helper()
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		g, w := got[i], want[i]
		same = g.ID == w.ID && g.Series == w.Series && g.Key == w.Key && g.At.Equal(w.At) &&
			g.Amount == w.Amount && g.Quantity == w.Quantity && g.Ref == w.Ref
	}
	if !same {
		t.Errorf("%s: Events =\n%s want\n%s", what, formatEvents(got), formatEvents(want))
	}
}

func wantLinks(t testing.TB, what string, got, want []store.Link) {
	t.Helper()
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = got[i].ID == want[i].ID && got[i].Subject == want[i].Subject && got[i].At.Equal(want[i].At)
	}
	if !same {
		t.Errorf("%s: Linked =\n%s want\n%s", what, formatLinks(got), formatLinks(want))
	}
}

func wantMarks(t testing.TB, what string, got, want []store.Mark) {
	t.Helper()
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = got[i].Label == want[i].Label && got[i].DecisionID == want[i].DecisionID && got[i].At.Equal(want[i].At)
	}
	if !same {
		t.Errorf("%s: Marks =\n%s want\n%s", what, formatMarks(got), formatMarks(want))
	}
}

func formatEvents(es []store.Event) string {
	out := ""
	for _, e := range es {
		out += fmt.Sprintf("  %s %s %v %s amount=%d qty=%d ref=%q\n", e.ID, e.Series, e.Key.Kind, e.At.UTC().Format(time.RFC3339Nano), e.Amount, e.Quantity, e.Ref)
	}
	if out == "" {
		return "  (none)\n"
	}
	return out
}

func formatLinks(ls []store.Link) string {
	out := ""
	for _, l := range ls {
		out += fmt.Sprintf("  %v %s %s\n", l.ID.Kind, l.Subject, l.At.UTC().Format(time.RFC3339Nano))
	}
	if out == "" {
		return "  (none)\n"
	}
	return out
}

func formatMarks(ms []store.Mark) string {
	out := ""
	for _, m := range ms {
		out += fmt.Sprintf("  %v %s %s\n", m.Label, m.DecisionID, m.At.UTC().Format(time.RFC3339Nano))
	}
	if out == "" {
		return "  (none)\n"
	}
	return out
}
