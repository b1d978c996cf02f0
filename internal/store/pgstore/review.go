package pgstore

// The review desk in PostgreSQL (schema version 3): decision_subjects is
// the subject index, written by the decision's own statement; cases,
// case_audit and case_feed hold the cases, their audit trail and the feed
// of resolutions, each row with its decision's decided_at so that it
// expires with the decision.
//
// A change to a case locks its row (SELECT ... FOR UPDATE), checks it with
// the rules every backend applies (store.CheckClaim, CheckResolution...),
// and writes in the same transaction; the UPDATE is conditional on the
// case being unresolved besides. Two analysts, or two replicas' expiry,
// changing one case queue on the row lock, and the second sees the
// first's change: a case is resolved once.
//
// The feed's sequence must be in commit order, or a reader could see entry
// 7 committed before entry 6 and move its cursor past 6 for good (a
// bigserial is assigned at insert, not at commit). So a resolution takes
// its sequence from one counter row (feed_seq), updated as the last step
// before its commit: the row stays locked until the commit, so the next
// resolution gets the next number only once this one is visible. Entries
// become visible in sequence order, without gaps (a rolled-back
// transaction rolls its increment back too). Resolutions come at the pace
// of people and of the expiry loop, so serialising their last statement
// costs nothing that matters.

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// reviewMigration is schema version 3.
const reviewMigration = `
	DROP INDEX decisions_decided_at;
	CREATE INDEX decisions_decided_at ON decisions (decided_at, id);
	CREATE TABLE decision_subjects (
		kind        smallint NOT NULL,
		hash        bytea NOT NULL,
		decided_at  timestamptz NOT NULL,
		decision_id text NOT NULL,
		PRIMARY KEY (kind, hash, decided_at, decision_id)
	);
	CREATE INDEX decision_subjects_at ON decision_subjects (decided_at);
	-- Decisions made before this version are found by their subjects too.
	INSERT INTO decision_subjects (kind, hash, decided_at, decision_id)
		SELECT get_byte(d.subjects, i * 33), substring(d.subjects FROM i * 33 + 2 FOR 32), d.decided_at, d.id
		FROM decisions d, generate_series(0, length(d.subjects) / 33 - 1) AS i
		ON CONFLICT DO NOTHING;
	CREATE TABLE cases (
		decision_id   text PRIMARY KEY,
		check_kind    smallint NOT NULL,
		decided_at    timestamptz NOT NULL,
		due_at        timestamptz NOT NULL,
		on_expiry     smallint NOT NULL,
		state         smallint NOT NULL,
		holder        text NOT NULL DEFAULT '',
		claimed_until timestamptz,
		verdict       smallint NOT NULL DEFAULT 0,
		resolved_by   text NOT NULL DEFAULT '',
		resolved_at   timestamptz,
		audits        integer NOT NULL DEFAULT 0
	);
	CREATE INDEX cases_due ON cases (state, due_at, decision_id) WHERE state <> 3;
	CREATE INDEX cases_decided_at ON cases (decided_at);
	CREATE TABLE case_audit (
		decision_id text NOT NULL,
		seq         integer NOT NULL,
		decided_at  timestamptz NOT NULL,
		at          timestamptz NOT NULL,
		actor       text NOT NULL,
		action      smallint NOT NULL,
		verdict     smallint NOT NULL,
		lease_until timestamptz,
		note        text NOT NULL,
		PRIMARY KEY (decision_id, seq)
	);
	CREATE INDEX case_audit_decided_at ON case_audit (decided_at);
	CREATE TABLE case_feed (
		seq         bigint PRIMARY KEY,
		decision_id text NOT NULL,
		decided_at  timestamptz NOT NULL,
		at          timestamptz NOT NULL,
		event       bytea NOT NULL
	);
	CREATE INDEX case_feed_decided_at ON case_feed (decided_at);
	CREATE TABLE feed_seq (id integer PRIMARY KEY, seq bigint NOT NULL);
	INSERT INTO feed_seq (id, seq) VALUES (1, 0);`

