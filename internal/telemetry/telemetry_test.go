package telemetry_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/server"
	"github.com/riskd/riskd/internal/store/pebblestore"
	"github.com/riskd/riskd/internal/telemetry"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// The caller's W3C trace context: the server's span joins this trace.
const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
)

// callLogServer runs a riskd server whose log is telemetry.NewLogger
// writing to a file, as riskd runs, and returns a client, the span
// recorder and a function that reads the log lines written so far.
func callLogServer(t *testing.T) (riskv1.RiskServiceClient, riskv1.PolicyServiceClient, *tracetest.SpanRecorder, func() [][]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "riskd.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	log := telemetry.NewLogger(f, slog.LevelDebug)

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	mp := sdkmetric.NewMeterProvider()
	t.Cleanup(func() { tp.Shutdown(context.Background()); mp.Shutdown(context.Background()) })
	keys, err := pseudonym.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A policy with no verifiers: the log line is the interceptor's.
	var doc strings.Builder
	doc.WriteString("checks:\n")
	for _, c := range []string{"seller", "gift_card_purchase", "refund"} {
		doc.WriteString("  " + c + ":\n    thresholds: {review: 30, decline: 70}\n")
	}
	pol, err := policy.Load([]byte(doc.String()), "test.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Policy: pol, Keys: keys, Log: st, Logger: log, Tracer: tp.Tracer("test"), Meter: mp.Meter("test")})
	if err != nil {
		t.Fatal(err)
	}
	// The policy lifecycle, as riskd attaches it: the server serves
	// PolicyService through it.
	life, err := engine.NewLifecycle(engine.LifecycleOptions{Store: st, Engine: eng, Known: map[string]bool{}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(life.Close)
	if err := life.Start(context.Background(), pol); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{
		CallLog: server.CallLog{OKEvery: 1},
		Engine:  eng, Lifecycle: life, Store: st, Keys: keys, Logger: log, Tracer: tp, Meter: mp,
		Propagators:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		MaxMessageBytes: 1 << 20, MaxConcurrentStreams: 100,
		KeepaliveTime: time.Minute, KeepaliveTimeout: 10 * time.Second,
		KeepaliveMinClientInterval: 10 * time.Second, MaxConnectionIdle: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		st.Close()
	})
	lines := func() [][]byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
		return out
	}
	return riskv1.NewRiskServiceClient(conn), riskv1.NewPolicyServiceClient(conn), spans, lines
}

// topKeys lists a JSON object's top-level keys in order, duplicates
// included: a map would keep only the last of two.
func topKeys(t *testing.T, line []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("log line is not a JSON object: %s", line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
	}
	return keys
}

// callLine finds the one "finished call" line of a method.
func callLine(t *testing.T, lines [][]byte, method string) []byte {
	t.Helper()
	var found [][]byte
	for _, l := range lines {
		var rec struct {
			Msg    string `json:"msg"`
			Method string `json:"grpc.method"`
		}
		if err := json.Unmarshal(l, &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		if rec.Msg == "finished call" && rec.Method == method {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d finished-call lines for %s, want 1: %q", len(found), method, found)
	}
	return found[0]
}

// serverSpan is the server's span of a call, as the tracer started it.
func serverSpan(t *testing.T, spans *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range spans.Started() {
		if s.Name() == name && s.SpanKind() == trace.SpanKindServer {
			return s
		}
	}
	t.Fatalf("no server span %q", name)
	return nil
}

// TestCallLogLineCarriesTraceAndSpanOnce makes real calls through riskd's
// interceptor chain and checks the JSON line each writes: exactly the keys
// riskd documents, trace_id and span_id among them once each (counted in
// the raw bytes, since a JSON decoder keeps only the last of a duplicate),
// naming the caller's trace and the server's own span for the call.
func TestCallLogLineCarriesTraceAndSpanOnce(t *testing.T) {
	risk, pol, spans, lines := callLogServer(t)
	// No deadline, so the line has no grpc.request.deadline.
	ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", "00-"+callerTraceID+"-"+callerSpanID+"-01")
	if _, err := pol.GetPolicy(ctx, &riskv1.GetPolicyRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := risk.CheckSeller(ctx, &riskv1.CheckSellerRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("CheckSeller of an empty request: %v, want InvalidArgument", err)
	}
	all := lines()

	base := []string{
		"time", "level", "msg",
		"protocol", "grpc.component", "grpc.service", "grpc.method", "grpc.method_type", "peer.address",
		"grpc.start_time", "grpc.code", "grpc.time_ms",
		"trace_id", "span_id", "caller",
	}
	for _, c := range []struct {
		method, span string
		keys         []string
	}{
		{"GetPolicy", "risk.v1.PolicyService/GetPolicy", base},
		{"CheckSeller", "risk.v1.RiskService/CheckSeller", append(slices.Clone(base), "grpc.error")},
	} {
		t.Run(c.method, func(t *testing.T) {
			line := callLine(t, all, c.method)
			for _, key := range []string{"trace_id", "span_id"} {
				if n := bytes.Count(line, []byte(`"`+key+`":`)); n != 1 {
					t.Errorf("%q occurs %d times in the raw line, want once:\n%s", key, n, line)
				}
			}
			got, want := topKeys(t, line), slices.Clone(c.keys)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("keys of the line:\n got  %q\n want %q\n%s", got, want, line)
			}
			var rec struct {
				TraceID string `json:"trace_id"`
				SpanID  string `json:"span_id"`
			}
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatal(err)
			}
			sc := serverSpan(t, spans, c.span).SpanContext()
			if rec.TraceID != callerTraceID || sc.TraceID().String() != callerTraceID {
				t.Errorf("trace_id = %q (server span's %s), want the caller's %s", rec.TraceID, sc.TraceID(), callerTraceID)
			}
			if rec.SpanID != sc.SpanID().String() {
				t.Errorf("span_id = %q, want the server span's %s (the caller's is %s)", rec.SpanID, sc.SpanID(), callerSpanID)
			}
		})
	}
}

// TestTraceHandlerAddsIDsOnce: a line logged inside a span carries
// trace_id and span_id once, also through a logger derived with With; a
// line logged outside any span carries neither key (not empty ones).
func TestTraceHandlerAddsIDsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "riskd.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log := telemetry.NewLogger(f, slog.LevelInfo)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()
	sc := span.SpanContext()

	log.InfoContext(ctx, "plain", "k", "v")
	log.With("component", "x").InfoContext(ctx, "derived", "k", "v")
	log.InfoContext(context.Background(), "outside a span", "k", "v")

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(got), b)
	}
	for i, want := range [][]string{
		{"time", "level", "msg", "k", "trace_id", "span_id"},
		{"time", "level", "msg", "component", "k", "trace_id", "span_id"},
		{"time", "level", "msg", "k"},
	} {
		if keys := topKeys(t, got[i]); !slices.Equal(keys, want) {
			t.Errorf("line %d keys = %q, want %q:\n%s", i, keys, want, got[i])
		}
	}
	for _, line := range got[:2] {
		var rec struct {
			TraceID string `json:"trace_id"`
			SpanID  string `json:"span_id"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.TraceID != sc.TraceID().String() || rec.SpanID != sc.SpanID().String() {
			t.Errorf("ids = %+v, want the span's %s %s", rec, sc.TraceID(), sc.SpanID())
		}
	}
}

// TestNoExporterRecordsNoSpans: with nowhere to send spans, none is
// recorded (recording costs CPU on every decision), yet every span has a
// trace ID for the log lines; with an exporter, sampled spans record.
func TestNoExporterRecordsNoSpans(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		record bool
	}{
		{"no exporter", nil, false},
		{"an exporter, all sampled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_SAMPLER": "always_on"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, shutdown, err := telemetry.Setup(t.Context(), func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				_ = shutdown(ctx)
			}()
			_, span := p.Tracer.Tracer("test").Start(t.Context(), "decide")
			defer span.End()
			if span.IsRecording() != tc.record {
				t.Errorf("span recording = %v, want %v", span.IsRecording(), tc.record)
			}
			if !span.SpanContext().TraceID().IsValid() {
				t.Error("span has no trace ID for the logs")
			}
		})
	}
}
