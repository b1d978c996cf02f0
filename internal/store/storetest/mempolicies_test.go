package storetest

import (
	"context"
	"slices"
	"sort"

	"github.com/riskd/riskd/internal/store"
)

// The policy lifecycle of the map store: the simplest reading of
// store.Policies, against which the suite's policy tests are checked.

type memPolicies struct {
	versions map[string]store.PolicyVersion
	state    store.PolicyState
	changes  []store.PolicyChange
}

func clonePolicy(v store.PolicyVersion) store.PolicyVersion {
	v.Document = slices.Clone(v.Document)
	return v
}

func (s *memStore) KeepPolicy(ctx context.Context, v store.PolicyVersion) (store.PolicyVersion, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return store.PolicyVersion{}, err
	}
	defer unlock()
	p := &s.data.pol
	if kept, ok := p.versions[v.Version]; ok {
		return clonePolicy(kept), nil
	}
	if p.versions == nil {
		p.versions = map[string]store.PolicyVersion{}
	}
	p.versions[v.Version] = clonePolicy(v)
	return v, nil
}

func (s *memStore) PolicyVersion(ctx context.Context, version string) (store.PolicyVersion, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return store.PolicyVersion{}, err
	}
	defer unlock()
	v, ok := s.data.pol.versions[version]
	if !ok {
		return store.PolicyVersion{}, store.ErrNoPolicyVersion
	}
	return clonePolicy(v), nil
}

func (s *memStore) PolicyVersions(ctx context.Context, limit int) ([]store.PolicyVersion, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var out []store.PolicyVersion
	for _, v := range s.data.pol.versions {
		out = append(out, clonePolicy(v))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.After(out[j].At)
		}
		return out[i].Version < out[j].Version
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *memStore) PolicyState(ctx context.Context) (store.PolicyState, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return store.PolicyState{}, err
	}
	defer unlock()
	return s.data.pol.state, nil
}

func (s *memStore) ChangePolicyState(ctx context.Context, prev uint64, next store.PolicyState, ch store.PolicyChange) (store.PolicyState, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return store.PolicyState{}, err
	}
	defer unlock()
	p := &s.data.pol
	if p.state.Seq != prev {
		return store.PolicyState{}, store.ErrPolicyRaced
	}
	next.Seq, ch.Seq = prev+1, prev+1
	p.state = next
	p.changes = append(p.changes, ch)
	return next, nil
}

func (s *memStore) PolicyChanges(ctx context.Context, limit int) ([]store.PolicyChange, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	out := slices.Clone(s.data.pol.changes)
	slices.Reverse(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
