package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/riskd/riskd/internal/testproc"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

var (
	replicaPG    = envOr("RISKD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	replicaRedis = envOr("RISKD_TEST_REDIS_ADDR", "127.0.0.1:6379")
)

// sharedBackends makes a schema and a Redis key prefix of the test's own,
// removed at the end. Unreachable servers fail the test, naming which.
func sharedBackends(t *testing.T) (schema string) {
	t.Helper()
	schema = postgresSchema(t, "riskd_replicas_")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc := redis.NewClient(&redis.Options{Addr: replicaRedis})
	if err := rc.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s is unreachable (start it, or set RISKD_TEST_REDIS_ADDR): %v", replicaRedis, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rc.Scan(ctx, 0, "riskd:"+schema+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rc.Del(ctx, iter.Val())
		}
		rc.Close()
	})
	return schema
}

// postgresSchema names a PostgreSQL schema of the test's own, dropped at
// the end; riskd creates it. An unreachable server fails the test.
func postgresSchema(t *testing.T, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, replicaPG)
	if err != nil {
		t.Fatalf("PostgreSQL at %s is unreachable (start it, or set RISKD_TEST_POSTGRES_URL): %v", replicaPG, err)
	}
	conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := prefix + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, replicaPG); err == nil {
			_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			conn.Close(ctx)
		}
	})
	return schema
}

// startReplica starts a riskd on the shared database and Redis (through
// redisAddr, which may be a proxy).
func startReplica(t *testing.T, schema, redisAddr string) (*testproc.Process, riskv1.RiskServiceClient) {
	t.Helper()
	p := startBinary(t, "--store", "postgres", "--postgres-url", replicaPG, "--postgres-schema", schema,
		"--redis-url", "redis://"+redisAddr+"/0", "--identifier-key", strings.Repeat("5a", 32))
	return p, dial(t, p.Addr)
}

// replicaOrder is a small, ordinary gift-card order on one account.
func replicaOrder(id, account string) *riskv1.ScoreGiftCardPurchaseRequest {
	now := time.Now()
	return &riskv1.ScoreGiftCardPurchaseRequest{
		RequestId: id, OrderId: id, AccountId: account,
		AccountCreatedAt: timestamppb.New(now.AddDate(-3, 0, 0)),
		Client:           &riskv1.Client{DeviceId: "dev-" + account, IpAddress: "192.0.2.9"},
		Total:            &riskv1.Money{AmountMinor: 5000, Currency: "CNY"},
		Cards:            []*riskv1.GiftCardLine{{FaceValueMinor: 5000, Quantity: 1}},
		Payment:          &riskv1.PaymentInstrument{Fingerprint: "pi-" + account, Kind: riskv1.InstrumentKind_INSTRUMENT_KIND_DEBIT_CARD},
		Recipient:        &riskv1.Recipient{Email: account + "@example.com", OwnedByAccount: true},
		CallerHistory:    &riskv1.PurchaseHistory{PastGiftCardOrders: 12},
	}
}

// verifierResult returns the decision's result for the named verifier, and
// fails the test if the decision has none: a missing result is not a
// verifier that "did not answer OK".
func verifierResult(t *testing.T, d *riskv1.Decision, name string) *riskv1.VerifierResult {
	t.Helper()
	var names []string
	for _, vr := range d.GetVerifierResults() {
		if vr.GetName() == name {
			return vr
		}
		names = append(names, vr.GetName())
	}
	t.Fatalf("decision %s has no result for verifier %q; it has %v", d.GetDecisionId(), name, names)
	return nil
}

// signalNamed returns the decision's signal by name, and fails the test if the
// decision has none.
func signalNamed(t *testing.T, d *riskv1.Decision, name string) *riskv1.Signal {
	t.Helper()
	var names []string
	for _, s := range d.GetSignals() {
		if s.GetName() == name {
			return s
		}
		names = append(names, s.GetName())
	}
	t.Fatalf("decision %s has no signal %q; it has %v", d.GetDecisionId(), name, names)
	return nil
}

