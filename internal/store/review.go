package store

// The review desk's side of a store. A decision a person must look at (a
// REVIEW, or one that holds gift-card codes) opens a case in the
// decision's own commit, so no case is lost on a crash. An analyst claims
// a case (a lease, so two never work one case) and resolves it; a case
// nobody resolves by its due time is resolved by the server with the
// expiry action the policy gave it. Every change is applied by a
// conditional write, so it happens once however many analysts or replicas
// try at the same moment, and leaves an audit entry; every resolution
// also goes to a feed with a sequence number, in commit order, that
// callers follow from a cursor.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// ExpiryAction is what the server does with a case that nobody resolved
// by its due time. The numbers are stored, and are the API's: never
// renumber.
type ExpiryAction uint8

const (
	// ExpireRelease lets the decision go through: held codes are released.
	ExpireRelease ExpiryAction = iota + 1
	// ExpireDecline turns the decision into a decline: held codes are
	// never released.
	ExpireDecline
	// ExpireEscalate keeps the case open, and the codes held, until a
	// person resolves it; it is due no more.
	ExpireEscalate
)

var expiryActions = map[ExpiryAction]string{ExpireRelease: "release", ExpireDecline: "decline", ExpireEscalate: "escalate"}

// String is the action's policy name: "release", "decline" or "escalate".
func (a ExpiryAction) String() string {
	if s, ok := expiryActions[a]; ok {
		return s
	}
	return fmt.Sprintf("ExpiryAction(%d)", uint8(a))
}

// ParseExpiryAction reads a policy name.
func ParseExpiryAction(s string) (ExpiryAction, bool) {
	for a, name := range expiryActions {
		if name == s {
			return a, true
		}
	}
	return 0, false
}

// Strictness orders expiry actions from the most lenient: release, then
// escalate, then decline. A decision that several terms apply to takes the
// strictest.
func (a ExpiryAction) Strictness() int {
	switch a {
	case ExpireRelease:
		return 1
	case ExpireEscalate:
		return 2
	case ExpireDecline:
		return 3
	}
	return 0
}

// CaseState is where a case stands. The numbers are stored, and are the
// API's.
type CaseState uint8

const (
	// CaseOpen waits for a person, until its due time.
	CaseOpen CaseState = iota + 1
	// CaseEscalated waited past its due time under ExpireEscalate: it waits
	// for a person still, with no due time any more.
	CaseEscalated
	// CaseResolved is done: by an analyst, or by its expiry action.
	CaseResolved
)

// Unresolved reports whether the case still waits for a person.
func (s CaseState) Unresolved() bool { return s == CaseOpen || s == CaseEscalated }

// Verdict is how a case was resolved (or escalated). The numbers are
// stored, and are the API's.
type Verdict uint8

const (
	// VerdictConfirmedFraud: an analyst confirmed fraud (label
	// FRAUD_CONFIRMED).
	VerdictConfirmedFraud Verdict = iota + 1
	// VerdictLegitimate: an analyst found the order legitimate (label
	// LEGITIMATE).
	VerdictLegitimate
	// VerdictNeedsHolderConfirmation: an analyst hands the case back to
	// the caller, who must confirm with the account holder; no label.
	VerdictNeedsHolderConfirmation
	// VerdictExpiredRelease: nobody resolved it in time; released.
	VerdictExpiredRelease
	// VerdictExpiredDecline: nobody resolved it in time; declined.
	VerdictExpiredDecline
	// VerdictEscalated: nobody resolved it in time; escalated, still open.
	VerdictEscalated
)

// Expired reports whether the server, not a person, gave the verdict.
func (v Verdict) Expired() bool {
	return v == VerdictExpiredRelease || v == VerdictExpiredDecline || v == VerdictEscalated
}

// Valid reports whether v is a known verdict.
func (v Verdict) Valid() bool { return v >= VerdictConfirmedFraud && v <= VerdictEscalated }

// NewCase is the case a decision opens, written in the decision's commit.
type NewCase struct {
	Due      time.Time
	OnExpiry ExpiryAction
	// Amount is the order's total or the refund asked for, shown in the
	// queue; zero for a check without one (a seller).
	Amount Amount
}

// Amount is a sum of money in minor units of an ISO 4217 currency; the
// zero Amount (no currency) is none.
type Amount struct {
	Minor    int64
	Currency string
}

