// Package policy loads, validates, versions and evaluates riskd's rules.
//
// A policy is a YAML document that says, for each check, which verifiers to
// run (with a time budget and a failure mode each), the score thresholds for
// REVIEW and DECLINE, the actions each outcome asks of the caller, and rules:
// CEL expressions over the request, the verifiers' signals and findings. Rules
// are compiled and type-checked when the policy is loaded, so a bad policy is
// refused at load with its line and reason, never discovered mid-request.
package policy

import (
	"crypto/sha256"
	_ "embed" // the default policy is compiled into the binary
	"encoding/hex"
	"fmt"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"github.com/riskd/riskd/internal/verifier/remote"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

//go:embed default.yaml
var defaultPolicy []byte

// DefaultSource is the name the embedded policy is reported under.
const DefaultSource = "embedded:default.yaml"

// DefaultBytes returns the embedded default policy document.
func DefaultBytes() []byte { return append([]byte(nil), defaultPolicy...) }

// DefaultLookback is the history a check reads when its policy does not
// say: more than a year, so that a buyer's once-a-year gift cards (a
// festival, a birthday) make them a returning buyer, not a first-time one.
const DefaultLookback = 400 * 24 * time.Hour

// FailureMode says what a failed or timed-out verifier does to the outcome.
type FailureMode int

// Failure modes, from least to most severe.
const (
	// FailIgnore records the failure and decides as if the verifier found nothing.
	FailIgnore FailureMode = iota
	// FailReview makes the outcome at least REVIEW.
	FailReview
	// FailDecline makes the outcome DECLINE.
	FailDecline
)

var failureModes = map[string]FailureMode{"ignore": FailIgnore, "review": FailReview, "decline": FailDecline}

func (m FailureMode) String() string {
	for name, v := range failureModes {
		if v == m {
			return name
		}
	}
	return fmt.Sprintf("FailureMode(%d)", int(m))
}

// RuleAction is what a rule does when its expression is true.
type RuleAction int

// Rule actions.
const (
	// AddScore adds the rule's score and reason; thresholds decide.
	AddScore RuleAction = iota
	// Review makes the outcome REVIEW unless a decline rule, a declining
	// failure mode or an approve rule applies. It caps the outcome: a
	// score at or above the decline threshold does not turn it into a
	// DECLINE, because the rule is the analyst's decision for its pattern
	// and thresholds decide only where no rule gave one.
	Review
	// Decline makes the outcome DECLINE; nothing overrides it.
	Decline
	// Approve makes the outcome APPROVE unless a decline rule or a declining
	// verifier failure applies: it overrides thresholds and review rules.
	Approve
)

var ruleActions = map[string]RuleAction{"add_score": AddScore, "review": Review, "decline": Decline, "approve": Approve}

// CheckInfo describes one check riskd answers.
type CheckInfo struct {
	Check riskv1.Check
	// Name is the policy file's name for it ("gift_card_purchase").
	Name string
	// Request is the request message (a typed nil) rules see as `request`.
	Request proto.Message
}

// Checks are the checks riskd answers, in the API's order: the one list
// the rest of the tree reads (policy keys, the engine, the quality
// report).
var Checks = []CheckInfo{
	{riskv1.Check_CHECK_SELLER, "seller", (*riskv1.CheckSellerRequest)(nil)},
	{riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "gift_card_purchase", (*riskv1.ScoreGiftCardPurchaseRequest)(nil)},
	{riskv1.Check_CHECK_REFUND, "refund", (*riskv1.EvaluateRefundRequest)(nil)},
}

// CheckNamed returns the check a policy name stands for.
func CheckNamed(name string) (CheckInfo, bool) {
	for _, c := range Checks {
		if c.Name == name {
			return c, true
		}
	}
	return CheckInfo{}, false
}

// CheckOf returns what Checks says of c.
func CheckOf(c riskv1.Check) (CheckInfo, bool) {
	for _, info := range Checks {
		if info.Check == c {
			return info, true
		}
	}
	return CheckInfo{}, false
}

// Policy is a loaded, compiled policy. It is immutable and safe for
// concurrent use; a reload builds a new one.
type Policy struct {
	// Version is the content hash of the document, recorded in every decision.
	Version string
	// Source says where the document came from (a path, or the embedded default).
	Source string
	// Remotes are the out-of-process verifiers the policy defines; whoever
	// puts the policy in force dials them and registers them by name.
	Remotes []remote.Spec
	checks  map[riskv1.Check]*CheckPolicy
	// doc is the document it was compiled from, kept so that the version
	// in force can be stored and shown exactly.
	doc []byte
}

// Document returns the policy's document as it was loaded: do not change it.
func (p *Policy) Document() []byte { return p.doc }

// Check returns the policy for one check, or nil when the policy has none.
func (p *Policy) Check(c riskv1.Check) *CheckPolicy { return p.checks[c] }

// CheckPolicy is the part of a policy for one check.
type CheckPolicy struct {
	Check riskv1.Check
	// Scores at or above these give REVIEW and DECLINE.
	ReviewAt, DeclineAt int
	Verifiers           []VerifierSpec
	Rules               []*Rule
	// Actions asked of the caller for each outcome, on top of the rules' own.
	Actions map[riskv1.Outcome][]riskv1.Action
	// OnRuleError is what an enforced rule that cannot be evaluated does to
	// the outcome (policy key on_rule_error; review when absent): a rule
	// that errors must fail closed, never count silently as not fired.
	OnRuleError FailureMode
	// Lookback is how far back the check's verifiers read history (policy
	// key history_lookback; DefaultLookback when absent): the spending
	// verifier's yardstick of what the account usually buys. The event
	// retention must be at least as long, or the look-back would read
	// history that expiry has already dropped; the engine refuses such a
	// policy.
	Lookback time.Duration
	// Review says when a case the check's decisions open is due, and what
	// riskd does when nobody resolved it by then (policy key review;
	// DefaultReview for what it leaves out).
	Review ReviewPolicy
	// adapter turns Go values into CEL values, as the rules' environment
	// does.
	adapter types.Adapter
	// dependent says some verifier waits for another (After).
	dependent bool
}

// HasDependencies reports whether some verifier of the check waits for
// another; when none does, every verifier can start at once.
func (cp *CheckPolicy) HasDependencies() bool { return cp.dependent }

// VerifierSpec says how to run one verifier for a check.
type VerifierSpec struct {
	Name      string
	Budget    time.Duration
	OnFailure FailureMode
	// Settings are the verifier's own settings from the policy (key
	// settings), parsed and checked at load by the verifier's parser (see
	// settingsParsers); nil when the policy sets none. The engine hands
	// them to the verifier in its Input.
	Settings any
	// wait is nil for a verifier that waits for no other: the spec stays
	// small, as it is copied into every decision's account of each run.
	wait *waitSpec
}

// waitSpec is what a verifier waits for (policy keys after and when).
type waitSpec struct {
	after []string
	// deps are after as indices into the check's Verifiers.
	deps []int
	when string
	// program is when compiled; nil without a when.
	program cel.Program
	// skipped says why the verifier was not called, built once at load.
	skipped string
}

// After names the verifiers of the same check this one waits for (policy
// key after); a verifier that names none runs as soon as the decision
// starts.
func (s VerifierSpec) After() []string {
	if s.wait == nil {
		return nil
	}
	return s.wait.after
}

// When is the CEL condition over the results of the verifiers in After
// (and the request) that must hold for this one to be called; "" for
// none. When it is false the verifier is not called and is reported
// skipped.
func (s VerifierSpec) When() string {
	if s.wait == nil {
		return ""
	}
	return s.wait.when
}

// SkipReason is the sentence a decision gives for this verifier when its
// When was false and it was not called.
func (s VerifierSpec) SkipReason() string {
	if s.wait == nil {
		return ""
	}
	return s.wait.skipped
}

// Deps returns After as indices into the check's Verifiers; nil for a
// verifier that waits for none.
func (s VerifierSpec) Deps() []int {
	if s.wait == nil {
		return nil
	}
	return s.wait.deps
}

// Rule is one compiled rule.
type Rule struct {
	Name   string
	Expr   string
	Action RuleAction
	Score  int
	Reason string
	// Message is the English sentence; Messages has it by locale.
	Message  string
	Messages map[string]string
	Shadow   bool
	Actions  []riskv1.Action
	// Line is where the rule starts in its document, for error messages.
	Line int

	program cel.Program
}

// Sentence is the sentence the check's rule gives in locale, for showing
// a stored decision's reason in a reader's language (the review console):
// false when the policy has no such rule or it has no sentence of its own
// in that locale (an escalation shows its finding's sentence, which only
// the decision holds).
func (p *Policy) Sentence(check riskv1.Check, rule, locale string) (string, bool) {
	cp := p.Check(check)
	if cp == nil {
		return "", false
	}
	for _, r := range cp.Rules {
		if r.Name != rule {
			continue
		}
		m, ok := r.Messages[locale]
		return m, ok && m != ""
	}
	return "", false
}

// message is the rule's sentence in locale, or in English.
func (r *Rule) message(locale string) string {
	if m, ok := r.Messages[locale]; ok {
		return m
	}
	return r.Message
}

// version hashes the document bytes: the same text is the same version on
// every replica, whatever the load order or time.
func version(doc []byte) string {
	sum := sha256.Sum256(doc)
	return "sha256:" + hex.EncodeToString(sum[:])
}