func hasReason(d *riskv1.Decision, code string) bool {
	for _, r := range d.GetReasons() {
		if r.GetCode() == code {
			return true
		}
	}
	return false
}

func TestTwoReplicasShareOneHistory(t *testing.T) {
	schema := sharedBackends(t)
	pa, a := startReplica(t, schema, replicaRedis)
	pb, b := startReplica(t, schema, replicaRedis)
	defer func() {
		if t.Failed() {
			for _, p := range []*testproc.Process{pa, pb} {
				for _, l := range p.Logs() {
					if l["level"] != "INFO" {
						t.Logf("LOG %v", l)
					}
				}
			}
		}
	}()
	ctx := context.Background()
	replicas := []riskv1.RiskServiceClient{a, b}

	// Orders on one account, alternating replicas: the default policy's
	// velocity-account rule fires from the fourth order in ten minutes.
	for i := 1; i <= 6; i++ {
		resp, err := replicas[i%2].ScoreGiftCardPurchase(ctx, replicaOrder(fmt.Sprintf("seq-%d", i), "acct-seq"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := hasReason(resp.GetDecision(), "VELOCITY_ACCOUNT"), i >= 4; got != want {
			t.Fatalf("order %d on replica %d: VELOCITY_ACCOUNT %v, want %v (count is shared across replicas)", i, i%2, got, want)
		}
	}

	// Concurrent orders split across both: every one counted exactly once.
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := replicas[i%2].ScoreGiftCardPurchase(ctx, replicaOrder(fmt.Sprintf("conc-%d", i), "acct-conc")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	resp, err := a.ScoreGiftCardPurchase(ctx, replicaOrder("conc-last", "acct-conc"))
	if err != nil {
		t.Fatal(err)
	}
	if got := signalNamed(t, resp.GetDecision(), "velocity.account.10m.count").GetIntValue(); got != n+1 {
		t.Fatalf("after %d concurrent orders on two replicas the next counts %d, want %d", n, got, n+1)
	}

	// One request_id sent to both at once: one decision.
	var ids [2]string
	req := replicaOrder("same-request", "acct-same")
	for i, c := range replicas {
		wg.Go(func() {
			resp, err := c.ScoreGiftCardPurchase(ctx, req)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = resp.GetDecision().GetDecisionId()
		})
	}
	wg.Wait()
	if ids[0] == "" || ids[0] != ids[1] {
		t.Fatalf("one request on two replicas made decisions %q and %q", ids[0], ids[1])
	}
	// Decided on one, readable on the other.
	got, err := b.GetDecision(ctx, &riskv1.GetDecisionRequest{DecisionId: resp.GetDecision().GetDecisionId()})
	if err != nil || got.GetDecision().GetDecisionId() != resp.GetDecision().GetDecisionId() {
		t.Fatalf("a decision made on one replica is not readable on the other: %v", err)
	}
}

// proxy forwards TCP to target until Close, which cuts every connection:
// Redis "going away" without stopping the machine's Redis. Pause is a
// partition instead: packets dropped, not refused. Nothing is forwarded
// and nothing is answered, new connections are accepted but never reach
// the target, and Resume delivers what was held, as TCP would once the
// network heals.
type proxy struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	paused chan struct{} // closed while forwarding; replaced by Pause
}

func newProxy(t *testing.T, target string) *proxy {
	return newProxyAt(t, "127.0.0.1:0", target)
}

func newProxyAt(t *testing.T, addr, target string) *proxy {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{lis: lis, target: target, paused: make(chan struct{})}
	close(p.paused)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
	t.Cleanup(p.Close)
	return p
}

// flowing returns a channel closed while the proxy forwards.
func (p *proxy) flowing() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

func (p *proxy) forward(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
	<-p.flowing()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	go func() { p.copy(up, c); up.Close() }()
	go func() { p.copy(c, up); c.Close() }()
}

// copy is io.Copy that holds each chunk while the proxy is paused.
func (p *proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.flowing()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) Addr() string { return p.lis.Addr().String() }

// Pause drops the network between riskd and the target, silently.
func (p *proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.paused:
		p.paused = make(chan struct{})
	default:
	}
}

// Resume heals the network.
func (p *proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.paused:
	default:
		close(p.paused)
	}
}

