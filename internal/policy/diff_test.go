package policy_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/verifier/builtin"
)

func diffLines(ds []policy.Difference) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s %s %s %s %s", d.Check, d.Kind, d.Name, d.Change, strings.Join(d.Details, "; ")))
	}
	return out
}

func diffLoad(t testing.TB, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.Load([]byte(doc), "t.yaml", builtin.Names())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDiff(t *testing.T) {
	def := string(policy.DefaultBytes())
	registry, err := os.ReadFile("../../examples/policy-with-registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		from string
		edit func(string) string
		want []string
	}{
		{"the same document (settings and waits included)", string(registry), func(s string) string { return s + "\n# a comment\n" }, nil},
		{"a threshold", def, func(s string) string {
			return strings.Replace(s, "thresholds: {review: 40, decline: 80}", "thresholds: {review: 40, decline: 75}", 1)
		}, []string{"seller threshold decline changed 80 -> 75"}},
		{"a rule's score and shadow flag", `checks:
  seller:
    thresholds: {review: 30, decline: 70}
    rules:
      - {name: r, when: "true", score: 10, reason: RULE_R, message: M.}
  gift_card_purchase: {thresholds: {review: 30, decline: 70}}
  refund: {thresholds: {review: 30, decline: 70}}
`, func(s string) string { return strings.Replace(s, "score: 10,", "score: 20, shadow: true,", 1) },
			[]string{"seller rule r changed score: 10 -> 20; shadow: false -> true"}},
		{"a rule removed, a verifier added", `checks:
  seller:
    thresholds: {review: 30, decline: 70}
    rules:
      - {name: r, when: "true", score: 10, reason: RULE_R, message: M.}
  gift_card_purchase: {thresholds: {review: 30, decline: 70}}
  refund: {thresholds: {review: 30, decline: 70}}
`, func(string) string {
			return `checks:
  seller:
    thresholds: {review: 30, decline: 70}
    verifiers: [{name: identity, budget: 50ms, on_failure: review}]
  gift_card_purchase: {thresholds: {review: 30, decline: 70}}
  refund: {thresholds: {review: 30, decline: 70}}
`
		}, []string{
			"seller verifier identity added budget: 50ms; on_failure: review",
			"seller rule r removed when: true; action: add_score; score: 10; reason: RULE_R; message: M.; shadow: false",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := diffLines(policy.Diff(diffLoad(t, tc.from), diffLoad(t, tc.edit(tc.from))))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("diff:\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}

// FuzzDiff: for any two policies that load, a diff of one with itself is
// empty, and what one way adds the other way removes.
func FuzzDiff(f *testing.F) {
	for i, a := range fuzzSeeds {
		f.Add(a, fuzzSeeds[(i+1)%len(fuzzSeeds)])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		pa, err := policy.Load([]byte(a), "a", builtin.Names())
		if err != nil {
			return
		}
		pb, err := policy.Load([]byte(b), "b", builtin.Names())
		if err != nil {
			return
		}
		if d := policy.Diff(pa, pa); len(d) != 0 {
			t.Fatalf("a policy differs from itself: %q", diffLines(d))
		}
		there, back := policy.Diff(pa, pb), policy.Diff(pb, pa)
		if len(there) != len(back) {
			t.Fatalf("%d differences one way, %d the other", len(there), len(back))
		}
		flip := map[string]string{"added": "removed", "removed": "added", "changed": "changed"}
		for i := range there {
			x, y := there[i], back[i]
			if x.Check != y.Check || x.Kind != y.Kind || x.Name != y.Name || flip[x.Change] != y.Change {
				t.Fatalf("difference %d: %+v one way, %+v the other", i, x, y)
			}
		}
	})
}
