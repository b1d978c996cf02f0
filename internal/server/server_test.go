package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/server"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// harness is a real riskd server on an in-memory listener, with the full
// interceptor chain, and a real gRPC client to it.
type harness struct {
	client riskv1.RiskServiceClient
	conn   *grpc.ClientConn
	spans  *tracetest.SpanRecorder
	srv    *server.Server
	store  store.Store
	keys   *pseudonym.Keyer
}

type setup struct {
	policyYAML string // default policy when empty
	extra      verifier.Registry
	clock      func() time.Time
	// wrapStore, when set, wraps the real store: for faults a real disk
	// will not produce on demand (slow, failing).
	wrapStore func(store.Store) store.Store
	// metrics, when set, reads the server's and the engine's metrics.
	metrics sdkmetric.Reader
	// postgres runs the server on the PostgreSQL store (a schema of its
	// own, see pgtest) instead of the embedded one, as `riskd --store
	// postgres` does: for tests that hold the two stores to the same
	// answers.
	postgres bool
}

// start boots the server on bufconn and dials it.
func start(t testing.TB, s setup) *harness {
	t.Helper()
	b := boot(t, bootOptions{setup: s})
	conn := b.dial(t)
	return &harness{client: riskv1.NewRiskServiceClient(conn), conn: conn, spans: b.spans, srv: b.srv, store: b.store, keys: b.keys}
}

// Published valid examples: the GB 11643 standard's own identity number
// and GB 32100's own Unified Social Credit Code.
const (
	validID   = "11010519491231002X"
	badID     = "110105194912310021" // same number, wrong check character
	validUSCC = "91350100M000100Y43"
)

func cleanSeller() *riskv1.CheckSellerRequest {
	return &riskv1.CheckSellerRequest{
		RequestId: "req-seller-1",
		SellerId:  "seller-1",
		Client:    &riskv1.Client{DeviceId: "device-1", IpAddress: "203.0.113.7"},
		Identity: &riskv1.IdentityDocument{
			Type:     riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID,
			Number:   validID,
			FullName: "张三",
		},
		License: &riskv1.BusinessLicense{Uscc: validUSCC, CompanyName: "福州某某贸易有限公司", LegalRepresentative: "张三"},
		Contact: &riskv1.Contact{
			Mobile: "13800138000", Landline: "0591-87654321", Email: "shop@example.com",
			Address: "福建省福州市鼓楼区五四路 100 号",
		},
		Payout: &riskv1.PayoutAccount{AccountNumber: "6222020200112233445", HolderName: "福州某某贸易有限公司"},
	}
}

func coachedGiftCardOrder(now time.Time) *riskv1.ScoreGiftCardPurchaseRequest {
	return &riskv1.ScoreGiftCardPurchaseRequest{
		RequestId:        "req-gc-1",
		OrderId:          "order-1",
		AccountId:        "acct-1",
		AccountCreatedAt: timestamppb.New(now.AddDate(-2, 0, 0)),
		Client:           &riskv1.Client{DeviceId: "device-2", IpAddress: "2001:db8::1"},
		Total:            &riskv1.Money{AmountMinor: 10_000_000, Currency: "CNY"},
		Cards:            []*riskv1.GiftCardLine{{FaceValueMinor: 100_000, Quantity: 100}},
		Payment: &riskv1.PaymentInstrument{
			Fingerprint:   "fp-loan-1",
			Kind:          riskv1.InstrumentKind_INSTRUMENT_KIND_LOAN,
			CreditDrawnAt: timestamppb.New(now.Add(-time.Hour)),
		},
		Recipient: &riskv1.Recipient{Email: "victim@example.com", OwnedByAccount: true},
		Session:   &riskv1.SessionFacts{ActiveCall: true, RemoteAccessApp: true},
	}
}

