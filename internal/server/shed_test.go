package server_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// shedSummary is what the log says was shed: the "calls shed" lines by
// caller and reason, and their bytes. A per-call line for a shed call
// (the call log's "finished call" with RESOURCE_EXHAUSTED) fails the test.
type shedSummary struct {
	lines map[string]int   // "reason caller" -> lines
	count map[string]int64 // "reason caller" -> sum of the lines' counts
	bytes int
}

func (l *logBuffer) shed(t *testing.T) shedSummary {
	t.Helper()
	s := shedSummary{lines: map[string]int{}, count: map[string]int64{}}
	for _, ln := range l.lines(t) {
		a := ln.attr
		if a["grpc.code"] == codes.ResourceExhausted.String() && a["msg"] != "calls shed" {
			t.Errorf("a shed call logged on its own: %v", a)
		}
		if a["msg"] != "calls shed" {
			continue
		}
		if a["level"] != "WARN" {
			t.Errorf("shed line at %v, want WARN: %v", a["level"], a)
		}
		n, ok := a["count"].(float64)
		if !ok || n < 1 || n != float64(int64(n)) {
			t.Errorf("shed line without a count of at least 1: %v", a)
		}
		k := fmt.Sprint(a["reason"], " ", a["caller"])
		s.lines[k]++
		s.count[k] += int64(n)
		s.bytes += ln.raw
	}
	return s
}

// shedCounted reads riskd.server.shed by "reason caller".
func shedCounted(t *testing.T, reader sdkmetric.Reader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return counterPoints(t, rm, "riskd.server.shed", "reason", "caller")
}

// TestShedInFlightIsCountedAndLoggedSampled floods a riskd whose every
// slot is held: each refusal is counted in riskd.server.shed, the first is
// logged at once, the rest of the flood on one line when the next is due
// (the server's clock, frozen until the test moves it, says when), and
// refusals other than shedding are still logged call by call.
func TestShedInFlightIsCountedAndLoggedSampled(t *testing.T) {
	const (
		maxInFlight = 2
		senders     = 8
		perSender   = 40
	)
	var running atomic.Int64
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release)
	hold := verifier.Func(func(ctx context.Context, in verifier.Input) (verifier.Result, error) {
		if !strings.HasPrefix(in.Request.(*riskv1.CheckSellerRequest).GetSellerId(), "hold-") {
			return verifier.Result{}, nil
		}
		running.Add(1)
		defer running.Add(-1)
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return verifier.Result{}, nil
	})
	clock := newGCClock(time.Now())
	reader := sdkmetric.NewManualReader()
	var logs logBuffer
	h := startSecure(t, withMaxInFlight(maxInFlight), withPolicy(floodPolicy, verifier.Registry{"slow": hold}),
		withLogs(&logs), withClock(clock.Now), withMetrics(reader))
	client := riskv1.NewRiskServiceClient(h.dial(t, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	held := make([]error, maxInFlight)
	var wg sync.WaitGroup
	for i := range maxInFlight {
		wg.Go(func() {
			req := floodSeller(100 + i)
			req.SellerId = fmt.Sprintf("hold-%d", i)
			_, held[i] = client.CheckSeller(ctx, req)
		})
	}
	for running.Load() < maxInFlight {
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d held calls running", running.Load(), maxInFlight)
		}
		time.Sleep(time.Millisecond)
	}

	// The first refusal is logged before it is answered.
	if _, err := client.CheckSeller(ctx, floodSeller(200)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a call with every slot held: %v, want RESOURCE_EXHAUSTED", err)
	}
	first := logs.shed(t)
	if want := map[string]int{"in_flight anonymous": 1}; !maps.Equal(first.lines, want) {
		t.Fatalf("after the first refusal, shed lines %v, want %v", first.lines, want)
	}
	if n := first.count["in_flight anonymous"]; n != 1 {
		t.Errorf("the first line counts %d, want 1", n)
	}

	// The flood, inside the same second of the server's clock.
	var refused atomic.Int64
	var flood sync.WaitGroup
	for s := range senders {
		flood.Go(func() {
			for i := range perSender {
				_, err := client.CheckSeller(ctx, floodSeller(1000+s*perSender+i))
				if status.Code(err) != codes.ResourceExhausted {
					t.Errorf("flood call with every slot held: %v, want RESOURCE_EXHAUSTED", err)
					continue
				}
				refused.Add(1)
			}
		})
	}
	flood.Wait()
	shed := 1 + refused.Load()
	if during := logs.shed(t); during.lines["in_flight anonymous"] != 1 {
		t.Errorf("%d shed lines within one second, want 1", during.lines["in_flight anonymous"])
	}

	// A second later the rest of the flood is on one line, with no
	// further call to prompt it.
	clock.Advance(time.Second)
	var after shedSummary
	for waited := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		after = logs.shed(t)
		if after.count["in_flight anonymous"] >= shed || time.Since(waited) > 10*time.Second {
			break
		}
	}
	if want := map[string]int64{"in_flight anonymous": shed}; !maps.Equal(after.count, want) {
		t.Errorf("the shed lines count %v, want %v", after.count, want)
	}
	if n := after.lines["in_flight anonymous"]; n != 2 {
		t.Errorf("%d shed lines over one second, want 2", n)
	}
	if got, want := shedCounted(t, reader), map[string]int64{"in_flight anonymous": shed}; !maps.Equal(got, want) {
		t.Errorf("riskd.server.shed:\n got  %s\n want %s", showCounts(got), showCounts(want))
	}
	t.Logf("%d calls shed: %d lines, %d bytes of log (%.1f per call)",
		shed, after.lines["in_flight anonymous"], after.bytes, float64(after.bytes)/float64(shed))

	release()
	wg.Wait()
	for i, err := range held {
		if err != nil {
			t.Errorf("held call %d: %v", i, err)
		}
	}
	// Other refusals are still logged call by call.
	if _, err := client.CheckSeller(ctx, &riskv1.CheckSellerRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("an empty request: %v, want INVALID_ARGUMENT", err)
	}
	var invalid int
	for _, ln := range logs.lines(t) {
		if ln.attr["msg"] == "finished call" && ln.attr["grpc.code"] == codes.InvalidArgument.String() {
			invalid++
		}
	}
	if invalid != 1 {
		t.Errorf("%d call log lines for the refused empty request, want 1", invalid)
	}
}

