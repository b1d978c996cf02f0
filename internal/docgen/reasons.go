package docgen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/verifier/builtin"
)

// Reason is one row of the reason-code table: a code, where it comes
// from, the score it adds by default and its sentences.
type Reason struct {
	Code string
	// Source is the verifier package (internal/verifier/<name>), the rule
	// of the default policy ("rule <check>/<name>"), or "policy" for the
	// codes the policy engine gives itself.
	Source string
	// Score is what it adds by default: one number, or the numbers it can
	// add ("20 or 40").
	Score string
	// EN and ZH are the sentences; a verb such as %d in the code shows as
	// "…" (a number or a name filled in at decision time).
	EN, ZH string
	// Action is a rule's action in the default policy (decline, review,
	// approve; add_score for a rule that only adds its score); empty for a
	// verifier's finding.
	Action string
}

// findingType is how verifier packages name verifier.Finding.
const findingType = "verifier.Finding"

// VerifierReasons reads every verifier.Finding literal of the verifier
// packages under dir (internal/verifier) from their source: its code and
// score (constants of the package, or the constants a variable is set to
// in the function), and its English and Chinese sentences (string
// literals, or fmt.Sprintf formats with their verbs shown as "…"). A
// literal it cannot read is an error, so that a new way of writing a
// finding updates this reader instead of dropping out of the table.
// Findings whose code comes from outside riskd (the remote verifier's)
// are left out: their codes are the remote service's.
func VerifierReasons(dir string) ([]Reason, error) {
	var out []Reason
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		rs, err := packageReasons(path)
		out = append(out, rs...)
		return err
	})
	return out, err
}

func packageReasons(dir string) ([]Reason, error) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		return nil, err
	}
	var out []Reason
	for _, pkg := range pkgs {
		consts := map[string]ast.Expr{}
		for _, f := range pkg.Files {
			for _, decl := range f.Decls {
				if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.CONST {
					for _, spec := range g.Specs {
						vs := spec.(*ast.ValueSpec)
						for i, n := range vs.Names {
							if i < len(vs.Values) {
								consts[n.Name] = vs.Values[i]
							}
						}
					}
				}
			}
		}
		r := reader{fset: fset, consts: consts, source: filepath.Base(dir)}
		for _, f := range pkg.Files {
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				r.fn = fn
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					cl, ok := n.(*ast.CompositeLit)
					if !ok || cl.Type == nil {
						return true
					}
					switch t := exprString(cl.Type); t {
					case findingType:
						r.finding(cl)
					case "[]" + findingType:
						for _, e := range cl.Elts {
							if el, ok := e.(*ast.CompositeLit); ok {
								r.finding(el)
							}
						}
					default:
						return true
					}
					return false
				})
			}
		}
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, r.out...)
	}
	return out, nil
}

type reader struct {
	fset   *token.FileSet
	consts map[string]ast.Expr
	source string
	fn     *ast.FuncDecl
	out    []Reason
	err    error
}

func (r *reader) fail(n ast.Node, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s (internal/docgen/reasons.go reads verifier.Finding literals; teach it this form)",
			r.fset.Position(n.Pos()), fmt.Sprintf(format, args...))
	}
}

func (r *reader) finding(cl *ast.CompositeLit) {
	fields := map[string]ast.Expr{}
	for _, e := range cl.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			r.fail(cl, "a Finding literal without field names")
			return
		}
		fields[exprString(kv.Key)] = kv.Value
	}
	code, ok := r.constString(fields["Code"])
	if !ok {
		if _, isCall := fields["Code"].(*ast.CallExpr); isCall {
			return // a code from elsewhere: a remote verifier's answer
		}
		r.fail(cl, "its Code is not a constant")
		return
	}
	rs := Reason{Code: code, Source: r.source}
	scores := r.scores(fields["Score"])
	if len(scores) == 0 {
		r.fail(cl, "its Score is not a constant, nor a variable set to constants")
		return
	}
	rs.Score = joinOr(scores)
	if rs.EN, ok = r.sentence(fields["Message"]); !ok {
		r.fail(cl, "its Message is not a string or fmt.Sprintf with a constant format")
		return
	}
	if m := fields["Messages"]; m != nil {
		call, ok := m.(*ast.CallExpr)
		if !ok || exprString(call.Fun) != "verifier.ZH" || len(call.Args) != 1 {
			r.fail(cl, "its Messages is not verifier.ZH(...)")
			return
		}
		if rs.ZH, ok = r.sentence(call.Args[0]); !ok {
			r.fail(cl, "its Chinese sentence is not a string or fmt.Sprintf with a constant format")
			return
		}
	}
	r.out = append(r.out, rs)
}

