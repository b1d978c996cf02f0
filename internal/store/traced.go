package store

import (
	"context"
	"errors"
	"log/slog"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Traced wraps a store so that every call has a span. Attributes name the
// operation and sizes, never identifiers or their hashes. With a meter it
// also records each commit's duration (riskd.store.commit.duration) and,
// for a store that counts its group commits, the groups and the commits
// they carried (riskd.store.commit.groups, riskd.store.commits: their
// rates' ratio is the mean group size), read when metrics are collected.
func Traced(s Store, t trace.Tracer, m metric.Meter) (Store, error) {
	ts := &traced{s: s, t: t}
	if m == nil {
		return ts, nil
	}
	var err error
	if ts.commitTime, err = m.Float64Histogram("riskd.store.commit.duration", metric.WithUnit("s"),
		metric.WithDescription("Time a decision waited for its commit, group commit included.")); err != nil {
		return nil, err
	}
	if c, ok := s.(CommitCounter); ok {
		groups, err := m.Int64ObservableCounter("riskd.store.commit.groups",
			metric.WithDescription("Group commits: one transaction (one flush) each."))
		if err != nil {
			return nil, err
		}
		commits, err := m.Int64ObservableCounter("riskd.store.commits",
			metric.WithDescription("Commits the group commits carried; commits over groups is the mean group size."))
		if err != nil {
			return nil, err
		}
		if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			st := c.CommitStats()
			o.ObserveInt64(groups, int64(st.Groups))
			o.ObserveInt64(commits, int64(st.Commits))
			return nil
		}, groups, commits); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

type traced struct {
	s          Store
	t          trace.Tracer
	commitTime metric.Float64Histogram // nil without a meter
}

// WatchHealth implements HealthWatcher for a store that does.
func (t *traced) WatchHealth(fn func(up bool)) {
	if h, ok := t.s.(HealthWatcher); ok {
		h.WatchHealth(fn)
	}
}

// noEnd ends the span that was not started.
func noEnd(error) {}

func (t *traced) span(ctx context.Context, op string, attrs ...attribute.KeyValue) (context.Context, func(error)) {
	// Inside a trace that is not kept, a span would be built only to be
	// dropped: a decision makes a dozen store calls.
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, noEnd
	}
	ctx, sp := t.t.Start(ctx, "store "+op, trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil && !errors.Is(err, ErrNotFound) {
			sp.RecordError(err)
			sp.SetStatus(codes.Error, "store error")
		}
		sp.End()
	}
}

func (t *traced) Commit(ctx context.Context, c Commit) (*riskv1.Decision, bool, error) {
	ctx, end := t.span(ctx, "Commit", attribute.Int("riskd.store.events", len(c.Events)), attribute.Int("riskd.store.links", len(c.Links)))
	var start time.Time
	if t.commitTime != nil {
		start = time.Now()
	}
	d, fresh, err := t.s.Commit(ctx, c)
	if t.commitTime != nil && err == nil {
		t.commitTime.Record(ctx, time.Since(start).Seconds())
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.Bool("riskd.store.fresh", fresh))
	end(err)
	return d, fresh, err
}

func (t *traced) Decision(ctx context.Context, id string) (*riskv1.Decision, error) {
	ctx, end := t.span(ctx, "Decision")
	d, err := t.s.Decision(ctx, id)
	end(err)
	return d, err
}

func (t *traced) DecisionByRequest(ctx context.Context, check riskv1.Check, requestID string) (*riskv1.Decision, [HashSize]byte, error) {
	ctx, end := t.span(ctx, "DecisionByRequest")
	d, h, err := t.s.DecisionByRequest(ctx, check, requestID)
	end(err)
	return d, h, err
}

func (t *traced) Subjects(ctx context.Context, id string) ([]Identifier, error) {
	ctx, end := t.span(ctx, "Subjects")
	s, err := t.s.Subjects(ctx, id)
	end(err)
	return s, err
}

func (t *traced) Facts(ctx context.Context, id string) ([]byte, error) {
	ctx, end := t.span(ctx, "Facts")
	f, err := t.s.Facts(ctx, id)
	end(err)
	return f, err
}

func (t *traced) ScanDecisions(ctx context.Context, from, to time.Time, fn func(*riskv1.Decision) error) error {
	ctx, end := t.span(ctx, "ScanDecisions")
	err := t.s.ScanDecisions(ctx, from, to, fn)
	end(err)
	return err
}

