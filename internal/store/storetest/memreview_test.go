package storetest

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// The review desk of the map store: the simplest reading of store.Reviews,
// against which the suite's review tests are checked.

// forgetCase deletes a decision's case, audit and feed entries, with the
// decision. The caller holds the lock.
func (m *memData) forgetCase(id string) {
	delete(m.cases, id)
	delete(m.audit, id)
	m.feed = slices.DeleteFunc(m.feed, func(f store.FeedEntry) bool { return f.DecisionID == id })
}

func (s *memStore) ListDecisions(ctx context.Context, q store.DecisionQuery) (store.DecisionPage, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return store.DecisionPage{}, err
	}
	defer unlock()
	var all []memDecision
	for _, d := range s.data.decisions {
		at := d.d.GetDecidedAt().AsTime()
		if !q.From.IsZero() && at.Before(q.From) || !q.To.IsZero() && !at.Before(q.To) {
			continue
		}
		if q.After != nil && !q.After.Before(at, d.d.GetDecisionId()) {
			continue
		}
		if q.Subject != nil && !slices.Contains(d.search, *q.Subject) {
			continue
		}
		all = append(all, d)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].d, all[j].d
		return store.Cursor{DecidedAt: a.GetDecidedAt().AsTime(), DecisionID: a.GetDecisionId()}.Before(b.GetDecidedAt().AsTime(), b.GetDecisionId())
	})
	var page store.DecisionPage
	for i, d := range all {
		if i == q.MaxScan || len(page.Decisions) == q.Limit {
			break
		}
		page.Next = &store.Cursor{DecidedAt: d.d.GetDecidedAt().AsTime(), DecisionID: d.d.GetDecisionId()}
		if i == len(all)-1 {
			page.Next = nil
		}
		var c *store.Case
		if mc, ok := s.data.cases[d.d.GetDecisionId()]; ok {
			c = &mc
		}
		if q.Filter.Match(d.d, c) {
			var labels []riskv1.OutcomeLabel
			for k := range s.data.outcomes {
				if k.decisionID == d.d.GetDecisionId() {
					labels = append(labels, k.label)
				}
			}
			slices.Sort(labels)
			page.Decisions = append(page.Decisions, store.CaseDecision{Decision: clone(d.d), Case: c, Labels: labels})
		}
	}
	return page, nil
}

func (s *memStore) Case(ctx context.Context, id string) (store.Case, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return store.Case{}, err
	}
	defer unlock()
	c, ok := s.data.cases[id]
	if !ok {
		return store.Case{}, store.ErrNoCase
	}
	return c, nil
}

func (s *memStore) CaseAudit(ctx context.Context, id string) ([]store.AuditEntry, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return slices.Clone(s.data.audit[id]), nil
}

func (s *memStore) ListCases(ctx context.Context, q store.CaseQuery) (store.CasePage, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return store.CasePage{}, err
	}
	defer unlock()
	var all []store.Case
	for _, c := range s.data.cases {
		if !c.State.Unresolved() {
			continue
		}
		if q.After != nil && !caseAfter(c, *q.After) {
			continue
		}
		all = append(all, c)
	}
	sort.Slice(all, func(i, j int) bool {
		return caseAfter(all[j], store.CaseCursor{Due: all[i].Due, DecisionID: all[i].DecisionID})
	})
	var page store.CasePage
	for i, c := range all {
		if i == q.MaxScan || len(page.Cases) == q.Limit {
			break
		}
		page.Next = &store.CaseCursor{Due: c.Due, DecisionID: c.DecisionID}
		if i == len(all)-1 {
			page.Next = nil
		}
		if q.Match(c) {
			c := c
			page.Cases = append(page.Cases, store.CaseDecision{Decision: clone(s.data.decisions[c.DecisionID].d), Case: &c})
		}
	}
	return page, nil
}

// caseAfter reports whether c comes after the cursor: (due, id) > cursor.
func caseAfter(c store.Case, cur store.CaseCursor) bool {
	return c.Due.After(cur.Due) || c.Due.Equal(cur.Due) && c.DecisionID > cur.DecisionID
}

