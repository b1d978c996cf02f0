package server_test

// The policy lifecycle (issue 22) through the real gRPC client: versions
// kept with when, who and why; history and diff; a canary on a sticky
// share of accounts, split in the metrics; a guard rail stopping a
// candidate that declines everything; rollback under load dropping no
// request; the changes refused to a caller without their grant.

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/policy"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// lcHarness is a booted server with clients of both services.
type lcHarness struct {
	b    *booted
	risk riskv1.RiskServiceClient
	pol  riskv1.PolicyServiceClient
}

func startLifecycle(t *testing.T, metrics sdkmetric.Reader, cfg func(*config.Config)) *lcHarness {
	t.Helper()
	b := boot(t, bootOptions{setup: setup{metrics: metrics}, quiet: true, config: cfg})
	conn := b.dial(t)
	return &lcHarness{b: b, risk: riskv1.NewRiskServiceClient(conn), pol: riskv1.NewPolicyServiceClient(conn)}
}

// lcCandidate is the default policy with the refund's review threshold
// lowered and a gift-card rule added: two differences a diff must name.
func lcCandidate(t *testing.T) string {
	t.Helper()
	doc := poReplaceIn(t, string(policy.DefaultBytes()), "refund", "thresholds: {review: 30,", "thresholds: {review: 10,")
	doc, _ = poInsertRule(t, doc, "gift_card_purchase",
		`- {name: new-device-review, when: request.session.new_device, action: review, reason: NEW_DEVICE_REVIEW, message: A new device is held for review.}`)
	return doc
}

func lcPublish(t *testing.T, h *lcHarness, doc, msg string) string {
	t.Helper()
	resp, err := h.pol.PublishPolicy(context.Background(), &riskv1.PublishPolicyRequest{Policy: []byte(doc), Message: msg})
	if err != nil {
		t.Fatalf("PublishPolicy: %v", err)
	}
	if got, want := resp.GetVersion().GetVersion(), poVersion(doc); got != want {
		t.Fatalf("published as %s, want its content hash %s", got, want)
	}
	return resp.GetVersion().GetVersion()
}

// lcOrder is a varied gift-card order of account acct-<name>: amounts,
// cards and checkout times differ with n.
func lcOrder(name string, n int, now time.Time) *riskv1.ScoreGiftCardPurchaseRequest {
	r := poGiftCard(name, now)
	amount := int64(5_000 + (n%17)*3_000)
	r.Total.AmountMinor = amount * int64(1+n%3)
	r.Cards = []*riskv1.GiftCardLine{{FaceValueMinor: amount, Quantity: int32(1 + n%3)}}
	r.Session.NewDevice = n%5 == 0
	r.Session.NewLocation = n%11 == 0
	return r
}

func wantCode(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	if reason == "" {
		return
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == reason {
			return
		}
	}
	t.Fatalf("%s: %v, want reason %s", what, err, reason)
}

