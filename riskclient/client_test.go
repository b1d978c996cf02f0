package riskclient_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/auth"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"github.com/riskd/riskd/riskclient"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Every helper against a real riskd in plaintext: the three evaluating
// calls return their decisions, the same request_id again returns the same
// decision, and the rest of RiskService and the raw clients work too.
func TestPlaintextCallsReturnDecisions(t *testing.T) {
	p := startRiskd(t)
	c := newClient(t, p.Addr, riskclient.WithInsecure())
	ctx := t.Context()

	if err := c.Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	seller, err := c.CheckSeller(ctx, cleanSeller("plain-seller-1"))
	if err != nil {
		t.Fatal(err)
	}
	if seller.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE || seller.GetRequestId() != "plain-seller-1" || seller.GetDecisionId() == "" {
		t.Errorf("CheckSeller: %v, want an APPROVE for plain-seller-1", seller)
	}
	gc, err := c.ScoreGiftCardPurchase(ctx, coachedGiftCard("plain-gc-1"))
	if err != nil {
		t.Fatal(err)
	}
	if gc.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW || !slices.Contains(gc.GetActions(), riskv1.Action_ACTION_HOLD_CODE_DELIVERY) {
		t.Errorf("ScoreGiftCardPurchase: %v, want a REVIEW holding code delivery", gc)
	}
	refund, err := c.EvaluateRefund(ctx, overPaidRefund("plain-refund-1"))
	if err != nil {
		t.Fatal(err)
	}
	if refund.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE {
		t.Errorf("EvaluateRefund: %v, want a DECLINE (a DECLINE is an answer, not an error)", refund)
	}

	again, err := c.EvaluateRefund(ctx, overPaidRefund("plain-refund-1"))
	if err != nil {
		t.Fatal(err)
	}
	if again.GetDecisionId() != refund.GetDecisionId() {
		t.Errorf("the same request_id again: decision %s, want the stored %s", again.GetDecisionId(), refund.GetDecisionId())
	}
	got, err := c.GetDecision(ctx, refund.GetDecisionId())
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, refund) {
		t.Errorf("GetDecision: %v, want what the caller got: %v", got, refund)
	}

	// LEGITIMATE on a held order releases its codes; the same report again
	// changes nothing and is answered the same.
	for range 2 {
		out, err := c.ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{DecisionId: gc.GetDecisionId(), Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.GetActions(), []riskv1.Action{riskv1.Action_ACTION_RELEASE_CODE_DELIVERY}) {
			t.Errorf("ReportOutcome LEGITIMATE on a held order: actions %v, want RELEASE_CODE_DELIVERY", out.GetActions())
		}
	}

	// A batch sent twice is recorded once.
	batch := &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{{
		EventId: "complaint-5531", OccurredAt: timestamppb.New(time.Now().Add(-48 * time.Hour)),
		Event: &riskv1.HistoryEvent_Outcome{Outcome: &riskv1.OutcomeEvent{
			AccountId: "acct-777", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK, Note: "bank chargeback"}},
	}}}
	for i, want := range [][2]int32{{1, 0}, {0, 1}} {
		r, err := c.RecordEvents(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if r.GetRecorded() != want[0] || r.GetDuplicates() != want[1] {
			t.Errorf("RecordEvents, time %d: recorded %d, duplicates %d; want %d, %d", i+1, r.GetRecorded(), r.GetDuplicates(), want[0], want[1])
		}
	}

	// The raw PolicyService client shares the connection.
	pol, err := c.Policy().GetPolicy(ctx, &riskv1.GetPolicyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if pol.GetVersion() != refund.GetPolicyVersion() {
		t.Errorf("GetPolicy: version %s, want the decisions' %s", pol.GetVersion(), refund.GetPolicyVersion())
	}
}

// An evaluating call without a request_id never leaves the client: a retry
// of it could not be known to be safe.
func TestEvaluatingCallsNeedARequestID(t *testing.T) {
	var rec recorder
	// No riskd is needed: nothing is sent.
	c := newClient(t, "127.0.0.1:1", riskclient.WithInsecure(), rec.option())
	ctx := t.Context()
	calls := map[string]func() error{
		"CheckSeller": func() error { _, err := c.CheckSeller(ctx, cleanSeller("")); return err },
		"ScoreGiftCardPurchase": func() error {
			_, err := c.ScoreGiftCardPurchase(ctx, coachedGiftCard(""))
			return err
		},
		"EvaluateRefund": func() error { _, err := c.EvaluateRefund(ctx, overPaidRefund("")); return err },
		"EvaluateRefund(nil)": func() error {
			_, err := c.EvaluateRefund(ctx, nil)
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, riskclient.ErrNoRequestID) {
			t.Errorf("%s without a request_id: %v, want ErrNoRequestID", name, err)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d attempts were sent, want none", n)
	}
}

// riskd's refusals come back as *Error with the code, the ErrorInfo reason
// and the BadRequest field violations, and none of them is retried.
func TestRefusalsAreTypedAndNotRetried(t *testing.T) {
	p := startRiskd(t)
	var rec recorder
	c := newClient(t, p.Addr, riskclient.WithInsecure(), riskclient.WithRetry(5, time.Millisecond), rec.option())
	ctx := t.Context()

	bad := overPaidRefund("typed-bad-1")
	bad.Client.IpAddress = "x"
	bad.AmountPaid.Currency = "XXX"
	_, err := c.EvaluateRefund(ctx, bad)
	var e *riskclient.Error
	if !errors.As(err, &e) {
		t.Fatalf("invalid request: %v (%T), want a *riskclient.Error", err, err)
	}
	if e.Code != codes.InvalidArgument || e.Reason != riskclient.ReasonInvalidRequest || e.Domain != "riskd" || e.Attempts != 1 {
		t.Errorf("invalid request: code %v, reason %q, domain %q, attempts %d; want INVALID_ARGUMENT, INVALID_REQUEST, riskd, 1",
			e.Code, e.Reason, e.Domain, e.Attempts)
	}
	want := map[string]string{"client.ip_address": "string.ip", "amount_paid.currency": "string.in"}
	for _, f := range e.Fields {
		if want[f.Field] == f.Reason && f.Description != "" {
			delete(want, f.Field)
		}
	}
	if len(want) > 0 {
		t.Errorf("field violations %+v lack %v", e.Fields, want)
	}
	if riskclient.IsRetryable(err) || status.Code(err) != codes.InvalidArgument {
		t.Errorf("invalid request: IsRetryable %v, status.Code %v; want false, INVALID_ARGUMENT", riskclient.IsRetryable(err), status.Code(err))
	}
	if got := codesOf(rec.of("typed-bad-1")); !slices.Equal(got, []codes.Code{codes.InvalidArgument}) {
		t.Errorf("attempts of an invalid request: %v, want one", got)
	}

	// The same request_id with other content.
	if _, err := c.EvaluateRefund(ctx, overPaidRefund("typed-reused-1")); err != nil {
		t.Fatal(err)
	}
	other := overPaidRefund("typed-reused-1")
	other.AmountRequested.AmountMinor = 60000
	_, err = c.EvaluateRefund(ctx, other)
	if !errors.As(err, &e) || e.Code != codes.AlreadyExists || e.Reason != riskclient.ReasonRequestIDReused {
		t.Errorf("request_id reused: %v, want ALREADY_EXISTS with REQUEST_ID_REUSED", err)
	}
	if got := codesOf(rec.of("typed-reused-1")); !slices.Equal(got, []codes.Code{codes.OK, codes.AlreadyExists}) {
		t.Errorf("attempts of a reused request_id: %v, want one each", got)
	}

	// An unknown decision.
	rec.reset()
	_, err = c.GetDecision(ctx, "01a208a8-6be0-7dce-8fc4-57a813f7fda3")
	if !errors.As(err, &e) || e.Code != codes.NotFound || e.Reason != riskclient.ReasonDecisionNotFound {
		t.Errorf("unknown decision: %v, want NOT_FOUND with DECISION_NOT_FOUND", err)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("unknown decision: %d attempts, want 1", n)
	}
}

// A call without a deadline gets the client's default, for the whole call;
// the caller's own deadline is kept; and the deadline is real.
func TestDefaultDeadline(t *testing.T) {
	p := startRiskd(t)
	for _, tc := range []struct {
		name     string
		opts     []riskclient.Option
		ctx      time.Duration // the caller's deadline; 0 for none
		min, max time.Duration // what the attempt has left when sent
	}{
		{"default", nil, 0, riskclient.DefaultDeadline - time.Second, riskclient.DefaultDeadline},
		{"WithDeadline", []riskclient.Option{riskclient.WithDeadline(300 * time.Millisecond)}, 0, 100 * time.Millisecond, 300 * time.Millisecond},
		{"the caller's own", nil, 20 * time.Second, 19 * time.Second, 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			c := newClient(t, p.Addr, append(tc.opts, riskclient.WithInsecure(), rec.option())...)
			ctx := t.Context()
			if tc.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctx)
				defer cancel()
			}
			if _, err := c.CheckSeller(ctx, cleanSeller("deadline-"+tc.name)); err != nil {
				t.Fatal(err)
			}
			a := rec.all()
			if len(a) != 1 || a[0].left <= tc.min || a[0].left > tc.max {
				t.Errorf("attempts %+v: want one sent with between %s and %s left", a, tc.min, tc.max)
			}
		})
	}

	// A deadline already spent is DEADLINE_EXCEEDED, never retried.
	var rec recorder
	c := newClient(t, p.Addr, riskclient.WithInsecure(), riskclient.WithDeadline(time.Nanosecond), rec.option())
	_, err := c.EvaluateRefund(t.Context(), overPaidRefund("deadline-spent"))
	var e *riskclient.Error
	if !errors.As(err, &e) || e.Code != codes.DeadlineExceeded || e.Attempts != 1 || e.Retryable() {
		t.Errorf("spent deadline: %v, want DEADLINE_EXCEEDED after one attempt, not retryable", err)
	}
}

