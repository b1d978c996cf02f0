package store

// Erasure: forgetting a person on request (GDPR art. 17, PIPL art. 47).
// A store removes every trace of the identifiers it is given, and strips
// them from the decisions that carried them, while each decision keeps its
// ID, outcome, score and reasons for the audit trail.

import (
	"context"
	"slices"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// Erasure names a subject to forget, in every form a store keeps it.
type Erasure struct {
	// IDs are the subject's keyed hashes: events counted by them, links
	// from them, marks on them and the subject index under them are
	// deleted, and they are cut out of the subjects of decisions and
	// recorded batches.
	IDs []Identifier
	// LinkSubjects are the subject as the subject of links, kept in clear
	// ("account:A1", "seller:S1"): links to it are deleted.
	LinkSubjects []string
	// Refs are the subject as an event's Ref (a keyed hash of an account
	// or seller ID, in each form the history writes it): events that
	// carry one are the subject's own orders, counted under a shared key
	// (a device, a card), and are deleted.
	Refs []string
	// Receipt is the erasure log's entry for this erasure: the store
	// appends it, with the counts, in the erasure's own transaction.
	Receipt ErasureRecord
	// Prior counts what the caller erased for this erasure just before,
	// in transactions of their own (list entries); the receipt adds it.
	Prior EraseCounts
}

// Empty reports whether the erasure names nothing.
func (e Erasure) Empty() bool { return len(e.IDs) == 0 && len(e.LinkSubjects) == 0 && len(e.Refs) == 0 }

// EraseCounts says what an erasure removed. A field per kind of data: a
// new kind of stored data that holds identifiers gets its own.
type EraseCounts struct {
	// Decisions had the subject cut from their subjects and their facts'
	// personal parts removed.
	Decisions int `json:"decisions"`
	// SubjectIndex entries were deleted (one per decision and identifier).
	SubjectIndex int `json:"subject_index"`
	Events       int `json:"events"`
	Links        int `json:"links"`
	Marks        int `json:"marks"`
	// Batches are recorded RecordEvents entries the subject was cut from.
	Batches int `json:"batches"`
	// ListEntries are named-list entries of the subject's values, on
	// every list (NamedLists.DeleteListValues), deleted before the rest.
	ListEntries int `json:"list_entries"`
}

// Add adds o's counts to c.
func (c *EraseCounts) Add(o EraseCounts) {
	c.Decisions += o.Decisions
	c.SubjectIndex += o.SubjectIndex
	c.Events += o.Events
	c.Links += o.Links
	c.Marks += o.Marks
	c.Batches += o.Batches
	c.ListEntries += o.ListEntries
}

// Erased is what a store's erasure did: its counts, and the events it
// deleted, so that a layer counting them elsewhere (Redis) deletes the
// same ones.
type Erased struct {
	Counts EraseCounts
	Events []Event
}

// Eraser is a store that forgets a subject on request. Erase is
// idempotent: a second call finds nothing and counts zero (and is logged
// again, with its own receipt, when it has one).
type Eraser interface {
	Erase(ctx context.Context, e Erasure) (Erased, error)
	ErasureLog
}

// ErasureRecord is one entry of the erasure log. It names the subject
// only by its kinds: neither a value nor its hash, which would let whoever
// holds the log and the identifier key tell whether a given person asked.
type ErasureRecord struct {
	// ID is random, given back to the caller as a receipt.
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Caller string    `json:"caller"`
	// Kinds are the kinds of the identifiers erased ("account", "device").
	Kinds  []string    `json:"kinds"`
	Counts EraseCounts `json:"counts"`
}

// ErasureLog is the append-only record of erasures: nothing in the API
// changes or deletes it, and expiry leaves it alone (it holds no personal
// data, and proves each request was carried out).
type ErasureLog interface {
	// Erasures lists the log, oldest first.
	Erasures(ctx context.Context) ([]ErasureRecord, error)
}

// ScrubFacts returns encoded DecisionFacts without their personal parts:
// the (redacted) request, whose numbers and times are still facts about
// the person, and every verifier's signals, which may hold keyed hashes
// and counts of the subject's history. What stays is what the audit
// trail needs: each verifier's name, status and findings (reason codes)
// and the rules that fired. Facts that do not decode are dropped whole.
func ScrubFacts(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	f := &riskv1.DecisionFacts{}
	if err := proto.Unmarshal(b, f); err != nil {
		return nil
	}
	f.Request = nil
	for _, v := range f.GetVerifiers() {
		v.Signals = nil
	}
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(f)
	if err != nil {
		return nil
	}
	return out
}

// ScrubDecision removes the personal parts of a stored decision: its
// signals (the same as its facts'); its ID, outcome, score, reasons,
// actions and verifier results stay. It reports whether it changed d.
func ScrubDecision(d *riskv1.Decision) bool {
	if len(d.GetSignals()) == 0 {
		return false
	}
	d.Signals = nil
	return true
}

// Without returns ids without those in erased, and whether any was cut.
func Without(ids []Identifier, erased []Identifier) ([]Identifier, bool) {
	out := slices.DeleteFunc(slices.Clone(ids), func(id Identifier) bool { return slices.Contains(erased, id) })
	return out, len(out) != len(ids)
}
