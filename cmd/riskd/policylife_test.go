package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/policy"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// policyCLI runs `riskd policy ARGS...` against addr, as an analyst would,
// and returns what it printed.
func policyCLI(t *testing.T, addr string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{args[0], "--addr", addr}, args[1:]...)
	if err := policyCommand(context.Background(), full, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("riskd policy %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

func policyClient(t *testing.T, addr string) riskv1.PolicyServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return riskv1.NewPolicyServiceClient(conn)
}

// waitPolicy waits until the replica at c has the policy state seq in
// force, and says how long that took.
func waitPolicy(t *testing.T, c riskv1.PolicyServiceClient, seq uint64, within time.Duration) (*riskv1.GetPolicyResponse, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		resp, err := c.GetPolicy(context.Background(), &riskv1.GetPolicyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetStateSeq() >= seq {
			return resp, time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("replica still on state %d after %s, want %d", resp.GetStateSeq(), within, seq)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Issue 22 across two replicas on PostgreSQL, through the CLI: a version
// published on one and put on canary through the other; both agree on
// who is in the canary; a promotion and then a rollback under load reach
// the other replica within the sync bound, and no request fails.
func TestPolicyLifecycleAcrossReplicas(t *testing.T) {
	schema := postgresSchema(t, "riskd_policy_")
	const syncEvery = 200 * time.Millisecond
	start := func() (string, riskv1.RiskServiceClient, riskv1.PolicyServiceClient) {
		p := startBinary(t, "--store", "postgres", "--postgres-url", replicaPG, "--postgres-schema", schema,
			"--identifier-key", strings.Repeat("5a", 32), "--policy-sync", syncEvery.String())
		return p.Addr, dial(t, p.Addr), policyClient(t, p.Addr)
	}
	addrA, riskA, polA := start()
	addrB, riskB, polB := start()
	v0 := fmt.Sprintf("sha256:%x", sha256.Sum256(policy.DefaultBytes()))

	doc := string(policy.DefaultBytes())
	i := strings.Index(doc, "\n  gift_card_purchase:\n")
	j := i + strings.Index(doc[i:], "\n    rules:\n") + len("\n    rules:\n")
	doc = doc[:j] + `      - {name: canary-shadow, when: "true", action: review, reason: CANARY_SHADOW, message: M., shadow: true}` + "\n" + doc[j:]
	file := filepath.Join(t.TempDir(), "candidate.yaml")
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	out := policyCLI(t, addrA, "publish", "-m", "shadow rule", file)
	v1 := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(doc)))
	if !strings.Contains(out, "published "+v1) {
		t.Fatalf("publish printed %q, want the version %s", out, v1)
	}
	out = policyCLI(t, addrB, "canary", "--percent", "10", "-m", "10% first", v1)
	if !strings.Contains(out, "canary:   "+v1+" on 10%") {
		t.Fatalf("canary printed %q", out)
	}
	st, took := waitPolicy(t, polA, 2, 5*time.Second)
	if st.GetCanaryVersion() != v1 || st.GetCanaryPercent() != 10 {
		t.Fatalf("replica A: canary %q at %d%%", st.GetCanaryVersion(), st.GetCanaryPercent())
	}
	t.Logf("canary started on B, in force on A after %s", took)

	// Both replicas put the same accounts in the canary.
	const accounts = 300
	canary, canaryDecision := 0, ""
	for n := range accounts {
		acct := fmt.Sprintf("acct-%d", n)
		da, err := riskA.ScoreGiftCardPurchase(context.Background(), replicaOrder(fmt.Sprintf("a-%d", n), acct))
		if err != nil {
			t.Fatal(err)
		}
		db, err := riskB.ScoreGiftCardPurchase(context.Background(), replicaOrder(fmt.Sprintf("b-%d", n), acct))
		if err != nil {
			t.Fatal(err)
		}
		ca, cb := da.GetDecision().GetCanary(), db.GetDecision().GetCanary()
		if ca != cb {
			t.Fatalf("%s: canary %v on A, %v on B", acct, ca, cb)
		}
		if ca != (da.GetDecision().GetPolicyVersion() == v1) {
			t.Fatalf("%s: canary %v, decided by %s", acct, ca, da.GetDecision().GetPolicyVersion())
		}
		if ca {
			canary++
			canaryDecision = da.GetDecision().GetDecisionId()
		}
	}
	t.Logf("%d of %d accounts in the 10%% canary, the same on both replicas", canary, accounts)
	if canary == 0 || canary > accounts/4 {
		t.Fatalf("%d of %d accounts in a 10%% canary", canary, accounts)
	}

	// Promote through A; then roll back through A under load on both.
	policyCLI(t, addrA, "promote", "-m", "looks fine")
	waitPolicy(t, polB, 3, 5*time.Second)
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		failed   atomic.Int64
		decided  atomic.Int64
		mu       sync.Mutex
		firstErr error
	)
	for g := range 4 {
		client := []riskv1.RiskServiceClient{riskA, riskB}[g%2]
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				id := fmt.Sprintf("load-%d-%d", g, n)
				if _, err := client.ScoreGiftCardPurchase(context.Background(), replicaOrder(id, "acct-"+id)); err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				decided.Add(1)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	rolled := time.Now()
	out = policyCLI(t, addrA, "rollback", "-m", "back")
	if !strings.Contains(out, "in force: "+v0) {
		t.Fatalf("rollback printed %q, want %s in force", out, v0)
	}
	stB, tookB := waitPolicy(t, polB, 4, 5*time.Second)
	sinceRollback := time.Since(rolled)
	// Calls on B after it followed are decided by the version put back.
	for n := range 20 {
		id := fmt.Sprintf("after-%d", n)
		d, err := riskB.ScoreGiftCardPurchase(context.Background(), replicaOrder(id, "acct-"+id))
		if err != nil {
			t.Fatal(err)
		}
		if v := d.GetDecision().GetPolicyVersion(); v != v0 {
			t.Fatalf("B after following the rollback decided by %s, want %s", v, v0)
		}
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d calls failed during the rollback, e.g. %v", failed.Load(), failed.Load()+decided.Load(), firstErr)
	}
	t.Logf("rollback through A: in force on B %s after the command returned (%s after it started), %d calls under load, none failed",
		tookB, sinceRollback, decided.Load())
	if stB.GetVersion() != v0 || sinceRollback > 2*syncEvery+time.Second {
		t.Fatalf("B: %s in force %s after the rollback; the bound is %s", stB.GetVersion(), sinceRollback, 2*syncEvery+time.Second)
	}

	hist := policyCLI(t, addrB, "history")
	for _, want := range []string{"rollback", "promote", "canary", "activate", "10%", "shadow rule", "looks fine"} {
		if !strings.Contains(hist, want) {
			t.Fatalf("history lacks %q:\n%s", want, hist)
		}
	}
	diff := policyCLI(t, addrB, "diff", v0, v1)
	lines := strings.Split(strings.TrimSpace(diff), "\n")
	if lines[0] != "+ gift_card_purchase rule canary-shadow added" {
		t.Fatalf("diff:\n%s", diff)
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "      ") { // details of the one difference only
			t.Fatalf("diff has more than the one rule added:\n%s", diff)
		}
	}
	// What decided a canary decision, long after: exactly the candidate.
	shown := policyCLI(t, addrB, "show", "--decision", canaryDecision)
	if !strings.HasSuffix(shown, doc) || !strings.Contains(shown, v1) {
		t.Fatalf("show --decision printed %q...", shown[:min(len(shown), 200)])
	}
}
