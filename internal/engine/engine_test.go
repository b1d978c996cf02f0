package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pebblestore"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// clockNow is the injected server clock: decisions must carry it, not the
// wall clock.
var clockNow = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return clockNow }

const minimalCheck = "thresholds: {review: 30, decline: 70}"

// checkWith is one check's YAML body (flush left) running the given
// verifiers, each a flow mapping body such as
// "name: v, budget: 50ms, on_failure: review".
func checkWith(specs ...string) string {
	var b strings.Builder
	b.WriteString(minimalCheck + "\nverifiers:\n")
	for _, s := range specs {
		b.WriteString("  - {" + s + "}\n")
	}
	return b.String()
}

// loadPolicy loads a document whose checks have the given bodies; a check
// not named gets a minimal body, because every check must be present.
func loadPolicy(t *testing.T, reg verifier.Registry, bodies map[string]string) *policy.Policy {
	t.Helper()
	var b strings.Builder
	b.WriteString("checks:\n")
	for _, name := range []string{"seller", "gift_card_purchase", "refund"} {
		body, ok := bodies[name]
		if !ok {
			body = minimalCheck
		}
		b.WriteString("  " + name + ":\n")
		for line := range strings.Lines(body) {
			b.WriteString("    " + line)
		}
		b.WriteString("\n")
	}
	p, err := policy.Load([]byte(b.String()), "test.yaml", reg.Names())
	if err != nil {
		t.Fatalf("policy: %v\n%s", err, b.String())
	}
	return p
}

func newEngine(t *testing.T, o engine.Options) *engine.Engine {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = fixedClock
	}
	e, err := engine.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sellerEngine runs the seller check with the given verifier specs.
func sellerEngine(t *testing.T, reg verifier.Registry, specs ...string) *engine.Engine {
	t.Helper()
	pol := loadPolicy(t, reg, map[string]string{"seller": checkWith(specs...)})
	return newEngine(t, engine.Options{Policy: pol, Verifiers: reg})
}

func decideSeller(ctx context.Context, e *engine.Engine) (*riskv1.Decision, error) {
	return e.Decide(ctx, riskv1.Check_CHECK_SELLER, "req-1", &riskv1.CheckSellerRequest{RequestId: "req-1"})
}

var okVerifier = verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
	return verifier.Result{}, nil
})

// hangVerifier waits for its ctx and returns its error, as a well-behaved
// verifier does when its budget ends.
var hangVerifier = verifier.Func(func(ctx context.Context, _ verifier.Input) (verifier.Result, error) {
	<-ctx.Done()
	return verifier.Result{}, ctx.Err()
})

func result(t *testing.T, d *riskv1.Decision, name string) *riskv1.VerifierResult {
	t.Helper()
	for _, vr := range d.GetVerifierResults() {
		if vr.GetName() == name {
			return vr
		}
	}
	t.Fatalf("no result for verifier %q in %v", name, d.GetVerifierResults())
	return nil
}

func reasonCodes(d *riskv1.Decision) []string {
	var out []string
	for _, r := range d.GetReasons() {
		out = append(out, r.GetCode())
	}
	return out
}

func TestVerifiersRunConcurrently(t *testing.T) {
	// Each verifier waits until all three have started: run one after
	// another, the first would wait for the barrier's timeout and fail.
	const n = 3
	var started atomic.Int32
	all := make(chan struct{})
	barrier := verifier.Func(func(ctx context.Context, _ verifier.Input) (verifier.Result, error) {
		if started.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
			return verifier.Result{}, nil
		case <-time.After(time.Second):
			return verifier.Result{}, errors.New("barrier: the other verifiers did not start")
		case <-ctx.Done():
			return verifier.Result{}, ctx.Err()
		}
	})
	reg := verifier.Registry{"a": barrier, "b": barrier, "c": barrier}
	e := sellerEngine(t, reg,
		"name: a, budget: 2s, on_failure: decline",
		"name: b, budget: 2s, on_failure: decline",
		"name: c, budget: 2s, on_failure: decline")
	d, err := decideSeller(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	for _, vr := range d.GetVerifierResults() {
		if vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_OK {
			t.Errorf("verifier %s: %s %q", vr.GetName(), vr.GetStatus(), vr.GetError())
		}
	}
	if len(d.GetVerifierResults()) != n || d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
		t.Errorf("got %s with results %v", d.GetOutcome(), d.GetVerifierResults())
	}
}