func overPaidRefund() *riskv1.EvaluateRefundRequest {
	return &riskv1.EvaluateRefundRequest{
		RequestId:       "req-refund-1",
		OrderId:         "order-9",
		BuyerAccountId:  "buyer-1",
		SellerId:        "seller-1",
		Client:          &riskv1.Client{DeviceId: "device-3", IpAddress: "198.51.100.4"},
		AmountRequested: &riskv1.Money{AmountMinor: 50_000, Currency: "CNY"},
		AmountPaid:      &riskv1.Money{AmountMinor: 20_000, Currency: "CNY"},
		GoodsKind:       riskv1.GoodsKind_GOODS_KIND_PHYSICAL,
		Destination:     &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD},
	}
}

func codes_(d *riskv1.Decision) []string {
	var out []string
	for _, r := range d.GetReasons() {
		out = append(out, r.GetCode())
	}
	return out
}

func hasCode(d *riskv1.Decision, code string) bool {
	for _, c := range codes_(d) {
		if c == code {
			return true
		}
	}
	return false
}

func TestDecisionsEndToEnd(t *testing.T) {
	h := start(t, setup{})
	ctx := context.Background()

	t.Run("seller with a bad identity checksum is declined", func(t *testing.T) {
		req := cleanSeller()
		req.RequestId = "req-seller-bad-id"
		req.Identity.Number = badID
		resp, err := h.client.CheckSeller(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		d := resp.GetDecision()
		if d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE || !hasCode(d, "ID_NUMBER_INVALID") {
			t.Fatalf("got %s %v, want DECLINE with ID_NUMBER_INVALID", d.GetOutcome(), codes_(d))
		}
		for _, r := range d.GetReasons() {
			if strings.Contains(r.GetMessage(), badID) {
				t.Errorf("reason sentence leaks the identity number: %q", r.GetMessage())
			}
		}
	})

	t.Run("clean seller is approved", func(t *testing.T) {
		resp, err := h.client.CheckSeller(ctx, cleanSeller())
		if err != nil {
			t.Fatal(err)
		}
		d := resp.GetDecision()
		if d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE || len(d.GetReasons()) != 0 {
			t.Fatalf("got %s %v, want APPROVE with no reasons", d.GetOutcome(), codes_(d))
		}
		if len(d.GetVerifierResults()) != 5 {
			t.Fatalf("want a result per verifier, got %v", d.GetVerifierResults())
		}
		for _, vr := range d.GetVerifierResults() {
			if vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_OK {
				t.Errorf("verifier %s: %s %s", vr.GetName(), vr.GetStatus(), vr.GetError())
			}
		}
		if len(d.GetDecisionId()) != 36 || d.GetRequestId() != "req-seller-1" || d.GetDecidedAt() == nil ||
			!strings.HasPrefix(d.GetPolicyVersion(), "sha256:") || len(d.GetTraceId()) != 32 {
			t.Errorf("decision lacks its identity: %v", d)
		}
	})

	// The coached-cash-out rule says review ("hold and call back"), and a
	// review rule caps the outcome whatever the score (issue 16).
	t.Run("coached gift-card order is held for review with its reasons", func(t *testing.T) {
		resp, err := h.client.ScoreGiftCardPurchase(ctx, coachedGiftCardOrder(time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		d := resp.GetDecision()
		if d.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW {
			t.Fatalf("got %s, want REVIEW", d.GetOutcome())
		}
		for _, c := range []string{"ACTIVE_CALL", "REMOTE_ACCESS", "FRESH_CREDIT_FUNDING", "SOCIAL_ENGINEERING_PATTERN"} {
			if !hasCode(d, c) {
				t.Errorf("missing %s in %v", c, codes_(d))
			}
		}
		var hold bool
		for _, a := range d.GetActions() {
			hold = hold || a == riskv1.Action_ACTION_HOLD_CODE_DELIVERY
		}
		if !hold {
			t.Errorf("codes not held: actions %v", d.GetActions())
		}
	})

	t.Run("refund above the amount paid is declined", func(t *testing.T) {
		resp, err := h.client.EvaluateRefund(ctx, overPaidRefund())
		if err != nil {
			t.Fatal(err)
		}
		d := resp.GetDecision()
		if d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE || !hasCode(d, "REFUND_OVER_PAID") {
			t.Fatalf("got %s %v, want DECLINE with REFUND_OVER_PAID", d.GetOutcome(), codes_(d))
		}
	})

	t.Run("decision IDs are unique and sortable", func(t *testing.T) {
		var prev string
		for i := range 5 {
			req := overPaidRefund()
			req.RequestId = fmt.Sprintf("req-unique-%d", i)
			resp, err := h.client.EvaluateRefund(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			id := resp.GetDecision().GetDecisionId()
			if id <= prev {
				t.Fatalf("decision id %s not after %s", id, prev)
			}
			prev = id
		}
	})
}

func TestMalformedRequestGetsFieldViolations(t *testing.T) {
	h := start(t, setup{})
	req := cleanSeller()
	req.RequestId = ""
	req.Client.IpAddress = "not-an-ip"
	req.Contact.Email = "nope"
	req.Identity.Type = riskv1.IdentityDocumentType(99)
	_, err := h.client.CheckSeller(context.Background(), req)
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("got %v, want INVALID_ARGUMENT", err)
	}
	fields := map[string]bool{}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				fields[fv.GetField()] = true
				if fv.GetDescription() == "" {
					t.Errorf("violation of %s has no description", fv.GetField())
				}
			}
		}
	}
	for _, want := range []string{"request_id", "client.ip_address", "contact.email", "identity.type"} {
		if !fields[want] {
			t.Errorf("no field violation for %s; got %v", want, fields)
		}
	}
}

