package main

// Tests of policy operations on the real binary: hot reload of the policy
// file under load, a broken file refused while the old version keeps
// deciding, SIGHUP, `riskd policy check` and `riskd policy replay`.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/testproc"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/builtin"
	"github.com/riskd/riskd/internal/verifier/remote"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const reloadDefaultPath = "../../internal/policy/default.yaml"

// reloadDefault is the default policy document as shipped.
func reloadDefault(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(reloadDefaultPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// reloadVersion is the version riskd must report for a document.
func reloadVersion(doc string) string {
	sum := sha256.Sum256([]byte(doc))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// reloadRefundSection returns where the refund check starts in doc.
func reloadRefundSection(t *testing.T, doc string) int {
	t.Helper()
	i := strings.Index(doc, "\n  refund:\n")
	if i < 0 {
		t.Fatal("default policy has no refund check")
	}
	return i
}

var reloadThresholds = regexp.MustCompile(`thresholds: \{review: \d+, decline: (\d+)\}`)

// reloadRefundReview is doc with the refund check's review threshold set to
// review.
func reloadRefundReview(t *testing.T, doc string, review int) string {
	t.Helper()
	i := reloadRefundSection(t, doc)
	loc := reloadThresholds.FindStringSubmatchIndex(doc[i:])
	if loc == nil {
		t.Fatal("refund check has no thresholds line")
	}
	decline := doc[i+loc[2] : i+loc[3]]
	out := doc[:i+loc[0]] + fmt.Sprintf("thresholds: {review: %d, decline: %s}", review, decline) + doc[i+loc[1]:]
	if out == doc {
		t.Fatalf("review threshold already %d", review)
	}
	return out
}

// reloadRefundRule inserts a rule (one flow-style line, without indent) as
// the first rule of the refund check, and returns the document and the
// 1-based line the rule is on.
func reloadRefundRule(t *testing.T, doc, rule string) (string, int) {
	t.Helper()
	return reloadInsertRule(t, doc, reloadRefundSection(t, doc), rule)
}

func reloadInsertRule(t *testing.T, doc string, section int, rule string) (string, int) {
	t.Helper()
	const rules = "\n    rules:\n"
	j := strings.Index(doc[section:], rules)
	if j < 0 {
		t.Fatal("check has no rules")
	}
	at := section + j + len(rules)
	out := doc[:at] + "      " + rule + "\n" + doc[at:]
	return out, strings.Count(doc[:at], "\n") + 1
}

// reloadWrite replaces path atomically: a temp file in the same directory
// renamed over it.
func reloadWrite(t *testing.T, path, doc string) {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(path), ".policy-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(doc); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		t.Fatal(err)
	}
}

type reloadClients struct {
	risk   riskv1.RiskServiceClient
	policy riskv1.PolicyServiceClient
}

func reloadDial(t *testing.T, addr string) reloadClients {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return reloadClients{riskv1.NewRiskServiceClient(conn), riskv1.NewPolicyServiceClient(conn)}
}

// reloadRefund is a clean refund: a physical item, the whole amount paid
// back to the original method.
func reloadRefund(id string) *riskv1.EvaluateRefundRequest {
	return &riskv1.EvaluateRefundRequest{
		RequestId: "req-" + id, OrderId: "order-" + id, BuyerAccountId: "buyer-" + id, SellerId: "seller-reload",
		Client:          &riskv1.Client{DeviceId: "device-" + id, IpAddress: "198.51.100.20"},
		AmountRequested: &riskv1.Money{AmountMinor: 12_900, Currency: "CNY"},
		AmountPaid:      &riskv1.Money{AmountMinor: 12_900, Currency: "CNY"},
		GoodsKind:       riskv1.GoodsKind_GOODS_KIND_PHYSICAL,
		ItemCategory:    "apparel",
		Destination:     &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD},
	}
}

func (c reloadClients) version(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.policy.GetPolicy(ctx, &riskv1.GetPolicyRequest{})
	if err != nil {
		t.Fatalf("GetPolicy: %v", err)
	}
	return resp.GetVersion()
}

func (c reloadClients) decide(t *testing.T, id string) *riskv1.Decision {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.risk.EvaluateRefund(ctx, reloadRefund(id))
	if err != nil {
		t.Fatalf("EvaluateRefund %s: %v", id, err)
	}
	return resp.GetDecision()
}

// waitVersion waits until GetPolicy reports want.
func (c reloadClients) waitVersion(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := c.version(t)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("policy version %s, want %s", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reloadWaitLog waits for a log line with msg whose attributes match.
func reloadWaitLog(t *testing.T, p *testproc.Process, msg string, attrs map[string]string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, l := range p.Logs() {
			if l["msg"] != msg {
				continue
			}
			ok := true
			for k, v := range attrs {
				ok = ok && fmt.Sprint(l[k]) == v
			}
			if ok {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q with %v; messages: %q", msg, attrs, p.Messages())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reloadAnswer is what one policy version decides for reloadRefund.
type reloadAnswer struct {
	outcome riskv1.Outcome
	score   int32
	mark    string // the version's own reason code; "" for the default
}

func (a reloadAnswer) String() string {
	return fmt.Sprintf("%s score %d mark %q", a.outcome, a.score, a.mark)
}

// reloadAnswerOf reads a decision as a reloadAnswer: its outcome, score and
// RELOAD_V* reason (several are reported joined, which no version gives).
func reloadAnswerOf(d *riskv1.Decision) reloadAnswer {
	a := reloadAnswer{outcome: d.GetOutcome(), score: d.GetScore()}
	for _, r := range d.GetReasons() {
		if strings.HasPrefix(r.GetCode(), "RELOAD_V") {
			a.mark = strings.TrimPrefix(a.mark+"+"+r.GetCode(), "+")
		}
	}
	return a
}

func TestReloadUnderLoadDropsNoRequest(t *testing.T) {
	base := reloadDefault(t)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	reloadWrite(t, file, base)
	p := startBinary(t, "--policy", file, "--policy-poll", "100ms")
	c := reloadDial(t, p.Addr)
	if got := c.version(t); got != reloadVersion(base) {
		t.Fatalf("start version %s, want %s", got, reloadVersion(base))
	}

	// Every version decides the same clean refund its own way: the default
	// approves it with score 0; variant k adds a rule that always fires
	// with its own reason code, score and action, so that each answer
	// shows which version decided it, and the version it names must be
	// that one.
	want := map[string]reloadAnswer{reloadVersion(base): {outcome: riskv1.Outcome_OUTCOME_APPROVE}}
	actions := []struct {
		action  string
		outcome riskv1.Outcome
	}{
		{"review", riskv1.Outcome_OUTCOME_REVIEW},
		{"decline", riskv1.Outcome_OUTCOME_DECLINE},
		{"add_score", riskv1.Outcome_OUTCOME_APPROVE}, // 13 is under the review threshold
		{"review", riskv1.Outcome_OUTCOME_REVIEW},
		{"decline", riskv1.Outcome_OUTCOME_DECLINE},
	}
	var variants []string
	for k := 1; k <= 5; k++ {
		a := actions[k-1]
		v, _ := reloadRefundRule(t, base, fmt.Sprintf(`- {name: reload-v%d, when: "true", action: %s, score: %d, reason: RELOAD_V%d, message: M.}`,
			k, a.action, 10+k, k))
		variants = append(variants, v)
		want[reloadVersion(v)] = reloadAnswer{outcome: a.outcome, score: int32(10 + k), mark: fmt.Sprintf("RELOAD_V%d", k)}
	}
	if len(want) != 6 {
		t.Fatal("variants do not differ")
	}

	var (
		stop   atomic.Bool
		calls  atomic.Int64
		mu     sync.Mutex
		errs   []error
		seen   = map[string]int{}
		wrong  []string
		wg     sync.WaitGroup
		client = c.risk
	)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := client.EvaluateRefund(ctx, reloadRefund(fmt.Sprintf("load-%d-%d", g, i)))
				cancel()
				calls.Add(1)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					d := resp.GetDecision()
					seen[d.GetPolicyVersion()]++
					if w, ok := want[d.GetPolicyVersion()]; ok {
						if got := reloadAnswerOf(d); got != w {
							wrong = append(wrong, fmt.Sprintf("%s names %s, which decides %v, but got %v %v",
								d.GetRequestId(), d.GetPolicyVersion(), w, got, d.GetReasons()))
						}
					}
				}
				mu.Unlock()
			}
		}()
	}

	began := time.Now()
	for _, v := range variants {
		time.Sleep(300 * time.Millisecond)
		reloadWrite(t, file, v)
	}
	last := variants[len(variants)-1]
	c.waitVersion(t, reloadVersion(last))
	// Keep the load on a little after the last reload, to ~3 s in all.
	if rest := 3*time.Second - time.Since(began); rest > 0 {
		time.Sleep(rest)
	}
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Errorf("%d of %d calls failed during reloads; first: %v", len(errs), calls.Load(), errs[0])
	}
	for v, n := range seen {
		if _, ok := want[v]; !ok {
			t.Errorf("%d decisions carry policy version %q, which was never written", n, v)
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%d of %d decisions are not what the version they name decides; first: %s", len(wrong), calls.Load(), wrong[0])
	}
	if len(seen) < 2 {
		t.Errorf("decisions saw %d policy versions (%v), want at least 2: the reloads did not reach the decisions", len(seen), seen)
	}
	if got := c.version(t); got != reloadVersion(last) {
		t.Errorf("final GetPolicy version %s, want the last written %s", got, reloadVersion(last))
	}
	if d := c.decide(t, "after-load"); d.GetPolicyVersion() != reloadVersion(last) || reloadAnswerOf(d) != want[reloadVersion(last)] {
		t.Errorf("decision after the reloads carries %s and decides %v, want %s deciding %v",
			d.GetPolicyVersion(), reloadAnswerOf(d), reloadVersion(last), want[reloadVersion(last)])
	}
	reloadWaitLog(t, p, "policy in force", map[string]string{"policy_version": reloadVersion(last), "trigger": "file changed"})
	t.Logf("%d calls, versions seen: %v", calls.Load(), seen)
}

func TestReloadRefusesBrokenFileAndKeepsOldVersion(t *testing.T) {
	base := reloadDefault(t)
	good := reloadRefundReview(t, base, 31)
	fixed := reloadRefundReview(t, base, 32)
	broken, line := reloadRefundRule(t, base, `- {name: broken-cel, when: "request.amount_paid.amount_minor >", reason: BROKEN, message: M.}`)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	reloadWrite(t, file, base)
	p := startBinary(t, "--policy", file, "--policy-poll", "100ms")
	c := reloadDial(t, p.Addr)

	// A good version first.
	reloadWrite(t, file, good)
	c.waitVersion(t, reloadVersion(good))

	// Then a broken one: refused, logged with its problem, and the good
	// version keeps answering.
	reloadWrite(t, file, broken)
	l := reloadWaitLog(t, p, "policy refused; the old version stays in force", nil)
	if l["policy_version"] != reloadVersion(good) {
		t.Errorf("refusal names policy_version %v, want the one in force %s", l["policy_version"], reloadVersion(good))
	}
	problem := fmt.Sprint(l["problem"])
	if !strings.Contains(problem, fmt.Sprintf("%s:%d", file, line)) || !strings.Contains(problem, "broken-cel") {
		t.Errorf("refusal problem %q does not name %s:%d and rule broken-cel", problem, file, line)
	}
	if got := c.version(t); got != reloadVersion(good) {
		t.Errorf("after a broken file GetPolicy says %s, want the old %s", got, reloadVersion(good))
	}
	if d := c.decide(t, "after-broken"); d.GetPolicyVersion() != reloadVersion(good) {
		t.Errorf("decision after a broken file carries %s, want the old %s", d.GetPolicyVersion(), reloadVersion(good))
	}
	// Refused once, not at every poll.
	time.Sleep(300 * time.Millisecond)
	var refusals int
	for _, m := range p.Messages() {
		if m == "policy refused; the old version stays in force" {
			refusals++
		}
	}
	if refusals != 1 {
		t.Errorf("the broken file was refused %d times, want once", refusals)
	}

	// Fixed and signalled: the new version is in force.
	reloadWrite(t, file, fixed)
	if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	c.waitVersion(t, reloadVersion(fixed))
	if d := c.decide(t, "after-fix"); d.GetPolicyVersion() != reloadVersion(fixed) {
		t.Errorf("decision after the fix carries %s, want %s", d.GetPolicyVersion(), reloadVersion(fixed))
	}
	reloadWaitLog(t, p, "policy in force", map[string]string{"policy_version": reloadVersion(fixed)})
}

// TestReloadMetrics drives the reloader riskd runs (engine.NewReloader,
// First, Reload, with a real engine) through good, broken and fixed files and
// reads its metrics back: riskd.policy.loaded holds, per version put in
// force, the Unix time it was loaded, and never a refused version;
// riskd.policy.reload_refused counts each refused file once.
func TestReloadMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	base := reloadDefault(t)
	good := reloadRefundReview(t, base, 31)
	fixed := reloadRefundReview(t, base, 32)
	broken, _ := reloadRefundRule(t, base, `- {name: broken-cel, when: "request.amount_paid.amount_minor >", reason: BROKEN, message: M.}`)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	reloadWrite(t, file, base)

	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	p, err := engine.NewReloader(file, builtin.Names(), remote.Options{}, mp.Meter("riskd/policy"), log)
	if err != nil {
		t.Fatal(err)
	}
	// Reloads never decide here: the verifiers only need their names.
	stubs := verifier.Registry{}
	for name := range builtin.Names() {
		stubs[name] = verifier.Func(func(context.Context, verifier.Input) (verifier.Result, error) { return verifier.Result{}, nil })
	}
	began := time.Now().Unix()
	pol, remotes, err := p.First()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	eng, err := engine.New(engine.Options{Policy: pol, Verifiers: stubs, Extra: remotes, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	p.Attach(eng)
	ctx := context.Background()

	// step checks the metrics after a step: docs are the documents put in
	// force so far, in order, and refused the refusals so far.
	step := func(name string, docs []string, refused int64) {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		loaded, gotRefused := reloadMetrics(t, rm)
		if gotRefused != refused {
			t.Errorf("%s: riskd.policy.reload_refused %d, want %d", name, gotRefused, refused)
		}
		want := make([]string, len(docs))
		for i, d := range docs {
			want[i] = reloadVersion(d)
		}
		got := slices.Sorted(maps.Keys(loaded))
		if sorted := slices.Sorted(slices.Values(want)); !slices.Equal(got, sorted) {
			t.Errorf("%s: riskd.policy.loaded has versions %v, want %v", name, got, sorted)
		}
		prev := began
		for _, v := range want {
			at, ok := loaded[v]
			if !ok {
				continue
			}
			if at < prev || at > time.Now().Unix() {
				t.Errorf("%s: version %s loaded at Unix time %d, want from %d (the version before it) to now", name, v, at, prev)
			}
			prev = at
		}
		if got, want := eng.Policy().Version, want[len(want)-1]; got != want {
			t.Errorf("%s: engine has %s in force, want %s", name, got, want)
		}
	}

	step("start", []string{base}, 0)
	reloadWrite(t, file, good)
	p.Reload(ctx, "test")
	step("good file", []string{base, good}, 0)
	reloadWrite(t, file, broken)
	p.Reload(ctx, "test")
	step("broken file", []string{base, good}, 1)
	p.Reload(ctx, "test") // the same broken file: not refused again
	step("broken file again", []string{base, good}, 1)
	reloadWrite(t, file, fixed)
	p.Reload(ctx, "test")
	step("fixed file", []string{base, good, fixed}, 1)
}

// reloadMetrics reads riskd.policy.loaded (version -> Unix time) and
// riskd.policy.reload_refused (0 when never recorded).
func reloadMetrics(t *testing.T, rm metricdata.ResourceMetrics) (map[string]int64, int64) {
	t.Helper()
	loaded := map[string]int64{}
	var refused int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "riskd.policy.loaded":
				g, ok := m.Data.(metricdata.Gauge[int64])
				if !ok {
					t.Fatalf("riskd.policy.loaded is %T, want an int64 gauge", m.Data)
				}
				for _, dp := range g.DataPoints {
					v, ok := dp.Attributes.Value("version")
					if !ok || dp.Attributes.Len() != 1 {
						t.Fatalf("riskd.policy.loaded data point has attributes %v, want only version", dp.Attributes.ToSlice())
					}
					loaded[v.AsString()] = dp.Value
				}
			case "riskd.policy.reload_refused":
				sum, ok := m.Data.(metricdata.Sum[int64])
				if !ok || !sum.IsMonotonic {
					t.Fatalf("riskd.policy.reload_refused is %T, want an int64 counter", m.Data)
				}
				for _, dp := range sum.DataPoints {
					if dp.Attributes.Len() != 0 {
						t.Fatalf("riskd.policy.reload_refused data point has attributes %v, want none", dp.Attributes.ToSlice())
					}
					refused += dp.Value
				}
			}
		}
	}
	return loaded, refused
}

