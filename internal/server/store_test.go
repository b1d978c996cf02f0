package server_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/storetest"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func (h *harness) count(t *testing.T, series string, kind store.Kind, raw string, since, until time.Time) store.Aggregate {
	t.Helper()
	id, ok := h.keys.Identifier(kind, raw)
	if !ok {
		t.Fatalf("blank identifier %q", raw)
	}
	a, err := storetest.Aggregate(context.Background(), h.store, series, id, since, until)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestIdempotentReplay(t *testing.T) {
	h := start(t, setup{})
	ctx := context.Background()
	req := coachedGiftCardOrder(time.Now())
	first, err := h.client.ScoreGiftCardPurchase(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.client.ScoreGiftCardPurchase(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(first.GetDecision(), again.GetDecision()) {
		t.Fatalf("replay got another decision:\n%v\n%v", first.GetDecision(), again.GetDecision())
	}
	day := time.Now().Add(-24 * time.Hour)
	if a := h.count(t, history.SeriesGiftCard, store.KindAccount, req.AccountId, day, time.Now().Add(time.Hour)); a.Count != 1 {
		t.Fatalf("replay counted again: %+v", a)
	}

	changed := proto.Clone(req).(*riskv1.ScoreGiftCardPurchaseRequest)
	// Another card, total and lines agreeing: only the reuse is wrong.
	changed.Cards[0].Quantity++
	changed.Total.AmountMinor += changed.Cards[0].FaceValueMinor
	_, err = h.client.ScoreGiftCardPurchase(ctx, changed)
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("reused request_id with other content: got %v, want ALREADY_EXISTS", err)
	}
}

func TestRacingIdenticalRequestsMakeOneDecision(t *testing.T) {
	h := start(t, setup{})
	req := coachedGiftCardOrder(time.Now())
	req.RequestId = "race-1"
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := h.client.ScoreGiftCardPurchase(context.Background(), req)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = resp.GetDecision().GetDecisionId()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("racing replays got different decisions: %v", ids)
		}
	}
	if a := h.count(t, history.SeriesGiftCard, store.KindDevice, req.Client.DeviceId, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)); a.Count != 1 {
		t.Fatalf("racing replays counted %d times", a.Count)
	}
}

func TestGetDecisionReturnsWhatTheCallerGot(t *testing.T) {
	h := start(t, setup{})
	ctx := context.Background()
	resp, err := h.client.CheckSeller(ctx, cleanSeller())
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.client.GetDecision(ctx, &riskv1.GetDecisionRequest{DecisionId: resp.GetDecision().GetDecisionId()})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.GetDecision(), resp.GetDecision()) {
		t.Fatalf("stored decision differs:\n%v\n%v", got.GetDecision(), resp.GetDecision())
	}
	_, err = h.client.GetDecision(ctx, &riskv1.GetDecisionRequest{DecisionId: "01a20000-0000-7000-8000-000000000000"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unknown decision: got %v, want NOT_FOUND", err)
	}
}

