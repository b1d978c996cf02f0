package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/server"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/telemetry"
	"github.com/riskd/riskd/internal/verifier/builtin"
	"github.com/riskd/riskd/internal/verifier/remote"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/credentials"
)

// run is the whole program; main only exits with what it returns.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "health" {
		return health(ctx, args[1:], getenv, stderr)
	}
	if len(args) > 0 && args[0] == "policy" {
		return policyCommand(ctx, args[1:], getenv, os.Stdout, stderr)
	}
	if len(args) > 0 && args[0] == "quality" {
		return qualityCommand(ctx, args[1:], getenv, os.Stdout, stderr)
	}
	if len(args) > 0 && args[0] == "lists" {
		return listsCommand(ctx, args[1:], getenv, os.Stdout, stderr)
	}
	if len(args) > 0 && (args[0] == "erase" || args[0] == "export") {
		return privacyCommand(ctx, args[0], args[1:], getenv, os.Stdin, os.Stdout, stderr)
	}
	if len(args) > 0 && args[0] == "token" {
		return tokenCommand(args[1:], os.Stdout, stderr)
	}
	cfg, ok, err := loadConfig(args, getenv, stderr)
	if !ok {
		return err
	}
	return serve(ctx, cfg, getenv, os.Stderr, nil)
}

// loadConfig reads and validates riskd's configuration from its flags,
// environment and file. ok is false when there is nothing to run: an error,
// or --help (err nil).
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (cfg config.Config, ok bool, err error) {
	cfg, err = config.Load(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, false, nil
	}
	if err == nil {
		err = cfg.Validate()
	}
	return cfg, err == nil, err
}

