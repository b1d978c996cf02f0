package store

// Named lists: identifiers an analyst blocks, sends to review or trusts by
// hand (a scammer's phone from a police notice, a payout account a victim
// named, a partner's seller ID). An entry holds an identifier's kind and
// keyed hash, exactly as a decision's identifiers are hashed, so a lookup
// at decision time compares hashes and nothing of the value is stored. An
// IP range cannot be hashed usefully (a hash matches one address, not the
// addresses inside a range), so a CIDR entry keeps its range in the clear:
// a network, not a person's address.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// ListPurpose is what a match on a list asks the policy to do. The numbers
// are stored, and are the API's: never renumber.
type ListPurpose uint8

const (
	// PurposeBlock: a match declines (default policy).
	PurposeBlock ListPurpose = iota + 1
	// PurposeReview: a match sends the decision to a person.
	PurposeReview
	// PurposeTrust: a match lowers the score, never overriding a decline.
	PurposeTrust
)

var purposes = map[ListPurpose]string{PurposeBlock: "block", PurposeReview: "review", PurposeTrust: "trust"}

// String is the purpose's stable name: "block", "review" or "trust" (signal
// names are built from it).
func (p ListPurpose) String() string {
	if s, ok := purposes[p]; ok {
		return s
	}
	return fmt.Sprintf("ListPurpose(%d)", uint8(p))
}

// Valid reports whether p is a known purpose.
func (p ListPurpose) Valid() bool { _, ok := purposes[p]; return ok }

// Errors of the lists.
var (
	// ErrNoList: no list of that name.
	ErrNoList = errors.New("no such list")
	// ErrNoListEntry: no entry of that ID on the list.
	ErrNoListEntry = errors.New("no such list entry")
	// ErrListExists: a list of that name exists with another purpose.
	ErrListExists = errors.New("the list exists with another purpose")
)

// List is a named list of identifiers with one purpose.
type List struct {
	// Name is the list's key: a short caller-chosen name ("police-notices").
	Name    string
	Purpose ListPurpose
	// Description says what the list is for; free text, kept as sent.
	Description string
	CreatedBy   string
	CreatedAt   time.Time
}

// ListValue is what a list entry stands for: an identifier's kind and keyed
// hash, or (Kind KindIP, zero Hash) an IP range kept as a range.
type ListValue struct {
	ID Identifier
	// Range is set (masked to its bits) for a CIDR entry only.
	Range netip.Prefix
}

// IsRange reports whether the value is an IP range.
func (v ListValue) IsRange() bool { return v.Range.IsValid() }

// Check says what is wrong with a value a store is asked to keep: an
// unknown kind, or a range that is not an IP kind's or not masked.
func (v ListValue) Check() error {
	if !v.ID.Kind.Valid() {
		return fmt.Errorf("unknown identifier kind %d", v.ID.Kind)
	}
	if v.IsRange() {
		if v.ID.Kind != KindIP || v.ID.Hash != ([HashSize]byte{}) {
			return errors.New("a range is an IP kind's, without a hash")
		}
		if v.Range != v.Range.Masked() || v.Range.Addr().Is4In6() {
			return errors.New("a range must be masked to its bits")
		}
	}
	return nil
}

// ListEntry is one identifier on a list.
type ListEntry struct {
	// ID is unique across lists (a UUIDv7 the server gives); decisions
	// name the entry they matched by it, never by its value.
	ID    string
	List  string
	Value ListValue
	// Reason says why the entry was added; free text, kept as sent.
	Reason  string
	AddedBy string
	AddedAt time.Time
	// Expires is when the entry stops matching; zero: never.
	Expires time.Time
}

// Live reports whether the entry matches at now.
func (e ListEntry) Live(now time.Time) bool { return e.Expires.IsZero() || now.Before(e.Expires) }

// ListProbe is what one decision looks up in every list at once: its
// identifiers' hashes and its client's IP address (for the ranges).
type ListProbe struct {
	IDs []Identifier
	// IP is matched against the ranges; the zero Addr matches none.
	IP  netip.Addr
	Now time.Time
}

// ListMatch is one live entry a probe found.
type ListMatch struct {
	List    string
	Purpose ListPurpose
	EntryID string
	Value   ListValue
}

// ListEntryQuery pages through one list's entries in ID order (the order
// they were first added).
type ListEntryQuery struct {
	List string
	// After is the last entry ID of the previous page ("" for the first).
	After string
	Limit int
}

// NamedLists are the named lists. Every write is one transaction, and a write
// returns once every replica's next lookup sees it: the stores keep no
// cache a write on another replica could leave stale.
type NamedLists interface {
	// CreateList creates a list. A list of that name with the same purpose
	// is returned as it is (created false); with another purpose it is
	// ErrListExists.
	CreateList(ctx context.Context, l List) (stored List, created bool, err error)
	// Lists returns every list, by name.
	Lists(ctx context.Context) ([]List, error)
	// AddListEntries adds entries to a list in one transaction: all or
	// none. An entry whose value is already on the list (or earlier in
	// the same call) replaces its reason, adder, time and expiry and
	// keeps its ID; ids are the IDs in force, one per entry. ErrNoList if
	// the list does not exist.
	AddListEntries(ctx context.Context, list string, entries []ListEntry) (ids []string, err error)
	// RemoveListEntry deletes an entry, or returns ErrNoListEntry.
	RemoveListEntry(ctx context.Context, list, entryID string) error
	// ListEntries returns a page of a list's entries, expired ones too.
	// ErrNoList if the list does not exist.
	ListEntries(ctx context.Context, q ListEntryQuery) ([]ListEntry, error)
	// MatchLists returns the live entries of every list whose value is one
	// of the probe's identifiers (same kind, same hash) or whose range
	// holds its IP address: one lookup per decision, whatever the number
	// of identifiers.
	MatchLists(ctx context.Context, p ListProbe) ([]ListMatch, error)
	// DeleteListValues deletes every entry, on any list, whose value is one
	// of ids (kind and hash), and returns how many it deleted: for erasing
	// a person's identifiers.
	DeleteListValues(ctx context.Context, ids []Identifier) (int, error)
}

// CheckListEntries checks what AddListEntries is given, before a store
// writes any of it.
func CheckListEntries(entries []ListEntry) error {
	for i, e := range entries {
		if e.ID == "" {
			return fmt.Errorf("entry %d: no ID", i)
		}
		if err := e.Value.Check(); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return nil
}