func TestVerifierBudget(t *testing.T) {
	tests := []struct {
		name     string
		budget   string
		reserve  time.Duration
		deadline time.Duration // caller's; none when zero
		// want is the verifier's deadline measured from the caller's
		// deadline (cut) or, with no caller deadline, from the call.
		want time.Duration
	}{
		{name: "cut to the caller's deadline minus the reserve", budget: "2s", reserve: 25 * time.Millisecond,
			deadline: 200 * time.Millisecond, want: -25 * time.Millisecond},
		{name: "a larger reserve cuts deeper", budget: "2s", reserve: 100 * time.Millisecond,
			deadline: 200 * time.Millisecond, want: -100 * time.Millisecond},
		{name: "own budget when it ends first", budget: "50ms", reserve: 25 * time.Millisecond,
			deadline: 2 * time.Second, want: 50*time.Millisecond - 2*time.Second},
		{name: "own budget without a caller deadline", budget: "80ms", reserve: 25 * time.Millisecond,
			want: 80 * time.Millisecond},
	}
	// The engine computes the budget a moment after the call starts, so the
	// verifier's deadline may be that moment later than the ideal one, never
	// earlier.
	const slack = 20 * time.Millisecond
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen time.Time
			var hasDeadline bool
			v := verifier.Func(func(ctx context.Context, _ verifier.Input) (verifier.Result, error) {
				seen, hasDeadline = ctx.Deadline()
				return verifier.Result{}, nil
			})
			reg := verifier.Registry{"v": v}
			pol := loadPolicy(t, reg, map[string]string{"seller": checkWith("name: v, budget: " + tc.budget + ", on_failure: decline")})
			e := newEngine(t, engine.Options{Policy: pol, Verifiers: reg, Reserve: tc.reserve})

			ctx := context.Background()
			call := time.Now()
			ref := call
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
				ref, _ = ctx.Deadline()
			}
			d, err := decideSeller(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			if st := result(t, d, "v").GetStatus(); st != riskv1.VerifierStatus_VERIFIER_STATUS_OK {
				t.Fatalf("verifier %s", st)
			}
			if !hasDeadline {
				t.Fatal("verifier ran without a deadline")
			}
			want := ref.Add(tc.want)
			if seen.Before(want) || seen.After(want.Add(slack)) {
				t.Errorf("verifier deadline %v after the call, want %v (+%v)", seen.Sub(call), want.Sub(call), slack)
			}
		})
	}
}

func TestNoTimeLeftSkipsVerifier(t *testing.T) {
	var called atomic.Bool
	v := verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
		called.Store(true)
		return verifier.Result{}, nil
	})
	reg := verifier.Registry{"v": v}
	pol := loadPolicy(t, reg, map[string]string{"seller": checkWith("name: v, budget: 2s, on_failure: review")})
	// A reserve far beyond the caller's deadline: the deadline is inside the
	// reserve from the start, yet the call has ample time to answer.
	e := newEngine(t, engine.Options{Policy: pol, Verifiers: reg, Reserve: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	d, err := decideSeller(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	vr := result(t, d, "v")
	if vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT || !strings.Contains(vr.GetError(), "no time left") {
		t.Errorf("got %s %q, want TIMED_OUT with no time left", vr.GetStatus(), vr.GetError())
	}
	if called.Load() {
		t.Error("verifier was started with no time left")
	}
	if d.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW || !slices.Contains(reasonCodes(d), policy.CodeVerifierTimeout) {
		t.Errorf("got %s %v, want REVIEW with %s", d.GetOutcome(), reasonCodes(d), policy.CodeVerifierTimeout)
	}
}

// panicSecret stands for request data a panic value might carry.
const panicSecret = "secret 11010519491231002X"

func TestVerifierFailures(t *testing.T) {
	failing := verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
		return verifier.Result{}, errors.New("upstream registry unavailable")
	})
	panicking := verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
		panic(panicSecret)
	})
	kinds := []struct {
		name    string
		v       verifier.Verifier
		budget  string
		status  riskv1.VerifierStatus
		errText string // exact; empty for any
		code    string
	}{
		{name: "error", v: failing, budget: "1s", status: riskv1.VerifierStatus_VERIFIER_STATUS_FAILED,
			errText: "upstream registry unavailable", code: policy.CodeVerifierFailed},
		{name: "ctx error after budget", v: hangVerifier, budget: "30ms", status: riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT,
			code: policy.CodeVerifierTimeout},
		{name: "panic", v: panicking, budget: "1s", status: riskv1.VerifierStatus_VERIFIER_STATUS_FAILED,
			errText: "verifier panicked", code: policy.CodeVerifierFailed},
		// Inline verifiers fail the same way, with no goroutine to
		// recover in.
		{name: "inline error", v: verifier.Inline(failing), budget: "1s", status: riskv1.VerifierStatus_VERIFIER_STATUS_FAILED,
			errText: "upstream registry unavailable", code: policy.CodeVerifierFailed},
		{name: "inline panic", v: verifier.Inline(panicking), budget: "1s", status: riskv1.VerifierStatus_VERIFIER_STATUS_FAILED,
			errText: "verifier panicked", code: policy.CodeVerifierFailed},
	}
	modes := []struct {
		mode    string
		outcome riskv1.Outcome
	}{
		{"ignore", riskv1.Outcome_OUTCOME_APPROVE},
		{"review", riskv1.Outcome_OUTCOME_REVIEW},
		{"decline", riskv1.Outcome_OUTCOME_DECLINE},
	}
	for _, k := range kinds {
		for _, m := range modes {
			t.Run(k.name+"/"+m.mode, func(t *testing.T) {
				reg := verifier.Registry{"ok": okVerifier, "bad": k.v}
				e := sellerEngine(t, reg,
					"name: ok, budget: 1s, on_failure: decline",
					"name: bad, budget: "+k.budget+", on_failure: "+m.mode)
				d, err := decideSeller(context.Background(), e)
				if err != nil {
					t.Fatal(err)
				}
				if st := result(t, d, "ok").GetStatus(); st != riskv1.VerifierStatus_VERIFIER_STATUS_OK {
					t.Errorf("healthy verifier: %s", st)
				}
				vr := result(t, d, "bad")
				if vr.GetStatus() != k.status {
					t.Errorf("status %s, want %s (error %q)", vr.GetStatus(), k.status, vr.GetError())
				}
				if vr.GetError() == "" || (k.errText != "" && vr.GetError() != k.errText) {
					t.Errorf("error %q, want %q", vr.GetError(), k.errText)
				}
				if d.GetOutcome() != m.outcome {
					t.Errorf("outcome %s, want %s for on_failure %s", d.GetOutcome(), m.outcome, m.mode)
				}
				if !slices.Equal(reasonCodes(d), []string{k.code}) {
					t.Errorf("reasons %v, want [%s]", reasonCodes(d), k.code)
				}
				for _, r := range d.GetReasons() {
					if r.GetSource() != "bad" || r.GetScore() != 0 {
						t.Errorf("reason %v: want source bad, score 0", r)
					}
				}
				for _, enc := range []func() string{
					func() string { return prototext.Format(d) },
					func() string { return protojson.Format(d) },
				} {
					if s := enc(); strings.Contains(s, panicSecret) || strings.Contains(s, "11010519491231002X") {
						t.Errorf("panic value in the decision: %s", s)
					}
				}
			})
		}
	}
}