// A call over a caller's rate is RESOURCE_EXHAUSTED, and sent again, the
// same request, once the backoff has passed; a retry that the deadline
// cannot wait for is not made, and riskd's answer (not DEADLINE_EXCEEDED)
// is returned at once.
func TestRateLimitedCallsAreRetried(t *testing.T) {
	// One call in four seconds, no burst: a second call within them is
	// refused (four, not one: a first decision from a riskd built with
	// -race on a loaded machine can take a second).
	p := startRiskd(t, "--rate-per-caller", "0.25", "--rate-burst", "1")
	var rec recorder
	c := newClient(t, p.Addr, riskclient.WithInsecure(), riskclient.WithRetry(20, 100*time.Millisecond),
		riskclient.WithDeadline(10*time.Second), rec.option())
	ctx := t.Context()
	if _, err := c.EvaluateRefund(ctx, overPaidRefund("rate-1")); err != nil {
		t.Fatal(err)
	}
	d, err := c.EvaluateRefund(ctx, overPaidRefund("rate-2"))
	if err != nil {
		t.Fatalf("a rate-limited call with retries: %v", err)
	}
	if d.GetRequestId() != "rate-2" || d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE {
		t.Errorf("decision %v, want rate-2's DECLINE", d)
	}
	got := codesOf(rec.of("rate-2"))
	if len(got) < 2 || got[0] != codes.ResourceExhausted || got[len(got)-1] != codes.OK {
		t.Errorf("attempts of rate-2: %v, want RESOURCE_EXHAUSTED, then more until OK", got)
	}

	// Backoff longer than the deadline: one attempt, riskd's answer. rate-2
	// has just taken this second's call.
	short := newClient(t, p.Addr, riskclient.WithInsecure(), riskclient.WithRetry(20, time.Second),
		riskclient.WithDeadline(300*time.Millisecond), rec.option())
	start := time.Now()
	_, err = short.EvaluateRefund(ctx, overPaidRefund("rate-3"))
	var e *riskclient.Error
	if !errors.As(err, &e) || e.Code != codes.ResourceExhausted || e.Attempts != 1 || !riskclient.IsRetryable(err) {
		t.Errorf("rate-limited, no time to retry: %v, want RESOURCE_EXHAUSTED after one attempt, retryable", err)
	}
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Errorf("took %s: the client waited into its deadline", took)
	}
}

