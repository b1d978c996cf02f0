package docs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/docgen"
)

// Guards (issue 23, item 2): the fraud-pattern page explains every reason
// code a built-in verifier or a rule of the default policy gives, so a new
// code cannot ship without a word on the pattern it is there for. (The
// engine's own codes, for a verifier or a rule that could not answer, are
// explained in the generated table itself.)
func TestFraudPatternsNameEveryDecisionCode(t *testing.T) {
	page, err := os.ReadFile(filepath.Join(root, "docs", "fraud-patterns.md"))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := docgen.VerifierReasons(filepath.Join(root, "internal", "verifier"))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := docgen.PolicyReasons()
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) < 10 || len(ps) < 20 {
		t.Fatalf("read only %d verifier findings and %d rules", len(vs), len(ps))
	}
	seen := map[string]bool{}
	for _, r := range append(vs, ps...) {
		if seen[r.Code] {
			continue
		}
		seen[r.Code] = true
		if !strings.Contains(string(page), "`"+r.Code+"`") {
			t.Errorf("docs/fraud-patterns.md does not name %s (from %s): say which pattern it is for", r.Code, r.Source)
		}
	}
}
