package quality

import (
	"fmt"
	"io"
	"slices"
	"strings"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Item is one labelled decision: a corpus case's, or one from the
// decision log with a reported outcome.
type Item struct {
	// Name says where the item comes from (a case ID, a decision ID).
	Name     string
	Check    string
	Label    Label
	Decision *riskv1.Decision
	Err      error
}

// Items turns corpus results into report items.
func Items(results []Result) []Item {
	out := make([]Item, len(results))
	for i, r := range results {
		out[i] = Item{Name: r.Case.ID(), Check: r.Case.Check, Label: r.Case.Label, Decision: r.Decision, Err: r.Err}
	}
	return out
}

// CheckStats is one check's row of the report.
type CheckStats struct {
	Check           string
	Cases           int
	Genuine, Fraud  int
	FraudCaught     int // reviewed or declined
	FraudDeclined   int
	FraudApproved   int
	GenuineDeclined int
	GenuineReviewed int
	Errors          int
	// Rules are keyed "rule:<name>" for policy rules and
	// "<verifier>:<CODE>" for verifier findings.
	Rules map[string]*RuleStats
}

// RuleStats counts the labelled decisions a rule or finding was in.
type RuleStats struct {
	Hits, Fraud int
}

// Precision is fraud hits over all hits (0 with no hits).
func (r RuleStats) Precision() float64 {
	if r.Hits == 0 {
		return 0
	}
	return float64(r.Fraud) / float64(r.Hits)
}

// Report is the whole measurement.
type Report struct {
	Checks []*CheckStats
	Items  []Item
}

// MaxGenuineReviewed is the share of genuine cases that may be held for
// review before the gate fails.
const MaxGenuineReviewed = 0.05

// RuleKey names what a reason came from: "rule:<name>" for a policy rule,
// "<verifier>:<CODE>" for a verifier's finding; a shadow reason is marked.
func RuleKey(r *riskv1.Reason) string {
	k := r.GetSource()
	if !strings.HasPrefix(k, "rule:") {
		k += ":" + r.GetCode()
	}
	if r.GetShadow() {
		k += " (shadow)"
	}
	return k
}

// Build counts items into a report.
func Build(items []Item) *Report {
	rep := &Report{Items: items}
	by := map[string]*CheckStats{}
	for _, c := range Checks {
		cs := &CheckStats{Check: c, Rules: map[string]*RuleStats{}}
		by[c] = cs
		rep.Checks = append(rep.Checks, cs)
	}
	for _, it := range items {
		cs := by[it.Check]
		if cs == nil {
			continue
		}
		cs.Cases++
		fraud := it.Label == Fraud
		if fraud {
			cs.Fraud++
		} else {
			cs.Genuine++
		}
		if it.Err != nil || it.Decision == nil {
			cs.Errors++
			continue
		}
		switch o := it.Decision.GetOutcome(); {
		case fraud && o == riskv1.Outcome_OUTCOME_APPROVE:
			cs.FraudApproved++
		case fraud:
			cs.FraudCaught++
			if o == riskv1.Outcome_OUTCOME_DECLINE {
				cs.FraudDeclined++
			}
		case o == riskv1.Outcome_OUTCOME_DECLINE:
			cs.GenuineDeclined++
		case o == riskv1.Outcome_OUTCOME_REVIEW:
			cs.GenuineReviewed++
		}
		seen := map[string]bool{}
		for _, r := range it.Decision.GetReasons() {
			k := RuleKey(r)
			if seen[k] {
				continue
			}
			seen[k] = true
			rs := cs.Rules[k]
			if rs == nil {
				rs = &RuleStats{}
				cs.Rules[k] = rs
			}
			rs.Hits++
			if fraud {
				rs.Fraud++
			}
		}
	}
	return rep
}

// Failure is a case that fails a gate.
type Failure struct {
	Item Item
	Why  string
}

// Gates returns the gate failures: every case that could not be decided,
// every genuine case declined, every fraud case approved, and, for each
// check where more than MaxGenuineReviewed of the genuine cases were held
// for review, every genuine case of that check reviewed. The review gate
// is per check, so a check whose genuine customers are held often is not
// hidden by the others (and the whole corpus is then within it too). ok is
// true when there are none.
func (r *Report) Gates() (failures []Failure, ok bool) {
	genuine, reviewed := map[string]int{}, map[string]int{}
	for _, it := range r.Items {
		if it.Label == Genuine {
			genuine[it.Check]++
			if it.Err == nil && it.Decision.GetOutcome() == riskv1.Outcome_OUTCOME_REVIEW {
				reviewed[it.Check]++
			}
		}
	}
	for _, it := range r.Items {
		o := it.Decision.GetOutcome()
		g, rv := genuine[it.Check], reviewed[it.Check]
		switch {
		case it.Err != nil:
			failures = append(failures, Failure{it, "not decided"})
		case it.Label == Genuine && o == riskv1.Outcome_OUTCOME_DECLINE:
			failures = append(failures, Failure{it, "genuine declined"})
		case it.Label == Fraud && o == riskv1.Outcome_OUTCOME_APPROVE:
			failures = append(failures, Failure{it, "fraud approved"})
		case it.Label == Genuine && o == riskv1.Outcome_OUTCOME_REVIEW && float64(rv) > MaxGenuineReviewed*float64(g):
			failures = append(failures, Failure{it, fmt.Sprintf("genuine reviewed (%d of %d genuine %s cases reviewed, over %.0f%%)", rv, g, it.Check, 100*MaxGenuineReviewed)})
		}
	}
	return failures, len(failures) == 0
}

func pct(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

// Write prints the per-check table and, per check, the per-rule table.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "%-19s %6s %8s %6s %15s %15s %16s %16s %7s\n",
		"check", "cases", "genuine", "fraud", "fraud caught", "fraud approved", "genuine declined", "genuine reviewed", "errors")
	var tot CheckStats
	for _, c := range r.Checks {
		writeRow(w, c.Check, c)
		tot.Cases += c.Cases
		tot.Genuine += c.Genuine
		tot.Fraud += c.Fraud
		tot.FraudCaught += c.FraudCaught
		tot.FraudApproved += c.FraudApproved
		tot.GenuineDeclined += c.GenuineDeclined
		tot.GenuineReviewed += c.GenuineReviewed
		tot.Errors += c.Errors
	}
	writeRow(w, "all", &tot)
	for _, c := range r.Checks {
		if len(c.Rules) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: rules and findings\n", c.Check)
		fmt.Fprintf(w, "  %-48s %5s %6s %8s %10s\n", "rule or finding", "hits", "fraud", "genuine", "precision")
		keys := make([]string, 0, len(c.Rules))
		for k := range c.Rules {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			if d := c.Rules[b].Hits - c.Rules[a].Hits; d != 0 {
				return d
			}
			return strings.Compare(a, b)
		})
		for _, k := range keys {
			rs := c.Rules[k]
			fmt.Fprintf(w, "  %-48s %5d %6d %8d %9.1f%%\n", k, rs.Hits, rs.Fraud, rs.Hits-rs.Fraud, 100*rs.Precision())
		}
	}
}