// Case is a decision waiting for, or resolved by, a person. Its ID is its
// decision's.
type Case struct {
	DecisionID string
	Check      riskv1.Check
	DecidedAt  time.Time
	Due        time.Time
	OnExpiry   ExpiryAction
	State      CaseState
	Amount     Amount
	// Holder claimed the case until ClaimedUntil; a claim whose time has
	// come is no claim (see ClaimedBy). Resolving ends the claim.
	Holder       string
	ClaimedUntil time.Time
	// Verdict, ResolvedBy and ResolvedAt are set by a resolution, and by
	// an escalation (VerdictEscalated, state CaseEscalated).
	Verdict    Verdict
	ResolvedBy string
	ResolvedAt time.Time
}

// ClaimedBy is who holds a live claim on the case at now; "" for nobody.
func (c Case) ClaimedBy(now time.Time) string {
	if c.Holder != "" && now.Before(c.ClaimedUntil) {
		return c.Holder
	}
	return ""
}

// AuditAction is what an audit entry records. The numbers are stored, and
// are the API's.
type AuditAction uint8

const (
	AuditClaimed AuditAction = iota + 1
	// AuditRenewed: the holder claimed the case again, before the lease ran out.
	AuditRenewed
	AuditReleased
	AuditResolved
	// AuditExpired: the server resolved the case by its expiry action.
	AuditExpired
	// AuditEscalated: the server escalated the case at its due time.
	AuditEscalated
	AuditNoted
)

// AuditEntry is one change to a case, kept as long as its decision: who
// did what, when. Entries are only ever appended.
type AuditEntry struct {
	// Seq numbers a case's entries from 1, in the order they were made.
	Seq    int
	At     time.Time
	Actor  string
	Action AuditAction
	// Verdict of a resolution, expiry or escalation.
	Verdict Verdict
	// Until is the end of a claim's lease (claimed, renewed).
	Until time.Time
	// Note is free text, kept as sent.
	Note string
}

// Claim asks for a lease on a case until Until.
type Claim struct {
	DecisionID string
	Actor      string
	At, Until  time.Time
}

// Resolution resolves a case, or escalates it (VerdictEscalated). The
// store applies it only if the case is unresolved and its conditions hold,
// in one transaction with everything it adds, so it happens once.
type Resolution struct {
	DecisionID string
	Verdict    Verdict
	// Label, if set, is recorded exactly as ReportOutcome records it (the
	// outcome, and a mark on each of the decision's subjects), in the same
	// transaction.
	Label riskv1.OutcomeLabel
	Actor string
	Note  string
	At    time.Time
	// ByClaim: only the holder of a live claim (Actor) may resolve.
	ByClaim bool
	// Overdue: only an open case (not escalated) whose due time is at or
	// before At: the expiry's condition.
	Overdue bool
	// Event is the feed entry (an encoded riskv1.CaseEvent, without its
	// sequence, which the store assigns).
	Event []byte
}

// FeedEntry is one resolution in the feed.
type FeedEntry struct {
	// Seq is the entry's place in the feed: from 1, without gaps, in the
	// order the resolutions were committed, so a reader that has seen Seq
	// n has seen every entry before it.
	Seq        uint64
	DecisionID string
	At         time.Time
	Event      []byte
}

// Errors about cases. A refused change comes as a *CaseError wrapping
// one of them, with the case as it stood.
var (
	// ErrNoCase: the decision opened no case (or is unknown).
	ErrNoCase = errors.New("no case for this decision")
	// ErrCaseResolved: the case is resolved already.
	ErrCaseResolved = errors.New("case already resolved")
	// ErrCaseClaimed: another holds a live claim on the case.
	ErrCaseClaimed = errors.New("case claimed by someone else")
	// ErrNotClaimed: the change needs the caller's live claim, and the
	// caller has none.
	ErrNotClaimed = errors.New("case not claimed by the caller")
	// ErrNotDue: the expiry's condition does not hold (the case is
	// escalated, or not due yet).
	ErrNotDue = errors.New("case not due")
)

// CaseError is a refused change to a case, with the case as it stood.
type CaseError struct {
	Err  error
	Case Case
}

func (e *CaseError) Error() string { return e.Err.Error() + ": " + e.Case.DecisionID }
func (e *CaseError) Unwrap() error { return e.Err }

// CheckResolution says why r cannot be applied to c, or nil if it can:
// the one rule every backend applies inside its write.
func CheckResolution(c Case, r Resolution) error {
	switch {
	case c.State == CaseResolved: // once: whoever comes second is refused
		return &CaseError{ErrCaseResolved, c}
	case r.Overdue && (c.State != CaseOpen || c.Due.After(r.At)):
		return &CaseError{ErrNotDue, c}
	case r.ByClaim && c.ClaimedBy(r.At) != r.Actor:
		if h := c.ClaimedBy(r.At); h != "" {
			return &CaseError{ErrCaseClaimed, c}
		}
		return &CaseError{ErrNotClaimed, c}
	}
	return nil
}

