package storetest

import (
	"context"
	"slices"
	"strings"

	"github.com/riskd/riskd/internal/store"
)

// The named lists of memStore: a map of lists and a slice of entries,
// searched in full by every lookup (it only has to be right).

type memLists struct {
	lists   map[string]store.List
	entries []store.ListEntry
}

func (s *memStore) listData() *memLists {
	if s.data.lists == nil {
		s.data.lists = &memLists{lists: map[string]store.List{}}
	}
	return s.data.lists
}

func (s *memStore) CreateList(ctx context.Context, l store.List) (store.List, bool, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return store.List{}, false, err
	}
	defer unlock()
	m := s.listData()
	if old, ok := m.lists[l.Name]; ok {
		if old.Purpose != l.Purpose {
			return store.List{}, false, store.ErrListExists
		}
		return old, false, nil
	}
	m.lists[l.Name] = l
	return l, true, nil
}

func (s *memStore) Lists(ctx context.Context) ([]store.List, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []store.List
	for _, l := range s.listData().lists {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b store.List) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *memStore) AddListEntries(ctx context.Context, list string, entries []store.ListEntry) ([]string, error) {
	if err := store.CheckListEntries(entries); err != nil {
		return nil, err
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	m := s.listData()
	if _, ok := m.lists[list]; !ok {
		return nil, store.ErrNoList
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		e.List = list
		j := slices.IndexFunc(m.entries, func(o store.ListEntry) bool { return o.List == list && o.Value == e.Value })
		if j >= 0 {
			e.ID = m.entries[j].ID
			m.entries[j] = e
		} else {
			m.entries = append(m.entries, e)
		}
		ids[i] = e.ID
	}
	return ids, nil
}

func (s *memStore) RemoveListEntry(ctx context.Context, list, entryID string) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	m := s.listData()
	j := slices.IndexFunc(m.entries, func(o store.ListEntry) bool { return o.List == list && o.ID == entryID })
	if j < 0 {
		return store.ErrNoListEntry
	}
	m.entries = slices.Delete(m.entries, j, j+1)
	return nil
}

func (s *memStore) ListEntries(ctx context.Context, q store.ListEntryQuery) ([]store.ListEntry, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	m := s.listData()
	if _, ok := m.lists[q.List]; !ok {
		return nil, store.ErrNoList
	}
	var out []store.ListEntry
	for _, e := range m.entries {
		if e.List == q.List && e.ID > q.After {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b store.ListEntry) int { return strings.Compare(a.ID, b.ID) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (s *memStore) MatchLists(ctx context.Context, p store.ListProbe) ([]store.ListMatch, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	m := s.listData()
	var out []store.ListMatch
	for _, e := range m.entries {
		if !e.Live(p.Now) {
			continue
		}
		hit := e.Value.IsRange() && p.IP.IsValid() && e.Value.Range.Contains(p.IP.Unmap())
		if !e.Value.IsRange() && slices.Contains(p.IDs, e.Value.ID) {
			hit = true
		}
		if hit {
			out = append(out, store.ListMatch{List: e.List, Purpose: m.lists[e.List].Purpose, EntryID: e.ID, Value: e.Value})
		}
	}
	return out, nil
}

func (s *memStore) DeleteListValues(ctx context.Context, ids []store.Identifier) (int, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	m := s.listData()
	before := len(m.entries)
	m.entries = slices.DeleteFunc(m.entries, func(e store.ListEntry) bool {
		return !e.Value.IsRange() && slices.Contains(ids, e.Value.ID)
	})
	return before - len(m.entries), nil
}
