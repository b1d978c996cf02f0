package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A partition drops packets instead of refusing connections: nothing ever
// answers. The calls below all have a minute's deadline, so an answer of
// UNAVAILABLE (and not DEADLINE_EXCEEDED) shows that the store's own budget
// bounded them; no clock is read.
const patient = time.Minute

func TestPostgresPartitionFailsFastAndRecovers(t *testing.T) {
	schema := sharedBackends(t)
	host := strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(replicaPG, "postgres://"), "/", 2)[0], "postgres@")
	px := newProxy(t, host)
	url := strings.Replace(replicaPG, host, px.Addr(), 1)
	p := startBinary(t, "--store", "postgres", "--postgres-url", url, "--postgres-schema", schema,
		"--postgres-timeout", "300ms", "--identifier-key", strings.Repeat("5a", 32))
	c := dial(t, p.Addr)
	ctx := context.Background()
	before, err := c.ScoreGiftCardPurchase(ctx, replicaOrder("cut-before", "acct-cut"))
	if err != nil {
		t.Fatalf("%v; log:\n%v", err, p.Logs())
	}

	px.Pause()
	// The first call meets the partition and spends the store's budget.
	cctx, cancel := context.WithTimeout(ctx, patient)
	_, err = c.ScoreGiftCardPurchase(cctx, replicaOrder("cut-first", "acct-cut"))
	cancel()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("first call into a partition: %v; want UNAVAILABLE once the store's budget is spent, not the caller's whole deadline", err)
	}
	bin := binary(t)
	if !eventually(10*time.Second, func() bool { return exec.Command(bin, "health", "--addr", p.Addr, "--timeout", "500ms").Run() != nil }) {
		t.Fatal("health still SERVING with PostgreSQL partitioned")
	}

	// Known unreachable: every kind of call fails at once, without trying.
	calls := map[string]func(context.Context) error{
		"ScoreGiftCardPurchase": func(ctx context.Context) error {
			_, err := c.ScoreGiftCardPurchase(ctx, replicaOrder("cut-known", "acct-cut"))
			return err
		},
		"GetDecision": func(ctx context.Context) error {
			_, err := c.GetDecision(ctx, &riskv1.GetDecisionRequest{DecisionId: before.GetDecision().GetDecisionId()})
			return err
		},
		"ReportOutcome": func(ctx context.Context) error {
			_, err := c.ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{DecisionId: before.GetDecision().GetDecisionId(),
				Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE})
			return err
		},
	}
	for name, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, patient)
		err := call(cctx)
		cancel()
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("%s while PostgreSQL is known unreachable: %v, want UNAVAILABLE", name, err)
		}
	}
	// The log says why each was refused: the known state, not a spent
	// budget. (The lines reach the test through a pipe, maybe after the
	// answers: wait for them.)
	atOnce := 0
	eventually(5*time.Second, func() bool {
		atOnce = 0
		for _, l := range p.Logs() {
			if l["msg"] == "decision store unreachable; call refused" && strings.Contains(l["error"].(string), "fail at once") {
				atOnce++
			}
		}
		return atOnce >= len(calls)
	})
	if atOnce < len(calls) {
		t.Fatalf("%d calls refused at once for a known outage, want %d; log:\n%s", atOnce, len(calls), strings.Join(p.Messages(), "\n"))
	}

	// Healed: back without a restart, and the cut call can be retried.
	px.Resume()
	if !eventually(10*time.Second, func() bool { return exec.Command(bin, "health", "--addr", p.Addr, "--timeout", "500ms").Run() == nil }) {
		t.Fatal("health did not return to SERVING once the partition healed")
	}
	for _, id := range []string{"cut-first", "cut-after"} {
		if _, err := c.ScoreGiftCardPurchase(ctx, replicaOrder(id, "acct-cut")); err != nil {
			t.Fatalf("%s after the partition healed: %v", id, err)
		}
	}
}

func TestRedisPartitionCostsOnlyTheCounters(t *testing.T) {
	schema := sharedBackends(t)
	px := newProxy(t, replicaRedis)
	p, c := startReplica(t, schema, px.Addr())
	ctx := context.Background()
	if _, err := c.ScoreGiftCardPurchase(ctx, replicaOrder("rcut-before", "acct-rcut")); err != nil {
		t.Fatal(err)
	}
	px.Pause()
	order := func(id string) *riskv1.Decision {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, patient)
		defer cancel()
		resp, err := c.ScoreGiftCardPurchase(cctx, replicaOrder(id, "acct-rcut"))
		if err != nil {
			t.Fatalf("%s with Redis partitioned: %v, want an answer (only the counters degrade)", id, err)
		}
		if resp.GetDecision().GetOutcome() == riskv1.Outcome_OUTCOME_APPROVE {
			t.Fatalf("%s approved without counters; the policy's failure mode (review) must apply", id)
		}
		return resp.GetDecision()
	}
	// The first read meets the partition within the verifier's budget.
	first := verifierResult(t, order("rcut-first"), "velocity")
	if s := first.GetStatus(); s != riskv1.VerifierStatus_VERIFIER_STATUS_FAILED && s != riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT {
		t.Fatalf("velocity %s (%q) with Redis partitioned", s, first.GetError())
	}
	if !eventually(10*time.Second, func() bool {
		for _, m := range p.Messages() {
			if strings.HasPrefix(m, "redis unreachable") {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no log line says Redis is unreachable; log:\n%s", strings.Join(p.Messages(), "\n"))
	}
	// Known unreachable: the counters fail at once rather than time out.
	for i := range 3 {
		v := verifierResult(t, order("rcut-known-"+string(rune('a'+i))), "velocity")
		if v.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_FAILED {
			t.Fatalf("velocity %s (%q) while Redis is known unreachable; want FAILED at once, not a spent budget", v.GetStatus(), v.GetError())
		}
	}
	px.Resume()
	if !eventually(10*time.Second, func() bool {
		resp, err := c.ScoreGiftCardPurchase(ctx, replicaOrder("rcut-after-"+time.Now().Format("150405.000"), "acct-rcut"))
		return err == nil && verifierResult(t, resp.GetDecision(), "velocity").GetStatus() == riskv1.VerifierStatus_VERIFIER_STATUS_OK
	}) {
		t.Fatal("velocity did not recover once Redis's partition healed")
	}
}
