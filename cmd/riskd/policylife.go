package main

// `riskd policy history|show|diff|publish|canary|stop|promote|rollback|
// status`: the policy lifecycle through a running riskd's PolicyService.
// The caller's bearer token, when riskd wants one, comes from
// RISKD_TOKEN or --token-file (never a flag's value: ps would show it;
// remote.go); the change is recorded
// under that caller's name.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/status"
)

// lifecycleCommands are the subcommands this file answers.
var lifecycleCommands = map[string]func(ctx context.Context, c riskv1.PolicyServiceClient, fs *lifecycleFlags, stdout io.Writer) error{
	"history":  policyHistory,
	"show":     policyShow,
	"diff":     policyDiff,
	"publish":  policyPublish,
	"canary":   policyCanary,
	"stop":     policyStop,
	"promote":  policyPromote,
	"rollback": policyRollback,
	"status":   policyStatus,
}

// lifecycleFlags are every lifecycle subcommand's flags (each uses its own).
type lifecycleFlags struct {
	fs       *flag.FlagSet
	message  *string
	percent  *int
	limit    *int
	decision *string
	file     *string
}

// policyLifecycle runs one lifecycle subcommand against riskd at --addr.
func policyLifecycle(ctx context.Context, name string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	run := lifecycleCommands[name]
	fs := flag.NewFlagSet("riskd policy "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	rem := addRemoteFlags(fs, getenv)
	lf := &lifecycleFlags{fs: fs,
		message:  fs.String("m", "", "why: kept in the history"),
		percent:  fs.Int("percent", 0, "canary: share of accounts and sellers, 1 to 99"),
		limit:    fs.Int("limit", 20, "history: entries to show"),
		decision: fs.String("decision", "", "show: the version that decided this decision"),
		file:     fs.String("policy", "", "publish: the policy file"),
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := rem.dial(getenv)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := run(ctx, riskv1.NewPolicyServiceClient(conn), lf, stdout); err != nil {
		if st, ok := status.FromError(err); ok {
			return fmt.Errorf("%s: %s: %s", name, st.Code(), st.Message())
		}
		return err
	}
	return nil
}

func short(v string) string {
	if len(v) > len("sha256:")+12 {
		return v[:len("sha256:")+12]
	}
	return v
}

func writeState(w io.Writer, st *riskv1.PolicyState) {
	fmt.Fprintf(w, "in force: %s\n", st.GetActiveVersion())
	if st.GetCandidateVersion() != "" {
		fmt.Fprintf(w, "canary:   %s on %d%% of accounts and sellers\n", st.GetCandidateVersion(), st.GetCanaryPercent())
	}
	fmt.Fprintf(w, "state:    %d\n", st.GetSeq())
}

func policyHistory(ctx context.Context, c riskv1.PolicyServiceClient, f *lifecycleFlags, w io.Writer) error {
	resp, err := c.ListPolicyVersions(ctx, &riskv1.ListPolicyVersionsRequest{Limit: int32(*f.limit)})
	if err != nil {
		return err
	}
	writeState(w, resp.GetState())
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nchanges, newest first:\nSEQ\tWHEN\tACTION\tVERSION\tSHARE\tBY\tWHY")
	for _, ch := range resp.GetChanges() {
		share := ""
		if ch.GetAction() == riskv1.PolicyAction_POLICY_ACTION_CANARY {
			share = fmt.Sprintf("%d%%", ch.GetPercent())
		}
		action := strings.ToLower(strings.TrimPrefix(ch.GetAction().String(), "POLICY_ACTION_"))
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ch.GetSeq(), ch.GetAt().AsTime().Format(time.RFC3339), action,
			short(ch.GetVersion()), share, ch.GetBy(), ch.GetMessage())
	}
	fmt.Fprintln(tw, "\nversions, newest first:\nVERSION\tKEPT\tBY\tSOURCE\tWHY")
	for _, v := range resp.GetVersions() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.GetVersion(), v.GetKeptAt().AsTime().Format(time.RFC3339), v.GetKeptBy(),
			v.GetSource(), v.GetMessage())
	}
	return tw.Flush()
}

// onlyArg returns the one positional argument, or "" when optional and absent.
func onlyArg(f *lifecycleFlags, optional bool) (string, error) {
	switch n := f.fs.NArg(); {
	case n == 1:
		return f.fs.Arg(0), nil
	case n == 0 && optional:
		return "", nil
	default:
		return "", fmt.Errorf("usage: %s [flags] VERSION", f.fs.Name())
	}
}

