package server_test

// Issue 18, item 4: a NUL character in an ID, an event ID or a note is
// refused, naming the field, by both stores alike (before either sees it):
// PostgreSQL text cannot hold one, and the embedded store must accept
// exactly what PostgreSQL does.

import (
	"context"
	"strings"
	"testing"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestNULRefusedInStoredText(t *testing.T) {
	h := start(t, setup{})
	ctx := context.Background()
	const nul = "a\x00b"
	outcome := func(o *riskv1.OutcomeEvent) error {
		o.Label = riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK
		_, err := h.client.RecordEvents(ctx, &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{{
			EventId: "nul-outcome", OccurredAt: timestamppb.New(time.Now().Add(-time.Hour)),
			Event: &riskv1.HistoryEvent_Outcome{Outcome: o}}}})
		return err
	}
	for _, tc := range []struct {
		field string
		call  func() error
	}{
		{"request_id", func() error {
			r := cleanSeller()
			r.RequestId = nul
			_, err := h.client.CheckSeller(ctx, r)
			return err
		}},
		{"seller_id", func() error { r := cleanSeller(); r.SellerId = nul; _, err := h.client.CheckSeller(ctx, r); return err }},
		{"account_id", func() error {
			r := coachedGiftCardOrder(time.Now())
			r.AccountId = nul
			_, err := h.client.ScoreGiftCardPurchase(ctx, r)
			return err
		}},
		{"buyer_account_id", func() error {
			r := overPaidRefund()
			r.BuyerAccountId = nul
			_, err := h.client.EvaluateRefund(ctx, r)
			return err
		}},
		{"note", func() error {
			_, err := h.client.ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{DecisionId: "d-1", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, Note: nul})
			return err
		}},
		{"events[0].event_id", func() error {
			_, err := h.client.RecordEvents(ctx, &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{{
				EventId: nul, OccurredAt: timestamppb.New(time.Now().Add(-time.Hour)),
				Event: &riskv1.HistoryEvent_Outcome{Outcome: &riskv1.OutcomeEvent{AccountId: "acct-1", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK}}}}})
			return err
		}},
		{"events[0].outcome.account_id", func() error { return outcome(&riskv1.OutcomeEvent{AccountId: nul}) }},
		{"events[0].outcome.note", func() error { return outcome(&riskv1.OutcomeEvent{AccountId: "acct-1", Note: nul}) }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "NUL") {
				t.Fatalf("got %v, want INVALID_ARGUMENT naming %s and the NUL", err, tc.field)
			}
		})
	}
}

// Issue 18, item 5, through the server: the identity holder's name with a
// zero-width joiner and the payout holder's with a right-to-left override
// are the legal representative's and the company's names.
func TestInvisibleCharactersInNames(t *testing.T) {
	h := start(t, setup{})
	r := cleanSeller()
	r.Identity.FullName = "张\u200d三"
	r.Payout.HolderName = "\u202e福州某某贸易有限公司\u202c"
	resp, err := h.client.CheckSeller(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range resp.GetDecision().GetReasons() {
		if reason.GetCode() == "ID_HOLDER_NOT_LEGAL_REP" || reason.GetCode() == "PAYOUT_NAME_MISMATCH" {
			t.Errorf("invisible characters made a name differ: %s %s", reason.GetCode(), reason.GetMessage())
		}
	}
	if resp.GetDecision().GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
		t.Errorf("outcome %s, want APPROVE", resp.GetDecision().GetOutcome())
	}
}