func TestReportOutcomeMarksTheDecisionsIdentifiers(t *testing.T) {
	h := start(t, setup{})
	ctx := context.Background()
	req := coachedGiftCardOrder(time.Now())
	resp, err := h.client.ScoreGiftCardPurchase(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	report := &riskv1.ReportOutcomeRequest{DecisionId: resp.GetDecision().GetDecisionId(), Label: riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, Note: "victim called the bank"}
	for range 2 { // the second report changes nothing
		if _, err := h.client.ReportOutcome(ctx, report); err != nil {
			t.Fatal(err)
		}
	}
	for kind, raw := range map[store.Kind]string{
		store.KindAccount: req.AccountId, store.KindDevice: req.Client.DeviceId,
		store.KindInstrument: req.Payment.Fingerprint, store.KindRecipient: req.Recipient.Email,
	} {
		id, _ := h.keys.Identifier(kind, raw)
		marks, err := h.store.Marks(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(marks) != 1 || marks[0].Label != riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED {
			t.Errorf("%s marks: %+v", kind, marks)
		}
	}
	_, err = h.client.ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{DecisionId: "nope", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unknown decision: got %v, want NOT_FOUND", err)
	}
}

// pastOrder is a gift-card order of the given amount from the same account,
// device, instrument and recipient.
func pastOrder(id string, amount int64) *riskv1.ScoreGiftCardPurchaseRequest {
	req := coachedGiftCardOrder(time.Now())
	req.RequestId, req.OrderId = id, id
	req.Total.AmountMinor = amount
	req.Cards = []*riskv1.GiftCardLine{{FaceValueMinor: amount, Quantity: 1}}
	req.Session = nil
	req.Payment.CreditDrawnAt = nil
	return req
}

func TestRecordEventsFeedsTheWindowsAtTheirOwnTimes(t *testing.T) {
	h := start(t, setup{})
	ctx := context.Background()
	now := time.Now()
	// A month of orders: one a day for 30 days, plus one 5 minutes ago and
	// one 30 minutes ago.
	ages := []time.Duration{5 * time.Minute, 30 * time.Minute}
	for d := 1; d <= 30; d++ {
		ages = append(ages, time.Duration(d)*24*time.Hour-time.Minute)
	}
	var events []*riskv1.HistoryEvent
	for i, age := range ages {
		events = append(events, &riskv1.HistoryEvent{
			EventId:    fmt.Sprintf("past-%d", i),
			OccurredAt: timestamppb.New(now.Add(-age)),
			Event:      &riskv1.HistoryEvent_GiftCardOrder{GiftCardOrder: pastOrder(fmt.Sprintf("past-%d", i), 1000)},
		})
	}
	resp, err := h.client.RecordEvents(ctx, &riskv1.RecordEventsRequest{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetRecorded() != int32(len(events)) || resp.GetDuplicates() != 0 {
		t.Fatalf("recorded %v", resp)
	}
	// The same batch again is all duplicates and changes nothing.
	resp, err = h.client.RecordEvents(ctx, &riskv1.RecordEventsRequest{Events: events})
	if err != nil || resp.GetRecorded() != 0 || resp.GetDuplicates() != int32(len(events)) {
		t.Fatalf("replayed batch: %v %v", resp, err)
	}
	// Now a decided order, at the server's clock.
	if _, err := h.client.ScoreGiftCardPurchase(ctx, pastOrder("now-1", 5000)); err != nil {
		t.Fatal(err)
	}
	acct := pastOrder("x", 0).AccountId
	until := time.Now().Add(time.Second)
	for _, tc := range []struct {
		window     time.Duration
		count, sum int64
	}{
		{10 * time.Minute, 2, 6000},     // 5 min ago + now
		{time.Hour, 3, 7000},            // + 30 min ago
		{24 * time.Hour, 4, 8000},       // + the one a day ago
		{7 * 24 * time.Hour, 10, 14000}, // days 1..7
		{31 * 24 * time.Hour, 33, 37000},
	} {
		a := h.count(t, history.SeriesGiftCard, store.KindAccount, acct, time.Now().Add(-tc.window), until)
		if a.Count != tc.count || a.Amount != tc.sum {
			t.Errorf("window %s: count %d sum %d, want %d and %d", tc.window, a.Count, a.Amount, tc.count, tc.sum)
		}
	}
}

func TestRecordEventsRefusesBadTimesWhole(t *testing.T) {
	h := start(t, setup{})
	ctx := context.Background()
	now := time.Now()
	events := []*riskv1.HistoryEvent{
		{EventId: "ok", OccurredAt: timestamppb.New(now.Add(-time.Hour)),
			Event: &riskv1.HistoryEvent_GiftCardOrder{GiftCardOrder: pastOrder("ok", 100)}},
		{EventId: "future", OccurredAt: timestamppb.New(now.Add(time.Hour)),
			Event: &riskv1.HistoryEvent_GiftCardOrder{GiftCardOrder: pastOrder("future", 100)}},
		{EventId: "ancient", OccurredAt: timestamppb.New(now.AddDate(-2, 0, 0)),
			Event: &riskv1.HistoryEvent_Outcome{Outcome: &riskv1.OutcomeEvent{AccountId: "a", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK}}},
	}
	_, err := h.client.RecordEvents(ctx, &riskv1.RecordEventsRequest{Events: events})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("got %v, want INVALID_ARGUMENT", err)
	}
	fields := map[string]bool{}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				fields[fv.GetField()] = true
			}
		}
	}
	if !fields["events[1].occurred_at"] || !fields["events[2].occurred_at"] || len(fields) != 2 {
		t.Fatalf("violations %v", fields)
	}
	// None applied, not even the good one.
	if a := h.count(t, history.SeriesGiftCard, store.KindAccount, pastOrder("x", 0).AccountId, now.Add(-24*time.Hour), now.Add(time.Hour)); a.Count != 0 {
		t.Fatalf("a refused batch was partly applied: %+v", a)
	}
}