// appendAudit appends an entry, numbering it. The caller holds the lock.
func (m *memData) appendAudit(id string, a store.AuditEntry) {
	a.Seq = len(m.audit[id]) + 1
	m.audit[id] = append(m.audit[id], a)
}

func (s *memStore) ClaimCase(ctx context.Context, cl store.Claim) (store.Case, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return store.Case{}, err
	}
	defer unlock()
	c, ok := s.data.cases[cl.DecisionID]
	if !ok {
		return store.Case{}, store.ErrNoCase
	}
	renew, err := store.CheckClaim(c, cl)
	if err != nil {
		return store.Case{}, err
	}
	c.Holder, c.ClaimedUntil = cl.Actor, cl.Until
	s.data.cases[cl.DecisionID] = c
	action := store.AuditClaimed
	if renew {
		action = store.AuditRenewed
	}
	s.data.appendAudit(cl.DecisionID, store.AuditEntry{At: cl.At, Actor: cl.Actor, Action: action, Until: cl.Until})
	return c, nil
}

func (s *memStore) ReleaseClaim(ctx context.Context, id, actor string, at time.Time) (store.Case, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return store.Case{}, err
	}
	defer unlock()
	c, ok := s.data.cases[id]
	if !ok {
		return store.Case{}, store.ErrNoCase
	}
	if err := store.CheckRelease(c, actor, at); err != nil {
		return store.Case{}, err
	}
	c.Holder, c.ClaimedUntil = "", time.Time{}
	s.data.cases[id] = c
	s.data.appendAudit(id, store.AuditEntry{At: at, Actor: actor, Action: store.AuditReleased})
	return c, nil
}

func (s *memStore) AddCaseNote(ctx context.Context, id, actor, note string, at time.Time) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if _, ok := s.data.cases[id]; !ok {
		return store.ErrNoCase
	}
	s.data.appendAudit(id, store.AuditEntry{At: at, Actor: actor, Action: store.AuditNoted, Note: note})
	return nil
}

func (s *memStore) Resolve(ctx context.Context, r store.Resolution) (store.Case, uint64, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return store.Case{}, 0, err
	}
	defer unlock()
	m := s.data
	c, ok := m.cases[r.DecisionID]
	if !ok {
		return store.Case{}, 0, store.ErrNoCase
	}
	if err := store.CheckResolution(c, r); err != nil {
		return store.Case{}, 0, err
	}
	if r.Label != 0 {
		k := outcomeKey{r.DecisionID, r.Label}
		if _, ok := m.outcomes[k]; !ok {
			m.outcomes[k] = store.Outcome{DecisionID: r.DecisionID, Label: r.Label, Note: r.Note, At: r.At}
			for _, id := range m.decisions[r.DecisionID].subjects {
				m.marks = append(m.marks, memMark{id, store.Mark{Label: r.Label, DecisionID: r.DecisionID, At: r.At}})
			}
		}
	}
	c = store.Resolved(c, r)
	m.cases[r.DecisionID] = c
	m.appendAudit(r.DecisionID, store.ResolutionAudit(r))
	m.feedSeq++
	seq := m.feedSeq
	m.feed = append(m.feed, store.FeedEntry{Seq: seq, DecisionID: r.DecisionID, At: r.At, Event: slices.Clone(r.Event)})
	return c, seq, nil
}

func (s *memStore) DueCases(ctx context.Context, now time.Time, limit int) ([]store.Case, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []store.Case
	for _, c := range s.data.cases {
		if c.State == store.CaseOpen && !c.Due.After(now) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return caseAfter(out[j], store.CaseCursor{Due: out[i].Due, DecisionID: out[i].DecisionID})
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *memStore) Feed(ctx context.Context, after uint64, limit int) ([]store.FeedEntry, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []store.FeedEntry
	for _, f := range s.data.feed {
		if f.Seq > after && len(out) < limit {
			f.Event = slices.Clone(f.Event)
			out = append(out, f)
		}
	}
	return out, nil
}

func (s *memStore) FeedHead(ctx context.Context) (uint64, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	return s.data.feedSeq, nil
}