func (t *traced) Events(ctx context.Context, series string, key Identifier, since, until time.Time, limit int) ([]Event, error) {
	ctx, end := t.span(ctx, "Events", attribute.String("riskd.store.series", series), attribute.String("riskd.store.kind", key.Kind.Name()))
	e, err := t.s.Events(ctx, series, key, since, until, limit)
	end(err)
	return e, err
}

func (t *traced) Linked(ctx context.Context, id Identifier, limit int) ([]Link, error) {
	ctx, end := t.span(ctx, "Linked", attribute.String("riskd.store.kind", id.Kind.Name()))
	l, err := t.s.Linked(ctx, id, limit)
	end(err)
	return l, err
}

func (t *traced) Record(ctx context.Context, batch []Batch) (int, int, error) {
	ctx, end := t.span(ctx, "Record", attribute.Int("riskd.store.batch", len(batch)))
	r, d, err := t.s.Record(ctx, batch)
	end(err)
	return r, d, err
}

func (t *traced) RecordedSubjects(ctx context.Context, eventID string) ([]Identifier, error) {
	ctx, end := t.span(ctx, "RecordedSubjects")
	s, err := t.s.RecordedSubjects(ctx, eventID)
	end(err)
	return s, err
}

func (t *traced) ReportOutcome(ctx context.Context, o Outcome) error {
	ctx, end := t.span(ctx, "ReportOutcome", attribute.String("riskd.outcome_label", o.Label.String()))
	err := t.s.ReportOutcome(ctx, o)
	end(err)
	return err
}

func (t *traced) Marks(ctx context.Context, id Identifier) ([]Mark, error) {
	ctx, end := t.span(ctx, "Marks", attribute.String("riskd.store.kind", id.Kind.Name()))
	m, err := t.s.Marks(ctx, id)
	end(err)
	return m, err
}

func (t *traced) ScanOutcomes(ctx context.Context, from, to time.Time, fn func(Outcome) error) error {
	ctx, end := t.span(ctx, "ScanOutcomes")
	err := t.s.ScanOutcomes(ctx, from, to, fn)
	end(err)
	return err
}

func (t *traced) Expire(ctx context.Context, now time.Time, r Retention, limit int) (int, error) {
	ctx, end := t.span(ctx, "Expire")
	n, err := t.s.Expire(ctx, now, r, limit)
	end(err)
	return n, err
}

func (t *traced) Close() error { return t.s.Close() }

// RunExpiry deletes expired history and decisions every interval until ctx
// ends. It works in small batches, each its own short transaction, so a
// large backlog never holds up decisions waiting to commit.
func RunExpiry(ctx context.Context, s Store, r Retention, every time.Duration, log *slog.Logger) {
	const batch = 500
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		total := 0
		for ctx.Err() == nil {
			n, err := s.Expire(ctx, time.Now(), r, batch)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("expiry failed; will retry", "error", err, "next_in", every.String())
				}
				break
			}
			total += n
			if n < batch {
				break
			}
		}
		if total > 0 {
			log.Info("expired old history and decisions", "deleted", total)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *traced) ListDecisions(ctx context.Context, q DecisionQuery) (DecisionPage, error) {
	ctx, end := t.span(ctx, "ListDecisions", attribute.Int("riskd.store.limit", q.Limit))
	p, err := t.s.ListDecisions(ctx, q)
	end(err)
	return p, err
}

func (t *traced) Case(ctx context.Context, id string) (Case, error) {
	ctx, end := t.span(ctx, "Case")
	c, err := t.s.Case(ctx, id)
	end(err)
	return c, err
}

func (t *traced) CaseAudit(ctx context.Context, id string) ([]AuditEntry, error) {
	ctx, end := t.span(ctx, "CaseAudit")
	a, err := t.s.CaseAudit(ctx, id)
	end(err)
	return a, err
}

func (t *traced) ListCases(ctx context.Context, q CaseQuery) (CasePage, error) {
	ctx, end := t.span(ctx, "ListCases", attribute.Int("riskd.store.limit", q.Limit))
	p, err := t.s.ListCases(ctx, q)
	end(err)
	return p, err
}

func (t *traced) ClaimCase(ctx context.Context, cl Claim) (Case, error) {
	ctx, end := t.span(ctx, "ClaimCase")
	c, err := t.s.ClaimCase(ctx, cl)
	end(err)
	return c, err
}