func TestVerifierIgnoringContextIsNotWaitedFor(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	// Ignores its ctx entirely: returns after 2 s, or when the test ends.
	stubborn := verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
		select {
		case <-time.After(2 * time.Second):
		case <-release:
		}
		return verifier.Result{Signals: map[string]any{"late.signal": true}}, nil
	})
	reg := verifier.Registry{"stubborn": stubborn}
	e := sellerEngine(t, reg, "name: stubborn, budget: 50ms, on_failure: review")
	start := time.Now()
	d, err := decideSeller(context.Background(), e)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took > time.Second {
		t.Errorf("decision took %v: the engine waited for a verifier past its 50ms budget", took)
	}
	vr := result(t, d, "stubborn")
	if vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT || !strings.Contains(vr.GetError(), "no answer within 50ms") {
		t.Errorf("got %s %q, want TIMED_OUT with no answer within 50ms", vr.GetStatus(), vr.GetError())
	}
	if d.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW || len(d.GetSignals()) != 0 {
		t.Errorf("got %s with signals %v, want REVIEW and none", d.GetOutcome(), d.GetSignals())
	}
}

func TestCancelledCallerGetsNoDecision(t *testing.T) {
	tests := []struct {
		name   string
		cancel func(cancel context.CancelFunc, started <-chan struct{})
	}{
		{name: "before the call", cancel: func(cancel context.CancelFunc, _ <-chan struct{}) { cancel() }},
		{name: "while a verifier runs", cancel: func(cancel context.CancelFunc, started <-chan struct{}) {
			go func() { <-started; cancel() }()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{})
			var once atomic.Bool
			v := verifier.Func(func(ctx context.Context, _ verifier.Input) (verifier.Result, error) {
				if once.CompareAndSwap(false, true) {
					close(started)
				}
				<-ctx.Done()
				return verifier.Result{}, ctx.Err()
			})
			reg := verifier.Registry{"v": v}
			e := sellerEngine(t, reg, "name: v, budget: 2s, on_failure: ignore")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tc.cancel(cancel, started)
			d, err := decideSeller(ctx, e)
			if !errors.Is(err, context.Canceled) || d != nil {
				t.Fatalf("got %v, %v; want context.Canceled and no decision", d, err)
			}
		})
	}
}

func TestNewAndInstallRefuseUnregisteredVerifiers(t *testing.T) {
	reg := verifier.Registry{"v": okVerifier}
	withGhost := verifier.Registry{"v": okVerifier, "ghost": okVerifier}
	polV := loadPolicy(t, reg, map[string]string{"seller": checkWith("name: v, budget: 1s, on_failure: ignore")})
	polGhost := loadPolicy(t, withGhost, map[string]string{"refund": checkWith("name: ghost, budget: 1s, on_failure: ignore")})

	news := []struct {
		name string
		o    engine.Options
		want string
	}{
		{name: "nil policy", o: engine.Options{Verifiers: reg}, want: "no policy"},
		{name: "unregistered verifier", o: engine.Options{Policy: polGhost, Verifiers: reg}, want: `"ghost"`},
	}
	for _, tc := range news {
		t.Run("New/"+tc.name, func(t *testing.T) {
			e, err := engine.New(tc.o)
			if err == nil || e != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an error mentioning %s", e, err, tc.want)
			}
		})
	}

	t.Run("Install keeps the old policy", func(t *testing.T) {
		e := newEngine(t, engine.Options{Policy: polV, Verifiers: reg})
		err := e.Install(polGhost, nil)
		if err == nil || !strings.Contains(err.Error(), `"ghost"`) {
			t.Fatalf("got %v, want a refusal naming ghost", err)
		}
		if e.Policy() != polV {
			t.Fatal("refused policy was put in force")
		}
		d, err := decideSeller(context.Background(), e)
		if err != nil || d.GetPolicyVersion() != polV.Version {
			t.Fatalf("decided under %q (%v), want %q", d.GetPolicyVersion(), err, polV.Version)
		}
	})

	t.Run("a request keeps the policy it started with", func(t *testing.T) {
		polNew := loadPolicy(t, reg, map[string]string{"seller": checkWith("name: v, budget: 2s, on_failure: ignore")})
		entered, swapped := make(chan struct{}), make(chan struct{})
		slow := verifier.Func(func(ctx context.Context, _ verifier.Input) (verifier.Result, error) {
			close(entered)
			select {
			case <-swapped:
				return verifier.Result{}, nil
			case <-ctx.Done():
				return verifier.Result{}, ctx.Err()
			}
		})
		sreg := verifier.Registry{"v": slow}
		e := newEngine(t, engine.Options{Policy: polV, Verifiers: sreg})
		go func() {
			<-entered
			if err := e.Install(polNew, nil); err != nil {
				t.Error(err)
			}
			close(swapped)
		}()
		d, err := decideSeller(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		if d.GetPolicyVersion() != polV.Version || e.Policy() != polNew {
			t.Fatalf("decided under %q, policy now %q; want %q then %q",
				d.GetPolicyVersion(), e.Policy().Version, polV.Version, polNew.Version)
		}
	})

	t.Run("check the policy does not define", func(t *testing.T) {
		e := newEngine(t, engine.Options{Policy: polV, Verifiers: reg})
		d, err := e.Decide(context.Background(), riskv1.Check_CHECK_UNSPECIFIED, "req-1", &riskv1.CheckSellerRequest{})
		if !errors.Is(err, engine.ErrNoCheck) || d != nil {
			t.Fatalf("got %v, %v; want ErrNoCheck", d, err)
		}
	})
}

