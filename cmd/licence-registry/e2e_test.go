package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/testproc"
	"github.com/riskd/riskd/internal/verifier/identity"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

var requestSeq atomic.Int64

// residentID returns the n-th valid resident identity number, its check
// character found by the real parser.
func residentID(t *testing.T, n int64) string {
	body := fmt.Sprintf("11010519800101%03d", n%1000)
	for _, c := range "0123456789X" {
		if _, err := identity.ParseResidentID(body+string(c), time.Now()); err == nil {
			return body + string(c)
		}
	}
	t.Fatalf("no check character for %s", body)
	return ""
}

// sellerWith is a seller with identifiers of its own, so that only what a
// test means to share is shared.
func sellerWith(t *testing.T, uscc, company, rep string) *riskv1.CheckSellerRequest {
	n := requestSeq.Add(1)
	return &riskv1.CheckSellerRequest{
		RequestId: fmt.Sprintf("e2e-%d", n), SellerId: fmt.Sprintf("seller-%d", n),
		Client:   &riskv1.Client{DeviceId: fmt.Sprintf("dev-e2e-%d", n), IpAddress: "127.0.0.1"},
		Identity: &riskv1.IdentityDocument{Type: riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID, Number: residentID(t, n), FullName: rep},
		License:  &riskv1.BusinessLicense{Uscc: uscc, CompanyName: company, LegalRepresentative: rep},
		Contact: &riskv1.Contact{Mobile: fmt.Sprintf("139%08d", n), Landline: fmt.Sprintf("0591-8%07d", n),
			Address: fmt.Sprintf("福建省福州市鼓楼区五四路 %d 号", n)},
		Payout: &riskv1.PayoutAccount{AccountNumber: fmt.Sprintf("622202%013d", n), HolderName: company},
	}
}

type stack struct {
	t        *testing.T
	reg      *testproc.Process
	regBin   string
	regAddr  string
	riskd    *testproc.Process
	client   riskv1.RiskServiceClient
	csv      string
	openFor  time.Duration
	failures int
}

