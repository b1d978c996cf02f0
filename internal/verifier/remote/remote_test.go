package remote_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/remote"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	verifierv1 "github.com/riskd/riskd/proto/risk/verifier/v1"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// target is a real VerifierService on a loopback port. The test sets how it
// answers; it records every call that reached it.
type target struct {
	verifierv1.UnimplementedVerifierServiceServer
	addr string
	// release is closed at clean-up, so that handlers which ignore their
	// ctx still end.
	release chan struct{}

	mu     sync.Mutex
	answer answerFunc
	seen   []call
}

type answerFunc func(ctx context.Context, release <-chan struct{}) (*verifierv1.VerifyResponse, error)

// call is what the target saw of one call.
type call struct {
	req  *verifierv1.VerifyRequest
	peer string
	span trace.SpanContext
	md   metadata.MD
}

func (s *target) Verify(ctx context.Context, req *verifierv1.VerifyRequest) (*verifierv1.VerifyResponse, error) {
	c := call{req: req, span: trace.SpanContextFromContext(ctx)}
	if p, ok := peer.FromContext(ctx); ok {
		c.peer = p.Addr.String()
	}
	c.md, _ = metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.seen = append(s.seen, c)
	answer := s.answer
	s.mu.Unlock()
	return answer(ctx, s.release)
}

func (s *target) set(a answerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = a
}

func (s *target) calls() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

func (s *target) count() int { return len(s.calls()) }

func (s *target) last(t *testing.T) call {
	t.Helper()
	seen := s.calls()
	if len(seen) == 0 {
		t.Fatal("the target saw no call")
	}
	return seen[len(seen)-1]
}

func answerWith(resp *verifierv1.VerifyResponse) answerFunc {
	return func(context.Context, <-chan struct{}) (*verifierv1.VerifyResponse, error) { return resp, nil }
}

func failWith(code codes.Code, msg string) answerFunc {
	return func(context.Context, <-chan struct{}) (*verifierv1.VerifyResponse, error) {
		return nil, status.Error(code, msg)
	}
}