func TestPanicBecomesGenericInternal(t *testing.T) {
	const secret = "panic text with " + validID
	h := start(t, setup{clock: func() time.Time { panic(secret) }})
	_, err := h.client.CheckSeller(context.Background(), cleanSeller())
	st := status.Convert(err)
	if st.Code() != codes.Internal {
		t.Fatalf("got %v, want INTERNAL", err)
	}
	if strings.Contains(st.Message(), "panic") || strings.Contains(st.Message(), validID) {
		t.Fatalf("panic text reached the caller: %q", st.Message())
	}
	// The server survives its panic.
	h2 := healthpb.NewHealthClient(h.conn)
	if resp, err := h2.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after panic: %v %v", resp, err)
	}
}

// hangPolicy runs the real identity verifier and one that hangs, with a
// budget far beyond the caller's deadline.
const hangPolicy = `
checks:
  seller:
    thresholds: {review: 40, decline: 80}
    verifiers:
      - {name: identity, budget: 100ms, on_failure: review}
      - {name: hang, budget: 2s, on_failure: review}
  gift_card_purchase:
    thresholds: {review: 40, decline: 80}
  refund:
    thresholds: {review: 40, decline: 80}
`

func TestHangingVerifierAnswersInsideDeadline(t *testing.T) {
	var exited atomic.Bool
	done := make(chan struct{})
	hang := verifier.Func(func(ctx context.Context, _ verifier.Input) (verifier.Result, error) {
		defer func() { exited.Store(true); close(done) }()
		select {
		case <-time.After(10 * time.Second):
			return verifier.Result{}, nil
		case <-ctx.Done():
			return verifier.Result{}, ctx.Err()
		}
	})
	h := start(t, setup{policyYAML: hangPolicy, extra: verifier.Registry{"hang": hang}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	resp, err := h.client.CheckSeller(ctx, cleanSeller())
	if err != nil {
		t.Fatalf("want an answer, got %v", err)
	}
	d := resp.GetDecision()
	if !hasCode(d, policy.CodeVerifierTimeout) {
		t.Errorf("no VERIFIER_TIMEOUT in %v", codes_(d))
	}
	if d.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW {
		t.Errorf("failure mode review not applied: %s", d.GetOutcome())
	}
	var sawHang, sawIdentity bool
	for _, vr := range d.GetVerifierResults() {
		switch vr.GetName() {
		case "hang":
			sawHang = vr.GetStatus() == riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT
		case "identity":
			sawIdentity = vr.GetStatus() == riskv1.VerifierStatus_VERIFIER_STATUS_OK
		}
	}
	if !sawHang || !sawIdentity {
		t.Errorf("verifier results: %v", d.GetVerifierResults())
	}
	// The hanging verifier's goroutine ends with its budget, not 10 s later.
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("hanging verifier's goroutine outlived its budget")
	}
	if !exited.Load() {
		t.Fatal("unreachable")
	}
}

func TestTraceparentParentsServerAndVerifierSpans(t *testing.T) {
	h := start(t, setup{})
	const traceID, parentSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", "00-"+traceID+"-"+parentSpan+"-01")
	req := cleanSeller()
	resp, err := h.client.CheckSeller(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetDecision().GetTraceId(); got != traceID {
		t.Errorf("decision trace id %s, want the caller's %s", got, traceID)
	}
	// The server span ends when gRPC's stats handler sees the call end,
	// which may come just after the client has its answer.
	deadline := time.Now().Add(5 * time.Second)
	for !hasSpan(h.spans, "risk.v1.RiskService/CheckSeller") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var serverSpanID string
	verifierParents := map[string]string{}
	for _, s := range h.spans.Ended() {
		if s.SpanContext().TraceID().String() != traceID {
			continue
		}
		switch {
		case s.Name() == "risk.v1.RiskService/CheckSeller":
			if s.Parent().SpanID().String() != parentSpan {
				t.Errorf("server span parent %s, want %s", s.Parent().SpanID(), parentSpan)
			}
			serverSpanID = s.SpanContext().SpanID().String()
		case strings.HasPrefix(s.Name(), "verifier "):
			verifierParents[s.Name()] = s.Parent().SpanID().String()
		}
	}
	if serverSpanID == "" {
		t.Fatal("no server span in the caller's trace")
	}
	if len(verifierParents) != 5 {
		t.Fatalf("want 5 verifier spans in the trace, got %v", verifierParents)
	}
	for name, parent := range verifierParents {
		if parent != serverSpanID {
			t.Errorf("%s parent %s, want server span %s", name, parent, serverSpanID)
		}
	}

	// No attribute of any span holds a raw personal identifier.
	raw := []string{req.Identity.Number, req.License.Uscc, req.Contact.Mobile, req.Payout.AccountNumber, req.Identity.FullName}
	for _, s := range h.spans.Ended() {
		for _, kv := range s.Attributes() {
			v := kv.Value.Emit()
			for _, r := range raw {
				if strings.Contains(v, r) {
					t.Errorf("span %q attribute %s holds raw personal data", s.Name(), kv.Key)
				}
			}
		}
	}
}

func hasSpan(r *tracetest.SpanRecorder, name string) bool {
	for _, s := range r.Ended() {
		if s.Name() == name {
			return true
		}
	}
	return false
}

func TestShutdownReportsNotServing(t *testing.T) {
	h := start(t, setup{})
	hc := healthpb.NewHealthClient(h.conn)
	resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: riskv1.RiskService_ServiceDesc.ServiceName})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("before shutdown: %v %v", resp, err)
	}
	// Watch the health status while the server drains.
	stream, err := hc.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := stream.Recv(); err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first watch: %v %v", first, err)
	}
	go h.srv.Shutdown(context.Background())
	next, err := stream.Recv()
	if err != nil && !errors.Is(err, io.EOF) && status.Code(err) != codes.Unavailable {
		t.Fatal(err)
	}
	if err == nil && next.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("during shutdown: %v", next)
	}
}
