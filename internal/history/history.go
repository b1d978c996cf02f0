// Package history says what each request adds to riskd's memory: which
// identifiers it links to which subject, which events it adds to which
// counters, and which identifiers a later outcome should mark. A decided
// request and the same request sent later through RecordEvents go through
// the same function, so both feed exactly the same history.
package history

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// Series names, shared by writers here and the verifiers that read them.
const (
	// SeriesGiftCard counts gift-card orders (amount, number of cards) by
	// account, device, instrument and recipient.
	SeriesGiftCard = "giftcard"
	// SeriesRefund counts refunds (amount requested) by buyer account, with
	// the seller as Ref for distinct-seller counts.
	SeriesRefund = "refund"
	// SeriesSeller counts sellers created by device and payout account.
	SeriesSeller = "seller"
)

// RefDeclined marks the gift-card events of a declined order: they count
// as attempts in velocity, but not as the account's usual spend.
const RefDeclined = "declined"

// A gift-card event counted by device, instrument or recipient carries the
// keyed ref of the order's account, so that velocity can count how many
// distinct accounts fed one recipient or used one card (the mule pattern);
// the account's own event needs none. A declined order's events keep that
// ref after the RefDeclined marker: "declined" or "declined:<ref>".

// Declined returns the Ref an event of a declined order carries.
func Declined(ref string) string {
	switch {
	case ref == "":
		return RefDeclined
	case IsDeclined(ref):
		return ref
	}
	return RefDeclined + ":" + ref
}

// IsDeclined reports whether ref marks an event of a declined order.
func IsDeclined(ref string) bool {
	return ref == RefDeclined || strings.HasPrefix(ref, RefDeclined+":")
}

// AccountRef returns the account ref a gift-card event carries, declined
// or not; "" for the account's own events and for events written before
// refs were kept.
func AccountRef(ref string) string {
	if ref == RefDeclined {
		return ""
	}
	return strings.TrimPrefix(ref, RefDeclined+":")
}

// Subject prefixes: links name caller-side IDs, never personal data.
const (
	SubjectSeller  = "seller:"
	SubjectAccount = "account:"
)

// Reader is what the verifiers read of history: a store's read side (every
// store.Store is one). Every verifier that reads history takes this one
// interface; historytest.Reader is a small one in memory for their tests.
type Reader interface {
	// Events lists a series' events for key with At in [since, until),
	// oldest first, at most limit (0 means no limit).
	Events(ctx context.Context, series string, key store.Identifier, since, until time.Time, limit int) ([]store.Event, error)
	// Linked lists the subjects that used an identifier, at most limit.
	Linked(ctx context.Context, id store.Identifier, limit int) ([]store.Link, error)
	// Marks lists the outcomes attached to an identifier, oldest first.
	Marks(ctx context.Context, id store.Identifier) ([]store.Mark, error)
}

var _ Reader = store.Store(nil)

// Entry is what one request adds.
type Entry struct {
	Subjects []store.Identifier
	Events   []store.Event
	Links    []store.Link
	// Indexed are identifiers a decision is found by besides its
	// subjects, which an outcome does not mark: a refund's seller (an
	// outcome on a refund is about the buyer).
	Indexed []store.Identifier
}

// Event returns the entry's own event of a series counted by an
// identifier of kind (the gift-card order's account event, the refund's
// buyer event): verifiers read the keys the commit will write, derived
// once, instead of hashing the request again.
func (e Entry) Event(series string, kind store.Kind) (store.Event, bool) {
	for _, ev := range e.Events {
		if ev.Series == series && ev.Key.Kind == kind {
			return ev, true
		}
	}
	return store.Event{}, false
}

// Derive returns what req adds at time at. idPrefix makes event IDs unique
// per request: the decision ID for a decision, the caller's event ID for
// RecordEvents.
func Derive(k *pseudonym.Keyer, req proto.Message, idPrefix string, at time.Time) (Entry, error) {
	b := builder{k: k, prefix: idPrefix, at: at}
	switch r := req.(type) {
	case *riskv1.CheckSellerRequest:
		b.seller(r)
	case *riskv1.ScoreGiftCardPurchaseRequest:
		b.giftCard(r)
	case *riskv1.EvaluateRefundRequest:
		b.refund(r)
	default:
		return Entry{}, fmt.Errorf("history: no history for %T", req)
	}
	return b.e, nil
}

type builder struct {
	k      *pseudonym.Keyer
	prefix string
	at     time.Time
	e      Entry
}

