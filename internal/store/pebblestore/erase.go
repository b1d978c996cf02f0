package pebblestore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// Erasure reads the whole LSM once, outside the commit loop (decisions go
// on meanwhile), to find every key and expiry item that holds the subject:
// a targeted read would need an index by every form of it (links by
// subject, events by ref) that the decision path would pay for on every
// write, for a call made a few times a year. It then deletes and rewrites
// what it found in one write through the commit loop, re-reading each
// record there, and finally flushes the memtable and compacts the touched
// keys, so that the old values leave the data files too (the WAL files they
// were in are deleted, not recycled: see noRecycle).

// erasePlan is what the read found.
type erasePlan struct {
	records [][]byte // decision keys whose subjects hold an erased ID
	batches [][]byte // batch keys whose subjects hold one
	deletes [][]byte // keys to delete
	events  []store.Event
	// items are the keys, without their bucket byte, that expiry entries
	// list and that are deleted: an entry listing one is rewritten.
	items   map[string]bool
	entries [][]byte // expiry entries that list an item, or name one
	counts  store.EraseCounts
}

// Erase implements store.Eraser.
func (s *Store) Erase(ctx context.Context, e store.Erasure) (store.Erased, error) {
	if e.Empty() && e.Receipt.ID == "" {
		return store.Erased{}, nil
	}
	p, err := s.planErasure(ctx, e)
	if err != nil {
		return store.Erased{}, err
	}
	nothing := len(p.deletes)+len(p.records)+len(p.batches)+len(p.entries) == 0
	if nothing && e.Receipt.ID == "" {
		return store.Erased{}, nil
	}
	_, err = s.write(ctx, func(b *txn) (any, error) {
		if e.Receipt.ID != "" {
			r := e.Receipt
			r.Counts = p.counts
			r.Counts.Add(e.Prior)
			v, err := json.Marshal(r)
			if err != nil {
				return nil, err
			}
			tk := timeKey(r.At)
			if err := b.Set(key(pErasures, tk[:], []byte(r.ID)), v, nil); err != nil {
				return nil, err
			}
		}
		for _, k := range p.deletes {
			if err := b.Delete(k, nil); err != nil {
				return nil, err
			}
			if k[0] == pLinks {
				b.links.forget(k)
			}
		}
		for _, k := range p.records {
			if err := eraseRecord(b, k, e.IDs); err != nil {
				return nil, err
			}
		}
		for _, k := range p.batches {
			if err := eraseBatch(b, k, e.IDs); err != nil {
				return nil, err
			}
		}
		for _, k := range p.entries {
			if err := eraseItems(b, k, p.items); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return store.Erased{}, err
	}
	if nothing {
		return store.Erased{}, nil
	}
	// Durable: now out of memory, then out of the data files.
	s.hot.remove(p.events)
	expired := make([][]byte, 0, len(p.events))
	for _, k := range p.deletes {
		if k[0] == pEvents {
			expired = append(expired, k[1:])
		}
	}
	s.cold.remove(expired)
	if err := s.compactKeys(ctx, slices.Concat(p.deletes, p.records, p.batches, p.entries)); err != nil {
		return store.Erased{}, fmt.Errorf("pebblestore: erase: rewriting the data files: %w", err)
	}
	return store.Erased{Counts: p.counts, Events: p.events}, nil
}

// Erasures implements store.ErasureLog.
func (s *Store) Erasures(ctx context.Context) ([]store.ErasureRecord, error) {
	var out []store.ErasureRecord
	err := s.iterate(ctx, []byte{pErasures}, []byte{pErasures + 1}, func(_, v []byte) (bool, error) {
		var r store.ErasureRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("%w: erasure log: %v", errCorrupt, err)
		}
		out = append(out, r)
		return true, nil
	})
	return out, err
}

// planErasure reads every bucket that can hold the subject.
func (s *Store) planErasure(ctx context.Context, e store.Erasure) (*erasePlan, error) {
	p := &erasePlan{items: map[string]bool{}}
	ids := make(map[store.Identifier]bool, len(e.IDs))
	for _, id := range e.IDs {
		ids[id] = true
	}
	identAt := func(k []byte, i int) bool { // the identifier at k[i:]
		if len(k) < i+1+store.HashSize {
			return false
		}
		var id store.Identifier
		id.Kind = store.Kind(k[i])
		copy(id.Hash[:], k[i+1:i+1+store.HashSize])
		return ids[id]
	}
	del := func(k []byte, item bool) {
		k = bytes.Clone(k)
		p.deletes = append(p.deletes, k)
		if item {
			p.items[string(k[1:])] = true
		}
	}
	// Decisions and batches carry subjects in their values.
	if err := s.iterate(ctx, []byte{pDecisions}, []byte{pDecisions + 1}, func(k, v []byte) (bool, error) {
		r, err := decodeRecord(v)
		if err != nil {
			return false, err
		}
		if slices.ContainsFunc(r.subjects, func(id store.Identifier) bool { return ids[id] }) {
			p.records = append(p.records, bytes.Clone(k))
			p.counts.Decisions++
		}
		return true, nil
	}); err != nil {
		return nil, err
	}
	if err := s.iterate(ctx, []byte{pBatches}, []byte{pBatches + 1}, func(k, v []byte) (bool, error) {
		subs, err := decodeBatch(v)
		if err != nil {
			return false, err
		}
		if slices.ContainsFunc(subs, func(id store.Identifier) bool { return ids[id] }) {
			p.batches = append(p.batches, bytes.Clone(k))
			p.counts.Batches++
		}
		return true, nil
	}); err != nil {
		return nil, err
	}
	if err := s.iterate(ctx, []byte{pEvents}, []byte{pEvents + 1}, func(k, v []byte) (bool, error) {
		ev, err := decodeStoredEvent(k[1:], v)
		if err != nil {
			return false, err
		}
		if ids[ev.Key] || slices.Contains(e.Refs, ev.Ref) {
			del(k, true)
			p.events = append(p.events, ev)
			p.counts.Events++
		}
		return true, nil
	}); err != nil {
		return nil, err
	}
	if err := s.iterate(ctx, []byte{pLinks}, []byte{pLinks + 1}, func(k, _ []byte) (bool, error) {
		if len(k) < linkPrefixLen {
			return false, fmt.Errorf("%w: link key", errCorrupt)
		}
		if identAt(k, 1) || slices.Contains(e.LinkSubjects, string(k[linkPrefixLen:])) {
			del(k, true)
			p.counts.Links++
		}
		return true, nil
	}); err != nil {
		return nil, err
	}
	if err := s.iterate(ctx, []byte{pMarks}, []byte{pMarks + 1}, func(k, _ []byte) (bool, error) {
		if identAt(k, 1) {
			del(k, true)
			p.counts.Marks++
		}
		return true, nil
	}); err != nil {
		return nil, err
	}
	if err := s.iterate(ctx, []byte{pSubjects}, []byte{pSubjects + 1}, func(k, _ []byte) (bool, error) {
		if identAt(k, 1) {
			del(k, true)
			p.counts.SubjectIndex++
		}
		return true, nil
	}); err != nil {
		return nil, err
	}
	if len(p.items) == 0 {
		return p, nil
	}
	// Expiry entries list the deleted keys (and hold events' values, and a
	// mark's entry is named by its key): they are rewritten without them.
	for _, index := range []byte{pExpEvents, pExpDecisions} {
		if err := s.iterate(ctx, []byte{index}, []byte{index + 1}, func(k, v []byte) (bool, error) {
			if len(k) > 10 && k[9] == tagMark && p.items[string(k[10:])] {
				p.entries = append(p.entries, bytes.Clone(k))
				return true, nil
			}
			hit := false
			if err := (items{b: v}).each(func(tag byte, ik []byte) error {
				hit = hit || p.items[string(itemKey(tag, ik))]
				return nil
			}); err != nil {
				return false, err
			}
			if hit {
				p.entries = append(p.entries, bytes.Clone(k))
			}
			return true, nil
		}); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// itemKey is the key an expiry item names, without its bucket byte.
func itemKey(tag byte, k []byte) []byte {
	if tag == tagEventValue {
		if ek, _, err := splitEventValue(k); err == nil {
			return ek
		}
	}
	return k
}

// eraseRecord cuts ids from a decision's subjects, and the personal parts
// from its facts and decision, read again inside the write.
func eraseRecord(b *txn, k []byte, ids []store.Identifier) error {
	v, err := getCopy(b, k)
	if err != nil || v == nil {
		return err
	}
	r, err := decodeRecord(v)
	if err != nil {
		return err
	}
	r.subjects, _ = store.Without(r.subjects, ids)
	r.facts = store.ScrubFacts(r.facts)
	d := &riskv1.Decision{}
	if err := proto.Unmarshal(r.decision, d); err != nil {
		return fmt.Errorf("%w: decision: %v", errCorrupt, err)
	}
	store.ScrubDecision(d)
	rec, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(appendRecordHead(nil, r), d)
	if err != nil {
		return err
	}
	return b.Set(k, rec, nil)
}

// eraseBatch cuts ids from a recorded batch entry's subjects.
func eraseBatch(b *txn, k []byte, ids []store.Identifier) error {
	v, err := getCopy(b, k)
	if err != nil || v == nil {
		return err
	}
	subs, err := decodeBatch(v)
	if err != nil {
		return err
	}
	subs, _ = store.Without(subs, ids)
	return b.Set(k, appendSubjects(bytes.Clone(v[:8]), subs), nil)
}

// eraseItems rewrites an expiry entry without the items erased; an entry
// left empty, or named by an erased key (a mark's), is deleted.
func eraseItems(b *txn, k []byte, erased map[string]bool) error {
	if len(k) > 10 && k[9] == tagMark && erased[string(k[10:])] {
		return b.Delete(k, nil)
	}
	v, err := getCopy(b, k)
	if err != nil || v == nil {
		return err
	}
	var kept items
	if err := (items{b: v}).each(func(tag byte, ik []byte) error {
		if !erased[string(itemKey(tag, ik))] {
			kept.add(tag, ik)
		}
		return nil
	}); err != nil {
		return err
	}
	if len(kept.b) == 0 && k[9] != tagDecision {
		return b.Delete(k, nil)
	}
	return b.Set(k, kept.b, nil)
}

// compactKeys flushes the memtable and compacts each key's range, so
// that the values deleted or overwritten leave the tables.
func (s *Store) compactKeys(ctx context.Context, keys [][]byte) error {
	if err := s.db.Flush(); err != nil {
		return err
	}
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	for _, k := range keys {
		if err := s.db.Compact(ctx, k, append(bytes.Clone(k), 0), false); err != nil {
			return err
		}
	}
	return nil
}