// serve is riskd itself: it runs a validated configuration until ctx is
// done, logging to logOut. ready, when not nil, is called with the address
// once the server listens (`riskd quality` runs its corpus against a riskd
// started this way, so it measures exactly what `riskd` runs).
func serve(ctx context.Context, cfg config.Config, getenv func(string) string, logOut *os.File, ready func(addr string)) error {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by the caller
	log := telemetry.NewLogger(logOut, level)
	telemetry.LogErrors(log)

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

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	key, created, err := pseudonym.LoadKey(cfg.IdentifierKey, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("identifier key: %w", err)
	}
	if created {
		log.Warn("no identifier key configured: created one in the data directory; back it up, or every stored link is lost with it",
			"path", filepath.Join(cfg.DataDir, pseudonym.KeyFileName))
	}
	warnKeyExposure(cfg, log)
	keys, err := pseudonym.New(key)
	if err != nil {
		return fmt.Errorf("identifier key: %w", err)
	}
	base, closeStore, err := openStore(ctx, cfg, keys, log)
	if err != nil {
		return err
	}
	defer closeStore() // after the server has stopped: runs last
	st, err := store.Traced(base, tel.Tracer.Tracer("riskd/store"), tel.Meter.Meter("riskd/store"))
	if err != nil {
		return err
	}
	retention := store.Retention{Events: cfg.EventRetention, Decisions: cfg.DecisionRetention}
	expiryCtx, stopExpiry := context.WithCancel(context.WithoutCancel(ctx))
	expiryDone := make(chan struct{})
	go func() {
		defer close(expiryDone)
		store.RunExpiry(expiryCtx, st, retention, cfg.ExpiryInterval, log)
	}()
	defer func() { stopExpiry(); <-expiryDone }()

	pols, err := engine.NewReloader(cfg.Policy, builtin.Names(),
		remote.Options{Tracer: tel.Tracer, Meter: tel.Meter, Propagators: tel.Propagators, Logger: log},
		tel.Meter.Meter("riskd/policy"), log)
	if err != nil {
		return err
	}
	pol, remotes, err := pols.First()
	if err != nil {
		return err
	}
	defer pols.Close()
	callers, err := auth.New(cfg.Callers)
	if err != nil {
		return err
	}
	var tlsCreds credentials.TransportCredentials
	var clientCAs func() *x509.CertPool
	if cfg.TLSCert != "" {
		c, err := newCerts(cfg, log)
		if err != nil {
			return err
		}
		tlsCreds = c.credentials()
		clientCAs = func() *x509.CertPool { _, pool := c.current(); return pool }
	}
	if callers.Empty() {
		log.Warn("no callers configured: every call is allowed, so riskd listens on loopback only", "listen", cfg.Listen)
	} else if tlsCreds == nil {
		log.Warn("callers configured without TLS: bearer tokens travel in the clear; use TLS outside a trusted network")
	}
	srv, eng, err := server.Assemble(server.Assembly{
		Config: cfg, Store: st, Keys: keys, StoreInProcess: cfg.Store == "embedded",
		Policy: pol, Remotes: remotes, Auth: callers, Creds: tlsCreds,
		Logger: log, Tracer: tel.Tracer, Meter: tel.Meter, Propagators: tel.Propagators,
	})
	if err != nil {
		return err
	}
	pols.Attach(eng)
	// The policy file's changes go through the lifecycle, which keeps
	// every version and puts it in force on every replica; each replica
	// follows the shared state (and applies the canary's guard rails).
	life := srv.Policies()
	defer life.Close()
	pols.AttachLifecycle(life)
	policyCtx, stopPolicies := context.WithCancel(context.WithoutCancel(ctx))
	policiesDone := make(chan struct{})
	go func() {
		defer close(policiesDone)
		srv.RunPolicies(policyCtx, cfg.PolicySync)
	}()
	defer func() { stopPolicies(); <-policiesDone }()
	// Cases nobody resolved in time are resolved by their expiry action,
	// by every replica (the store applies each once); stopped before the
	// store closes.
	caseCtx, stopCases := context.WithCancel(context.WithoutCancel(ctx))
	casesDone := make(chan struct{})
	go func() {
		defer close(casesDone)
		srv.RunCaseExpiry(caseCtx, cfg.CaseExpiryInterval)
	}()
	defer func() { stopCases(); <-casesDone }()
	if cfg.Policy != "" {
		watchCtx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go pols.Watch(watchCtx, cfg.PolicyPoll)
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}

	adminAddr := ""
	if cfg.AdminListen != "" {
		desk, closeDesk, err := newConsole(cfg, lis.Addr(), callers, clientCAs, func(check riskv1.Check, rule, locale string) (string, bool) {
			return eng.Policy().Sentence(check, rule, locale)
		}, log)
		if err != nil {
			return err
		}
		defer closeDesk()
		var stopAdmin func()
		adminAddr, stopAdmin, err = serveAdmin(cfg.AdminListen, tel.Metrics, cfg.Pprof, base, desk, log)
		if err != nil {
			return err
		}
		defer stopAdmin()
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.Info("riskd ready", "addr", lis.Addr().String(), "admin_addr", adminAddr, "pprof", cfg.Pprof, "data_dir", cfg.DataDir, "policy_version", eng.Policy().Version,
		"policy_source", eng.Policy().Source, "otlp_export", tel.Exporting)
	if ready != nil {
		ready(lis.Addr().String())
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("draining: health is NOT_SERVING; calls are still served for the drain delay, so load balancers stop sending them",
		"drain_delay", cfg.DrainDelay.String(), "shutdown_timeout", cfg.ShutdownTimeout.String())
	srv.Drain()
	waitDrain(cfg.DrainDelay, log)
	log.Info("drain delay over: no new calls; calls in flight finish within the shutdown timeout", "shutdown_timeout", cfg.ShutdownTimeout.String())
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	srv.Shutdown(dctx)
	if err := <-served; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// waitDrain waits out the drain delay; a second SIGINT or SIGTERM (an
// operator at a terminal, an impatient supervisor) cuts it short.
func waitDrain(d time.Duration, log *slog.Logger) {
	if d <= 0 {
		return
	}
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case s := <-again:
		log.Warn("second signal: the rest of the drain delay is skipped", "signal", s.String())
	}
}

// warnKeyExposure warns, naming the field, when the identifier key can be
// read by others: given on the command line (ps shows it to every user),
// or kept in a key file that group or others may read.
func warnKeyExposure(cfg config.Config, log *slog.Logger) {
	if cfg.KeyOnCommandLine {
		log.Warn("the identifier key was given on the command line, where ps shows it to every user of this machine: pass it as RISKD_IDENTIFIER_KEY or identifier_key in the config file",
			"field", "identifier-key")
	}
	if cfg.IdentifierKey != "" {
		return
	}
	path := filepath.Join(cfg.DataDir, pseudonym.KeyFileName)
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		log.Warn("the identifier key file can be read by group or others: chmod 600 it",
			"field", "identifier key file", "path", path, "mode", fmt.Sprintf("%04o", st.Mode().Perm()))
	}
}