// startStack starts the real licence registry and a real riskd whose
// policy (the example registry policy) points at it.
func startStack(t *testing.T) *stack {
	root := filepath.Join("..", "..")
	s := &stack{t: t, regBin: testproc.Build(t, "./cmd/licence-registry"), csv: filepath.Join(root, "examples", "licence-registry", "licences.csv"),
		openFor: time.Second, failures: 3}
	s.reg = testproc.Start(t, s.regBin, []string{"--data", s.csv, "--listen", "127.0.0.1:0"}, "licence registry ready")
	s.regAddr = s.reg.Addr

	doc, err := os.ReadFile(filepath.Join(root, "examples", "policy-with-registry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	policy := strings.Replace(string(doc), "address: 127.0.0.1:7070\n    plaintext: true\n",
		fmt.Sprintf("address: %s\n    plaintext: true\n    failures_to_open: %d\n    open_for: %s\n", s.regAddr, s.failures, s.openFor), 1)
	if policy == string(doc) {
		t.Fatal("the example policy no longer has the registry address this test replaces")
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	s.riskd = testproc.Start(t, testproc.Build(t, "./cmd/riskd"),
		[]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--policy", path}, "riskd ready")
	conn, err := grpc.NewClient(s.riskd.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s.client = riskv1.NewRiskServiceClient(conn)
	return s
}

// check calls CheckSeller under a 1 s caller deadline; it must answer.
func (s *stack) check(req *riskv1.CheckSellerRequest, traceID string) *riskv1.Decision {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if traceID != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	}
	resp, err := s.client.CheckSeller(ctx, req)
	if err != nil {
		s.t.Fatalf("CheckSeller: %v", err)
	}
	return resp.GetDecision()
}

func reasonCodes(d *riskv1.Decision) map[string]bool {
	out := map[string]bool{}
	for _, r := range d.GetReasons() {
		out[r.GetCode()] = true
	}
	return out
}

func registryResult(d *riskv1.Decision) *riskv1.VerifierResult {
	for _, vr := range d.GetVerifierResults() {
		if vr.GetName() == "licence_registry" {
			return vr
		}
	}
	return nil
}

func signalValue(d *riskv1.Decision, name string) string {
	for _, s := range d.GetSignals() {
		if s.GetName() == name {
			return s.GetStringValue()
		}
	}
	return ""
}

func TestRegistryThroughRiskd(t *testing.T) {
	s := startStack(t)

	t.Run("licence held by another company is declined, and the trace reaches the registry", func(t *testing.T) {
		const traceID = "0af7651916cd43dd8448eb211c80319c"
		d := s.check(sellerWith(t, "911100007109288314", "别的科技有限公司", "李四"), traceID)
		if d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE || !reasonCodes(d)["LICENSE_HOLDER_MISMATCH"] {
			t.Fatalf("got %s %v", d.GetOutcome(), reasonCodes(d))
		}
		if got := signalValue(d, "licence_registry.trace_id"); got != traceID {
			t.Fatalf("the registry saw trace %q, the caller sent %q", got, traceID)
		}
	})
	t.Run("revoked licence is declined", func(t *testing.T) {
		d := s.check(sellerWith(t, "91110108551385082Q", "北京海淀示例商贸有限公司", "王五"), "")
		if d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE || !reasonCodes(d)["LICENSE_REVOKED"] || reasonCodes(d)["LICENSE_HOLDER_MISMATCH"] {
			t.Fatalf("got %s %v", d.GetOutcome(), reasonCodes(d))
		}
	})
	t.Run("registered holder is approved", func(t *testing.T) {
		d := s.check(sellerWith(t, "91350100M000100Y43", "福州某某贸易有限公司", "张三"), "")
		if d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
			t.Fatalf("got %s %v", d.GetOutcome(), reasonCodes(d))
		}
	})
	t.Run("unknown licence goes to review", func(t *testing.T) {
		d := s.check(sellerWith(t, "911100006000650192", "某公司", "某人"), "")
		if d.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW || !reasonCodes(d)["LICENSE_NOT_FOUND"] {
			t.Fatalf("got %s %v", d.GetOutcome(), reasonCodes(d))
		}
	})
}

func TestRegistryHangingOrGone(t *testing.T) {
	s := startStack(t)
	clean := func() *riskv1.CheckSellerRequest {
		return sellerWith(t, "91350100M000100Y43", "福州某某贸易有限公司", "张三")
	}
	if d := s.check(clean(), ""); d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
		t.Fatalf("before the fault: %s %v", d.GetOutcome(), reasonCodes(d))
	}

	// A hanging registry: the process is stopped, its socket still open.
	if err := s.reg.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The stop takes effect when the kernel next schedules the process: on
	// a busy machine the registry can still answer a call sent right after
	// the signal. Wait until it is really stopped.
	waitState(t, s.reg.Cmd.Process.Pid, 'T')
	for i := range s.failures {
		d := s.check(clean(), "")
		vr := registryResult(d)
		if d.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW || !reasonCodes(d)["REGISTRY_UNAVAILABLE"] ||
			vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT {
			t.Fatalf("hung call %d: %s %v %v", i, d.GetOutcome(), reasonCodes(d), vr)
		}
	}
	// The circuit is open now: the registry is not waited for at all.
	d := s.check(clean(), "")
	vr := registryResult(d)
	if vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_FAILED || !strings.Contains(vr.GetError(), "circuit open") ||
		vr.GetDuration().AsDuration() > 50*time.Millisecond || d.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW {
		t.Fatalf("with the circuit open: %s %v %v", d.GetOutcome(), reasonCodes(d), vr)
	}

	// Back again: after the open period one trial call goes through and
	// calls resume.
	if err := s.reg.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if !s.eventuallyAnswered(clean) {
		t.Fatal("calls did not resume after the registry came back")
	}

	// A registry that is gone: connection refused is a failure too.
	s.reg.Kill(t)
	d = s.check(clean(), "")
	if d.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW || !reasonCodes(d)["REGISTRY_UNAVAILABLE"] ||
		registryResult(d).GetStatus() == riskv1.VerifierStatus_VERIFIER_STATUS_OK {
		t.Fatalf("registry gone: %s %v %v", d.GetOutcome(), reasonCodes(d), registryResult(d))
	}
	// Restarted on the same address, it is used again.
	s.reg = testproc.Start(t, s.regBin, []string{"--data", s.csv, "--listen", s.regAddr}, "licence registry ready")
	if !s.eventuallyAnswered(clean) {
		t.Fatal("calls did not resume after the registry restarted")
	}
}

// eventuallyAnswered retries for a few open periods until the registry
// answers again: gRPC reconnects with backoff and the breaker lets one trial
// call through per period.
func (s *stack) eventuallyAnswered(req func() *riskv1.CheckSellerRequest) bool {
	deadline := time.Now().Add(10 * s.openFor)
	for time.Now().Before(deadline) {
		d := s.check(req(), "")
		if registryResult(d).GetStatus() == riskv1.VerifierStatus_VERIFIER_STATUS_OK && !reasonCodes(d)["REGISTRY_UNAVAILABLE"] {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// waitState waits until the process's state in /proc/PID/stat is state
// ('T' for stopped), for at most 10 seconds.
func waitState(t *testing.T, pid int, state byte) {
	t.Helper()
	path := fmt.Sprintf("/proc/%d/stat", pid)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("process %d: %v", pid, err)
		}
		// "pid (comm) S ...": the state follows the last ')'.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == state {
			return
		}
	}
	t.Fatalf("process %d did not reach state %c in 10s", pid, state)
}

// TestRegistryNotAskedAboutAnInvalidLicence: the example policy has the
// registry wait for the licence's structure check and skip a number that
// fails it. An invalid number is declined for what it is
// (LICENSE_NUMBER_INVALID), the registry is reported skipped, not failed,
// no REGISTRY_UNAVAILABLE or VERIFIER_FAILED is added, the registry process
// never sees the call, and such requests, however many, do not open the
// registry's circuit breaker.
func TestRegistryNotAskedAboutAnInvalidLicence(t *testing.T) {
	s := startStack(t)
	const invalid = "91350100M000100Y44" // the valid 91350100M000100Y43 with a wrong check character
	var skipped []string
	for i := range s.failures + 2 {
		d := s.check(sellerWith(t, invalid, "福州某某贸易有限公司", "张三"), "")
		codes := reasonCodes(d)
		vr := registryResult(d)
		if d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE || !codes["LICENSE_NUMBER_INVALID"] ||
			codes["REGISTRY_UNAVAILABLE"] || codes["VERIFIER_FAILED"] ||
			vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_SKIPPED {
			t.Fatalf("invalid licence %d: %s %v %v", i, d.GetOutcome(), codes, vr)
		}
		for _, r := range d.GetReasons() {
			if r.GetSource() == "licence_registry" {
				t.Errorf("a skipped registry gave a reason: %v", r)
			}
		}
		skipped = append(skipped, d.GetDecisionId())
	}
	// More invalid numbers than failures_to_open: had they reached the
	// registry, its circuit would be open now and this call would fail.
	clean := s.check(sellerWith(t, "91350100M000100Y43", "福州某某贸易有限公司", "张三"), "")
	if vr := registryResult(clean); clean.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE || vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_OK {
		t.Fatalf("valid licence after the invalid ones: %s %v %v", clean.GetOutcome(), reasonCodes(clean), vr)
	}
	// The registry logs every number it parses, with the decision's ID.
	// Once the valid one's line is in, any line of the calls before it
	// would be too.
	seen := func(id string) bool {
		for _, l := range s.reg.Logs() {
			if l["decision_id"] == id {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for !seen(clean.GetDecisionId()) {
		if time.Now().After(deadline) {
			t.Fatal("the registry did not log the valid licence's lookup")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, id := range skipped {
		if seen(id) {
			t.Errorf("the registry was called for decision %s, an invalid licence number", id)
		}
	}
}