// caseColumns are a case's columns, as scanCase reads them.
const caseColumns = `c.decision_id, c.check_kind, c.decided_at, c.due_at, c.on_expiry, c.state, c.holder, c.claimed_until,
	c.verdict, c.resolved_by, c.resolved_at, c.amount_minor, c.currency`

// caseRow holds a case's columns, nullable where a LEFT JOIN finds none.
type caseRow struct {
	id                           *string
	check, onExpiry, state, verd *int16
	decidedAt, due               *time.Time
	holder, resolvedBy           *string
	claimedUntil, resolvedAt     *time.Time
	amount                       *int64
	currency                     *string
}

func (r *caseRow) dest() []any {
	return []any{&r.id, &r.check, &r.decidedAt, &r.due, &r.onExpiry, &r.state, &r.holder, &r.claimedUntil, &r.verd, &r.resolvedBy, &r.resolvedAt, &r.amount, &r.currency}
}

// get returns the case, nil when the row was a LEFT JOIN's empty one.
func (r *caseRow) get() *store.Case {
	if r.id == nil {
		return nil
	}
	c := &store.Case{DecisionID: *r.id, Check: riskv1.Check(*r.check), DecidedAt: r.decidedAt.UTC(), Due: r.due.UTC(),
		OnExpiry: store.ExpiryAction(*r.onExpiry), State: store.CaseState(*r.state), Holder: *r.holder,
		Verdict: store.Verdict(*r.verd), ResolvedBy: *r.resolvedBy, Amount: store.Amount{Minor: *r.amount, Currency: *r.currency}}
	if r.claimedUntil != nil {
		c.ClaimedUntil = r.claimedUntil.UTC()
	}
	if r.resolvedAt != nil {
		c.ResolvedAt = r.resolvedAt.UTC()
	}
	return c
}

// nullTime is t for a nullable column: NULL for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Case implements store.Reviews.
func (s *Store) Case(ctx context.Context, id string) (_ store.Case, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return store.Case{}, err
	}
	defer func() { err = op.End(err) }()
	var r caseRow
	if err := s.pool.QueryRow(op.Ctx, `SELECT `+caseColumns+` FROM cases c WHERE c.decision_id = $1`, id).Scan(r.dest()...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return store.Case{}, store.ErrNoCase
		}
		return store.Case{}, err
	}
	return *r.get(), nil
}

