package engine

// A canary: a candidate policy decides for a share of the accounts and
// sellers, the rest stays on the version in force. Who is in the share is
// a hash of the account (or seller) ID seeded by the candidate's version,
// so one customer always sees one policy, every replica computes the same
// answer with nothing shared but the state, and raising the share keeps
// everyone already in it. Choosing costs one FNV-1a pass over an ID the
// request already holds, and allocates nothing.

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// CanaryBuckets is how finely a share is cut: a percent is 100 buckets.
const CanaryBuckets = 10000

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Seed is a candidate version's hash seed.
func Seed(version string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(version); i++ {
		h ^= uint64(version[i])
		h *= fnvPrime
	}
	return h
}

// Bucket is id's bucket, 0 to CanaryBuckets-1, under a candidate's seed.
func Bucket(seed uint64, id string) uint32 {
	h := seed
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= fnvPrime
	}
	// FNV's low bits mix poorly for short, similar keys ("acct-1",
	// "acct-2"): MurmurHash3's 64-bit finaliser spreads every input bit
	// over the whole word before the remainder is taken.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return uint32(h % CanaryBuckets)
}

// InCanary reports whether the customer id falls in a candidate's share
// (in buckets). A request without an ID never does: it cannot be sticky.
func InCanary(seed uint64, share uint32, id string) bool {
	return id != "" && Bucket(seed, id) < share
}

// StickyID is whom a request is about, for the canary: the account of a
// gift-card purchase, the buyer of a refund, the seller of a seller check.
func StickyID(req proto.Message) string {
	switch r := req.(type) {
	case *riskv1.ScoreGiftCardPurchaseRequest:
		return r.GetAccountId()
	case *riskv1.EvaluateRefundRequest:
		return r.GetBuyerAccountId()
	case *riskv1.CheckSellerRequest:
		return r.GetSellerId()
	}
	return ""
}

// Tally counts one version's decisions since it was installed.
type Tally struct {
	decisions, reviews, declines atomic.Int64
}

func (t *Tally) count(o riskv1.Outcome) {
	t.decisions.Add(1)
	switch o {
	case riskv1.Outcome_OUTCOME_REVIEW:
		t.reviews.Add(1)
	case riskv1.Outcome_OUTCOME_DECLINE:
		t.declines.Add(1)
	}
}

// Counts is a snapshot of a Tally.
type Counts struct {
	Decisions, Reviews, Declines int64
}

// Snapshot reads the tally.
func (t *Tally) Snapshot() Counts {
	return Counts{Decisions: t.decisions.Load(), Reviews: t.reviews.Load(), Declines: t.declines.Load()}
}

// Rates are a count's review and decline rates (0 when it is empty).
func (c Counts) Rates() (review, decline float64) {
	if c.Decisions == 0 {
		return 0, 0
	}
	return float64(c.Reviews) / float64(c.Decisions), float64(c.Declines) / float64(c.Decisions)
}

// Installed is a compiled policy with its own (remote) verifiers.
type Installed struct {
	Policy *policy.Policy
	Extra  verifier.Registry
}

// InstallState puts active in force and, when candidate's Policy is set,
// lets it decide percent percent of customers; seq is the shared state's
// seq it follows. Tallies start again, so the guard rails compare the two
// over the same stretch of time. Requests in flight keep the state they
// started with.
func (e *Engine) InstallState(seq uint64, active, candidate Installed, percent int) error {
	st, err := e.prepare(active.Policy, active.Extra)
	if err != nil {
		return err
	}
	st.seq = seq
	if candidate.Policy != nil {
		if percent < 1 || percent > 99 {
			return errors.New("engine: a canary's share must be 1 to 99 percent")
		}
		c, err := e.prepare(candidate.Policy, candidate.Extra)
		if err != nil {
			return err
		}
		c.isCanary = true
		st.canary, st.share, st.seed = c, uint32(percent*CanaryBuckets/100), Seed(candidate.Policy.Version)
		c.seed = st.seed
	}
	e.state.Store(st)
	e.loadedAt.Store(time.Now().UnixNano())
	return nil
}

// Canary describes the canary in force.
type Canary struct {
	// Policy is the candidate's, nil when there is no canary.
	Policy  *policy.Policy
	Percent int
	// Active and Candidate count each one's decisions since installed.
	Active, Candidate Counts
}

// Canary returns the canary in force, if any, with both sides' counts.
func (e *Engine) Canary() Canary {
	st := e.state.Load()
	out := Canary{Active: st.tally.Snapshot()}
	if st.canary != nil {
		out.Policy, out.Percent, out.Candidate = st.canary.policy, int(st.share)*100/CanaryBuckets, st.canary.tally.Snapshot()
	}
	return out
}

// StateSeq is the shared policy state's seq the engine follows.
func (e *Engine) StateSeq() uint64 { return e.state.Load().seq }
