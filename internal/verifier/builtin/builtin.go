// Package builtin lists the verifiers compiled into riskd, by the names a
// policy uses for them. The list is explicit: adding a verifier means adding
// a line here, and nothing registers itself.
package builtin

import (
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/identity"
	"github.com/riskd/riskd/internal/verifier/license"
)

// Registry returns a fresh registry of the built-in verifiers.
func Registry() verifier.Registry {
	return verifier.Registry{
		"identity": identity.Verifier{},
		"license":  license.Verifier{},
	}
}
