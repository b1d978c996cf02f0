package policy

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"go.yaml.in/yaml/v3"
)

// Review terms: when a person must have answered a case, and what riskd
// does when nobody has (policy key review, per check).
//
// The defaults follow docs/fraud-patterns.md. A coached victim's gift-card codes are
// drained within the hour of their release, and "codes must not be
// released before review": a held order is due in 30 minutes (time for a
// call back to the account holder, inside the hour the scammer counts on)
// and, unanswered, is declined, never released. Coaching and takeover
// patterns are due in 15 minutes: the victim may still be on the phone. A
// refund or a new seller waits on a person without harm to anyone but
// the one waiting: due in a day and three days, escalated (kept open,
// never paid or approved unreviewed) when nobody answered.
var defaultReview = map[riskv1.Check]ReviewPolicy{
	riskv1.Check_CHECK_SELLER:             {ReviewTerms: ReviewTerms{Due: 72 * time.Hour, OnExpiry: store.ExpireEscalate}},
	riskv1.Check_CHECK_GIFT_CARD_PURCHASE: {ReviewTerms: ReviewTerms{Due: 30 * time.Minute, OnExpiry: store.ExpireDecline}},
	riskv1.Check_CHECK_REFUND:             {ReviewTerms: ReviewTerms{Due: 24 * time.Hour, OnExpiry: store.ExpireEscalate}},
}

// DefaultReview returns the review terms of a check whose policy sets
// none.
func DefaultReview(c riskv1.Check) ReviewPolicy { return defaultReview[c] }

// Bounds of a due time: a minute at least (the expiry runs every few
// seconds, and no one answers faster), 30 days at most (a case older
// than that was forgotten, not reviewed).
const (
	minDue = time.Minute
	maxDue = 30 * 24 * time.Hour
)

// ReviewTerms are a case's due time (from the decision) and expiry action.
type ReviewTerms struct {
	Due      time.Duration
	OnExpiry store.ExpiryAction
}

// ReviewPolicy is a check's review terms: its own, and per reason code.
type ReviewPolicy struct {
	ReviewTerms
	// Reasons override the check's terms for decisions carrying the code
	// (an enforced reason, not a shadow one).
	Reasons map[string]ReviewTerms
}

// OpensCase reports whether a decision waits for a person: a REVIEW, or
// any other decision but a DECLINE that holds gift-card codes. A DECLINE
// is final: its hold means never deliver, and nobody needs to look.
func OpensCase(d *riskv1.Decision) bool {
	switch d.GetOutcome() {
	case riskv1.Outcome_OUTCOME_REVIEW:
		return true
	case riskv1.Outcome_OUTCOME_DECLINE:
		return false
	}
	return slices.Contains(d.GetActions(), riskv1.Action_ACTION_HOLD_CODE_DELIVERY)
}

// Terms returns the review terms of a decision with these reasons: the
// check's own, unless enforced reasons have terms of their own; then the
// soonest due of theirs, and the strictest expiry action (release, then
// escalate, then decline).
func (r ReviewPolicy) Terms(reasons []*riskv1.Reason) ReviewTerms {
	var out ReviewTerms
	for _, rs := range reasons {
		t, ok := r.Reasons[rs.GetCode()]
		if !ok || rs.GetShadow() {
			continue
		}
		if out.Due == 0 || t.Due < out.Due {
			out.Due = t.Due
		}
		if t.OnExpiry.Strictness() > out.OnExpiry.Strictness() {
			out.OnExpiry = t.OnExpiry
		}
	}
	if out.Due == 0 {
		return r.ReviewTerms
	}
	return out
}

// Case returns the case a decision opens, nil if it opens none.
func (cp *CheckPolicy) Case(d *riskv1.Decision, now time.Time) *store.NewCase {
	if !OpensCase(d) {
		return nil
	}
	t := cp.Review.Terms(d.GetReasons())
	return &store.NewCase{Due: now.Add(t.Due), OnExpiry: t.OnExpiry}
}

// reviewDoc mirrors a check's review block:
//
//	review:
//	  due: 30m
//	  on_expiry: decline
//	  reasons:
//	    SOCIAL_ENGINEERING_PATTERN: {due: 15m}
type reviewDoc struct {
	terms   termsDoc
	Reasons map[string]termsDoc
	// reasonLines are the lines of the reasons' keys.
	reasonLines map[string]int
	line        int
}

