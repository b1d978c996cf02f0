package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Difference is one thing that differs between two policies.
type Difference struct {
	// Check is the check's policy name; empty for the whole policy.
	Check string
	// Kind is "check", "rule", "verifier", "threshold", "setting" or
	// "remote".
	Kind string
	// Name is the rule's, verifier's, threshold's or setting's name.
	Name string
	// Change is "added", "removed" or "changed".
	Change string
	// Details are, for a change, "field: from -> to" per field changed;
	// for an addition or removal, the thing's fields.
	Details []string
}

// field is one named value of a rule, verifier or setting, as the diff
// shows it.
type field struct{ name, value string }

// Diff says what changed from a to b: checks, thresholds, settings,
// verifiers and rules (matched by name) added, removed or changed, and
// remote verifiers. The order is stable: by check, then kind, then name.
func Diff(a, b *Policy) []Difference {
	var out []Difference
	out = append(out, diffNamed("", "remote", remoteFields(a), remoteFields(b))...)
	for _, c := range Checks {
		ca, cb := a.Check(c.Check), b.Check(c.Check)
		switch {
		case ca == nil && cb == nil:
			continue
		case ca == nil:
			out = append(out, Difference{Check: c.Name, Kind: "check", Name: c.Name, Change: "added",
				Details: []string{fmt.Sprintf("%d verifiers, %d rules", len(cb.Verifiers), len(cb.Rules))}})
			continue
		case cb == nil:
			out = append(out, Difference{Check: c.Name, Kind: "check", Name: c.Name, Change: "removed"})
			continue
		}
		for _, f := range []struct {
			kind, name string
			a, b       string
		}{
			{"threshold", "review", fmt.Sprint(ca.ReviewAt), fmt.Sprint(cb.ReviewAt)},
			{"threshold", "decline", fmt.Sprint(ca.DeclineAt), fmt.Sprint(cb.DeclineAt)},
			{"setting", "on_rule_error", ca.OnRuleError.String(), cb.OnRuleError.String()},
			{"setting", "history_lookback", ca.Lookback.String(), cb.Lookback.String()},
			{"setting", "actions", fmt.Sprint(ca.Actions), fmt.Sprint(cb.Actions)},
			{"setting", "review", fmt.Sprintf("%+v", ca.Review), fmt.Sprintf("%+v", cb.Review)},
		} {
			if f.a != f.b {
				out = append(out, Difference{Check: c.Name, Kind: f.kind, Name: f.name, Change: "changed",
					Details: []string{fmt.Sprintf("%s -> %s", f.a, f.b)}})
			}
		}
		out = append(out, diffNamed(c.Name, "verifier", verifierFields(ca), verifierFields(cb))...)
		out = append(out, diffNamed(c.Name, "rule", ruleFields(ca), ruleFields(cb))...)
	}
	return out
}

// diffNamed compares two sets of named things field by field.
func diffNamed(check, kind string, a, b map[string][]field) []Difference {
	names := make([]string, 0, len(a)+len(b))
	for n := range a {
		names = append(names, n)
	}
	for n := range b {
		if _, ok := a[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []Difference
	for _, n := range names {
		fa, inA := a[n]
		fb, inB := b[n]
		switch {
		case !inA:
			out = append(out, Difference{Check: check, Kind: kind, Name: n, Change: "added", Details: describe(fb)})
		case !inB:
			out = append(out, Difference{Check: check, Kind: kind, Name: n, Change: "removed", Details: describe(fa)})
		default:
			var details []string
			for i := range fa {
				if fa[i].value != fb[i].value {
					details = append(details, fmt.Sprintf("%s: %s -> %s", fa[i].name, fa[i].value, fb[i].value))
				}
			}
			if details != nil {
				out = append(out, Difference{Check: check, Kind: kind, Name: n, Change: "changed", Details: details})
			}
		}
	}
	return out
}

func describe(fs []field) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		if f.value != "" {
			out = append(out, f.name+": "+f.value)
		}
	}
	return out
}

func ruleFields(cp *CheckPolicy) map[string][]field {
	out := make(map[string][]field, len(cp.Rules))
	for _, r := range cp.Rules {
		msgs := make([]string, 0, len(r.Messages))
		for l, m := range r.Messages {
			if m != r.Message { // the default locale's repeats message
				msgs = append(msgs, l+"="+m)
			}
		}
		sort.Strings(msgs)
		actions := make([]string, 0, len(r.Actions))
		for _, a := range r.Actions {
			actions = append(actions, a.String())
		}
		out[r.Name] = []field{
			{"when", r.Expr},
			{"action", actionName(r.Action)},
			{"score", fmt.Sprint(r.Score)},
			{"reason", r.Reason},
			{"message", r.Message},
			{"messages", strings.Join(msgs, "; ")},
			{"shadow", fmt.Sprint(r.Shadow)},
			{"actions", strings.Join(actions, ",")},
		}
	}
	return out
}

func verifierFields(cp *CheckPolicy) map[string][]field {
	out := make(map[string][]field, len(cp.Verifiers))
	for _, v := range cp.Verifiers {
		settings := ""
		if v.Settings != nil {
			settings = fmt.Sprintf("%+v", v.Settings)
		}
		out[v.Name] = []field{
			{"budget", v.Budget.String()},
			{"on_failure", v.OnFailure.String()},
			{"after", strings.Join(v.After(), ",")},
			{"when", v.When()},
			{"settings", settings},
		}
	}
	return out
}

func remoteFields(p *Policy) map[string][]field {
	out := make(map[string][]field, len(p.Remotes))
	for _, r := range p.Remotes {
		out[r.Name] = []field{
			{"address", r.Address},
			{"plaintext", fmt.Sprint(r.Plaintext)},
			{"ca_file", r.CAFile},
			{"server_name", r.ServerName},
			{"fields", strings.Join(slices.Sorted(slices.Values(r.Fields)), ",")},
		}
	}
	return out
}

func actionName(a RuleAction) string {
	for name, v := range ruleActions {
		if v == a {
			return name
		}
	}
	return fmt.Sprint(int(a))
}
