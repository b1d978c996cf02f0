package pgstore

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// Erase implements store.Eraser, in one transaction: every replica sees
// the subject either whole or gone. The identifiers go in as two arrays
// (kinds, hashes) that unnest pairs up again.
func (s *Store) Erase(ctx context.Context, e store.Erasure) (_ store.Erased, err error) {
	if e.Empty() && e.Receipt.ID == "" {
		return store.Erased{}, nil
	}
	op, err := s.begin(ctx, true)
	if err != nil {
		return store.Erased{}, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	kinds := make([]int16, len(e.IDs))
	hashes := make([][]byte, len(e.IDs))
	idents := make([][]byte, len(e.IDs)) // as in a subjects column
	for i, id := range e.IDs {
		kinds[i], hashes[i] = int16(id.Kind), id.Hash[:]
		idents[i] = encodeSubjects([]store.Identifier{id})
	}
	refs, subjects := nonNil(e.Refs), nonNil(e.LinkSubjects)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.Erased{}, err
	}
	defer tx.Rollback(ctx)
	var out store.Erased
	const ids = `(kind, hash) IN (SELECT * FROM unnest($1::smallint[], $2::bytea[]))`

	// The decisions that carried the subject, found by the subject index.
	rows, err := tx.Query(ctx, `SELECT id, subjects, facts, decision FROM decisions WHERE id IN (
		SELECT decision_id FROM decision_subjects WHERE `+ids+`) FOR UPDATE`, kinds, hashes)
	if err != nil {
		return store.Erased{}, err
	}
	type scrubbed struct {
		id              string
		subjects, facts []byte
		decision        []byte
	}
	var updates []scrubbed
	for rows.Next() {
		var r scrubbed
		if err := rows.Scan(&r.id, &r.subjects, &r.facts, &r.decision); err != nil {
			rows.Close()
			return store.Erased{}, err
		}
		subs, err := decodeSubjects(r.subjects)
		if err != nil {
			rows.Close()
			return store.Erased{}, err
		}
		subs, _ = store.Without(subs, e.IDs)
		d := &riskv1.Decision{}
		if err := proto.Unmarshal(r.decision, d); err != nil {
			rows.Close()
			return store.Erased{}, err
		}
		store.ScrubDecision(d)
		if r.decision, err = (proto.MarshalOptions{Deterministic: true}).Marshal(d); err != nil {
			rows.Close()
			return store.Erased{}, err
		}
		r.subjects, r.facts = encodeSubjects(subs), store.ScrubFacts(r.facts)
		updates = append(updates, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return store.Erased{}, err
	}
	for _, r := range updates {
		if _, err := tx.Exec(ctx, `UPDATE decisions SET subjects = $2, facts = $3, decision = $4 WHERE id = $1`,
			r.id, r.subjects, r.facts, r.decision); err != nil {
			return store.Erased{}, err
		}
	}
	out.Counts.Decisions = len(updates)

	exec := func(n *int, sql string, args ...any) error {
		tag, err := tx.Exec(ctx, sql, args...)
		*n = int(tag.RowsAffected())
		return err
	}
	if err := exec(&out.Counts.SubjectIndex, `DELETE FROM decision_subjects WHERE `+ids, kinds, hashes); err != nil {
		return store.Erased{}, err
	}
	if err := exec(&out.Counts.Links, `DELETE FROM links WHERE `+ids+` OR subject = ANY($3)`, kinds, hashes, subjects); err != nil {
		return store.Erased{}, err
	}
	if err := exec(&out.Counts.Marks, `DELETE FROM marks WHERE `+ids, kinds, hashes); err != nil {
		return store.Erased{}, err
	}
	if err := exec(&out.Counts.Batches, `UPDATE batches b SET subjects = (
			SELECT coalesce(string_agg(substring(b.subjects FROM i * 33 + 1 FOR 33), ''::bytea ORDER BY i), ''::bytea)
			FROM generate_series(0, length(b.subjects) / 33 - 1) AS i
			WHERE substring(b.subjects FROM i * 33 + 1 FOR 33) <> ALL($1::bytea[]))
		WHERE b.subjects IS NOT NULL AND EXISTS (
			SELECT 1 FROM generate_series(0, length(b.subjects) / 33 - 1) AS i
			WHERE substring(b.subjects FROM i * 33 + 1 FOR 33) = ANY($1::bytea[]))`, idents); err != nil {
		return store.Erased{}, err
	}
	rows, err = tx.Query(ctx, `DELETE FROM events WHERE `+ids+` OR ref = ANY($3)
		RETURNING series, kind, hash, at, id, amount, quantity, ref`, kinds, hashes, refs)
	if err != nil {
		return store.Erased{}, err
	}
	out.Events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Event, error) {
		var ev store.Event
		var kind int16
		var hash []byte
		err := r.Scan(&ev.Series, &kind, &hash, &ev.At, &ev.ID, &ev.Amount, &ev.Quantity, &ev.Ref)
		ev.Key.Kind = store.Kind(kind)
		copy(ev.Key.Hash[:], hash)
		ev.At = ev.At.UTC()
		return ev, err
	})
	if err != nil {
		return store.Erased{}, err
	}
	out.Counts.Events = len(out.Events)
	if r := e.Receipt; r.ID != "" {
		r.Counts = out.Counts
		r.Counts.Add(e.Prior)
		rec, err := json.Marshal(r)
		if err != nil {
			return store.Erased{}, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO erasures (id, at, caller, record) VALUES ($1, $2, $3, $4)`, r.ID, r.At, r.Caller, rec); err != nil {
			return store.Erased{}, err
		}
	}
	return out, tx.Commit(ctx)
}

// Erasures implements store.ErasureLog.
func (s *Store) Erasures(ctx context.Context) (_ []store.ErasureRecord, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	rows, err := s.pool.Query(op.Ctx, `SELECT record FROM erasures ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ErasureRecord, error) {
		var rec store.ErasureRecord
		var b []byte
		if err := r.Scan(&b); err != nil {
			return rec, err
		}
		return rec, json.Unmarshal(b, &rec)
	})
}

// nonNil gives PostgreSQL an empty array, not NULL, for no strings: "x =
// ANY(NULL)" is NULL, and "a OR NULL" is not false.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
