// Package historytest is a history in memory for the tests of the verifiers
// that read history: a history.Reader with the same semantics as every
// store (see store.History and the storetest conformance suite), filled
// the way the server fills a store.
package historytest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"google.golang.org/protobuf/proto"
)

// Reader is the history: one series and key per read, At in [since,
// until), oldest first, at most limit events (0 means no limit) keeping
// the oldest. Each verifier's tests check it against the embedded store.
type Reader struct {
	events []store.Event
	links  []store.Link
	marks  []store.IdentifierMark
}

var _ history.Reader = (*Reader)(nil)

// All returns every event added, in the order added.
func (r *Reader) All() []store.Event { return r.events }

// Events implements the verifiers' history reader.
func (r *Reader) Events(ctx context.Context, series string, key store.Identifier, since, until time.Time, limit int) ([]store.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Event
	for _, e := range r.events {
		if e.Series == series && e.Key == key && !e.At.Before(since) && e.At.Before(until) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b store.Event) int { return a.At.Compare(b.At) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// AddDecided adds what the server commits for req decided at at under the
// decision ID id: a declined order's gift-card events carry
// history.RefDeclined, as the server marks them.
func (r *Reader) AddDecided(t testing.TB, keys *pseudonym.Keyer, req proto.Message, id string, at time.Time, declined bool) {
	t.Helper()
	entry, err := history.Derive(keys, req, id, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(entry.Events) == 0 {
		t.Fatal("the past order adds no events")
	}
	for _, e := range entry.Events {
		if declined && e.Series == history.SeriesGiftCard {
			e.Ref = history.Declined(e.Ref)
		}
		r.events = append(r.events, e)
	}
}

// Add adds events as they are.
func (r *Reader) Add(events ...store.Event) { r.events = append(r.events, events...) }

// AddLinks adds links as they are.
func (r *Reader) AddLinks(links ...store.Link) { r.links = append(r.links, links...) }

// AddMarks adds marks as they are.
func (r *Reader) AddMarks(marks ...store.IdentifierMark) { r.marks = append(r.marks, marks...) }

// Linked implements history.Reader: the subjects that used id, one link
// per subject (the first added, as a store keeps the first written),
// oldest first, at most limit (0 means all).
func (r *Reader) Linked(ctx context.Context, id store.Identifier, limit int) ([]store.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Link
	for _, l := range r.links {
		if l.ID != id {
			continue
		}
		if slices.ContainsFunc(out, func(o store.Link) bool { return o.Subject == l.Subject }) {
			continue
		}
		out = append(out, l)
	}
	slices.SortStableFunc(out, func(a, b store.Link) int { return a.At.Compare(b.At) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Marks implements history.Reader: the marks on id, oldest first.
func (r *Reader) Marks(ctx context.Context, id store.Identifier) ([]store.Mark, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []store.Mark
	for _, m := range r.marks {
		if m.ID == id {
			out = append(out, m.Mark)
		}
	}
	slices.SortStableFunc(out, func(a, b store.Mark) int { return a.At.Compare(b.At) })
	return out, nil
}