func policyShow(ctx context.Context, c riskv1.PolicyServiceClient, f *lifecycleFlags, w io.Writer) error {
	req := &riskv1.GetPolicyVersionRequest{DecisionId: *f.decision}
	if *f.decision == "" {
		v, err := onlyArg(f, false)
		if err != nil {
			return errors.New("usage: riskd policy show VERSION | riskd policy show --decision DECISION_ID")
		}
		req.Version = v
	}
	resp, err := c.GetPolicyVersion(ctx, req)
	if err != nil {
		return err
	}
	v := resp.GetVersion()
	fmt.Fprintf(w, "# %s, kept %s by %s from %s: %s\n", v.GetVersion(), v.GetKeptAt().AsTime().Format(time.RFC3339), v.GetKeptBy(),
		v.GetSource(), v.GetMessage())
	_, err = w.Write(resp.GetDocument())
	return err
}

func policyDiff(ctx context.Context, c riskv1.PolicyServiceClient, f *lifecycleFlags, w io.Writer) error {
	if f.fs.NArg() != 2 {
		return errors.New("usage: riskd policy diff FROM_VERSION TO_VERSION")
	}
	resp, err := c.DiffPolicyVersions(ctx, &riskv1.DiffPolicyVersionsRequest{From: f.fs.Arg(0), To: f.fs.Arg(1)})
	if err != nil {
		return err
	}
	if len(resp.GetDifferences()) == 0 {
		fmt.Fprintln(w, "no differences")
		return nil
	}
	for _, d := range resp.GetDifferences() {
		where := d.GetCheck()
		if where == "" {
			where = "policy"
		}
		sign := map[string]string{"added": "+", "removed": "-", "changed": "~"}[d.GetChange()]
		fmt.Fprintf(w, "%s %s %s %s %s\n", sign, where, d.GetKind(), d.GetName(), d.GetChange())
		for _, det := range d.GetDetails() {
			fmt.Fprintf(w, "      %s\n", det)
		}
	}
	return nil
}

func policyPublish(ctx context.Context, c riskv1.PolicyServiceClient, f *lifecycleFlags, w io.Writer) error {
	file := *f.file
	if file == "" {
		var err error
		if file, err = onlyArg(f, false); err != nil {
			return errors.New("usage: riskd policy publish FILE -m WHY")
		}
	}
	doc, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	resp, err := c.PublishPolicy(ctx, &riskv1.PublishPolicyRequest{Policy: doc, Message: *f.message})
	if err != nil {
		return err
	}
	v := resp.GetVersion()
	fmt.Fprintf(w, "published %s (kept %s by %s)\n", v.GetVersion(), v.GetKeptAt().AsTime().Format(time.RFC3339), v.GetKeptBy())
	return nil
}

func policyCanary(ctx context.Context, c riskv1.PolicyServiceClient, f *lifecycleFlags, w io.Writer) error {
	v, err := onlyArg(f, false)
	if err != nil {
		return errors.New("usage: riskd policy canary --percent N VERSION -m WHY")
	}
	resp, err := c.StartCanary(ctx, &riskv1.StartCanaryRequest{Version: v, Percent: int32(*f.percent), Message: *f.message})
	if err != nil {
		return err
	}
	writeState(w, resp.GetState())
	return nil
}

func policyStop(ctx context.Context, c riskv1.PolicyServiceClient, f *lifecycleFlags, w io.Writer) error {
	resp, err := c.StopCanary(ctx, &riskv1.StopCanaryRequest{Message: *f.message})
	if err != nil {
		return err
	}
	writeState(w, resp.GetState())
	return nil
}

func policyPromote(ctx context.Context, c riskv1.PolicyServiceClient, f *lifecycleFlags, w io.Writer) error {
	v, err := onlyArg(f, true)
	if err != nil {
		return err
	}
	resp, err := c.PromotePolicy(ctx, &riskv1.PromotePolicyRequest{Version: v, Message: *f.message})
	if err != nil {
		return err
	}
	writeState(w, resp.GetState())
	return nil
}

func policyRollback(ctx context.Context, c riskv1.PolicyServiceClient, f *lifecycleFlags, w io.Writer) error {
	v, err := onlyArg(f, true)
	if err != nil {
		return err
	}
	resp, err := c.RollbackPolicy(ctx, &riskv1.RollbackPolicyRequest{Version: v, Message: *f.message})
	if err != nil {
		return err
	}
	writeState(w, resp.GetState())
	return nil
}

func policyStatus(ctx context.Context, c riskv1.PolicyServiceClient, _ *lifecycleFlags, w io.Writer) error {
	resp, err := c.GetPolicy(ctx, &riskv1.GetPolicyRequest{})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "this replica: %s (from %s), loaded %s, state %d\n", resp.GetVersion(), resp.GetSource(),
		resp.GetLoadedAt().AsTime().Format(time.RFC3339), resp.GetStateSeq())
	if resp.GetCanaryVersion() != "" {
		fmt.Fprintf(w, "canary: %s on %d%%\n", resp.GetCanaryVersion(), resp.GetCanaryPercent())
	}
	return nil
}
