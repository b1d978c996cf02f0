package pebblestore

// Policy versions and the policy state in the LSM. Keys:
//
//	P version        a policy document and when, by whom, why it was kept
//	H seq            the state's history, one entry per change
//	M p              the policy state
//
// Values are JSON: these records are few (a change a week, a handful of
// versions), read rarely, and JSON keeps them readable in a dump. Every
// write goes through the commit loop, whose writes are serial, so the
// compare-and-swap on the state's sequence reads and writes under the one
// writer. None of them expires: a version is a few kilobytes, and "what
// decided this" must be answerable for as long as the decision is kept.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/riskd/riskd/internal/store"
)

const (
	pPolicies      byte = 'P'
	pPolicyHistory byte = 'H'
)

var metaPolicyState = []byte{pMeta, 'p'}

func policyKey(version string) []byte { return key(pPolicies, []byte(version)) }

func policyHistoryKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{pPolicyHistory}, seq)
}

func decodeJSON(v []byte, into any, what string) error {
	if err := json.Unmarshal(v, into); err != nil {
		return fmt.Errorf("%w: %s: %v", errCorrupt, what, err)
	}
	return nil
}

// KeepPolicy implements store.Policies.
func (s *Store) KeepPolicy(ctx context.Context, v store.PolicyVersion) (store.PolicyVersion, error) {
	res, err := s.write(ctx, func(b *txn) (any, error) {
		k := policyKey(v.Version)
		old, err := getCopy(b, k)
		if err != nil {
			return nil, err
		}
		if old != nil {
			var kept store.PolicyVersion
			return kept, decodeJSON(old, &kept, "policy version")
		}
		val, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return v, b.Set(k, val, nil)
	})
	if err != nil {
		return store.PolicyVersion{}, err
	}
	return res.(store.PolicyVersion), nil
}

// PolicyVersion implements store.Policies.
func (s *Store) PolicyVersion(ctx context.Context, version string) (store.PolicyVersion, error) {
	if err := s.readable(ctx); err != nil {
		return store.PolicyVersion{}, err
	}
	v, err := s.get(policyKey(version))
	if err != nil {
		return store.PolicyVersion{}, err
	}
	if v == nil {
		return store.PolicyVersion{}, store.ErrNoPolicyVersion
	}
	var out store.PolicyVersion
	return out, decodeJSON(v, &out, "policy version")
}

// PolicyVersions implements store.Policies.
func (s *Store) PolicyVersions(ctx context.Context, limit int) ([]store.PolicyVersion, error) {
	var out []store.PolicyVersion
	err := s.iterate(ctx, []byte{pPolicies}, []byte{pPolicies + 1}, func(_, v []byte) (bool, error) {
		var pv store.PolicyVersion
		if err := decodeJSON(v, &pv, "policy version"); err != nil {
			return false, err
		}
		out = append(out, pv)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	// Keyed by hash, so sorted here: the newest first, then by version
	// for a stable order among versions kept at one instant.
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

func readPolicyState(r reader) (store.PolicyState, error) {
	var st store.PolicyState
	v, err := getCopy(r, metaPolicyState)
	if err != nil || v == nil {
		return st, err
	}
	return st, decodeJSON(v, &st, "policy state")
}

// PolicyState implements store.Policies.
func (s *Store) PolicyState(ctx context.Context) (store.PolicyState, error) {
	if err := s.readable(ctx); err != nil {
		return store.PolicyState{}, err
	}
	return readPolicyState(s.db)
}

// ChangePolicyState implements store.Policies.
func (s *Store) ChangePolicyState(ctx context.Context, prev uint64, next store.PolicyState, ch store.PolicyChange) (store.PolicyState, error) {
	res, err := s.write(ctx, func(b *txn) (any, error) {
		cur, err := readPolicyState(b) // through the batch: it sees its group's earlier changes
		if err != nil {
			return nil, err
		}
		if cur.Seq != prev {
			return nil, store.ErrPolicyRaced
		}
		next.Seq, ch.Seq = prev+1, prev+1
		sv, err := json.Marshal(next)
		if err != nil {
			return nil, err
		}
		hv, err := json.Marshal(ch)
		if err != nil {
			return nil, err
		}
		if err := b.Set(metaPolicyState, sv, nil); err != nil {
			return nil, err
		}
		return next, b.Set(policyHistoryKey(ch.Seq), hv, nil)
	})
	if err != nil {
		return store.PolicyState{}, err
	}
	return res.(store.PolicyState), nil
}

// PolicyChanges implements store.Policies.
func (s *Store) PolicyChanges(ctx context.Context, limit int) ([]store.PolicyChange, error) {
	var out []store.PolicyChange
	err := s.iterate(ctx, []byte{pPolicyHistory}, []byte{pPolicyHistory + 1}, func(_, v []byte) (bool, error) {
		var ch store.PolicyChange
		if err := decodeJSON(v, &ch, "policy change"); err != nil {
			return false, err
		}
		out = append(out, ch)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
