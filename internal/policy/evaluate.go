package policy

import (
	"fmt"
	"slices"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

// Reason codes the policy itself gives when a verifier does not answer.
const (
	CodeVerifierTimeout = "VERIFIER_TIMEOUT"
	CodeVerifierFailed  = "VERIFIER_FAILED"
)

// Status is what one verifier did, as rules see it in `verifiers`.
type Status string

// Verifier statuses.
const (
	StatusOK       Status = "ok"
	StatusFailed   Status = "failed"
	StatusTimedOut Status = "timed_out"
	StatusSkipped  Status = "skipped"
)

// VerifierRun is the engine's account of one verifier for Evaluate.
type VerifierRun struct {
	Spec   VerifierSpec
	Status Status
	Result verifier.Result
}

// Facts is everything a policy decides on.
type Facts struct {
	Request proto.Message
	Now     time.Time
	// Runs are in the order of the check's verifiers.
	Runs []VerifierRun
	// Locale picks the language of rules' sentences ("en" when empty or
	// when a rule has none in it). Codes never change with it.
	Locale string
}

// Verdict is what a policy decided.
type Verdict struct {
	Outcome riskv1.Outcome
	Score   int
	Reasons []*riskv1.Reason
	Actions []riskv1.Action
	// Signals merged from every verifier that answered.
	Signals map[string]any
	// Fired are the rules whose expression was true, in policy order,
	// shadow ones included.
	Fired []FiredRule
	// RuleErrors are rules that could not be evaluated (for example a
	// signal they read was absent). Each adds a VERIFIER_FAILED reason
	// (source "rule:<name>") and, unless it is a shadow rule, forces the
	// outcome the check's on_rule_error says (review by default); the
	// engine also logs them, because a rule that always errors is a hole.
	RuleErrors []RuleError
}

// FiredRule is a rule that fired.
type FiredRule struct {
	Name   string
	Shadow bool
}

// RuleError is a rule whose evaluation failed.
type RuleError struct {
	Rule string
	Err  error
}

// Evaluate decides one request. It never fails: a rule that cannot be
// evaluated is reported in the verdict and decided by the check's
// on_rule_error (review by default), because a broken rule must not turn
// every call into an error on the payment path, nor silently let a request
// through that the rule was written to stop.
func (cp *CheckPolicy) Evaluate(f Facts) Verdict {
	v := Verdict{Signals: map[string]any{}}
	findings := map[string]int64{}
	statuses := make(map[string]string, len(f.Runs))
	score := 0
	// forceReview and forceDecline are floors set by failure modes and
	// decline rules; reviewRule is an analyst's explicit "a person looks",
	// which also caps the outcome (see the switch below).
	forceReview, forceDecline, reviewRule := false, false, false

	addReason := func(code, msg, source string, points int, shadow bool) {
		v.Reasons = append(v.Reasons, &riskv1.Reason{Code: code, Message: msg, Source: source, Shadow: shadow, Score: int32(points)})
	}
	for _, run := range f.Runs {
		statuses[run.Spec.Name] = string(run.Status)
		switch run.Status {
		case StatusOK:
			for k, val := range run.Result.Signals {
				v.Signals[k] = val
			}
			for _, fd := range run.Result.Findings {
				findings[fd.Code] += int64(fd.Score)
				score += fd.Score
				msg := fd.Message
				if m, ok := fd.Messages[f.Locale]; ok {
					msg = m
				}
				addReason(fd.Code, msg, run.Spec.Name, fd.Score, false)
			}
		case StatusFailed, StatusTimedOut:
			code, what := CodeVerifierFailed, "failed"
			if run.Status == StatusTimedOut {
				code, what = CodeVerifierTimeout, "did not answer in time"
			}
			findings[code] += 0
			effect := failClosed(run.Spec.OnFailure, &forceReview, &forceDecline)
			msg := fmt.Sprintf("Check %q %s; %s as the policy says.", run.Spec.Name, what, effect)
			if f.Locale == "zh-CN" {
				msg = fmt.Sprintf("核验项“%s”未能完成，已按策略处理。", run.Spec.Name)
			}
			addReason(code, msg, run.Spec.Name, 0, false)
		}
	}

	// The variables are turned into CEL values once, not by every rule
	// that reads them: a gift-card decision runs a dozen rules over some
	// fifty signals.
	act := cp.activation(f.Request, f.Now, v.Signals, findings, statuses)
	approve := false
	for _, r := range cp.Rules {
		out, _, err := r.program.Eval(act)
		if err != nil {
			v.RuleErrors = append(v.RuleErrors, RuleError{Rule: r.Name, Err: err})
			// No reason code of the API names a rule error; the closest is
			// the one for a part of the decision that could not be made,
			// with the rule as its source.
			effect := "decided without it"
			if !r.Shadow {
				effect = failClosed(cp.OnRuleError, &forceReview, &forceDecline)
			}
			msg := fmt.Sprintf("Rule %q could not be evaluated; %s as the policy says.", r.Name, effect)
			if f.Locale == "zh-CN" {
				msg = fmt.Sprintf("规则“%s”无法计算，已按策略处理。", r.Name)
			}
			addReason(CodeVerifierFailed, msg, "rule:"+r.Name, 0, r.Shadow)
			continue
		}
		if fired, ok := out.Value().(bool); !ok || !fired {
			continue
		}
		source := "rule:" + r.Name
		v.Fired = append(v.Fired, FiredRule{Name: r.Name, Shadow: r.Shadow})
		if r.Shadow {
			// Observed and recorded, never enforced. The score it carries
			// is what it would have added, which is what a shadow trial
			// is run to learn; the decision's score does not include it.
			msg := r.message(f.Locale)
			if existing := enforcedReason(v.Reasons, r.Reason); msg == "" && existing != nil {
				msg = existing.Message // an escalation's sentence is its finding's
			}
			addReason(r.Reason, msg, source, r.Score, true)
			continue
		}
		score += r.Score
		// A rule that escalates on a verifier's finding must not repeat its
		// reason: it adds its score to the one already there, and its
		// sentence, if it has one, is the policy's word for the case.
		if existing := enforcedReason(v.Reasons, r.Reason); existing != nil {
			existing.Score += int32(r.Score)
			if r.Message != "" {
				existing.Message = r.message(f.Locale)
			}
		} else {
			msg := r.message(f.Locale)
			if msg == "" {
				// Only an escalation may have no sentence, and its finding is
				// there whenever it fires; this is the guard for a finding a
				// verifier dropped.
				msg = fmt.Sprintf("Rule %q found %s.", r.Name, r.Reason)
			}
			addReason(r.Reason, msg, source, r.Score, false)
		}
		switch r.Action {
		case Review:
			reviewRule = true
		case Decline:
			forceDecline = true
		case Approve:
			approve = true
		}
		v.Actions = append(v.Actions, r.Actions...)
	}

	v.Score = min(max(score, 0), 100)
	// A rule's action is the analyst's decision for the pattern it names;
	// thresholds decide only where no rule gave one. So: decline (a rule,
	// or a failure mode of decline) > approve rule > review rule >
	// thresholds. A review rule caps the outcome at REVIEW: "the buyer may
	// be the victim" must not become a DECLINE because unrelated findings
	// add up. A failure mode of review is a floor, not an analyst's
	// decision: it never lowers a score that reaches the decline
	// threshold, or a request could escape a decline by making a verifier
	// or a rule fail.
	switch {
	case forceDecline:
		v.Outcome = riskv1.Outcome_OUTCOME_DECLINE
	case approve:
		v.Outcome = riskv1.Outcome_OUTCOME_APPROVE
	case reviewRule:
		v.Outcome = riskv1.Outcome_OUTCOME_REVIEW
	case v.Score >= cp.DeclineAt:
		v.Outcome = riskv1.Outcome_OUTCOME_DECLINE
	case forceReview || v.Score >= cp.ReviewAt:
		v.Outcome = riskv1.Outcome_OUTCOME_REVIEW
	default:
		v.Outcome = riskv1.Outcome_OUTCOME_APPROVE
	}
	v.Actions = append(v.Actions, cp.Actions[v.Outcome]...)
	slices.Sort(v.Actions)
	v.Actions = slices.Compact(v.Actions)
	return v
}

// activation is what a condition (a rule's, a verifier's) sees, as the
// check's environment declares it (see newEnv).
func (cp *CheckPolicy) activation(req proto.Message, now time.Time, signals map[string]any, findings map[string]int64, statuses map[string]string) cel.Activation {
	a := cp.adapter
	act, err := cel.NewActivation(map[string]any{
		"request":   a.NativeToValue(req),
		"signals":   types.NewStringInterfaceMap(a, signals),
		"findings":  a.NativeToValue(findings),
		"verifiers": types.NewStringStringMap(a, statuses),
		"now":       types.Timestamp{Time: now},
	})
	if err != nil {
		panic(err) // a map of variables is always an activation
	}
	return act
}

// failClosed applies a failure mode (a verifier's on_failure, a check's
// on_rule_error) to the outcome and says, for the reason's sentence, what
// it did.
func failClosed(mode FailureMode, forceReview, forceDecline *bool) (effect string) {
	switch mode {
	case FailReview:
		*forceReview = true
		return "sent to review"
	case FailDecline:
		*forceDecline = true
		return "declined"
	}
	return "decided without it"
}

// enforcedReason returns the enforced reason with this code, if any.
func enforcedReason(reasons []*riskv1.Reason, code string) *riskv1.Reason {
	for _, r := range reasons {
		if r.Code == code && !r.Shadow {
			return r
		}
	}
	return nil
}

// ShouldRun decides whether the check's verifier i is to be called, once
// the verifiers it waits for (its Deps) have finished: runs holds their
// accounts at their indices (the others are not read). Its when sees
// those verifiers' signals, findings and statuses, the request and now.
// A verifier without a when always runs. A when that cannot be evaluated
// (a signal it reads is absent) returns true with the error: a check is
// never dropped because its condition could not be decided.
func (cp *CheckPolicy) ShouldRun(i int, req proto.Message, now time.Time, runs []VerifierRun) (bool, error) {
	spec := cp.Verifiers[i]
	if spec.wait == nil || spec.wait.program == nil {
		return true, nil
	}
	signals := map[string]any{}
	findings := map[string]int64{}
	statuses := make(map[string]string, len(spec.wait.deps))
	for _, j := range spec.wait.deps {
		run := runs[j]
		statuses[cp.Verifiers[j].Name] = string(run.Status)
		if run.Status != StatusOK {
			continue
		}
		for k, val := range run.Result.Signals {
			signals[k] = val
		}
		for _, fd := range run.Result.Findings {
			findings[fd.Code] += int64(fd.Score)
		}
	}
	out, _, err := spec.wait.program.Eval(cp.activation(req, now, signals, findings, statuses))
	if err != nil {
		return true, fmt.Errorf("verifier %q: when: %w", spec.Name, err)
	}
	run, ok := out.Value().(bool)
	return !ok || run, nil
}
