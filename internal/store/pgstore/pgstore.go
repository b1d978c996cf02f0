// Package pgstore keeps riskd's decision log, links, outcomes and history in
// PostgreSQL, for several riskd replicas sharing one database. It passes
// the same conformance suite as the embedded store.
//
// Exactness across replicas comes from the database itself: a decision's
// request key is a unique constraint, so two replicas racing on one
// request_id produce one decision; events, links, marks and outcomes have
// natural primary keys and are inserted with ON CONFLICT DO NOTHING, so a
// replay never counts twice.
//
// Commits are grouped, as in the embedded store, because a transaction per
// decision spends its time on round trips and on the WAL flush of its
// COMMIT. One loop sends the commits waiting at that moment as one
// pipelined batch: one round trip and one implicit transaction, so one
// flush, for the group. Each commit is one statement that writes its
// events and links only if it inserted the decision. A group that fails is
// retried commit by commit, so one bad commit fails alone; each commit is
// still atomic, and an acknowledged one is committed.
package pgstore

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/gate"
	"github.com/riskd/riskd/internal/store/groupcommit"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// migrations[i] upgrades the schema from version i to i+1.
var migrations = []string{
	`CREATE TABLE decisions (
		id           text PRIMARY KEY,
		check_kind   smallint NOT NULL,
		request_id   text NOT NULL,
		request_hash bytea NOT NULL,
		decided_at   timestamptz NOT NULL,
		subjects     bytea NOT NULL,
		facts        bytea,
		decision     bytea NOT NULL,
		UNIQUE (check_kind, request_id)
	);
	CREATE INDEX decisions_decided_at ON decisions (decided_at);
	CREATE TABLE events (
		series   text NOT NULL,
		kind     smallint NOT NULL,
		hash     bytea NOT NULL,
		at       timestamptz NOT NULL,
		id       text NOT NULL,
		amount   bigint NOT NULL,
		quantity bigint NOT NULL,
		ref      text NOT NULL,
		PRIMARY KEY (series, kind, hash, at, id)
	);
	CREATE INDEX events_at ON events (at);
	CREATE TABLE links (
		kind    smallint NOT NULL,
		hash    bytea NOT NULL,
		subject text NOT NULL,
		at      timestamptz NOT NULL,
		PRIMARY KEY (kind, hash, subject)
	);
	CREATE INDEX links_at ON links (at);
	CREATE TABLE marks (
		kind        smallint NOT NULL,
		hash        bytea NOT NULL,
		decision_id text NOT NULL,
		label       smallint NOT NULL,
		at          timestamptz NOT NULL,
		PRIMARY KEY (kind, hash, decision_id, label)
	);
	CREATE INDEX marks_at ON marks (at);
	CREATE TABLE outcomes (
		decision_id text NOT NULL,
		label       smallint NOT NULL,
		at          timestamptz NOT NULL,
		note        text NOT NULL,
		PRIMARY KEY (decision_id, label)
	);
	CREATE INDEX outcomes_at ON outcomes (at);
	CREATE TABLE batches (
		event_id text PRIMARY KEY,
		at       timestamptz NOT NULL
	);
	CREATE INDEX batches_at ON batches (at);`,
	// A recorded order's identifiers, for outcomes reported about it later.
	`ALTER TABLE batches ADD COLUMN subjects bytea;`,
	// The review desk: the subject index, cases, their audit and the feed.
	reviewMigration,
	// A case's amount, shown in the queue.
	`ALTER TABLE cases ADD COLUMN amount_minor bigint NOT NULL DEFAULT 0, ADD COLUMN currency text NOT NULL DEFAULT '';`,
	// The policy lifecycle: versions, their history and the shared state.
	policiesMigration,
	// The named lists and their entries (lists.go).
	listsMigration,
	// The erasure log (erase.go): append-only, never expired.
	`CREATE TABLE erasures (
		seq    bigserial PRIMARY KEY,
		id     text NOT NULL,
		at     timestamptz NOT NULL,
		caller text NOT NULL,
		record jsonb NOT NULL
	);`,
}

// ErrKeyMismatch means the database was written under another identifier key.
var ErrKeyMismatch = errors.New("pgstore: the identifier key differs from the one this data was written with")