// With polling far off, only SIGHUP reloads.
func TestReloadOnSIGHUP(t *testing.T) {
	base := reloadDefault(t)
	next := reloadRefundReview(t, base, 33)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	reloadWrite(t, file, base)
	p := startBinary(t, "--policy", file, "--policy-poll", "1h")
	c := reloadDial(t, p.Addr)
	reloadWrite(t, file, next)
	time.Sleep(200 * time.Millisecond)
	if got := c.version(t); got != reloadVersion(base) {
		t.Fatalf("reloaded without a signal or a poll: %s", got)
	}
	if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	c.waitVersion(t, reloadVersion(next))
	reloadWaitLog(t, p, "policy in force", map[string]string{"policy_version": reloadVersion(next), "trigger": "SIGHUP"})
}

// reloadRun runs the riskd binary with args and returns its combined
// output and exit code.
func reloadRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=", "RISKD_CONFIG=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("riskd %v: %v", args, err)
	return "", 0
}

func TestPolicyCheck(t *testing.T) {
	for _, f := range []string{reloadDefaultPath, "../../examples/policy-with-registry.yaml"} {
		out, code := reloadRun(t, "policy", "check", f)
		if code != 0 || !strings.Contains(out, f+": ok") {
			t.Errorf("policy check %s: exit %d, output %q; want exit 0 and %q", f, code, out, f+": ok")
		}
	}

	base := reloadDefault(t)
	doc, seller := reloadInsertRule(t, base, strings.Index(base, "\n  seller:\n"),
		`- {name: bad-seller-field, when: "request.nope", reason: BAD_ONE, message: M.}`)
	doc, refund := reloadRefundRule(t, doc, `- {name: bad-refund-syntax, when: "request.amount_paid.amount_minor >", reason: BAD_TWO, message: M.}`)
	if seller >= refund {
		t.Fatalf("seller rule on line %d, refund rule on line %d", seller, refund)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := reloadRun(t, "policy", "check", bad)
	if code == 0 {
		t.Fatalf("policy check passed a policy with two bad rules: %q", out)
	}
	for _, want := range []struct {
		line int
		rule string
	}{{seller, "bad-seller-field"}, {refund, "bad-refund-syntax"}} {
		loc := fmt.Sprintf("%s:%d:", bad, want.line)
		var found bool
		for _, l := range strings.Split(out, "\n") {
			found = found || (strings.Contains(l, loc) && strings.Contains(l, want.rule))
		}
		if !found {
			t.Errorf("policy check output does not name %s with rule %s:\n%s", loc, want.rule, out)
		}
	}
	if strings.Contains(out, bad+": ok") {
		t.Errorf("policy check says ok for a bad file:\n%s", out)
	}
}

func TestPolicyReplay(t *testing.T) {
	p := startBinary(t)
	c := reloadDial(t, p.Addr)
	const n = 3
	for i := range n {
		if d := c.decide(t, fmt.Sprintf("replay-%d", i)); d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
			t.Fatalf("clean refund %d: %s %v, want APPROVE", i, d.GetOutcome(), d.GetReasons())
		}
	}
	candidate, _ := reloadRefundRule(t, reloadDefault(t),
		`- {name: decline-every-refund, when: "true", action: decline, reason: DECLINE_ALL, message: M.}`)
	file := filepath.Join(t.TempDir(), "candidate.yaml")
	if err := os.WriteFile(file, []byte(candidate), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := reloadRun(t, "policy", "replay", "--addr", p.Addr, "--policy", file, "--since", "1h")
	if code != 0 {
		t.Fatalf("policy replay: exit %d: %s", code, out)
	}
	for _, want := range []string{
		reloadVersion(candidate),
		fmt.Sprintf("%d decisions replayed, %d would change", n, n),
		fmt.Sprintf("CHECK_REFUND  OUTCOME_APPROVE -> OUTCOME_DECLINE  %d", n),
		fmt.Sprintf("rule decline-every-refund fired in %d", n),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("policy replay output lacks %q:\n%s", want, out)
		}
	}
	// Replay changes nothing in force.
	if got := c.version(t); got == reloadVersion(candidate) {
		t.Error("the replayed candidate was put in force")
	}
}