func TestDecisionContent(t *testing.T) {
	var seen verifier.Input
	signals := verifier.Func(func(_ context.Context, in verifier.Input) (verifier.Result, error) {
		seen = in
		return verifier.Result{Signals: map[string]any{
			"v.string": "enterprise",
			"v.bool":   true,
			"v.int64":  int64(-7),
			"v.int":    3,
			"v.double": 2.5,
			"v.other":  time.Second, // not a signal type: sent as its text
		}}, nil
	})
	// Listed first but answers last: results follow the policy's order,
	// not the order of answers.
	late := verifier.Func(func(ctx context.Context, _ verifier.Input) (verifier.Result, error) {
		select {
		case <-time.After(30 * time.Millisecond):
			return verifier.Result{Signals: map[string]any{"a.first": false}}, nil
		case <-ctx.Done():
			return verifier.Result{}, ctx.Err()
		}
	})
	reg := verifier.Registry{"z-late": late, "v": signals}
	pol := loadPolicy(t, reg, map[string]string{"seller": checkWith(
		"name: z-late, budget: 2s, on_failure: decline",
		"name: v, budget: 2s, on_failure: decline")})
	e := newEngine(t, engine.Options{Policy: pol, Verifiers: reg})
	req := &riskv1.CheckSellerRequest{RequestId: "req-42"}

	var prev uuid.UUID
	for i := range 3 {
		d, err := e.Decide(context.Background(), riskv1.Check_CHECK_SELLER, "req-42", req)
		if err != nil {
			t.Fatal(err)
		}
		id, err := uuid.Parse(d.GetDecisionId())
		if err != nil || id.Version() != 7 {
			t.Fatalf("decision id %q: %v, version %d; want a UUIDv7", d.GetDecisionId(), err, id.Version())
		}
		if i > 0 && id.String() <= prev.String() {
			t.Errorf("decision id %s not after %s", id, prev)
		}
		prev = id
		if seen.DecisionID != d.GetDecisionId() || seen.Check != riskv1.Check_CHECK_SELLER || seen.Request != req || !seen.Now.Equal(clockNow) {
			t.Errorf("verifier saw %+v, want this decision's id, check, request and clock", seen)
		}
		if i > 0 {
			continue
		}

		if d.GetRequestId() != "req-42" || d.GetCheck() != riskv1.Check_CHECK_SELLER ||
			d.GetPolicyVersion() != pol.Version || !d.GetDecidedAt().AsTime().Equal(clockNow) ||
			d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE || d.GetTraceId() != "" {
			t.Errorf("decision identity: %v", d)
		}
		wantSignals := []*riskv1.Signal{
			{Name: "a.first", Value: &riskv1.Signal_BoolValue{BoolValue: false}},
			{Name: "v.bool", Value: &riskv1.Signal_BoolValue{BoolValue: true}},
			{Name: "v.double", Value: &riskv1.Signal_DoubleValue{DoubleValue: 2.5}},
			{Name: "v.int", Value: &riskv1.Signal_IntValue{IntValue: 3}},
			{Name: "v.int64", Value: &riskv1.Signal_IntValue{IntValue: -7}},
			{Name: "v.other", Value: &riskv1.Signal_StringValue{StringValue: "1s"}},
			{Name: "v.string", Value: &riskv1.Signal_StringValue{StringValue: "enterprise"}},
		}
		if got, want := prototext.Format(&riskv1.Decision{Signals: d.GetSignals()}), prototext.Format(&riskv1.Decision{Signals: wantSignals}); got != want {
			t.Errorf("signals:\n%s\nwant:\n%s", got, want)
		}
		var names []string
		for _, vr := range d.GetVerifierResults() {
			names = append(names, vr.GetName())
			if vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_OK || vr.GetError() != "" || vr.GetDuration() == nil {
				t.Errorf("result %v", vr)
			}
		}
		if !slices.Equal(names, []string{"z-late", "v"}) {
			t.Errorf("results in order %v, want the policy's [z-late v]", names)
		}
		if took := result(t, d, "z-late").GetDuration().AsDuration(); took < 30*time.Millisecond || took > 2*time.Second {
			t.Errorf("z-late took %v, want its 30ms wait", took)
		}
		if took := result(t, d, "v").GetDuration().AsDuration(); took < 0 || took > result(t, d, "z-late").GetDuration().AsDuration() {
			t.Errorf("v took %v", took)
		}
	}
}

// sums collects an int64 counter's points by the given attributes.
func sums(t *testing.T, rm metricdata.ResourceMetrics, name string, keys ...attribute.Key) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s is %T, want an int64 sum", name, m.Data)
			}
			for _, dp := range sum.DataPoints {
				out[attrKey(dp.Attributes, keys...)] += dp.Value
			}
		}
	}
	return out
}

