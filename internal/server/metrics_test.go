package server_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// metricsPolicy decides sellers on their contact details alone (no
// verifiers, so nothing but the rules moves the outcome) and shadows a
// decline of every refund. divides-by-zero compiles but fails to evaluate
// on every seller decision; on_rule_error: ignore keeps it from sending every
// seller to review, so the outcomes below are the other rules' alone.
const metricsPolicy = `
checks:
  seller:
    thresholds: {review: 40, decline: 80}
    on_rule_error: ignore
    rules:
      - {name: no-landline, when: "request.contact.landline == ''", score: 50, reason: NO_LANDLINE, message: M.}
      - {name: has-mobile, when: "request.contact.mobile != ''", shadow: true, score: 10, reason: HAS_MOBILE, message: M.}
      - {name: banned-seller, when: "request.seller_id == 'seller-banned'", action: decline, reason: BANNED, message: M.}
      - {name: divides-by-zero, when: "request.seller_id.size() / (request.seller_id.size() - request.seller_id.size()) > 0", reason: NEVER, message: M.}
  gift_card_purchase:
    thresholds: {review: 40, decline: 80}
  refund:
    thresholds: {review: 40, decline: 80}
    rules:
      - {name: decline-every-refund, when: "true", action: decline, shadow: true, reason: WOULD_DECLINE, message: M.}
`

// TestPolicyMetricsCountRuleHitsAndErrors makes real calls through the real
// server and reads riskd.policy.rule_hits and riskd.policy.rule_errors back:
// one count per decision made for each rule that fired, by rule, check,
// the decision's outcome and shadow; none for a replay or a refused call.
func TestPolicyMetricsCountRuleHitsAndErrors(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	h := start(t, setup{policyYAML: metricsPolicy, metrics: reader})
	ctx := context.Background()

	seller := func(id string, edit func(*riskv1.CheckSellerRequest)) *riskv1.CheckSellerRequest {
		r := cleanSeller()
		r.RequestId = id
		edit(r)
		return r
	}
	noLandline := func(r *riskv1.CheckSellerRequest) { r.Contact.Landline = "" }
	calls := []struct {
		req     *riskv1.CheckSellerRequest
		outcome riskv1.Outcome
	}{
		{seller("m-clean", func(*riskv1.CheckSellerRequest) {}), riskv1.Outcome_OUTCOME_APPROVE},
		{seller("m-thin-1", noLandline), riskv1.Outcome_OUTCOME_REVIEW},
		{seller("m-thin-2", noLandline), riskv1.Outcome_OUTCOME_REVIEW},
		{seller("m-banned", func(r *riskv1.CheckSellerRequest) { noLandline(r); r.SellerId = "seller-banned" }), riskv1.Outcome_OUTCOME_DECLINE},
		// A replay gets the stored decision: nothing is decided, nothing counted.
		{seller("m-clean", func(*riskv1.CheckSellerRequest) {}), riskv1.Outcome_OUTCOME_APPROVE},
	}
	for _, c := range calls {
		resp, err := h.client.CheckSeller(ctx, c.req)
		if err != nil {
			t.Fatalf("%s: %v", c.req.GetRequestId(), err)
		}
		if got := resp.GetDecision().GetOutcome(); got != c.outcome {
			t.Fatalf("%s: %s %v, want %s", c.req.GetRequestId(), got, codes_(resp.GetDecision()), c.outcome)
		}
	}
	// Refused by validation: never reaches the policy.
	bad := seller("m-invalid", noLandline)
	bad.Contact.Email = "nope"
	if _, err := h.client.CheckSeller(ctx, bad); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("invalid seller: %v, want INVALID_ARGUMENT", err)
	}
	refund := overPaidRefund()
	refund.AmountRequested.AmountMinor = refund.GetAmountPaid().GetAmountMinor()
	resp, err := h.client.EvaluateRefund(ctx, refund)
	if err != nil {
		t.Fatal(err)
	}
	if d := resp.GetDecision(); d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE || !hasCode(d, "WOULD_DECLINE") {
		t.Fatalf("refund: %s %v, want APPROVE with the shadow WOULD_DECLINE", d.GetOutcome(), codes_(d))
	}

	v := resp.GetDecision().GetPolicyVersion() // every decision here is by the one version
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		metric string
		keys   []attribute.Key
		want   map[string]int64
	}{
		{"riskd.policy.rule_hits", []attribute.Key{"rule", "check", "outcome", "shadow", "policy_version", "canary"}, map[string]int64{
			"has-mobile CHECK_SELLER OUTCOME_APPROVE true " + v + " false":           1,
			"no-landline CHECK_SELLER OUTCOME_REVIEW false " + v + " false":          2,
			"has-mobile CHECK_SELLER OUTCOME_REVIEW true " + v + " false":            2,
			"no-landline CHECK_SELLER OUTCOME_DECLINE false " + v + " false":         1,
			"has-mobile CHECK_SELLER OUTCOME_DECLINE true " + v + " false":           1,
			"banned-seller CHECK_SELLER OUTCOME_DECLINE false " + v + " false":       1,
			"decline-every-refund CHECK_REFUND OUTCOME_APPROVE true " + v + " false": 1,
		}},
		{"riskd.policy.rule_errors", []attribute.Key{"rule"}, map[string]int64{
			"divides-by-zero": 4,
		}},
	} {
		got := counterPoints(t, rm, tc.metric, tc.keys...)
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s:\n got  %s\n want %s", tc.metric, showCounts(got), showCounts(tc.want))
		}
	}
}

// counterPoints returns an int64 counter's values keyed by the values of
// keys, in order, which must be the data point's only attributes. A
// metric that was never recorded fails the test.
func counterPoints(t *testing.T, rm metricdata.ResourceMetrics, name string, keys ...attribute.Key) map[string]int64 {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || !sum.IsMonotonic {
				t.Fatalf("%s is %T, want a monotonic int64 counter", name, m.Data)
			}
			out := map[string]int64{}
			for _, dp := range sum.DataPoints {
				if dp.Attributes.Len() != len(keys) {
					t.Fatalf("%s data point has attributes %v, want exactly %v", name, dp.Attributes.ToSlice(), keys)
				}
				parts := make([]string, len(keys))
				for i, k := range keys {
					v, ok := dp.Attributes.Value(k)
					if !ok {
						t.Fatalf("%s data point has attributes %v, want exactly %v", name, dp.Attributes.ToSlice(), keys)
					}
					parts[i] = v.Emit()
				}
				out[strings.Join(parts, " ")] += dp.Value
			}
			return out
		}
	}
	t.Fatalf("no metric %s was recorded", name)
	return nil
}

func showCounts(m map[string]int64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "\n   %s: %d", k, m[k])
	}
	return b.String()
}
