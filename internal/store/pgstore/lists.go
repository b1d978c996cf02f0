package pgstore

// The named lists in PostgreSQL (schema version 6). An entry holds a
// keyed hash (kind, hash) or an IP range (a cidr, kept as a range: a hash
// cannot say which addresses a range holds). A decision's lookup is one
// statement: its identifiers' (kind, hash) pairs through the lookup index,
// and its IP address through a GiST index on the ranges. Nothing is
// cached: every replica reads the table, so a write on one is seen by the
// next decision on any other.

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riskd/riskd/internal/store"
)

// listsMigration is schema version 6. IDs are compared bytewise (COLLATE
// "C"), as every store pages them.
const listsMigration = `
	CREATE TABLE lists (
		name        text PRIMARY KEY,
		purpose     smallint NOT NULL,
		description text NOT NULL,
		created_by  text NOT NULL,
		created_at  timestamptz NOT NULL
	);
	CREATE TABLE list_entries (
		id         text COLLATE "C" PRIMARY KEY,
		list       text NOT NULL REFERENCES lists (name),
		kind       smallint NOT NULL,
		hash       bytea,
		ip_range   cidr,
		reason     text NOT NULL,
		added_by   text NOT NULL,
		added_at   timestamptz NOT NULL,
		expires_at timestamptz,
		CHECK ((hash IS NULL) <> (ip_range IS NULL))
	);
	CREATE UNIQUE INDEX list_entries_value ON list_entries (list, kind, hash) WHERE hash IS NOT NULL;
	CREATE UNIQUE INDEX list_entries_range ON list_entries (list, ip_range) WHERE ip_range IS NOT NULL;
	CREATE INDEX list_entries_page ON list_entries (list, id);
	CREATE INDEX list_entries_lookup ON list_entries (kind, hash) WHERE hash IS NOT NULL;
	CREATE INDEX list_entries_ranges ON list_entries USING gist (ip_range inet_ops) WHERE ip_range IS NOT NULL;`

// entryChunk bounds the rows of one INSERT of a bulk add; the add is still
// one transaction.
const entryChunk = 5000

// CreateList implements store.NamedLists.
func (s *Store) CreateList(ctx context.Context, l store.List) (_ store.List, created bool, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return store.List{}, false, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	tag, err := s.pool.Exec(ctx, `INSERT INTO lists (name, purpose, description, created_by, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, l.Name, int16(l.Purpose), l.Description, l.CreatedBy, l.CreatedAt)
	if err != nil {
		return store.List{}, false, err
	}
	if tag.RowsAffected() == 1 {
		return l, true, nil
	}
	stored, err := readList(ctx, s.pool, l.Name)
	if err != nil {
		return store.List{}, false, err
	}
	if stored.Purpose != l.Purpose {
		return store.List{}, false, store.ErrListExists
	}
	return stored, false, nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func readList(ctx context.Context, q querier, name string) (store.List, error) {
	l := store.List{Name: name}
	var purpose int16
	err := q.QueryRow(ctx, `SELECT purpose, description, created_by, created_at FROM lists WHERE name = $1`, name).
		Scan(&purpose, &l.Description, &l.CreatedBy, &l.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, store.ErrNoList
	}
	l.Purpose, l.CreatedAt = store.ListPurpose(purpose), l.CreatedAt.UTC()
	return l, err
}

// Lists implements store.NamedLists.
func (s *Store) Lists(ctx context.Context) (_ []store.List, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	rows, err := s.pool.Query(op.Ctx, `SELECT name, purpose, description, created_by, created_at FROM lists ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.List, error) {
		var l store.List
		var purpose int16
		err := r.Scan(&l.Name, &purpose, &l.Description, &l.CreatedBy, &l.CreatedAt)
		l.Purpose, l.CreatedAt = store.ListPurpose(purpose), l.CreatedAt.UTC()
		return l, err
	})
}

