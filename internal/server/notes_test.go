package server_test

// Issue 18, item 8: what riskd keeps of an outcome's free-text note, as
// the README's Security section says. A ReportOutcome note is stored as
// sent, bounded to 2000 characters, and deleted by expiry with its
// outcome; a RecordEvents outcome's note is stored nowhere.

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestOutcomeNotesAreKeptAsTheReadmeSays(t *testing.T) {
	b := boot(t, bootOptions{})
	client := riskv1.NewRiskServiceClient(b.dial(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := client.EvaluateRefund(ctx, overPaidRefund())
	if err != nil {
		t.Fatal(err)
	}
	decisionID := resp.GetDecision().GetDecisionId()
	report := func(note string) error {
		_, err := client.ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{
			DecisionId: decisionID, Label: riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, Note: note})
		return err
	}

	// The bound is in characters, not bytes: 2000 three-byte ones fit.
	err = report(strings.Repeat("电", 2001))
	if status.Code(err) != codes.InvalidArgument || !slices.Equal(violations(err), []string{"note"}) {
		t.Fatalf("a 2001-character note: got %v (fields %v), want INVALID_ARGUMENT on note", err, violations(err))
	}
	// What a careless caller might send, padded to the bound.
	sent := "buyer 13912345678 called; " + strings.Repeat("电", 2000-len([]rune("buyer 13912345678 called; ")))
	if err := report(sent); err != nil {
		t.Fatalf("a 2000-character note: %v", err)
	}
	var kept []string
	now := time.Now()
	if err := b.store.ScanOutcomes(ctx, now.Add(-time.Hour), now.Add(time.Hour), func(o store.Outcome) error {
		kept = append(kept, o.Note)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(kept) != 1 || kept[0] != sent {
		t.Fatalf("outcome notes kept: %d, want the one note as sent", len(kept))
	}

	// An outcome recorded through RecordEvents marks identifiers; its note
	// goes nowhere.
	const eventNote = "complaint from 13800000000 about seller-1"
	if _, err := client.RecordEvents(ctx, &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{{
		EventId: "ev-note", OccurredAt: timestamppb.New(now.Add(-time.Hour)),
		Event: &riskv1.HistoryEvent_Outcome{Outcome: &riskv1.OutcomeEvent{
			AccountId: "buyer-1", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK, Note: eventNote}},
	}}}); err != nil {
		t.Fatal(err)
	}
	holds := func(s string) (n int) {
		if err := b.embedded.ForEachKV(func(k, v []byte) error {
			if bytes.Contains(k, []byte(s)) || bytes.Contains(v, []byte(s)) {
				n++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := holds(eventNote); n != 0 {
		t.Errorf("a RecordEvents outcome's note is stored in %d entries, want none", n)
	}
	if n := holds(sent); n != 1 {
		t.Fatalf("the reported note is in %d stored entries, want 1", n)
	}

	// Expiry deletes the note with its outcome, --decision-retention after
	// it was reported.
	cfg := config.Default()
	retention := store.Retention{Events: cfg.EventRetention, Decisions: cfg.DecisionRetention}
	for {
		n, err := b.store.Expire(ctx, now.Add(cfg.DecisionRetention+time.Hour), retention, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if n := holds(sent); n != 0 {
		t.Errorf("the note outlived its outcome's retention in %d entries", n)
	}
}
