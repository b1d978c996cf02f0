package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/verifier/builtin"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// policyCommand is `riskd policy check FILE...`, `riskd policy replay`
// and the lifecycle's commands (policylife.go).
func policyCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = `usage: riskd policy check FILE... | riskd policy replay --policy FILE [--since 24h] [--addr ADDR]
  riskd policy history | show VERSION | show --decision ID | diff FROM TO
  riskd policy publish FILE -m WHY | canary --percent N VERSION -m WHY | stop -m WHY
  riskd policy promote [VERSION] -m WHY | rollback [VERSION] -m WHY | status
  (the lifecycle commands take --addr, --tls, --tls-ca; the token comes from RISKD_TOKEN)`
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "check":
		return policyCheck(args[1:], stdout)
	case "replay":
		return policyReplay(ctx, args[1:], getenv, stdout, stderr)
	}
	if _, ok := lifecycleCommands[args[0]]; ok {
		return policyLifecycle(ctx, args[0], args[1:], getenv, stdout, stderr)
	}
	return fmt.Errorf("unknown policy command %q\n%s", args[0], usage)
}

// policyCheck compiles each file as riskd would at start or reload and
// prints every problem with its file, line and what is wrong.
func policyCheck(files []string, stdout io.Writer) error {
	if len(files) == 0 {
		return errors.New("usage: riskd policy check FILE...")
	}
	bad := 0
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", f, err)
			bad++
			continue
		}
		p, err := policy.Load(doc, f, builtin.Names())
		if err != nil {
			fmt.Fprintln(stdout, err)
			bad++
			continue
		}
		fmt.Fprintf(stdout, "%s: ok, version %s\n", f, p.Version)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d policy files have problems", bad, len(files))
	}
	return nil
}

// policyReplay asks a running riskd what a candidate policy would have
// decided over its decision log.
func policyReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("riskd policy replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := getenv(config.EnvName("listen"))
	if def == "" {
		def = config.Default().Listen
	}
	addr := fs.String("addr", def, "address of the riskd whose decision log to replay")
	file := fs.String("policy", "", "candidate policy file")
	since := fs.Duration("since", 24*time.Hour, "replay decisions of this last stretch of time")
	sample := fs.Int("sample", 5, "decision IDs to show per change")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("--policy is required")
	}
	doc, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	resp, err := riskv1.NewPolicyServiceClient(conn).ReplayPolicy(ctx, &riskv1.ReplayPolicyRequest{
		Policy: doc, Since: durationpb.New(*since), Sample: int32(*sample),
	})
	if err != nil {
		return fmt.Errorf("replay: %s", status.Convert(err).Message())
	}
	fmt.Fprintf(stdout, "candidate %s over the last %s: %d decisions replayed, %d would change", resp.GetCandidateVersion(), since, resp.GetDecisions(), resp.GetChanged())
	if resp.GetSkipped() > 0 {
		fmt.Fprintf(stdout, ", %d skipped (kept without facts)", resp.GetSkipped())
	}
	fmt.Fprintln(stdout)
	for _, c := range resp.GetChanges() {
		fmt.Fprintf(stdout, "  %s  %s -> %s  %d\n", c.GetCheck(), c.GetFrom(), c.GetTo(), c.GetCount())
		rules := make([]string, 0, len(c.GetRules()))
		for r := range c.GetRules() {
			rules = append(rules, r)
		}
		sort.Slice(rules, func(i, j int) bool { return c.GetRules()[rules[i]] > c.GetRules()[rules[j]] })
		for _, r := range rules {
			fmt.Fprintf(stdout, "      rule %s fired in %d\n", r, c.GetRules()[r])
		}
		if len(c.GetSampleDecisionIds()) > 0 {
			fmt.Fprintf(stdout, "      e.g. %s\n", strings.Join(c.GetSampleDecisionIds(), " "))
		}
	}
	return nil
}