// constString is e's value when it is a string literal or a constant of
// the package.
func (r *reader) constString(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		}
	case *ast.Ident:
		if v, ok := r.consts[e.Name]; ok {
			return r.constString(v)
		}
	}
	return "", false
}

func (r *reader) constInt(e ast.Expr) (int, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.INT {
			n, err := strconv.Atoi(e.Value)
			return n, err == nil
		}
	case *ast.Ident:
		if v, ok := r.consts[e.Name]; ok {
			return r.constInt(v)
		}
	}
	return 0, false
}

// scores is the score a finding adds: a constant, or each constant the
// function assigns to the variable it names.
func (r *reader) scores(e ast.Expr) []int {
	if n, ok := r.constInt(e); ok {
		return []int{n}
	}
	id, ok := e.(*ast.Ident)
	if !ok {
		return nil
	}
	var out []int
	ast.Inspect(r.fn.Body, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok {
			return true
		}
		for i, l := range as.Lhs {
			if li, ok := l.(*ast.Ident); ok && li.Name == id.Name && i < len(as.Rhs) {
				if v, ok := r.constInt(as.Rhs[i]); ok {
					out = append(out, v)
				} else {
					out = append(out, -1<<31) // not a constant: refused below
				}
			}
		}
		return true
	})
	if slices.Contains(out, -1<<31) {
		return nil
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var verb = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)

// sentence is a literal, or a fmt.Sprintf's format with its verbs as "…".
func (r *reader) sentence(e ast.Expr) (string, bool) {
	if s, ok := r.constString(e); ok {
		return s, true
	}
	if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.ADD {
		// "text " + value + ": " + why: the constant parts, "…" for the rest.
		x, okx := r.sentence(b.X)
		y, oky := r.sentence(b.Y)
		if !okx {
			x = "…"
		}
		if !oky {
			y = "…"
		}
		return strings.ReplaceAll(x+y, "……", "…"), okx || oky
	}
	call, ok := e.(*ast.CallExpr)
	if !ok || exprString(call.Fun) != "fmt.Sprintf" || len(call.Args) == 0 {
		return "", false
	}
	format, ok := r.constString(call.Args[0])
	if !ok {
		return "", false
	}
	return verb.ReplaceAllString(format, "…"), true
}

func joinOr(ns []int) string {
	var s []string
	for _, n := range ns {
		s = append(s, strconv.Itoa(n))
	}
	return strings.Join(s, " or ")
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.ArrayType:
		if e.Len == nil {
			return "[]" + exprString(e.Elt)
		}
	}
	return ""
}

// EngineReasons are the codes the policy engine gives itself, for a
// verifier that failed or timed out and for a rule that could not be
// evaluated, with the sentences internal/policy/evaluate.go words them in.
// They are read from the source: in a block that calls addReason(code,
// msg, ...) (a verifier's failure, its code chosen by its status) or
// addReason(CodeVerifierFailed, msg, ...) (a rule's error), the
// fmt.Sprintf formats assigned to msg, English first, then Chinese (the
// one under the locale's if). Any other shape is an error, so a change
// there updates this reader rather than the page going wrong.
func EngineReasons(evaluateGo string) ([]Reason, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, evaluateGo, nil, 0)
	if err != nil {
		return nil, err
	}
	r := reader{fset: fset}
	formats := map[string][]string{} // by addReason's first argument
	msgFormats := func(stmts []ast.Stmt) []string {
		var out []string
		var visit func([]ast.Stmt)
		visit = func(stmts []ast.Stmt) {
			for _, st := range stmts {
				switch st := st.(type) {
				case *ast.AssignStmt:
					if len(st.Lhs) == 1 && exprString(st.Lhs[0]) == "msg" {
						if call, ok := st.Rhs[0].(*ast.CallExpr); ok && exprString(call.Fun) == "fmt.Sprintf" {
							if s, ok := r.sentence(call); ok {
								out = append(out, s)
							}
						}
					}
				case *ast.IfStmt:
					visit(st.Body.List)
				}
			}
		}
		visit(stmts)
		return out
	}
	list := func(stmts []ast.Stmt) {
		for _, st := range stmts {
			es, ok := st.(*ast.ExprStmt)
			if !ok {
				continue
			}
			call, ok := es.X.(*ast.CallExpr)
			if !ok || exprString(call.Fun) != "addReason" || len(call.Args) < 2 || exprString(call.Args[1]) != "msg" {
				continue
			}
			key := exprString(call.Args[0])
			formats[key] = append(formats[key], msgFormats(stmts)...)
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BlockStmt:
			list(n.List)
		case *ast.CaseClause:
			list(n.Body)
		}
		return true
	})
	v, rule := formats["code"], formats["CodeVerifierFailed"]
	if len(v) != 2 || len(rule) != 2 {
		return nil, fmt.Errorf("%s: found %d sentences for a verifier's failure and %d for a rule's error, not 2 (en, zh-CN) each: "+
			"internal/docgen/reasons.go reads the blocks that call addReason(code, msg, ...) and addReason(CodeVerifierFailed, msg, ...); update it",
			evaluateGo, len(v), len(rule))
	}
	return []Reason{
		{Code: policy.CodeVerifierFailed, Source: "policy (a verifier failed)", Score: "0", EN: v[0], ZH: v[1]},
		{Code: policy.CodeVerifierTimeout, Source: "policy (a verifier timed out)", Score: "0", EN: v[0], ZH: v[1]},
		{Code: policy.CodeVerifierFailed, Source: "policy (a rule could not be evaluated)", Score: "0", EN: rule[0], ZH: rule[1]},
	}, nil
}

