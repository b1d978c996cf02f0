package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Issue 19 item 7: riskd's protos resolve for any caller from one include
// path, proto/. This runs the pinned grpcurl from the repository root, as a
// caller in another language would load the files, against a real riskd
// with reflection off, so that the .proto files, not the server, are what
// describe every call. (grpcurl parses with protocompile, the parser buf
// uses; Debian's protoc 3.21 cannot read risk/v1/rules.proto's edition 2023
// at all, whatever the include path, so it is not tried here.)
func TestGrpcurlFromTheRepositoryRootWithoutReflection(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	grpcurl := pinnedGrpcurl(t, root)
	p := startBinary(t, "--reflection=false")

	run := func(args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, grpcurl, args...)
		cmd.Dir = root // every path below is relative to the repository root, as the README has it
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			err = errors.New(err.Error() + ": " + strings.TrimSpace(stderr.String()))
		}
		return stdout.String(), err
	}
	protos := []string{"-import-path", "proto", "-proto", "risk/v1/risk.proto"}

	// Reflection is really off: without the files grpcurl cannot even list,
	// so whatever works below was resolved from proto/ alone.
	if out, err := run("-plaintext", p.Addr, "list"); err == nil || !strings.Contains(err.Error(), "reflection") {
		t.Fatalf("grpcurl list without protos: err %v, out %q; want a failure naming reflection (is --reflection=false honoured?)", err, out)
	}

	out, err := run(append(protos, "list")...)
	if err != nil {
		t.Fatalf("grpcurl list: %v", err)
	}
	if !regexp.MustCompile(`(?m)^risk\.v1\.RiskService$`).MatchString(out) {
		t.Fatalf("grpcurl list does not list risk.v1.RiskService:\n%s", out)
	}

	out, err = run(append(protos, "describe", "risk.v1.RiskService")...)
	if err != nil {
		t.Fatalf("grpcurl describe: %v", err)
	}
	if !strings.Contains(out, "rpc CheckSeller ( .risk.v1.CheckSellerRequest ) returns ( .risk.v1.CheckSellerResponse )") {
		t.Fatalf("grpcurl describe risk.v1.RiskService has no CheckSeller:\n%s", out)
	}
	// The request's rules come from buf/validate/validate.proto and from
	// rules.proto's predefined rules: both resolved through the same path.
	out, err = run(append(protos, "describe", "risk.v1.CheckSellerRequest")...)
	if err != nil {
		t.Fatalf("grpcurl describe: %v", err)
	}
	if !strings.Contains(out, "(.buf.validate.field)") || !strings.Contains(out, "[.risk.v1.no_control]: true") {
		t.Fatalf("grpcurl describe risk.v1.CheckSellerRequest shows no protovalidate or predefined rules:\n%s", out)
	}

	// A call: the README's approved seller, encoded from JSON by the files alone.
	req, err := os.ReadFile(filepath.Join(root, "examples", "seller-clean.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, err = run(append(protos, "-plaintext", "-d", string(req), p.Addr, "risk.v1.RiskService/CheckSeller")...)
	if err != nil {
		t.Fatalf("grpcurl CheckSeller: %v", err)
	}
	var resp struct {
		Decision struct {
			DecisionID string `json:"decisionId"`
			RequestID  string `json:"requestId"`
			Outcome    string `json:"outcome"`
		} `json:"decision"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("grpcurl CheckSeller printed no JSON response: %v\n%s", err, out)
	}
	if d := resp.Decision; d.DecisionID == "" || d.RequestID != "demo-seller-2" || d.Outcome != "OUTCOME_APPROVE" {
		t.Fatalf("grpcurl CheckSeller: want an approval of demo-seller-2 with a decision ID, got:\n%s", out)
	}

	// The verifier API loads from the same single path.
	out, err = run("-import-path", "proto", "-proto", "risk/verifier/v1/verifier.proto", "list")
	if err != nil {
		t.Fatalf("grpcurl list of verifier.proto: %v", err)
	}
	if !strings.Contains(out, "risk.verifier.v1.") {
		t.Fatalf("grpcurl lists no service of verifier.proto:\n%s", out)
	}
}

// pinnedGrpcurl is .bin/grpcurl as scripts/tools.sh installs it, failing
// the test with what to run when it is missing or not the pinned version
// (tools.sh records the version it installed in .bin/.grpcurl.version).
func pinnedGrpcurl(t *testing.T, root string) string {
	t.Helper()
	const fix = "run scripts/tools.sh grpcurl from the repository root (scripts/test.sh does)"
	bin := filepath.Join(root, ".bin", "grpcurl")
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("%s is missing or not executable: %s", bin, fix)
	}
	tools, err := os.ReadFile(filepath.Join(root, "scripts", "tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*\[grpcurl\]=(\S+)\s*$`).FindSubmatch(tools)
	if m == nil {
		t.Fatal("scripts/tools.sh pins no grpcurl: update this test")
	}
	got, _ := os.ReadFile(filepath.Join(root, ".bin", ".grpcurl.version"))
	if want := string(m[1]); strings.TrimSpace(string(got)) != want {
		t.Fatalf("%s is %q, not the pinned %s: %s", bin, strings.TrimSpace(string(got)), want, fix)
	}
	return bin
}
