package store_test

import (
	"regexp"
	"testing"

	"github.com/riskd/riskd/internal/store"
)

// Guards: every kind has a stable identifier of its own (signal names and
// API values are built from it), distinct from the words used in
// sentences, and unknown kinds say so rather than borrowing a name.
func TestKindNames(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	seen := map[string]store.Kind{}
	for k := store.KindIDNumber; k <= store.KindEmailDomain; k++ {
		if !k.Valid() {
			t.Fatalf("kind %d is not valid", k)
		}
		n := k.Name()
		if !snake.MatchString(n) {
			t.Errorf("kind %d has name %q, want snake case", k, n)
		}
		if other, dup := seen[n]; dup {
			t.Errorf("kinds %d and %d share the name %q", k, other, n)
		}
		seen[n] = k
		if k.String() == "" || k.String() == "unknown identifier" {
			t.Errorf("kind %d has no words", k)
		}
	}
	for _, k := range []store.Kind{0, store.KindEmailDomain + 1, 255} {
		if k.Valid() || k.Name() != "unknown" {
			t.Errorf("kind %d: valid %v, name %q", k, k.Valid(), k.Name())
		}
	}
	if store.KindInstrument.Name() != "instrument" || store.KindPayoutAccount.Name() != "payout_account" {
		t.Error("a kind's identifier changed: signal names and RelatedOrder.shared depend on it")
	}
}