// ruleActions names the rule actions as the policy file writes them.
var ruleActions = map[policy.RuleAction]string{
	policy.AddScore: "add_score", policy.Review: "review", policy.Decline: "decline", policy.Approve: "approve",
}

// PolicyReasons are the reasons the rules of the default policy give.
func PolicyReasons() ([]Reason, error) {
	p, err := policy.Load(policy.DefaultBytes(), "default", builtin.Names())
	if err != nil {
		return nil, err
	}
	var out []Reason
	for _, c := range policy.Checks {
		cp := p.Check(c.Check)
		if cp == nil {
			continue
		}
		for _, rule := range cp.Rules {
			action, ok := ruleActions[rule.Action]
			if !ok {
				return nil, fmt.Errorf("rule %s/%s: action %d has no name in internal/docgen/reasons.go", c.Name, rule.Name, rule.Action)
			}
			rs := Reason{Code: rule.Reason, Source: fmt.Sprintf("rule %s/%s", c.Name, rule.Name), Score: strconv.Itoa(rule.Score),
				EN: rule.Messages[policy.DefaultLocale], ZH: rule.Messages["zh-CN"], Action: action}
			if rs.EN == "" {
				rs.EN = "(the finding's own sentence)"
			}
			if rs.ZH == "" && rule.Messages[policy.DefaultLocale] == "" {
				rs.ZH = "（沿用核验结果的原句）"
			}
			if rule.Shadow {
				rs.Action += " (shadow)"
			}
			out = append(out, rs)
		}
	}
	return out, nil
}

// ReasonCodes renders the reason-code table of docs/reason-codes.md: every
// code riskd's verifiers, its default policy and its engine can give, by
// code, with where it comes from, the score it adds by default and its
// sentences.
func ReasonCodes(root string) ([]byte, error) {
	vs, err := VerifierReasons(filepath.Join(root, "internal", "verifier"))
	if err != nil {
		return nil, err
	}
	es, err := EngineReasons(filepath.Join(root, "internal", "policy", "evaluate.go"))
	if err != nil {
		return nil, err
	}
	ps, err := PolicyReasons()
	if err != nil {
		return nil, err
	}
	all := append(append(vs, es...), ps...)
	// A total order: the files of a package come from a map, so rows that
	// tied on code and source would otherwise change places between runs.
	slices.SortFunc(all, func(a, b Reason) int {
		for _, c := range [][2]string{{a.Code, b.Code}, {a.Source, b.Source}, {a.Score, b.Score}, {a.Action, b.Action}, {a.EN, b.EN}, {a.ZH, b.ZH}} {
			if d := strings.Compare(c[0], c[1]); d != 0 {
				return d
			}
		}
		return 0
	})
	all = slices.Compact(all)
	var b bytes.Buffer
	b.WriteString(generatedNote("internal/verifier, internal/policy/evaluate.go and internal/policy/default.yaml (internal/docgen/reasons.go)"))
	b.WriteString("# Reason codes\n\n")
	b.WriteString("Every code a decision's `reasons` can carry from riskd itself, with where it comes\n" +
		"from, the score it adds by default and the sentence riskd gives in each language\n" +
		"(`locale` \"en\" or \"zh-CN\"). A \"…\" stands for what is filled in at decision time:\n" +
		"a count, the kind of identifier shared, a verifier's or rule's name.\n\n" +
		"- A **verifier** finding adds its score to the decision's. Its source in the decision is\n" +
		"  the verifier's name in the policy.\n" +
		"- A **rule** of the default policy ([`internal/policy/default.yaml`](../internal/policy/default.yaml))\n" +
		"  adds its score and takes its action: `decline`, `review` and `approve` decide the outcome\n" +
		"  whatever the score (see [Fraud patterns](fraud-patterns.md) for why each exists). A rule\n" +
		"  whose reason is a verifier's finding escalates it: the rule's score is added to the\n" +
		"  finding's, and its sentence, if it has one, replaces the finding's. A policy of your own\n" +
		"  (`--policy`) may change every score, action and sentence here.\n" +
		"- **policy** codes are given by the engine when a verifier or a rule could not answer;\n" +
		"  the policy's `on_failure` and `on_rule_error` decide what they do to the outcome.\n" +
		"- Codes a remote verifier returns (`risk.verifier.v1`) are that service's own and are not\n" +
		"  listed here.\n\n" +
		"The score of a decision is the sum of its enforced reasons' scores, clamped to 0..100.\n\n")
	b.WriteString("| Code | Source | Default score | Rule action | en | zh-CN |\n|---|---|---|---|---|---|\n")
	for _, r := range all {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", r.Code, r.Source, r.Score, r.Action, cell(r.EN), cell(r.ZH))
	}
	b.WriteString("\n")
	errs, err := ErrorReasons(filepath.Join(root, "internal", "server"))
	if err != nil {
		return nil, err
	}
	b.WriteString("## Errors\n\n")
	b.WriteString("A call riskd cannot decide fails with a gRPC status whose details carry a\n" +
		"`google.rpc.ErrorInfo` (domain `riskd`) with one of these reasons; an INVALID_ARGUMENT also\n" +
		"carries a `google.rpc.BadRequest` naming each field at fault and the rule it broke. A\n" +
		"DECLINE is never an error. Calls refused before riskd reads them (no or a bad token:\n" +
		"UNAUTHENTICATED; a method the caller is not granted: PERMISSION_DENIED; over the rate or\n" +
		"the in-flight limit: RESOURCE_EXHAUSTED; the caller's deadline: DEADLINE_EXCEEDED) carry no\n" +
		"reason. See [Calling riskd](calling.md) for what to do with each.\n\n")
	b.WriteString("| Reason | gRPC code | Message |\n|---|---|---|\n")
	for _, e := range errs {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", e.Reason, e.Code, cell(e.Message))
	}
	b.WriteString("\n")
	return b.Bytes(), nil
}

