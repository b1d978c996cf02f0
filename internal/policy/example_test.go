package policy_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/policy"
)

var update = flag.Bool("update", false, "rewrite the example policies from the embedded default")

// registryExample is the embedded default plus the licence-registry check
// of cmd/licence-registry. Building it from the default, and failing when
// the file differs, keeps the documented example from drifting.
func registryExample(t *testing.T) string {
	doc := string(policy.DefaultBytes())
	header := `# riskd's default policy plus a business-licence registry check through the
# example out-of-process verifier cmd/licence-registry (T1 of docs/fraud-patterns.md).
# Run the registry on 127.0.0.1:7070 first; see examples/licence-registry/.
# Everything but the registry parts is the embedded default; this file is
# generated from it: go test ./internal/policy -run TestExamplePolicies -update
remote_verifiers:
  - name: licence_registry
    address: 127.0.0.1:7070
    plaintext: true
    # Only what a registry lookup needs; nothing else of the request leaves.
    fields: [license.uscc, license.company_name, license.legal_representative]

`
	body := doc[strings.Index(doc, "checks:"):]
	replace := func(old, new string) {
		t.Helper()
		if !strings.Contains(body, old) {
			t.Fatalf("the default policy no longer contains %q", old)
		}
		body = strings.Replace(body, old, new, 1)
	}
	replace("      - {name: links, budget: 150ms, on_failure: review}\n",
		`      - {name: links, budget: 150ms, on_failure: review}
      - name: licence_registry
        budget: 150ms
        on_failure: review
        # A licence number that fails its structure check is declined by
        # license-number-invalid and not looked up: the registry could only
        # refuse it, and the refusal would count against its circuit
        # breaker. Skipped, it adds no reason.
        after: [license]
        when: "!('license.valid' in signals) || signals['license.valid'] == true"
`)
	replace("\n  gift_card_purchase:", `      - name: licence-holder-mismatch
        when: "'LICENSE_HOLDER_MISMATCH' in findings"
        action: decline
        reason: LICENSE_HOLDER_MISMATCH
        message: The business registry names another company or legal representative for this licence.
        actions: [REQUEST_DOCUMENTS]
      - name: licence-revoked
        when: "'LICENSE_REVOKED' in findings"
        action: decline
        reason: LICENSE_REVOKED
        message: The business registry lists this licence as revoked or cancelled.
      - name: licence-not-found
        # New companies can lag behind the registry: a person looks.
        when: "'LICENSE_NOT_FOUND' in findings"
        action: review
        reason: LICENSE_NOT_FOUND
        message: The business registry has no licence with this number.
        actions: [REQUEST_DOCUMENTS]
      - name: registry-unavailable
        # Failed or timed out; skipped (an invalid licence number) is not
        # unavailable.
        when: has(request.license) && verifiers['licence_registry'] in ['failed', 'timed_out']
        action: review
        reason: REGISTRY_UNAVAILABLE
        message: The business registry could not be asked in time; the licence is unconfirmed.

  gift_card_purchase:`)
	return header + body
}

func TestExamplePolicies(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "policy-with-registry.yaml")
	want := registryExample(t)
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from the default policy plus the registry check; run: go test ./internal/policy -run TestExamplePolicies -update", path)
	}
	known := map[string]bool{"identity": true, "license": true, "contact": true, "links": true, "lists": true, "velocity": true, "spending": true, "returns": true}
	if _, err := policy.Load(got, path, known); err != nil {
		t.Fatal(err)
	}
}
