// Package verifier defines what a verifier is: a named check that looks at one
// request and returns signals (named, typed facts) and findings (reason code,
// score, sentence), or fails. The engine runs the verifiers a policy names,
// each inside its own time budget; sub-packages hold the families.
package verifier

import (
	"context"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// Input is what a verifier sees of one request.
type Input struct {
	Check      riskv1.Check
	DecisionID string
	// Request is the caller's request message, already validated, for
	// example *riskv1.CheckSellerRequest. Verifiers must not modify it.
	Request proto.Message
	// Now is the server's clock for this decision; verifiers use it rather
	// than time.Now so that one decision sees one instant.
	Now time.Time
	// Lookback is how far back the check's policy lets verifiers read
	// history (its history_lookback); zero where no policy set it (a
	// verifier tested on its own), and the verifier's default applies.
	Lookback time.Duration
	// Entry is what the request adds to history (its identifiers as
	// keyed hashes, its events and links), derived once by the engine
	// for every verifier and for the commit; nil where nobody derived it
	// (a verifier tested on its own), and History derives it then.
	Entry *history.Entry
	// Settings are what the policy in force sets for this verifier (its
	// settings: key), parsed and checked when the policy was loaded; nil
	// when it sets none, and the verifier uses its defaults.
	Settings any
}

// History returns what the request adds to history: the engine's Entry,
// or one derived with k when there is none.
func (in Input) History(k *pseudonym.Keyer) (history.Entry, error) {
	if in.Entry != nil {
		return *in.Entry, nil
	}
	return history.Derive(k, in.Request, in.DecisionID, in.Now)
}

// Finding is one reason a verifier found to worry.
type Finding struct {
	// Code is a stable upper snake case reason code such as ID_NUMBER_INVALID.
	Code string
	// Score is what the finding adds to the decision's score.
	Score int
	// Message is a sentence a support agent can read out, in English. It
	// never holds raw personal data.
	Message string
	// Messages has the sentence in other locales ("zh-CN"), where the
	// verifier gives it; the decision falls back to Message.
	Messages map[string]string
}

// ZH is a Chinese sentence for Finding.Messages.
func ZH(s string) map[string]string { return map[string]string{"zh-CN": s} }

// Result is what a verifier returns. Signal values are bool, int64,
// float64, string or time.Time, so that policies can use them without
// conversion (a time is a CEL timestamp, and Signal.time_value for callers).
type Result struct {
	Signals  map[string]any
	Findings []Finding
}

// Verifier is one check. Verify must return when ctx is done: the engine
// stops waiting at the budget and a verifier that ignores ctx keeps its
// goroutine alive for nothing.
type Verifier interface {
	Verify(ctx context.Context, in Input) (Result, error)
}

// NeverWaits marks a verifier that never waits on anything outside the
// process: it does bounded work in memory (a structure check, a table, the
// embedded store's in-process reads) and returns. The engine calls such a
// verifier on the request's own goroutine, with no goroutine, timer or
// channel of its own, because a budget it cannot overrun needs no
// enforcing. Anything that can block on a network (a remote verifier, a
// store on another machine) must not be marked.
type NeverWaits interface {
	Verifier
	NeverWaits()
}

type neverWaits struct{ Verifier }

func (neverWaits) NeverWaits() {}

// Inline marks v as never waiting (see NeverWaits).
func Inline(v Verifier) Verifier { return neverWaits{v} }

// Func adapts a function to a Verifier.
type Func func(ctx context.Context, in Input) (Result, error)

// Verify calls f.
func (f Func) Verify(ctx context.Context, in Input) (Result, error) { return f(ctx, in) }

// Registry maps the names a policy uses to verifiers. It is built explicitly
// where the server is wired, never by init() side effects.
type Registry map[string]Verifier

// Names lists the registered names, for policy validation.
func (r Registry) Names() map[string]bool {
	names := make(map[string]bool, len(r))
	for n := range r {
		names[n] = true
	}
	return names
}