func writeRow(w io.Writer, name string, c *CheckStats) {
	cell := func(n, of int) string { return fmt.Sprintf("%d (%s)", n, pct(n, of)) }
	fmt.Fprintf(w, "%-19s %6d %8d %6d %15s %15s %16s %16s %7d\n", name, c.Cases, c.Genuine, c.Fraud,
		cell(c.FraudCaught, c.Fraud), cell(c.FraudApproved, c.Fraud),
		cell(c.GenuineDeclined, c.Genuine), cell(c.GenuineReviewed, c.Genuine), c.Errors)
}

// WriteFailures lists gate failures, one case per line with its outcome,
// score and reasons.
func WriteFailures(w io.Writer, failures []Failure) {
	for _, f := range failures {
		fmt.Fprintf(w, "  %s [%s, %s]: %s\n", f.Item.Name, f.Item.Check, f.Item.Label, f.Why)
		if f.Item.Err != nil {
			fmt.Fprintf(w, "      error: %v\n", f.Item.Err)
			continue
		}
		fmt.Fprintf(w, "      %s\n", Describe(f.Item.Decision))
	}
}

// Describe is a decision in one line: outcome, score and reasons.
func Describe(d *riskv1.Decision) string {
	var reasons []string
	for _, r := range d.GetReasons() {
		s := fmt.Sprintf("%s(%s", r.GetCode(), r.GetSource())
		if r.GetScore() != 0 {
			s += fmt.Sprintf(" %+d", r.GetScore())
		}
		if r.GetShadow() {
			s += " shadow"
		}
		reasons = append(reasons, s+")")
	}
	out := fmt.Sprintf("%s score %d", strings.TrimPrefix(d.GetOutcome().String(), "OUTCOME_"), d.GetScore())
	if len(reasons) > 0 {
		out += ": " + strings.Join(reasons, ", ")
	}
	// A verifier that did not answer can force the outcome by itself.
	for _, v := range d.GetVerifierResults() {
		if st := v.GetStatus(); st != riskv1.VerifierStatus_VERIFIER_STATUS_OK && st != riskv1.VerifierStatus_VERIFIER_STATUS_SKIPPED {
			out += fmt.Sprintf("; verifier %s %s", v.GetName(), strings.ToLower(strings.TrimPrefix(st.String(), "VERIFIER_STATUS_")))
			if v.GetError() != "" {
				out += " (" + v.GetError() + ")"
			}
		}
	}
	return out
}
