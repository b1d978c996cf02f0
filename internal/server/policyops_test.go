package server_test

// Tests of policy operations through the real gRPC client: shadow rules are
// recorded but never enforced; ReplayPolicy says exactly what deciding under
// the candidate would have changed; GetPolicy names the policy in force; a
// broken candidate is refused with its line.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/policy"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// poEpoch is where the injected clocks of these tests start.
var poEpoch = time.Date(2025, 9, 1, 9, 0, 0, 0, time.UTC)

// poClock is a server clock set by the test.
type poClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *poClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *poClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func poVersion(doc string) string {
	sum := sha256.Sum256([]byte(doc))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// poSection returns where check starts in the default policy document.
func poSection(t *testing.T, doc, check string) int {
	t.Helper()
	i := strings.Index(doc, "\n  "+check+":\n")
	if i < 0 {
		t.Fatalf("policy has no %s check", check)
	}
	return i
}

// poInsertRule inserts rule (one flow-style line, without indent) as the
// first rule of check, and returns the document and the rule's 1-based line.
func poInsertRule(t *testing.T, doc, check, rule string) (string, int) {
	t.Helper()
	s := poSection(t, doc, check)
	const rules = "\n    rules:\n"
	j := strings.Index(doc[s:], rules)
	if j < 0 {
		t.Fatalf("%s check has no rules", check)
	}
	at := s + j + len(rules)
	out := doc[:at] + "      " + rule + "\n" + doc[at:]
	if !strings.Contains(out, rule) || len(out) != len(doc)+len(rule)+7 {
		t.Fatal("rule not inserted")
	}
	return out, strings.Count(doc[:at], "\n") + 1
}

// poReplaceIn replaces the one occurrence of old inside check's section.
func poReplaceIn(t *testing.T, doc, check, old, new string) string {
	t.Helper()
	s := poSection(t, doc, check)
	end := len(doc)
	for _, other := range []string{"seller", "gift_card_purchase", "refund"} {
		if i := strings.Index(doc, "\n  "+other+":\n"); i > s && i < end {
			end = i
		}
	}
	if n := strings.Count(doc[s:end], old); n != 1 {
		t.Fatalf("%q occurs %d times in the %s check, want once", old, n, check)
	}
	return doc[:s] + strings.Replace(doc[s:end], old, new, 1) + doc[end:]
}

// poRefund is a clean refund under identifiers of its own.
func poRefund(name string) *riskv1.EvaluateRefundRequest {
	return &riskv1.EvaluateRefundRequest{
		RequestId:       "req-" + name,
		OrderId:         "order-" + name,
		BuyerAccountId:  "buyer-" + name,
		SellerId:        "seller-" + name,
		Client:          &riskv1.Client{DeviceId: "device-" + name, IpAddress: "198.51.100.20"},
		AmountRequested: &riskv1.Money{AmountMinor: 12_900, Currency: "CNY"},
		AmountPaid:      &riskv1.Money{AmountMinor: 12_900, Currency: "CNY"},
		GoodsKind:       riskv1.GoodsKind_GOODS_KIND_PHYSICAL,
		ItemCategory:    "apparel",
		Destination:     &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD},
		BuyerReason:     "does not fit",
	}
}

