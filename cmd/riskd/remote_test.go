package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/auth"
)

// The subcommands that talk to a running riskd share their connection
// flags (remote.go): a caller's token reaches riskd from RISKD_TOKEN or
// from --token-file, and without one a riskd with callers refuses. Shown
// with `riskd policy status`, `riskd lists create` and `riskd export`,
// one of each family, against the real binary.
func TestRemoteCommandsSendTheToken(t *testing.T) {
	const token = "remote-token-0123456789abcdefghijklmnop"
	dir := t.TempDir()
	cfg := filepath.Join(dir, "riskd.yaml")
	if err := os.WriteFile(cfg, []byte("callers:\n  - {name: desk, token_sha256: "+auth.HashToken(token)+
		", grants: [/risk.v1.PolicyService/*, /risk.v1.ListService/*, /risk.v1.PrivacyService/*]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, "--config", cfg)
	run := func(env []string, stdin string, args ...string) (string, error) {
		cmd := exec.Command(binary(t), args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	for _, c := range []struct {
		name        string
		stdin       string
		args, after []string // flags, then positional arguments
	}{
		{"policy status", "", []string{"policy", "status", "--addr", p.Addr}, nil},
		{"lists create", "", []string{"lists", "create", "--addr", p.Addr, "--purpose", "block"}, []string{"remote-test"}},
		{"export", "account=acct-remote\n", []string{"export", "--addr", p.Addr}, nil},
	} {
		args := func(flags ...string) []string {
			return append(append(append([]string{}, c.args...), flags...), c.after...)
		}
		if out, err := run([]string{"RISKD_TOKEN="}, c.stdin, args()...); err == nil || !strings.Contains(out, "authenticate") {
			t.Errorf("%s without a token: %v %s; want refused, UNAUTHENTICATED", c.name, err, out)
		}
		if out, err := run([]string{"RISKD_TOKEN=" + token}, c.stdin, args()...); err != nil {
			t.Errorf("%s with RISKD_TOKEN: %v %s", c.name, err, out)
		}
		if out, err := run([]string{"RISKD_TOKEN="}, c.stdin, args("--token-file", tokenFile)...); err != nil {
			t.Errorf("%s with --token-file: %v %s", c.name, err, out)
		}
	}
}
