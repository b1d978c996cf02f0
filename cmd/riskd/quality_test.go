package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

const qualityRefunds = `family: test-refunds
cases:
  - name: plain-refund
    label: genuine
    check: refund
    request: &refund
      orderId: o-1
      buyerAccountId: b-1
      sellerId: s-1
      client: {deviceId: d-1, ipAddress: 192.0.2.1}
      amountRequested: {amountMinor: 5000, currency: CNY}
      amountPaid: {amountMinor: 5000, currency: CNY}
      goodsKind: GOODS_KIND_PHYSICAL
      destination: {kind: DESTINATION_KIND_ORIGINAL_METHOD}
  - name: over-paid
    label: fraud
    check: refund
    request:
      orderId: o-2
      buyerAccountId: b-2
      sellerId: s-2
      client: {deviceId: d-2, ipAddress: 192.0.2.2}
      amountRequested: {amountMinor: 9000, currency: CNY}
      amountPaid: {amountMinor: 5000, currency: CNY}
      goodsKind: GOODS_KIND_PHYSICAL
      destination: {kind: DESTINATION_KIND_ORIGINAL_METHOD}
`

// TestQualityCommand runs `riskd quality` as an operator would, with a
// small corpus, against a riskd it starts in-process.
func TestQualityCommand(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "refunds.yaml"), []byte(qualityRefunds), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	var out, errOut bytes.Buffer
	if err := qualityCommand(t.Context(), []string{"--corpus", dir}, noEnv, &out, &errOut); err != nil {
		t.Fatalf("quality: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	for _, want := range []string{"2 cases against riskd started here", "rule:refund-over-paid", "gates: pass"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// A fraud case the policy approves fails the run and is listed.
	bad := qualityRefunds + strings.NewReplacer("name: plain-refund", "name: fraud-passes", "label: genuine", "label: fraud", "o-1", "o-3", "b-1", "b-3", "d-1", "d-3").
		Replace(qualityRefunds[strings.Index(qualityRefunds, "  - name: plain-refund"):strings.Index(qualityRefunds, "  - name: over-paid")])
	if err := os.WriteFile(filepath.Join(dir, "refunds.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := qualityCommand(t.Context(), []string{"--corpus", dir}, noEnv, &out, &errOut)
	if err == nil || !strings.Contains(out.String(), "refunds.yaml: fraud-passes [refund, fraud]: fraud approved") ||
		!strings.Contains(out.String(), "APPROVE score 0") {
		t.Errorf("quality with an approved fraud case = %v:\n%s", err, out.String())
	}
}

// TestQualityFromLog reads the decision log a real riskd left behind.
func TestQualityFromLog(t *testing.T) {
	dataDir := t.TempDir()
	p := startBinary(t, "--data-dir", dataDir)
	client := dial(t, p.Addr)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	decide := func(id string, requested int64) string {
		resp, err := client.EvaluateRefund(ctx, &riskv1.EvaluateRefundRequest{
			RequestId: id, OrderId: id, BuyerAccountId: "buyer-" + id, SellerId: "seller-1",
			Client:          &riskv1.Client{DeviceId: "dev-" + id, IpAddress: "192.0.2.9"},
			AmountRequested: &riskv1.Money{AmountMinor: requested, Currency: "CNY"},
			AmountPaid:      &riskv1.Money{AmountMinor: 5000, Currency: "CNY"},
			GoodsKind:       riskv1.GoodsKind_GOODS_KIND_PHYSICAL,
			Destination:     &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetDecision().GetDecisionId()
	}
	report := func(id string, l riskv1.OutcomeLabel) {
		if _, err := client.ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{DecisionId: id, Label: l}); err != nil {
			t.Fatal(err)
		}
	}
	report(decide("r1", 9000), riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED)
	report(decide("r2", 5000), riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE)
	decide("r3", 9000) // no outcome: not counted
	p.Stop(t)

	var out, errOut bytes.Buffer
	if err := qualityCommand(t.Context(), []string{"--from-log", "--since", "1h", "--data-dir", dataDir}, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("quality --from-log: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"outcomes reported in the last 1h0m0s: 2, on 2 decisions", "refund                   2        1      1", "rule:refund-over-paid",
		"by policy version:\npolicy version", "false           2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := qualityCommand(t.Context(), []string{"--from-log", "--data-dir", t.TempDir()}, func(string) string { return "" }, &out, &errOut); err == nil {
		t.Error("quality --from-log on an empty directory succeeded")
	}
}
