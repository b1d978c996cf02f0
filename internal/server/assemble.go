package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/builtin"
	"github.com/riskd/riskd/internal/verifier/remote"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials"
)

// Assembly is everything riskd's server is built from. `riskd` fills it
// from its configuration and the resources it opened (store, keys,
// telemetry, policy); the tests fill it the same way, so the server under
// test is the server that runs.
type Assembly struct {
	// Config gives the limits, retention and the decision reserve.
	Config config.Config
	Store  store.Store
	Keys   *pseudonym.Keyer
	// StoreInProcess says the store's reads never leave the process (the
	// embedded one): the verifiers reading it then run inline.
	StoreInProcess bool
	// Policy is the policy to start with, and Remotes its own verifiers.
	Policy  *policy.Policy
	Remotes verifier.Registry
	// Extra are verifiers besides the built-in ones (tests add fakes).
	Extra verifier.Registry
	// Auth authenticates callers (nil: everyone, loopback only); Creds
	// secures the listener (nil: plaintext).
	Auth  *auth.Table
	Creds credentials.TransportCredentials

	Logger      *slog.Logger
	Tracer      trace.TracerProvider
	Meter       metric.MeterProvider
	Propagators propagation.TextMapPropagator
	// Clock is the server's time; time.Now if nil.
	Clock func() time.Time
}

// Known returns the names of the verifiers an assembly's policies may
// name (the built-in ones and its extra ones), for loading a policy before
// the verifiers are built.
func (a Assembly) Known() map[string]bool {
	known := builtin.Names()
	for name := range a.Extra {
		known[name] = true
	}
	return known
}

// verifiers builds the built-in verifiers over the assembly's store, and
// adds its extra ones.
func (a Assembly) verifiers() verifier.Registry {
	reg := builtin.Registry(builtin.Deps{Store: a.Store, Lists: a.Store, Keys: a.Keys, StoreInProcess: a.StoreInProcess})
	for name, v := range a.Extra {
		reg[name] = v
	}
	return reg
}

// Assemble builds the engine and the server, in the one place both are
// built: verifiers, engine (committing to the store, refusing a policy
// that reads further back than the retention) and the gRPC server with its
// interceptor chain and limits from the configuration.
func Assemble(a Assembly) (*Server, *engine.Engine, error) {
	c := a.Config
	eng, err := engine.New(engine.Options{
		Policy:         a.Policy,
		Verifiers:      a.verifiers(),
		Extra:          a.Remotes,
		Reserve:        c.DecisionReserve,
		Keys:           a.Keys,
		Log:            a.Store,
		Logger:         a.Logger,
		Tracer:         a.Tracer.Tracer("riskd/engine"),
		Meter:          a.Meter.Meter("riskd/engine"),
		Clock:          a.Clock,
		EventRetention: c.EventRetention,
	})
	if err != nil {
		return nil, nil, err
	}
	// The policy lifecycle: the shared state (version in force, canary)
	// is put in force before the first call is served.
	life, err := engine.NewLifecycle(engine.LifecycleOptions{
		Store: a.Store, Engine: eng, Known: a.Known(),
		Remote: remote.Options{Tracer: a.Tracer, Meter: a.Meter, Propagators: a.Propagators, Logger: a.Logger},
		Guard:  engine.Guard{MinDecisions: int64(c.CanaryMinDecisions), MaxShift: c.CanaryMaxShift},
		// The wall clock, not the decisions' (which tests set): a change's
		// time is when a person made it.
		Logger: a.Logger, Meter: a.Meter.Meter("riskd/policy"),
	})
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := life.Start(sctx, a.Policy); err != nil {
		life.Close()
		return nil, nil, fmt.Errorf("policy state: %w", err)
	}
	srv, err := New(Options{
		Lifecycle:                  life,
		Auth:                       a.Auth,
		Creds:                      a.Creds,
		RatePerCaller:              c.RatePerCaller,
		RateBurst:                  c.RateBurst,
		MaxInFlight:                int64(c.MaxInFlight),
		DefaultDeadline:            c.DefaultDeadline,
		CallLog:                    CallLog{OKEvery: c.LogOKEvery, Slow: c.LogSlow},
		Engine:                     eng,
		Store:                      a.Store,
		Keys:                       a.Keys,
		Retention:                  store.Retention{Events: c.EventRetention, Decisions: c.DecisionRetention},
		Known:                      a.Known(),
		Clock:                      a.Clock,
		Logger:                     a.Logger,
		Tracer:                     a.Tracer,
		Meter:                      a.Meter,
		Propagators:                a.Propagators,
		MaxMessageBytes:            c.MaxMessageBytes,
		MaxConcurrentStreams:       c.MaxConcurrentStreams,
		KeepaliveTime:              c.KeepaliveTime,
		KeepaliveTimeout:           c.KeepaliveTimeout,
		KeepaliveMinClientInterval: c.KeepaliveMinClientInterval,
		MaxConnectionIdle:          c.MaxConnectionIdle,
		Reflection:                 c.Reflection,
	})
	if err != nil {
		return nil, nil, err
	}
	// NOT_SERVING while the shared database does not answer, so load
	// balancers send calls to replicas that can log them.
	if h, ok := a.Store.(store.HealthWatcher); ok {
		h.WatchHealth(srv.SetServing)
	}
	return srv, eng, nil
}