// riskd at capacity (--max-in-flight 1) sheds calls with
// RESOURCE_EXHAUSTED; with retries every call is answered, a request_id
// sent twice at once gets one decision, and a client without retries sees
// the typed, retryable error.
func TestShedCallsAreRetriedWithTheSameRequestID(t *testing.T) {
	p := startRiskd(t, "--max-in-flight", "1")
	var rec, once recorder
	c := newClient(t, p.Addr, riskclient.WithInsecure(), riskclient.WithRetry(100, 2*time.Millisecond),
		riskclient.WithDeadline(30*time.Second), rec.option())
	noRetry := newClient(t, p.Addr, riskclient.WithInsecure(), riskclient.WithRetry(1, 0), once.option())

	const ids, senders = 8, 2
	var shed, shedOnce bool
	for round := 0; round < 10 && !(shed && shedOnce); round++ {
		var wg sync.WaitGroup
		start := make(chan struct{})
		decisions := make([][senders]string, ids)
		var mu sync.Mutex
		var onceErrs []error
		for i := range ids {
			id := fmt.Sprintf("flood-%d-%d", round, i)
			for s := range senders {
				wg.Go(func() {
					<-start
					d, err := c.EvaluateRefund(t.Context(), overPaidRefund(id))
					if err != nil {
						t.Errorf("%s with retries: %v", id, err)
						return
					}
					decisions[i][s] = d.GetDecisionId()
				})
			}
			wg.Go(func() {
				<-start
				_, err := noRetry.EvaluateRefund(t.Context(), overPaidRefund(id+"-once"))
				mu.Lock()
				onceErrs = append(onceErrs, err)
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		for i, ds := range decisions {
			if ds[0] == "" || ds[0] != ds[1] {
				t.Errorf("flood-%d-%d: decisions %v, want one decision for both senders", round, i, ds)
			}
		}
		for _, a := range rec.all() {
			shed = shed || a.code == codes.ResourceExhausted
			if a.code != codes.OK && a.code != codes.ResourceExhausted {
				t.Errorf("attempt %+v: want OK or RESOURCE_EXHAUSTED", a)
			}
		}
		for _, err := range onceErrs {
			var e *riskclient.Error
			switch {
			case err == nil:
			case errors.As(err, &e) && e.Code == codes.ResourceExhausted && e.Attempts == 1 && riskclient.IsRetryable(err):
				shedOnce = true
			default:
				t.Errorf("without retries: %v, want a decision or a retryable RESOURCE_EXHAUSTED", err)
			}
		}
	}
	if !shed || !shedOnce {
		t.Fatalf("riskd shed no call in 10 rounds (with retries: %v, without: %v): the test proves nothing", shed, shedOnce)
	}
	// Every attempt of a request carried that request's ID: the retries
	// sent the same request.
	for _, a := range rec.all() {
		if !strings.HasPrefix(a.requestID, "flood-") {
			t.Errorf("attempt %+v carries no flood request_id", a)
		}
	}
}

// riskd killed after deciding and started again: the same request sent
// meanwhile is UNAVAILABLE, retried, and answered with the decision made
// before the crash, not a second one.
func TestRetryAcrossARestartGetsTheSameDecision(t *testing.T) {
	dir := t.TempDir()
	p := startRiskdAt(t, "127.0.0.1:0", dir)
	addr := p.Addr
	unavailable := make(chan struct{})
	var seen sync.Once
	rec := recorder{each: func(a attempt) {
		if a.code == codes.Unavailable {
			seen.Do(func() { close(unavailable) })
		}
	}}
	c := newClient(t, addr, riskclient.WithInsecure(), riskclient.WithRetry(1000, 20*time.Millisecond),
		riskclient.WithDeadline(60*time.Second), rec.option())
	first, err := c.EvaluateRefund(t.Context(), overPaidRefund("restart-1"))
	if err != nil {
		t.Fatal(err)
	}
	p.Kill(t)

	type answer struct {
		d   *riskv1.Decision
		err error
	}
	done := make(chan answer, 1)
	go func() {
		d, err := c.EvaluateRefund(context.Background(), overPaidRefund("restart-1"))
		done <- answer{d, err}
	}()
	select {
	case <-unavailable:
	case a := <-done:
		t.Fatalf("answered while riskd was down: %v, %v", a.d, a.err)
	case <-time.After(20 * time.Second):
		t.Fatal("no UNAVAILABLE attempt while riskd was down")
	}
	startRiskdAt(t, addr, dir)
	a := <-done
	if a.err != nil {
		t.Fatalf("after the restart: %v", a.err)
	}
	if a.d.GetDecisionId() != first.GetDecisionId() {
		t.Errorf("after the restart: decision %s, want %s, the one made before the crash", a.d.GetDecisionId(), first.GetDecisionId())
	}
	got := codesOf(rec.of("restart-1"))
	if len(got) < 3 || got[1] != codes.Unavailable || got[len(got)-1] != codes.OK {
		t.Errorf("attempts: %v, want OK, then UNAVAILABLE until OK", got)
	}
}

// Over TLS the client verifies riskd against the CA it is given, and
// refuses a riskd the CA did not sign.
func TestTLS(t *testing.T) {
	pk := newPKI(t)
	p := startRiskd(t, "--tls-cert", pk.serverCert, "--tls-key", pk.serverKy)
	c := newClient(t, p.Addr, riskclient.WithTLS(pk.caFile))
	if err := c.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	d, err := c.CheckSeller(t.Context(), cleanSeller("tls-1"))
	if err != nil || d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
		t.Fatalf("over TLS: %v, %v; want an APPROVE", d, err)
	}

	// Without a transport option the client speaks TLS and trusts the
	// system's roots, which did not sign this riskd's certificate.
	untrusted := newClient(t, p.Addr, riskclient.WithRetry(1, 0))
	_, err = untrusted.CheckSeller(t.Context(), cleanSeller("tls-2"))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a riskd the trusted roots did not sign: %v, want UNAVAILABLE naming the certificate", err)
	}
}

// With mTLS riskd knows the caller by its certificate; without one, the
// call is UNAUTHENTICATED and not retried.
func TestMTLS(t *testing.T) {
	pk := newPKI(t)
	cert, key := pk.client(t, "review.riskd.test")
	cfg := writeConfig(t, "callers:\n  - name: review\n    client_cn: review.riskd.test\n    grants: [/risk.v1.RiskService/*]\n")
	p := startRiskd(t, "--config", cfg, "--tls-cert", pk.serverCert, "--tls-key", pk.serverKy, "--tls-client-ca", pk.caFile)

	c := newClient(t, p.Addr, riskclient.WithMTLS(cert, key, pk.caFile))
	d, err := c.EvaluateRefund(t.Context(), overPaidRefund("mtls-1"))
	if err != nil || d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE {
		t.Fatalf("with a client certificate: %v, %v; want a DECLINE", d, err)
	}

	var rec recorder
	anon := newClient(t, p.Addr, riskclient.WithTLS(pk.caFile), rec.option())
	_, err = anon.EvaluateRefund(t.Context(), overPaidRefund("mtls-2"))
	var e *riskclient.Error
	if !errors.As(err, &e) || e.Code != codes.Unauthenticated || e.Attempts != 1 {
		t.Errorf("without a client certificate: %v, want UNAUTHENTICATED after one attempt", err)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// A bearer token authenticates a configured caller over TLS, and over
// plaintext only when asked for, to loopback.
func TestBearerToken(t *testing.T) {
	const token = "checkout-token-5f1e0c2a9b"
	cfg := writeConfig(t, "callers:\n  - name: checkout\n    token_sha256: "+auth.HashToken(token)+
		"\n    grants: [/risk.v1.RiskService/EvaluateRefund]\n")
	pk := newPKI(t)
	p := startRiskd(t, "--config", cfg, "--tls-cert", pk.serverCert, "--tls-key", pk.serverKy)

	var rec recorder
	c := newClient(t, p.Addr, riskclient.WithTLS(pk.caFile), riskclient.WithToken(token), rec.option())
	if _, err := c.EvaluateRefund(t.Context(), overPaidRefund("token-1")); err != nil {
		t.Fatalf("a granted call with the token: %v", err)
	}
	_, err := c.GetDecision(t.Context(), "01a208a8-6be0-7dce-8fc4-57a813f7fda3")
	var e *riskclient.Error
	if !errors.As(err, &e) || e.Code != codes.PermissionDenied || e.Attempts != 1 {
		t.Errorf("a method not granted: %v, want PERMISSION_DENIED after one attempt", err)
	}
	wrong := newClient(t, p.Addr, riskclient.WithTLS(pk.caFile), riskclient.WithToken("not-"+token))
	if _, err := wrong.EvaluateRefund(t.Context(), overPaidRefund("token-2")); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a wrong token: %v, want UNAUTHENTICATED", err)
	}
	health := newClient(t, p.Addr, riskclient.WithTLS(pk.caFile))
	if err := health.Health(t.Context()); err != nil {
		t.Errorf("health without credentials: %v", err)
	}

	// A token never goes out in plaintext by accident.
	for _, tc := range []struct {
		name   string
		target string
		opts   []riskclient.Option
		want   string
	}{
		{"WithToken over plaintext", p.Addr, []riskclient.Option{riskclient.WithInsecure(), riskclient.WithToken(token)}, "WithInsecureToken"},
		{"WithInsecureToken to another machine", "10.1.2.3:50051", []riskclient.Option{riskclient.WithInsecure(), riskclient.WithInsecureToken(token)}, "not a loopback"},
		{"an empty token", p.Addr, []riskclient.Option{riskclient.WithTLS(pk.caFile), riskclient.WithToken("")}, "empty token"},
	} {
		if _, err := riskclient.New(tc.target, tc.opts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New returned %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	// Over plaintext to loopback, when asked for.
	plain := startRiskd(t, "--config", cfg)
	pc := newClient(t, plain.Addr, riskclient.WithInsecure(), riskclient.WithInsecureToken(token))
	if _, err := pc.EvaluateRefund(t.Context(), overPaidRefund("token-3")); err != nil {
		t.Errorf("WithInsecureToken to loopback: %v", err)
	}
}

// New refuses options that contradict each other or cannot be used.
func TestNewRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []riskclient.Option
		want string
	}{
		{"two transports", []riskclient.Option{riskclient.WithInsecure(), riskclient.WithTLS("")}, "give one of"},
		{"no attempt", []riskclient.Option{riskclient.WithInsecure(), riskclient.WithRetry(0, time.Millisecond)}, "at least one attempt"},
		{"missing CA file", []riskclient.Option{riskclient.WithTLS("/nonexistent/ca.pem")}, "WithTLS"},
		{"missing client certificate", []riskclient.Option{riskclient.WithMTLS("/nonexistent/c.pem", "/nonexistent/k.pem", "")}, "WithMTLS"},
		{"nil TLS config", []riskclient.Option{riskclient.WithTLSConfig(nil)}, "nil config"},
	} {
		if _, err := riskclient.New("127.0.0.1:50051", tc.opts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New returned %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}