// hang answers when the call's ctx ends, as a well-behaved slow server does.
// arrived, if not nil, is told when the call has reached the handler.
func hang(arrived chan<- struct{}) answerFunc {
	return func(ctx context.Context, _ <-chan struct{}) (*verifierv1.VerifyResponse, error) {
		if arrived != nil {
			arrived <- struct{}{}
		}
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// hangIgnoringCtx never answers while the test runs.
func hangIgnoringCtx(_ context.Context, release <-chan struct{}) (*verifierv1.VerifyResponse, error) {
	<-release
	return &verifierv1.VerifyResponse{}, nil
}

// startTarget serves a target on 127.0.0.1 with the given server options.
// It answers with an empty response until told otherwise.
func startTarget(t *testing.T, opts ...grpc.ServerOption) *target {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	tg := &target{addr: lis.Addr().String(), release: make(chan struct{}), answer: answerWith(&verifierv1.VerifyResponse{})}
	verifierv1.RegisterVerifierServiceServer(srv, tg)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		close(tg.release)
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return tg
}

// quiet are Options that record nothing.
func quiet() remote.Options {
	return remote.Options{
		Tracer:      tracenoop.NewTracerProvider(),
		Meter:       metricnoop.NewMeterProvider(),
		Propagators: propagation.TraceContext{},
		Logger:      slog.New(slog.DiscardHandler),
	}
}

func plainSpec(tg *target, fields ...string) remote.Spec {
	if len(fields) == 0 {
		fields = []string{"license.uscc"}
	}
	return remote.Spec{Name: "reg", Address: tg.addr, Plaintext: true, Fields: fields}
}

func dial(t *testing.T, spec remote.Spec, o remote.Options) *remote.Verifier {
	t.Helper()
	v, err := remote.Dial(spec, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func sellerRequest() *riskv1.CheckSellerRequest {
	return &riskv1.CheckSellerRequest{
		RequestId: "req-seller-1",
		SellerId:  "seller-1",
		Client:    &riskv1.Client{DeviceId: "device-1", IpAddress: "203.0.113.7"},
		Identity: &riskv1.IdentityDocument{
			Type: riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID, Number: "11010519491231002X", FullName: "张三",
		},
		License: &riskv1.BusinessLicense{Uscc: "91350100M000100Y43", CompanyName: "福州某某贸易有限公司", LegalRepresentative: "张三"},
		Contact: &riskv1.Contact{Mobile: "13800138000"},
	}
}

func sellerInput() verifier.Input {
	return verifier.Input{Check: riskv1.Check_CHECK_SELLER, DecisionID: "dec-1", Request: sellerRequest(), Now: time.Now()}
}

// verify calls v with a generous deadline: the tests that are about
// deadlines set their own.
func verify(t *testing.T, v *remote.Verifier, in verifier.Input) (verifier.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return v.Verify(ctx, in)
}

func strVal(s string) *verifierv1.Value {
	return &verifierv1.Value{Kind: &verifierv1.Value_StringValue{StringValue: s}}
}

func intVal(n int64) *verifierv1.Value {
	return &verifierv1.Value{Kind: &verifierv1.Value_IntValue{IntValue: n}}
}

func boolVal(b bool) *verifierv1.Value {
	return &verifierv1.Value{Kind: &verifierv1.Value_BoolValue{BoolValue: b}}
}

func doubleVal(f float64) *verifierv1.Value {
	return &verifierv1.Value{Kind: &verifierv1.Value_DoubleValue{DoubleValue: f}}
}

func timeVal(tm time.Time) *verifierv1.Value {
	return &verifierv1.Value{Kind: &verifierv1.Value_TimeValue{TimeValue: timestamppb.New(tm)}}
}

func TestVerifyMapsTheAnswer(t *testing.T) {
	registered := time.Date(2019, 5, 1, 8, 30, 0, 123, time.UTC)
	tg := startTarget(t)
	tg.set(answerWith(&verifierv1.VerifyResponse{
		Signals: map[string]*verifierv1.Value{
			"listed":        boolVal(true),
			"capital_minor": intVal(500_000_000),
			"status":        strVal("revoked"),
			"match_ratio":   doubleVal(0.75),
			"registered_at": timeVal(registered),
		},
		Findings: []*verifierv1.Finding{
			{Code: "LICENSE_REVOKED", Score: 60, Message: "The registry lists the licence as revoked."},
			{Code: "REGISTRY_MATCH", Score: -10, Message: "The registry's name matches."},
		},
	}))
	v := dial(t, plainSpec(tg), quiet())

	res, err := verify(t, v, sellerInput())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := map[string]any{
		"reg.listed":        true,
		"reg.capital_minor": int64(500_000_000),
		"reg.status":        "revoked",
		"reg.match_ratio":   0.75,
		"reg.registered_at": registered,
	}
	if len(res.Signals) != len(want) {
		t.Errorf("signals = %v, want %v", res.Signals, want)
	}
	for k, w := range want {
		g, ok := res.Signals[k]
		if !ok {
			t.Errorf("signal %q missing from %v", k, res.Signals)
			continue
		}
		if fmt.Sprintf("%T", g) != fmt.Sprintf("%T", w) {
			t.Errorf("signal %q is a %T, want a %T", k, g, w)
			continue
		}
		if wt, isTime := w.(time.Time); isTime {
			if !g.(time.Time).Equal(wt) {
				t.Errorf("signal %q = %v, want %v", k, g, wt)
			}
		} else if g != w {
			t.Errorf("signal %q = %v, want %v", k, g, w)
		}
	}
	wantFindings := []verifier.Finding{
		{Code: "LICENSE_REVOKED", Score: 60, Message: "The registry lists the licence as revoked."},
		{Code: "REGISTRY_MATCH", Score: -10, Message: "The registry's name matches."},
	}
	if !reflect.DeepEqual(res.Findings, wantFindings) {
		t.Errorf("findings = %+v, want %+v", res.Findings, wantFindings)
	}

	t.Run("empty answer", func(t *testing.T) {
		tg.set(answerWith(&verifierv1.VerifyResponse{}))
		res, err := verify(t, v, sellerInput())
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if len(res.Signals) != 0 || len(res.Findings) != 0 {
			t.Errorf("result = %+v, want no signals and no findings", res)
		}
	})
}

func TestVerifySendsCheckAndDecision(t *testing.T) {
	tg := startTarget(t)
	// client.device_id is in every request type.
	v := dial(t, plainSpec(tg, "client.device_id"), quiet())
	tests := []struct {
		check riskv1.Check
		req   proto.Message
		want  verifierv1.Check
	}{
		{riskv1.Check_CHECK_SELLER, &riskv1.CheckSellerRequest{Client: &riskv1.Client{DeviceId: "d-seller"}}, verifierv1.Check_CHECK_SELLER},
		{riskv1.Check_CHECK_GIFT_CARD_PURCHASE, &riskv1.ScoreGiftCardPurchaseRequest{Client: &riskv1.Client{DeviceId: "d-gift"}}, verifierv1.Check_CHECK_GIFT_CARD_PURCHASE},
		{riskv1.Check_CHECK_REFUND, &riskv1.EvaluateRefundRequest{Client: &riskv1.Client{DeviceId: "d-refund"}}, verifierv1.Check_CHECK_REFUND},
	}
	for _, tt := range tests {
		t.Run(tt.check.String(), func(t *testing.T) {
			id := "0199-" + tt.check.String()
			if _, err := verify(t, v, verifier.Input{Check: tt.check, DecisionID: id, Request: tt.req, Now: time.Now()}); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			got := tg.last(t).req
			if got.GetCheck() != tt.want {
				t.Errorf("target saw check %s, want %s", got.GetCheck(), tt.want)
			}
			if got.GetDecisionId() != id {
				t.Errorf("target saw decision ID %q, want %q", got.GetDecisionId(), id)
			}
			device := tt.req.(interface{ GetClient() *riskv1.Client }).GetClient().GetDeviceId()
			if f := got.GetFacts()["client.device_id"]; f.GetStringValue() != device {
				t.Errorf("target saw client.device_id %v, want %q", f, device)
			}
		})
	}
}

func TestVerifyErrorKeepsTargetMessageOut(t *testing.T) {
	tests := []struct {
		name string
		code codes.Code
		msg  string
	}{
		{"unavailable", codes.Unavailable, "registry down for maintenance until 03:00"},
		{"internal with a secret", codes.Internal, "pq: password authentication failed for user riskd password=hunter2-s3cret"},
		{"permission denied", codes.PermissionDenied, "caller cert CN=riskd-prod not in allow list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := startTarget(t)
			tg.set(failWith(tt.code, tt.msg))
			v := dial(t, plainSpec(tg), quiet())
			_, err := verify(t, v, sellerInput())
			if err == nil {
				t.Fatal("Verify succeeded against a failing target")
			}
			if !strings.Contains(err.Error(), tt.code.String()) {
				t.Errorf("error %q does not name the code %s", err, tt.code)
			}
			for _, word := range strings.Fields(tt.msg) {
				if len(word) > 4 && strings.Contains(err.Error(), word) {
					t.Errorf("error %q carries the target's text %q", err, word)
				}
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, remote.ErrCircuitOpen) {
				t.Errorf("error %q wraps a deadline or open circuit; the target answered", err)
			}
		})
	}

	t.Run("nobody listening", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		lis.Close()
		v := dial(t, remote.Spec{Name: "gone", Address: addr, Plaintext: true, Fields: []string{"seller_id"}}, quiet())
		_, err = verify(t, v, sellerInput())
		if err == nil || !strings.Contains(err.Error(), codes.Unavailable.String()) {
			t.Errorf("Verify against a closed port = %v, want an error naming Unavailable", err)
		}
	})
}

func TestVerifyStopsAtTheDeadline(t *testing.T) {
	const deadline = 100 * time.Millisecond
	tests := []struct {
		name   string
		answer answerFunc
	}{
		{"target honours ctx", hang(nil)},
		{"target ignores ctx", hangIgnoringCtx},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := startTarget(t)
			tg.set(tt.answer)
			v := dial(t, plainSpec(tg), quiet())
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			start := time.Now()
			_, err := v.Verify(ctx, sellerInput())
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Verify = %v, want an error that is context.DeadlineExceeded", err)
			}
			// The upper bound is slack for a loaded machine.
			if took < deadline-5*time.Millisecond || took > deadline+time.Second {
				t.Errorf("Verify took %s with a %s deadline", took, deadline)
			}
			if n := tg.count(); n != 1 {
				t.Errorf("target saw %d calls, want 1: no retry past the deadline", n)
			}
		})
	}
}

