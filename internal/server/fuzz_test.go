package server_test

// Fuzz targets that send whole requests through a real riskd: the full
// interceptor chain, the default policy, every built-in verifier and a real
// embedded store (pebblestore). The input is the request's wire encoding;
// inputs that do not unmarshal are skipped (refusing them is the wire
// layer's job). The property, for every input that does:
//
//   - the call answers with a sane decision (outcome defined, score 0..100,
//     decision_id set, the caller's request_id, reason codes in upper snake
//     case), or
//   - it fails with INVALID_ARGUMENT (carrying a google.rpc.BadRequest with
//     at least one field violation, each with its field and description)
//     or ALREADY_EXISTS (a reused request_id),
//
// and never with INTERNAL, UNKNOWN or UNAVAILABLE (one process, a local
// store, no load shedding configured: nothing is unavailable), never with
// a panic, and never with DEADLINE_EXCEEDED: every call has a deadline of
// fuzzCallTimeout, far beyond any verifier budget, so running out of it
// means the call hung.
//
// Then the same request is sent again: a decision RPC must answer with the
// same decision (same decision_id, outcome, score and reasons), not decide
// anew; a refused one must be refused with the same code; a RecordEvents
// batch that went in must come back as all duplicates.
//
// Short run (scripts/test.sh does this for every target):
//
//	go test -run='^$' -fuzz='^FuzzCheckSeller$' -fuzztime=5s ./internal/server/
//
// Longer run: the same with -fuzztime=60s.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// maxMessageBytes is the server's MaxRecvMsgSize in these tests, as in start.
const maxMessageBytes = 1 << 20

// fuzzCallTimeout is every fuzzed call's deadline: a decision takes at most
// its verifiers' budgets (150ms in the default policy) and a store write, so
// only a hang runs out of 10 s, even under -race on a loaded machine.
const fuzzCallTimeout = 10 * time.Second

// upperSnake is the form of every reason code.
var upperSnake = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)

// fuzzRequestID makes a request's request_id its own, so that the fuzzer
// reaches the engine instead of stopping at ALREADY_EXISTS for every input
// that kept a seed's request_id but changed something else. The same input
// gets the same ID (and so exercises the idempotent replay). IDs that are
// empty, or too long to take the suffix, are left as sent, so the
// request_id rules are still fuzzed; those may meet ALREADY_EXISTS, which
// the property allows.
func fuzzRequestID(id string, input []byte) string {
	if id == "" || utf8.RuneCountInString(id) > 128-17 {
		return id
	}
	sum := sha256.Sum256(input)
	return id + "#" + hex.EncodeToString(sum[:8])
}

// allowedErrors are the codes a call may fail with.
var allowedErrors = map[codes.Code]bool{
	codes.InvalidArgument: true,
	codes.AlreadyExists:   true,
}

// checkError asserts the property of a failed call.
func checkError(t *testing.T, req proto.Message, err error) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() == codes.ResourceExhausted && proto.Size(req) > maxMessageBytes-64 {
		return // over the message size limit: the wire layer's answer
	}
	if st.Code() == codes.DeadlineExceeded {
		t.Fatalf("call hung: no answer within %s (%q)\nrequest: %v", fuzzCallTimeout, st.Message(), req)
	}
	if !allowedErrors[st.Code()] {
		t.Fatalf("call failed with %s (%q); want a decision or one of INVALID_ARGUMENT, ALREADY_EXISTS\nrequest: %v",
			st.Code(), st.Message(), req)
	}
	if st.Code() != codes.InvalidArgument {
		return
	}
	var violations int
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, fv := range br.GetFieldViolations() {
			violations++
			if fv.GetField() == "" {
				t.Errorf("violation %q names no field", fv.GetDescription())
			}
			if fv.GetDescription() == "" {
				t.Errorf("violation of %q has no description", fv.GetField())
			}
		}
	}
	if violations == 0 {
		t.Fatalf("INVALID_ARGUMENT without a field violation: %q (details %v)", st.Message(), st.Details())
	}
}

// checkDecision asserts the property of a decision.
func checkDecision(t *testing.T, check riskv1.Check, requestID string, d *riskv1.Decision) {
	t.Helper()
	if d == nil {
		t.Fatal("no decision in the response")
	}
	switch d.GetOutcome() {
	case riskv1.Outcome_OUTCOME_APPROVE, riskv1.Outcome_OUTCOME_REVIEW, riskv1.Outcome_OUTCOME_DECLINE:
	default:
		t.Errorf("outcome %v is not a decision", d.GetOutcome())
	}
	if s := d.GetScore(); s < 0 || s > 100 {
		t.Errorf("score %d out of 0..100", s)
	}
	if d.GetDecisionId() == "" {
		t.Error("decision has no decision_id")
	}
	if d.GetRequestId() != requestID {
		t.Errorf("decision answers request_id %q, want %q", d.GetRequestId(), requestID)
	}
	if d.GetCheck() != check {
		t.Errorf("decision check %s, want %s", d.GetCheck(), check)
	}
	for _, r := range d.GetReasons() {
		if !upperSnake.MatchString(r.GetCode()) {
			t.Errorf("reason code %q is not upper snake case", r.GetCode())
		}
	}
}

func fuzzCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), fuzzCallTimeout)
}

// fuzzDecide sends req through call, checks the answer, then sends it again
// and checks that the repeat is answered the same: the stored decision (the
// same decision_id, outcome, score and reasons), or the same refusal.
func fuzzDecide[R proto.Message](t *testing.T, check riskv1.Check, requestID string, req R,
	call func(context.Context, R) (*riskv1.Decision, error)) {
	t.Helper()
	send := func() (*riskv1.Decision, error) {
		ctx, cancel := fuzzCtx()
		defer cancel()
		return call(ctx, req)
	}
	first, err := send()
	if err != nil {
		checkError(t, req, err)
	} else {
		checkDecision(t, check, requestID, first)
	}
	again, err2 := send()
	switch {
	case err != nil && err2 == nil:
		t.Fatalf("refused with %s, then decided on a repeat: %v\nrequest: %v", status.Code(err), again, req)
	case err != nil:
		checkError(t, req, err2)
		if status.Code(err2) != status.Code(err) {
			t.Fatalf("refused with %s, then with %s on a repeat (%v)\nrequest: %v", status.Code(err), status.Code(err2), err2, req)
		}
	case err2 != nil:
		t.Fatalf("decided, then refused on a repeat of the same request_id: %v\nrequest: %v", err2, req)
	default:
		sameDecision(t, first, again)
	}
}

// sameDecision asserts that a repeat got the decision already made.
func sameDecision(t *testing.T, first, again *riskv1.Decision) {
	t.Helper()
	if again.GetDecisionId() != first.GetDecisionId() || again.GetOutcome() != first.GetOutcome() ||
		again.GetScore() != first.GetScore() || !slices.Equal(codes_(again), codes_(first)) {
		t.Fatalf("a repeat of request_id %q was decided anew:\nfirst  %s %s score %d %v\nrepeat %s %s score %d %v",
			first.GetRequestId(), first.GetDecisionId(), first.GetOutcome(), first.GetScore(), codes_(first),
			again.GetDecisionId(), again.GetOutcome(), again.GetScore(), codes_(again))
	}
}

