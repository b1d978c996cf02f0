// Package store defines what riskd keeps: the decision log, the history that
// later decisions read (events with windowed counts and sums, and the links
// between subjects that share an identifier) and reported outcomes.
//
// Backends live in sub-packages and all pass the one conformance suite in
// storetest. Personal identifiers reach a store only as keyed hashes
// (Identifier); a store never sees one in the clear.
//
// The strings a store keeps (IDs, series, refs, subjects, notes) are valid
// UTF-8 without NUL: the API refuses NUL in every one of them, since
// PostgreSQL text cannot hold it. Anything else (control and format
// characters, emoji, the longest values the API allows) a store keeps and
// compares byte for byte: never normalised, case-folded or trimmed.
package store

import (
	"context"
	"errors"
	"slices"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Errors a store returns; the server maps them to status codes.
var (
	// ErrNotFound: no such decision.
	ErrNotFound = errors.New("not found")
	// ErrRequestConflict: the request ID was already used with other content.
	ErrRequestConflict = errors.New("request id already used with different content")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrUnavailable: the store's server cannot be reached; the call may
	// succeed later.
	ErrUnavailable = errors.New("store unavailable")
)

// HealthWatcher is a store whose server is reached over the network: fn
// learns whether it answers, now and whenever that changes, so that the
// service reports NOT_SERVING while it cannot log a decision.
type HealthWatcher interface {
	WatchHealth(fn func(up bool))
}

// Kind is what sort of identifier a hash stands for. Links and marks say
// which kind matched, so a reason can name it without the value.
type Kind uint8

// Identifier kinds. The numbers are stored on disk: never renumber.
const (
	KindIDNumber Kind = iota + 1
	KindLicense
	KindMobile
	KindLandline
	KindEmail
	KindPayoutAccount
	KindDevice
	KindAddress
	KindAccount
	KindInstrument
	KindRecipient
	KindSeller
	KindChatHandle
	KindIP
	// KindPhone is a phone number of any field (mobile, landline, a
	// recipient's phone), normalised as a mobile: list entries use it.
	KindPhone
	// KindEmailDomain is the domain of an e-mail address.
	KindEmailDomain
)

// kinds holds each kind's two names: its identifier (snake case, stable:
// signal names and API values are built from it) and its words (for
// sentences, free to change).
var kinds = map[Kind]struct{ name, words string }{
	KindIDNumber: {"id_number", "identity number"}, KindLicense: {"license", "licence number"},
	KindMobile: {"mobile", "mobile"}, KindLandline: {"landline", "landline"}, KindEmail: {"email", "e-mail"},
	KindPayoutAccount: {"payout_account", "payout account"}, KindDevice: {"device", "device"},
	KindAddress: {"address", "address"}, KindAccount: {"account", "account"},
	KindInstrument: {"instrument", "payment instrument"}, KindRecipient: {"recipient", "delivery recipient"},
	KindSeller: {"seller", "seller"}, KindChatHandle: {"chat_handle", "chat handle"}, KindIP: {"ip", "IP address"},
	KindPhone: {"phone", "phone number"}, KindEmailDomain: {"email_domain", "e-mail domain"},
}

// String names the kind in words, for reason sentences.
func (k Kind) String() string {
	if n, ok := kinds[k]; ok {
		return n.words
	}
	return "unknown identifier"
}

// Name is the kind's stable identifier ("payout_account"), for signal
// names, API values and metrics: never its words.
func (k Kind) Name() string {
	if n, ok := kinds[k]; ok {
		return n.name
	}
	return "unknown"
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { _, ok := kinds[k]; return ok }

// HashSize is the size of an identifier's keyed hash (HMAC-SHA256).
const HashSize = 32

// Identifier is a personal or account identifier as a store sees it: its
// kind and its keyed hash.
type Identifier struct {
	Kind Kind
	Hash [HashSize]byte
}

// Link says that Subject (a caller-side ID such as "seller:S1", never
// personal data) used identifier ID at At.
type Link struct {
	ID      Identifier
	Subject string
	At      time.Time
}

// Event is one entry in a history series: a gift-card order counted by its
// account, device, instrument or recipient; a refund counted by its buyer.
type Event struct {
	// ID is unique per event. An event is its series, key, time and ID:
	// writing the same event twice keeps one.
	ID string
	// Series names the history, such as "giftcard" or "refund".
	Series string
	// Key is what the event is counted by.
	Key Identifier
	At  time.Time
	// Amount (minor units) and Quantity (cards, items) are summed.
	Amount   int64
	Quantity int64
	// Ref is what the event is about (for example the seller refunded, as a
	// keyed hash); Sum counts distinct refs.
	Ref string
}

// Aggregate is a windowed count over one series and key (Sum of Events):
// for reports and the stores' tests; verifiers read the events.
type Aggregate struct {
	Count    int64
	Amount   int64
	Quantity int64
	// DistinctRefs counts distinct non-empty Ref values.
	DistinctRefs int64
}

// Commit is one decision and everything it adds, written atomically.
type Commit struct {
	Decision *riskv1.Decision
	// RequestHash identifies the request's content, keyed like identifiers,
	// so a replay with other content is told apart without storing it.
	RequestHash [HashSize]byte
	// Subjects are the decision's identifiers; a reported outcome marks them.
	Subjects []Identifier
	Events   []Event
	Links    []Link
	// Facts is what a replay needs of the decision's inputs (an encoded
	// riskv1.DecisionFacts, holding no raw personal data); may be nil.
	Facts []byte
	// Indexed are identifiers the decision is found by (ListDecisions)
	// besides its Subjects, which a reported outcome does not mark (a
	// refund's seller).
	Indexed []Identifier
	// Case, if set, is the case the decision opens for a person.
	Case *NewCase
}

// SearchKeys are the identifiers a commit's decision is found by: its
// subjects and its indexed identifiers, each once.
func (c Commit) SearchKeys() []Identifier {
	if len(c.Indexed) == 0 {
		return c.Subjects
	}
	out := make([]Identifier, 0, len(c.Subjects)+len(c.Indexed))
	for _, id := range append(c.Subjects[:len(c.Subjects):len(c.Subjects)], c.Indexed...) {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// Outcome is what later turned out true about a decision.
type Outcome struct {
	DecisionID string
	Label      riskv1.OutcomeLabel
	Note       string
	At         time.Time
}

// Mark is an outcome attached to an identifier.
type Mark struct {
	Label      riskv1.OutcomeLabel
	DecisionID string
	At         time.Time
}

// Batch is one event of RecordEvents with everything it adds.
type Batch struct {
	// EventID is the caller's ID; a batch entry already recorded is skipped.
	EventID string
	// Subjects are the identifiers of the order or refund recorded, kept
	// under EventID so that an outcome reported later about it (a
	// chargeback naming the order) marks them, as ReportOutcome marks a
	// decision's.
	Subjects []Identifier
	Events   []Event
	Links    []Link
	// Marks attach outcomes known outside riskd to identifiers.
	Marks []IdentifierMark
}

// Time is when a batch entry happened: its latest event, link or mark (now
// if it has none). Backends keep its ID as long as its events, so a late
// replay is still seen as a duplicate.
func (b Batch) Time() time.Time {
	var at time.Time
	for _, e := range b.Events {
		if e.At.After(at) {
			at = e.At
		}
	}
	for _, l := range b.Links {
		if l.At.After(at) {
			at = l.At
		}
	}
	for _, m := range b.Marks {
		if m.Mark.At.After(at) {
			at = m.Mark.At
		}
	}
	if at.IsZero() {
		at = time.Now()
	}
	return at
}

// IdentifierMark is a mark to attach to an identifier.
type IdentifierMark struct {
	ID   Identifier
	Mark Mark
}

// DecisionLog keeps every decision as the caller got it.
type DecisionLog interface {
	// Commit writes the decision with its events, links and subjects in one
	// transaction and returns once it is durable. If the request was
	// already decided with the same content it writes nothing and returns
	// the stored decision with fresh false; with other content it returns
	// ErrRequestConflict. A fresh commit returns c.Decision itself, not a
	// copy: the caller hands it on and must not change it afterwards.
	Commit(ctx context.Context, c Commit) (stored *riskv1.Decision, fresh bool, err error)
	// Decision returns a stored decision by ID, or ErrNotFound.
	Decision(ctx context.Context, id string) (*riskv1.Decision, error)
	// DecisionByRequest returns the decision for a check's request ID and the
	// request's content hash, or ErrNotFound.
	DecisionByRequest(ctx context.Context, check riskv1.Check, requestID string) (*riskv1.Decision, [HashSize]byte, error)
	// Subjects returns the identifiers a decision was committed with, or
	// ErrNotFound.
	Subjects(ctx context.Context, decisionID string) ([]Identifier, error)
	// Facts returns the facts a decision was committed with (nil if none),
	// or ErrNotFound.
	Facts(ctx context.Context, decisionID string) ([]byte, error)
	// ScanDecisions calls fn for each decision decided in [from, to), oldest
	// first, for replay. fn returning an error stops the scan with it.
	ScanDecisions(ctx context.Context, from, to time.Time, fn func(*riskv1.Decision) error) error
}

// History is what later decisions read.
type History interface {
	// Events lists a series' events for key with At in [since, until), oldest
	// first, at most limit (0 means no limit).
	Events(ctx context.Context, series string, key Identifier, since, until time.Time, limit int) ([]Event, error)
	// Linked lists the subjects that used an identifier, oldest first: at
	// most limit of them (0 means all). When there are more, which ones
	// come back is the backend's choice, so a caller asks for enough to
	// decide, not for a census: a shared office landline may have
	// thousands.
	Linked(ctx context.Context, id Identifier, limit int) ([]Link, error)
	// Record writes a batch of outside events in one transaction: entries
	// whose EventID is already recorded are skipped. It returns how many
	// were recorded and how many skipped.
	Record(ctx context.Context, batch []Batch) (recorded, duplicates int, err error)
	// RecordedSubjects returns the Subjects a batch entry was recorded
	// with (none for an entry recorded before they were kept), or
	// ErrNotFound for an event ID never recorded or already expired.
	RecordedSubjects(ctx context.Context, eventID string) ([]Identifier, error)
}

// Outcomes keeps what later turned out true.
type Outcomes interface {
	// ReportOutcome stores an outcome and marks the decision's subjects
	// with it. Reporting the same label for the same decision again
	// changes nothing. ErrNotFound if the decision is unknown.
	ReportOutcome(ctx context.Context, o Outcome) error
	// Marks lists the outcomes attached to an identifier, oldest first.
	Marks(ctx context.Context, id Identifier) ([]Mark, error)
	// ScanOutcomes calls fn for each outcome reported in [from, to),
	// oldest first, for measuring decisions against what turned out true.
	// fn returning an error stops the scan with it.
	ScanOutcomes(ctx context.Context, from, to time.Time, fn func(Outcome) error) error
}

// Retention says how long things are kept.
type Retention struct {
	// Events are history and counters; they need last only as long as the
	// longest window that reads them.
	Events time.Duration
	// Decisions are the decision log, with its request index, links and
	// marks.
	Decisions time.Duration
}

// Store is a whole backend.
type Store interface {
	DecisionLog
	History
	Outcomes
	Reviews
	Policies
	NamedLists
	// Expire deletes what is older than the retention allows at now, at most
	// limit items per call (so one call holds the writer briefly), and
	// returns how many it deleted.
	Expire(ctx context.Context, now time.Time, r Retention, limit int) (int, error)
	Close() error
}

// CommitStats counts a backend's group commits since it opened: Commits
// writes (decisions, outcomes, recorded batches, expiry runs) reached the
// disk in Groups groups, each one durable write (an fdatasync of the
// embedded store's log, one PostgreSQL transaction). Commits/Groups is the
// batch size; Groups per second is the rate of durable writes.
type CommitStats struct {
	Groups  uint64 `json:"groups"`
	Commits uint64 `json:"commits"`
}

// CommitCounter is implemented by backends that group commits.
type CommitCounter interface {
	CommitStats() CommitStats
}

// Sum counts and sums events: their number, amounts, quantities and
// distinct non-empty refs.
func Sum(events []Event) Aggregate {
	var a Aggregate
	refs := make(map[string]struct{}, len(events))
	for _, e := range events {
		a.Count++
		a.Amount += e.Amount
		a.Quantity += e.Quantity
		if e.Ref != "" {
			refs[e.Ref] = struct{}{}
		}
	}
	a.DistinctRefs = int64(len(refs))
	return a
}