func TestPolicyVersionsHistoryDiffAndRollbackUnderLoad(t *testing.T) {
	h := startLifecycle(t, nil, nil)
	ctx := context.Background()
	v0 := poVersion(string(policy.DefaultBytes()))
	if got := lcStatus(t, h).GetVersion(); got != v0 {
		t.Fatalf("in force at start: %s, want the default %s", got, v0)
	}

	// A broken candidate is refused with its line; nothing is kept.
	broken, line := poInsertRule(t, string(policy.DefaultBytes()), "refund", `- {name: broken, when: "request.nope > 1", action: review, reason: BROKEN, message: M.}`)
	_, err := h.pol.PublishPolicy(ctx, &riskv1.PublishPolicyRequest{Policy: []byte(broken)})
	wantCode(t, "a broken policy", err, codes.InvalidArgument, "")
	if !strings.Contains(status.Convert(err).Message(), fmt.Sprintf(":%d:", line)) {
		t.Fatalf("refusal %q does not name line %d", status.Convert(err).Message(), line)
	}

	doc := lcCandidate(t)
	v1 := lcPublish(t, h, doc, "refunds: review from 30")
	// Publishing keeps it: it does not decide.
	if d := poDecide(t, &harness{client: h.risk}, poGiftCard("before", time.Now())); d.GetPolicyVersion() != v0 || d.GetCanary() {
		t.Fatalf("after publishing, decided by %s (canary %v), want %s", d.GetPolicyVersion(), d.GetCanary(), v0)
	}

	diff, err := h.pol.DiffPolicyVersions(ctx, &riskv1.DiffPolicyVersionsRequest{From: v0, To: v1})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range diff.GetDifferences() {
		got = append(got, fmt.Sprintf("%s %s %s %s %v", d.GetCheck(), d.GetKind(), d.GetName(), d.GetChange(), d.GetDetails()))
	}
	want := []string{
		"gift_card_purchase rule new-device-review added [when: request.session.new_device action: review score: 0 reason: NEW_DEVICE_REVIEW message: A new device is held for review. shadow: false]",
		"refund threshold review changed [30 -> 10]",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("diff:\n got  %q\n want %q", got, want)
	}
	same, err := h.pol.DiffPolicyVersions(ctx, &riskv1.DiffPolicyVersionsRequest{From: v1, To: v1})
	if err != nil || len(same.GetDifferences()) != 0 {
		t.Fatalf("a version against itself: %v, %v", same.GetDifferences(), err)
	}
	_, err = h.pol.DiffPolicyVersions(ctx, &riskv1.DiffPolicyVersionsRequest{From: v0, To: "sha256:" + strings.Repeat("0", 64)})
	wantCode(t, "diff with an unknown version", err, codes.NotFound, "POLICY_VERSION_NOT_FOUND")

	if _, err := h.pol.PromotePolicy(ctx, &riskv1.PromotePolicyRequest{Version: v1, Message: "go"}); err != nil {
		t.Fatal(err)
	}
	d := poDecide(t, &harness{client: h.risk}, poGiftCard("after-promote", time.Now()))
	if d.GetPolicyVersion() != v1 || d.GetCanary() {
		t.Fatalf("after promotion, decided by %s (canary %v), want %s", d.GetPolicyVersion(), d.GetCanary(), v1)
	}
	// What decided a decision, exactly.
	shown, err := h.pol.GetPolicyVersion(ctx, &riskv1.GetPolicyVersionRequest{DecisionId: d.GetDecisionId()})
	if err != nil {
		t.Fatal(err)
	}
	if string(shown.GetDocument()) != doc || shown.GetVersion().GetKeptBy() != "anonymous" || shown.GetVersion().GetMessage() != "refunds: review from 30" {
		t.Fatalf("the decision's policy: kept by %q (%q), same document %v", shown.GetVersion().GetKeptBy(), shown.GetVersion().GetMessage(), string(shown.GetDocument()) == doc)
	}

	// Rollback under load: calls keep coming on four connections' worth of
	// goroutines; not one may fail, each is decided by one of the two
	// versions, and every call started after the rollback answered is
	// decided by the version put back.
	var (
		stop      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		failures  []error
		decided   atomic.Int64
		rolledAt  atomic.Int64 // UnixNano when RollbackPolicy answered
		lateStale atomic.Int64
	)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				began := time.Now().UnixNano()
				d, err := h.risk.ScoreGiftCardPurchase(ctx, lcOrder(fmt.Sprintf("load-%d-%d", g, i), i, time.Now()))
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
					continue
				}
				decided.Add(1)
				v := d.GetDecision().GetPolicyVersion()
				if v != v0 && v != v1 {
					mu.Lock()
					failures = append(failures, fmt.Errorf("decided by %s", v))
					mu.Unlock()
				}
				if at := rolledAt.Load(); at != 0 && began > at && v != v0 {
					lateStale.Add(1)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	rb, err := h.pol.RollbackPolicy(ctx, &riskv1.RollbackPolicyRequest{Message: "refund reviews doubled"})
	rolledAt.Store(time.Now().UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d calls failed under rollback, e.g. %v", len(failures), failures[0])
	}
	if n := lateStale.Load(); n > 0 {
		t.Fatalf("%d calls started after the rollback answered were decided by the old version", n)
	}
	if decided.Load() < 20 {
		t.Fatalf("only %d decisions under load: not a load", decided.Load())
	}
	if rb.GetState().GetActiveVersion() != v0 || lcStatus(t, h).GetVersion() != v0 {
		t.Fatalf("after rollback: state %v, in force %s; want %s", rb.GetState(), lcStatus(t, h).GetVersion(), v0)
	}
	_, err = h.pol.RollbackPolicy(ctx, &riskv1.RollbackPolicyRequest{Version: v0})
	wantCode(t, "rolling back to the version in force", err, codes.FailedPrecondition, "POLICY_ALREADY_IN_FORCE")

	hist, err := h.pol.ListPolicyVersions(ctx, &riskv1.ListPolicyVersionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, c := range hist.GetChanges() {
		changes = append(changes, fmt.Sprintf("%d %s %s %s %q", c.GetSeq(), c.GetAction(), short8(c.GetVersion()), c.GetBy(), c.GetMessage()))
	}
	wantChanges := []string{
		fmt.Sprintf("3 POLICY_ACTION_ROLLBACK %s anonymous %q", short8(v0), "refund reviews doubled"),
		fmt.Sprintf("2 POLICY_ACTION_PROMOTE %s anonymous %q", short8(v1), "go"),
		fmt.Sprintf("1 POLICY_ACTION_ACTIVATE %s file %q", short8(v0), "first start"),
	}
	if !slices.Equal(changes, wantChanges) {
		t.Fatalf("history:\n got  %q\n want %q", changes, wantChanges)
	}
	var versions []string
	for _, v := range hist.GetVersions() {
		versions = append(versions, short8(v.GetVersion())+" "+v.GetKeptBy()+" "+v.GetSource())
	}
	if want := []string{short8(v1) + " anonymous api", short8(v0) + " file " + policy.DefaultSource}; !slices.Equal(versions, want) {
		t.Fatalf("versions: %q, want %q", versions, want)
	}
}

func short8(v string) string { return v[:len("sha256:")+8] }

func lcStatus(t *testing.T, h *lcHarness) *riskv1.GetPolicyResponse {
	t.Helper()
	resp, err := h.pol.GetPolicy(context.Background(), &riskv1.GetPolicyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// lcDecideAll decides reqs on 4 goroutines, answers in reqs' order.
func lcDecideAll(t *testing.T, h *lcHarness, reqs []*riskv1.ScoreGiftCardPurchaseRequest) []*riskv1.Decision {
	t.Helper()
	out := make([]*riskv1.Decision, len(reqs))
	errs := make([]error, len(reqs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(reqs); i = int(next.Add(1) - 1) {
				resp, err := h.risk.ScoreGiftCardPurchase(context.Background(), reqs[i])
				out[i], errs[i] = resp.GetDecision(), err
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", reqs[i].GetRequestId(), err)
		}
	}
	return out
}

func TestCanaryDecidesAStickyTenPercent(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	h := startLifecycle(t, reader, nil)
	ctx := context.Background()
	v0 := lcStatus(t, h).GetVersion()
	doc, _ := poInsertRule(t, string(policy.DefaultBytes()), "gift_card_purchase",
		`- {name: canary-shadow, when: "true", action: review, reason: CANARY_SHADOW, message: M., shadow: true}`)
	v1 := lcPublish(t, h, doc, "try a shadow rule")
	_, err := h.pol.StartCanary(ctx, &riskv1.StartCanaryRequest{Version: v0, Percent: 10})
	wantCode(t, "a canary of the version in force", err, codes.FailedPrecondition, "POLICY_ALREADY_IN_FORCE")
	if _, err := h.pol.StartCanary(ctx, &riskv1.StartCanaryRequest{Version: v1, Percent: 10, Message: "10%"}); err != nil {
		t.Fatal(err)
	}
	if st := lcStatus(t, h); st.GetCanaryVersion() != v1 || st.GetCanaryPercent() != 10 {
		t.Fatalf("GetPolicy: canary %s at %d%%, want %s at 10%%", st.GetCanaryVersion(), st.GetCanaryPercent(), v1)
	}

	const accounts = 2000
	now := time.Now()
	first := make([]*riskv1.ScoreGiftCardPurchaseRequest, accounts)
	for i := range first {
		first[i] = lcOrder(fmt.Sprintf("canary-%d", i), i, now)
	}
	inCanary := map[string]bool{}
	canaryDecisions := 0
	for i, d := range lcDecideAll(t, h, first) {
		acct := first[i].GetAccountId()
		if d.GetCanary() != (d.GetPolicyVersion() == v1) {
			t.Fatalf("%s: canary %v but decided by %s", acct, d.GetCanary(), d.GetPolicyVersion())
		}
		if d.GetCanary() != hasCode(d, "CANARY_SHADOW") {
			t.Fatalf("%s: canary %v but the candidate's rule fired %v", acct, d.GetCanary(), hasCode(d, "CANARY_SHADOW"))
		}
		inCanary[acct] = d.GetCanary()
		if d.GetCanary() {
			canaryDecisions++
		}
	}
	share := float64(canaryDecisions) / accounts
	t.Logf("canary at 10%%: %d of %d accounts (%.2f%%)", canaryDecisions, accounts, 100*share)
	if math.Abs(share-0.10) > 0.01 {
		t.Fatalf("the canary decided for %.2f%% of accounts, want 10%% within 1 point", 100*share)
	}
	// The same accounts again, other orders: the same side each time.
	again := make([]*riskv1.ScoreGiftCardPurchaseRequest, accounts)
	for i := range again {
		again[i] = lcOrder(fmt.Sprintf("canary-%d", i), i+7, now)
		again[i].RequestId, again[i].OrderId = fmt.Sprintf("again-%d", i), fmt.Sprintf("again-%d", i)
	}
	for i, d := range lcDecideAll(t, h, again) {
		if acct := again[i].GetAccountId(); d.GetCanary() != inCanary[acct] {
			t.Fatalf("%s: canary %v now, %v before: not sticky", acct, d.GetCanary(), inCanary[acct])
		}
	}

	// Metrics split by version and canary.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	byVersion := map[string]int64{}
	for k, n := range counterPoints(t, rm, "riskd.decisions", "check", "outcome", "policy_version", "canary") {
		f := strings.Fields(k)
		byVersion[f[2]+" "+f[3]] += n
	}
	want := map[string]int64{v1 + " true": 2 * int64(canaryDecisions), v0 + " false": 2 * int64(accounts-canaryDecisions)}
	if fmt.Sprint(byVersion) != fmt.Sprint(want) {
		t.Fatalf("riskd.decisions by version: %v, want %v", byVersion, want)
	}

	if _, err := h.pol.StopCanary(ctx, &riskv1.StopCanaryRequest{Message: "enough"}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		r := lcOrder(fmt.Sprintf("canary-%d", i), i+100, now)
		r.RequestId = fmt.Sprintf("stopped-%d", i)
		d := poDecide(t, &harness{client: h.risk}, r)
		if d.GetCanary() || d.GetPolicyVersion() != v0 {
			t.Fatalf("after stop: canary %v, version %s", d.GetCanary(), d.GetPolicyVersion())
		}
	}
	// Stopping again changes nothing and is no error (a second click, a retry).
	again2, err := h.pol.StopCanary(ctx, &riskv1.StopCanaryRequest{})
	if err != nil || again2.GetState().GetCandidateVersion() != "" {
		t.Fatalf("stopping no canary: %v, %v", again2.GetState(), err)
	}
	_, err = h.pol.PromotePolicy(ctx, &riskv1.PromotePolicyRequest{})
	wantCode(t, "promoting without a canary", err, codes.FailedPrecondition, "NO_CANARY")
}

func TestGuardRailStopsACanaryThatDeclinesEverything(t *testing.T) {
	h := startLifecycle(t, nil, func(c *config.Config) { c.CanaryMinDecisions, c.CanaryMaxShift = 30, 0.05 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.b.srv.RunPolicies(ctx, 20*time.Millisecond)
	now := time.Now()

	// A harmless candidate (a shadow rule) is judged and left running.
	shadow, _ := poInsertRule(t, string(policy.DefaultBytes()), "gift_card_purchase",
		`- {name: harmless, when: "true", action: decline, reason: HARMLESS, message: M., shadow: true}`)
	harmless := lcPublish(t, h, shadow, "harmless")
	if _, err := h.pol.StartCanary(ctx, &riskv1.StartCanaryRequest{Version: harmless, Percent: 50}); err != nil {
		t.Fatal(err)
	}
	reqs := make([]*riskv1.ScoreGiftCardPurchaseRequest, 200)
	for i := range reqs {
		reqs[i] = lcOrder(fmt.Sprintf("guard-ok-%d", i), 1, now) // one shape: same outcome under both
	}
	lcDecideAll(t, h, reqs)
	time.Sleep(100 * time.Millisecond) // several guard ticks
	if st := lcStatus(t, h); st.GetCanaryVersion() != harmless {
		t.Fatalf("a canary deciding like the version in force was stopped (canary now %q)", st.GetCanaryVersion())
	}

	decliner, _ := poInsertRule(t, string(policy.DefaultBytes()), "gift_card_purchase",
		`- {name: decline-all, when: "true", action: decline, reason: DECLINE_ALL, message: M.}`)
	bad := lcPublish(t, h, decliner, "declines everything")
	if _, err := h.pol.StartCanary(ctx, &riskv1.StartCanaryRequest{Version: bad, Percent: 50, Message: "oops"}); err != nil {
		t.Fatal(err)
	}
	declined := 0
	stopped := false
	for i := 0; i < 1000 && !stopped; i += 20 {
		batch := make([]*riskv1.ScoreGiftCardPurchaseRequest, 20)
		for j := range batch {
			batch[j] = lcOrder(fmt.Sprintf("guard-%d", i+j), 1, now)
		}
		for _, d := range lcDecideAll(t, h, batch) {
			if d.GetOutcome() == riskv1.Outcome_OUTCOME_DECLINE {
				declined++
			}
		}
		time.Sleep(30 * time.Millisecond)
		stopped = lcStatus(t, h).GetCanaryVersion() == ""
	}
	if !stopped {
		t.Fatalf("the guard rail did not stop a canary that declined %d orders", declined)
	}
	hist, err := h.pol.ListPolicyVersions(ctx, &riskv1.ListPolicyVersionsRequest{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	last := hist.GetChanges()[0]
	if last.GetAction() != riskv1.PolicyAction_POLICY_ACTION_GUARD_STOP || last.GetBy() != "guard" || last.GetVersion() != bad ||
		!strings.Contains(last.GetMessage(), "decline rate 100.0%") {
		t.Fatalf("the last change: %v", last)
	}
	t.Logf("stopped after %d declines: %s", declined, last.GetMessage())
	after := make([]*riskv1.ScoreGiftCardPurchaseRequest, 20)
	for i := range after {
		after[i] = lcOrder(fmt.Sprintf("guard-after-%d", i), 1, now)
	}
	for _, d := range lcDecideAll(t, h, after) {
		if d.GetCanary() || hasCode(d, "DECLINE_ALL") {
			t.Fatalf("after the guard rail: canary %v, codes %v", d.GetCanary(), codes_(d))
		}
	}
}

func TestPolicyChangesNeedTheirGrant(t *testing.T) {
	const viewerToken, leadToken = "viewer-token-0123456789abcdef", "lead-token-0123456789abcdefgh"
	h := startSecure(t, withCallers(
		auth.Caller{Name: "viewer", TokenSHA256: auth.HashToken(viewerToken),
			Grants: []string{"/risk.v1.PolicyService/GetPolicy", "/risk.v1.PolicyService/ListPolicyVersions"}},
		auth.Caller{Name: "lead", TokenSHA256: auth.HashToken(leadToken), Grants: []string{"/risk.v1.PolicyService/*"}},
	))
	c := riskv1.NewPolicyServiceClient(h.dial(t, nil))
	ctx := context.Background()
	doc := lcCandidate(t)
	_, err := c.PublishPolicy(bearer(ctx, viewerToken), &riskv1.PublishPolicyRequest{Policy: []byte(doc)})
	wantCode(t, "viewer publishing", err, codes.PermissionDenied, "")
	pub, err := c.PublishPolicy(bearer(ctx, leadToken), &riskv1.PublishPolicyRequest{Policy: []byte(doc), Message: "lead's"})
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func(context.Context) error{
		"StartCanary": func(ctx context.Context) error {
			_, err := c.StartCanary(ctx, &riskv1.StartCanaryRequest{Version: pub.GetVersion().GetVersion(), Percent: 5})
			return err
		},
		"PromotePolicy": func(ctx context.Context) error {
			_, err := c.PromotePolicy(ctx, &riskv1.PromotePolicyRequest{Version: pub.GetVersion().GetVersion()})
			return err
		},
		"RollbackPolicy": func(ctx context.Context) error {
			_, err := c.RollbackPolicy(ctx, &riskv1.RollbackPolicyRequest{})
			return err
		},
		"StopCanary": func(ctx context.Context) error { _, err := c.StopCanary(ctx, &riskv1.StopCanaryRequest{}); return err },
		"GetPolicyVersion": func(ctx context.Context) error {
			_, err := c.GetPolicyVersion(ctx, &riskv1.GetPolicyVersionRequest{Version: pub.GetVersion().GetVersion()})
			return err
		},
		"DiffPolicyVersions": func(ctx context.Context) error {
			v := pub.GetVersion().GetVersion()
			_, err := c.DiffPolicyVersions(ctx, &riskv1.DiffPolicyVersionsRequest{From: v, To: v})
			return err
		},
	} {
		wantCode(t, "viewer calling "+name, call(bearer(ctx, viewerToken)), codes.PermissionDenied, "")
	}
	if _, err := c.ListPolicyVersions(bearer(ctx, viewerToken), &riskv1.ListPolicyVersionsRequest{}); err != nil {
		t.Fatalf("viewer listing: %v", err)
	}
	st, err := c.PromotePolicy(bearer(ctx, leadToken), &riskv1.PromotePolicyRequest{Version: pub.GetVersion().GetVersion(), Message: "ship"})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := c.ListPolicyVersions(bearer(ctx, viewerToken), &riskv1.ListPolicyVersionsRequest{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if by := hist.GetChanges()[0].GetBy(); by != "lead" || st.GetState().GetActiveVersion() != pub.GetVersion().GetVersion() {
		t.Fatalf("promotion recorded by %q, state %v", by, st.GetState())
	}
	if kept := hist.GetVersions()[0]; kept.GetKeptBy() != "lead" || kept.GetMessage() != "lead's" {
		t.Fatalf("published version kept by %q (%q)", kept.GetKeptBy(), kept.GetMessage())
	}
}