func (t *traced) ReleaseClaim(ctx context.Context, id, actor string, at time.Time) (Case, error) {
	ctx, end := t.span(ctx, "ReleaseClaim")
	c, err := t.s.ReleaseClaim(ctx, id, actor, at)
	end(err)
	return c, err
}

func (t *traced) AddCaseNote(ctx context.Context, id, actor, note string, at time.Time) error {
	ctx, end := t.span(ctx, "AddCaseNote")
	err := t.s.AddCaseNote(ctx, id, actor, note, at)
	end(err)
	return err
}

func (t *traced) Resolve(ctx context.Context, r Resolution) (Case, uint64, error) {
	ctx, end := t.span(ctx, "Resolve", attribute.Int("riskd.store.verdict", int(r.Verdict)))
	c, seq, err := t.s.Resolve(ctx, r)
	end(err)
	return c, seq, err
}

func (t *traced) DueCases(ctx context.Context, now time.Time, limit int) ([]Case, error) {
	ctx, end := t.span(ctx, "DueCases")
	cs, err := t.s.DueCases(ctx, now, limit)
	end(err)
	return cs, err
}

func (t *traced) Feed(ctx context.Context, after uint64, limit int) ([]FeedEntry, error) {
	ctx, end := t.span(ctx, "Feed")
	f, err := t.s.Feed(ctx, after, limit)
	end(err)
	return f, err
}

func (t *traced) FeedHead(ctx context.Context) (uint64, error) {
	ctx, end := t.span(ctx, "FeedHead")
	h, err := t.s.FeedHead(ctx)
	end(err)
	return h, err
}

func (t *traced) CreateList(ctx context.Context, l List) (List, bool, error) {
	ctx, end := t.span(ctx, "CreateList")
	out, created, err := t.s.CreateList(ctx, l)
	end(err)
	return out, created, err
}

func (t *traced) Lists(ctx context.Context) ([]List, error) {
	ctx, end := t.span(ctx, "Lists")
	out, err := t.s.Lists(ctx)
	end(err)
	return out, err
}

func (t *traced) AddListEntries(ctx context.Context, list string, entries []ListEntry) ([]string, error) {
	ctx, end := t.span(ctx, "AddListEntries", attribute.Int("riskd.store.entries", len(entries)))
	ids, err := t.s.AddListEntries(ctx, list, entries)
	end(err)
	return ids, err
}

func (t *traced) RemoveListEntry(ctx context.Context, list, entryID string) error {
	ctx, end := t.span(ctx, "RemoveListEntry")
	err := t.s.RemoveListEntry(ctx, list, entryID)
	end(err)
	return err
}

func (t *traced) ListEntries(ctx context.Context, q ListEntryQuery) ([]ListEntry, error) {
	ctx, end := t.span(ctx, "ListEntries", attribute.Int("riskd.store.limit", q.Limit))
	out, err := t.s.ListEntries(ctx, q)
	end(err)
	return out, err
}

func (t *traced) MatchLists(ctx context.Context, p ListProbe) ([]ListMatch, error) {
	ctx, end := t.span(ctx, "MatchLists", attribute.Int("riskd.store.probes", len(p.IDs)))
	out, err := t.s.MatchLists(ctx, p)
	end(err)
	return out, err
}

func (t *traced) DeleteListValues(ctx context.Context, ids []Identifier) (int, error) {
	ctx, end := t.span(ctx, "DeleteListValues", attribute.Int("riskd.store.values", len(ids)))
	n, err := t.s.DeleteListValues(ctx, ids)
	end(err)
	return n, err
}

// Erase implements Eraser for a store that does.
func (t *traced) Erase(ctx context.Context, e Erasure) (Erased, error) {
	eraser, ok := t.s.(Eraser)
	if !ok {
		return Erased{}, errors.New("store: this store cannot erase")
	}
	ctx, end := t.span(ctx, "Erase", attribute.Int("riskd.store.identifiers", len(e.IDs)))
	out, err := eraser.Erase(ctx, e)
	end(err)
	return out, err
}

// Erasures implements ErasureLog for a store that erases.
func (t *traced) Erasures(ctx context.Context) ([]ErasureRecord, error) {
	eraser, ok := t.s.(Eraser)
	if !ok {
		return nil, errors.New("store: this store cannot erase")
	}
	ctx, end := t.span(ctx, "Erasures")
	out, err := eraser.Erasures(ctx)
	end(err)
	return out, err
}