// Options configure Open.
type Options struct {
	// URL is a PostgreSQL connection string.
	URL string
	// Schema holds riskd's tables; "riskd" if empty. Tests use one each.
	Schema string
	// MaxConns sizes the pool; pgx's default if zero.
	MaxConns int32
	// KeyCheck is a fingerprint of the identifier key (see pebblestore).
	KeyCheck []byte
	// Budget bounds each operation (and each connection attempt) inside
	// the caller's deadline, and each health probe; DefaultBudget if zero.
	// Scans and batch imports have the caller's deadline only.
	Budget time.Duration
	// ProbeInterval is how often the database is pinged; a second if zero.
	ProbeInterval time.Duration
	// Logger takes the lines about the database going and coming back.
	Logger *slog.Logger
}

// DefaultBudget is Options.Budget's default: far above a healthy
// database's milliseconds, far below a checkout's patience.
const DefaultBudget = 2 * time.Second

// maxGroup bounds one group commit, so a burst cannot make one group (and
// the callers waiting on it) arbitrarily long.
const maxGroup = 64

// Store is the PostgreSQL backend.
type Store struct {
	pool  *pgxpool.Pool
	gate  *gate.Gate
	queue *groupcommit.Queue[*pending]
	// groups and commits count what the commit loop committed.
	groups, commits atomic.Uint64
}

// pending is a Commit waiting for the commit loop.
type pending struct {
	// ctx is the caller's: a group runs while any of its callers waits.
	ctx  context.Context
	args []any
	// inserted is set before done is sent: whether the decision was new.
	inserted bool
	done     chan error
}

var _ store.Store = (*Store)(nil)

// Open connects, creates the schema if needed and migrates it.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Schema == "" {
		o.Schema = "riskd"
	}
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.Budget <= 0 {
		o.Budget = DefaultBudget
	}
	if cfg.ConnConfig.ConnectTimeout <= 0 || cfg.ConnConfig.ConnectTimeout > o.Budget {
		cfg.ConnConfig.ConnectTimeout = o.Budget
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = o.Schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if err := migrate(ctx, pool, o.Schema, o.KeyCheck); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool}
	s.gate = gate.New(gate.Options{Name: "postgres", Budget: o.Budget, Interval: o.ProbeInterval,
		Probe: pool.Ping, Unreachable: unreachable, Logger: o.Logger})
	s.queue = groupcommit.New(maxGroup, s.commitGroup)
	return s, nil
}

// migrate brings the schema to the newest version under an advisory lock,
// so replicas starting together migrate once.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, keyCheck []byte) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: connect: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "riskd-migrate:"+schema); err != nil {
		return fmt.Errorf("pgstore: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("pgstore: schema: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS meta (id int PRIMARY KEY, version int NOT NULL, key_check bytea)`); err != nil {
		return fmt.Errorf("pgstore: meta: %w", err)
	}
	var version int
	var stored []byte
	err = tx.QueryRow(ctx, `SELECT version, key_check FROM meta WHERE id = 1`).Scan(&version, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		_, err = tx.Exec(ctx, `INSERT INTO meta (id, version) VALUES (1, 0)`)
	}
	if err != nil {
		return fmt.Errorf("pgstore: meta: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("pgstore: schema version %d is newer than this riskd's %d", version, len(migrations))
	}
	for ; version < len(migrations); version++ {
		if _, err := tx.Exec(ctx, migrations[version]); err != nil {
			return fmt.Errorf("pgstore: migrate to %d: %w", version+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE meta SET version = $1 WHERE id = 1`, version); err != nil {
		return err
	}
	if len(keyCheck) > 0 {
		if stored == nil {
			if _, err := tx.Exec(ctx, `UPDATE meta SET key_check = $1 WHERE id = 1`, keyCheck); err != nil {
				return err
			}
		} else if subtle.ConstantTimeCompare(stored, keyCheck) != 1 {
			return ErrKeyMismatch
		}
	}
	return tx.Commit(ctx)
}

// WatchHealth implements store.HealthWatcher: fn learns whether the
// database answers, now and on every change.
func (s *Store) WatchHealth(fn func(up bool)) { s.gate.Watch(fn) }

// Close commits what is already queued, then closes the pool.
func (s *Store) Close() error {
	if s.queue.Close() {
		s.gate.Close()
		s.pool.Close()
	}
	return nil
}

