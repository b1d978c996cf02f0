package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/policy"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// fuzzSeeds are small documents, valid and broken, that steer the fuzzer
// towards the parts of a policy: checks, verifiers, rules and their CEL.
var fuzzSeeds = []string{
	`checks:
  seller: {thresholds: {review: 30, decline: 70}}
  gift_card_purchase: {thresholds: {review: 30, decline: 70}}
  refund: {thresholds: {review: 30, decline: 70}}
`,
	`checks:
  seller:
    thresholds: {review: 40, decline: 80}
    actions: {review: [MANUAL_REVIEW], decline: [REQUEST_DOCUMENTS]}
    verifiers:
      - {name: identity, budget: 50ms, on_failure: review}
      - {name: license, budget: 1s, on_failure: ignore}
    rules:
      - {name: r1, when: "'ID_NUMBER_INVALID' in findings", action: decline, reason: ID_NUMBER_INVALID, message: Bad.}
      - {name: r2, when: "signals['identity.age'] < 18", score: 20, reason: YOUNG, message: Young., shadow: true}
      - {name: r3, when: "verifiers['license'] == 'timed_out' && request.contact.address == ''", action: review, reason: THIN, message: Thin.}
  gift_card_purchase:
    thresholds: {review: 30, decline: 70}
    rules:
      - {name: g1, when: "now - request.payment.credit_drawn_at < duration('24h')", score: 30, reason: FRESH, message: Fresh.}
      - {name: g2, when: "request.total.amount_minor > 5 * request.caller_history.typical_order_value.amount_minor", action: approve, reason: BIG, message: Big.}
  refund:
    thresholds: {review: 1, decline: 100}
    rules:
      - {name: f1, when: "request.goods_kind == GoodsKind.GOODS_KIND_DIGITAL && math.greatest(1, 2) == 2", score: -100, reason: DIGITAL, message: Digital.}
      - {name: f2, when: "[1, 2, 3].all(x, x > 0) && 'abc'.trim() == 'abc'", score: 100, reason: LOOP, message: Loop.}
`,
	"",
	"checks: {}",
	"checks:\n  seller: {thresholds: {review: 90, decline: 10}}",
	"checks:\n  seller: {thresholds: {review: 30, decline: 70}, shadow: true}",
	"checks:\n  bogus: {thresholds: {review: 30, decline: 70}}",
	"checks:\n  seller:\n    thresholds: {review: 30, decline: 70}\n    verifiers: [{name: ghost, budget: 1s, on_failure: ignore}]",
	"checks:\n  seller:\n    thresholds: {review: 30, decline: 70}\n    verifiers: [{name: identity, budget: 0s, on_failure: ignore}]",
	"checks:\n  seller:\n    thresholds: {review: 30, decline: 70}\n    rules: [{name: r, when: 'request.nope', reason: RR, message: m}]",
	"checks:\n  seller:\n    thresholds: {review: 30, decline: 70}\n    rules: [{name: r, when: '1 + ', reason: RR, message: m}]",
	"checks:\n  seller:\n    thresholds: {review: 30, decline: 70}\n    rules: [{name: r, when: '42', reason: RR, message: m}]",
	"checks:\n  seller:\n    thresholds: {review: 30, decline: 70}\n    verifiers:\n      - {name: license, budget: 50ms, on_failure: review}\n      - {name: links, budget: 50ms, on_failure: review, after: [license], when: \"signals['license.valid'] == true\"}\n      - {name: contact, budget: 50ms, on_failure: review, after: [links, license]}",
	"checks:\n  seller:\n    thresholds: {review: 30, decline: 70}\n    verifiers:\n      - {name: license, budget: 50ms, on_failure: review, after: [links]}\n      - {name: links, budget: 50ms, on_failure: review, after: [license]}",
	"checks:\n  refund:\n    thresholds: {review: 30, decline: 70}\n    verifiers:\n      - name: returns\n        budget: 50ms\n        on_failure: ignore\n        settings:\n          weight_tolerance:\n            default: {percent: 5, grams: 30}\n            packaging_grams: 100\n            categories: {electronics: {percent: 4, grams: 20}, Electronics/Phone: {percent: 2, grams: 10}}",
	"checks: &a [*a]",
	"checks:\n\tseller: x",
	"- just\n- a list",
	"checks: {seller: {thresholds: {review: 30, decline: 70}}}\n---\nchecks: {}",
	"checks: {seller: {thresholds: {review: 30, decline: 70}}, gift_card_purchase: {thresholds: {review: 30, decline: 70}}, refund: {thresholds: {review: 30, decline: 70}}}\n---\nchecks: [not, a, policy]",
}

// FuzzLoad: Load never panics and fails only with a *policy.Error; a policy
// it accepts decides an empty request of every check without panicking,
// whether its verifiers answered or not.
func FuzzLoad(f *testing.F) {
	f.Add(policy.DefaultBytes())
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	known := map[string]bool{"identity": true, "license": true, "contact": true, "links": true, "lists": true, "velocity": true, "spending": true, "returns": true}
	empty := map[riskv1.Check]proto.Message{
		riskv1.Check_CHECK_SELLER:             &riskv1.CheckSellerRequest{},
		riskv1.Check_CHECK_GIFT_CARD_PURCHASE: &riskv1.ScoreGiftCardPurchaseRequest{},
		riskv1.Check_CHECK_REFUND:             &riskv1.EvaluateRefundRequest{},
	}
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := policy.Load(doc, "fuzz.yaml", known)
		if err != nil {
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %q is not a *policy.Error", err, err)
			}
			if p != nil {
				t.Fatal("Load returned a policy and an error")
			}
			if pe.Source != "fuzz.yaml" || pe.Line < 0 || !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q does not name its source and line", err)
			}
			return
		}
		if p == nil || !strings.HasPrefix(p.Version, "sha256:") {
			t.Fatalf("Load returned policy %v and no error", p)
		}
		for check, req := range empty {
			cp := p.Check(check)
			if cp == nil {
				t.Fatalf("loaded policy has no %s", check)
			}
			for _, status := range []policy.Status{policy.StatusOK, policy.StatusFailed, policy.StatusTimedOut} {
				runs := make([]policy.VerifierRun, len(cp.Verifiers))
				for i, spec := range cp.Verifiers {
					runs[i] = policy.VerifierRun{Spec: spec, Status: status}
				}
				for i, spec := range cp.Verifiers {
					if spec.Deps() != nil {
						cp.ShouldRun(i, req, now, runs) // must not panic, whatever it decides
					}
				}
				v := cp.Evaluate(policy.Facts{Request: req, Now: now, Runs: runs})
				if v.Score < 0 || v.Score > 100 {
					t.Fatalf("%s: score %d outside 0..100", check, v.Score)
				}
				switch v.Outcome {
				case riskv1.Outcome_OUTCOME_APPROVE, riskv1.Outcome_OUTCOME_REVIEW, riskv1.Outcome_OUTCOME_DECLINE:
				default:
					t.Fatalf("%s: outcome %s", check, v.Outcome)
				}
			}
		}
	})
}
