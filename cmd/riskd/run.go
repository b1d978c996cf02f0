package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/server"
	"github.com/riskd/riskd/internal/telemetry"
	"github.com/riskd/riskd/internal/verifier/builtin"
)

// run is the whole program; main only exits with what it returns.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "health" {
		return health(ctx, args[1:], getenv, stderr)
	}
	cfg, err := config.Load(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated above
	log := telemetry.NewLogger(os.Stderr, level)

	tel, shutdownTelemetry, err := telemetry.Setup(ctx, getenv)
	if err != nil {
		return err
	}
	defer func() {
		// Flush what the exporters hold, even when the parent is done.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		if err := shutdownTelemetry(sctx); err != nil {
			log.Warn("telemetry shutdown", "error", err)
		}
	}()

	verifiers := builtin.Registry()
	pol, err := loadPolicy(cfg.Policy, verifiers.Names())
	if err != nil {
		return err
	}
	eng, err := engine.New(engine.Options{
		Policy:    pol,
		Verifiers: verifiers,
		Reserve:   cfg.DecisionReserve,
		Logger:    log,
		Tracer:    tel.Tracer.Tracer("riskd/engine"),
		Meter:     tel.Meter.Meter("riskd/engine"),
	})
	if err != nil {
		return err
	}
	srv, err := server.New(server.Options{
		Engine:                     eng,
		Logger:                     log,
		Tracer:                     tel.Tracer,
		Meter:                      tel.Meter,
		Propagators:                tel.Propagators,
		MaxMessageBytes:            cfg.MaxMessageBytes,
		MaxConcurrentStreams:       cfg.MaxConcurrentStreams,
		KeepaliveTime:              cfg.KeepaliveTime,
		KeepaliveTimeout:           cfg.KeepaliveTimeout,
		KeepaliveMinClientInterval: cfg.KeepaliveMinClientInterval,
		MaxConnectionIdle:          cfg.MaxConnectionIdle,
		Reflection:                 cfg.Reflection,
	})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.Info("riskd ready", "addr", lis.Addr().String(), "policy_version", pol.Version,
		"policy_source", pol.Source, "otlp_export", tel.Exporting)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain_timeout", cfg.ShutdownTimeout.String())
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	srv.Shutdown(dctx)
	if err := <-served; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// loadPolicy reads the policy file, or takes the embedded default.
func loadPolicy(path string, known map[string]bool) (*policy.Policy, error) {
	if path == "" {
		return policy.Load(policy.DefaultBytes(), policy.DefaultSource, known)
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return policy.Load(doc, path, known)
}