// enginePolicy runs the remote verifier "reg" for sellers inside budget,
// with a rule on a time signal it returns.
const enginePolicy = `checks:
  seller:
    thresholds: {review: 30, decline: 70}
    verifiers:
      - {name: reg, budget: %s, on_failure: ignore}
    rules:
      - name: licence-new
        when: "signals['reg.registered_at'] > now - duration('720h')"
        score: 40
        reason: LICENSE_NEW
        message: The licence was registered in the last 30 days.
  gift_card_purchase:
    thresholds: {review: 30, decline: 70}
  refund:
    thresholds: {review: 30, decline: 70}
`

// engineWith is an engine whose seller check runs v as "reg" inside budget.
func engineWith(t *testing.T, v verifier.Verifier, budget string, now time.Time) *engine.Engine {
	t.Helper()
	reg := verifier.Registry{"reg": v}
	pol, err := policy.Load(fmt.Appendf(nil, enginePolicy, budget), "test.yaml", reg.Names())
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Policy: pol, Verifiers: reg, Logger: slog.New(slog.DiscardHandler), Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// decide runs the seller check and returns the decision, the one verifier
// result and how long it took.
func decide(t *testing.T, eng *engine.Engine) (*riskv1.Decision, *riskv1.VerifierResult, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	d, err := eng.Decide(ctx, riskv1.Check_CHECK_SELLER, "req-1", sellerRequest())
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if len(d.GetVerifierResults()) != 1 {
		t.Fatalf("verifier results = %v, want one", d.GetVerifierResults())
	}
	return d, d.GetVerifierResults()[0], time.Since(start)
}

func TestVerifyThroughEngine(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	tg := startTarget(t)
	eng := engineWith(t, dial(t, plainSpec(tg), quiet()), "100ms", now)

	t.Run("answer feeds a rule", func(t *testing.T) {
		tg.set(answerWith(&verifierv1.VerifyResponse{Signals: map[string]*verifierv1.Value{"registered_at": timeVal(now.Add(-48 * time.Hour))}}))
		d, vr, _ := decide(t, eng)
		if vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_OK {
			t.Errorf("status = %s, want OK (error %q)", vr.GetStatus(), vr.GetError())
		}
		if reasons := reasonCodes(d); !slices.Contains(reasons, "LICENSE_NEW") {
			t.Errorf("reasons = %v, want LICENSE_NEW from the remote time signal", reasons)
		}
		if got := tg.last(t).req.GetDecisionId(); got != d.GetDecisionId() {
			t.Errorf("target saw decision ID %q, decision has %q", got, d.GetDecisionId())
		}
	})
	t.Run("hang is timed out at the budget", func(t *testing.T) {
		tg.set(hangIgnoringCtx)
		_, vr, took := decide(t, eng)
		if vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT {
			t.Errorf("status = %s, want TIMED_OUT (error %q)", vr.GetStatus(), vr.GetError())
		}
		if took > time.Second {
			t.Errorf("Decide took %s with a 100ms budget", took)
		}
	})
}

// TestEngineTimeoutIsNeverFailed repeats a hang on a warm connection. The
// target's gRPC server closes the stream at the same deadline as the
// caller's ctx; whichever wins, the decision must say TIMED_OUT.
func TestEngineTimeoutIsNeverFailed(t *testing.T) {
	const runs = 200
	tg := startTarget(t)
	spec := plainSpec(tg)
	spec.FailuresToOpen = 1000 // the circuit is not under test here
	v := dial(t, spec, quiet())
	if _, err := verify(t, v, sellerInput()); err != nil {
		t.Fatal(err)
	}
	tg.set(hangIgnoringCtx)
	eng := engineWith(t, v, "5ms", time.Now())
	// A few at a time, as a busy server would; the race is between timers.
	var mu sync.Mutex
	failed := map[string]int{}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range runs / 10 {
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
				d, err := eng.Decide(ctx, riskv1.Check_CHECK_SELLER, "req-1", sellerRequest())
				cancel()
				if err != nil {
					t.Errorf("Decide: %v", err)
					return
				}
				if vr := d.GetVerifierResults()[0]; vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT {
					mu.Lock()
					failed[vr.GetStatus().String()+": "+vr.GetError()]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("of %d decisions whose remote verifier hung past its budget, these were not TIMED_OUT: %v", runs, failed)
	}
}

func reasonCodes(d *riskv1.Decision) []string {
	var out []string
	for _, r := range d.GetReasons() {
		out = append(out, r.GetCode())
	}
	return out
}

func TestVerifyRefusesGarbage(t *testing.T) {
	finding := func(code string, score int32, msg string) *verifierv1.Finding {
		return &verifierv1.Finding{Code: code, Score: score, Message: msg}
	}
	signals := func(n int) map[string]*verifierv1.Value {
		m := map[string]*verifierv1.Value{}
		for i := range n {
			m[fmt.Sprintf("s%02d", i)] = boolVal(true)
		}
		return m
	}
	findings := func(n int) []*verifierv1.Finding {
		var out []*verifierv1.Finding
		for range n {
			out = append(out, finding("SOME_CODE", 1, "m"))
		}
		return out
	}
	tests := []struct {
		name string
		resp *verifierv1.VerifyResponse
		ok   bool
	}{
		{"at every limit", &verifierv1.VerifyResponse{Signals: signals(64), Findings: append(findings(30),
			finding("AB", 100, strings.Repeat("x", 500)), finding("LOWEST_SCORE_9", -100, "m"))}, true},
		{"lower case code", &verifierv1.VerifyResponse{Findings: []*verifierv1.Finding{finding("lower", 10, "m")}}, false},
		{"score 500", &verifierv1.VerifyResponse{Findings: []*verifierv1.Finding{finding("HIGH", 500, "m")}}, false},
		{"score -101", &verifierv1.VerifyResponse{Findings: []*verifierv1.Finding{finding("LOW", -101, "m")}}, false},
		{"empty message", &verifierv1.VerifyResponse{Findings: []*verifierv1.Finding{finding("QUIET", 10, "")}}, false},
		{"message too long", &verifierv1.VerifyResponse{Findings: []*verifierv1.Finding{finding("LOUD", 10, strings.Repeat("x", 501))}}, false},
		{"33 findings", &verifierv1.VerifyResponse{Findings: findings(33)}, false},
		{"65 signals", &verifierv1.VerifyResponse{Signals: signals(65)}, false},
		{"signal key with capitals", &verifierv1.VerifyResponse{Signals: map[string]*verifierv1.Value{"Listed": boolVal(true)}}, false},
		{"signal key with a dot", &verifierv1.VerifyResponse{Signals: map[string]*verifierv1.Value{"other.listed": boolVal(true)}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := startTarget(t)
			tg.set(answerWith(tt.resp))
			spec := plainSpec(tg)
			spec.FailuresToOpen, spec.OpenFor = 1, time.Minute
			v := dial(t, spec, quiet())
			_, err := verify(t, v, sellerInput())
			if tt.ok {
				if err != nil {
					t.Fatalf("Verify = %v, want the answer accepted", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Verify accepted an answer that breaks the VerifyResponse rules")
			}
			// One failure opens this circuit: the garbage counted as one.
			_, err = verify(t, v, sellerInput())
			if !errors.Is(err, remote.ErrCircuitOpen) {
				t.Errorf("call after garbage = %v, want ErrCircuitOpen: garbage must count as a failure", err)
			}
			if n := tg.count(); n != 1 {
				t.Errorf("target saw %d calls, want 1", n)
			}
		})
	}
}

// wantOpen checks that a call fails at once with ErrCircuitOpen without
// reaching the target.
func wantOpen(t *testing.T, v *remote.Verifier, tg *target) {
	t.Helper()
	before := tg.count()
	start := time.Now()
	_, err := verify(t, v, sellerInput())
	if !errors.Is(err, remote.ErrCircuitOpen) {
		t.Fatalf("Verify = %v, want ErrCircuitOpen", err)
	}
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Errorf("an open circuit took %s to refuse", took)
	}
	if n := tg.count(); n != before {
		t.Errorf("the target saw %d calls while the circuit was open", n-before)
	}
}

// wantReached checks that a call reaches the target and ends as want
// (nil for success).
func wantReached(t *testing.T, v *remote.Verifier, tg *target, wantErr bool) {
	t.Helper()
	before := tg.count()
	_, err := verify(t, v, sellerInput())
	if n := tg.count(); n != before+1 {
		t.Fatalf("the target saw %d calls, want 1 (Verify = %v)", n-before, err)
	}
	if (err != nil) != wantErr || errors.Is(err, remote.ErrCircuitOpen) {
		t.Fatalf("Verify = %v, want error %v", err, wantErr)
	}
}

func TestCircuitBreaker(t *testing.T) {
	const openFor = 300 * time.Millisecond
	tg := startTarget(t)
	spec := plainSpec(tg)
	spec.FailuresToOpen, spec.OpenFor = 3, openFor
	v := dial(t, spec, quiet())
	ok := answerWith(&verifierv1.VerifyResponse{})

	// Two failures and a success: the success breaks the run.
	tg.set(failWith(codes.Unavailable, "down"))
	wantReached(t, v, tg, true)
	wantReached(t, v, tg, true)
	tg.set(ok)
	wantReached(t, v, tg, false)

	tg.set(failWith(codes.Unavailable, "down"))
	for range 3 {
		wantReached(t, v, tg, true)
	}
	opened := time.Now()
	wantOpen(t, v, tg)
	wantOpen(t, v, tg)

	// After openFor one trial call goes through; while it is in flight,
	// others are still refused.
	time.Sleep(time.Until(opened.Add(openFor + 50*time.Millisecond)))
	arrived, gate := make(chan struct{}, 1), make(chan struct{})
	tg.set(func(context.Context, <-chan struct{}) (*verifierv1.VerifyResponse, error) {
		arrived <- struct{}{}
		<-gate
		return &verifierv1.VerifyResponse{}, nil
	})
	trial := make(chan error, 1)
	go func() {
		_, err := verify(t, v, sellerInput())
		trial <- err
	}()
	select {
	case <-arrived:
	case <-time.After(2 * time.Second):
		t.Fatal("the trial call never reached the target")
	}
	wantOpen(t, v, tg)
	close(gate)
	if err := <-trial; err != nil {
		t.Fatalf("trial call = %v, want success", err)
	}
	tg.set(ok)
	for range 5 {
		wantReached(t, v, tg, false)
	}

	// Open it again; a failed trial opens it for another openFor.
	tg.set(failWith(codes.Internal, "boom"))
	for range 3 {
		wantReached(t, v, tg, true)
	}
	opened = time.Now()
	wantOpen(t, v, tg)
	time.Sleep(time.Until(opened.Add(openFor + 50*time.Millisecond)))
	wantReached(t, v, tg, true)
	wantOpen(t, v, tg)
}

// cancelledCall makes a call that the caller gives up on once the target
// has it, and checks it did reach the target.
func cancelledCall(t *testing.T, v *remote.Verifier, tg *target) {
	t.Helper()
	arrived := make(chan struct{}, 1)
	tg.set(hang(arrived))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, sellerInput())
		done <- err
	}()
	select {
	case <-arrived:
		cancel()
	case err := <-done:
		t.Fatalf("a call returned before reaching the target: %v", err)
	case <-time.After(2 * time.Second):
		t.Fatal("a call never reached the target")
	}
	if err := <-done; err == nil {
		t.Fatal("a cancelled call succeeded")
	}
}

func TestCircuitBreakerCallerCancel(t *testing.T) {
	const openFor = 300 * time.Millisecond
	setup := func(t *testing.T) (*remote.Verifier, *target) {
		tg := startTarget(t)
		spec := plainSpec(tg)
		spec.FailuresToOpen, spec.OpenFor = 3, openFor
		return dial(t, spec, quiet()), tg
	}
	fail := failWith(codes.Unavailable, "down")

	t.Run("not a failure", func(t *testing.T) {
		v, tg := setup(t)
		tg.set(fail)
		wantReached(t, v, tg, true)
		wantReached(t, v, tg, true)
		// Counted as failures, the first of these would open the circuit
		// and the next would never reach the target.
		for range 4 {
			cancelledCall(t, v, tg)
		}
		tg.set(fail)
		wantReached(t, v, tg, true)
	})

	t.Run("not a success either", func(t *testing.T) {
		// The caller giving up says nothing about the target: two
		// failures, a cancelled call and a third failure are three
		// failures in a row.
		v, tg := setup(t)
		tg.set(fail)
		wantReached(t, v, tg, true)
		wantReached(t, v, tg, true)
		cancelledCall(t, v, tg)
		tg.set(fail)
		wantReached(t, v, tg, true)
		wantOpen(t, v, tg)
	})

	t.Run("a cancelled trial does not close the circuit", func(t *testing.T) {
		v, tg := setup(t)
		tg.set(fail)
		for range 3 {
			wantReached(t, v, tg, true)
		}
		opened := time.Now()
		wantOpen(t, v, tg)
		time.Sleep(time.Until(opened.Add(openFor + 50*time.Millisecond)))
		cancelledCall(t, v, tg)
		// The target has still not shown it works: the next call is the
		// trial, and its failure opens the circuit again.
		tg.set(fail)
		wantReached(t, v, tg, true)
		wantOpen(t, v, tg)
	})

	t.Run("target answering Canceled is a failure", func(t *testing.T) {
		// Only the caller's own ctx excuses a call; a target that answers
		// Canceled by itself is failing.
		v, tg := setup(t)
		tg.set(failWith(codes.Canceled, "shutting down"))
		for range 3 {
			wantReached(t, v, tg, true)
		}
		wantOpen(t, v, tg)
	})
}

func TestTracePropagation(t *testing.T) {
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	clientSpans, serverSpans := tracetest.NewSpanRecorder(), tracetest.NewSpanRecorder()
	clientTP := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(clientSpans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	serverTP := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(serverSpans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	tg := startTarget(t, grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(serverTP), otelgrpc.WithPropagators(prop))))
	o := quiet()
	o.Tracer, o.Propagators = clientTP, prop
	v := dial(t, plainSpec(tg), o)

	ctx, span := clientTP.Tracer("test").Start(t.Context(), "verifier reg")
	if _, err := v.Verify(ctx, sellerInput()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	span.End()
	caller := span.SpanContext()

	seen := tg.last(t)
	if len(seen.md.Get("traceparent")) != 1 {
		t.Errorf("target saw metadata %v, want one W3C traceparent", seen.md)
	}
	if seen.span.TraceID() != caller.TraceID() {
		t.Fatalf("target's span is in trace %s, want the caller's %s", seen.span.TraceID(), caller.TraceID())
	}

	// The spans end on their own goroutines; wait a little for them.
	find := func(rec *tracetest.SpanRecorder, kind trace.SpanKind) sdktrace.ReadOnlySpan {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			for _, s := range rec.Ended() {
				if s.SpanKind() == kind {
					return s
				}
			}
		}
		t.Fatalf("no %s span recorded", kind)
		return nil
	}
	client := find(clientSpans, trace.SpanKindClient)
	server := find(serverSpans, trace.SpanKindServer)
	if client.Parent().SpanID() != caller.SpanID() || client.SpanContext().TraceID() != caller.TraceID() {
		t.Errorf("client RPC span's parent is %s/%s, want the caller's span %s/%s",
			client.Parent().TraceID(), client.Parent().SpanID(), caller.TraceID(), caller.SpanID())
	}
	if !server.Parent().IsRemote() || server.Parent().SpanID() != client.SpanContext().SpanID() {
		t.Errorf("server span's parent is %s (remote %v), want the client RPC span %s",
			server.Parent().SpanID(), server.Parent().IsRemote(), client.SpanContext().SpanID())
	}
	if server.SpanContext().TraceID() != caller.TraceID() {
		t.Errorf("server span is in trace %s, want %s", server.SpanContext().TraceID(), caller.TraceID())
	}
	if seen.span.SpanID() != server.SpanContext().SpanID() {
		t.Errorf("handler ctx holds span %s, want the server span %s", seen.span.SpanID(), server.SpanContext().SpanID())
	}
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	o := quiet()
	o.Meter = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tg := startTarget(t)
	spec := plainSpec(tg)
	spec.FailuresToOpen, spec.OpenFor = 2, time.Minute
	v := dial(t, spec, o)

	collect := func() metricdata.ResourceMetrics {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(t.Context(), &rm); err != nil {
			t.Fatal(err)
		}
		return rm
	}
	state := func(rm metricdata.ResourceMetrics) (int64, bool) {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name != "riskd.remote_verifier.circuit_state" {
					continue
				}
				for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					if name, _ := dp.Attributes.Value("verifier"); name.AsString() == "reg" {
						return dp.Value, true
					}
				}
			}
		}
		return 0, false
	}
	if s, ok := state(collect()); !ok || s != 0 {
		t.Errorf("circuit_state after Dial = %d (recorded %v), want 0", s, ok)
	}

	wantReached(t, v, tg, false)
	tg.set(failWith(codes.Unavailable, "down"))
	wantReached(t, v, tg, true)
	wantReached(t, v, tg, true)
	wantOpen(t, v, tg)
	wantOpen(t, v, tg)
	wantOpen(t, v, tg)

	rm := collect()
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "riskd.remote_verifier.calls" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				if name, _ := dp.Attributes.Value("verifier"); name.AsString() != "reg" {
					t.Errorf("a call was counted for verifier %q", name.AsString())
				}
				result, _ := dp.Attributes.Value(attribute.Key("result"))
				got[result.AsString()] += dp.Value
			}
		}
	}
	want := map[string]int64{"ok": 1, "Unavailable": 2, "circuit_open": 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("riskd.remote_verifier.calls by result = %v, want %v", got, want)
	}
	if s, ok := state(rm); !ok || s != 2 {
		t.Errorf("circuit_state while open = %d (recorded %v), want 2", s, ok)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and returns it with its PEM.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "riskd test verifier"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLS(t *testing.T) {
	cert, certPEM := selfSigned(t)
	_, otherPEM := selfSigned(t)
	tlsTarget := startTarget(t, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	plainTarget := startTarget(t)
	goodCA, otherCA := writeFile(t, "ca.pem", certPEM), writeFile(t, "other.pem", otherPEM)

	tests := []struct {
		name   string
		target *target
		spec   remote.Spec
		works  bool
	}{
		{"our CA", tlsTarget, remote.Spec{CAFile: goodCA}, true},
		{"another CA", tlsTarget, remote.Spec{CAFile: otherCA}, false},
		{"system roots", tlsTarget, remote.Spec{}, false},
		{"our CA, wrong server name", tlsTarget, remote.Spec{CAFile: goodCA, ServerName: "registry.example"}, false},
		{"plaintext to a TLS target", tlsTarget, remote.Spec{Plaintext: true}, false},
		{"TLS unless plaintext is said", plainTarget, remote.Spec{CAFile: goodCA}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.Name, spec.Address, spec.Fields = "reg", tt.target.addr, []string{"license.uscc"}
			v := dial(t, spec, quiet())
			before := tt.target.count()
			_, err := verify(t, v, sellerInput())
			if tt.works {
				if err != nil {
					t.Fatalf("Verify over TLS = %v", err)
				}
				if got := tt.target.last(t).req.GetFacts()["license.uscc"].GetStringValue(); got != "91350100M000100Y43" {
					t.Errorf("target saw license.uscc %q", got)
				}
				return
			}
			if err == nil {
				t.Fatal("Verify succeeded; want the handshake refused")
			}
			if n := tt.target.count(); n != before {
				t.Errorf("the target handled %d calls despite the failed handshake", n-before)
			}
		})
	}

	t.Run("CA file errors", func(t *testing.T) {
		for name, path := range map[string]string{
			"not PEM": writeFile(t, "ca.pem", []byte("this is not a certificate\n")),
			"missing": filepath.Join(t.TempDir(), "absent.pem"),
		} {
			v, err := remote.Dial(remote.Spec{Name: "reg", Address: tlsTarget.addr, CAFile: path, Fields: []string{"seller_id"}}, quiet())
			if err == nil {
				v.Close()
				t.Errorf("%s: Dial succeeded, want an error", name)
			} else if !strings.Contains(err.Error(), `"reg"`) {
				t.Errorf("%s: Dial error %q does not name the verifier", name, err)
			}
		}
	})
}

func TestOneConnectionPerTarget(t *testing.T) {
	tg := startTarget(t)
	v := dial(t, plainSpec(tg), quiet())
	for range 20 {
		if _, err := verify(t, v, sellerInput()); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := verify(t, v, sellerInput()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	peers := map[string]int{}
	for _, c := range tg.calls() {
		peers[c.peer]++
	}
	if len(peers) != 1 {
		t.Errorf("40 calls came from %d client addresses %v, want one connection", len(peers), peers)
	}

	// A second Verifier is a second connection: the target can tell them
	// apart, so the check above means something.
	other := dial(t, plainSpec(tg), quiet())
	if _, err := verify(t, other, sellerInput()); err != nil {
		t.Fatal(err)
	}
	if p := tg.last(t).peer; peers[p] != 0 {
		t.Errorf("a second Verifier reused the first one's connection %s", p)
	}
}
