package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/quality"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
)

const qualityUsage = `usage: riskd quality [--target ADDR [--tls] [--tls-ca FILE] [--tls-skip-verify]] [--policy FILE] [--corpus DIR]
       riskd quality --from-log [--since 720h] [riskd's store flags: --data-dir DIR, --store postgres --postgres-url URL...]`

// qualityCommand is `riskd quality`: run the labelled corpus through a
// riskd and report per check and per rule, failing when a gate fails; or,
// with --from-log, the same per-rule table from a store's decision log and
// the outcomes reported against it.
func qualityCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	for i, a := range args {
		if a == "--from-log" || a == "-from-log" {
			return qualityFromLog(ctx, append(args[:i:i], args[i+1:]...), getenv, stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("riskd quality", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, qualityUsage); fs.PrintDefaults() }
	target := fs.String("target", "", "run against the riskd at this address instead of one started here on its embedded defaults")
	useTLS := fs.Bool("tls", false, "the target speaks TLS")
	caFile := fs.String("tls-ca", "", "CA (PEM) to verify the target with; the system's if empty")
	skipVerify := fs.Bool("tls-skip-verify", false, "do not verify the target's certificate")
	policyFile := fs.String("policy", "", "run the riskd started here with this policy instead of the embedded one (not with --target)")
	corpusDir := fs.String("corpus", "", "read the corpus from this directory's *.yaml files instead of the embedded one")
	parallel := fs.Int("parallel", 16, "cases run at once")
	runID := fs.String("run-id", "", "prefix of the run's request and event IDs (default: a time-based one)")
	list := fs.Bool("list", false, "also print every case with its outcome, score and reasons")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("quality: unexpected argument %q\n%s", fs.Arg(0), qualityUsage)
	}
	if *target != "" && *policyFile != "" {
		return errors.New("quality: --policy is for the riskd started here; a --target runs its own policy")
	}
	var cases []*quality.Case
	var err error
	if *corpusDir != "" {
		cases, err = quality.Load(os.DirFS(*corpusDir), ".")
	} else {
		cases, err = quality.Load(quality.Corpus, quality.CorpusDir)
	}
	if err != nil {
		return fmt.Errorf("quality: corpus: %w", err)
	}

	addr := *target
	if addr == "" {
		// riskd as `riskd` runs it, on its embedded defaults, in a fresh
		// data directory (with a fresh identifier key) on a loopback port.
		dir, err := os.MkdirTemp("", "riskd-quality-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg, err := config.Load(nil, func(string) string { return "" }, stderr)
		if err != nil {
			return err
		}
		cfg.DataDir, cfg.Listen, cfg.Policy, cfg.LogLevel = dir, "127.0.0.1:0", *policyFile, "error"
		if err := cfg.Validate(); err != nil {
			return err
		}
		sctx, stop := context.WithCancel(ctx)
		ready := make(chan string, 1)
		served := make(chan error, 1)
		go func() { served <- serve(sctx, cfg, getenv, os.Stderr, func(a string) { ready <- a }) }()
		defer func() { stop(); <-served }()
		select {
		case addr = <-ready:
		case err := <-served:
			served <- err // for the deferred wait
			return fmt.Errorf("quality: riskd did not start: %w", err)
		}
	}
	creds, err := clientCredentials(*useTLS, *caFile, *skipVerify)
	if err != nil {
		return fmt.Errorf("quality: %w", err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("quality: %w", err)
	}
	defer conn.Close()

	start := time.Now()
	results := quality.Run(ctx, riskv1.NewRiskServiceClient(conn), cases, quality.Options{Parallel: *parallel, RunID: *runID})
	rep := quality.Build(quality.Items(results))
	where := "riskd started here on its embedded defaults"
	if *target != "" {
		where = "riskd at " + *target
	} else if *policyFile != "" {
		where = "riskd started here with policy " + *policyFile
	}
	fmt.Fprintf(stdout, "riskd quality: %d cases against %s, %s, in %s\n\n", len(cases), where,
		start.UTC().Format(time.RFC3339), time.Since(start).Round(time.Millisecond))
	rep.Write(stdout)
	if *list {
		fmt.Fprintln(stdout, "\ncases:")
		for _, r := range results {
			if r.Err != nil {
				fmt.Fprintf(stdout, "  %s [%s, %s]: error: %v\n", r.Case.ID(), r.Case.Check, r.Case.Label, r.Err)
				continue
			}
			fmt.Fprintf(stdout, "  %s [%s, %s]: %s\n", r.Case.ID(), r.Case.Check, r.Case.Label, quality.Describe(r.Decision))
		}
	}
	failures, ok := rep.Gates()
	if ok {
		fmt.Fprintln(stdout, "\ngates: pass (no genuine case declined, no fraud case approved, genuine reviews within 5% per check)")
		return nil
	}
	fmt.Fprintf(stdout, "\ngates: FAIL, %d cases:\n", len(failures))
	quality.WriteFailures(stdout, failures)
	return fmt.Errorf("quality: %d cases fail the gates", len(failures))
}

// qualityFromLog is `riskd quality --from-log`: the per-check and per-rule
// tables over the decisions that have a reported outcome, read from the
// store riskd's own flags name (the embedded store of --data-dir, which a
// running riskd holds locked, or a PostgreSQL store, which it does not).
func qualityFromLog(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	since := 30 * 24 * time.Hour
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		v, ok := strings.CutPrefix(strings.TrimLeft(a, "-"), "since")
		if !strings.HasPrefix(a, "-") || !ok || (v != "" && v[0] != '=') {
			rest = append(rest, a)
			continue
		}
		if v == "" {
			if i+1 == len(args) {
				return errors.New("quality: --since needs a duration")
			}
			i++
			v = args[i]
		} else {
			v = v[1:]
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("quality: --since %q: want a positive duration such as 720h", v)
		}
		since = d
	}
	cfg, ok, err := loadConfig(rest, getenv, stderr)
	if !ok {
		return err
	}
	if cfg.Store != "postgres" {
		// Never create an empty store (and a new key) by reading one.
		if _, err := os.Stat(filepath.Join(cfg.DataDir, pseudonym.KeyFileName)); err != nil && cfg.IdentifierKey == "" {
			return fmt.Errorf("quality: %s holds no riskd data (no identifier key): %w", cfg.DataDir, err)
		}
	}
	key, _, err := pseudonym.LoadKey(cfg.IdentifierKey, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("identifier key: %w", err)
	}
	keys, err := pseudonym.New(key)
	if err != nil {
		return fmt.Errorf("identifier key: %w", err)
	}
	st, closeStore, err := openStore(ctx, cfg, keys, slog.New(slog.DiscardHandler))
	if err != nil && cfg.Store != "postgres" {
		return fmt.Errorf("quality: %w (a running riskd holds its embedded store: read it stopped, or a copy of its data directory)", err)
	}
	if err != nil {
		return fmt.Errorf("quality: %w", err)
	}
	defer closeStore()
	to := time.Now()
	items, stats, err := quality.FromLog(ctx, st, to.Add(-since), to)
	if err != nil {
		return fmt.Errorf("quality: %w", err)
	}
	fmt.Fprintf(stdout, "riskd quality --from-log: outcomes reported in the last %s: %d, on %d decisions still in the log (%d expired)\n\n",
		since, stats.Outcomes, stats.Decisions, stats.Expired)
	quality.Build(items).Write(stdout)
	// The same, split by the policy version that decided and whether it
	// was a canary: a candidate measured against the version in force.
	fmt.Fprintf(stdout, "\nby policy version:\n")
	quality.WriteVersions(stdout, quality.ByVersion(items))
	return nil
}
