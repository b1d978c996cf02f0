// Package velocity counts what an account, device, payment instrument and
// delivery recipient bought in gift cards over sliding windows (G1 and G2 of
// docs/fraud-patterns.md): the victim talked into buying 100,000 yuan of cards within
// minutes shows up here first. It returns signals only; the policy's rules
// say how many is too many, so thresholds are data, not code.
package velocity

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Windows are the sliding windows counted, by the name signals use.
var Windows = []struct {
	Name string
	Span time.Duration
}{
	{"10m", 10 * time.Minute},
	{"1h", time.Hour},
	{"24h", 24 * time.Hour},
}

// maxEvents bounds one key's scan: a key with more gift-card orders than
// this in a day is far past every threshold anyway.
const maxEvents = 10000

// keys are the kinds an order is counted by; signal names use their
// Kind.Name.
var keys = []store.Kind{store.KindAccount, store.KindDevice, store.KindInstrument, store.KindRecipient}

// signalNames[kind][window] are the count, amount, cards and accounts
// signal names, built once: the verifier runs on every gift-card decision.
// The account key has no accounts signal (it is always one), and neither
// has the 10-minute window: mules gather over an hour or a day, and each
// signal is stored with every decision.
var signalNames = func() map[store.Kind][][4]string {
	out := map[store.Kind][][4]string{}
	for _, kind := range keys {
		for _, w := range Windows {
			prefix := "velocity." + kind.Name() + "." + w.Name + "."
			n := [4]string{prefix + "count", prefix + "amount", prefix + "cards", prefix + "accounts"}
			if kind == store.KindAccount || w.Span < time.Hour {
				n[3] = ""
			}
			out[kind] = append(out[kind], n)
		}
	}
	return out
}()

// maxAccounts caps the distinct accounts counted per key and window: the
// mule rules fire at a handful, and the count must stay cheap.
const maxAccounts = 64

// Verifier is the velocity verifier.
type Verifier struct {
	store history.Reader
	keys  *pseudonym.Keyer
}

var _ verifier.Verifier = (*Verifier)(nil)

// New returns a velocity verifier over the store.
func New(r history.Reader, keys *pseudonym.Keyer) *Verifier { return &Verifier{store: r, keys: keys} }

// Verify counts, for each key of a gift-card order and each window, the
// orders, their value (minor units) and their cards, this order included:
// signals such as velocity.account.10m.count and velocity.device.1h.amount.
// For the device, instrument and recipient it also counts the distinct
// accounts that ordered with them (velocity.recipient.1h.accounts): several
// accounts feeding one recipient is how mules collect codes. Declined
// orders count as attempts in all of these.
func (v *Verifier) Verify(ctx context.Context, in verifier.Input) (verifier.Result, error) {
	if _, ok := in.Request.(*riskv1.ScoreGiftCardPurchaseRequest); !ok {
		return verifier.Result{}, fmt.Errorf("velocity verifier applies to gift-card checks, not %s", in.Check)
	}
	// The order's own events say which keys it counts under, exactly as
	// its commit will write them.
	entry, err := in.History(v.keys)
	if err != nil {
		return verifier.Result{}, err
	}
	longest := Windows[len(Windows)-1].Span
	res := verifier.Result{Signals: make(map[string]any, len(keys)*len(Windows)*4)}
	// The order's own account, as its shared keys' events carry it.
	var mine string
	for _, own := range entry.Events {
		if own.Series == history.SeriesGiftCard && own.Key.Kind != store.KindAccount {
			mine = history.AccountRef(own.Ref)
			break
		}
	}
	var accounts []string // distinct account refs, reused per key and window
	for _, own := range entry.Events {
		names, ok := signalNames[own.Key.Kind]
		if !ok || own.Series != history.SeriesGiftCard {
			continue
		}
		past, err := v.store.Events(ctx, history.SeriesGiftCard, own.Key, in.Now.Add(-longest), in.Now.Add(time.Nanosecond), maxEvents)
		if err != nil {
			return verifier.Result{}, err
		}
		for wi, w := range Windows {
			count, amount, cards := int64(1), own.Amount, own.Quantity
			since := in.Now.Add(-w.Span)
			for _, e := range past {
				if !e.At.Before(since) {
					count++
					amount += e.Amount
					cards += e.Quantity
				}
			}
			res.Signals[names[wi][0]] = count
			res.Signals[names[wi][1]] = amount
			res.Signals[names[wi][2]] = cards
			if names[wi][3] != "" {
				accounts = distinctAccounts(accounts[:0], mine, past, since)
				res.Signals[names[wi][3]] = int64(len(accounts))
			}
		}
	}
	return res, nil
}

// distinctAccounts appends to into the distinct account refs of the events
// at or after since, with mine (this order's) first, up to maxAccounts. A
// linear scan: the counts that matter are a handful, and a map per key and
// window would cost more than it saves.
func distinctAccounts(into []string, mine string, past []store.Event, since time.Time) []string {
	if mine != "" {
		into = append(into, mine)
	}
	for _, e := range past {
		if len(into) >= maxAccounts {
			break
		}
		ref := history.AccountRef(e.Ref)
		if ref == "" || e.At.Before(since) || slices.Contains(into, ref) {
			continue
		}
		into = append(into, ref)
	}
	return into
}
