package main

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/auth"
)

// TestTokenCommand: `riskd token` prints a random token of 256 bits and
// the token_sha256 line that is its hash, and never the same token twice.
func TestTokenCommand(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		var stdout, stderr bytes.Buffer
		if err := tokenCommand(nil, &stdout, &stderr); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("stdout %q, want two lines: the token and its token_sha256 line", stdout.String())
		}
		token, line := lines[0], lines[1]
		if len(token) < 43 {
			t.Errorf("token %q has %d characters, want at least 43 (256 bits)", token, len(token))
		}
		if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) != 32 {
			t.Errorf("token %q is not 32 bytes in base64url without padding: %d bytes, %v", token, len(raw), err)
		}
		if want := "token_sha256: " + auth.HashToken(token); line != want {
			t.Errorf("second line %q, want %q", line, want)
		}
		// The printed line is what New takes.
		hash := strings.TrimPrefix(line, "token_sha256: ")
		if _, err := auth.New([]auth.Caller{{Name: "c", TokenSHA256: hash, Grants: []string{"/risk.v1.RiskService/*"}}}); err != nil {
			t.Errorf("the printed hash is refused: %v", err)
		}
		if seen[token] {
			t.Errorf("token %q made twice", token)
		}
		seen[token] = true
		if strings.Contains(stderr.String(), token) {
			t.Errorf("stderr repeats the token: %q", stderr.String())
		}
	}
	if err := tokenCommand([]string{"extra"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("an argument was accepted")
	}
}