// poGiftCard is an ordinary 200-yuan gift-card order under identifiers of
// its own: an old account on a known device paying by debit card for a card
// sent to its own long-known address.
func poGiftCard(name string, now time.Time) *riskv1.ScoreGiftCardPurchaseRequest {
	return &riskv1.ScoreGiftCardPurchaseRequest{
		RequestId:        "req-" + name,
		OrderId:          "order-" + name,
		AccountId:        "acct-" + name,
		AccountCreatedAt: timestamppb.New(now.AddDate(-3, 0, 0)),
		Client:           &riskv1.Client{DeviceId: "dev-" + name, IpAddress: "198.51.100.30"},
		Total:            &riskv1.Money{AmountMinor: 20_000, Currency: "CNY"},
		Cards:            []*riskv1.GiftCardLine{{FaceValueMinor: 20_000, Quantity: 1}},
		Payment:          &riskv1.PaymentInstrument{Fingerprint: "fp-" + name, Kind: riskv1.InstrumentKind_INSTRUMENT_KIND_DEBIT_CARD},
		Recipient:        &riskv1.Recipient{Email: name + "@example.com", OwnedByAccount: true, AddedAt: timestamppb.New(now.AddDate(-3, 0, 0))},
		Session: &riskv1.SessionFacts{
			CheckoutDuration:  durationpb.New(45 * time.Second),
			DeviceFirstSeenAt: timestamppb.New(now.AddDate(-1, 0, 0)),
		},
		Brand: "dangdang",
	}
}

func poPolicy(t *testing.T, h *harness) *riskv1.GetPolicyResponse {
	t.Helper()
	resp, err := riskv1.NewPolicyServiceClient(h.conn).GetPolicy(context.Background(), &riskv1.GetPolicyRequest{})
	if err != nil {
		t.Fatalf("GetPolicy: %v", err)
	}
	return resp
}

func poDecide(t *testing.T, h *harness, req proto.Message) *riskv1.Decision {
	t.Helper()
	ctx := context.Background()
	switch r := req.(type) {
	case *riskv1.EvaluateRefundRequest:
		resp, err := h.client.EvaluateRefund(ctx, r)
		if err != nil {
			t.Fatalf("EvaluateRefund %s: %v", r.GetRequestId(), err)
		}
		return resp.GetDecision()
	case *riskv1.ScoreGiftCardPurchaseRequest:
		resp, err := h.client.ScoreGiftCardPurchase(ctx, r)
		if err != nil {
			t.Fatalf("ScoreGiftCardPurchase %s: %v", r.GetRequestId(), err)
		}
		return resp.GetDecision()
	}
	t.Fatalf("unexpected request %T", req)
	return nil
}

// poEnforced are a decision's reason codes that counted.
func poEnforced(d *riskv1.Decision) []string {
	var out []string
	for _, r := range d.GetReasons() {
		if !r.GetShadow() {
			out = append(out, r.GetCode())
		}
	}
	slices.Sort(out)
	return out
}

func TestShadowRuleIsRecordedNotEnforced(t *testing.T) {
	const shadowRule = `- {name: shadow-all, when: "true", action: decline, score: 100, reason: SHADOW_TEST, message: M., shadow: true}`
	doc, _ := poInsertRule(t, string(policy.DefaultBytes()), "refund", shadowRule)
	shadowed := start(t, setup{policyYAML: doc})
	plain := start(t, setup{})

	req := poRefund("shadow-1")
	d := poDecide(t, shadowed, req)
	if d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE || d.GetScore() != 0 {
		t.Errorf("with a shadow decline-everything rule: %s score %d, want APPROVE score 0", d.GetOutcome(), d.GetScore())
	}
	if d.GetPolicyVersion() != poVersion(doc) {
		t.Errorf("decided under %s, want the shadow policy %s", d.GetPolicyVersion(), poVersion(doc))
	}
	var shadow *riskv1.Reason
	for _, r := range d.GetReasons() {
		if r.GetCode() == "SHADOW_TEST" {
			shadow = r
		}
	}
	switch {
	case shadow == nil:
		t.Errorf("no SHADOW_TEST reason in %v", d.GetReasons())
	case !shadow.GetShadow() || shadow.GetScore() != 100:
		t.Errorf("shadow reason: shadow=%v score=%d, want shadow=true score=100", shadow.GetShadow(), shadow.GetScore())
	}

	p := poDecide(t, plain, req)
	if p.GetOutcome() != d.GetOutcome() || p.GetScore() != d.GetScore() {
		t.Errorf("plain default: %s score %d; with shadow rule: %s score %d; want identical",
			p.GetOutcome(), p.GetScore(), d.GetOutcome(), d.GetScore())
	}
	if !slices.Equal(poEnforced(p), poEnforced(d)) || !slices.Equal(p.GetActions(), d.GetActions()) {
		t.Errorf("plain default: reasons %v actions %v; with shadow rule: reasons %v actions %v",
			poEnforced(p), p.GetActions(), poEnforced(d), d.GetActions())
	}
	for _, r := range p.GetReasons() {
		if r.GetShadow() || r.GetCode() == "SHADOW_TEST" {
			t.Errorf("plain default has a shadow reason %v", r)
		}
	}
}