func addSeeds(f *testing.F, msgs ...proto.Message) {
	f.Helper()
	for _, m := range msgs {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// brokenSeeds are inputs valid on the wire for any message, or not at all.
func brokenSeeds(f *testing.F) {
	f.Add([]byte{})                                   // every field absent
	f.Add([]byte{0x0a, 0x00})                         // field 1 (request_id / events) empty
	f.Add([]byte{0xff, 0xff, 0xff})                   // not protobuf
	f.Add([]byte{0x0a, 0x02, 0xc3, 0x28})             // field 1 with invalid UTF-8
	f.Add([]byte{0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01}) // the highest field number, unknown: kept and sent on
}

func FuzzCheckSeller(f *testing.F) {
	passport := cleanSeller()
	passport.RequestId = "req-passport"
	passport.Identity = &riskv1.IdentityDocument{
		Type:     riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_PASSPORT,
		FullName: "ZHANG SAN",
		Mrz:      "P<CHNZHANG<<SAN<<<<<<<<<<<<<<<<<<<<<<<<<<<<<\nE123456784CHN9001014M3001014<<<<<<<<<<<<<<06",
	}
	passport.License, passport.Payout = nil, nil
	passport.Locale = "zh-CN"
	badChecksum := cleanSeller()
	badChecksum.RequestId = "req-bad-id"
	badChecksum.Identity.Number = badID
	thin := cleanSeller()
	thin.RequestId = "req-thin"
	thin.Contact = &riskv1.Contact{}
	invalid := cleanSeller()
	invalid.RequestId = ""
	invalid.Client.IpAddress = "not-an-ip"
	invalid.Contact.Email = "nope"
	invalid.Identity.Type = riskv1.IdentityDocumentType(99)
	noNumber := cleanSeller()
	noNumber.RequestId = "req-no-number"
	noNumber.Identity.Number = ""
	addSeeds(f, cleanSeller(), passport, badChecksum, thin, invalid, noNumber, &riskv1.CheckSellerRequest{RequestId: "r"})
	brokenSeeds(f)

	h := start(f, setup{})
	f.Fuzz(func(t *testing.T, b []byte) {
		req := &riskv1.CheckSellerRequest{}
		if proto.Unmarshal(b, req) != nil {
			t.Skip("not a CheckSellerRequest on the wire")
		}
		req.RequestId = fuzzRequestID(req.GetRequestId(), b)
		fuzzDecide(t, riskv1.Check_CHECK_SELLER, req.GetRequestId(), req,
			func(ctx context.Context, r *riskv1.CheckSellerRequest) (*riskv1.Decision, error) {
				resp, err := h.client.CheckSeller(ctx, r)
				return resp.GetDecision(), err
			})
	})
}

func FuzzScoreGiftCardPurchase(f *testing.F) {
	now := time.Now()
	coached := coachedGiftCardOrder(now)
	plain := pastOrder("req-gc-plain", 20_000)
	plain.Payment.Kind = riskv1.InstrumentKind_INSTRUMENT_KIND_DEBIT_CARD
	plain.Session = &riskv1.SessionFacts{CheckoutDuration: durationpb.New(45 * time.Second), DeviceFirstSeenAt: timestamppb.New(now.AddDate(-1, 0, 0))}
	plain.CallerHistory = &riskv1.PurchaseHistory{
		PastGiftCardOrders: 3,
		PastGiftCardValue:  &riskv1.Money{AmountMinor: 60_000, Currency: "CNY"},
		TypicalOrderValue:  &riskv1.Money{AmountMinor: 20_000, Currency: "CNY"},
	}
	phone := pastOrder("req-gc-phone", 1_000_000_000_000_000)
	phone.Recipient = &riskv1.Recipient{Phone: "+8613800138000", AddedAt: timestamppb.New(now.Add(-time.Minute))}
	phone.Cards = []*riskv1.GiftCardLine{{FaceValueMinor: 1_000_000_000_000, Quantity: 999}, {FaceValueMinor: 1_000_000_000, Quantity: 1_000}}
	phone.Locale = "zh-CN"
	ancient := pastOrder("req-gc-ancient", 100)
	ancient.AccountCreatedAt = timestamppb.New(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))
	ancient.Payment.CreditDrawnAt = timestamppb.New(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC))
	invalid := pastOrder("", -1)
	invalid.Cards = nil
	invalid.Recipient = &riskv1.Recipient{}
	addSeeds(f, coached, plain, phone, ancient, invalid, &riskv1.ScoreGiftCardPurchaseRequest{RequestId: "r"})
	brokenSeeds(f)

	h := start(f, setup{})
	f.Fuzz(func(t *testing.T, b []byte) {
		req := &riskv1.ScoreGiftCardPurchaseRequest{}
		if proto.Unmarshal(b, req) != nil {
			t.Skip("not a ScoreGiftCardPurchaseRequest on the wire")
		}
		req.RequestId = fuzzRequestID(req.GetRequestId(), b)
		fuzzDecide(t, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, req.GetRequestId(), req,
			func(ctx context.Context, r *riskv1.ScoreGiftCardPurchaseRequest) (*riskv1.Decision, error) {
				resp, err := h.client.ScoreGiftCardPurchase(ctx, r)
				return resp.GetDecision(), err
			})
	})
}

func FuzzEvaluateRefund(f *testing.F) {
	now := time.Now()
	over := overPaidRefund()
	digital := overPaidRefund()
	digital.RequestId = "req-refund-digital"
	digital.GoodsKind = riskv1.GoodsKind_GOODS_KIND_DIGITAL
	digital.AmountRequested.AmountMinor = 20_000
	digital.Digital = &riskv1.DigitalDelivery{DeliveredAt: timestamppb.New(now.Add(-time.Hour)), RedeemedAt: timestamppb.New(now.Add(-30 * time.Minute))}
	digital.Destination = &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_OTHER, Fingerprint: "fp-elsewhere"}
	digital.Session = &riskv1.SessionFacts{ActiveCall: true, NewDevice: true}
	digital.Locale = "zh-CN"
	returned := overPaidRefund()
	returned.RequestId = "req-refund-return"
	returned.AmountRequested.AmountMinor = 20_000
	returned.ReturnShipment = &riskv1.ReturnShipment{DeclaredWeightGrams: 1200, MeasuredWeightGrams: 150, TrackingMismatch: true}
	returned.ReceiptConfirmedBeforeDelivery = true
	returned.BuyerReason = "包裹是空的"
	returned.BuyerOrders_90D = 40
	returned.ItemCategory = "electronics"
	invalid := overPaidRefund()
	invalid.RequestId = "req-refund-invalid"
	invalid.AmountPaid.Currency = "USD"
	invalid.Destination = &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_OTHER}
	invalid.GoodsKind = 0
	addSeeds(f, over, digital, returned, invalid, &riskv1.EvaluateRefundRequest{RequestId: "r"})
	brokenSeeds(f)

	h := start(f, setup{})
	f.Fuzz(func(t *testing.T, b []byte) {
		req := &riskv1.EvaluateRefundRequest{}
		if proto.Unmarshal(b, req) != nil {
			t.Skip("not an EvaluateRefundRequest on the wire")
		}
		req.RequestId = fuzzRequestID(req.GetRequestId(), b)
		fuzzDecide(t, riskv1.Check_CHECK_REFUND, req.GetRequestId(), req,
			func(ctx context.Context, r *riskv1.EvaluateRefundRequest) (*riskv1.Decision, error) {
				resp, err := h.client.EvaluateRefund(ctx, r)
				return resp.GetDecision(), err
			})
	})
}