// counts collects a histogram's point counts by the given attributes.
func counts(t *testing.T, rm metricdata.ResourceMetrics, name string, keys ...attribute.Key) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				t.Fatalf("%s is %T, want a float64 histogram", name, m.Data)
			}
			for _, dp := range h.DataPoints {
				out[attrKey(dp.Attributes, keys...)] += dp.Count
			}
		}
	}
	return out
}

func attrKey(set attribute.Set, keys ...attribute.Key) string {
	if set.Len() != len(keys) {
		return fmt.Sprintf("unexpected attributes %v", set.ToSlice())
	}
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v, _ := set.Value(k)
		parts = append(parts, v.Emit())
	}
	return strings.Join(parts, " ")
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	reg := verifier.Registry{"v": okVerifier, "slow": hangVerifier}
	pol := loadPolicy(t, reg, map[string]string{
		"seller":             checkWith("name: v, budget: 1s, on_failure: decline"),
		"gift_card_purchase": checkWith("name: slow, budget: 20ms, on_failure: review"),
		"refund": minimalCheck + `
rules:
  - {name: always, when: "true", action: decline, reason: ALWAYS, message: Always declined.}`,
	})
	e := newEngine(t, engine.Options{Policy: pol, Verifiers: reg, Meter: mp.Meter("test")})
	ctx := context.Background()
	for _, c := range []struct {
		check riskv1.Check
		req   proto.Message
		n     int
	}{
		{riskv1.Check_CHECK_SELLER, &riskv1.CheckSellerRequest{}, 2},
		{riskv1.Check_CHECK_GIFT_CARD_PURCHASE, &riskv1.ScoreGiftCardPurchaseRequest{}, 1},
		{riskv1.Check_CHECK_REFUND, &riskv1.EvaluateRefundRequest{}, 1},
	} {
		for range c.n {
			if _, err := e.Decide(ctx, c.check, "req-1", c.req); err != nil {
				t.Fatal(err)
			}
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		got  any
		want any
	}{
		{"riskd.decisions", sums(t, rm, "riskd.decisions", "check", "outcome", "policy_version", "canary"), map[string]int64{
			"CHECK_SELLER OUTCOME_APPROVE " + pol.Version + " false":            2,
			"CHECK_GIFT_CARD_PURCHASE OUTCOME_REVIEW " + pol.Version + " false": 1,
			"CHECK_REFUND OUTCOME_DECLINE " + pol.Version + " false":            1,
		}},
		{"riskd.verifier.failures", sums(t, rm, "riskd.verifier.failures", "verifier", "status"), map[string]int64{
			"slow timed_out": 1,
		}},
		{"riskd.verifier.duration", counts(t, rm, "riskd.verifier.duration", "verifier", "status"), map[string]uint64{
			"v ok":           2,
			"slow timed_out": 1,
		}},
		{"riskd.decision.duration", counts(t, rm, "riskd.decision.duration", "check", "policy_version", "canary"), map[string]uint64{
			"CHECK_SELLER " + pol.Version + " false":             2,
			"CHECK_GIFT_CARD_PURCHASE " + pol.Version + " false": 1,
			"CHECK_REFUND " + pol.Version + " false":             1,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if fmt.Sprint(tc.got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

// TestRuleHitsRecordShadow follows a fired shadow rule to where the engine
// records it: the rule-hit metric must say shadow=true for it (and false
// for an enforced one), and the decision facts replay reads must list it
// among the fired rules, shadow ones included.
func TestRuleHitsRecordShadow(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	reg := verifier.Registry{}
	pol := loadPolicy(t, reg, map[string]string{"refund": minimalCheck + `
rules:
  - {name: trial, when: "true", action: decline, score: 50, reason: TRIAL, message: Trial., shadow: true}
  - {name: always, when: "true", action: review, reason: ALWAYS, message: Always reviewed.}
  - {name: quiet_trial, when: "false", action: decline, reason: QUIET, message: Quiet., shadow: true}`})
	e := newEngine(t, engine.Options{Policy: pol, Verifiers: reg, Meter: mp.Meter("test")})
	ctx := context.Background()
	decided, err := e.DecideWithFacts(ctx, riskv1.Check_CHECK_REFUND, "req-1", &riskv1.EvaluateRefundRequest{})
	if err != nil {
		t.Fatal(err)
	}
	d, facts := decided.Decision, decided.Facts
	// The shadow decline is observed, not enforced.
	if d.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW {
		t.Fatalf("Outcome = %s, want REVIEW: the shadow decline must not be enforced", d.GetOutcome())
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	// Split by the version that decided, and whether it was a canary.
	got := sums(t, rm, "riskd.policy.rule_hits", "rule", "check", "outcome", "shadow", "policy_version", "canary")
	want := map[string]int64{
		"trial CHECK_REFUND OUTCOME_REVIEW true " + pol.Version + " false":   1,
		"always CHECK_REFUND OUTCOME_REVIEW false " + pol.Version + " false": 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("riskd.policy.rule_hits = %v, want %v", got, want)
	}

	if got, want := facts.GetFiredRules(), []string{"trial", "always"}; !slices.Equal(got, want) {
		t.Errorf("DecisionFacts.fired_rules = %v, want %v (shadow ones included, in policy order)", got, want)
	}
	// What the log stores is the wire form: the same list must survive it.
	b, err := proto.Marshal(facts)
	if err != nil {
		t.Fatal(err)
	}
	var back riskv1.DecisionFacts
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.GetFiredRules(), facts.GetFiredRules()) {
		t.Errorf("stored fired_rules = %v, want %v", back.GetFiredRules(), facts.GetFiredRules())
	}
}

func TestVerifierSpans(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	failing := verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
		return verifier.Result{}, errors.New("boom")
	})
	reg := verifier.Registry{"v": okVerifier, "slow": hangVerifier, "bad": failing}
	pol := loadPolicy(t, reg, map[string]string{"seller": checkWith(
		"name: v, budget: 1s, on_failure: ignore",
		"name: slow, budget: 20ms, on_failure: ignore",
		"name: bad, budget: 1s, on_failure: ignore")})
	e := newEngine(t, engine.Options{Policy: pol, Verifiers: reg, Tracer: tp.Tracer("test")})

	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	d, err := decideSeller(ctx, e)
	parent.End()
	if err != nil {
		t.Fatal(err)
	}
	psc := parent.SpanContext()
	if d.GetTraceId() != psc.TraceID().String() {
		t.Errorf("decision trace id %q, want %s", d.GetTraceId(), psc.TraceID())
	}

	want := map[string]struct {
		status string
		code   otelcodes.Code
	}{
		"verifier v":    {"ok", otelcodes.Unset},
		"verifier slow": {"timed_out", otelcodes.Error},
		"verifier bad":  {"failed", otelcodes.Error},
	}
	got := map[string]int{}
	for _, s := range spans.Ended() {
		if s.Name() == "parent" {
			attrs := attribute.NewSet(s.Attributes()...)
			if v, _ := attrs.Value("riskd.outcome"); v.AsString() != d.GetOutcome().String() {
				t.Errorf("parent span riskd.outcome %q, want %s", v.AsString(), d.GetOutcome())
			}
			if v, _ := attrs.Value("riskd.decision_id"); v.AsString() != d.GetDecisionId() {
				t.Errorf("parent span riskd.decision_id %q, want %s", v.AsString(), d.GetDecisionId())
			}
			continue
		}
		w, ok := want[s.Name()]
		if !ok {
			t.Errorf("unexpected span %q", s.Name())
			continue
		}
		got[s.Name()]++
		if s.Parent().SpanID() != psc.SpanID() || s.SpanContext().TraceID() != psc.TraceID() {
			t.Errorf("%s: parent %s in trace %s, want %s in %s", s.Name(), s.Parent().SpanID(), s.SpanContext().TraceID(), psc.SpanID(), psc.TraceID())
		}
		attrs := attribute.NewSet(s.Attributes()...)
		if v, _ := attrs.Value("riskd.verifier.status"); v.AsString() != w.status {
			t.Errorf("%s: riskd.verifier.status %q, want %q", s.Name(), v.AsString(), w.status)
		}
		if s.Status().Code != w.code {
			t.Errorf("%s: span status %v, want %v", s.Name(), s.Status().Code, w.code)
		}
	}
	for name := range want {
		if got[name] != 1 {
			t.Errorf("%d spans named %q, want 1", got[name], name)
		}
	}
}

func TestInstallRefusesNil(t *testing.T) {
	pol, err := policy.Load(policy.DefaultBytes(), policy.DefaultSource, map[string]bool{"identity": true, "license": true, "contact": true, "links": true, "lists": true, "velocity": true, "spending": true, "returns": true})
	if err != nil {
		t.Fatal(err)
	}
	noop := verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) { return verifier.Result{}, nil })
	all := verifier.Registry{"identity": noop, "license": noop, "contact": noop, "links": noop, "lists": noop, "velocity": noop, "spending": noop, "returns": noop}
	e, err := engine.New(engine.Options{Policy: pol, Verifiers: all})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Install(nil, nil); err == nil {
		t.Fatal("Install(nil) accepted")
	}
	if e.Policy() != pol {
		t.Fatal("a refused policy replaced the one in force")
	}
	if _, err := engine.New(engine.Options{Policy: pol, Verifiers: all, Reserve: -time.Millisecond}); err == nil {
		t.Fatal("a negative reserve was accepted")
	}
}

// goroutineID reads the running goroutine's number from its stack header
// ("goroutine 18 [running]:"), for tests only.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return strings.Fields(string(buf))[1]
}

