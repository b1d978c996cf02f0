package store

// The policy lifecycle's side of a store. Every policy document that was
// ever in force or tried as a canary is kept under its content hash, and
// one shared state says which version is in force and which candidate
// decides a share of traffic. Every replica reads that state and follows
// it, so one change (a rollback, a promotion, a guard rail stopping a
// canary) reaches them all. A change is a compare-and-swap on the state's
// sequence number, written with its history entry atomically: two people
// (or two replicas' guard rails) changing the state at the same moment
// cannot both win, and the history is the state's every change, in order.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Policy lifecycle errors.
var (
	// ErrNoPolicyVersion: no policy document kept under that version.
	ErrNoPolicyVersion = errors.New("no such policy version")
	// ErrPolicyRaced: the policy state changed since it was read; read it
	// again and decide again.
	ErrPolicyRaced = errors.New("the policy state changed meanwhile")
)

// PolicyVersion is one policy document kept by its content hash.
type PolicyVersion struct {
	// Version is the document's content hash, "sha256:" and 64 hex digits,
	// as every decision carries it.
	Version  string
	Document []byte
	// Source is where the document came from: a file path, the embedded
	// default, or "api".
	Source string
	// At, By and Message are when it was first kept, by whom (a caller's
	// identity, or "file") and why. Keeping the same document again
	// changes none of them.
	At      time.Time
	By      string
	Message string
}

// PolicyAction is what one change to the policy state did. The numbers
// are stored: never renumber.
type PolicyAction uint8

const (
	// PolicyActivate put a version in force: a policy file's new content,
	// or the first start.
	PolicyActivate PolicyAction = iota + 1
	// PolicyCanary started a candidate on a share of traffic, or changed
	// its share.
	PolicyCanary
	// PolicyPromote put the candidate in force for all traffic.
	PolicyPromote
	// PolicyStop stopped the canary: everything back on the version in
	// force.
	PolicyStop
	// PolicyGuardStop is a canary stopped by a guard rail.
	PolicyGuardStop
	// PolicyRollback put a version that was in force before back in force.
	PolicyRollback
)

var policyActions = map[PolicyAction]string{
	PolicyActivate: "activate", PolicyCanary: "canary", PolicyPromote: "promote",
	PolicyStop: "stop", PolicyGuardStop: "guard_stop", PolicyRollback: "rollback",
}

// String is the action's name, as the history shows it.
func (a PolicyAction) String() string {
	if s, ok := policyActions[a]; ok {
		return s
	}
	return fmt.Sprintf("PolicyAction(%d)", uint8(a))
}

// Valid reports whether a is a known action.
func (a PolicyAction) Valid() bool { _, ok := policyActions[a]; return ok }

// PolicyState is which versions decide, shared by every replica.
type PolicyState struct {
	// Seq counts the changes; 0 is a store that never had a state.
	Seq uint64
	// Active is the version in force.
	Active string
	// Candidate, when set, decides Percent percent of the traffic (1 to
	// 99), chosen by a sticky hash of the account or seller.
	Candidate string
	Percent   int
	// FileVersion is the version a policy file (or the embedded default)
	// last put in force, so that a replica starting with the same file
	// does not put it in force again over a rollback.
	FileVersion string
}

// PolicyChange is one entry of the state's history.
type PolicyChange struct {
	// Seq is the state's Seq after this change.
	Seq    uint64
	At     time.Time
	By     string
	Action PolicyAction
	// Version is what the change was about: the version put in force, the
	// candidate started or stopped.
	Version string
	// Percent is the canary's share after the change.
	Percent int
	Message string
}

// Policies keeps policy versions and the shared policy state.
type Policies interface {
	// KeepPolicy stores v under v.Version unless a document is kept under
	// it already, and returns the one kept (the first one's At, By and
	// Message).
	KeepPolicy(ctx context.Context, v PolicyVersion) (PolicyVersion, error)
	// PolicyVersion returns the document kept under version, or
	// ErrNoPolicyVersion.
	PolicyVersion(ctx context.Context, version string) (PolicyVersion, error)
	// PolicyVersions lists kept versions, the most recently kept first, at
	// most limit (0: all).
	PolicyVersions(ctx context.Context, limit int) ([]PolicyVersion, error)
	// PolicyState returns the state; its Seq is 0 when none was written.
	PolicyState(ctx context.Context) (PolicyState, error)
	// ChangePolicyState writes next as the state and appends ch to the
	// history, in one transaction, if the state's Seq is still prev; else
	// it writes nothing and returns ErrPolicyRaced. next.Seq and ch.Seq
	// become prev+1; the state written is returned.
	ChangePolicyState(ctx context.Context, prev uint64, next PolicyState, ch PolicyChange) (PolicyState, error)
	// PolicyChanges lists the history, the newest first, at most limit
	// (0: all).
	PolicyChanges(ctx context.Context, limit int) ([]PolicyChange, error)
}
