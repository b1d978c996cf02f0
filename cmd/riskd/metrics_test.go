package main

import (
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// adminAddr is where a started riskd serves its admin endpoints, from its
// ready line.
func adminAddr(t *testing.T, logs []map[string]any) string {
	t.Helper()
	for _, l := range logs {
		if l["msg"] == "riskd ready" {
			if a, _ := l["admin_addr"].(string); a != "" {
				return a
			}
		}
	}
	t.Fatal("riskd's ready line names no admin_addr")
	return ""
}

// scrape reads /metrics as Prometheus would, and parses it.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	return fams
}

// value sums a family's samples whose labels include want: a counter's or
// gauge's value, a histogram's count.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no series %s", name)
	}
	sum := 0.0
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// TestScrapeMetrics scrapes a real riskd's /metrics with a real HTTP
// client after real calls, and checks the series an SRE's dashboards and
// alerts read, by their values.
func TestScrapeMetrics(t *testing.T) {
	p := startBinary(t, "--data-dir", t.TempDir())
	c := dial(t, p.Addr)
	ctx := context.Background()
	outcomes := map[string]float64{}
	for i := range 3 {
		resp, err := c.CheckSeller(ctx, sellerReq(i))
		if err != nil {
			t.Fatal(err)
		}
		outcomes[resp.GetDecision().GetOutcome().String()]++
	}
	if _, err := c.CheckSeller(ctx, &riskv1.CheckSellerRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatal(err)
	}
	addr := adminAddr(t, p.Logs())
	// otelgrpc records a call when the server's stream ends, which may be
	// just after the client has its answer: scrape until the four calls
	// are in.
	var fams map[string]*dto.MetricFamily
	eventually(5*time.Second, func() bool {
		fams = scrape(t, addr)
		_, ok := fams["rpc_server_call_duration_seconds"]
		return ok && value(t, fams, "rpc_server_call_duration_seconds", nil) >= 4
	})

	for outcome, n := range outcomes {
		if got := value(t, fams, "riskd_decisions_total", map[string]string{"check": "CHECK_SELLER", "outcome": outcome}); got != n {
			t.Errorf("riskd_decisions_total{outcome=%q} = %v, want %v", outcome, got, n)
		}
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		// RED per RPC, from otelgrpc.
		{"rpc_server_call_duration_seconds", map[string]string{"rpc_method": "risk.v1.RiskService/CheckSeller", "rpc_response_status_code": "OK"}, 3},
		{"rpc_server_call_duration_seconds", map[string]string{"rpc_method": "risk.v1.RiskService/CheckSeller", "rpc_response_status_code": "INVALID_ARGUMENT"}, 1},
		// Per check, and per verifier (identity runs on every seller).
		{"riskd_decision_duration_seconds", map[string]string{"check": "CHECK_SELLER"}, 3},
		{"riskd_verifier_duration_seconds", map[string]string{"verifier": "identity"}, 3},
		// The store: every decision committed, in at least one group;
		// besides them, the first start keeps the policy version and
		// writes the policy state (two commits).
		{"riskd_store_commit_duration_seconds", nil, 3},
		{"riskd_store_commits_total", nil, 3 + 2},
		// Nothing in flight while we scrape over HTTP.
		{"riskd_server_in_flight", nil, 0},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if g := value(t, fams, "riskd_store_commit_groups_total", nil); g < 1+2 || g > 3+2 {
		t.Errorf("riskd_store_commit_groups_total = %v, want 3 to 5 for 3 decisions and the 2 policy writes", g)
	}
	if v := value(t, fams, "riskd_policy_loaded", nil); v <= 0 {
		t.Errorf("riskd_policy_loaded = %v: no policy version in force", v)
	}
	// Buckets fit riskd's latencies: from 100 µs to 10 s.
	var bounds []float64
	for _, b := range fams["riskd_decision_duration_seconds"].GetMetric()[0].GetHistogram().GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			bounds = append(bounds, b.GetUpperBound())
		}
	}
	if len(bounds) == 0 || bounds[0] != 0.0001 || bounds[len(bounds)-1] != 10 {
		t.Errorf("decision duration buckets %v, want 100µs to 10s", bounds)
	}
	// Profiles are off unless asked for.
	resp, err := http.Get("http://" + addr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without --pprof: %s, want 404", resp.Status)
	}
}

func TestPprofOnTheAdminListener(t *testing.T) {
	p := startBinary(t, "--data-dir", t.TempDir(), "--pprof")
	resp, err := http.Get("http://" + adminAddr(t, p.Logs()) + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "heap profile") {
		t.Fatalf("/debug/pprof/heap with --pprof: %s %.80q", resp.Status, b)
	}
}

// An exporter that cannot reach its collector is reported in riskd's JSON
// log, at warn; the SDK's own plain-text line on stderr would break every
// log pipeline that parses riskd's lines (testproc fails the test on one).
func TestTelemetryErrorsAreLoggedAsJSON(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close() // nothing listens there now
	p := startBinaryEnv(t, []string{
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://" + closed, "OTEL_TRACES_SAMPLER=always_on",
		"OTEL_BSP_SCHEDULE_DELAY=50", "OTEL_EXPORTER_OTLP_TIMEOUT=500",
	})
	if _, err := dial(t, p.Addr).CheckSeller(context.Background(), sellerReq(0)); err != nil {
		t.Fatal(err)
	}
	if !eventually(15*time.Second, func() bool {
		return slices.Contains(p.Messages(), "telemetry: the OpenTelemetry SDK reports an error")
	}) {
		t.Fatalf("no JSON line reports the failed export; log: %q", p.Messages())
	}
}
