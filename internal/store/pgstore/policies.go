package pgstore

// Policy versions and the policy state in PostgreSQL (schema version 5).
// policy_state has one row; a change updates it only where its seq is the
// one the changer read, and inserts the history entry in the same
// transaction, so of two replicas changing the state at once one wins and
// the other learns that it raced. Nothing here expires (see pebblestore).

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riskd/riskd/internal/store"
)

// policiesMigration is schema version 5.
const policiesMigration = `
	CREATE TABLE policy_versions (
		version  text PRIMARY KEY,
		document bytea NOT NULL,
		source   text NOT NULL,
		at       timestamptz NOT NULL,
		by_whom  text NOT NULL,
		message  text NOT NULL
	);
	CREATE INDEX policy_versions_at ON policy_versions (at DESC, version);
	CREATE TABLE policy_changes (
		seq     bigint PRIMARY KEY,
		at      timestamptz NOT NULL,
		by_whom text NOT NULL,
		action  smallint NOT NULL,
		version text NOT NULL,
		percent integer NOT NULL,
		message text NOT NULL
	);
	CREATE TABLE policy_state (
		id           integer PRIMARY KEY,
		seq          bigint NOT NULL,
		active       text NOT NULL,
		candidate    text NOT NULL,
		percent      integer NOT NULL,
		file_version text NOT NULL
	);
	INSERT INTO policy_state (id, seq, active, candidate, percent, file_version) VALUES (1, 0, '', '', 0, '');`

const policyVersionColumns = `version, document, source, at, by_whom, message`

func scanPolicyVersion(row pgx.Row) (store.PolicyVersion, error) {
	var v store.PolicyVersion
	if err := row.Scan(&v.Version, &v.Document, &v.Source, &v.At, &v.By, &v.Message); err != nil {
		return v, err
	}
	v.At = v.At.UTC()
	return v, nil
}

// KeepPolicy implements store.Policies.
func (s *Store) KeepPolicy(ctx context.Context, v store.PolicyVersion) (_ store.PolicyVersion, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return store.PolicyVersion{}, err
	}
	defer func() { err = op.End(err) }()
	// One statement: insert unless kept, then read what is kept (the
	// insert's row, or the first one's).
	if _, err := s.pool.Exec(op.Ctx, `INSERT INTO policy_versions (`+policyVersionColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (version) DO NOTHING`, v.Version, v.Document, v.Source, v.At, v.By, v.Message); err != nil {
		return store.PolicyVersion{}, err
	}
	return scanPolicyVersion(s.pool.QueryRow(op.Ctx, `SELECT `+policyVersionColumns+` FROM policy_versions WHERE version = $1`, v.Version))
}

// PolicyVersion implements store.Policies.
func (s *Store) PolicyVersion(ctx context.Context, version string) (_ store.PolicyVersion, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return store.PolicyVersion{}, err
	}
	defer func() { err = op.End(err) }()
	v, err := scanPolicyVersion(s.pool.QueryRow(op.Ctx, `SELECT `+policyVersionColumns+` FROM policy_versions WHERE version = $1`, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, store.ErrNoPolicyVersion
	}
	return v, err
}

// PolicyVersions implements store.Policies.
func (s *Store) PolicyVersions(ctx context.Context, limit int) (_ []store.PolicyVersion, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(op.Ctx, `SELECT `+policyVersionColumns+` FROM policy_versions ORDER BY at DESC, version LIMIT $1`, lim)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.PolicyVersion
	for rows.Next() {
		v, err := scanPolicyVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// PolicyState implements store.Policies.
func (s *Store) PolicyState(ctx context.Context) (_ store.PolicyState, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return store.PolicyState{}, err
	}
	defer func() { err = op.End(err) }()
	var st store.PolicyState
	var seq int64
	var pct int32
	err = s.pool.QueryRow(op.Ctx, `SELECT seq, active, candidate, percent, file_version FROM policy_state WHERE id = 1`).
		Scan(&seq, &st.Active, &st.Candidate, &pct, &st.FileVersion)
	st.Seq, st.Percent = uint64(seq), int(pct)
	return st, err
}

// ChangePolicyState implements store.Policies.
func (s *Store) ChangePolicyState(ctx context.Context, prev uint64, next store.PolicyState, ch store.PolicyChange) (_ store.PolicyState, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return store.PolicyState{}, err
	}
	defer func() { err = op.End(err) }()
	next.Seq, ch.Seq = prev+1, prev+1
	tx, err := s.pool.Begin(op.Ctx)
	if err != nil {
		return store.PolicyState{}, err
	}
	defer tx.Rollback(op.Ctx)
	tag, err := tx.Exec(op.Ctx, `UPDATE policy_state SET seq = $1, active = $2, candidate = $3, percent = $4, file_version = $5
		WHERE id = 1 AND seq = $6`, int64(next.Seq), next.Active, next.Candidate, int32(next.Percent), next.FileVersion, int64(prev))
	if err != nil {
		return store.PolicyState{}, err
	}
	if tag.RowsAffected() != 1 {
		return store.PolicyState{}, store.ErrPolicyRaced
	}
	if _, err := tx.Exec(op.Ctx, `INSERT INTO policy_changes (seq, at, by_whom, action, version, percent, message) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		int64(ch.Seq), ch.At, ch.By, int16(ch.Action), ch.Version, int32(ch.Percent), ch.Message); err != nil {
		return store.PolicyState{}, err
	}
	return next, tx.Commit(op.Ctx)
}

// PolicyChanges implements store.Policies.
func (s *Store) PolicyChanges(ctx context.Context, limit int) (_ []store.PolicyChange, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := s.pool.Query(op.Ctx, `SELECT seq, at, by_whom, action, version, percent, message FROM policy_changes ORDER BY seq DESC LIMIT $1`, lim)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.PolicyChange
	for rows.Next() {
		var ch store.PolicyChange
		var seq int64
		var action int16
		var pct int32
		var at time.Time
		if err := rows.Scan(&seq, &at, &ch.By, &action, &ch.Version, &pct, &ch.Message); err != nil {
			return nil, err
		}
		ch.Seq, ch.At, ch.Action, ch.Percent = uint64(seq), at.UTC(), store.PolicyAction(action), int(pct)
		out = append(out, ch)
	}
	return out, rows.Err()
}