// ErrorReason is one reason a refused call's google.rpc.ErrorInfo carries.
type ErrorReason struct {
	Reason, Code, Message string
}

// ErrorReasons reads internal/server's calls withInfo(codes.X, message,
// "REASON") from its source: every ErrorInfo reason riskd's gRPC API
// answers with, its status code and its message ("…" where the message
// is filled in).
func ErrorReasons(serverDir string) ([]ErrorReason, error) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, serverDir, func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		return nil, err
	}
	r := reader{fset: fset}
	var out []ErrorReason
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, decl := range f.Decls {
				fn, ok := decl.(*ast.FuncDecl)
				if ok && fn.Body != nil && fn.Name.Name != "withInfo" {
					out = append(out, errorInfoLiterals(&r, fn)...)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || exprString(call.Fun) != "withInfo" || len(call.Args) != 3 {
					return true
				}
				code := strings.TrimPrefix(exprString(call.Args[0]), "codes.")
				msg, ok1 := r.sentence(call.Args[1])
				reason, ok2 := r.constString(call.Args[2])
				if code == "" || !ok1 || !ok2 {
					r.fail(call, "withInfo with a code, message or reason this reader cannot read")
					return false
				}
				out = append(out, ErrorReason{Reason: reason, Code: code, Message: msg})
				return false
			})
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	slices.SortFunc(out, func(a, b ErrorReason) int {
		if c := strings.Compare(a.Reason, b.Reason); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return out, nil
}

// errorInfoLiterals reads the ErrorInfo a function builds itself (not by
// withInfo), with the status code of its status.New.
func errorInfoLiterals(r *reader, fn *ast.FuncDecl) []ErrorReason {
	var code, msg string
	var reasons []string
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if exprString(n.Fun) == "status.New" && len(n.Args) == 2 {
				code = strings.TrimPrefix(exprString(n.Args[0]), "codes.")
				if m, ok := r.sentence(n.Args[1]); ok {
					msg = m
				} else {
					msg = "a summary of the fields at fault"
				}
			}
		case *ast.CompositeLit:
			if exprString(n.Type) == "errdetails.ErrorInfo" {
				for _, e := range n.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok && exprString(kv.Key) == "Reason" {
						if s, ok := r.constString(kv.Value); ok {
							reasons = append(reasons, s)
						} else {
							r.fail(n, "an ErrorInfo whose Reason is not a constant")
						}
					}
				}
			}
		}
		return true
	})
	var out []ErrorReason
	for _, reason := range reasons {
		if code == "" {
			r.fail(fn, "an ErrorInfo in a function with no status.New(codes.X, ...)")
			continue
		}
		out = append(out, ErrorReason{Reason: reason, Code: code, Message: msg})
	}
	return out
}