// CaseAudit implements store.Reviews.
func (s *Store) CaseAudit(ctx context.Context, id string) (_ []store.AuditEntry, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	rows, err := s.pool.Query(op.Ctx, `SELECT seq, at, actor, action, verdict, lease_until, note FROM case_audit WHERE decision_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var a store.AuditEntry
		var action, verdict int16
		var until *time.Time
		if err := rows.Scan(&a.Seq, &a.At, &a.Actor, &action, &verdict, &until, &a.Note); err != nil {
			return nil, err
		}
		a.At, a.Action, a.Verdict = a.At.UTC(), store.AuditAction(action), store.Verdict(verdict)
		if until != nil {
			a.Until = until.UTC()
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// lockCase reads a case in tx and locks its row until tx ends.
func lockCase(ctx context.Context, tx pgx.Tx, id string) (store.Case, error) {
	var r caseRow
	if err := tx.QueryRow(ctx, `SELECT `+caseColumns+` FROM cases c WHERE c.decision_id = $1 FOR UPDATE`, id).Scan(r.dest()...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return store.Case{}, store.ErrNoCase
		}
		return store.Case{}, err
	}
	return *r.get(), nil
}

// changeCase runs change on a locked case in one transaction, and commits.
func (s *Store) changeCase(ctx context.Context, id string, change func(tx pgx.Tx, c store.Case) (any, error)) (_ any, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	c, err := lockCase(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	res, err := change(tx, c)
	if err != nil {
		return nil, err
	}
	return res, tx.Commit(ctx)
}

// writeCase stores a changed case, unless it was resolved meanwhile (the
// row lock makes that impossible; the condition says so in the statement
// too), and appends its audit entry.
func writeCase(ctx context.Context, tx pgx.Tx, c store.Case, a store.AuditEntry) error {
	var seq int
	err := tx.QueryRow(ctx, `UPDATE cases SET state = $2, holder = $3, claimed_until = $4, verdict = $5, resolved_by = $6, resolved_at = $7,
		audits = audits + 1 WHERE decision_id = $1 AND (state <> 3 OR $2 = 3 AND $8) RETURNING audits`,
		c.DecisionID, int16(c.State), c.Holder, nullTime(c.ClaimedUntil), int16(c.Verdict), c.ResolvedBy, nullTime(c.ResolvedAt),
		a.Action == store.AuditNoted).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return &store.CaseError{Err: store.ErrCaseResolved, Case: c}
	}
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO case_audit (decision_id, seq, decided_at, at, actor, action, verdict, lease_until, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.DecisionID, seq, c.DecidedAt, a.At, a.Actor, int16(a.Action), int16(a.Verdict), nullTime(a.Until), a.Note)
	return err
}

// ClaimCase implements store.Reviews.
func (s *Store) ClaimCase(ctx context.Context, cl store.Claim) (store.Case, error) {
	res, err := s.changeCase(ctx, cl.DecisionID, func(tx pgx.Tx, c store.Case) (any, error) {
		renew, err := store.CheckClaim(c, cl)
		if err != nil {
			return nil, err
		}
		c.Holder, c.ClaimedUntil = cl.Actor, cl.Until
		action := store.AuditClaimed
		if renew {
			action = store.AuditRenewed
		}
		return c, writeCase(ctx, tx, c, store.AuditEntry{At: cl.At, Actor: cl.Actor, Action: action, Until: cl.Until})
	})
	if err != nil {
		return store.Case{}, err
	}
	return res.(store.Case), nil
}

// ReleaseClaim implements store.Reviews.
func (s *Store) ReleaseClaim(ctx context.Context, id, actor string, at time.Time) (store.Case, error) {
	res, err := s.changeCase(ctx, id, func(tx pgx.Tx, c store.Case) (any, error) {
		if err := store.CheckRelease(c, actor, at); err != nil {
			return nil, err
		}
		c.Holder, c.ClaimedUntil = "", time.Time{}
		return c, writeCase(ctx, tx, c, store.AuditEntry{At: at, Actor: actor, Action: store.AuditReleased})
	})
	if err != nil {
		return store.Case{}, err
	}
	return res.(store.Case), nil
}

// AddCaseNote implements store.Reviews.
func (s *Store) AddCaseNote(ctx context.Context, id, actor, note string, at time.Time) error {
	_, err := s.changeCase(ctx, id, func(tx pgx.Tx, c store.Case) (any, error) {
		return nil, writeCase(ctx, tx, c, store.AuditEntry{At: at, Actor: actor, Action: store.AuditNoted, Note: note})
	})
	return err
}

// Resolve implements store.Reviews: the check, the outcome (the code path
// of ReportOutcome), the audit entry, then the feed entry under the
// counter row's lock, in one transaction.
func (s *Store) Resolve(ctx context.Context, r store.Resolution) (store.Case, uint64, error) {
	type resolved struct {
		c   store.Case
		seq uint64
	}
	res, err := s.changeCase(ctx, r.DecisionID, func(tx pgx.Tx, c store.Case) (any, error) {
		if err := store.CheckResolution(c, r); err != nil {
			return nil, err
		}
		if r.Label != 0 {
			if err := reportOutcomeTx(ctx, tx, store.Outcome{DecisionID: r.DecisionID, Label: r.Label, Note: r.Note, At: r.At}); err != nil {
				return nil, err
			}
		}
		c = store.Resolved(c, r)
		if err := writeCase(ctx, tx, c, store.ResolutionAudit(r)); err != nil {
			return nil, err
		}
		// Last, so the counter row is held only until the commit.
		var seq int64
		if err := tx.QueryRow(ctx, `UPDATE feed_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&seq); err != nil {
			return nil, err
		}
		event := r.Event
		if event == nil {
			event = []byte{}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO case_feed (seq, decision_id, decided_at, at, event) VALUES ($1, $2, $3, $4, $5)`,
			seq, r.DecisionID, c.DecidedAt, r.At, event); err != nil {
			return nil, err
		}
		return resolved{c, uint64(seq)}, nil
	})
	if err != nil {
		return store.Case{}, 0, err
	}
	out := res.(resolved)
	return out.c, out.seq, nil
}

// DueCases implements store.Reviews.
func (s *Store) DueCases(ctx context.Context, now time.Time, limit int) (_ []store.Case, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	rows, err := s.pool.Query(op.Ctx, `SELECT `+caseColumns+` FROM cases c WHERE c.state = 1 AND c.due_at <= $1
		ORDER BY c.due_at, c.decision_id LIMIT $2`, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Case
	for rows.Next() {
		var r caseRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, err
		}
		out = append(out, *r.get())
	}
	return out, rows.Err()
}

// Feed implements store.Reviews.
func (s *Store) Feed(ctx context.Context, after uint64, limit int) (_ []store.FeedEntry, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	if after > 1<<63-1 {
		return nil, nil
	}
	rows, err := s.pool.Query(op.Ctx, `SELECT seq, decision_id, at, event FROM case_feed WHERE seq > $1 ORDER BY seq LIMIT $2`, int64(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.FeedEntry
	for rows.Next() {
		var f store.FeedEntry
		var seq int64
		if err := rows.Scan(&seq, &f.DecisionID, &f.At, &f.Event); err != nil {
			return nil, err
		}
		f.Seq, f.At = uint64(seq), f.At.UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}

// FeedHead implements store.Reviews.
func (s *Store) FeedHead(ctx context.Context) (_ uint64, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return 0, err
	}
	defer func() { err = op.End(err) }()
	var seq int64
	if err := s.pool.QueryRow(op.Ctx, `SELECT seq FROM feed_seq WHERE id = 1`).Scan(&seq); err != nil {
		return 0, err
	}
	return uint64(seq), nil
}

// listChunk is how many rows one query of a listing reads.
const listChunk = 200

// Bounds for keyset queries with no bound of their own.
var (
	beginning = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	forever   = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ListDecisions implements store.Reviews: keyset pages over (decided_at,
// id), newest first, read in chunks and filtered here by the rule every
// backend applies (store.DecisionFilter.Match).
func (s *Store) ListDecisions(ctx context.Context, q store.DecisionQuery) (_ store.DecisionPage, err error) {
	op, err := s.begin(ctx, true)
	if err != nil {
		return store.DecisionPage{}, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	from, cur := beginning, store.Cursor{DecidedAt: forever}
	if !q.From.IsZero() {
		from = q.From
	}
	if !q.To.IsZero() {
		cur = store.Cursor{DecidedAt: q.To}
	}
	if q.After != nil && (q.To.IsZero() || cur.Before(q.After.DecidedAt, q.After.DecisionID)) {
		cur = *q.After
	}
	var page store.DecisionPage
	for scanned := 0; ; {
		n := min(listChunk, q.MaxScan-scanned)
		var rows pgx.Rows
		if q.Subject == nil {
			rows, err = s.pool.Query(ctx, `SELECT d.decided_at, d.id, d.decision, `+caseColumns+`
				FROM decisions d LEFT JOIN cases c ON c.decision_id = d.id
				WHERE d.decided_at >= $1 AND (d.decided_at, d.id) < ($2, $3)
				ORDER BY d.decided_at DESC, d.id DESC LIMIT $4`, from, cur.DecidedAt, cur.DecisionID, n)
		} else {
			rows, err = s.pool.Query(ctx, `SELECT s.decided_at, s.decision_id, d.decision, `+caseColumns+`
				FROM decision_subjects s JOIN decisions d ON d.id = s.decision_id LEFT JOIN cases c ON c.decision_id = s.decision_id
				WHERE s.kind = $5 AND s.hash = $6 AND s.decided_at >= $1 AND (s.decided_at, s.decision_id) < ($2, $3)
				ORDER BY s.decided_at DESC, s.decision_id DESC LIMIT $4`, from, cur.DecidedAt, cur.DecisionID, n,
				int16(q.Subject.Kind), q.Subject.Hash[:])
		}
		if err != nil {
			return page, err
		}
		read, skipped := 0, 0
		for rows.Next() {
			var at time.Time
			var id string
			var body []byte
			var r caseRow
			if err := rows.Scan(append([]any{&at, &id, &body}, r.dest()...)...); err != nil {
				rows.Close()
				return page, err
			}
			read++
			if len(page.Decisions) == q.Limit {
				skipped++ // read in this chunk, not considered: the next page's
				continue
			}
			scanned++
			cur = store.Cursor{DecidedAt: at.UTC(), DecisionID: id}
			page.Next = &cur
			d, err := unmarshal(body)
			if err != nil {
				rows.Close()
				return page, err
			}
			if c := r.get(); q.Filter.Match(d, c) {
				page.Decisions = append(page.Decisions, store.CaseDecision{Decision: d, Case: c})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return page, err
		}
		switch {
		case read < n && skipped == 0:
			page.Next = nil // the log is read to its end
			return page, nil
		case len(page.Decisions) == q.Limit || scanned >= q.MaxScan:
			return page, nil
		}
	}
}

// ListCases implements store.Reviews: keyset pages over (due_at,
// decision_id), filtered here by the rule every backend applies
// (store.CaseQuery.Match).
func (s *Store) ListCases(ctx context.Context, q store.CaseQuery) (_ store.CasePage, err error) {
	op, err := s.begin(ctx, true)
	if err != nil {
		return store.CasePage{}, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	states := []int16{int16(store.CaseOpen), int16(store.CaseEscalated)}
	if len(q.States) > 0 {
		states = states[:0]
		for _, st := range q.States {
			states = append(states, int16(st))
		}
	}
	cur := store.CaseCursor{Due: beginning}
	if q.After != nil {
		cur = *q.After
	}
	var page store.CasePage
	for scanned := 0; ; {
		n := min(listChunk, q.MaxScan-scanned)
		rows, err := s.pool.Query(ctx, `SELECT `+caseColumns+`, d.decision FROM cases c JOIN decisions d ON d.id = c.decision_id
			WHERE c.state = ANY($1) AND (c.due_at, c.decision_id) > ($2, $3)
			ORDER BY c.due_at, c.decision_id LIMIT $4`, states, cur.Due, cur.DecisionID, n)
		if err != nil {
			return page, err
		}
		read, skipped := 0, 0
		for rows.Next() {
			var r caseRow
			var body []byte
			if err := rows.Scan(append(r.dest(), &body)...); err != nil {
				rows.Close()
				return page, err
			}
			read++
			if len(page.Cases) == q.Limit {
				skipped++
				continue
			}
			scanned++
			c := r.get()
			cur = store.CaseCursor{Due: c.Due, DecisionID: c.DecisionID}
			page.Next = &cur
			if !q.Match(*c) {
				continue
			}
			d, err := unmarshal(body)
			if err != nil {
				rows.Close()
				return page, err
			}
			page.Cases = append(page.Cases, store.CaseDecision{Decision: d, Case: c})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return page, err
		}
		switch {
		case read < n && skipped == 0:
			page.Next = nil
			return page, nil
		case len(page.Cases) == q.Limit || scanned >= q.MaxScan:
			return page, nil
		}
	}
}
