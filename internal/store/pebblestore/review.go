package pebblestore

// The review desk in the LSM. Keys:
//
//	S kind hash time id      the subject index: one key per identifier a
//	                         decision is found by, expired with it (items
//	                         of the decision's expiry entry)
//	C id                     a case
//	Q state due id           unresolved cases by due time, per state
//	A id 0 seq               a case's audit entries, in order
//	F seq                    the feed of resolutions
//	M f                      the feed's last sequence
//
// Every change goes through the commit loop, whose writes are serial: a
// change reads the case through its group's batch, checks it, and writes,
// so two changes to one case never interleave, and the feed's sequence is
// read and written under that same one writer: entries appear in the order
// their sequences were given, never with a gap.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

const (
	pSubjects byte = 'S'
	pCases    byte = 'C'
	pCaseDue  byte = 'Q'
	pAudit    byte = 'A'
	pFeed     byte = 'F'

	// tagSubject is a subject index key, an item of a decision's expiry
	// entry.
	tagSubject = 's'
)

var metaFeedSeq = []byte{pMeta, 'f'}

// subjectKeyLen is a subject index key's length before the decision ID.
const subjectKeyLen = 1 + 1 + store.HashSize + 8

// appendSubjectKey appends the index key of a decision found by id.
func appendSubjectKey(b []byte, id store.Identifier, at time.Time, decisionID string) []byte {
	b = append(b, pSubjects, byte(id.Kind))
	b = append(b, id.Hash[:]...)
	tk := timeKey(at)
	b = append(b, tk[:]...)
	return append(b, decisionID...)
}

func caseKey(id string) []byte { return key(pCases, []byte(id)) }

func caseDueKey(state store.CaseState, due time.Time, id string) []byte {
	tk := timeKey(due)
	return key(pCaseDue, []byte{byte(state)}, tk[:], []byte(id))
}

func auditPrefix(id string) []byte { return key(pAudit, []byte(id), []byte{0}) }

func auditKey(id string, seq int) []byte {
	return binary.BigEndian.AppendUint32(auditPrefix(id), uint32(seq))
}

func feedKey(seq uint64) []byte { return binary.BigEndian.AppendUint64([]byte{pFeed}, seq) }