// Resolved is c after r: the state, verdict and claim a backend stores.
func Resolved(c Case, r Resolution) Case {
	c.State = CaseResolved
	if r.Verdict == VerdictEscalated {
		c.State = CaseEscalated
	} else {
		c.ClaimedUntil = time.Time{}
	}
	c.Verdict, c.ResolvedBy, c.ResolvedAt = r.Verdict, r.Actor, r.At
	return c
}

// ResolutionAudit is the audit entry a resolution adds (Seq aside).
func ResolutionAudit(r Resolution) AuditEntry {
	a := AuditEntry{At: r.At, Actor: r.Actor, Action: AuditResolved, Verdict: r.Verdict, Note: r.Note}
	switch {
	case r.Verdict == VerdictEscalated:
		a.Action = AuditEscalated
	case r.Verdict.Expired():
		a.Action = AuditExpired
	}
	return a
}

// CheckClaim says why cl cannot be granted on c, or nil, and whether it
// renews the caller's own live claim.
func CheckClaim(c Case, cl Claim) (renew bool, err error) {
	if c.State == CaseResolved {
		return false, &CaseError{ErrCaseResolved, c}
	}
	switch h := c.ClaimedBy(cl.At); h {
	case "":
		return false, nil
	case cl.Actor:
		return true, nil
	}
	return false, &CaseError{ErrCaseClaimed, c}
}

// CheckRelease says why actor cannot release its claim on c at at, or nil.
// A holder may release a claim whose lease ran out (nobody else took it).
func CheckRelease(c Case, actor string, at time.Time) error {
	switch {
	case c.State == CaseResolved:
		return &CaseError{ErrCaseResolved, c}
	case c.Holder == actor && c.Holder != "":
		return nil
	case c.ClaimedBy(at) != "":
		return &CaseError{ErrCaseClaimed, c}
	}
	return &CaseError{ErrNotClaimed, c}
}

// Cursor is a place in the decision log, newest first: decisions strictly
// before it come after it.
type Cursor struct {
	DecidedAt  time.Time
	DecisionID string
}

// Before reports whether a decision at (at, id) comes after the cursor
// in a newest-first listing: (at, id) < (c.DecidedAt, c.DecisionID).
func (c Cursor) Before(at time.Time, id string) bool {
	return at.Before(c.DecidedAt) || at.Equal(c.DecidedAt) && id < c.DecisionID
}

// CaseFilter selects decisions by their case.
type CaseFilter uint8

const (
	// AnyCase: with or without a case.
	AnyCase CaseFilter = iota
	// OpenCase: a case still waiting for a person (open or escalated).
	OpenCase
	// ResolvedCase: a resolved case.
	ResolvedCase
)

// DecisionFilter selects decisions by what they carry. Every field set
// must match; a list matches when any of its values does.
type DecisionFilter struct {
	Checks   []riskv1.Check
	Outcomes []riskv1.Outcome
	// Actions: the decision asks for any of them.
	Actions []riskv1.Action
	// PolicyVersion: decided under exactly this version.
	PolicyVersion string
	// ReasonCode: the decision carries this reason, shadow ones included.
	ReasonCode string
	Case       CaseFilter
}

// Match reports whether a decision, with its case (nil if it opened
// none), passes the filter: the one reading every backend applies.
func (f DecisionFilter) Match(d *riskv1.Decision, c *Case) bool {
	if len(f.Checks) > 0 && !slices.Contains(f.Checks, d.GetCheck()) {
		return false
	}
	if len(f.Outcomes) > 0 && !slices.Contains(f.Outcomes, d.GetOutcome()) {
		return false
	}
	if len(f.Actions) > 0 && !slices.ContainsFunc(d.GetActions(), func(a riskv1.Action) bool { return slices.Contains(f.Actions, a) }) {
		return false
	}
	if f.PolicyVersion != "" && d.GetPolicyVersion() != f.PolicyVersion {
		return false
	}
	if f.ReasonCode != "" && !slices.ContainsFunc(d.GetReasons(), func(r *riskv1.Reason) bool { return r.GetCode() == f.ReasonCode }) {
		return false
	}
	switch f.Case {
	case OpenCase:
		return c != nil && c.State.Unresolved()
	case ResolvedCase:
		return c != nil && c.State == CaseResolved
	}
	return true
}

