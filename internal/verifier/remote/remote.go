// Package remote calls out-of-process verifiers: any gRPC server that
// implements risk.verifier.v1.VerifierService, in any language.
//
// One connection per target is kept and reused. A call's deadline is the
// verifier's budget (the engine cuts it to fit the caller's deadline) and
// is never retried past it. The trace context travels with the call, so the
// verifier's spans join the caller's trace. A circuit breaker stops calling
// a target that keeps failing: while it is open, calls fail at once and the
// policy's failure mode applies, instead of every decision waiting out the
// budget on a dead target.
package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"buf.build/go/protovalidate"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	verifierv1 "github.com/riskd/riskd/proto/risk/verifier/v1"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Spec is how a policy describes a remote verifier.
type Spec struct {
	Name    string
	Address string
	// Plaintext must be said explicitly; otherwise the call uses TLS.
	Plaintext bool
	// CAFile verifies the server's certificate; the system roots if empty.
	CAFile string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
	// Fields are the request field paths the verifier may see.
	Fields []string
	// FailuresToOpen consecutive failures open the circuit for OpenFor;
	// zero means the defaults.
	FailuresToOpen uint32
	OpenFor        time.Duration
}

// Breaker settings: how many consecutive failures open the circuit and how
// long it stays open before one trial call is let through.
const (
	DefaultFailuresToOpen = 5
	DefaultOpenFor        = 5 * time.Second
)

// Options are what every remote verifier shares.
type Options struct {
	Tracer      trace.TracerProvider
	Meter       metric.MeterProvider
	Propagators propagation.TextMapPropagator
	Logger      *slog.Logger
}

// ErrCircuitOpen is returned while a target's circuit is open.
var ErrCircuitOpen = errors.New("circuit open after repeated failures; not called")

// errCallerGone marks a call the caller abandoned: it says nothing about
// the target, so the breaker neither counts it as a failure nor lets it
// close an open circuit.
var errCallerGone = errors.New("caller gave up")

// Verifier is one remote target.
type Verifier struct {
	spec      Spec
	conn      *grpc.ClientConn
	client    verifierv1.VerifierServiceClient
	breaker   *gobreaker.CircuitBreaker[*verifierv1.VerifyResponse]
	validator protovalidate.Validator
	log       *slog.Logger
	calls     metric.Int64Counter
	// fields resolved per request type, on first use.
	fields sync.Map // protoreflect.FullName -> []Field
}

var _ verifier.Verifier = (*Verifier)(nil)

var checks = map[riskv1.Check]verifierv1.Check{
	riskv1.Check_CHECK_SELLER:             verifierv1.Check_CHECK_SELLER,
	riskv1.Check_CHECK_GIFT_CARD_PURCHASE: verifierv1.Check_CHECK_GIFT_CARD_PURCHASE,
	riskv1.Check_CHECK_REFUND:             verifierv1.Check_CHECK_REFUND,
}

// Dial prepares a remote verifier. The connection is made lazily by gRPC
// and kept for every later call.
func Dial(spec Spec, o Options) (*Verifier, error) {
	creds, err := transportCredentials(spec)
	if err != nil {
		return nil, fmt.Errorf("remote verifier %q: %w", spec.Name, err)
	}
	conn, err := grpc.NewClient(spec.Address,
		grpc.WithTransportCredentials(creds),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(o.Tracer),
			otelgrpc.WithMeterProvider(o.Meter),
			otelgrpc.WithPropagators(o.Propagators))),
		// The budget is all the time there is: a retry would only eat
		// into it or outlive it.
		grpc.WithDisableRetry(),
		// Reconnect within seconds of a target coming back, not after
		// gRPC's default backoff of up to two minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("remote verifier %q: %w", spec.Name, err)
	}
	if o.Logger == nil || o.Meter == nil {
		conn.Close()
		return nil, errors.New("remote verifier: logger and meter are required")
	}
	validator, err := protovalidate.New()
	if err != nil {
		conn.Close()
		return nil, err
	}
	meter := o.Meter.Meter("riskd/remote")
	calls, err := meter.Int64Counter("riskd.remote_verifier.calls",
		metric.WithDescription("Calls to remote verifiers, by verifier and result."))
	if err != nil {
		conn.Close()
		return nil, err
	}
	state, err := meter.Int64Gauge("riskd.remote_verifier.circuit_state",
		metric.WithDescription("Circuit breaker state per remote verifier: 0 closed, 1 half-open, 2 open."))
	if err != nil {
		conn.Close()
		return nil, err
	}
	v := &Verifier{spec: spec, conn: conn, client: verifierv1.NewVerifierServiceClient(conn), validator: validator, log: o.Logger, calls: calls}
	failures, openFor := spec.FailuresToOpen, spec.OpenFor
	if failures == 0 {
		failures = DefaultFailuresToOpen
	}
	if openFor == 0 {
		openFor = DefaultOpenFor
	}
	name := attribute.String("verifier", spec.Name)
	state.Record(context.Background(), 0, metric.WithAttributes(name))
	v.breaker = gobreaker.NewCircuitBreaker[*verifierv1.VerifyResponse](gobreaker.Settings{
		Name:        spec.Name,
		MaxRequests: 1,
		Timeout:     openFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			state.Record(context.Background(), int64(to), metric.WithAttributes(name))
			level := slog.LevelWarn
			if to == gobreaker.StateClosed {
				level = slog.LevelInfo
			}
			o.Logger.Log(context.Background(), level, "remote verifier circuit changed",
				"verifier", spec.Name, "address", spec.Address, "from", from.String(), "to", to.String(),
				"open_for", openFor.String())
		},
		// A caller that gave up is not the target's fault, nor a success.
		IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) },
	})
	return v, nil
}

