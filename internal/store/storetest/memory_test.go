package storetest

import (
	"context"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// TestMemory runs the suite against the simplest correct store, a map
// behind a mutex, to show that the suite's expectations hold together. It
// is not a backend: riskd does not use it.
func TestMemory(t *testing.T) {
	open := func(t *testing.T) store.Store {
		s := &memStore{data: newMemData()}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	reopen := func(t *testing.T, s store.Store) store.Store {
		m := s.(*memStore)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		s2 := &memStore{data: m.data}
		t.Cleanup(func() { _ = s2.Close() })
		return s2
	}
	Run(t, open, reopen)
}

// memStore is one open handle on memData; reopening makes a new handle on
// the same data, as a restart would.
type memStore struct {
	data   *memData
	closed bool // guarded by data.mu
}

var _ store.Store = (*memStore)(nil)

type requestKey struct {
	check riskv1.Check
	id    string
}

type outcomeKey struct {
	decisionID string
	label      riskv1.OutcomeLabel
}

// eventKey is what makes an event itself: its series, key, time and ID.
type eventKey struct {
	series string
	key    store.Identifier
	at     int64 // UnixNano: time.Time's location would split equal times
	id     string
}

type linkKey struct {
	id      store.Identifier
	subject string
}

type memDecision struct {
	d        *riskv1.Decision
	hash     [store.HashSize]byte
	subjects []store.Identifier
	facts    []byte
	// search are the identifiers the decision is found by.
	search []store.Identifier
}

type memMark struct {
	id   store.Identifier
	mark store.Mark
}

type memData struct {
	mu        sync.Mutex
	decisions map[string]memDecision
	requests  map[requestKey]string
	events    map[eventKey]store.Event
	links     map[linkKey]store.Link
	marks     []memMark
	outcomes  map[outcomeKey]store.Outcome
	batches   map[string][]store.Identifier // event ID -> subjects
	// The review desk (memreview_test.go).
	cases map[string]store.Case
	audit map[string][]store.AuditEntry
	feed  []store.FeedEntry
	// feedSeq is the last sequence given: expiry never makes one reused.
	feedSeq uint64
	// The policy lifecycle (mempolicies_test.go).
	pol memPolicies
	// The named lists (memlists_test.go), made on first use.
	lists *memLists
}

func newMemData() *memData {
	return &memData{
		decisions: map[string]memDecision{},
		requests:  map[requestKey]string{},
		events:    map[eventKey]store.Event{},
		links:     map[linkKey]store.Link{},
		outcomes:  map[outcomeKey]store.Outcome{},
		batches:   map[string][]store.Identifier{},
		cases:     map[string]store.Case{},
		audit:     map[string][]store.AuditEntry{},
	}
}

// lock takes the data lock after checking the context and the handle.
func (s *memStore) lock(ctx context.Context) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.data.mu.Lock()
	if s.closed {
		s.data.mu.Unlock()
		return nil, store.ErrClosed
	}
	return s.data.mu.Unlock, nil
}

func clone(d *riskv1.Decision) *riskv1.Decision { return proto.Clone(d).(*riskv1.Decision) }

func (s *memStore) Commit(ctx context.Context, c store.Commit) (*riskv1.Decision, bool, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	m := s.data
	rk := requestKey{c.Decision.GetCheck(), c.Decision.GetRequestId()}
	if id, ok := m.requests[rk]; ok {
		old := m.decisions[id]
		if old.hash != c.RequestHash {
			return nil, false, store.ErrRequestConflict
		}
		return clone(old.d), false, nil
	}
	d := clone(c.Decision)
	m.decisions[d.GetDecisionId()] = memDecision{d: d, hash: c.RequestHash, subjects: append([]store.Identifier(nil), c.Subjects...), facts: append([]byte(nil), c.Facts...),
		search: slices.Clone(c.SearchKeys())}
	m.requests[rk] = d.GetDecisionId()
	if c.Case != nil {
		m.cases[d.GetDecisionId()] = store.Case{DecisionID: d.GetDecisionId(), Check: d.GetCheck(), DecidedAt: d.GetDecidedAt().AsTime(),
			Due: c.Case.Due, OnExpiry: c.Case.OnExpiry, State: store.CaseOpen, Amount: c.Case.Amount}
	}
	m.putEvents(c.Events)
	m.putLinks(c.Links)
	return clone(d), true, nil
}

func (m *memData) putEvents(es []store.Event) {
	for _, e := range es {
		k := eventKey{e.Series, e.Key, e.At.UnixNano(), e.ID}
		if _, ok := m.events[k]; !ok {
			m.events[k] = e
		}
	}
}

func (m *memData) putLinks(ls []store.Link) {
	for _, l := range ls {
		k := linkKey{l.ID, l.Subject}
		if _, ok := m.links[k]; !ok {
			m.links[k] = l
		}
	}
}

func (s *memStore) Decision(ctx context.Context, id string) (*riskv1.Decision, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	d, ok := s.data.decisions[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return clone(d.d), nil
}

func (s *memStore) Subjects(ctx context.Context, id string) ([]store.Identifier, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	d, ok := s.data.decisions[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return append([]store.Identifier(nil), d.subjects...), nil
}

func (s *memStore) Facts(ctx context.Context, id string) ([]byte, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	d, ok := s.data.decisions[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return append([]byte(nil), d.facts...), nil
}

func (s *memStore) DecisionByRequest(ctx context.Context, check riskv1.Check, requestID string) (*riskv1.Decision, [store.HashSize]byte, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, [store.HashSize]byte{}, err
	}
	defer unlock()
	id, ok := s.data.requests[requestKey{check, requestID}]
	if !ok {
		return nil, [store.HashSize]byte{}, store.ErrNotFound
	}
	d := s.data.decisions[id]
	return clone(d.d), d.hash, nil
}

func (s *memStore) ScanDecisions(ctx context.Context, from, to time.Time, fn func(*riskv1.Decision) error) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	var ds []*riskv1.Decision
	for _, d := range s.data.decisions {
		if at := d.d.GetDecidedAt().AsTime(); !at.Before(from) && at.Before(to) {
			ds = append(ds, clone(d.d))
		}
	}
	unlock() // fn may call the store
	sort.Slice(ds, func(i, j int) bool { return ds[i].GetDecidedAt().AsTime().Before(ds[j].GetDecidedAt().AsTime()) })
	for _, d := range ds {
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// window returns key's events in series with At in [since, until), oldest
// first. The caller holds the lock.
func (m *memData) window(series string, key store.Identifier, since, until time.Time) []store.Event {
	var es []store.Event
	for _, e := range m.events {
		if e.Series == series && e.Key == key && !e.At.Before(since) && e.At.Before(until) {
			es = append(es, e)
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].At.Before(es[j].At) })
	return es
}

func (s *memStore) Events(ctx context.Context, series string, key store.Identifier, since, until time.Time, limit int) ([]store.Event, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	es := s.data.window(series, key, since, until)
	if limit > 0 && len(es) > limit {
		es = es[:limit]
	}
	return es, nil
}

func (s *memStore) Linked(ctx context.Context, id store.Identifier, limit int) ([]store.Link, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var ls []store.Link
	for k, l := range s.data.links {
		if k.id == id {
			ls = append(ls, l)
		}
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].At.Before(ls[j].At) })
	if limit > 0 && len(ls) > limit {
		ls = ls[:limit]
	}
	return ls, nil
}

func (s *memStore) Record(ctx context.Context, batch []store.Batch) (int, int, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer unlock()
	m := s.data
	var recorded, dups int
	for _, b := range batch {
		if _, ok := m.batches[b.EventID]; ok {
			dups++
			continue
		}
		m.batches[b.EventID] = slices.Clone(b.Subjects)
		m.putEvents(b.Events)
		m.putLinks(b.Links)
		for _, im := range b.Marks {
			m.marks = append(m.marks, memMark{im.ID, im.Mark})
		}
		recorded++
	}
	return recorded, dups, nil
}

func (s *memStore) RecordedSubjects(ctx context.Context, eventID string) ([]store.Identifier, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ids, ok := s.data.batches[eventID]
	if !ok {
		return nil, store.ErrNotFound
	}
	return slices.Clone(ids), nil
}

func (s *memStore) ReportOutcome(ctx context.Context, o store.Outcome) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	m := s.data
	d, ok := m.decisions[o.DecisionID]
	if !ok {
		return store.ErrNotFound
	}
	k := outcomeKey{o.DecisionID, o.Label}
	if _, ok := m.outcomes[k]; ok {
		return nil
	}
	m.outcomes[k] = o
	for _, id := range d.subjects {
		m.marks = append(m.marks, memMark{id, store.Mark{Label: o.Label, DecisionID: o.DecisionID, At: o.At}})
	}
	return nil
}

