// Package builtin lists the verifiers compiled into riskd, by the names a
// policy uses for them. The list is explicit: adding a verifier means adding
// a line here, and nothing registers itself.
package builtin

import (
	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/contact"
	"github.com/riskd/riskd/internal/verifier/identity"
	"github.com/riskd/riskd/internal/verifier/license"
	"github.com/riskd/riskd/internal/verifier/links"
	"github.com/riskd/riskd/internal/verifier/lists"
	"github.com/riskd/riskd/internal/verifier/returns"
	"github.com/riskd/riskd/internal/verifier/spending"
	"github.com/riskd/riskd/internal/verifier/velocity"
)

// Deps are what the built-in verifiers read.
type Deps struct {
	Store history.Reader
	// Lists are the named lists the lists verifier looks up.
	Lists lists.Reader
	Keys  *pseudonym.Keyer
	// StoreInProcess says the store is the embedded one, whose reads are
	// in-process: the verifiers that read it then run inline, like the
	// pure ones. Over PostgreSQL or Redis they can wait on the network and
	// get a goroutine and a budget each.
	StoreInProcess bool
}

// Registry returns a fresh registry of the built-in verifiers.
func Registry(d Deps) verifier.Registry {
	storeBound := func(v verifier.Verifier) verifier.Verifier {
		if d.StoreInProcess {
			return verifier.Inline(v)
		}
		return v
	}
	return verifier.Registry{
		// Structure checks and tables: never wait.
		"identity": verifier.Inline(identity.Verifier{}),
		"license":  verifier.Inline(license.Verifier{}),
		"contact":  verifier.Inline(contact.New()),
		"links":    storeBound(links.New(d.Store, d.Keys)),
		"lists":    storeBound(lists.New(d.Lists, d.Keys)),
		"velocity": storeBound(velocity.New(d.Store, d.Keys)),
		"spending": storeBound(spending.New(d.Store, d.Keys)),
		"returns":  storeBound(returns.New(d.Store, d.Keys)),
	}
}

// Names are the built-in verifiers' names, for loading a policy before
// the store they read is open.
func Names() map[string]bool {
	return verifier.Registry{"identity": nil, "license": nil, "contact": nil, "links": nil, "lists": nil, "velocity": nil, "spending": nil, "returns": nil}.Names()
}
