// Package server is riskd's gRPC face: the server with its interceptor
// chain, the RiskService handlers, request validation and the one place where
// domain errors become status codes.
package server

import (
	"context"
	"errors"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/riskd/riskd/internal/auth"
	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Options configure a Server.
type Options struct {
	Engine *engine.Engine
	// Lifecycle keeps the engine on the shared policy state and changes
	// it (PolicyService); required.
	Lifecycle *engine.Lifecycle
	Store     store.Store
	// Keys hashes identifiers and request content.
	Keys *pseudonym.Keyer
	// Known are the built-in verifier names a candidate policy may use.
	Known map[string]bool
	// Retention bounds how old an event RecordEvents accepts.
	Retention   store.Retention
	Clock       func() time.Time
	Logger      *slog.Logger
	Tracer      trace.TracerProvider
	Meter       metric.MeterProvider
	Propagators propagation.TextMapPropagator

	MaxMessageBytes            int
	MaxConcurrentStreams       uint32
	KeepaliveTime              time.Duration
	KeepaliveTimeout           time.Duration
	KeepaliveMinClientInterval time.Duration
	MaxConnectionIdle          time.Duration
	Reflection                 bool

	// Auth authenticates callers; nil allows everyone (loopback only).
	Auth *auth.Table
	// RatePerCaller and RateBurst limit each caller (0: no limit).
	RatePerCaller float64
	RateBurst     int
	// CallLog says which successful calls are logged.
	CallLog CallLog
	// MaxInFlight sheds calls beyond it (0: no limit).
	MaxInFlight int64
	// DefaultDeadline applies to calls that come without one.
	DefaultDeadline time.Duration
	// Creds secures the listener (TLS or mTLS); nil is plaintext.
	Creds credentials.TransportCredentials

	// Extra registers more services on the same server; tests use it.
	Extra func(*grpc.Server)
}

// Server is a running riskd gRPC server.
type Server struct {
	grpc   *grpc.Server
	health *health.Server
	log    *slog.Logger
	shed   *shedder
	// depDown: a dependency (the shared database) does not answer, so
	// Serve starts NOT_SERVING too.
	depDown atomic.Bool
	review  *reviewService
	life    *engine.Lifecycle
	// closing is closed when riskd drains or shuts down: it ends the
	// streams, whose consumers resume on another replica.
	closing   chan struct{}
	closeOnce sync.Once
}

// New builds the server. The interceptor chain is written here once and
// reads in the order a call meets it.
func New(o Options) (*Server, error) {
	if o.Engine == nil || o.Lifecycle == nil || o.Logger == nil || o.Store == nil || o.Keys == nil {
		return nil, errors.New("server: engine, lifecycle, store, keys and logger are required")
	}
	if !o.Engine.Commits() {
		// The engine commits the decisions it answers; one that does not
		// would answer calls and keep nothing.
		return nil, errors.New("server: the engine has no decision log to commit to (engine.Options.Log)")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	// `now` in the rules (a timestamp at most 24 h ahead) is the server's
	// clock, the same one the engine decides with.
	clock := o.Clock
	validator, err := protovalidate.New(protovalidate.WithNowFunc(func() *timestamppb.Timestamp {
		return timestamppb.New(clock())
	}))
	if err != nil {
		return nil, err
	}
	notHealth := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.Service != healthpb.Health_ServiceDesc.ServiceName
	})
	// Probes and tools reach health and reflection without credentials.
	needsAuth := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.Service != healthpb.Health_ServiceDesc.ServiceName &&
			!strings.HasPrefix(c.Service, "grpc.reflection.")
	})
	if o.Auth == nil {
		if o.Auth, err = auth.New(nil); err != nil {
			return nil, err
		}
	}
	var meter metric.Meter
	if o.Meter != nil {
		meter = o.Meter.Meter("riskd/server")
	}
	shed, err := newShedder(meter, o.Logger, o.Clock)
	if err != nil {
		return nil, err
	}
	inFlight, err := inFlightGauge(meter)
	if err != nil {
		return nil, err
	}
	s := &Server{health: health.NewServer(), log: o.Logger, shed: shed, closing: make(chan struct{})}
	rates := newRateLimits(o.RatePerCaller, o.RateBurst, shed)
	callLog := callLogger(o.Logger, o.CallLog)
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall), logging.WithLevels(codeToLevel), logging.WithErrorFields(shedErrorFields)}
	// Streams that are tools' (health watches, reflection) pass through
	// unlogged and unauthenticated, as their unary calls do.
	riskdStream := needsAuth

	s.grpc = grpc.NewServer(
		// 0. Requests decoded without unknown fields; undecodable bytes
		//    answered INVALID_ARGUMENT by the validation step (codec.go).
		grpc.ForceServerCodecV2(wireCodec{encoding.GetCodecV2(grpcproto.Name)}),
		// 1. Tracing and RPC metrics: a span per call, joined to the
		//    caller's W3C traceparent. Health probes are not traced.
		grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(o.Tracer),
			otelgrpc.WithMeterProvider(o.Meter),
			otelgrpc.WithPropagators(o.Propagators),
			otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
		)),
		grpc.ChainUnaryInterceptor(
			// 2. One log line per call, with trace_id and span_id, the
			//    caller and the decision (calllog.go); successful calls
			//    sampled as configured, calls shed in 4. counted and
			//    logged sampled there.
			selector.UnaryServerInterceptor(grpc.UnaryServerInterceptor(noteInterceptor), notHealth),
			selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(callLog, logOpts...), notHealth),
			// 3. Who is calling, and may they call this.
			selector.UnaryServerInterceptor(authInterceptor(o.Auth, o.Logger), needsAuth),
			selector.UnaryServerInterceptor(grpc.UnaryServerInterceptor(fillInterceptor), notHealth),
			// 4. A deadline for calls without one; then shed load at once
			//    rather than queue it: in flight overall, then per caller.
			deadlineInterceptor(o.DefaultDeadline),
			selector.UnaryServerInterceptor(inFlightInterceptor(o.MaxInFlight, inFlight, shed), notHealth),
			selector.UnaryServerInterceptor(rates.unary, notHealth),
			// 5. Requests checked against their buf.validate rules.
			validationInterceptor(validator),
			// 6. A panic becomes INTERNAL with a generic message; the
			//    cause is logged here, once.
			recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(s.recovered)),
		),
		// The same chain for streams (WatchCaseResolutions), step for
		// step, with two differences: a stream gets no default deadline
		// (it lasts as long as its consumer listens) and is not counted
		// in flight (it would hold a slot for hours); opening one counts
		// against its caller's rate.
		grpc.ChainStreamInterceptor(
			// 2. One log line per stream, when it ends.
			selector.StreamServerInterceptor(noteStreamInterceptor, riskdStream),
			selector.StreamServerInterceptor(logging.StreamServerInterceptor(callLog, logOpts...), riskdStream),
			// 3. Who is calling, and may they call this.
			selector.StreamServerInterceptor(authStreamInterceptor(o.Auth, o.Logger), riskdStream),
			selector.StreamServerInterceptor(fillStreamInterceptor, riskdStream),
			// 4. The caller's rate.
			selector.StreamServerInterceptor(rates.stream, riskdStream),
			// 5. The request checked against its buf.validate rules.
			selector.StreamServerInterceptor(validationStreamInterceptor(validator), riskdStream),
			// 6. A panic becomes INTERNAL; the cause is logged, once.
			recovery.StreamServerInterceptor(recovery.WithRecoveryHandlerContext(s.recovered)),
		),
		grpc.Creds(creds(o.Creds)),
		// Calls run on a pool of goroutines whose stacks have already
		// grown to what a decision needs: a fresh goroutine per call
		// spends a measurable share of its CPU growing its stack. When
		// every worker is busy, a call gets a goroutine of its own, so
		// the pool is sized for the calls in flight under load (dozens
		// per core: most of a call's time is waiting on the group
		// commit), not for the cores; an idle worker costs its stack.
		grpc.NumStreamWorkers(uint32(max(64, 32*runtime.GOMAXPROCS(0)))),
		grpc.MaxRecvMsgSize(o.MaxMessageBytes),
		grpc.MaxConcurrentStreams(o.MaxConcurrentStreams),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:              o.KeepaliveTime,
			Timeout:           o.KeepaliveTimeout,
			MaxConnectionIdle: o.MaxConnectionIdle,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             o.KeepaliveMinClientInterval,
			PermitWithoutStream: true,
		}),
	)
	s.review = &reviewService{store: o.Store, keys: o.Keys, clock: o.Clock, log: o.Logger, feed: newFeedSignal(), closing: s.closing}
	riskv1.RegisterRiskServiceServer(s.grpc, &riskService{
		engine: o.Engine, store: o.Store, keys: o.Keys, retention: o.Retention, clock: o.Clock, log: o.Logger, review: s.review,
	})
	s.life = o.Lifecycle
	riskv1.RegisterPolicyServiceServer(s.grpc, &policyService{engine: o.Engine, life: o.Lifecycle, store: o.Store, known: o.Known, clock: o.Clock, log: o.Logger})
	riskv1.RegisterReviewServiceServer(s.grpc, s.review)
	riskv1.RegisterListServiceServer(s.grpc, &listService{store: o.Store, keys: o.Keys, clock: o.Clock, log: o.Logger})
	riskv1.RegisterPrivacyServiceServer(s.grpc, &privacyService{store: o.Store, keys: o.Keys, clock: o.Clock, log: o.Logger})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	if o.Reflection {
		reflection.Register(s.grpc)
	}
	if o.Extra != nil {
		o.Extra(s.grpc)
	}
	return s, nil
}