// Times in case, audit and feed values: UnixNano, 0 for the zero time.
func appendTime(b []byte, t time.Time) []byte {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

func readTime(b []byte) time.Time {
	n := int64(binary.BigEndian.Uint64(b))
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Case formats: v2 added the amount at the end; v1 values (written
// before) read with none.
const (
	caseV1 = 1
	caseV2 = 2
)

// caseRecord is a case with what only the store needs: how many audit
// entries it has, and the feed entries it made (deleted with it).
type caseRecord struct {
	store.Case
	audits int
	feed   []uint64
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeCase(r caseRecord) []byte {
	b := make([]byte, 0, 80+len(r.DecisionID)+len(r.Holder)+len(r.ResolvedBy)+len(r.Amount.Currency)+8*len(r.feed))
	b = append(b, caseV2)
	b = binary.AppendUvarint(b, uint64(r.Check))
	b = appendTime(b, r.DecidedAt)
	b = appendTime(b, r.Due)
	b = appendTime(b, r.ClaimedUntil)
	b = appendTime(b, r.ResolvedAt)
	b = append(b, byte(r.OnExpiry), byte(r.State), byte(r.Verdict))
	b = binary.AppendUvarint(b, uint64(r.audits))
	b = appendString(b, r.DecisionID)
	b = appendString(b, r.Holder)
	b = appendString(b, r.ResolvedBy)
	b = binary.AppendUvarint(b, uint64(len(r.feed)))
	for _, seq := range r.feed {
		b = binary.BigEndian.AppendUint64(b, seq)
	}
	b = binary.AppendVarint(b, r.Amount.Minor)
	return appendString(b, r.Amount.Currency)
}

// reader of a value, checking every length: a parser of bytes from disk.
type valueReader struct {
	b   []byte
	err error
}

func (r *valueReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errCorrupt, what)
	}
}

func (r *valueReader) bytes(n int, what string) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.fail(what)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *valueReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *valueReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	// Only the shortest encoding, as uvarint: one value, one encoding.
	if n <= 0 || n != len(binary.AppendVarint(nil, v)) {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *valueReader) time(what string) time.Time {
	b := r.bytes(8, what)
	if b == nil {
		return time.Time{}
	}
	return readTime(b)
}

func (r *valueReader) string(what string) string {
	n := r.uvarint(what)
	if n > uint64(len(r.b)) {
		r.fail(what)
		return ""
	}
	return string(r.bytes(int(n), what))
}

func decodeCase(v []byte) (caseRecord, error) {
	var c caseRecord
	r := valueReader{b: v}
	head := r.bytes(1, "case format")
	if head == nil || head[0] != caseV1 && head[0] != caseV2 {
		return c, fmt.Errorf("%w: unknown case format", errCorrupt)
	}
	check := r.uvarint("case check")
	c.DecidedAt, c.Due = r.time("case decided at"), r.time("case due")
	c.ClaimedUntil, c.ResolvedAt = r.time("case claim"), r.time("case resolved at")
	if b := r.bytes(3, "case state"); b != nil {
		c.OnExpiry, c.State, c.Verdict = store.ExpiryAction(b[0]), store.CaseState(b[1]), store.Verdict(b[2])
	}
	c.audits = int(r.uvarint("case audits"))
	c.DecisionID, c.Holder, c.ResolvedBy = r.string("case id"), r.string("case holder"), r.string("case resolver")
	n := r.uvarint("case feed")
	if r.err == nil && n > uint64(len(r.b))/8 {
		r.fail("case feed")
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		if b := r.bytes(8, "case feed"); b != nil {
			c.feed = append(c.feed, binary.BigEndian.Uint64(b))
		}
	}
	if head[0] >= caseV2 {
		c.Amount.Minor = r.varint("case amount")
		c.Amount.Currency = r.string("case currency")
	}
	if r.err == nil && (len(r.b) != 0 || check > 255 || c.State < store.CaseOpen || c.State > store.CaseResolved) {
		r.fail("case")
	}
	c.Check = riskv1.Check(check)
	return c, r.err
}

const auditV1 = 1

func encodeAudit(a store.AuditEntry) []byte {
	b := make([]byte, 0, 24+len(a.Actor)+len(a.Note))
	b = append(b, auditV1)
	b = appendTime(b, a.At)
	b = appendTime(b, a.Until)
	b = append(b, byte(a.Action), byte(a.Verdict))
	b = appendString(b, a.Actor)
	return append(b, a.Note...)
}

func decodeAudit(seq int, v []byte) (store.AuditEntry, error) {
	a := store.AuditEntry{Seq: seq}
	r := valueReader{b: v}
	if head := r.bytes(1, "audit format"); head == nil || head[0] != auditV1 {
		return a, fmt.Errorf("%w: unknown audit format", errCorrupt)
	}
	a.At, a.Until = r.time("audit time"), r.time("audit until")
	if b := r.bytes(2, "audit action"); b != nil {
		a.Action, a.Verdict = store.AuditAction(b[0]), store.Verdict(b[1])
	}
	a.Actor = r.string("audit actor")
	a.Note = string(r.b)
	return a, r.err
}

func encodeFeed(id string, at time.Time, event []byte) []byte {
	b := make([]byte, 0, 10+len(id)+len(event))
	b = appendString(b, id)
	b = appendTime(b, at)
	return append(b, event...)
}

func decodeFeed(seq uint64, v []byte) (store.FeedEntry, error) {
	f := store.FeedEntry{Seq: seq}
	r := valueReader{b: v}
	f.DecisionID = r.string("feed decision")
	f.At = r.time("feed time")
	f.Event = bytes.Clone(r.b)
	return f, r.err
}

// openCase writes a new decision's case in its commit.
func openCase(b *txn, id string, c *store.NewCase, check riskv1.Check, decidedAt time.Time) error {
	rec := caseRecord{Case: store.Case{DecisionID: id, Check: check, DecidedAt: decidedAt, Due: c.Due, OnExpiry: c.OnExpiry, State: store.CaseOpen, Amount: c.Amount}}
	if err := b.Set(caseKey(id), encodeCase(rec), nil); err != nil {
		return err
	}
	return b.Set(caseDueKey(store.CaseOpen, c.Due, id), nil, nil)
}

// readCase reads a case through r (a group's batch sees its own writes).
func readCase(r reader, id string) (caseRecord, error) {
	v, err := getCopy(r, caseKey(id))
	if err != nil {
		return caseRecord{}, err
	}
	if v == nil {
		return caseRecord{}, store.ErrNoCase
	}
	return decodeCase(v)
}

// putCase writes a changed case, moving its due index entry with its state.
func putCase(b *txn, old store.CaseState, c caseRecord) error {
	if old != c.State {
		if old.Unresolved() {
			if err := b.Delete(caseDueKey(old, c.Due, c.DecisionID), nil); err != nil {
				return err
			}
		}
		if c.State.Unresolved() {
			if err := b.Set(caseDueKey(c.State, c.Due, c.DecisionID), nil, nil); err != nil {
				return err
			}
		}
	}
	return b.Set(caseKey(c.DecisionID), encodeCase(c), nil)
}

// appendAudit numbers an entry and writes it; the caller writes the case.
func appendAudit(b *txn, c *caseRecord, a store.AuditEntry) error {
	c.audits++
	return b.Set(auditKey(c.DecisionID, c.audits), encodeAudit(a), nil)
}

// deleteCase deletes a decision's case with its audit and feed entries,
// when the decision expires.
func deleteCase(b *txn, id string) error {
	c, err := readCase(b, id)
	if errors.Is(err, store.ErrNoCase) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.State.Unresolved() {
		if err := b.Delete(caseDueKey(c.State, c.Due, id), nil); err != nil {
			return err
		}
	}
	for _, seq := range c.feed {
		if err := b.Delete(feedKey(seq), nil); err != nil {
			return err
		}
	}
	if err := b.DeleteRange(auditPrefix(id), upperBound(auditPrefix(id)), nil); err != nil {
		return err
	}
	return b.Delete(caseKey(id), nil)
}

// changeCase runs change on a decision's case inside the commit loop and
// writes what it returns.
func (s *Store) changeCase(ctx context.Context, id string, change func(b *txn, c *caseRecord) (any, error)) (any, error) {
	return s.write(ctx, func(b *txn) (any, error) {
		c, err := readCase(b, id) // through the batch: it sees its group's earlier changes
		if err != nil {
			return nil, err
		}
		old := c.State
		res, err := change(b, &c)
		if err != nil {
			return nil, err
		}
		if err := putCase(b, old, c); err != nil {
			return nil, err
		}
		return res, nil
	})
}

// ClaimCase implements store.Reviews.
func (s *Store) ClaimCase(ctx context.Context, cl store.Claim) (store.Case, error) {
	res, err := s.changeCase(ctx, cl.DecisionID, func(b *txn, c *caseRecord) (any, error) {
		renew, err := store.CheckClaim(c.Case, cl)
		if err != nil {
			return nil, err
		}
		c.Holder, c.ClaimedUntil = cl.Actor, cl.Until
		action := store.AuditClaimed
		if renew {
			action = store.AuditRenewed
		}
		return c.Case, appendAudit(b, c, store.AuditEntry{At: cl.At, Actor: cl.Actor, Action: action, Until: cl.Until})
	})
	if err != nil {
		return store.Case{}, err
	}
	return res.(store.Case), nil
}

// ReleaseClaim implements store.Reviews.
func (s *Store) ReleaseClaim(ctx context.Context, id, actor string, at time.Time) (store.Case, error) {
	res, err := s.changeCase(ctx, id, func(b *txn, c *caseRecord) (any, error) {
		if err := store.CheckRelease(c.Case, actor, at); err != nil {
			return nil, err
		}
		c.Holder, c.ClaimedUntil = "", time.Time{}
		return c.Case, appendAudit(b, c, store.AuditEntry{At: at, Actor: actor, Action: store.AuditReleased})
	})
	if err != nil {
		return store.Case{}, err
	}
	return res.(store.Case), nil
}

// AddCaseNote implements store.Reviews.
func (s *Store) AddCaseNote(ctx context.Context, id, actor, note string, at time.Time) error {
	_, err := s.changeCase(ctx, id, func(b *txn, c *caseRecord) (any, error) {
		return nil, appendAudit(b, c, store.AuditEntry{At: at, Actor: actor, Action: store.AuditNoted, Note: note})
	})
	return err
}

type resolved struct {
	c   store.Case
	seq uint64
}

// Resolve implements store.Reviews: the check, the outcome (the code path
// of ReportOutcome), the audit entry and the feed entry in one batch.
func (s *Store) Resolve(ctx context.Context, r store.Resolution) (store.Case, uint64, error) {
	res, err := s.changeCase(ctx, r.DecisionID, func(b *txn, c *caseRecord) (any, error) {
		if err := store.CheckResolution(c.Case, r); err != nil {
			return nil, err
		}
		if r.Label != 0 {
			if err := reportOutcome(b, store.Outcome{DecisionID: r.DecisionID, Label: r.Label, Note: r.Note, At: r.At}); err != nil {
				return nil, err
			}
		}
		c.Case = store.Resolved(c.Case, r)
		if err := appendAudit(b, c, store.ResolutionAudit(r)); err != nil {
			return nil, err
		}
		// The sequence is read and written through this batch, in the one
		// commit loop: the next resolution reads what this one wrote.
		v, err := getCopy(b, metaFeedSeq)
		if err != nil {
			return nil, err
		}
		var seq uint64
		if len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		seq++
		if err := b.Set(metaFeedSeq, binary.BigEndian.AppendUint64(nil, seq), nil); err != nil {
			return nil, err
		}
		if err := b.Set(feedKey(seq), encodeFeed(r.DecisionID, r.At, r.Event), nil); err != nil {
			return nil, err
		}
		c.feed = append(c.feed, seq)
		return resolved{c.Case, seq}, nil
	})
	if err != nil {
		return store.Case{}, 0, err
	}
	out := res.(resolved)
	return out.c, out.seq, nil
}

// Case implements store.Reviews.
func (s *Store) Case(ctx context.Context, id string) (store.Case, error) {
	if err := s.readable(ctx); err != nil {
		return store.Case{}, err
	}
	c, err := readCase(s.db, id)
	return c.Case, err
}

// CaseAudit implements store.Reviews.
func (s *Store) CaseAudit(ctx context.Context, id string) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	prefix := auditPrefix(id)
	err := s.iterate(ctx, prefix, upperBound(prefix), func(k, v []byte) (bool, error) {
		if len(k) != len(prefix)+4 {
			return false, fmt.Errorf("%w: audit key", errCorrupt)
		}
		a, err := decodeAudit(int(binary.BigEndian.Uint32(k[len(prefix):])), v)
		out = append(out, a)
		return err == nil, err
	})
	return out, err
}

// Feed implements store.Reviews.
func (s *Store) Feed(ctx context.Context, after uint64, limit int) ([]store.FeedEntry, error) {
	var out []store.FeedEntry
	if after == ^uint64(0) {
		return nil, s.readable(ctx)
	}
	err := s.iterate(ctx, feedKey(after+1), []byte{pFeed + 1}, func(k, v []byte) (bool, error) {
		if len(k) != 9 {
			return false, fmt.Errorf("%w: feed key", errCorrupt)
		}
		f, err := decodeFeed(binary.BigEndian.Uint64(k[1:]), v)
		out = append(out, f)
		return err == nil && len(out) < limit, err
	})
	return out, err
}

// FeedHead implements store.Reviews.
func (s *Store) FeedHead(ctx context.Context) (uint64, error) {
	if err := s.readable(ctx); err != nil {
		return 0, err
	}
	v, err := s.get(metaFeedSeq)
	if err != nil || len(v) != 8 {
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

// DueCases implements store.Reviews.
func (s *Store) DueCases(ctx context.Context, now time.Time, limit int) ([]store.Case, error) {
	var ids []string
	prefix := []byte{pCaseDue, byte(store.CaseOpen)}
	end := timeKey(now.Add(time.Nanosecond)) // due at or before now
	err := s.iterate(ctx, prefix, key(pCaseDue, []byte{byte(store.CaseOpen)}, end[:]), func(k, _ []byte) (bool, error) {
		if len(k) < 10 {
			return false, fmt.Errorf("%w: case due key", errCorrupt)
		}
		ids = append(ids, string(k[10:]))
		return len(ids) < limit, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]store.Case, 0, len(ids))
	for _, id := range ids {
		c, err := s.Case(ctx, id)
		if errors.Is(err, store.ErrNoCase) {
			continue // expired meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ListCases implements store.Reviews: the open and the escalated cases'
// due indexes, merged.
func (s *Store) ListCases(ctx context.Context, q store.CaseQuery) (store.CasePage, error) {
	if err := s.readable(ctx); err != nil {
		return store.CasePage{}, err
	}
	var its []*pebble.Iterator
	defer func() {
		for _, it := range its {
			it.Close()
		}
	}()
	for _, st := range []store.CaseState{store.CaseOpen, store.CaseEscalated} {
		prefix := []byte{pCaseDue, byte(st)}
		lower := prefix
		if q.After != nil {
			// Just after the cursor's key: the next byte string.
			lower = append(caseDueKey(st, q.After.Due, q.After.DecisionID), 0)
		}
		it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upperBound(prefix)})
		if err != nil {
			return store.CasePage{}, err
		}
		its = append(its, it)
		it.First()
	}
	var page store.CasePage
	for scanned := 0; len(page.Cases) < q.Limit; scanned++ {
		// The smaller (due, id) of the two heads.
		var next *pebble.Iterator
		for _, it := range its {
			if it.Valid() && (next == nil || bytes.Compare(it.Key()[2:], next.Key()[2:]) < 0) {
				next = it
			}
		}
		if next == nil {
			page.Next = nil
			return page, errors.Join(its[0].Error(), its[1].Error())
		}
		if scanned == q.MaxScan {
			return page, nil
		}
		k := next.Key()
		if len(k) < 10 {
			return page, fmt.Errorf("%w: case due key", errCorrupt)
		}
		id := string(k[10:])
		page.Next = &store.CaseCursor{Due: timeFromKey(k[2:10]), DecisionID: id}
		next.Next()
		c, err := readCase(s.db, id)
		if errors.Is(err, store.ErrNoCase) {
			continue
		}
		if err != nil {
			return page, err
		}
		if !q.Match(c.Case) {
			continue
		}
		d, err := s.Decision(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return page, err
		}
		page.Cases = append(page.Cases, store.CaseDecision{Decision: d, Case: &c.Case})
	}
	return page, nil
}

// ListDecisions implements store.Reviews: the expiry index of decisions
// (time, tag, id) read backwards, or the subject's index keys.
func (s *Store) ListDecisions(ctx context.Context, q store.DecisionQuery) (store.DecisionPage, error) {
	if err := s.readable(ctx); err != nil {
		return store.DecisionPage{}, err
	}
	prefix := []byte{pExpDecisions}
	if q.Subject != nil {
		prefix = key(pSubjects, identKey(*q.Subject))
	}
	lower, upper := prefix, upperBound(prefix)
	if !q.From.IsZero() {
		from := timeKey(q.From)
		lower = key(prefix[0], prefix[1:], from[:])
	}
	if !q.To.IsZero() {
		to := timeKey(q.To)
		upper = key(prefix[0], prefix[1:], to[:])
	}
	if q.After != nil {
		after := timeKey(q.After.DecidedAt)
		k := key(prefix[0], prefix[1:], after[:])
		if q.Subject == nil {
			k = append(k, tagDecision)
		}
		if k = append(k, q.After.DecisionID...); bytes.Compare(k, upper) < 0 {
			upper = k
		}
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return store.DecisionPage{}, err
	}
	defer it.Close()
	var page store.DecisionPage
	scanned := 0
	for valid := it.Last(); ; valid = it.Prev() {
		if !valid {
			page.Next = nil
			return page, it.Error()
		}
		if len(page.Decisions) == q.Limit || scanned == q.MaxScan {
			return page, nil
		}
		k := it.Key()[len(prefix):]
		if len(k) < 8 {
			return page, fmt.Errorf("%w: index key", errCorrupt)
		}
		at, rest := timeFromKey(k[:8]), k[8:]
		if q.Subject == nil {
			if len(rest) == 0 || rest[0] != tagDecision {
				continue // a link, mark or outcome entry of the same index
			}
			rest = rest[1:]
		}
		id := string(rest)
		scanned++
		page.Next = &store.Cursor{DecidedAt: at, DecisionID: id}
		d, err := s.Decision(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // expired meanwhile
		}
		if err != nil {
			return page, err
		}
		var cp *store.Case
		switch c, err := readCase(s.db, id); {
		case err == nil:
			cp = &c.Case
		case !errors.Is(err, store.ErrNoCase):
			return page, err
		}
		if q.Filter.Match(d, cp) {
			page.Decisions = append(page.Decisions, store.CaseDecision{Decision: d, Case: cp})
		}
	}
}

// indexEarlierDecisions puts the decisions of a store written before the
// subject index (schema 1) in it, with the index keys as items of each
// decision's expiry entry, so that they expire together. It runs once, at
// the open that upgrades the schema, before the commit loop starts; a
// crash half-way does it again (it only sets keys).
func (s *Store) indexEarlierDecisions(log func(n int)) error {
	const perBatch = 1000
	b := s.db.NewBatch()
	defer func() { b.Close() }()
	n, inBatch := 0, 0
	err := s.iterate(context.Background(), []byte{pExpDecisions}, []byte{pExpDecisions + 1}, func(k, v []byte) (bool, error) {
		if len(k) < 10 || k[9] != tagDecision || len(v) != 0 {
			return true, nil // another entry, or a decision indexed already
		}
		id, at := k[10:], timeFromKey(k[1:9])
		rv, err := s.get(key(pDecisions, id))
		if err != nil || rv == nil {
			return err == nil, err
		}
		r, err := decodeRecord(rv)
		if err != nil {
			return false, err
		}
		var index items
		for _, sk := range r.subjects {
			sub := appendSubjectKey(nil, sk, at, string(id))
			if err := b.Set(sub, nil, nil); err != nil {
				return false, err
			}
			index.add(tagSubject, sub[1:])
		}
		if err := b.Set(bytes.Clone(k), index.b, nil); err != nil {
			return false, err
		}
		n, inBatch = n+1, inBatch+1
		if inBatch == perBatch {
			if err := b.Commit(pebble.Sync); err != nil {
				return false, err
			}
			b.Close()
			b, inBatch = s.db.NewBatch(), 0
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	if n > 0 && log != nil {
		log(n)
	}
	return nil
}