// CommitStats implements store.CommitCounter: Groups counts the
// transactions the commit loop committed, Commits the Commit calls they
// carried (a replay among them included).
func (s *Store) CommitStats() store.CommitStats {
	return store.CommitStats{Groups: s.groups.Load(), Commits: s.commits.Load()}
}

// begin starts an operation within its budget (see package gate); long
// ones, whose length grows with their work, have the caller's deadline.
func (s *Store) begin(ctx context.Context, long bool) (gate.Op, error) {
	if s.queue.Closed() {
		return gate.Op{}, store.ErrClosed
	}
	if long {
		return s.gate.BeginLong(ctx)
	}
	return s.gate.Begin(ctx)
}

func encodeSubjects(ids []store.Identifier) []byte {
	b := make([]byte, 0, len(ids)*(1+store.HashSize))
	for _, id := range ids {
		b = append(b, byte(id.Kind))
		b = append(b, id.Hash[:]...)
	}
	return b
}

func decodeSubjects(b []byte) ([]store.Identifier, error) {
	if len(b)%(1+store.HashSize) != 0 {
		return nil, errors.New("pgstore: corrupt subjects")
	}
	out := make([]store.Identifier, len(b)/(1+store.HashSize))
	for i := range out {
		out[i].Kind = store.Kind(b[0])
		copy(out[i].Hash[:], b[1:1+store.HashSize])
		b = b[1+store.HashSize:]
	}
	return out, nil
}

func unmarshal(b []byte) (*riskv1.Decision, error) {
	d := &riskv1.Decision{}
	if err := proto.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("pgstore: corrupt decision: %w", err)
	}
	return d, nil
}

// Commit implements store.DecisionLog.
func (s *Store) Commit(ctx context.Context, c store.Commit) (d *riskv1.Decision, fresh bool, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, false, err
	}
	defer func() { err = op.End(err) }()
	return s.commit(op.Ctx, c)
}