func transportCredentials(spec Spec) (credentials.TransportCredentials, error) {
	if spec.Plaintext {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: spec.ServerName}
	if spec.CAFile != "" {
		pem, err := os.ReadFile(spec.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", spec.CAFile)
		}
		cfg.RootCAs = pool
	}
	return credentials.NewTLS(cfg), nil
}

// Close closes the connection.
func (v *Verifier) Close() error { return v.conn.Close() }

// Verify sends the facts the policy allows and turns the answer into
// signals and findings. Signals are keyed "<verifier>.<name>".
func (v *Verifier) Verify(ctx context.Context, in verifier.Input) (verifier.Result, error) {
	fields, err := v.resolve(in.Request.ProtoReflect().Descriptor())
	if err != nil {
		return verifier.Result{}, err
	}
	req := &verifierv1.VerifyRequest{Check: checks[in.Check], DecisionId: in.DecisionID, Facts: map[string]*verifierv1.Value{}}
	msg := in.Request.ProtoReflect()
	for _, f := range fields {
		if val, ok := f.value(msg); ok {
			req.Facts[f.Path] = val
		}
	}
	resp, err := v.breaker.Execute(func() (*verifierv1.VerifyResponse, error) {
		resp, err := v.client.Verify(ctx, req)
		if err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, fmt.Errorf("%w: %w", errCallerGone, err)
			}
			return nil, err
		}
		if err := v.validator.Validate(resp); err != nil {
			v.log.WarnContext(ctx, "remote verifier answered garbage", "verifier", v.spec.Name, "error", err)
			return nil, status.Error(codes.DataLoss, "answer failed validation")
		}
		return resp, nil
	})
	result := "ok"
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		result, err = "circuit_open", ErrCircuitOpen
	case err != nil:
		st := status.Convert(err)
		result = st.Code().String()
		// The target's own message goes to the log, not to the caller:
		// it is another team's text and may hold anything.
		v.log.WarnContext(ctx, "remote verifier call failed", "verifier", v.spec.Name, "address", v.spec.Address,
			"code", st.Code().String(), "error", st.Message())
		if st.Code() == codes.DeadlineExceeded {
			err = context.DeadlineExceeded
		} else {
			err = fmt.Errorf("remote verifier answered %s", st.Code())
		}
	}
	v.calls.Add(ctx, 1, metric.WithAttributes(attribute.String("verifier", v.spec.Name), attribute.String("result", result)))
	if err != nil {
		return verifier.Result{}, err
	}
	out := verifier.Result{Signals: make(map[string]any, len(resp.GetSignals()))}
	for k, val := range resp.GetSignals() {
		out.Signals[v.spec.Name+"."+k] = goValue(val)
	}
	for _, f := range resp.GetFindings() {
		out.Findings = append(out.Findings, verifier.Finding{Code: f.GetCode(), Score: int(f.GetScore()), Message: f.GetMessage()})
	}
	return out, nil
}

func (v *Verifier) resolve(md protoreflect.MessageDescriptor) ([]Field, error) {
	if f, ok := v.fields.Load(md.FullName()); ok {
		return f.([]Field), nil
	}
	fields := make([]Field, 0, len(v.spec.Fields))
	for _, p := range v.spec.Fields {
		f, err := Resolve(md, p)
		if err != nil {
			return nil, err
		}
		fields = append(fields, f)
	}
	v.fields.Store(md.FullName(), fields)
	return fields, nil
}

// goValue turns a wire value into the Go value a signal holds: string,
// int64, bool, float64 or time.Time.
func goValue(v *verifierv1.Value) any {
	switch k := v.GetKind().(type) {
	case *verifierv1.Value_StringValue:
		return k.StringValue
	case *verifierv1.Value_IntValue:
		return k.IntValue
	case *verifierv1.Value_BoolValue:
		return k.BoolValue
	case *verifierv1.Value_DoubleValue:
		return k.DoubleValue
	case *verifierv1.Value_TimeValue:
		return k.TimeValue.AsTime()
	}
	return ""
}
