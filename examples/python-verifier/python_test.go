package pythonverifier_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/riskd/riskd/internal/testproc"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// python is Debian's interpreter, which has python3-grpcio and
// python3-protobuf; a python3 earlier on PATH (pyenv, a venv) may not.
const python = "/usr/bin/python3"

const debianPackages = "python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc"

// TestPythonVerifierAnswersRiskd runs riskd with a policy that calls the
// Python verifier in this directory, and checks that its finding, its
// status and its signals, including the trace ID it read from the
// traceparent riskd forwarded, come back in riskd's decision.
func TestPythonVerifierAnswersRiskd(t *testing.T) {
	requirePrerequisites(t)
	root := moduleRoot(t)
	tmp := t.TempDir()

	// riskd, built from this checkout (with -race when this test is).
	riskd := testproc.Build(t, "./cmd/riskd")

	// The stubs, generated as a user would.
	stubs := filepath.Join(tmp, "stubs")
	gen := exec.Command("sh", "generate.sh", stubs)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, out)
	}
	imp := exec.Command(python, "-c", "import sys; sys.path.insert(0, sys.argv[1]); from risk.verifier.v1 import verifier_pb2, verifier_pb2_grpc; from buf.validate import validate_pb2", stubs)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("generated stubs do not import: %v\n%s", err, out)
	}

	// The verifier.
	verifierAddr := start(t, "python verifier", exec.Command(python, "verifier.py", "--port", "0", "--stubs", stubs), false,
		func(line string) (string, bool) {
			addr, ok := strings.CutPrefix(line, "listening ")
			return strings.TrimSpace(addr), ok
		})

	// riskd with the default policy plus the verifier on the seller check.
	def, err := os.ReadFile(filepath.Join(root, "internal", "policy", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const licence = "      - {name: license, budget: 50ms, on_failure: review}\n"
	if n := strings.Count(string(def), licence); n != 1 {
		t.Fatalf("internal/policy/default.yaml has %d lines %q, want exactly 1 (the seller check's); update this test", n, strings.TrimSpace(licence))
	}
	doc := fmt.Sprintf("remote_verifiers:\n"+
		"  - name: py_disposable_email\n"+
		"    address: %s\n"+
		"    plaintext: true\n"+
		"    fields: [contact.email]\n\n", verifierAddr) +
		strings.Replace(string(def), licence, licence+"      - {name: py_disposable_email, budget: 500ms, on_failure: ignore}\n", 1)
	if !strings.Contains(doc, "{name: py_disposable_email, budget: 500ms") {
		t.Fatal("the seller check's verifier list was not extended")
	}
	policyFile := filepath.Join(tmp, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(riskd, "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(tmp, "data"), "--policy", policyFile)
	cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=", "RISKD_CONFIG=")
	riskdAddr := start(t, "riskd", cmd, true, func(line string) (string, bool) {
		var l struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "riskd ready" {
			return "", false
		}
		return l.Addr, true
	})

	conn, err := grpc.NewClient(riskdAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := riskv1.NewRiskServiceClient(conn)

	check := func(requestID, email, traceID string) *riskv1.Decision {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		resp, err := client.CheckSeller(ctx, sellerRequest(requestID, email))
		if err != nil {
			t.Fatalf("CheckSeller(%s): %v", email, err)
		}
		d := resp.GetDecision()
		var status riskv1.VerifierStatus
		for _, r := range d.GetVerifierResults() {
			if r.GetName() == "py_disposable_email" {
				status = r.GetStatus()
			}
		}
		if status != riskv1.VerifierStatus_VERIFIER_STATUS_OK {
			t.Fatalf("CheckSeller(%s): verifier py_disposable_email is %v, want OK: %v", email, status, d.GetVerifierResults())
		}
		if got := signal(d, "py_disposable_email.trace_id").GetStringValue(); got != traceID {
			t.Errorf("CheckSeller(%s): signal py_disposable_email.trace_id = %q, want the trace ID sent, %q", email, got, traceID)
		}
		if d.GetTraceId() != traceID {
			t.Errorf("CheckSeller(%s): decision trace ID %q, want %q", email, d.GetTraceId(), traceID)
		}
		return d
	}

	const trace1, trace2 = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
	d := check("py-seller-1", "shop@mailinator.com", trace1)
	r := reason(d, "EMAIL_DISPOSABLE")
	switch {
	case r == nil:
		t.Errorf("disposable e-mail: no EMAIL_DISPOSABLE reason: %v", d.GetReasons())
	case r.GetSource() != "py_disposable_email" || r.GetScore() != 20 || r.GetMessage() == "":
		t.Errorf("disposable e-mail: reason %v, want source py_disposable_email, score 20 and a message", r)
	}
	if s := signal(d, "py_disposable_email.domain_listed"); s == nil || !s.GetBoolValue() {
		t.Errorf("disposable e-mail: signal py_disposable_email.domain_listed = %v, want true", s)
	}

	d = check("py-seller-2", "shop@example.com", trace2)
	if r := reason(d, "EMAIL_DISPOSABLE"); r != nil {
		t.Errorf("ordinary e-mail: got reason %v", r)
	}
	if s := signal(d, "py_disposable_email.domain_listed"); s == nil || s.GetBoolValue() {
		t.Errorf("ordinary e-mail: signal py_disposable_email.domain_listed = %v, want false", s)
	}
}

// requirePrerequisites fails, never skips: a machine without the Debian
// packages would otherwise pass without testing anything.
func requirePrerequisites(t *testing.T) {
	t.Helper()
	var missing []string
	if out, err := exec.Command(python, "-c", "import grpc, google.protobuf").CombinedOutput(); err != nil {
		missing = append(missing, fmt.Sprintf("%s cannot import grpc and google.protobuf (%v: %s)", python, err, bytes.TrimSpace(out)))
	}
	for _, tool := range []string{"protoc", "grpc_python_plugin"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" is not on PATH")
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the Python verifier test needs Debian's %s:\n  %s\ninstall them with: apt-get install %s",
			debianPackages, strings.Join(missing, "\n  "), debianPackages)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod)
}

func sellerRequest(requestID, email string) *riskv1.CheckSellerRequest {
	return &riskv1.CheckSellerRequest{
		RequestId: requestID, SellerId: "s-" + requestID,
		Client:   &riskv1.Client{DeviceId: "dev-1", IpAddress: "192.0.2.1"},
		Identity: &riskv1.IdentityDocument{Type: riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID, Number: "11010519491231002X", FullName: "张三"},
		License:  &riskv1.BusinessLicense{Uscc: "91350100M000100Y43", CompanyName: "某某贸易有限公司", LegalRepresentative: "张三"},
		Contact:  &riskv1.Contact{Mobile: "13912345678", Email: email, Landline: "010-12345678", Address: "北京市东城区 1 号"},
		Payout:   &riskv1.PayoutAccount{AccountNumber: "6222020200998877665", HolderName: "某某贸易有限公司"},
	}
}

func reason(d *riskv1.Decision, code string) *riskv1.Reason {
	for _, r := range d.GetReasons() {
		if r.GetCode() == code {
			return r
		}
	}
	return nil
}

func signal(d *riskv1.Decision, name string) *riskv1.Signal {
	for _, s := range d.GetSignals() {
		if s.GetName() == name {
			return s
		}
	}
	return nil
}

// start runs cmd until the test ends and returns the address its ready line
// gives. The line is looked for on stderr when onStderr, else on stdout;
// the other stream is kept for the failure log. At the end the process gets
// SIGTERM, must exit cleanly, and is killed if it does not within 15s.
func start(t *testing.T, name string, cmd *exec.Cmd, onStderr bool, ready func(line string) (string, bool)) string {
	t.Helper()
	logs := &syncBuffer{}
	var pipe io.ReadCloser
	var err error
	if onStderr {
		pipe, err = cmd.StderrPipe()
		cmd.Stdout = logs
	} else {
		pipe, err = cmd.StdoutPipe()
		cmd.Stderr = logs
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	addrs := make(chan string, 1)
	exited := make(chan struct{})
	var waitErr error
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			_, _ = logs.Write([]byte(line + "\n"))
			if !found {
				if addr, ok := ready(line); ok {
					found = true
					addrs <- addr
				}
			}
		}
		_, _ = io.Copy(logs, pipe)
		waitErr = cmd.Wait()
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output:\n%s", name, logs.String())
		}
	})
	t.Cleanup(func() {
		select {
		case <-exited:
			t.Errorf("%s exited before the test ended: %v", name, waitErr)
			return
		default:
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM %s: %v", name, err)
		}
		select {
		case <-exited:
			if waitErr != nil {
				t.Errorf("%s did not exit cleanly on SIGTERM: %v", name, waitErr)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop within 15s of SIGTERM; killed", name)
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case addr := <-addrs:
		return addr
	case <-exited:
		t.Fatalf("%s exited before it was ready: %v", name, waitErr)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not say it was ready within 30s", name)
	}
	return ""
}

// syncBuffer is a bytes.Buffer safe for the process's writer and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