// AddListEntries implements store.NamedLists: one transaction, whatever the
// number of entries.
func (s *Store) AddListEntries(ctx context.Context, list string, entries []store.ListEntry) (_ []string, err error) {
	if err := store.CheckListEntries(entries); err != nil {
		return nil, err
	}
	op, err := s.begin(ctx, true)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	// One row per value: a value given twice is one entry (the later
	// fields, the first ID), as an upsert cannot touch a row twice.
	first := map[store.ListValue]int{}
	var unique []store.ListEntry
	for _, e := range entries {
		if i, ok := first[e.Value]; ok {
			e.ID = unique[i].ID
			unique[i] = e
			continue
		}
		first[e.Value] = len(unique)
		unique = append(unique, e)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	// The list row is locked against nothing but read under the
	// transaction: its foreign key keeps it while the entries land.
	if _, err := readList(ctx, tx, list); err != nil {
		return nil, err
	}
	inForce := make(map[store.ListValue]string, len(unique))
	for start := 0; start < len(unique); start += entryChunk {
		if err := upsertEntries(ctx, tx, list, unique[start:min(start+entryChunk, len(unique))], inForce); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = inForce[e.Value]
	}
	return ids, nil
}

// upsertEntries writes one chunk of distinct values in tx and records the
// ID in force of each in inForce.
func upsertEntries(ctx context.Context, tx pgx.Tx, list string, entries []store.ListEntry, inForce map[store.ListValue]string) error {
	var hashed, ranged struct {
		ids, reasons, adders []string
		kinds                []int16
		hashes               [][]byte
		ranges               []netip.Prefix
		added                []time.Time
		expires              []*time.Time
	}
	for _, e := range entries {
		c := &hashed
		if e.Value.IsRange() {
			c = &ranged
			c.ranges = append(c.ranges, e.Value.Range)
		} else {
			c.hashes = append(c.hashes, e.Value.ID.Hash[:])
		}
		c.ids, c.reasons, c.adders = append(c.ids, e.ID), append(c.reasons, e.Reason), append(c.adders, e.AddedBy)
		c.kinds, c.added, c.expires = append(c.kinds, int16(e.Value.ID.Kind)), append(c.added, e.AddedAt), append(c.expires, nullTime(e.Expires))
	}
	const set = `DO UPDATE SET reason = excluded.reason, added_by = excluded.added_by, added_at = excluded.added_at, expires_at = excluded.expires_at`
	if len(hashed.ids) > 0 {
		rows, err := tx.Query(ctx, `INSERT INTO list_entries (id, list, kind, hash, reason, added_by, added_at, expires_at)
			SELECT i, $1, k, h, r, a, t, x FROM unnest($2::text[], $3::smallint[], $4::bytea[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[]) AS u(i, k, h, r, a, t, x)
			ON CONFLICT (list, kind, hash) WHERE hash IS NOT NULL `+set+` RETURNING id, kind, hash`,
			list, hashed.ids, hashed.kinds, hashed.hashes, hashed.reasons, hashed.adders, hashed.added, hashed.expires)
		if err != nil {
			return err
		}
		var id string
		var kind int16
		var hash []byte
		_, err = pgx.ForEachRow(rows, []any{&id, &kind, &hash}, func() error {
			v := store.ListValue{ID: store.Identifier{Kind: store.Kind(kind)}}
			copy(v.ID.Hash[:], hash)
			inForce[v] = id
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(ranged.ids) > 0 {
		rows, err := tx.Query(ctx, `INSERT INTO list_entries (id, list, kind, ip_range, reason, added_by, added_at, expires_at)
			SELECT i, $1, k, c, r, a, t, x FROM unnest($2::text[], $3::smallint[], $4::cidr[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[]) AS u(i, k, c, r, a, t, x)
			ON CONFLICT (list, ip_range) WHERE ip_range IS NOT NULL `+set+` RETURNING id, ip_range`,
			list, ranged.ids, ranged.kinds, ranged.ranges, ranged.reasons, ranged.adders, ranged.added, ranged.expires)
		if err != nil {
			return err
		}
		var id string
		var r netip.Prefix
		_, err = pgx.ForEachRow(rows, []any{&id, &r}, func() error {
			inForce[store.ListValue{ID: store.Identifier{Kind: store.KindIP}, Range: r}] = id
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// RemoveListEntry implements store.NamedLists.
func (s *Store) RemoveListEntry(ctx context.Context, list, entryID string) (err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return err
	}
	defer func() { err = op.End(err) }()
	tag, err := s.pool.Exec(op.Ctx, `DELETE FROM list_entries WHERE list = $1 AND id = $2`, list, entryID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNoListEntry
	}
	return nil
}

const entryColumns = `id, list, kind, hash, ip_range, reason, added_by, added_at, expires_at`

func scanEntry(r pgx.CollectableRow) (store.ListEntry, error) {
	var e store.ListEntry
	var kind int16
	var hash []byte
	var rng *netip.Prefix
	var expires *time.Time
	if err := r.Scan(&e.ID, &e.List, &kind, &hash, &rng, &e.Reason, &e.AddedBy, &e.AddedAt, &expires); err != nil {
		return e, err
	}
	e.Value.ID.Kind, e.AddedAt = store.Kind(kind), e.AddedAt.UTC()
	copy(e.Value.ID.Hash[:], hash)
	if rng != nil {
		e.Value.Range = *rng
	}
	if expires != nil {
		e.Expires = expires.UTC()
	}
	return e, nil
}

// ListEntries implements store.NamedLists.
func (s *Store) ListEntries(ctx context.Context, q store.ListEntryQuery) (_ []store.ListEntry, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	ctx = op.Ctx
	if _, err := readList(ctx, s.pool, q.List); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.pool.Query(ctx, `SELECT `+entryColumns+` FROM list_entries WHERE list = $1 AND id > $2 ORDER BY id
		LIMIT CASE WHEN $3::int < 0 THEN NULL ELSE $3::int END`, q.List, q.After, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanEntry)
}

// MatchLists implements store.NamedLists: one statement per decision.
func (s *Store) MatchLists(ctx context.Context, p store.ListProbe) (_ []store.ListMatch, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer func() { err = op.End(err) }()
	kinds, hashes := make([]int16, len(p.IDs)), make([][]byte, len(p.IDs))
	for i := range p.IDs {
		kinds[i], hashes[i] = int16(p.IDs[i].Kind), p.IDs[i].Hash[:]
	}
	var ip *netip.Addr
	if p.IP.IsValid() {
		a := p.IP.Unmap()
		ip = &a
	}
	rows, err := s.pool.Query(op.Ctx, `
		SELECT e.id, e.list, l.purpose, e.kind, e.hash, e.ip_range FROM list_entries e JOIN lists l ON l.name = e.list
		WHERE e.hash IS NOT NULL AND (e.kind, e.hash) IN (SELECT * FROM unnest($1::smallint[], $2::bytea[]))
			AND (e.expires_at IS NULL OR e.expires_at > $3)
		UNION ALL
		SELECT e.id, e.list, l.purpose, e.kind, e.hash, e.ip_range FROM list_entries e JOIN lists l ON l.name = e.list
		WHERE $4::inet IS NOT NULL AND e.ip_range >>= $4::inet AND (e.expires_at IS NULL OR e.expires_at > $3)`,
		kinds, hashes, p.Now, ip)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ListMatch, error) {
		var m store.ListMatch
		var purpose, kind int16
		var hash []byte
		var rng *netip.Prefix
		if err := r.Scan(&m.EntryID, &m.List, &purpose, &kind, &hash, &rng); err != nil {
			return m, err
		}
		m.Purpose, m.Value.ID.Kind = store.ListPurpose(purpose), store.Kind(kind)
		copy(m.Value.ID.Hash[:], hash)
		if rng != nil {
			m.Value.Range = *rng
		}
		return m, nil
	})
}

// DeleteListValues implements store.NamedLists.
func (s *Store) DeleteListValues(ctx context.Context, ids []store.Identifier) (_ int, err error) {
	op, err := s.begin(ctx, false)
	if err != nil {
		return 0, err
	}
	defer func() { err = op.End(err) }()
	kinds, hashes := make([]int16, len(ids)), make([][]byte, len(ids))
	for i := range ids {
		kinds[i], hashes[i] = int16(ids[i].Kind), ids[i].Hash[:]
	}
	tag, err := s.pool.Exec(op.Ctx, `DELETE FROM list_entries WHERE hash IS NOT NULL
		AND (kind, hash) IN (SELECT * FROM unnest($1::smallint[], $2::bytea[]))`, kinds, hashes)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
