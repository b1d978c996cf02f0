package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/testproc"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/reflection/grpc_reflection_v1"
)

func binary(t *testing.T) string { return testproc.Build(t, "./cmd/riskd") }

// startBinary starts riskd on a free loopback port and, unless args name
// one, a fresh data directory.
func startBinary(t *testing.T, args ...string) *testproc.Process {
	t.Helper()
	base := []string{"--listen", "127.0.0.1:0"}
	if !strings.Contains(strings.Join(args, " "), "--data-dir") {
		base = append(base, "--data-dir", t.TempDir())
	}
	return testproc.Start(t, binary(t), append(base, args...), "riskd ready")
}

func TestBinaryServesAndStopsInOrder(t *testing.T) {
	p := startBinary(t, "--log-level", "debug")
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Reflection lists the service, as grpcurl needs.
	stream, err := grpc_reflection_v1.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&grpc_reflection_v1.ServerReflectionRequest{
		MessageRequest: &grpc_reflection_v1.ServerReflectionRequest_ListServices{ListServices: ""},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var listed bool
	for _, s := range resp.GetListServicesResponse().GetService() {
		listed = listed || s.GetName() == "risk.v1.RiskService"
	}
	if !listed {
		t.Fatalf("reflection does not list risk.v1.RiskService: %v", resp)
	}

	refund := &riskv1.EvaluateRefundRequest{
		RequestId: "r1", OrderId: "o1", BuyerAccountId: "b1", SellerId: "s1",
		Client:          &riskv1.Client{DeviceId: "d1", IpAddress: "127.0.0.1"},
		AmountRequested: &riskv1.Money{AmountMinor: 300, Currency: "CNY"},
		AmountPaid:      &riskv1.Money{AmountMinor: 200, Currency: "CNY"},
		GoodsKind:       riskv1.GoodsKind_GOODS_KIND_PHYSICAL,
		Destination:     &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD},
	}
	r, err := riskv1.NewRiskServiceClient(conn).EvaluateRefund(ctx, refund)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetDecision().GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE {
		t.Fatalf("got %v", r.GetDecision())
	}

	// `riskd health` agrees.
	bin := binary(t)
	if out, err := exec.Command(bin, "health", "--addr", p.Addr).CombinedOutput(); err != nil {
		t.Fatalf("riskd health: %v %s", err, out)
	}

	p.Stop(t)
	msgs := strings.Join(p.Messages(), " | ")
	if !strings.Contains(msgs, "draining: health is NOT_SERVING; calls are still served for the drain delay, so load balancers stop sending them | "+
		"drain delay over: no new calls; calls in flight finish within the shutdown timeout | stopped") {
		t.Fatalf("shutdown did not log in order: %s", msgs)
	}
	// The call above was logged with its trace ID (at debug, which this
	// riskd runs at).
	var logged bool
	for _, l := range p.Logs() {
		if l["grpc.method"] == "EvaluateRefund" {
			_, logged = l["trace_id"].(string)
		}
	}
	if !logged {
		t.Errorf("no call log line with a trace_id: %v", p.Logs())
	}

	// And once stopped, health says so with a non-zero exit.
	if err := exec.Command(bin, "health", "--addr", p.Addr, "--timeout", "1s").Run(); err == nil {
		t.Fatal("riskd health passed against a stopped server")
	}
}

func TestBinaryRefusesBadStart(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	badPolicy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(badPolicy, []byte("checks:\n  seller:\n    thresholds: {review: 10, decline: 20}\n    rules:\n      - name: x\n        when: request.nope\n        reason: X_Y\n        message: m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad listen", []string{"--listen", "nowhere"}, "config: listen:"},
		{"bad log level", []string{"--log-level", "loud"}, "config: log-level:"},
		{"missing policy", []string{"--policy", filepath.Join(dir, "none.yaml")}, "config: policy:"},
		{"bad policy", []string{"--policy", badPolicy}, badPolicy + ":"},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"--data-dir", dir}, tc.args...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil {
				t.Fatal("riskd started")
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q does not say %q", stderr.String(), tc.want)
			}
		})
	}
}

// Guards (issue 18, item 6): an identifier key others can read is named
// in a start-up warning: given on the command line (ps shows it), or in a
// key file readable by group or others. Given through the environment, or
// in a private file, there is no warning.
func TestStartWarnsOfAnExposedKey(t *testing.T) {
	warned := func(p *testproc.Process, field string) bool {
		for _, l := range p.Logs() {
			if l["level"] == "WARN" && l["field"] == field {
				return true
			}
		}
		return false
	}
	key := strings.Repeat("ab", 32)
	p := startBinary(t, "--identifier-key", key)
	if !warned(p, "identifier-key") {
		t.Error("a key on the command line gave no warning naming identifier-key")
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, pseudonym.KeyFileName), []byte(key+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p = startBinary(t, "--data-dir", dir)
	if !warned(p, "identifier key file") {
		t.Error("a key file readable by others gave no warning naming it")
	}
	if warned(p, "identifier-key") {
		t.Error("a key from a file was reported as given on the command line")
	}

	private := t.TempDir()
	if err := os.WriteFile(filepath.Join(private, pseudonym.KeyFileName), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p = startBinary(t, "--data-dir", private)
	if warned(p, "identifier key file") || warned(p, "identifier-key") {
		t.Error("a private key file gave a warning")
	}
}