// TestInlineVerifiersRunOnTheCallersGoroutine: a verifier that never waits
// costs a plain call, not a goroutine, a timer and a channel; one that can
// wait still gets its own goroutine and budget, started before the inline
// ones run so that its wait overlaps their work.
func TestInlineVerifiersRunOnTheCallersGoroutine(t *testing.T) {
	var inlineOn, waitingOn string
	waitingStarted := make(chan struct{})
	inline := verifier.Inline(verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
		inlineOn = goroutineID()
		// The waiting verifier is already running while this one works.
		select {
		case <-waitingStarted:
		case <-time.After(5 * time.Second):
			return verifier.Result{}, errors.New("the waiting verifier had not started")
		}
		return verifier.Result{Signals: map[string]any{"inline.ran": true}}, nil
	}))
	waiting := verifier.Func(func(ctx context.Context, _ verifier.Input) (verifier.Result, error) {
		waitingOn = goroutineID()
		close(waitingStarted)
		if _, ok := ctx.Deadline(); !ok {
			return verifier.Result{}, errors.New("a waiting verifier runs without its budget")
		}
		return verifier.Result{}, nil
	})
	reg := verifier.Registry{"inline": inline, "waiting": waiting}
	e := sellerEngine(t, reg, "name: inline, budget: 1s, on_failure: decline", "name: waiting, budget: 1s, on_failure: decline")
	caller := goroutineID()
	d, err := decideSeller(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"inline", "waiting"} {
		if st := result(t, d, name).GetStatus(); st != riskv1.VerifierStatus_VERIFIER_STATUS_OK {
			t.Fatalf("%s: %v (%s)", name, st, result(t, d, name).GetError())
		}
	}
	if inlineOn != caller {
		t.Errorf("inline verifier ran on goroutine %s, the caller is %s", inlineOn, caller)
	}
	if waitingOn == caller || waitingOn == "" {
		t.Errorf("waiting verifier ran on goroutine %q, want one of its own (caller %s)", waitingOn, caller)
	}
}