func (p *proxy) Close() {
	p.lis.Close()
	p.Resume() // let held goroutines see their closed connections
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestRedisGoneLeavesEveryCallAnswered(t *testing.T) {
	schema := sharedBackends(t)
	px := newProxy(t, replicaRedis)
	_, c := startReplica(t, schema, px.Addr())
	ctx := context.Background()
	if _, err := c.ScoreGiftCardPurchase(ctx, replicaOrder("before", "acct-redis")); err != nil {
		t.Fatal(err)
	}
	px.Close()
	for i := range 5 {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := c.ScoreGiftCardPurchase(cctx, replicaOrder(fmt.Sprintf("after-%d", i), "acct-redis"))
		cancel()
		if err != nil {
			t.Fatalf("call %d with Redis gone: %v, want an answer", i, err)
		}
		velocity := verifierResult(t, resp.GetDecision(), "velocity")
		switch velocity.GetStatus() {
		case riskv1.VerifierStatus_VERIFIER_STATUS_FAILED, riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT:
		default:
			t.Fatalf("call %d: velocity %s (%q) with Redis gone; want FAILED or TIMED_OUT", i, velocity.GetStatus(), velocity.GetError())
		}
		if resp.GetDecision().GetOutcome() == riskv1.Outcome_OUTCOME_APPROVE {
			t.Fatalf("call %d: approved without counters; the policy's failure mode (review) must apply", i)
		}
	}
}

func TestPostgresGoneRefusesCallsAndReportsNotServing(t *testing.T) {
	schema := sharedBackends(t)
	host := strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(replicaPG, "postgres://"), "/", 2)[0], "postgres@")
	px := newProxy(t, host)
	url := strings.Replace(replicaPG, host, px.Addr(), 1)
	p := startBinary(t, "--store", "postgres", "--postgres-url", url, "--postgres-schema", schema,
		"--identifier-key", strings.Repeat("5a", 32))
	c := dial(t, p.Addr)
	ctx := context.Background()
	if _, err := c.ScoreGiftCardPurchase(ctx, replicaOrder("pg-before", "acct-pg")); err != nil {
		t.Fatal(err)
	}
	addr := px.Addr()
	px.Close()

	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := c.ScoreGiftCardPurchase(cctx, replicaOrder("pg-gone", "acct-pg"))
	cancel()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("with PostgreSQL gone: %v, want UNAVAILABLE (never an answer without a log)", err)
	}
	bin := binary(t)
	if !eventually(5*time.Second, func() bool { return exec.Command(bin, "health", "--addr", p.Addr, "--timeout", "500ms").Run() != nil }) {
		t.Fatal("health still SERVING with PostgreSQL gone")
	}
	// The process is alive all the same: a liveness probe (the Kubernetes
	// Deployment's) must not restart replicas for the database's outage.
	if out, err := exec.Command(bin, "health", "--addr", p.Addr, "--service", "liveness").CombinedOutput(); err != nil {
		t.Fatalf("liveness with PostgreSQL gone: %v %s", err, out)
	}

	newProxyAt(t, addr, host)
	if !eventually(10*time.Second, func() bool { return exec.Command(bin, "health", "--addr", p.Addr, "--timeout", "500ms").Run() == nil }) {
		t.Fatal("health did not return to SERVING with PostgreSQL back")
	}
	if _, err := c.ScoreGiftCardPurchase(ctx, replicaOrder("pg-back", "acct-pg")); err != nil {
		t.Fatalf("with PostgreSQL back: %v", err)
	}
}

func eventually(within time.Duration, ok func() bool) bool {
	for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if ok() {
			return true
		}
	}
	return false
}
