package quality

import (
	"fmt"
	"io"
	"sort"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// VersionStats is the labelled decisions of one policy version, on one
// side of a canary: how it decided, and its own per-check and per-rule
// report, so a candidate tried on a share of traffic is measured against
// the version in force over the same stretch of time.
type VersionStats struct {
	Version string
	// Canary is true for the decisions the version made as a canary.
	Canary                       bool
	Decisions                    int
	Approved, Reviewed, Declined int
	Report                       *Report
}

// ByVersion splits items by the policy version that decided them and
// whether it decided as a canary, the most decisions first. Items that
// could not be decided have no version and are left out.
func ByVersion(items []Item) []*VersionStats {
	type key struct {
		version string
		canary  bool
	}
	groups := map[key][]Item{}
	for _, it := range items {
		if it.Err != nil || it.Decision == nil {
			continue
		}
		k := key{it.Decision.GetPolicyVersion(), it.Decision.GetCanary()}
		groups[k] = append(groups[k], it)
	}
	out := make([]*VersionStats, 0, len(groups))
	for k, its := range groups {
		vs := &VersionStats{Version: k.version, Canary: k.canary, Decisions: len(its), Report: Build(its)}
		for _, it := range its {
			switch it.Decision.GetOutcome() {
			case riskv1.Outcome_OUTCOME_APPROVE:
				vs.Approved++
			case riskv1.Outcome_OUTCOME_REVIEW:
				vs.Reviewed++
			case riskv1.Outcome_OUTCOME_DECLINE:
				vs.Declined++
			}
		}
		out = append(out, vs)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Decisions != out[j].Decisions {
			return out[i].Decisions > out[j].Decisions
		}
		if out[i].Version != out[j].Version {
			return out[i].Version < out[j].Version
		}
		return !out[i].Canary
	})
	return out
}

// WriteVersions prints one row per version (outcome rates, and how it did
// on fraud and genuine cases), then each version's per-check and per-rule
// tables.
func WriteVersions(w io.Writer, vs []*VersionStats) {
	fmt.Fprintf(w, "%-23s %-7s %9s %8s %8s %8s %15s %16s %16s\n",
		"policy version", "canary", "decisions", "approve", "review", "decline", "fraud caught", "genuine declined", "genuine reviewed")
	for _, v := range vs {
		var caught, fraud, gDeclined, gReviewed, genuine int
		for _, c := range v.Report.Checks {
			caught, fraud = caught+c.FraudCaught, fraud+c.Fraud
			gDeclined, gReviewed, genuine = gDeclined+c.GenuineDeclined, gReviewed+c.GenuineReviewed, genuine+c.Genuine
		}
		name := v.Version
		if len(name) > 23 {
			name = name[:23]
		}
		fmt.Fprintf(w, "%-23s %-7v %9d %8s %8s %8s %15s %16s %16s\n", name, v.Canary, v.Decisions,
			pct(v.Approved, v.Decisions), pct(v.Reviewed, v.Decisions), pct(v.Declined, v.Decisions),
			fmt.Sprintf("%d (%s)", caught, pct(caught, fraud)), fmt.Sprintf("%d (%s)", gDeclined, pct(gDeclined, genuine)),
			fmt.Sprintf("%d (%s)", gReviewed, pct(gReviewed, genuine)))
	}
	for _, v := range vs {
		side := "in force"
		if v.Canary {
			side = "canary"
		}
		fmt.Fprintf(w, "\n== %s (%s): %d labelled decisions\n", v.Version, side, v.Decisions)
		v.Report.Write(w)
	}
}