// TestHistoryDerivedOnceForVerifiersAndCommit: with identifier keys, the
// engine derives the request's history entry once; every verifier sees that
// same entry, and it is the one the decision's commit gets.
func TestHistoryDerivedOnceForVerifiersAndCommit(t *testing.T) {
	keys, err := pseudonym.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	var seen []*history.Entry
	var mu sync.Mutex
	record := verifier.Func(func(_ context.Context, in verifier.Input) (verifier.Result, error) {
		mu.Lock()
		seen = append(seen, in.Entry)
		mu.Unlock()
		return verifier.Result{}, nil
	})
	reg := verifier.Registry{"a": record, "b": verifier.Inline(record)}
	pol := loadPolicy(t, reg, map[string]string{"gift_card_purchase": checkWith("name: a, budget: 1s, on_failure: review", "name: b, budget: 1s, on_failure: review")})
	e := newEngine(t, engine.Options{Policy: pol, Verifiers: reg, Keys: keys})
	req := &riskv1.ScoreGiftCardPurchaseRequest{RequestId: "r1", AccountId: "acct-1", Total: &riskv1.Money{AmountMinor: 10000, Currency: "CNY"}}
	decided, err := e.DecideWithFacts(context.Background(), riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "r1", req)
	if err != nil {
		t.Fatal(err)
	}
	if decided.Entry == nil || len(seen) != 2 || seen[0] != decided.Entry || seen[1] != decided.Entry {
		t.Fatalf("verifiers saw entries %v, the commit gets %p: want one entry for all", seen, decided.Entry)
	}
	want, err := history.Derive(keys, req, decided.Decision.GetDecisionId(), decided.Decision.GetDecidedAt().AsTime())
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Events) == 0 || !reflect.DeepEqual(*decided.Entry, want) {
		t.Fatalf("engine's entry %+v, history.Derive gives %+v", *decided.Entry, want)
	}
}

// TestDecisionSignalsAreThePoliciesMerge: the decision lists the signals the
// policy saw, sorted by name: every answering verifier's, a failed one's
// none, and where two verifiers give the same name, the later one's value,
// as the policy's merge has it. The facts keep each verifier's own.
func TestDecisionSignalsAreThePoliciesMerge(t *testing.T) {
	first := verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
		return verifier.Result{Signals: map[string]any{"b.x": int64(1), "shared": "first", "a.y": true}}, nil
	})
	second := verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
		return verifier.Result{Signals: map[string]any{"shared": "second", "c.z": 2.5}}, nil
	})
	failing := verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
		return verifier.Result{Signals: map[string]any{"d.never": true}}, errors.New("down")
	})
	reg := verifier.Registry{"first": first, "second": verifier.Inline(second), "failing": failing}
	e := sellerEngine(t, reg, "name: first, budget: 1s, on_failure: ignore",
		"name: second, budget: 1s, on_failure: ignore", "name: failing, budget: 1s, on_failure: ignore")
	decided, err := e.DecideWithFacts(context.Background(), riskv1.Check_CHECK_SELLER, "req-1", &riskv1.CheckSellerRequest{RequestId: "req-1"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range decided.Decision.GetSignals() {
		got = append(got, fmt.Sprintf("%s=%v", s.GetName(), s.GetValue()))
	}
	want := []string{"a.y=&{true}", "b.x=&{1}", "c.z=&{2.5}", "shared=&{second}"}
	if !slices.Equal(got, want) {
		t.Fatalf("decision signals %v, want %v", got, want)
	}
	perVerifier := map[string]int{}
	for _, vf := range decided.Facts.GetVerifiers() {
		perVerifier[vf.GetName()] = len(vf.GetSignals())
	}
	if perVerifier["first"] != 3 || perVerifier["second"] != 2 || perVerifier["failing"] != 0 {
		t.Fatalf("facts keep per verifier %v, want first 3, second 2, failing 0", perVerifier)
	}
}

// TestDecideCommits: with a decision log, Decide is the whole answer. The
// decision is durable with its history before it returns; the same request
// again gets the stored decision and adds nothing; other content under the
// same request ID is a conflict; a declined gift-card order is counted as
// an attempt, not spend. Against the real embedded store.
func TestDecideCommits(t *testing.T) {
	keys, err := pseudonym.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	decline := verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
		return verifier.Result{Findings: []verifier.Finding{{Code: "X", Score: 100, Message: "x"}}}, nil
	})
	reg := verifier.Registry{"decline": decline}
	pol := loadPolicy(t, reg, map[string]string{"gift_card_purchase": checkWith("name: decline, budget: 1s, on_failure: review")})
	e := newEngine(t, engine.Options{Policy: pol, Verifiers: reg, Keys: keys, Log: st})
	req := &riskv1.ScoreGiftCardPurchaseRequest{RequestId: "r1", AccountId: "acct-1", Total: &riskv1.Money{AmountMinor: 10000, Currency: "CNY"}}
	ctx := context.Background()

	d, err := e.Decide(ctx, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "r1", req)
	if err != nil {
		t.Fatal(err)
	}
	if d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE {
		t.Fatalf("outcome %v, want DECLINE", d.GetOutcome())
	}
	stored, err := st.Decision(ctx, d.GetDecisionId())
	if err != nil || !proto.Equal(stored, d) {
		t.Fatalf("stored decision %v (%v), want the one answered", stored, err)
	}
	again, err := e.Decide(ctx, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "r1", proto.Clone(req))
	if err != nil || again.GetDecisionId() != d.GetDecisionId() {
		t.Fatalf("replay answered %v (%v), want decision %s", again.GetDecisionId(), err, d.GetDecisionId())
	}
	other := proto.Clone(req).(*riskv1.ScoreGiftCardPurchaseRequest)
	other.Total.AmountMinor++
	if _, err := e.Decide(ctx, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "r1", other); !errors.Is(err, store.ErrRequestConflict) {
		t.Fatalf("other content under the same request ID: %v, want ErrRequestConflict", err)
	}
	acct, _ := keys.Identifier(store.KindAccount, "acct-1")
	events, err := st.Events(ctx, history.SeriesGiftCard, acct, fixedClock().Add(-time.Hour), fixedClock().Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Ref != history.RefDeclined {
		t.Fatalf("account's gift-card events %+v, want the one order, marked declined", events)
	}
}

