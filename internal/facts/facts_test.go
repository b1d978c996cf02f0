package facts_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/facts"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/replay"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Guards: every kind of signal value a verifier may give comes back from
// the logged facts as the same Go value, so a rule reads on replay what it
// read live (a time as a time, not as its text).
func TestSignalsRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC)
	in := map[string]any{
		"v.bool": true, "v.false": false, "v.int64": int64(-7), "v.max": int64(1<<63 - 1),
		"v.float": 2.5, "v.string": "ok", "v.empty": "", "v.time": at,
	}
	wire := facts.Signals(in)
	runs := []policy.VerifierRun{{Spec: policy.VerifierSpec{Name: "v"}, Status: policy.StatusOK,
		Result: verifier.Result{Signals: in, Findings: []verifier.Finding{{Code: "V_FOUND", Score: 12, Message: "found"}}}}}
	req := &riskv1.ScoreGiftCardPurchaseRequest{AccountId: "acct-1"}
	b, err := proto.Marshal(facts.Of(req, runs, [][]*riskv1.Signal{wire}, []policy.FiredRule{{Name: "r1"}}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := facts.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	run, ok := got.Verifiers["v"]
	if !ok || run.Status != policy.StatusOK {
		t.Fatalf("verifier v: %+v, %v", run, ok)
	}
	for name, want := range in {
		g := run.Result.Signals[name]
		if wt, ok := want.(time.Time); ok {
			if gt, ok := g.(time.Time); !ok || !gt.Equal(wt) {
				t.Errorf("%s = %v (%T), want the time %v", name, g, g, wt)
			}
			continue
		}
		if g != want {
			t.Errorf("%s = %v (%T), want %v (%T)", name, g, g, want, want)
		}
	}
	if len(run.Result.Signals) != len(in) {
		t.Errorf("%d signals back, want %d", len(run.Result.Signals), len(in))
	}
	if len(run.Result.Findings) != 1 || run.Result.Findings[0].Code != "V_FOUND" || run.Result.Findings[0].Score != 12 {
		t.Errorf("findings %+v", run.Result.Findings)
	}
	if !slices.Equal(got.FiredRules, []string{"r1"}) {
		t.Errorf("fired %v", got.FiredRules)
	}
	// The request comes back as its own type, redacted: no raw account ID.
	if r, ok := got.Request.(*riskv1.ScoreGiftCardPurchaseRequest); !ok || r.GetAccountId() == "acct-1" {
		t.Errorf("request %T %v, want the redacted gift-card request", got.Request, got.Request)
	}
	// An int is an int64 on the way back; anything unknown is its text.
	if v := facts.Value(facts.Signals(map[string]any{"i": 3})[0]); v != int64(3) {
		t.Errorf("int 3 came back as %v (%T)", v, v)
	}
	if v := facts.Value(facts.Signals(map[string]any{"d": time.Second})[0]); v != "1s" {
		t.Errorf("a duration came back as %v (%T), want its text", v, v)
	}
}

// Guards: facts that cannot be read are an error, never a half decision.
func TestDecodeRefusesDamage(t *testing.T) {
	good, err := proto.Marshal(facts.Of(&riskv1.EvaluateRefundRequest{}, nil, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	badStatus, err := proto.Marshal(&riskv1.DecisionFacts{Request: mustDecode(t, good).Request, Verifiers: []*riskv1.VerifierFacts{{Name: "v", Status: 99}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"garbage": {0xff, 0x01}, "no request": {}, "unknown status": badStatus} {
		if _, err := facts.Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func mustDecode(t *testing.T, b []byte) *riskv1.DecisionFacts {
	t.Helper()
	var f riskv1.DecisionFacts
	if err := proto.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// randomVerifier gives random signals of every kind, a time among them,
// and sometimes a finding or a failure: what a remote verifier can send.
type randomVerifier struct{ seed uint64 }

func (v randomVerifier) Verify(_ context.Context, in verifier.Input) (verifier.Result, error) {
	r := rand.New(rand.NewPCG(v.seed, uint64(len(in.DecisionID))+uint64(in.Now.UnixNano())))
	if r.IntN(10) == 0 {
		return verifier.Result{}, fmt.Errorf("unavailable")
	}
	res := verifier.Result{Signals: map[string]any{
		"v.n":          r.Int64N(20),
		"v.flag":       r.IntN(2) == 0,
		"v.ratio":      r.Float64(),
		"v.status":     []string{"active", "revoked", ""}[r.IntN(3)],
		"v.registered": in.Now.Add(-time.Duration(r.IntN(72)) * time.Hour),
	}}
	if r.IntN(3) == 0 {
		res.Findings = append(res.Findings, verifier.Finding{Code: "V_FOUND", Score: r.IntN(50), Message: "found"})
	}
	return res, nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const propertyPolicy = `checks:
  gift_card_purchase:
    thresholds: {review: 30, decline: 70}
    verifiers:
      - {name: v, budget: 1s, on_failure: review}
    rules:
      - {name: fresh, when: "'v.registered' in signals && signals['v.registered'] > now - duration('24h')", score: 30, reason: FRESH, message: Fresh.}
      - {name: many, when: "'v.n' in signals && signals['v.n'] > 12", score: 25, reason: MANY, message: Many.}
      - {name: flag, when: "'v.flag' in signals && signals['v.flag'] && signals['v.ratio'] > 0.5", action: review, reason: FLAG, message: Flag.}
      - {name: revoked, when: "'v.status' in signals && signals['v.status'] == 'revoked'", action: decline, reason: REVOKED, message: Revoked.}
      - {name: new-device, when: request.session.new_device, score: 15, reason: NEW_DEVICE, message: New device.}
      - {name: big, when: request.total.amount_minor > 500000, score: 20, reason: BIG, message: Big.}
  seller:
    thresholds: {review: 30, decline: 70}
  refund:
    thresholds: {review: 30, decline: 70}
`

// Guards (property): replaying a decision's logged facts under the policy
// that made it gives the decision it got live, with the same rules fired,
// for random requests and random verifier answers of every signal kind.
func TestReplayEqualsLive(t *testing.T) {
	reg := verifier.Registry{}
	pol, err := policy.Load([]byte(propertyPolicy), "property.yaml", map[string]bool{"v": true})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		now := base.Add(time.Duration(r.IntN(1_000_000)) * time.Second)
		reg["v"] = randomVerifier{seed: r.Uint64()}
		e, err := engine.New(engine.Options{Policy: pol, Verifiers: reg, Clock: func() time.Time { return now }, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		req := &riskv1.ScoreGiftCardPurchaseRequest{
			RequestId: fmt.Sprintf("r%d", i), AccountId: fmt.Sprintf("a%d", i),
			Total:   &riskv1.Money{AmountMinor: r.Int64N(1_000_000), Currency: "CNY"},
			Session: &riskv1.SessionFacts{NewDevice: r.IntN(2) == 0, DeviceFirstSeenAt: timestamppb.New(now.Add(-time.Hour))},
		}
		live, err := e.DecideWithFacts(context.Background(), riskv1.Check_CHECK_GIFT_CARD_PURCHASE, req.RequestId, req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := proto.Marshal(live.Facts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := replay.Evaluate(pol, live.Decision, b)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got.Candidate != live.Decision.GetOutcome() || len(got.NewRules) != 0 {
			t.Fatalf("request %d: live %s (fired %v), replayed %s (newly fired %v)", i,
				live.Decision.GetOutcome(), live.Facts.GetFiredRules(), got.Candidate, got.NewRules)
		}
	}
}