// DecisionQuery asks for decisions, newest first.
type DecisionQuery struct {
	// Subject, if set: only decisions made with this identifier (any of
	// the decision's subjects, or the identifiers it is indexed by).
	Subject *Identifier
	// From and To bound decided_at to [From, To); zero is unbounded.
	From, To time.Time
	// After, if set, continues a listing: only decisions strictly before
	// it (Cursor.Before).
	After  *Cursor
	Filter DecisionFilter
	// Limit is the most decisions returned; MaxScan the most read (so a
	// filter that matches little cannot make one call read the whole
	// log). Both at least 1.
	Limit, MaxScan int
}

// CaseDecision is a decision with its case (nil if it opened none).
type CaseDecision struct {
	Decision *riskv1.Decision
	Case     *Case
}

// DecisionPage is one page of a listing.
type DecisionPage struct {
	Decisions []CaseDecision
	// Next is where the listing goes on (the last decision read, matched
	// or not), nil when nothing is left. A page can hold fewer than Limit
	// decisions, even none, while Next is set: the scan stopped at
	// MaxScan.
	Next *Cursor
}

// CaseCursor is a place in the queue: cases after (Due, DecisionID).
type CaseCursor struct {
	Due        time.Time
	DecisionID string
}

// CaseQuery asks for unresolved cases, soonest due first.
type CaseQuery struct {
	// States: CaseOpen, CaseEscalated or both (empty: both).
	States []CaseState
	// Checks: any of them (empty: all).
	Checks []riskv1.Check
	// Holder, if set: cases whose live claim (at Now) is Holder's.
	// Unclaimed: cases without a live claim. At most one of the two.
	Holder    string
	Unclaimed bool
	Now       time.Time
	After     *CaseCursor
	// Limit is the most cases returned; MaxScan the most read.
	Limit, MaxScan int
}

// Match reports whether an unresolved case passes the query's filters.
func (q CaseQuery) Match(c Case) bool {
	if !c.State.Unresolved() || len(q.States) > 0 && !slices.Contains(q.States, c.State) {
		return false
	}
	if len(q.Checks) > 0 && !slices.Contains(q.Checks, c.Check) {
		return false
	}
	switch h := c.ClaimedBy(q.Now); {
	case q.Holder != "" && h != q.Holder:
		return false
	case q.Unclaimed && h != "":
		return false
	}
	return true
}

// CasePage is one page of the queue.
type CasePage struct {
	Cases []CaseDecision
	// Next is where the queue goes on, nil when nothing is left.
	Next *CaseCursor
}

// Reviews keeps cases, their audit trail and the feed of resolutions, and
// lists decisions for people to search.
type Reviews interface {
	// ListDecisions lists decisions, newest first.
	ListDecisions(ctx context.Context, q DecisionQuery) (DecisionPage, error)
	// Case returns a decision's case, or ErrNoCase.
	Case(ctx context.Context, decisionID string) (Case, error)
	// CaseAudit returns a case's audit trail, oldest first (none for a
	// decision without a case).
	CaseAudit(ctx context.Context, decisionID string) ([]AuditEntry, error)
	// ListCases lists unresolved cases, soonest due first.
	ListCases(ctx context.Context, q CaseQuery) (CasePage, error)
	// ClaimCase grants cl (CheckClaim), or renews the actor's own live
	// claim, and audits it.
	ClaimCase(ctx context.Context, cl Claim) (Case, error)
	// ReleaseClaim ends the actor's claim (CheckRelease) and audits it.
	ReleaseClaim(ctx context.Context, decisionID, actor string, at time.Time) (Case, error)
	// AddCaseNote appends a note to a case's audit trail, resolved or not.
	AddCaseNote(ctx context.Context, decisionID, actor, note string, at time.Time) error
	// Resolve applies r if CheckResolution allows it, with its label,
	// audit entry and feed entry, in one transaction, and returns the
	// case as resolved and the feed entry's sequence.
	Resolve(ctx context.Context, r Resolution) (Case, uint64, error)
	// DueCases lists open cases (not escalated) due at or before now,
	// soonest due first, at most limit.
	DueCases(ctx context.Context, now time.Time, limit int) ([]Case, error)
	// Feed lists the feed entries after sequence after, in order, at most
	// limit.
	Feed(ctx context.Context, after uint64, limit int) ([]FeedEntry, error)
	// FeedHead is the sequence of the newest feed entry (0 if none).
	FeedHead(ctx context.Context) (uint64, error)
}