// Guards (issue 16, item 7): a policy that reads further back than the
// store keeps history is refused, at New and at Install, with the figures
// and what to change; one within the retention is accepted.
func TestLookbackLongerThanRetentionRefused(t *testing.T) {
	reg := verifier.Registry{"v": okVerifier}
	long := loadPolicy(t, reg, map[string]string{"gift_card_purchase": minimalCheck + "\nhistory_lookback: 500d"})
	short := loadPolicy(t, reg, map[string]string{"gift_card_purchase": minimalCheck + "\nhistory_lookback: 90d"})
	retention := 400 * 24 * time.Hour
	_, err := engine.New(engine.Options{Policy: long, Verifiers: reg, EventRetention: retention})
	if err == nil || !strings.Contains(err.Error(), "history_lookback") || !strings.Contains(err.Error(), "--event-retention") {
		t.Fatalf("New with a 500-day look-back and 400-day retention: %v, want a refusal naming both settings", err)
	}
	e := newEngine(t, engine.Options{Policy: short, Verifiers: reg, EventRetention: retention})
	if err := e.Install(long, nil); err == nil || e.Policy() != short {
		t.Fatalf("Install of a 500-day look-back: %v, policy in force %s; want a refusal keeping the old one", err, e.Policy().Version)
	}
	// No retention given (an engine without a store): nothing to check.
	newEngine(t, engine.Options{Policy: long, Verifiers: reg})
}

// Guards (issue 20, item 2): a decision that waits for a person opens its
// case in its own commit, due when the policy in force says, with its
// expiry action; a reason's terms win over the check's; a decision that
// waits for nobody opens none.
func TestDecideOpensCases(t *testing.T) {
	keys, err := pseudonym.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	score := func(code string, n int) verifier.Verifier {
		return verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) {
			return verifier.Result{Findings: []verifier.Finding{{Code: code, Score: n, Message: code}}}, nil
		})
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		v        verifier.Verifier
		opens    bool
		due      time.Duration
		onExpiry store.ExpiryAction
	}{
		{"a review", score("SOME", 40), true, 45 * time.Minute, store.ExpireEscalate},
		{"a review with a reason of its own", score("URGENT", 40), true, 5 * time.Minute, store.ExpireDecline},
		{"an approval", score("SOME", 0), false, 0, 0},
		{"a decline", score("SOME", 90), false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := verifier.Registry{"v": tc.v}
			pol := loadPolicy(t, reg, map[string]string{"refund": checkWith("name: v, budget: 1s, on_failure: review") +
				"review: {due: 45m, on_expiry: escalate, reasons: {URGENT: {due: 5m, on_expiry: decline}}}\n"})
			e := newEngine(t, engine.Options{Policy: pol, Verifiers: reg, Keys: keys, Log: st})
			req := &riskv1.EvaluateRefundRequest{RequestId: "r-" + tc.name, BuyerAccountId: "b", SellerId: "s"}
			d, err := e.Decide(ctx, riskv1.Check_CHECK_REFUND, req.RequestId, req)
			if err != nil {
				t.Fatal(err)
			}
			c, err := st.Case(ctx, d.GetDecisionId())
			switch {
			case !tc.opens:
				if !errors.Is(err, store.ErrNoCase) {
					t.Errorf("%v decision: case %+v, %v; want none", d.GetOutcome(), c, err)
				}
			case err != nil:
				t.Fatalf("%v decision opened no case: %v", d.GetOutcome(), err)
			case !c.Due.Equal(clockNow.Add(tc.due)) || c.OnExpiry != tc.onExpiry || c.State != store.CaseOpen:
				t.Errorf("case %+v, want open, due %s after the decision, %s when it expires", c, tc.due, tc.onExpiry)
			}
			// A refund is found by its seller, which no outcome marks.
			seller, _ := keys.Identifier(store.KindSeller, "s")
			p, err := st.ListDecisions(ctx, store.DecisionQuery{Subject: &seller, Limit: 10, MaxScan: 10})
			if err != nil || !slices.ContainsFunc(p.Decisions, func(cd store.CaseDecision) bool { return cd.Decision.GetDecisionId() == d.GetDecisionId() }) {
				t.Errorf("the refund's seller does not find it: %v", err)
			}
		})
	}
}