// TestShedRateLimitIsCountedAndLoggedSampled floods riskd as one caller
// beyond its rate while the server's clock moves a quarter second a wave:
// each refusal is counted in riskd.server.shed under the caller, the log
// has at most a line a second for it, and on shutdown the lines account
// for every refusal. The other caller, within its rate, has no line.
func TestShedRateLimitIsCountedAndLoggedSampled(t *testing.T) {
	const (
		waves    = 10
		perWave  = 30
		step     = 250 * time.Millisecond
		burst    = 5
		rate     = 1 // calls a second after the burst
		reviewer = 3
	)
	clock := newGCClock(time.Now())
	reader := sdkmetric.NewManualReader()
	var logs logBuffer
	h := startSecure(t, withCallers(secCallers()...), withRate(rate, burst),
		withLogs(&logs), withClock(clock.Now), withMetrics(reader))
	client := riskv1.NewRiskServiceClient(h.dial(t, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var limited, admitted atomic.Int64
	began := clock.Now()
	for w := range waves {
		var wg sync.WaitGroup
		for i := range perWave {
			wg.Go(func() {
				req := overPaidRefund()
				req.RequestId = fmt.Sprintf("req-shed-rate-%d-%d", w, i)
				req.BuyerAccountId = fmt.Sprintf("buyer-shed-rate-%d-%d", w, i)
				_, err := client.EvaluateRefund(bearer(ctx, checkoutToken), req)
				switch status.Code(err) {
				case codes.ResourceExhausted:
					limited.Add(1)
				case codes.OK:
					admitted.Add(1)
				default:
					t.Errorf("refund %d-%d: %v, want OK or RESOURCE_EXHAUSTED", w, i, err)
				}
			})
		}
		if w == 0 {
			for i := range reviewer {
				wg.Go(func() {
					_, err := client.GetDecision(bearer(ctx, reviewToken),
						&riskv1.GetDecisionRequest{DecisionId: "00000000-0000-7000-8000-000000000000"})
					if status.Code(err) != codes.NotFound {
						t.Errorf("review call %d: %v, want NOT_FOUND", i, err)
					}
				})
			}
		}
		wg.Wait()
		clock.Advance(step)
	}
	elapsed := clock.Now().Sub(began)
	during := logs.shed(t)
	h.srv.Shutdown(ctx)
	final := logs.shed(t)

	n := limited.Load()
	t.Logf("checkout: %d admitted, %d limited; %d lines over %s, %d after shutdown; %d bytes of log (%.1f per call)",
		admitted.Load(), n, during.lines["rate_limit checkout"], elapsed, final.lines["rate_limit checkout"],
		final.bytes, float64(final.bytes)/float64(n))
	if n < waves*perWave/2 {
		t.Fatalf("only %d of %d calls limited", n, waves*perWave)
	}
	if got, want := shedCounted(t, reader), map[string]int64{"rate_limit checkout": n}; !maps.Equal(got, want) {
		t.Errorf("riskd.server.shed:\n got  %s\n want %s", showCounts(got), showCounts(want))
	}
	if got, want := final.count, map[string]int64{"rate_limit checkout": n}; !maps.Equal(got, want) {
		t.Errorf("after shutdown the shed lines count %v, want %v", got, want)
	}
	// A line a second of the server's clock, the first at once; shutdown
	// writes what is left.
	bound := int(elapsed/time.Second) + 1
	if l := during.lines["rate_limit checkout"]; l < 1 || l > bound {
		t.Errorf("%d shed lines over %s, want 1 to %d", l, elapsed, bound)
	}
	if l := final.lines["rate_limit checkout"]; l > bound+1 {
		t.Errorf("%d shed lines over %s and shutdown, want at most %d", l, elapsed, bound+1)
	}
}