func (s *Store) commit(ctx context.Context, c store.Commit) (*riskv1.Decision, bool, error) {
	d := c.Decision
	if d == nil || d.GetDecisionId() == "" || d.GetRequestId() == "" {
		return nil, false, errors.New("pgstore: commit needs a decision with its id and request id")
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(d)
	if err != nil {
		return nil, false, err
	}
	args, err := commitArgs(c, body)
	if err != nil {
		return nil, false, err
	}
	inserted, err := s.enqueue(ctx, args)
	if err != nil {
		return nil, false, err
	}
	if inserted {
		return d, true, nil
	}
	// Decided before: by another replica (the unique constraint made the
	// group wait for its commit) or by an earlier commit of the same group.
	// Either is committed now.
	var hash, stored []byte
	if err := s.pool.QueryRow(ctx, `SELECT request_hash, decision FROM decisions WHERE check_kind = $1 AND request_id = $2`,
		int16(d.GetCheck()), d.GetRequestId()).Scan(&hash, &stored); err != nil {
		return nil, false, err
	}
	if subtle.ConstantTimeCompare(hash, c.RequestHash[:]) != 1 {
		return nil, false, store.ErrRequestConflict
	}
	out, err := unmarshal(stored)
	return out, false, err
}

// commitSQL writes one decision, and its events and links only if the
// decision is new, so that a replay counts nothing twice. It answers
// whether the decision was inserted. One statement, so that a group of
// commits is one statement each in one pipelined batch.
const commitSQL = `WITH d AS (
		INSERT INTO decisions (id, check_kind, request_id, request_hash, decided_at, subjects, facts, decision)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (check_kind, request_id) DO NOTHING
		RETURNING 1
	), e AS (
		INSERT INTO events (series, kind, hash, at, id, amount, quantity, ref)
		SELECT * FROM unnest($9::text[], $10::smallint[], $11::bytea[], $12::timestamptz[], $13::text[], $14::bigint[], $15::bigint[], $16::text[])
		WHERE EXISTS (SELECT 1 FROM d)
		ON CONFLICT DO NOTHING
	), l AS (
		INSERT INTO links (kind, hash, subject, at)
		SELECT * FROM unnest($17::smallint[], $18::bytea[], $19::text[], $20::timestamptz[])
		WHERE EXISTS (SELECT 1 FROM d)
		ON CONFLICT DO NOTHING
	), s AS (
		INSERT INTO decision_subjects (kind, hash, decided_at, decision_id)
		SELECT k, h, $5, $1 FROM unnest($21::smallint[], $22::bytea[]) AS t (k, h)
		WHERE EXISTS (SELECT 1 FROM d)
		ON CONFLICT DO NOTHING
	), c AS (
		INSERT INTO cases (decision_id, check_kind, decided_at, due_at, on_expiry, state, amount_minor, currency)
		SELECT $1, $2, $5, $23, $24, 1, $25, $26
		WHERE EXISTS (SELECT 1 FROM d) AND $23::timestamptz IS NOT NULL
	)
	SELECT EXISTS (SELECT 1 FROM d)`

// commitArgs are commitSQL's arguments for c. They hold copies of
// everything the caller could change: the loop may encode them after a
// caller whose context ended has gone.
func commitArgs(c store.Commit, body []byte) ([]any, error) {
	d := c.Decision
	n := len(c.Events)
	series, kinds, evHashes, ats := make([]string, n), make([]int16, n), make([][]byte, n), make([]time.Time, n)
	ids, amounts, quantities, refs := make([]string, n), make([]int64, n), make([]int64, n), make([]string, n)
	for i, e := range c.Events {
		if e.ID == "" || e.Series == "" {
			return nil, errors.New("pgstore: an event needs an id and a series")
		}
		series[i], kinds[i], evHashes[i], ats[i] = e.Series, int16(e.Key.Kind), e.Key.Hash[:], e.At
		ids[i], amounts[i], quantities[i], refs[i] = e.ID, e.Amount, e.Quantity, e.Ref
	}
	n = len(c.Links)
	linkKinds, linkHashes, subjects, linkAts := make([]int16, n), make([][]byte, n), make([]string, n), make([]time.Time, n)
	for i, l := range c.Links {
		linkKinds[i], linkHashes[i], subjects[i], linkAts[i] = int16(l.ID.Kind), l.ID.Hash[:], l.Subject, l.At
	}
	search := c.SearchKeys()
	searchKinds, searchHashes := make([]int16, len(search)), make([][]byte, len(search))
	hashes := make([]byte, len(search)*store.HashSize) // one copy for all
	for i := range search {
		h := hashes[i*store.HashSize : (i+1)*store.HashSize]
		copy(h, search[i].Hash[:])
		searchKinds[i], searchHashes[i] = int16(search[i].Kind), h
	}
	var due *time.Time
	var onExpiry int16
	var amount store.Amount
	if c.Case != nil {
		due, onExpiry, amount = &c.Case.Due, int16(c.Case.OnExpiry), c.Case.Amount
	}
	return []any{
		d.GetDecisionId(), int16(d.GetCheck()), d.GetRequestId(), c.RequestHash[:], d.GetDecidedAt().AsTime(),
		encodeSubjects(c.Subjects), bytes.Clone(c.Facts), body,
		series, kinds, evHashes, ats, ids, amounts, quantities, refs,
		linkKinds, linkHashes, subjects, linkAts,
		searchKinds, searchHashes, due, onExpiry, amount.Minor, amount.Currency,
	}, nil
}

// enqueue queues a commit for the next group, waits until its group is
// committed and returns whether it inserted the decision.
func (s *Store) enqueue(ctx context.Context, args []any) (bool, error) {
	p := &pending{ctx: ctx, args: args, done: make(chan error, 1)}
	if err := s.queue.Send(ctx, p); err != nil {
		return false, err
	}
	select {
	case err := <-p.done:
		return p.inserted, err
	case <-ctx.Done():
		// The write may still land; an idempotent retry finds it.
		return false, ctx.Err()
	}
}

// commitGroup sends a group in one batch. If the group fails (one failed
// statement aborts the whole transaction), each commit is retried alone,
// so one bad commit cannot fail the others. An unreachable server fails
// them all at once instead: retrying each alone would only wait on it
// once per commit.
func (s *Store) commitGroup(group []*pending) {
	group = stillAwaited(group)
	if len(group) == 0 {
		return
	}
	ctx, stop := awaited(group)
	inserted, err := s.send(ctx, group)
	stop()
	if err == nil || len(group) == 1 || unreachable(err) {
		for i, p := range group {
			if err == nil {
				p.inserted = inserted[i]
			}
			p.done <- err
		}
		return
	}
	for _, p := range stillAwaited(group) {
		inserted, err := s.send(p.ctx, []*pending{p})
		if err == nil {
			p.inserted = inserted[0]
		}
		p.done <- err
	}
}

// stillAwaited answers the callers who stopped waiting and returns the
// others: a write nobody waits for need not be sent.
func stillAwaited(group []*pending) []*pending {
	out := group[:0]
	for _, p := range group {
		if err := p.ctx.Err(); err != nil {
			p.done <- err
			continue
		}
		out = append(out, p)
	}
	return out
}

// awaited returns a context that ends once every caller in group has
// stopped waiting. No caller's own context can bound the group (one
// leaving must not fail the others), but a group nobody waits for must not
// hold the loop and a connection on a server that does not answer.
func awaited(group []*pending) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var waiting atomic.Int64
	waiting.Store(int64(len(group)))
	stops := make([]func() bool, len(group))
	for i, p := range group {
		stops[i] = context.AfterFunc(p.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// send commits group as one pgx.Batch: pipelined in one round trip, and
// without BEGIN its statements run up to the batch's Sync in one implicit
// transaction, committed once. It returns whether each commit inserted
// its decision, and counts the group once it is committed.
func (s *Store) send(ctx context.Context, group []*pending) ([]bool, error) {
	b := &pgx.Batch{}
	for _, p := range group {
		b.Queue(commitSQL, p.args...)
	}
	br := s.pool.SendBatch(ctx, b)
	inserted := make([]bool, len(group))
	for i := range inserted {
		if err := br.QueryRow().Scan(&inserted[i]); err != nil {
			br.Close()
			return nil, err
		}
	}
	// The results arrive before the commit does: Close reads up to the
	// Sync, after which the transaction is committed.
	if err := br.Close(); err != nil {
		return nil, err
	}
	s.groups.Add(1)
	s.commits.Add(uint64(len(group)))
	return inserted, nil
}

func insertEvents(ctx context.Context, tx pgx.Tx, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, e := range events {
		if e.ID == "" || e.Series == "" {
			return errors.New("pgstore: an event needs an id and a series")
		}
		b.Queue(`INSERT INTO events (series, kind, hash, at, id, amount, quantity, ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT DO NOTHING`, e.Series, int16(e.Key.Kind), e.Key.Hash[:], e.At, e.ID, e.Amount, e.Quantity, e.Ref)
	}
	return tx.SendBatch(ctx, b).Close()
}

func insertLinks(ctx context.Context, tx pgx.Tx, links []store.Link) error {
	if len(links) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, l := range links {
		b.Queue(`INSERT INTO links (kind, hash, subject, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			int16(l.ID.Kind), l.ID.Hash[:], l.Subject, l.At)
	}
	return tx.SendBatch(ctx, b).Close()
}

func insertMark(ctx context.Context, tx pgx.Tx, id store.Identifier, m store.Mark) error {
	_, err := tx.Exec(ctx, `INSERT INTO marks (kind, hash, decision_id, label, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		int16(id.Kind), id.Hash[:], m.DecisionID, int16(m.Label), m.At)
	return err
}

// unreachable tells the errors that mean the server could not be reached,
// so the caller answers UNAVAILABLE rather than INTERNAL.
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// Decision implements store.DecisionLog.
func (s *Store) Decision(ctx context.Context, id string) (_ *riskv1.Decision, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	var b []byte
	if err := s.pool.QueryRow(ctx, `SELECT decision FROM decisions WHERE id = $1`, id).Scan(&b); err != nil {
		return nil, notFound(err)
	}
	return unmarshal(b)
}

// Subjects implements store.DecisionLog.
func (s *Store) Subjects(ctx context.Context, id string) (_ []store.Identifier, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	var b []byte
	if err := s.pool.QueryRow(ctx, `SELECT subjects FROM decisions WHERE id = $1`, id).Scan(&b); err != nil {
		return nil, notFound(err)
	}
	return decodeSubjects(b)
}

// RecordedSubjects implements store.History.
func (s *Store) RecordedSubjects(ctx context.Context, eventID string) (_ []store.Identifier, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	var b []byte
	if err := s.pool.QueryRow(ctx, `SELECT subjects FROM batches WHERE event_id = $1`, eventID).Scan(&b); err != nil {
		return nil, notFound(err)
	}
	return decodeSubjects(b)
}

// Facts implements store.DecisionLog.
func (s *Store) Facts(ctx context.Context, id string) (_ []byte, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	var b []byte
	if err := s.pool.QueryRow(ctx, `SELECT facts FROM decisions WHERE id = $1`, id).Scan(&b); err != nil {
		return nil, notFound(err)
	}
	return b, nil
}

// DecisionByRequest implements store.DecisionLog.
func (s *Store) DecisionByRequest(ctx context.Context, check riskv1.Check, requestID string) (_ *riskv1.Decision, hash [store.HashSize]byte, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, hash, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	var h, b []byte
	if err := s.pool.QueryRow(ctx, `SELECT request_hash, decision FROM decisions WHERE check_kind = $1 AND request_id = $2`,
		int16(check), requestID).Scan(&h, &b); err != nil {
		return nil, hash, notFound(err)
	}
	copy(hash[:], h)
	d, err := unmarshal(b)
	return d, hash, err
}

// ScanDecisions implements store.DecisionLog.
func (s *Store) ScanDecisions(ctx context.Context, from, to time.Time, fn func(*riskv1.Decision) error) (err error) {
	op, err := s.begin(ctx, true)
	if err != nil {
		return err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	rows, err := s.pool.Query(ctx, `SELECT decision FROM decisions WHERE decided_at >= $1 AND decided_at < $2 ORDER BY decided_at, id`, from, to)
	if err != nil {
		return err
	}
	// Read the page first: fn may call the store, and a held row set
	// would pin a pool connection for the whole replay.
	var bodies [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return err
		}
		bodies = append(bodies, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, b := range bodies {
		d, err := unmarshal(b)
		if err != nil {
			return err
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// Events implements store.History.
func (s *Store) Events(ctx context.Context, series string, key store.Identifier, since, until time.Time, limit int) (_ []store.Event, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	q := `SELECT at, id, amount, quantity, ref FROM events WHERE series = $1 AND kind = $2 AND hash = $3 AND at >= $4 AND at < $5 ORDER BY at, id`
	args := []any{series, int16(key.Kind), key.Hash[:], since, until}
	if limit > 0 {
		q += ` LIMIT $6`
		args = append(args, limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		e := store.Event{Series: series, Key: key}
		if err := rows.Scan(&e.At, &e.ID, &e.Amount, &e.Quantity, &e.Ref); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// Linked implements store.History.
func (s *Store) Linked(ctx context.Context, id store.Identifier, limit int) (_ []store.Link, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	q := `SELECT subject, at FROM links WHERE kind = $1 AND hash = $2 ORDER BY at, subject`
	args := []any{int16(id.Kind), id.Hash[:]}
	if limit > 0 {
		q += ` LIMIT $3`
		args = append(args, limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Link
	for rows.Next() {
		l := store.Link{ID: id}
		if err := rows.Scan(&l.Subject, &l.At); err != nil {
			return nil, err
		}
		l.At = l.At.UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// Record implements store.History.
func (s *Store) Record(ctx context.Context, batch []store.Batch) (recorded, dups int, err error) {
	op, err := s.begin(ctx, true)
	if err != nil {
		return 0, 0, err
	}
	defer func() { err = op.End(err) }()
	return s.record(op.Ctx, batch)
}

func (s *Store) record(ctx context.Context, batch []store.Batch) (int, int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback(ctx)
	recorded, dups := 0, 0
	for _, b := range batch {
		if b.EventID == "" {
			return 0, 0, errors.New("pgstore: a batch entry needs an event id")
		}
		tag, err := tx.Exec(ctx, `INSERT INTO batches (event_id, at, subjects) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, b.EventID, b.Time(), encodeSubjects(b.Subjects))
		if err != nil {
			return 0, 0, err
		}
		if tag.RowsAffected() == 0 {
			dups++
			continue
		}
		if err := insertEvents(ctx, tx, b.Events); err != nil {
			return 0, 0, err
		}
		if err := insertLinks(ctx, tx, b.Links); err != nil {
			return 0, 0, err
		}
		for _, m := range b.Marks {
			if err := insertMark(ctx, tx, m.ID, m.Mark); err != nil {
				return 0, 0, err
			}
		}
		recorded++
	}
	return recorded, dups, tx.Commit(ctx)
}

// ReportOutcome implements store.Outcomes.
func (s *Store) ReportOutcome(ctx context.Context, o store.Outcome) error {
	op, err := s.begin(ctx, false)
	if err != nil {
		return err
	}
	return op.End(s.reportOutcome(op.Ctx, o))
}

func (s *Store) reportOutcome(ctx context.Context, o store.Outcome) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := reportOutcomeTx(ctx, tx, o); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// reportOutcomeTx stores an outcome and marks the decision's subjects in
// tx: ReportOutcome's, and a case's resolution's, one code path.
func reportOutcomeTx(ctx context.Context, tx pgx.Tx, o store.Outcome) error {
	var b []byte
	if err := tx.QueryRow(ctx, `SELECT subjects FROM decisions WHERE id = $1`, o.DecisionID).Scan(&b); err != nil {
		return notFound(err)
	}
	subjects, err := decodeSubjects(b)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO outcomes (decision_id, label, at, note) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		o.DecisionID, int16(o.Label), o.At, o.Note)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return nil // reported before: nothing changes
	}
	for _, id := range subjects {
		if err := insertMark(ctx, tx, id, store.Mark{Label: o.Label, DecisionID: o.DecisionID, At: o.At}); err != nil {
			return err
		}
	}
	return nil
}

// Marks implements store.Outcomes.
func (s *Store) Marks(ctx context.Context, id store.Identifier) (_ []store.Mark, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	rows, err := s.pool.Query(ctx, `SELECT decision_id, label, at FROM marks WHERE kind = $1 AND hash = $2 ORDER BY at, decision_id, label`,
		int16(id.Kind), id.Hash[:])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Mark
	for rows.Next() {
		var m store.Mark
		var label int16
		if err := rows.Scan(&m.DecisionID, &label, &m.At); err != nil {
			return nil, err
		}
		m.Label, m.At = riskv1.OutcomeLabel(label), m.At.UTC()
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, rows.Err()
}

// ScanOutcomes implements store.Outcomes.
func (s *Store) ScanOutcomes(ctx context.Context, from, to time.Time, fn func(store.Outcome) error) (err error) {
	op, err := s.begin(ctx, true)
	if err != nil {
		return err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	rows, err := s.pool.Query(ctx, `SELECT decision_id, label, at, note FROM outcomes WHERE at >= $1 AND at < $2 ORDER BY at, decision_id, label`, from, to)
	if err != nil {
		return err
	}
	// Read them all first: fn may call the store.
	var out []store.Outcome
	for rows.Next() {
		var o store.Outcome
		var label int16
		if err := rows.Scan(&o.DecisionID, &label, &o.At, &o.Note); err != nil {
			rows.Close()
			return err
		}
		o.Label, o.At = riskv1.OutcomeLabel(label), o.At.UTC()
		out = append(out, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, o := range out {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// expiry is one table's retention: rows older than the cutoff by column.
type expiry struct {
	table, column string
	events        bool // events retention, else decisions retention
}

var expiries = []expiry{
	{"events", "at", true}, {"batches", "at", true},
	{"decisions", "decided_at", false}, {"links", "at", false}, {"marks", "at", false}, {"outcomes", "at", false},
	// The review desk's rows go with their decision.
	{"decision_subjects", "decided_at", false}, {"cases", "decided_at", false},
	{"case_audit", "decided_at", false}, {"case_feed", "decided_at", false},
}

// Expire implements store.Store, deleting at most limit rows in all.
func (s *Store) Expire(ctx context.Context, now time.Time, r store.Retention, limit int) (deleted int, err error) {
	op, err := s.begin(ctx, true)
	if err != nil {
		return 0, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	if limit <= 0 {
		limit = 1000
	}
	for _, e := range expiries {
		if deleted >= limit {
			break
		}
		cutoff := now.Add(-r.Decisions)
		if e.events {
			cutoff = now.Add(-r.Events)
		}
		tag, err := s.pool.Exec(ctx, `DELETE FROM `+e.table+` WHERE ctid IN (SELECT ctid FROM `+e.table+` WHERE `+e.column+` < $1 LIMIT $2)`,
			cutoff, limit-deleted)
		if err != nil {
			return deleted, err
		}
		deleted += int(tag.RowsAffected())
	}
	return deleted, nil
}