// poCase is one request of the replay test, built at its own time.
type poCase struct {
	at  time.Time
	req proto.Message
}

func poCases() []poCase {
	var out []poCase
	add := func(build func(name string, now time.Time) proto.Message) {
		at := poEpoch.Add(time.Duration(len(out)) * time.Minute)
		out = append(out, poCase{at, build(fmt.Sprintf("po-%02d", len(out)), at)})
	}
	refund := func(mod func(r *riskv1.EvaluateRefundRequest, now time.Time)) {
		add(func(name string, now time.Time) proto.Message {
			r := poRefund(name)
			mod(r, now)
			return r
		})
	}
	giftCard := func(mod func(r *riskv1.ScoreGiftCardPurchaseRequest, now time.Time)) {
		add(func(name string, now time.Time) proto.Message {
			r := poGiftCard(name, now)
			mod(r, now)
			return r
		})
	}
	ago := func(now time.Time, d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-d)) }
	other := func(r *riskv1.EvaluateRefundRequest) {
		r.Destination = &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_OTHER, Fingerprint: "wallet-" + r.GetBuyerAccountId()}
	}
	digital := func(r *riskv1.EvaluateRefundRequest) {
		r.GoodsKind = riskv1.GoodsKind_GOODS_KIND_DIGITAL
		r.ItemCategory = "gift card"
	}

	// Refunds.
	refund(func(*riskv1.EvaluateRefundRequest, time.Time) {})
	refund(func(r *riskv1.EvaluateRefundRequest, _ time.Time) { r.Session = &riskv1.SessionFacts{NewDevice: true} })
	refund(func(r *riskv1.EvaluateRefundRequest, now time.Time) {
		digital(r)
		r.Digital = &riskv1.DigitalDelivery{DeliveredAt: ago(now, time.Hour)}
	})
	refund(func(r *riskv1.EvaluateRefundRequest, _ time.Time) { other(r) })
	refund(func(r *riskv1.EvaluateRefundRequest, _ time.Time) {
		other(r)
		r.Session = &riskv1.SessionFacts{NewDevice: true}
	})
	refund(func(r *riskv1.EvaluateRefundRequest, now time.Time) {
		r.Session = &riskv1.SessionFacts{PasswordChangedAt: ago(now, time.Hour)}
	})
	refund(func(r *riskv1.EvaluateRefundRequest, _ time.Time) { r.AmountRequested.AmountMinor = 20_000 })
	refund(func(r *riskv1.EvaluateRefundRequest, now time.Time) {
		digital(r)
		r.Digital = &riskv1.DigitalDelivery{DeliveredAt: ago(now, 3*time.Hour), RedeemedAt: ago(now, 2*time.Hour)}
	})
	refund(func(r *riskv1.EvaluateRefundRequest, _ time.Time) {
		r.ReturnShipment = &riskv1.ReturnShipment{DeclaredWeightGrams: 1000, MeasuredWeightGrams: 500}
	})
	refund(func(r *riskv1.EvaluateRefundRequest, now time.Time) {
		r.Session = &riskv1.SessionFacts{NewDevice: true, EmailChangedAt: ago(now, 2*time.Hour)}
	})
	refund(func(r *riskv1.EvaluateRefundRequest, now time.Time) {
		r.Session = &riskv1.SessionFacts{PhoneChangedAt: ago(now, 100*time.Hour)} // too long ago to count
	})
	refund(func(r *riskv1.EvaluateRefundRequest, now time.Time) {
		digital(r)
		r.Digital = &riskv1.DigitalDelivery{DeliveredAt: ago(now, time.Hour)}
		r.Session = &riskv1.SessionFacts{NewDevice: true}
	})
	refund(func(r *riskv1.EvaluateRefundRequest, _ time.Time) {
		r.ItemCategory = "phones"
		r.ReturnShipment = &riskv1.ReturnShipment{TrackingMismatch: true}
	})
	refund(func(r *riskv1.EvaluateRefundRequest, _ time.Time) {
		r.Session = &riskv1.SessionFacts{NewDevice: true}
		r.BuyerOrders_90D = 40
	})
	refund(func(r *riskv1.EvaluateRefundRequest, now time.Time) {
		other(r)
		r.Session = &riskv1.SessionFacts{PasswordChangedAt: ago(now, 10*time.Hour)}
	})

	// Gift-card orders.
	giftCard(func(*riskv1.ScoreGiftCardPurchaseRequest, time.Time) {})
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, _ time.Time) { r.Session.NewDevice = true })
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, _ time.Time) { r.Session.ActiveCall = true })
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, _ time.Time) {
		r.Session.ActiveCall = true
		r.Session.NewDevice = true
	})
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, _ time.Time) { r.Session.NewLocation = true })
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, _ time.Time) {
		r.Session.NewDevice = true
		r.Session.NewLocation = true
	})
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, now time.Time) {
		r.Payment.Kind = riskv1.InstrumentKind_INSTRUMENT_KIND_LOAN
		r.Payment.CreditDrawnAt = ago(now, time.Hour)
	})
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, _ time.Time) { r.Session.RemoteAccessApp = true })
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, now time.Time) {
		r.Session.ActiveCall = true
		r.Session.NewDevice = true
		r.Payment.Kind = riskv1.InstrumentKind_INSTRUMENT_KIND_LOAN
		r.Payment.CreditDrawnAt = ago(now, 2*time.Hour)
	})
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, now time.Time) {
		r.Session.NewDevice = true
		r.Recipient.AddedAt = ago(now, 10*time.Minute)
	})
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, _ time.Time) {
		r.Cards = []*riskv1.GiftCardLine{{FaceValueMinor: 100_000, Quantity: 3}}
		r.Total = &riskv1.Money{AmountMinor: 300_000, Currency: "CNY"}
	})
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, _ time.Time) {
		r.Session.CheckoutDuration = durationpb.New(2 * time.Second)
		r.Session.NewDevice = true
	})
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, now time.Time) {
		r.Session.ActiveCall = true
		r.Session.PasswordChangedAt = ago(now, 5*time.Hour)
	})
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, _ time.Time) {
		r.Recipient.OwnedByAccount = false
		r.Session.NewDevice = true
	})
	giftCard(func(r *riskv1.ScoreGiftCardPurchaseRequest, now time.Time) {
		r.Session.DeviceFirstSeenAt = ago(now, time.Hour) // new to the policy, not flagged new by the caller
	})
	return out
}

