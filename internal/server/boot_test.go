package server_test

// The one test harness: boot starts riskd's server exactly as riskd
// assembles it (server.Assemble, on config.Default() with the test's
// changes), over a real embedded store in a temporary directory (or, with
// setup.postgres, a PostgreSQL store in a schema of its own), on an
// in-memory listener or a loopback TCP port. start and startSecure are
// its two faces.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/server"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pebblestore"
	"github.com/riskd/riskd/internal/store/pgstore"
	"github.com/riskd/riskd/internal/store/pgstore/pgtest"
	"github.com/riskd/riskd/internal/telemetry"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// bootOptions are a test's changes to the server riskd runs.
type bootOptions struct {
	setup
	// tcp serves on 127.0.0.1 (TLS needs a real handshake); else bufconn.
	tcp bool
	// quiet logs nothing below error and samples no trace: load tests
	// measure riskd, not the formatting of log lines.
	quiet bool
	// infoLogs, with quiet, still logs at info: a benchmark of what a call
	// costs as riskd runs by default (no trace exported, a line per call).
	infoLogs bool
	// logs, when set, gets the server's log lines (JSON, info and up
	// unless quiet); else they are discarded.
	logs    io.Writer
	callers []auth.Caller
	tls     *tls.Config // server side; nil serves plaintext
	// config changes the configuration (limits, reserve) from the defaults.
	config func(*config.Config)
}

// booted is a running server and what tests look into.
type booted struct {
	srv   *server.Server
	store store.Store
	keys  *pseudonym.Keyer
	spans *tracetest.SpanRecorder
	// lis is the listener served: a *bufconn.Listener or a TCP one.
	lis net.Listener
	// embedded is the pebble store under store, for tests that read
	// every key and value it holds.
	embedded *pebblestore.Store
	// schema is the PostgreSQL store's schema ("" for the embedded one).
	schema string
}

// dial connects a plaintext client to a server on bufconn; the connection
// is closed when the test ends.
func (b *booted) dial(t testing.TB) *grpc.ClientConn {
	t.Helper()
	lis := b.lis.(*bufconn.Listener)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func boot(t testing.TB, o bootOptions) *booted {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	sampler := sdktrace.AlwaysSample()
	level := slog.LevelInfo
	if o.quiet {
		sampler, level = sdktrace.NeverSample(), slog.LevelError+1
		if o.infoLogs {
			level = slog.LevelInfo
		}
	}
	logs := o.logs
	if logs == nil {
		logs = io.Discard
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSampler(sampler))
	var mopts []sdkmetric.Option
	if o.metrics != nil {
		mopts = append(mopts, sdkmetric.WithReader(o.metrics))
	}
	mp := sdkmetric.NewMeterProvider(mopts...)
	keys, err := pseudonym.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	base, schema, err := openStore(t, o.postgres, keys)
	if err != nil {
		t.Fatal(err)
	}
	inner := base
	if o.wrapStore != nil {
		inner = o.wrapStore(base)
	}
	st, err := store.Traced(inner, tp.Tracer("store"), mp.Meter("riskd/store"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	if o.config != nil {
		o.config(&cfg)
	}
	callers, err := auth.New(o.callers)
	if err != nil {
		t.Fatal(err)
	}
	var creds credentials.TransportCredentials
	if o.tls != nil {
		creds = credentials.NewTLS(o.tls)
	}
	a := server.Assembly{
		Config: cfg, Store: st, Keys: keys,
		// A store a test wraps (slow, failing) is treated as one that can
		// wait, as PostgreSQL can; the embedded one and PostgreSQL as
		// riskd runs them.
		StoreInProcess: o.wrapStore == nil && !o.postgres,
		Extra:          o.extra,
		Auth:           callers, Creds: creds,
		Logger:      slog.New(telemetry.TraceHandler{Handler: slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})}),
		Tracer:      tp,
		Meter:       mp,
		Propagators: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Clock:       o.clock,
	}
	doc, source := policy.DefaultBytes(), policy.DefaultSource
	if o.policyYAML != "" {
		doc, source = []byte(o.policyYAML), "test.yaml"
	}
	if a.Policy, err = policy.Load(doc, source, a.Known()); err != nil {
		t.Fatal(err)
	}
	srv, _, err := server.Assemble(a)
	if err != nil {
		t.Fatal(err)
	}
	var lis net.Listener = bufconn.Listen(1 << 20)
	if o.tcp {
		if lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		base.Close()
	})
	emb, _ := base.(*pebblestore.Store) // nil on PostgreSQL
	return &booted{srv: srv, store: st, keys: keys, spans: spans, lis: lis, embedded: emb, schema: schema}
}

// openStore opens the store a booted server runs on: the embedded one in a
// temporary directory, or PostgreSQL in a schema of its own, each as riskd
// opens it (under the identifier key's check).
func openStore(t testing.TB, postgres bool, keys *pseudonym.Keyer) (store.Store, string, error) {
	if !postgres {
		s, err := pebblestore.Open(t.TempDir(), pebblestore.Options{KeyCheck: keys.Check()})
		return s, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	schema := pgtest.Schema(t)
	s, err := pgstore.Open(ctx, pgstore.Options{URL: pgtest.URL(), Schema: schema, MaxConns: 8, KeyCheck: keys.Check()})
	return s, schema, err
}

// logBuffer is a server's log as a test reads it while the server writes
// (from its call goroutines, and the shedder's timers from theirs).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// logLine is one JSON line logged.
type logLine struct {
	raw  int // bytes, with the newline
	attr map[string]any
}

// lines decodes every line logged so far.
func (l *logBuffer) lines(t *testing.T) []logLine {
	t.Helper()
	l.mu.Lock()
	data := bytes.Clone(l.buf.Bytes())
	l.mu.Unlock()
	var out []logLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, logLine{raw: len(sc.Bytes()) + 1, attr: m})
	}
	return out
}
