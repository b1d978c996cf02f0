package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/checker"
	"cel.dev/cel-go/ext"
	"github.com/riskd/riskd/internal/verifier/remote"
	"github.com/riskd/riskd/internal/verifier/returns"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"go.yaml.in/yaml/v3"
)

// Error is a policy that cannot be loaded: where and why.
type Error struct {
	Source string
	Line   int
	// Rule is the rule at fault, when one is.
	Rule string
	Err  error
}

func (e *Error) Error() string {
	loc := e.Source
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.Source, e.Line)
	}
	if e.Rule != "" {
		return fmt.Sprintf("%s: rule %q: %v", loc, e.Rule, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Problems are every problem found in a policy, in document order, so an
// analyst fixes them all in one pass. errors.As finds each *Error.
type Problems []*Error

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, for errors.As and errors.Is.
func (ps Problems) Unwrap() []error {
	out := make([]error, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

// problems returns nil, the one problem, or all of them, in line order.
func problems(ps []*Error) error {
	switch len(ps) {
	case 0:
		return nil
	case 1:
		return ps[0]
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return Problems(ps)
}

// Limits on a document, so that a policy file cannot make a decision slow.
const (
	maxDocumentBytes = 1 << 20
	maxRulesPerCheck = 500
	// maxBudget is about the deadline a checkout gives the whole call: a
	// verifier allowed longer would always be cut short anyway.
	maxBudget = 2 * time.Second
	// maxLookback is the longest event retention riskd accepts: ten years.
	maxLookback = 3660 * 24 * time.Hour
	// costLimit bounds the work one rule may do per evaluation (CEL's
	// runtime cost units), against runaway comprehensions.
	costLimit = 100_000
)

var (
	reasonCodePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{1,63}$`)
	ruleNamePattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
)

// document mirrors the YAML file.
type document struct {
	RemoteVerifiers []remoteDoc         `yaml:"remote_verifiers"`
	Checks          map[string]checkDoc `yaml:"checks"`
}

type remoteDoc struct {
	Name       string   `yaml:"name"`
	Address    string   `yaml:"address"`
	Plaintext  bool     `yaml:"plaintext"`
	CAFile     string   `yaml:"ca_file"`
	ServerName string   `yaml:"server_name"`
	Fields     []string `yaml:"fields"`
	// Circuit breaker: consecutive failures that open it, and for how long.
	FailuresToOpen uint32 `yaml:"failures_to_open"`
	OpenFor        string `yaml:"open_for"`
	line           int
}

func (r *remoteDoc) UnmarshalYAML(n *yaml.Node) error {
	type plain remoteDoc
	if err := strictKeys(n, "name", "address", "plaintext", "ca_file", "server_name", "fields", "failures_to_open", "open_for"); err != nil {
		return err
	}
	if err := n.Decode((*plain)(r)); err != nil {
		return err
	}
	r.line = n.Line
	return nil
}

type checkDoc struct {
	Thresholds struct {
		Review  int `yaml:"review"`
		Decline int `yaml:"decline"`
	} `yaml:"thresholds"`
	Actions   map[string][]string `yaml:"actions"`
	Verifiers []verifierDoc       `yaml:"verifiers"`
	// OnRuleError: ignore | review | decline; empty is review.
	OnRuleError string `yaml:"on_rule_error"`
	// HistoryLookback: how far back the check's verifiers read the
	// history ("400d", "9600h"); empty is DefaultLookback.
	HistoryLookback string `yaml:"history_lookback"`
	// Review: a case's due time and expiry action; empty is the
	// check's default (DefaultReview).
	Review *reviewDoc `yaml:"review"`
	Rules  []ruleDoc  `yaml:"rules"`
	line   int
}

type verifierDoc struct {
	Name      string `yaml:"name"`
	Budget    string `yaml:"budget"`
	OnFailure string `yaml:"on_failure"`
	// After: verifiers of the same check to wait for; When: a CEL
	// condition over their results, false to skip this one.
	After []string `yaml:"after"`
	When  string   `yaml:"when"`
	// Settings are the verifier's own, read by its parser.
	Settings yaml.Node `yaml:"settings"`
	line     int
}

// settingsParsers read and check the settings: of the verifiers that take
// any, at load, so that a bad table is refused with its line rather than
// found mid-request. The list is explicit, like the verifiers'.
var settingsParsers = map[string]func(*yaml.Node) (any, error){
	"returns": func(n *yaml.Node) (any, error) { return returns.ParseSettings(n) },
}

type ruleDoc struct {
	Name    string   `yaml:"name"`
	When    string   `yaml:"when"`
	Action  string   `yaml:"action"`
	Score   int      `yaml:"score"`
	Reason  string   `yaml:"reason"`
	Message messages `yaml:"message"`
	Shadow  bool     `yaml:"shadow"`
	Actions []string `yaml:"actions"`
	line    int
}

// The nested documents check their own keys: yaml's KnownFields does not
// reach into custom unmarshalers, and a misspelt "shadow" must not pass.
func (c *checkDoc) UnmarshalYAML(n *yaml.Node) error {
	type plain checkDoc
	if err := strictKeys(n, "thresholds", "actions", "verifiers", "on_rule_error", "history_lookback", "review", "rules"); err != nil {
		return err
	}
	if err := n.Decode((*plain)(c)); err != nil {
		return err
	}
	c.line = n.Line
	return nil
}

func (v *verifierDoc) UnmarshalYAML(n *yaml.Node) error {
	type plain verifierDoc
	if err := strictKeys(n, "name", "budget", "on_failure", "after", "when", "settings"); err != nil {
		return err
	}
	if err := n.Decode((*plain)(v)); err != nil {
		return err
	}
	v.line = n.Line
	return nil
}

func (r *ruleDoc) UnmarshalYAML(n *yaml.Node) error {
	type plain ruleDoc
	if err := strictKeys(n, "name", "when", "action", "score", "reason", "message", "shadow", "actions"); err != nil {
		return err
	}
	if err := n.Decode((*plain)(r)); err != nil {
		return err
	}
	r.line = n.Line
	return nil
}

func strictKeys(n *yaml.Node, allowed ...string) error {
	if n.Kind != yaml.MappingNode {
		return &lineError{n.Line, errors.New("expected a mapping")}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ok := false
		for _, a := range allowed {
			if k.Value == a {
				ok = true
				break
			}
		}
		if !ok {
			return &lineError{k.Line, fmt.Errorf("unknown field %q (want one of %s)", k.Value, strings.Join(allowed, ", "))}
		}
	}
	return nil
}

var verifierNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func remoteSpec(rd remoteDoc, taken map[string]bool) (remote.Spec, error) {
	spec := remote.Spec{Name: rd.Name, Address: rd.Address, Plaintext: rd.Plaintext, CAFile: rd.CAFile, ServerName: rd.ServerName, Fields: rd.Fields}
	if !verifierNamePattern.MatchString(rd.Name) {
		return spec, fmt.Errorf("remote verifier name %q must match %s", rd.Name, verifierNamePattern)
	}
	if taken[rd.Name] {
		return spec, fmt.Errorf("remote verifier %q: the name is already taken", rd.Name)
	}
	if _, port, err := net.SplitHostPort(rd.Address); err != nil || port == "" {
		return spec, fmt.Errorf("remote verifier %q: address %q must be host:port", rd.Name, rd.Address)
	}
	if rd.Plaintext && (rd.CAFile != "" || rd.ServerName != "") {
		return spec, fmt.Errorf("remote verifier %q: plaintext and TLS settings together", rd.Name)
	}
	if len(rd.Fields) == 0 {
		return spec, fmt.Errorf("remote verifier %q: list the request fields it may see", rd.Name)
	}
	if rd.FailuresToOpen > 1000 {
		return spec, fmt.Errorf("remote verifier %q: failures_to_open %d is more than 1000", rd.Name, rd.FailuresToOpen)
	}
	spec.FailuresToOpen = rd.FailuresToOpen
	if rd.OpenFor != "" {
		d, err := time.ParseDuration(rd.OpenFor)
		if err != nil || d < 100*time.Millisecond || d > 10*time.Minute {
			return spec, fmt.Errorf("remote verifier %q: open_for %q must be a duration between 100ms and 10m", rd.Name, rd.OpenFor)
		}
		spec.OpenFor = d
	}
	seen := map[string]bool{}
	for _, f := range rd.Fields {
		if seen[f] {
			return spec, fmt.Errorf("remote verifier %q: field %q listed twice", rd.Name, f)
		}
		seen[f] = true
	}
	return spec, nil
}

// DefaultLocale is the language every sentence has.
const DefaultLocale = "en"

// Locales are the languages a rule's sentence may be given in.
var Locales = map[string]bool{"en": true, "zh-CN": true}

// messages is a rule's sentence: one string (English), or one per locale.
type messages map[string]string

func (m *messages) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*m = messages{DefaultLocale: n.Value}
		return nil
	}
	var byLocale map[string]string
	if err := n.Decode(&byLocale); err != nil {
		return &lineError{n.Line, errors.New("message must be a sentence or a map of locale to sentence")}
	}
	*m = byLocale
	return nil
}

// checkKeyLines maps each check's name to the line of its key. The document
// already decoded, so a failure here only loses line numbers.
func checkKeyLines(doc []byte) map[string]int {
	lines := map[string]int{}
	var root yaml.Node
	if yaml.Unmarshal(doc, &root) != nil || len(root.Content) == 0 {
		return lines
	}
	top := root.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "checks" {
			continue
		}
		checks := top.Content[i+1]
		for j := 0; j+1 < len(checks.Content); j += 2 {
			lines[checks.Content[j].Value] = checks.Content[j].Line
		}
	}
	return lines
}

// lineError carries a line out of the YAML decoder.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return e.err.Error() }

// Load parses, validates and compiles a policy document. known names the
// verifiers that exist; a policy naming any other is refused. source names
// the document in errors.
func Load(doc []byte, source string, known map[string]bool) (*Policy, error) {
	if len(doc) > maxDocumentBytes {
		return nil, &Error{Source: source, Err: fmt.Errorf("policy is %d bytes, more than the %d allowed", len(doc), maxDocumentBytes)}
	}
	var d document
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Source: source, Err: errors.New("policy is empty")}
		}
		var le *lineError
		if errors.As(err, &le) {
			return nil, &Error{Source: source, Line: le.line, Err: le.err}
		}
		return nil, &Error{Source: source, Err: err}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		// A second document would be hashed into the version but never
		// read: refuse it rather than run something else than was written.
		return nil, &Error{Source: source, Line: extra.Line, Err: errors.New("policy must be one YAML document; found another after ---")}
	}
	if len(d.Checks) == 0 {
		return nil, &Error{Source: source, Err: errors.New("policy has no checks")}
	}
	keyLines := checkKeyLines(doc)
	p := &Policy{Version: version(doc), Source: source, doc: bytes.Clone(doc), checks: map[riskv1.Check]*CheckPolicy{}}
	remoteLines := map[string]int{}
	if len(d.RemoteVerifiers) > 0 {
		// Remote verifiers are named here and used by checks like
		// built-in ones; their names must not shadow a built-in.
		all := map[string]bool{}
		for n := range known {
			all[n] = true
		}
		for _, rd := range d.RemoteVerifiers {
			spec, err := remoteSpec(rd, all)
			if err != nil {
				return nil, &Error{Source: source, Line: rd.line, Err: err}
			}
			all[spec.Name] = true
			remoteLines[spec.Name] = rd.line
			p.Remotes = append(p.Remotes, spec)
		}
		known = all
	}
	names := make([]string, 0, len(d.Checks))
	for name := range d.Checks {
		names = append(names, name)
	}
	sort.Strings(names) // report errors the same way every time
	var found []*Error
	for _, name := range names {
		info, ok := CheckNamed(name)
		check := info.Check
		cd := d.Checks[name]
		// Errors about a check as a whole point at its name: an empty
		// check has no body to point at.
		cd.line = keyLines[name]
		if !ok {
			return nil, &Error{Source: source, Line: cd.line, Err: fmt.Errorf("unknown check %q (want seller, gift_card_purchase or refund)", name)}
		}
		cp, errs := compileCheck(check, cd, known)
		if len(errs) > 0 {
			for _, err := range errs {
				err.Source = source
				if err.Rule == "" && !strings.HasPrefix(err.Err.Error(), "check ") {
					err.Err = fmt.Errorf("check %s: %w", name, err.Err)
				}
			}
			found = append(found, errs...)
			continue
		}
		p.checks[check] = cp
		// A remote verifier's fields must exist in every request it sees.
		for _, vs := range cp.Verifiers {
			for _, spec := range p.Remotes {
				if spec.Name != vs.Name {
					continue
				}
				md := info.Request.ProtoReflect().Descriptor()
				for _, f := range spec.Fields {
					if _, err := remote.Resolve(md, f); err != nil {
						return nil, &Error{Source: source, Line: remoteLines[spec.Name], Err: fmt.Errorf("remote verifier %q, used by %s: field %q: %w", spec.Name, name, f, err)}
					}
				}
			}
		}
	}
	if err := problems(found); err != nil {
		return nil, err
	}
	for _, c := range Checks {
		if p.checks[c.Check] == nil {
			return nil, &Error{Source: source, Err: fmt.Errorf("policy has no %q check: every check must be decided", c.Name)}
		}
	}
	return p, nil
}

func compileCheck(check riskv1.Check, cd checkDoc, known map[string]bool) (*CheckPolicy, []*Error) {
	cp := &CheckPolicy{
		Check:     check,
		ReviewAt:  cd.Thresholds.Review,
		DeclineAt: cd.Thresholds.Decline,
		Actions:   map[riskv1.Outcome][]riskv1.Action{},
	}
	if cp.ReviewAt < 1 || cp.DeclineAt > 100 || cp.ReviewAt > cp.DeclineAt {
		return nil, []*Error{&Error{Line: cd.line, Err: fmt.Errorf("thresholds must satisfy 1 <= review <= decline <= 100, got review %d, decline %d", cp.ReviewAt, cp.DeclineAt)}}
	}
	for outcome, list := range cd.Actions {
		o, ok := map[string]riskv1.Outcome{"approve": riskv1.Outcome_OUTCOME_APPROVE, "review": riskv1.Outcome_OUTCOME_REVIEW, "decline": riskv1.Outcome_OUTCOME_DECLINE}[outcome]
		if !ok {
			return nil, []*Error{&Error{Line: cd.line, Err: fmt.Errorf("actions: unknown outcome %q (want approve, review or decline)", outcome)}}
		}
		acts, err := parseActions(list)
		if err != nil {
			return nil, []*Error{&Error{Line: cd.line, Err: fmt.Errorf("actions.%s: %w", outcome, err)}}
		}
		cp.Actions[o] = acts
	}
	// A rule that cannot be evaluated fails closed unless the policy says
	// otherwise: review is the default, so a policy written before the key
	// existed gets the safe behaviour.
	cp.OnRuleError = FailReview
	if cd.OnRuleError != "" {
		mode, ok := failureModes[cd.OnRuleError]
		if !ok {
			return nil, []*Error{&Error{Line: cd.line, Err: fmt.Errorf("on_rule_error %q must be ignore, review or decline", cd.OnRuleError)}}
		}
		cp.OnRuleError = mode
	}
	cp.Lookback = DefaultLookback
	if cd.HistoryLookback != "" {
		d, err := ParseDays(cd.HistoryLookback)
		if err != nil || d < 24*time.Hour || d > maxLookback {
			return nil, []*Error{&Error{Line: cd.line, Err: fmt.Errorf("history_lookback %q must be a duration between 1d and %dd", cd.HistoryLookback, maxLookback/(24*time.Hour))}}
		}
		cp.Lookback = d
	}
	review, rerr := compileReview(check, cd.Review)
	if rerr != nil {
		return nil, []*Error{rerr}
	}
	cp.Review = review
	seen := map[string]bool{}
	for _, vd := range cd.Verifiers {
		if !known[vd.Name] {
			return nil, []*Error{&Error{Line: vd.line, Err: fmt.Errorf("unknown verifier %q", vd.Name)}}
		}
		if seen[vd.Name] {
			return nil, []*Error{&Error{Line: vd.line, Err: fmt.Errorf("verifier %q listed twice", vd.Name)}}
		}
		seen[vd.Name] = true
		budget, err := time.ParseDuration(vd.Budget)
		if err != nil || budget < time.Millisecond || budget > maxBudget {
			return nil, []*Error{&Error{Line: vd.line, Err: fmt.Errorf("verifier %q: budget %q must be a duration between 1ms and %s", vd.Name, vd.Budget, maxBudget)}}
		}
		mode, ok := failureModes[vd.OnFailure]
		if !ok {
			return nil, []*Error{&Error{Line: vd.line, Err: fmt.Errorf("verifier %q: on_failure %q must be ignore, review or decline", vd.Name, vd.OnFailure)}}
		}
		spec := VerifierSpec{Name: vd.Name, Budget: budget, OnFailure: mode}
		if vd.Settings.Kind != 0 {
			parse, ok := settingsParsers[vd.Name]
			if !ok {
				return nil, []*Error{&Error{Line: vd.line, Err: fmt.Errorf("verifier %q takes no settings", vd.Name)}}
			}
			settings, err := parse(&vd.Settings)
			if err != nil {
				line := vd.line
				var le *returns.LineError
				if errors.As(err, &le) {
					line = le.Line
				}
				return nil, []*Error{&Error{Line: line, Err: fmt.Errorf("verifier %q: settings: %w", vd.Name, err)}}
			}
			spec.Settings = settings
		}
		if len(vd.After) > 0 || vd.When != "" {
			spec.wait = &waitSpec{after: vd.After, when: vd.When}
		}
		cp.Verifiers = append(cp.Verifiers, spec)
	}
	if len(cd.Rules) > maxRulesPerCheck {
		return nil, []*Error{&Error{Line: cd.line, Err: fmt.Errorf("%d rules, more than the %d allowed", len(cd.Rules), maxRulesPerCheck)}}
	}
	env, err := newEnv(check)
	if err != nil {
		return nil, []*Error{&Error{Line: cd.line, Err: err}}
	}
	cp.adapter = env.CELTypeAdapter()
	if err := linkVerifiers(env, cp, cd.Verifiers); err != nil {
		return nil, []*Error{err}
	}
	// Every rule is compiled, so that all bad ones are reported at once.
	var errs []*Error
	ruleNames := map[string]bool{}
	for _, rd := range cd.Rules {
		r, err := compileRule(env, rd)
		if err != nil {
			errs = append(errs, &Error{Line: rd.line, Rule: rd.Name, Err: err})
			continue
		}
		if ruleNames[r.Name] {
			errs = append(errs, &Error{Line: rd.line, Rule: rd.Name, Err: errors.New("rule name used twice")})
			continue
		}
		ruleNames[r.Name] = true
		if err := signalsRun(r, cp.Verifiers); err != nil {
			errs = append(errs, &Error{Line: rd.line, Rule: rd.Name, Err: err})
			continue
		}
		cp.Rules = append(cp.Rules, r)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cp, nil
}

// linkVerifiers resolves each verifier's after to indices, refuses names
// the check does not run and cycles, and compiles the when conditions.
// docs are in the order of cp.Verifiers.
func linkVerifiers(env *cel.Env, cp *CheckPolicy, docs []verifierDoc) *Error {
	index := make(map[string]int, len(cp.Verifiers))
	for i, s := range cp.Verifiers {
		index[s.Name] = i
	}
	for i, s := range cp.Verifiers {
		w, line := s.wait, docs[i].line
		if w == nil {
			continue
		}
		if len(w.after) == 0 {
			return &Error{Line: line, Err: fmt.Errorf("verifier %q: when needs after: the verifiers whose results it reads", s.Name)}
		}
		for _, name := range w.after {
			j, ok := index[name]
			switch {
			case !ok:
				return &Error{Line: line, Err: fmt.Errorf("verifier %q: after names %q, which this check does not run", s.Name, name)}
			case j == i:
				return &Error{Line: line, Err: fmt.Errorf("verifier %q: after names itself", s.Name)}
			case slices.Contains(w.deps, j):
				return &Error{Line: line, Err: fmt.Errorf("verifier %q: after names %q twice", s.Name, name)}
			}
			w.deps = append(w.deps, j)
			cp.dependent = true
		}
	}
	if cycle := dependencyCycle(cp.Verifiers); cycle != nil {
		names := make([]string, len(cycle))
		for k, j := range cycle {
			names[k] = cp.Verifiers[j].Name
		}
		return &Error{Line: docs[cycle[0]].line, Err: fmt.Errorf("verifier %q: after makes a cycle: %s", names[0], strings.Join(names, " -> "))}
	}
	for i, s := range cp.Verifiers {
		w, line := s.wait, docs[i].line
		if w == nil || w.when == "" {
			continue
		}
		prg, err := compileCondition(env, w.when)
		if err != nil {
			return &Error{Line: line, Err: fmt.Errorf("verifier %q: %w", s.Name, err)}
		}
		// The condition sees only the results of the verifiers it waits
		// for: a signal of any other would be absent, or present only when
		// that verifier happened to finish first.
		for _, m := range signalRef.FindAllStringSubmatch(w.when, -1) {
			v, _, _ := strings.Cut(m[1]+m[2], ".")
			if !slices.Contains(w.after, v) {
				return &Error{Line: line, Err: fmt.Errorf("verifier %q: when reads signal %q, but after does not name verifier %q", s.Name, m[1]+m[2], v)}
			}
		}
		w.program = prg
		w.skipped = "not called: its condition on " + strings.Join(w.after, ", ") + " was false"
	}
	return nil
}

// dependencyCycle returns a cycle of after (its first verifier again at
// its end), or nil: a depth-first search that marks each verifier once.
func dependencyCycle(specs []VerifierSpec) []int {
	const (
		unseen = iota
		onPath
		finished
	)
	state := make([]int, len(specs))
	var path []int
	var visit func(i int) []int
	visit = func(i int) []int {
		state[i] = onPath
		path = append(path, i)
		for _, j := range specs[i].Deps() {
			switch state[j] {
			case onPath:
				return append(slices.Clone(path[slices.Index(path, j):]), j)
			case unseen:
				if c := visit(j); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = finished
		return nil
	}
	for i := range specs {
		if state[i] == unseen {
			if c := visit(i); c != nil {
				return c
			}
		}
	}
	return nil
}

// signalRef finds the signal names a rule reads: signals['x'] and 'x' in signals.
var signalRef = regexp.MustCompile(`signals\s*\[\s*['"]([^'"]+)['"]\s*\]|['"]([^'"]+)['"]\s+in\s+signals\b`)

// signalsRun checks that every signal a rule reads comes from a verifier
// its check runs. Signals are named "<verifier>.<name>" (built-in and remote
// alike), so the prefix says which verifier must run; a rule reading one
// that does not would silently never fire.
func signalsRun(r *Rule, specs []VerifierSpec) error {
	for _, m := range signalRef.FindAllStringSubmatch(r.Expr, -1) {
		name := m[1] + m[2]
		v, _, ok := strings.Cut(name, ".")
		if !ok {
			return fmt.Errorf("reads signal %q, which names no verifier (signals are \"<verifier>.<name>\")", name)
		}
		if !slices.ContainsFunc(specs, func(s VerifierSpec) bool { return s.Name == v }) {
			return fmt.Errorf("reads signal %q, but this check does not run verifier %q", name, v)
		}
	}
	return nil
}

// escalates reports whether a rule's condition requires the finding of its
// own reason code, as a conjunct: "'CODE' in findings && ...". Then the
// finding is there whenever the rule fires, with its sentence.
func escalates(rd ruleDoc) bool {
	first, _, _ := strings.Cut(strings.TrimSpace(rd.When), "&&")
	return strings.TrimSpace(first) == "'"+rd.Reason+"' in findings"
}

func compileRule(env *cel.Env, rd ruleDoc) (*Rule, error) {
	if !ruleNamePattern.MatchString(rd.Name) {
		return nil, fmt.Errorf("name must match %s", ruleNamePattern)
	}
	if !reasonCodePattern.MatchString(rd.Reason) {
		return nil, fmt.Errorf("reason %q must be an upper snake case code", rd.Reason)
	}
	// A rule's sentence has one home: a rule that escalates a verifier's
	// finding of its own code may leave its message out, and the finding's
	// sentence (which knows the facts: which identifier, how many refunds)
	// is what the caller reads; a rule with a message gives the sentence.
	if len(rd.Message) == 0 && !escalates(rd) {
		return nil, fmt.Errorf("message is required (in en at least): it is what a support agent reads out; only a rule that requires its own reason's finding ('%s' in findings) may leave it out", rd.Reason)
	}
	if len(rd.Message) > 0 && strings.TrimSpace(rd.Message[DefaultLocale]) == "" {
		return nil, errors.New("message is required (in en at least): the en sentence is empty")
	}
	for loc, m := range rd.Message {
		if !Locales[loc] {
			return nil, fmt.Errorf("message: unknown locale %q (want en or zh-CN)", loc)
		}
		if strings.TrimSpace(m) == "" {
			return nil, fmt.Errorf("message: the %s sentence is empty", loc)
		}
	}
	if rd.Score < -100 || rd.Score > 100 {
		return nil, fmt.Errorf("score %d must be between -100 and 100", rd.Score)
	}
	action := AddScore
	if rd.Action != "" {
		a, ok := ruleActions[rd.Action]
		if !ok {
			return nil, fmt.Errorf("action %q must be add_score, review, decline or approve", rd.Action)
		}
		action = a
	}
	acts, err := parseActions(rd.Actions)
	if err != nil {
		return nil, err
	}
	prg, err := compileCondition(env, rd.When)
	if err != nil {
		return nil, err
	}
	return &Rule{
		Name: rd.Name, Expr: rd.When, Action: action, Score: rd.Score, Reason: rd.Reason,
		Message: rd.Message[DefaultLocale], Messages: rd.Message, Shadow: rd.Shadow, Actions: acts, Line: rd.line, program: prg,
	}, nil
}

// compileCondition compiles a when: a rule's, or a verifier's.
func compileCondition(env *cel.Env, expr string) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("when: %w", iss.Err())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("when: expression must be a bool, is %s", ast.OutputType())
	}
	// Runtime cost tracking triples a rule's evaluation time, so it is on
	// only for rules whose worst case, with every input at its validated
	// maximum size, could exceed the limit (comprehensions over long
	// lists, string functions on long fields).
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if est, err := env.EstimateCost(ast, boundedInputs{}); err != nil || est.Max > costLimit {
		opts = append(opts, cel.CostLimit(costLimit))
	}
	prg, err := env.Program(ast, opts...)
	if err != nil {
		return nil, fmt.Errorf("when: %w", err)
	}
	return prg, nil
}

func parseActions(names []string) ([]riskv1.Action, error) {
	var out []riskv1.Action
	for _, n := range names {
		v, ok := riskv1.Action_value["ACTION_"+n]
		if !ok || v == 0 {
			return nil, fmt.Errorf("unknown action %q", n)
		}
		out = append(out, riskv1.Action(v))
	}
	return out, nil
}

// maxInputSize bounds any string, list or map a rule can see: requests are
// validated to far less (strings of at most 2,000 characters, lists of at
// most 1,000 items), and verifiers' signal maps are small.
const maxInputSize = 4096

// boundedInputs tells CEL's cost estimator how large inputs can be.
type boundedInputs struct{}

func (boundedInputs) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	return &checker.SizeEstimate{Min: 0, Max: maxInputSize}
}

func (boundedInputs) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// newEnv declares what a rule may refer to:
//
//	request    the check's request message (risk.v1 types; enums by short name)
//	signals    map(string, dyn): facts from the verifiers, "verifier.name" keys
//	findings   map(string, int): reason code to score, from verifiers and failures
//	verifiers  map(string, string): verifier name to "ok", "failed", "timed_out" or "skipped"
//	now        timestamp: the server's clock for this decision
func newEnv(check riskv1.Check) (*cel.Env, error) {
	info, ok := CheckOf(check)
	msg := info.Request
	if !ok {
		return nil, fmt.Errorf("no request type for %s", check)
	}
	return cel.NewEnv(
		cel.Container("risk.v1"),
		cel.Types(msg),
		cel.Variable("request", cel.ObjectType(string(msg.ProtoReflect().Descriptor().FullName()))),
		cel.Variable("signals", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("findings", cel.MapType(cel.StringType, cel.IntType)),
		cel.Variable("verifiers", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("now", cel.TimestampType),
		ext.Strings(),
		ext.Math(),
	)
}

// ParseDays parses a duration that may be written in whole days ("400d"),
// as people state look-backs and retentions, or as Go writes durations
// ("9600h").
func ParseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