// poChangeKey is a kind of change: a check and an outcome before and after.
type poChangeKey struct {
	check    riskv1.Check
	from, to riskv1.Outcome
}

func TestReplayEqualsDecidingUnderTheCandidate(t *testing.T) {
	def := string(policy.DefaultBytes())
	candidate := poReplaceIn(t, def, "refund", "thresholds: {review: 30,", "thresholds: {review: 10,")
	candidate, _ = poInsertRule(t, candidate, "gift_card_purchase",
		`- {name: new-device-review, when: request.session.new_device, action: review, reason: NEW_DEVICE_REVIEW, message: A new device is held for review.}`)

	cases := poCases()
	if len(cases) < 30 {
		t.Fatalf("%d cases", len(cases))
	}

	// Decide every request under the default, then under the candidate,
	// each server at the same times.
	run := func(doc string) (*harness, []*riskv1.Decision) {
		c := &poClock{now: poEpoch}
		h := start(t, setup{policyYAML: doc, clock: c.Now})
		var ds []*riskv1.Decision
		for _, tc := range cases {
			c.set(tc.at)
			ds = append(ds, poDecide(t, h, proto.Clone(tc.req)))
		}
		return h, ds
	}
	current, before := run("")
	direct, after := run(candidate)

	wantChanges := map[poChangeKey]int64{}
	wantIDs := map[string]poChangeKey{} // decision ID under the default -> its change
	var table strings.Builder
	for i := range cases {
		b, a := before[i], after[i]
		if b.GetRequestId() != a.GetRequestId() || b.GetCheck() != a.GetCheck() {
			t.Fatalf("case %d: decisions %s/%s and %s/%s do not match", i, b.GetRequestId(), b.GetCheck(), a.GetRequestId(), a.GetCheck())
		}
		if a.GetPolicyVersion() != poVersion(candidate) {
			t.Fatalf("second server decided under %s, want the candidate", a.GetPolicyVersion())
		}
		mark := ""
		if b.GetOutcome() != a.GetOutcome() {
			k := poChangeKey{b.GetCheck(), b.GetOutcome(), a.GetOutcome()}
			wantChanges[k]++
			wantIDs[b.GetDecisionId()] = k
			mark = " *"
		}
		fmt.Fprintf(&table, "%-10s %-28s %-15s %3d -> %-15s %3d%s\n", b.GetRequestId(), b.GetCheck(), b.GetOutcome(), b.GetScore(), a.GetOutcome(), a.GetScore(), mark)
	}
	t.Logf("request    check                        default             candidate\n%s", table.String())
	var unchanged int
	for i := range cases {
		if before[i].GetOutcome() == after[i].GetOutcome() {
			unchanged++
		}
	}
	if len(wantIDs) < 4 || unchanged < 4 {
		t.Fatalf("the cases do not exercise the candidate: %d changed, %d unchanged", len(wantIDs), unchanged)
	}

	resp, err := riskv1.NewPolicyServiceClient(current.conn).ReplayPolicy(context.Background(), &riskv1.ReplayPolicyRequest{
		Policy: []byte(candidate), Since: durationpb.New(24 * time.Hour), Sample: 100,
	})
	if err != nil {
		t.Fatalf("ReplayPolicy: %v", err)
	}
	if resp.GetCandidateVersion() != poVersion(candidate) {
		t.Errorf("candidate version %s, want %s", resp.GetCandidateVersion(), poVersion(candidate))
	}
	if resp.GetDecisions() != int64(len(cases)) || resp.GetSkipped() != 0 {
		t.Errorf("replayed %d, skipped %d; want %d and 0", resp.GetDecisions(), resp.GetSkipped(), len(cases))
	}
	if resp.GetChanged() != int64(len(wantIDs)) {
		t.Errorf("replay says %d would change; deciding under the candidate changed %d", resp.GetChanged(), len(wantIDs))
	}
	gotChanges := map[poChangeKey]int64{}
	gotIDs := map[string]poChangeKey{}
	for _, c := range resp.GetChanges() {
		k := poChangeKey{c.GetCheck(), c.GetFrom(), c.GetTo()}
		if _, dup := gotChanges[k]; dup {
			t.Errorf("change %v listed twice", k)
		}
		gotChanges[k] += c.GetCount()
		if int64(len(c.GetSampleDecisionIds())) != c.GetCount() {
			t.Errorf("change %v: %d samples of %d, asked for up to 100", k, len(c.GetSampleDecisionIds()), c.GetCount())
		}
		for _, id := range c.GetSampleDecisionIds() {
			if _, dup := gotIDs[id]; dup {
				t.Errorf("decision %s sampled twice", id)
			}
			gotIDs[id] = k
		}
	}
	if !maps.Equal(gotChanges, wantChanges) {
		t.Errorf("replay changes %v, want %v", gotChanges, wantChanges)
	}
	byDecision := map[string]string{}
	for _, d := range before {
		byDecision[d.GetDecisionId()] = d.GetRequestId()
	}
	for id, k := range gotIDs {
		if want, ok := wantIDs[id]; !ok {
			t.Errorf("replay samples decision %s (%s) as %v; deciding under the candidate did not change it", id, byDecision[id], k)
		} else if want != k {
			t.Errorf("replay samples decision %s (%s) as %v, want %v", id, byDecision[id], k, want)
		}
	}
	for id, k := range wantIDs {
		if _, ok := gotIDs[id]; !ok {
			t.Errorf("decision %s (%s) changes %v under the candidate; replay does not sample it", id, byDecision[id], k)
		}
	}

	// Replaying put nothing in force.
	if got := poPolicy(t, current).GetVersion(); got != poVersion(def) {
		t.Errorf("after replay the policy in force is %s, want the default", got)
	}
	if got := poPolicy(t, direct).GetVersion(); got != poVersion(candidate) {
		t.Errorf("second server's policy is %s, want the candidate", got)
	}
}