func FuzzRecordEvents(f *testing.F) {
	now := time.Now()
	ev := func(id string, age time.Duration, e any) *riskv1.HistoryEvent {
		h := &riskv1.HistoryEvent{EventId: id, OccurredAt: timestamppb.New(now.Add(-age))}
		switch e := e.(type) {
		case *riskv1.ScoreGiftCardPurchaseRequest:
			h.Event = &riskv1.HistoryEvent_GiftCardOrder{GiftCardOrder: e}
		case *riskv1.EvaluateRefundRequest:
			h.Event = &riskv1.HistoryEvent_Refund{Refund: e}
		case *riskv1.OutcomeEvent:
			h.Event = &riskv1.HistoryEvent_Outcome{Outcome: e}
		}
		return h
	}
	mixed := &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{
		ev("ev-gc", time.Hour, pastOrder("past-gc", 10_000)),
		ev("ev-refund", 24*time.Hour, overPaidRefund()),
		ev("ev-ban", 48*time.Hour, &riskv1.OutcomeEvent{SellerId: "seller-1", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_SELLER_BANNED}),
		ev("ev-fraud", 72*time.Hour, &riskv1.OutcomeEvent{AccountId: "acct-1", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, Note: "complaint"}),
	}}
	dup := &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{
		ev("ev-dup", time.Minute, pastOrder("dup", 1)),
		ev("ev-dup", time.Minute, pastOrder("dup", 1)),
	}}
	badTimes := &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{
		ev("ev-future", -time.Hour, pastOrder("future", 1)),
		ev("ev-ancient", 2*365*24*time.Hour, &riskv1.OutcomeEvent{AccountId: "a", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK}),
	}}
	noEvent := &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{{EventId: "ev-empty", OccurredAt: timestamppb.New(now)}}}
	addSeeds(f, mixed, dup, badTimes, noEvent, &riskv1.RecordEventsRequest{})
	brokenSeeds(f)

	h := start(f, setup{})
	f.Fuzz(func(t *testing.T, b []byte) {
		req := &riskv1.RecordEventsRequest{}
		if proto.Unmarshal(b, req) != nil {
			t.Skip("not a RecordEventsRequest on the wire")
		}
		send := func() (*riskv1.RecordEventsResponse, error) {
			ctx, cancel := fuzzCtx()
			defer cancel()
			return h.client.RecordEvents(ctx, req)
		}
		resp, err := send()
		again, err2 := send()
		if err != nil {
			checkError(t, req, err)
			if status.Code(err2) != status.Code(err) {
				t.Fatalf("refused with %s, then answered %v (%v) on a repeat\nrequest: %v", status.Code(err), status.Code(err2), err2, req)
			}
			return
		}
		n := int32(len(req.GetEvents()))
		if resp.GetRecorded() < 0 || resp.GetDuplicates() < 0 || resp.GetRecorded()+resp.GetDuplicates() != n {
			t.Fatalf("recorded %d and duplicates %d of a batch of %d", resp.GetRecorded(), resp.GetDuplicates(), n)
		}
		// The same batch again (a caller's retry) records nothing twice.
		if err2 != nil {
			t.Fatalf("a batch that went in was refused on a repeat: %v\nrequest: %v", err2, req)
		}
		if again.GetRecorded() != 0 || again.GetDuplicates() != n {
			t.Fatalf("repeat of a batch of %d recorded %d and found %d duplicates; want 0 and %d",
				n, again.GetRecorded(), again.GetDuplicates(), n)
		}
	})
}