// subject adds an identifier to the subjects (and links it to subject, if
// given); blank identifiers are dropped.
func (b *builder) subject(kind store.Kind, raw, subject string) (store.Identifier, bool) {
	id, ok := b.k.Identifier(kind, raw)
	if !ok {
		return id, false
	}
	for _, s := range b.e.Subjects {
		if s == id {
			return id, true
		}
	}
	b.e.Subjects = append(b.e.Subjects, id)
	if subject != "" {
		b.e.Links = append(b.e.Links, store.Link{ID: id, Subject: subject, At: b.at})
	}
	return id, true
}

func (b *builder) event(series string, key store.Identifier, amount, quantity int64, ref string) {
	b.e.Events = append(b.e.Events, store.Event{
		ID:     fmt.Sprintf("%s/%s/%d", b.prefix, series, len(b.e.Events)),
		Series: series, Key: key, At: b.at, Amount: amount, Quantity: quantity, Ref: ref,
	})
}

// EventPrefix returns the idPrefix an event's ID was derived with (see
// Derive): the decision ID, or the prefix of a RecordEvents event ID. The
// prefix holds the caller's event ID, which may hold "/" itself, so the ID
// is cut at the last two separators, the ones Derive wrote before the
// series (a name without "/") and the number.
func EventPrefix(id string) string {
	for range 2 {
		i := strings.LastIndexByte(id, '/')
		if i < 0 {
			break
		}
		id = id[:i]
	}
	return id
}

func (b *builder) seller(r *riskv1.CheckSellerRequest) {
	subj := SubjectSeller + r.GetSellerId()
	b.subject(store.KindSeller, r.GetSellerId(), "")
	switch r.GetIdentity().GetType() {
	case riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID:
		b.subject(store.KindIDNumber, r.GetIdentity().GetNumber(), subj)
	case riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_PASSPORT:
		// The MRZ holds the number with its check digits; the whole MRZ
		// identifies the passport just as well, without parsing here.
		b.subject(store.KindIDNumber, r.GetIdentity().GetMrz(), subj)
	}
	b.subject(store.KindLicense, r.GetLicense().GetUscc(), subj)
	b.subject(store.KindMobile, r.GetContact().GetMobile(), subj)
	b.subject(store.KindLandline, r.GetContact().GetLandline(), subj)
	b.subject(store.KindEmail, r.GetContact().GetEmail(), subj)
	b.subject(store.KindAddress, r.GetContact().GetAddress(), subj)
	b.subject(store.KindChatHandle, r.GetContact().GetChatHandle(), subj)
	ref := b.k.Ref(r.GetSellerId())
	if id, ok := b.subject(store.KindDevice, r.GetClient().GetDeviceId(), subj); ok {
		b.event(SeriesSeller, id, 0, 1, ref)
	}
	if id, ok := b.subject(store.KindPayoutAccount, r.GetPayout().GetAccountNumber(), subj); ok {
		b.event(SeriesSeller, id, 0, 1, ref)
	}
}

func (b *builder) giftCard(r *riskv1.ScoreGiftCardPurchaseRequest) {
	subj := SubjectAccount + r.GetAccountId()
	var cards int64
	for _, c := range r.GetCards() {
		cards += int64(c.GetQuantity())
	}
	amount := r.GetTotal().GetAmountMinor()
	recipient := r.GetRecipient().GetEmail()
	if recipient == "" {
		recipient = r.GetRecipient().GetPhone()
	}
	if id, ok := b.subject(store.KindAccount, r.GetAccountId(), ""); ok {
		b.event(SeriesGiftCard, id, amount, cards, "")
	}
	// The shared keys' events say which account ordered (see Declined).
	ref := b.k.Ref(r.GetAccountId())
	for _, f := range [...]struct {
		kind store.Kind
		raw  string
	}{
		{store.KindDevice, r.GetClient().GetDeviceId()},
		{store.KindInstrument, r.GetPayment().GetFingerprint()},
		{store.KindRecipient, recipient},
	} {
		if id, ok := b.subject(f.kind, f.raw, subj); ok {
			b.event(SeriesGiftCard, id, amount, cards, ref)
		}
	}
}

func (b *builder) refund(r *riskv1.EvaluateRefundRequest) {
	subj := SubjectAccount + r.GetBuyerAccountId()
	if id, ok := b.subject(store.KindAccount, r.GetBuyerAccountId(), ""); ok {
		b.event(SeriesRefund, id, r.GetAmountRequested().GetAmountMinor(), 1, b.k.Ref(r.GetSellerId()))
	}
	b.subject(store.KindDevice, r.GetClient().GetDeviceId(), subj)
	if id, ok := b.k.Identifier(store.KindSeller, r.GetSellerId()); ok {
		b.e.Indexed = append(b.e.Indexed, id)
	}
	if r.GetDestination().GetKind() == riskv1.DestinationKind_DESTINATION_KIND_OTHER {
		b.subject(store.KindInstrument, r.GetDestination().GetFingerprint(), subj)
	}
}