func TestGetPolicyNamesThePolicyInForce(t *testing.T) {
	before := time.Now().Add(-time.Second)
	def := poPolicy(t, start(t, setup{}))
	if def.GetVersion() != poVersion(string(policy.DefaultBytes())) || def.GetSource() != policy.DefaultSource {
		t.Errorf("default: version %s source %q, want %s %q", def.GetVersion(), def.GetSource(), poVersion(string(policy.DefaultBytes())), policy.DefaultSource)
	}
	if at := def.GetLoadedAt().AsTime(); at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("loaded_at %s, want about now", at)
	}

	doc, _ := poInsertRule(t, string(policy.DefaultBytes()), "refund",
		`- {name: extra-rule, when: "false", reason: EXTRA_RULE, message: M.}`)
	h := start(t, setup{policyYAML: doc})
	got := poPolicy(t, h)
	if got.GetVersion() != poVersion(doc) || got.GetSource() != "test.yaml" {
		t.Errorf("test policy: version %s source %q, want %s %q", got.GetVersion(), got.GetSource(), poVersion(doc), "test.yaml")
	}
	if d := poDecide(t, h, poRefund("getpolicy-1")); d.GetPolicyVersion() != got.GetVersion() {
		t.Errorf("decision under %s, GetPolicy says %s", d.GetPolicyVersion(), got.GetVersion())
	}
}

func TestReplayPolicyRefusesBrokenCandidate(t *testing.T) {
	h := start(t, setup{})
	doc, line := poInsertRule(t, string(policy.DefaultBytes()), "refund",
		`- {name: broken-candidate-rule, when: "request.amount_paid.amount_minor >", reason: BROKEN, message: M.}`)
	_, err := riskv1.NewPolicyServiceClient(h.conn).ReplayPolicy(context.Background(), &riskv1.ReplayPolicyRequest{
		Policy: []byte(doc), Since: durationpb.New(time.Hour), Sample: 5,
	})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("got %v, want INVALID_ARGUMENT", err)
	}
	var violation *errdetails.BadRequest_FieldViolation
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				if fv.GetField() == "policy" {
					violation = fv
				}
			}
		}
	}
	if violation == nil {
		t.Fatalf("no field violation on policy: %v", st.Details())
	}
	desc := violation.GetDescription()
	if !strings.Contains(desc, fmt.Sprintf(":%d:", line)) || !strings.Contains(desc, "broken-candidate-rule") {
		t.Errorf("violation %q does not name line %d and rule broken-candidate-rule", desc, line)
	}
}