type termsDoc struct {
	Due      string `yaml:"due"`
	OnExpiry string `yaml:"on_expiry"`
	// Lines of the due and on_expiry values, for errors.
	dueLine, expiryLine int
}

func (r *reviewDoc) UnmarshalYAML(n *yaml.Node) error {
	if err := strictKeys(n, "due", "on_expiry", "reasons"); err != nil {
		return err
	}
	r.line = n.Line
	r.reasonLines = map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "due", "on_expiry":
			var s string
			if err := v.Decode(&s); err != nil {
				return &lineError{v.Line, fmt.Errorf("review: %s must be a string", k.Value)}
			}
			if k.Value == "due" {
				r.terms.Due, r.terms.dueLine = s, v.Line
			} else {
				r.terms.OnExpiry, r.terms.expiryLine = s, v.Line
			}
		case "reasons":
			if v.Kind != yaml.MappingNode {
				return &lineError{v.Line, errors.New("review: reasons must map reason codes to {due, on_expiry}")}
			}
			r.Reasons = map[string]termsDoc{}
			for j := 0; j+1 < len(v.Content); j += 2 {
				code, body := v.Content[j], v.Content[j+1]
				if _, dup := r.Reasons[code.Value]; dup {
					return &lineError{code.Line, fmt.Errorf("review: reason %s is listed twice", code.Value)}
				}
				var t termsDoc
				if err := body.Decode(&t); err != nil {
					return err
				}
				r.Reasons[code.Value] = t
				r.reasonLines[code.Value] = code.Line
			}
		}
	}
	return nil
}

func (t *termsDoc) UnmarshalYAML(n *yaml.Node) error {
	type plain termsDoc
	if err := strictKeys(n, "due", "on_expiry"); err != nil {
		return err
	}
	if err := n.Decode((*plain)(t)); err != nil {
		return err
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "due":
			t.dueLine = n.Content[i+1].Line
		case "on_expiry":
			t.expiryLine = n.Content[i+1].Line
		}
	}
	return nil
}

// compileReview checks a check's review block and fills in what it leaves
// out from the check's defaults.
func compileReview(check riskv1.Check, rd *reviewDoc) (ReviewPolicy, *Error) {
	def := DefaultReview(check)
	if rd == nil {
		return def, nil
	}
	out := ReviewPolicy{}
	var err error
	var line int
	if out.ReviewTerms, line, err = compileTerms(rd.terms, def.ReviewTerms); err != nil {
		return out, &Error{Line: line, Err: fmt.Errorf("review: %w", err)}
	}
	codes := make([]string, 0, len(rd.Reasons))
	for code := range rd.Reasons {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		line := rd.reasonLines[code]
		if !reasonCodePattern.MatchString(code) {
			return out, &Error{Line: line, Err: fmt.Errorf("review: reasons: %q must be an upper snake case reason code", code)}
		}
		td := rd.Reasons[code]
		if td.Due == "" && td.OnExpiry == "" {
			return out, &Error{Line: line, Err: fmt.Errorf("review: reasons: %s sets neither due nor on_expiry", code)}
		}
		t, at, err := compileTerms(td, out.ReviewTerms)
		if err != nil {
			return out, &Error{Line: at, Err: fmt.Errorf("review: reasons: %s: %w", code, err)}
		}
		if out.Reasons == nil {
			out.Reasons = map[string]ReviewTerms{}
		}
		out.Reasons[code] = t
	}
	return out, nil
}

// compileTerms reads due and on_expiry; what is left out is def's. A
// refusal comes with the line of the value at fault.
func compileTerms(td termsDoc, def ReviewTerms) (ReviewTerms, int, error) {
	t := def
	if td.Due != "" {
		d, err := ParseDays(td.Due)
		if err != nil || d < minDue || d > maxDue {
			return t, td.dueLine, fmt.Errorf("due %q must be a duration between 1m and 30d", td.Due)
		}
		t.Due = d
	}
	if td.OnExpiry != "" {
		a, ok := store.ParseExpiryAction(td.OnExpiry)
		if !ok {
			return t, td.expiryLine, fmt.Errorf("on_expiry %q must be release, decline or escalate", td.OnExpiry)
		}
		t.OnExpiry = a
	}
	return t, 0, nil
}