func (s *memStore) Marks(ctx context.Context, id store.Identifier) ([]store.Mark, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var ms []store.Mark
	for _, mm := range s.data.marks {
		if mm.id == id {
			ms = append(ms, mm.mark)
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].At.Before(ms[j].At) })
	return ms, nil
}

func (s *memStore) ScanOutcomes(ctx context.Context, from, to time.Time, fn func(store.Outcome) error) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	var out []store.Outcome
	for _, o := range s.data.outcomes {
		if !o.At.Before(from) && o.At.Before(to) {
			out = append(out, o)
		}
	}
	unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	for _, o := range out {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// Expire deletes, in turn, expired events, decisions (with their request
// index and outcomes), links and marks, one item each, until limit.
func (s *memStore) Expire(ctx context.Context, now time.Time, r store.Retention, limit int) (int, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	m := s.data
	eventsBefore, decisionsBefore := now.Add(-r.Events), now.Add(-r.Decisions)
	n := 0
	for id, e := range m.events {
		if n == limit {
			return n, nil
		}
		if e.At.Before(eventsBefore) {
			delete(m.events, id)
			n++
		}
	}
	for id, d := range m.decisions {
		if n == limit {
			return n, nil
		}
		if d.d.GetDecidedAt().AsTime().Before(decisionsBefore) {
			delete(m.decisions, id)
			delete(m.requests, requestKey{d.d.GetCheck(), d.d.GetRequestId()})
			for k := range m.outcomes {
				if k.decisionID == id {
					delete(m.outcomes, k)
				}
			}
			m.forgetCase(id)
			n++
		}
	}
	for k, l := range m.links {
		if n == limit {
			return n, nil
		}
		if l.At.Before(decisionsBefore) {
			delete(m.links, k)
			n++
		}
	}
	kept := m.marks[:0]
	for _, mm := range m.marks {
		if n < limit && mm.mark.At.Before(decisionsBefore) {
			n++
			continue
		}
		kept = append(kept, mm)
	}
	m.marks = kept
	return n, nil
}

func (s *memStore) Close() error {
	s.data.mu.Lock()
	defer s.data.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.closed = true
	return nil
}