func creds(c credentials.TransportCredentials) credentials.TransportCredentials {
	if c == nil {
		return insecure.NewCredentials()
	}
	return c
}

// LivenessService is the health service whose status is the process alone:
// SERVING from Serve until Shutdown, whatever the shared database does. A
// liveness probe asks it; one that asked riskd's overall status ("") would
// have every replica restarted while the database is down, which mends
// nothing and leaves them starting against a database that is still down.
const LivenessService = "liveness"

// Serve answers calls on lis until Shutdown. It reports SERVING first.
func (s *Server) Serve(lis net.Listener) error {
	s.health.SetServingStatus(LivenessService, healthpb.HealthCheckResponse_SERVING)
	s.SetServing(!s.depDown.Load())
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// SetServing reports riskd healthy or not, for a dependency (the shared
// database) coming and going. Shutdown's NOT_SERVING is final.
func (s *Server) SetServing(ok bool) {
	s.depDown.Store(!ok)
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(riskv1.RiskService_ServiceDesc.ServiceName, st)
	s.health.SetServingStatus(riskv1.ReviewService_ServiceDesc.ServiceName, st)
	s.health.SetServingStatus(riskv1.ListService_ServiceDesc.ServiceName, st)
}

// endStreams ends the streams (WatchCaseResolutions) with UNAVAILABLE and
// refuses new ones: they would hold a graceful stop for as long as their
// consumers listen.
func (s *Server) endStreams() { s.closeOnce.Do(func() { close(s.closing) }) }

// ExpireCases resolves every open case due by now with its expiry action,
// once across replicas, and returns how many it resolved.
func (s *Server) ExpireCases(ctx context.Context) (int, error) { return s.review.expireDue(ctx) }

// Policies is the policy lifecycle the server changes: riskd hands it
// the policy file's changes.
func (s *Server) Policies() *engine.Lifecycle { return s.life }

// RunPolicies follows the shared policy state and applies the canary's
// guard rails every interval until ctx ends.
func (s *Server) RunPolicies(ctx context.Context, every time.Duration) { s.life.Run(ctx, every) }

// RunCaseExpiry runs ExpireCases every interval until ctx ends, as
// store.RunExpiry runs the retention's expiry.
func (s *Server) RunCaseExpiry(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		n, err := s.ExpireCases(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("case expiry failed; will retry", "error", err, "next_in", every.String())
		case n > 0:
			s.log.Info("cases nobody resolved in time were resolved by their expiry action", "cases", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Drain reports NOT_SERVING, for good, and goes on serving: a load
// balancer learns it at its next probe and sends calls until then.
func (s *Server) Drain() {
	s.health.Shutdown()
	s.endStreams()
}

// Shutdown stops in the order a load balancer needs: report NOT_SERVING so
// no new calls are sent, let calls in flight finish until ctx ends, then cut
// whatever is left.
func (s *Server) Shutdown(ctx context.Context) {
	s.health.Shutdown() // every service NOT_SERVING, and stays so
	s.endStreams()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("graceful drain did not finish in time; cutting remaining calls")
		s.grpc.Stop()
		<-done
	}
	// No call is taken any more: what was shed since the last line is
	// written now rather than lost.
	s.shed.close()
}
