package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/riskd/riskd/internal/auth"
)

// tokenBytes is the randomness of a token `riskd token` makes: 256 bits,
// 43 base64url characters, well above auth.MinTokenLen.
const tokenBytes = 32

// tokenCommand is `riskd token`: a new random bearer token on stdout's
// first line, for the caller, and the line for its entry under callers:
// in riskd.yaml on the second. riskd only ever stores the hash, so this
// is the one place a token is made; made here, it is never too short.
func tokenCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return errors.New("usage: riskd token (prints a new bearer token and its token_sha256 line)")
	}
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	// base64url without padding: no character that needs quoting in a
	// header, a shell or YAML.
	token := base64.RawURLEncoding.EncodeToString(b)
	if _, err := fmt.Fprintf(stdout, "%s\ntoken_sha256: %s\n", token, auth.HashToken(token)); err != nil {
		return err
	}
	// On stderr, so that stdout is only the two lines scripts read.
	fmt.Fprintln(stderr, "# line 1: the caller's bearer token; hand it over as a secret (riskd keeps only its hash)\n# line 2: goes in the caller's entry under callers: in riskd.yaml")
	return nil
}
