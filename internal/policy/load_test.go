package policy_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/policy"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// defaultKnown are the verifiers the embedded default policy names.
var defaultKnown = map[string]bool{"identity": true, "license": true, "contact": true, "links": true, "lists": true, "velocity": true, "spending": true, "returns": true}

// testKnown are the verifiers the inline test policies may name.
var testKnown = map[string]bool{"v": true, "w": true}

// minimalCheck is a valid body for the checks a test is not about.
const minimalCheck = "thresholds: {review: 30, decline: 70}"

// wrapCheck builds a full, valid document around one check's YAML body
// (written flush left). The check under test comes first, so the body's
// first line is line 3 of the document and a body line n is document line
// n+2: line expectations in the tables stay countable by eye.
func wrapCheck(check, body string) []byte {
	var b strings.Builder
	b.WriteString("checks:\n")
	writeCheck(&b, check, body)
	for _, other := range []string{"seller", "gift_card_purchase", "refund"} {
		if other != check {
			writeCheck(&b, other, minimalCheck)
		}
	}
	return []byte(b.String())
}

func writeCheck(b *strings.Builder, name, body string) {
	fmt.Fprintf(b, "  %s:\n", name)
	for _, line := range strings.Split(strings.Trim(body, "\n"), "\n") {
		if line == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("    " + line + "\n")
	}
}

// mustLoad loads a document that the test expects to be valid.
func mustLoad(t *testing.T, doc []byte, known map[string]bool) *policy.Policy {
	t.Helper()
	p, err := policy.Load(doc, "test.yaml", known)
	if err != nil {
		t.Fatalf("Load: %v\n--- document ---\n%s", err, doc)
	}
	return p
}

var versionPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func TestLoadDefault(t *testing.T) {
	p, err := policy.Load(policy.DefaultBytes(), policy.DefaultSource, defaultKnown)
	if err != nil {
		t.Fatalf("the embedded default policy must load with verifiers identity and license: %v", err)
	}
	if p.Source != policy.DefaultSource {
		t.Errorf("Source = %q, want %q", p.Source, policy.DefaultSource)
	}
	if !versionPattern.MatchString(p.Version) {
		t.Errorf("Version = %q, want sha256: and 64 lower-case hex digits", p.Version)
	}
	sum := sha256.Sum256(policy.DefaultBytes())
	if want := "sha256:" + hex.EncodeToString(sum[:]); p.Version != want {
		t.Errorf("Version = %q, want the hash of the document bytes %q", p.Version, want)
	}
	for _, c := range []riskv1.Check{riskv1.Check_CHECK_SELLER, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, riskv1.Check_CHECK_REFUND} {
		cp := p.Check(c)
		if cp == nil {
			t.Errorf("Check(%s) = nil: every check must be decided", c)
			continue
		}
		if cp.Check != c {
			t.Errorf("Check(%s).Check = %s", c, cp.Check)
		}
		if len(cp.Rules) == 0 {
			t.Errorf("Check(%s) has no rules", c)
		}
	}
	if cp := p.Check(riskv1.Check_CHECK_UNSPECIFIED); cp != nil {
		t.Errorf("Check(UNSPECIFIED) = %+v, want nil", cp)
	}
	seller := p.Check(riskv1.Check_CHECK_SELLER)
	if seller != nil {
		want := []policy.VerifierSpec{
			{Name: "identity", Budget: 50 * time.Millisecond, OnFailure: policy.FailReview},
			{Name: "license", Budget: 50 * time.Millisecond, OnFailure: policy.FailReview},
			{Name: "contact", Budget: 50 * time.Millisecond, OnFailure: policy.FailIgnore},
			{Name: "links", Budget: 150 * time.Millisecond, OnFailure: policy.FailReview},
			{Name: "lists", Budget: 100 * time.Millisecond, OnFailure: policy.FailReview},
		}
		if fmt.Sprint(seller.Verifiers) != fmt.Sprint(want) {
			t.Errorf("seller verifiers = %+v, want %+v", seller.Verifiers, want)
		}
	}
}

func TestLoadDefaultNeedsItsVerifiers(t *testing.T) {
	// A build without the licence verifier must not start with a policy
	// that silently skips it.
	_, err := policy.Load(policy.DefaultBytes(), policy.DefaultSource,
		map[string]bool{"identity": true, "contact": true, "links": true, "lists": true, "velocity": true, "spending": true, "returns": true})
	var pe *policy.Error
	if !errors.As(err, &pe) {
		t.Fatalf("Load without license verifier: err = %v, want *policy.Error", err)
	}
	if !strings.Contains(err.Error(), `unknown verifier "license"`) || !strings.HasPrefix(err.Error(), policy.DefaultSource+":") {
		t.Errorf("err = %q, want it to name the embedded source and the unknown verifier", err)
	}
}

func TestDefaultBytesIsACopy(t *testing.T) {
	// Callers may reuse the slice; they must not be able to change the
	// policy every later Load sees.
	b := policy.DefaultBytes()
	if len(b) == 0 {
		t.Fatal("DefaultBytes is empty")
	}
	orig := b[0]
	b[0] ^= 0xff
	if got := policy.DefaultBytes()[0]; got != orig {
		t.Errorf("changing the returned slice changed the embedded policy")
	}
}

func TestVersion(t *testing.T) {
	base := policy.DefaultBytes()
	v := func(doc []byte) string {
		t.Helper()
		return mustLoad(t, doc, defaultKnown).Version
	}
	first := v(base)
	tests := []struct {
		name string
		doc  []byte
		same bool
	}{
		{"same bytes again", policy.DefaultBytes(), true},
		{"same bytes in a fresh slice", append([]byte(nil), base...), true},
		// A comment changes nothing the engine does, but the version is
		// of the text: an operator must see that the file changed.
		{"trailing comment", append(append([]byte(nil), base...), "# edited\n"...), false},
		{"one threshold changed", bytes.Replace(base, []byte("{review: 40, decline: 80}"), []byte("{review: 41, decline: 80}"), 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := v(tt.doc)
			if !versionPattern.MatchString(got) {
				t.Fatalf("Version = %q, want sha256:<64 hex>", got)
			}
			if tt.same && got != first {
				t.Errorf("Version = %q, want %q for the same bytes", got, first)
			}
			if !tt.same && got == first {
				t.Errorf("Version = %q for changed bytes, want it to differ", got)
			}
		})
	}
}

func TestLoadMaxDocumentSize(t *testing.T) {
	const limit = 1 << 20
	pad := func(n int) []byte {
		// Pad the default policy with one comment line up to n bytes, so
		// that only the size differs between the cases.
		doc := policy.DefaultBytes()
		fill := n - len(doc) - 3
		return append(append(doc, "\n#"...), append(bytes.Repeat([]byte("x"), fill), '\n')...)
	}
	for _, tt := range []struct {
		name string
		size int
		ok   bool
	}{
		{"exactly 1 MiB", limit, true},
		{"1 MiB and one byte", limit + 1, false},
		{"2 MiB", 2 * limit, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := pad(tt.size)
			if len(doc) != tt.size {
				t.Fatalf("test document is %d bytes, want %d", len(doc), tt.size)
			}
			_, err := policy.Load(doc, "big.yaml", defaultKnown)
			if tt.ok {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *policy.Error", err)
			}
			if pe.Source != "big.yaml" || !strings.HasPrefix(err.Error(), "big.yaml: ") || !strings.Contains(err.Error(), "bytes") {
				t.Errorf("err = %q, want it to name big.yaml and the size", err)
			}
		})
	}
}

// A rule body that is valid, for cases that break one key at a time.
const okRule = `
  - name: ok-rule
    when: request.session.active_call
    score: 10
    reason: ACTIVE_CALL
    message: In a call.`

func TestLoadRefusals(t *testing.T) {
	const src = "inline.yaml"
	tests := []struct {
		name string
		doc  string
		// line is where the problem is; 0 when the problem has no line
		// (an empty document, a missing check, a size limit).
		line int
		// rule is the rule the error must name, when one is at fault.
		rule string
		// want are fragments the message must carry, in any order.
		want []string
	}{
		{
			name: "empty document",
			doc:  "",
			want: []string{"empty"},
		},
		{
			name: "only a comment",
			doc:  "# nothing here\n",
			want: []string{"empty"},
		},
		{
			name: "checks is empty",
			doc:  "checks: {}\n",
			want: []string{"no checks"},
		},
		{
			name: "unknown top-level key",
			doc:  string(wrapCheck("refund", minimalCheck)) + "version: 2\n",
			line: 8,
			want: []string{"version"},
		},
		{
			name: "yaml syntax error",
			doc:  "checks:\n  refund:\n    thresholds: {review: 30, decline: 70}\n\tseller: {}\n",
			line: 4,
		},
		{
			name: "unknown check name",
			doc:  string(wrapCheck("refund", minimalCheck)) + "  refunds:\n    thresholds: {review: 30, decline: 70}\n",
			line: 8, // the line of the check's name

			want: []string{`unknown check "refunds"`},
		},
		{
			// A check left empty has no body to take a line from; the
			// operator still needs to know which check and where.
			name: "check with an empty body",
			doc:  "checks:\n  refund:\n  seller:\n    " + minimalCheck + "\n  gift_card_purchase:\n    " + minimalCheck + "\n",
			line: 2,
			want: []string{"refund", "thresholds"},
		},
		{
			name: "missing seller check",
			doc:  "checks:\n  gift_card_purchase:\n    " + minimalCheck + "\n  refund:\n    " + minimalCheck + "\n",
			want: []string{`no "seller" check`},
		},
		{
			name: "missing gift_card_purchase check",
			doc:  "checks:\n  seller:\n    " + minimalCheck + "\n  refund:\n    " + minimalCheck + "\n",
			want: []string{`no "gift_card_purchase" check`},
		},
		{
			name: "missing refund check",
			doc:  "checks:\n  seller:\n    " + minimalCheck + "\n  gift_card_purchase:\n    " + minimalCheck + "\n",
			want: []string{`no "refund" check`},
		},
		{
			name: "unknown key in a check",
			doc:  string(wrapCheck("refund", minimalCheck+"\nthreshold: {review: 1}")),
			line: 4,
			want: []string{`unknown field "threshold"`},
		},
		{
			name: "thresholds missing",
			doc:  string(wrapCheck("refund", "verifiers: []")),
			line: 2,
			want: []string{"thresholds"},
		},
		{
			name: "review threshold zero",
			doc:  string(wrapCheck("refund", "thresholds: {review: 0, decline: 70}")),
			line: 2,
			want: []string{"thresholds", "review 0"},
		},
		{
			name: "decline threshold over 100",
			doc:  string(wrapCheck("refund", "thresholds: {review: 30, decline: 101}")),
			line: 2,
			want: []string{"thresholds", "decline 101"},
		},
		{
			name: "review above decline",
			doc:  string(wrapCheck("refund", "thresholds: {review: 80, decline: 70}")),
			line: 2,
			want: []string{"thresholds", "review 80", "decline 70"},
		},
		{
			name: "threshold not a number",
			doc:  string(wrapCheck("refund", "thresholds: {review: high, decline: 70}")),
			line: 3,
			want: []string{"high"},
		},
		{
			name: "unknown outcome in actions",
			doc:  string(wrapCheck("refund", minimalCheck+"\nactions:\n  escalate: [MANUAL_REVIEW]")),
			line: 2, // the check's name: outcome names are checked per check
			want: []string{`unknown outcome "escalate"`},
		},
		{
			name: "unknown action name in check actions",
			doc:  string(wrapCheck("refund", minimalCheck+"\nactions:\n  review: [MANUAL_REVIEW, CALL_THE_POLICE]")),
			line: 2,
			want: []string{"actions.review", `unknown action "CALL_THE_POLICE"`},
		},
		{
			name: "UNSPECIFIED is not an action",
			doc:  string(wrapCheck("refund", minimalCheck+"\nactions:\n  decline: [UNSPECIFIED]")),
			line: 2,
			want: []string{`unknown action "UNSPECIFIED"`},
		},
		{
			name: "action with its enum prefix",
			doc:  string(wrapCheck("refund", minimalCheck+"\nactions:\n  decline: [ACTION_MANUAL_REVIEW]")),
			line: 2,
			want: []string{`unknown action "ACTION_MANUAL_REVIEW"`},
		},
		{
			name: "on_rule_error not a failure mode",
			doc:  string(wrapCheck("refund", minimalCheck+"\non_rule_error: approve")),
			line: 2,
			want: []string{`on_rule_error "approve" must be ignore, review or decline`},
		},
		{
			name: "history_lookback under a day",
			doc:  string(wrapCheck("refund", minimalCheck+"\nhistory_lookback: 12h")),
			line: 2,
			want: []string{`history_lookback "12h" must be a duration between 1d and 3660d`},
		},
		{
			name: "history_lookback over ten years",
			doc:  string(wrapCheck("refund", minimalCheck+"\nhistory_lookback: 3661d")),
			line: 2,
			want: []string{`history_lookback "3661d" must be a duration between 1d and 3660d`},
		},
		{
			name: "history_lookback not a duration",
			doc:  string(wrapCheck("refund", minimalCheck+"\nhistory_lookback: a year")),
			line: 2,
			want: []string{`history_lookback "a year" must be a duration`},
		},
		{
			name: "history_lookback negative days",
			doc:  string(wrapCheck("refund", minimalCheck+"\nhistory_lookback: -5d")),
			line: 2,
			want: []string{`history_lookback "-5d" must be a duration`},
		},
		{
			name: "on_rule_error misspelt",
			doc:  string(wrapCheck("refund", minimalCheck+"\non_rule_errors: review")),
			line: 4,
			want: []string{`unknown field "on_rule_errors"`},
		},
		{
			name: "unknown verifier",
			doc: string(wrapCheck("refund", minimalCheck+`
verifiers:
  - {name: v, budget: 50ms, on_failure: review}
  - {name: oracle, budget: 50ms, on_failure: review}`)),
			line: 6,
			want: []string{`unknown verifier "oracle"`},
		},
		{
			name: "verifier listed twice",
			doc: string(wrapCheck("refund", minimalCheck+`
verifiers:
  - {name: v, budget: 50ms, on_failure: review}
  - {name: w, budget: 50ms, on_failure: review}
  - {name: v, budget: 20ms, on_failure: ignore}`)),
			line: 7,
			want: []string{`verifier "v" listed twice`},
		},
		{
			name: "unknown key in a verifier",
			doc: string(wrapCheck("refund", minimalCheck+`
verifiers:
  - name: v
    budget: 50ms
    on_fail: review`)),
			line: 7,
			want: []string{`unknown field "on_fail"`},
		},
		{
			name: "budget zero",
			doc:  string(wrapCheck("refund", minimalCheck+"\nverifiers:\n  - {name: v, budget: 0s, on_failure: review}")),
			line: 5,
			want: []string{`verifier "v"`, `budget "0s"`},
		},
		{
			name: "budget negative",
			doc:  string(wrapCheck("refund", minimalCheck+"\nverifiers:\n  - {name: v, budget: -5ms, on_failure: review}")),
			line: 5,
			want: []string{`budget "-5ms"`},
		},
		{
			name: "budget unparsable",
			doc:  string(wrapCheck("refund", minimalCheck+"\nverifiers:\n  - {name: v, budget: fast, on_failure: review}")),
			line: 5,
			want: []string{`budget "fast"`},
		},
		{
			name: "budget without unit",
			doc:  string(wrapCheck("refund", minimalCheck+"\nverifiers:\n  - {name: v, budget: 50, on_failure: review}")),
			line: 5,
			want: []string{`budget "50"`},
		},
		{
			name: "budget missing",
			doc:  string(wrapCheck("refund", minimalCheck+"\nverifiers:\n  - {name: v, on_failure: review}")),
			line: 5,
			want: []string{`budget ""`},
		},
		{
			// The message promises at least 1ms; a budget of microseconds
			// would time the verifier out on every call.
			name: "budget under 1ms",
			doc:  string(wrapCheck("refund", minimalCheck+"\nverifiers:\n  - {name: v, budget: 500us, on_failure: review}")),
			line: 5,
			want: []string{`budget "500us"`, "1ms"},
		},
		{
			// A budget longer than a checkout's whole deadline (issue 10).
			name: "budget over 2s",
			doc:  string(wrapCheck("refund", minimalCheck+"\nverifiers:\n  - {name: v, budget: 2001ms, on_failure: review}")),
			line: 5,
			want: []string{`budget "2001ms"`, "2s"},
		},
		{
			name: "on_failure unknown",
			doc:  string(wrapCheck("refund", minimalCheck+"\nverifiers:\n  - {name: v, budget: 50ms, on_failure: retry}")),
			line: 5,
			want: []string{`on_failure "retry"`},
		},
		{
			name: "on_failure missing",
			doc:  string(wrapCheck("refund", minimalCheck+"\nverifiers:\n  - {name: v, budget: 50ms}")),
			line: 5,
			want: []string{`on_failure ""`},
		},
		{
			name: "misspelt shadow",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: shady
    when: "true"
    reason: SHADY
    message: Shady.
    sahdow: true`)),
			line: 9,
			want: []string{`unknown field "sahdow"`},
		},
		{
			name: "misspelt when in the second rule",
			doc: string(wrapCheck("refund", minimalCheck+"\nrules:"+okRule+`
  - name: second
    wen: "true"
    reason: SECOND
    message: Second.`)),
			line: 11,
			want: []string{`unknown field "wen"`},
		},
		{
			name: "rule is not a mapping",
			doc:  string(wrapCheck("refund", minimalCheck+"\nrules:\n  - just-a-string")),
			line: 5,
			want: []string{"mapping"},
		},
		{
			name: "score not a number",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: "true"
    score: lots
    reason: R1
    message: M.`)),
			line: 7,
			want: []string{"lots"},
		},
		{
			name: "rule name with capitals and space",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: Bad Name
    when: "true"
    reason: BAD
    message: M.`)),
			line: 5,
			rule: "Bad Name",
			want: []string{"name must match"},
		},
		{
			name: "rule name missing",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - when: "true"
    reason: BAD
    message: M.`)),
			line: 5,
			want: []string{"name must match"},
		},
		{
			name: "reason code lower case",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: "true"
    reason: active_call
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{`reason "active_call"`},
		},
		{
			name: "reason code missing",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: "true"
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{`reason ""`},
		},
		{
			name: "message missing",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: "true"
    reason: R1`)),
			line: 5,
			rule: "r",
			want: []string{"message is required"},
		},
		{
			// Only an escalation of its own reason's finding may leave its
			// message out; here the finding is not required first.
			name: "message missing on a rule that only mentions its finding",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: "true || 'R_1' in findings"
    reason: R_1`)),
			line: 5,
			rule: "r",
			want: []string{"message is required"},
		},
		{
			name: "message missing on an escalation of another code",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: "'R_2' in findings"
    reason: R_1`)),
			line: 5,
			rule: "r",
			want: []string{"message is required"},
		},
		{
			name: "message blank",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: "true"
    reason: R1
    message: "   "`)),
			line: 5,
			rule: "r",
			want: []string{"message is required"},
		},
		{
			name: "score above 100",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: "true"
    score: 101
    reason: R1
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{"score 101"},
		},
		{
			name: "score below -100",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: "true"
    score: -101
    reason: R1
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{"score -101"},
		},
		{
			name: "unknown rule action",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: "true"
    action: block
    reason: R1
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{`action "block"`},
		},
		{
			name: "unknown action name in rule actions",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: "true"
    reason: R1
    message: M.
    actions: [HOLD_CODE_DELIVERY, SEND_FLOWERS]`)),
			line: 5,
			rule: "r",
			want: []string{`unknown action "SEND_FLOWERS"`},
		},
		{
			name: "CEL syntax error",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: "request.amount_paid.amount_minor >"
    reason: R1
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{"when:", "Syntax error"},
		},
		{
			name: "CEL empty expression",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    reason: R1
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{"when:"},
		},
		{
			name: "CEL unknown request field",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: request.no_such_field == 1
    reason: R1
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{"when:", "no_such_field"},
		},
		{
			// The seller request has no goods_kind: rules are typed
			// against their own check's request.
			name: "CEL field of another check's request",
			doc: string(wrapCheck("seller", minimalCheck+`
rules:
  - name: r
    when: request.goods_kind == GoodsKind.GOODS_KIND_DIGITAL
    reason: R1
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{"when:", "goods_kind"},
		},
		{
			name: "CEL type mismatch",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: request.amount_paid.amount_minor > 'lots'
    reason: R1
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{"when:", "no matching overload"},
		},
		{
			name: "CEL undeclared variable",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: customer.vip
    reason: R1
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{"when:", "customer"},
		},
		{
			name: "CEL not a bool",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: 1 + 1
    reason: R1
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{"must be a bool", "int"},
		},
		{
			name: "CEL string not a bool",
			doc: string(wrapCheck("refund", minimalCheck+`
rules:
  - name: r
    when: request.buyer_reason
    reason: R1
    message: M.`)),
			line: 5,
			rule: "r",
			want: []string{"must be a bool", "string"},
		},
		{
			name: "duplicate rule name",
			doc: string(wrapCheck("refund", minimalCheck+"\nrules:"+okRule+`
  - name: ok-rule
    when: request.session.new_device
    reason: NEW_DEVICE
    message: New device.`)),
			line: 10,
			rule: "ok-rule",
			want: []string{"used twice"},
		},
		{
			// A broken seller check after two valid ones, so that the
			// line is not simply near the top of the document.
			name: "error in the last check",
			doc: "checks:\n  gift_card_purchase:\n    " + minimalCheck + "\n  refund:\n    " + minimalCheck +
				"\n  seller:\n    " + minimalCheck + "\n    verifiers:\n      - {name: nobody, budget: 1s, on_failure: ignore}\n",
			line: 9,
			want: []string{`unknown verifier "nobody"`},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Load([]byte(tt.doc), src, testKnown)
			if err == nil {
				t.Fatalf("Load accepted the document (version %s), want a refusal\n--- document ---\n%s", p.Version, tt.doc)
			}
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %#v (%v), want *policy.Error", err, err)
			}
			msg := err.Error()
			if pe.Source != src || !strings.HasPrefix(msg, src) {
				t.Errorf("err = %q (Source %q), want it to start with the source %q", msg, pe.Source, src)
			}
			if pe.Err == nil || !errors.Is(err, pe.Err) {
				t.Errorf("Error.Err = %v, want the cause, reachable by Unwrap", pe.Err)
			}
			switch {
			case tt.line == 0:
				if pe.Line != 0 {
					t.Errorf("Line = %d, want none for a problem with no line", pe.Line)
				}
			case pe.Line != 0:
				// Our own checks know the node and report it in Line.
				if pe.Line != tt.line {
					t.Errorf("Line = %d, want %d\nerr = %q\n--- document ---\n%s", pe.Line, tt.line, msg, numbered(tt.doc))
				}
				if want := fmt.Sprintf("%s:%d:", src, tt.line); !strings.HasPrefix(msg, want) {
					t.Errorf("err = %q, want it to start with %q", msg, want)
				}
			default:
				// The YAML decoder's own errors carry the line in their text.
				if want := fmt.Sprintf("line %d:", tt.line); !strings.Contains(msg, want) {
					t.Errorf("err = %q, want it to carry %q\n--- document ---\n%s", msg, want, numbered(tt.doc))
				}
			}
			if pe.Rule != tt.rule {
				t.Errorf("Rule = %q, want %q", pe.Rule, tt.rule)
			}
			if tt.rule != "" && !strings.Contains(msg, fmt.Sprintf("rule %q", tt.rule)) {
				t.Errorf("err = %q, want it to name rule %q", msg, tt.rule)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("err = %q, want it to mention %q", msg, w)
				}
			}
		})
	}
}

// TestLoadAccepts pins the edges of what Load allows, so that a tightened
// check cannot refuse policies that operators already run.
func TestLoadAccepts(t *testing.T) {
	tests := []struct {
		name  string
		check string
		body  string
	}{
		{"thresholds at their limits", "refund", "thresholds: {review: 1, decline: 100}"},
		{"review equal to decline", "refund", "thresholds: {review: 50, decline: 50}"},
		{"an escalation without a message", "refund", minimalCheck + "\nrules:\n  - {name: r, when: \"'R_1' in findings && true\", action: decline, reason: R_1}"},
		{"history_lookback in days and in hours", "gift_card_purchase", minimalCheck + "\nhistory_lookback: 1d"},
		{"history_lookback of ten years", "gift_card_purchase", minimalCheck + "\nhistory_lookback: 87840h"},
		{"budget of exactly 2s", "seller", minimalCheck + "\nverifiers:\n  - {name: v, budget: 2s, on_failure: ignore}"},
		{"every failure mode", "seller", minimalCheck + "\nverifiers:\n  - {name: v, budget: 1ms, on_failure: decline}\n  - {name: w, budget: 2s, on_failure: review}"},
		{"every outcome's actions", "gift_card_purchase", minimalCheck + "\nactions:\n  approve: [FREEZE_ISSUED_CODES]\n  review: [MANUAL_REVIEW]\n  decline: [HOLD_CODE_DELIVERY, CONFIRM_WITH_ACCOUNT_HOLDER]"},
		{"scores at their limits and every action", "refund", minimalCheck + `
rules:
  - {name: a, when: "true", score: 100, reason: A_1, message: A., action: add_score}
  - {name: b, when: "true", score: -100, reason: B_1, message: B., action: review}
  - {name: c.d_e-f, when: "true", reason: C_1, message: C., action: decline}
  - {name: "0", when: "true", reason: D_1, message: D., action: approve, shadow: true}`},
		{"CEL over every variable", "refund", minimalCheck + `
verifiers:
  - {name: v, budget: 50ms, on_failure: ignore}
rules:
  - name: all
    when: >-
      request.amount_paid.amount_minor > 0 && 'X' in findings && signals['v.n'] == 1 &&
      verifiers['v'] == 'ok' && now > timestamp('2020-01-01T00:00:00Z') &&
      math.greatest(1, 2) == 2 && 'a b'.trim() == 'a b'
    reason: ALL
    message: Everything.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustLoad(t, wrapCheck(tt.check, tt.body), testKnown)
		})
	}
}

func TestLoadCompilesRules(t *testing.T) {
	// What Load keeps of a rule is what Evaluate and the error messages use.
	p := mustLoad(t, wrapCheck("gift_card_purchase", minimalCheck+`
actions:
  review: [MANUAL_REVIEW, HOLD_CODE_DELIVERY]
rules:
  - name: first
    when: request.session.active_call
    reason: ACTIVE_CALL
    message: In a call.
  - name: second
    when: request.session.new_device
    action: decline
    score: -5
    reason: NEW_DEVICE
    message: New device.
    shadow: true
    actions: [CONFIRM_WITH_ACCOUNT_HOLDER]`), testKnown)
	cp := p.Check(riskv1.Check_CHECK_GIFT_CARD_PURCHASE)
	if cp.ReviewAt != 30 || cp.DeclineAt != 70 {
		t.Errorf("thresholds = %d/%d, want 30/70", cp.ReviewAt, cp.DeclineAt)
	}
	if got := fmt.Sprint(cp.Actions[riskv1.Outcome_OUTCOME_REVIEW]); got != "[ACTION_MANUAL_REVIEW ACTION_HOLD_CODE_DELIVERY]" {
		t.Errorf("review actions = %s", got)
	}
	if len(cp.Rules) != 2 {
		t.Fatalf("%d rules, want 2", len(cp.Rules))
	}
	tests := []struct {
		got, want any
		what      string
	}{
		{cp.Rules[0].Name, "first", "rule 0 name"},
		{cp.Rules[0].Action, policy.AddScore, "rule 0 default action"},
		{cp.Rules[0].Line, 7, "rule 0 line"},
		{cp.Rules[1].Name, "second", "rule 1 name"},
		{cp.Rules[1].Action, policy.Decline, "rule 1 action"},
		{cp.Rules[1].Score, -5, "rule 1 score"},
		{cp.Rules[1].Shadow, true, "rule 1 shadow"},
		{cp.Rules[1].Reason, "NEW_DEVICE", "rule 1 reason"},
		{cp.Rules[1].Expr, "request.session.new_device", "rule 1 expr"},
		{fmt.Sprint(cp.Rules[1].Actions), "[ACTION_CONFIRM_WITH_ACCOUNT_HOLDER]", "rule 1 actions"},
		{cp.Rules[1].Line, 11, "rule 1 line"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.what, tt.got, tt.want)
		}
	}
}

// numbered prefixes each line with its number, for failure messages.
func numbered(doc string) string {
	var b strings.Builder
	for i, l := range strings.Split(doc, "\n") {
		fmt.Fprintf(&b, "%3d %s\n", i+1, l)
	}
	return b.String()
}

func TestLoadRefusesSignalsOfVerifiersNotRun(t *testing.T) {
	doc := string(wrapCheck("refund", minimalCheck+`
verifiers:
  - {name: v, budget: 50ms, on_failure: ignore}
rules:
  - {name: ok, when: "signals['v.n'] == 1", reason: OK_1, message: M.}
  - {name: typo, when: "'velocty.account.1h.count' in signals", reason: BAD_1, message: M.}
  - {name: bare, when: "signals['n'] == 1", reason: BAD_2, message: M.}`))
	_, err := policy.Load([]byte(doc), "lint.yaml", map[string]bool{"v": true})
	var ps policy.Problems
	if !errors.As(err, &ps) || len(ps) != 2 {
		t.Fatalf("got %v, want both bad rules reported", err)
	}
	if !strings.Contains(ps[0].Error(), `rule "typo"`) || !strings.Contains(ps[0].Error(), `does not run verifier "velocty"`) ||
		!strings.Contains(ps[1].Error(), `rule "bare"`) {
		t.Fatalf("problems: %v", err)
	}
}

func TestLoadRefusesASecondDocument(t *testing.T) {
	doc := "checks: {seller: {thresholds: {review: 30, decline: 70}}, gift_card_purchase: {thresholds: {review: 30, decline: 70}}, refund: {thresholds: {review: 30, decline: 70}}}\n---\nchecks: [not, a, policy]\n"
	_, err := policy.Load([]byte(doc), "two.yaml", nil)
	var pe *policy.Error
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "one YAML document") {
		t.Fatalf("got %v, want a refusal of the second document", err)
	}
}

// Guards: history_lookback is DefaultLookback (over a year) when absent,
// and what the policy says when present, in days or in Go's units.
func TestLoadHistoryLookback(t *testing.T) {
	for _, tc := range []struct {
		body string
		want time.Duration
	}{
		{minimalCheck, policy.DefaultLookback},
		{minimalCheck + "\nhistory_lookback: 500d", 500 * 24 * time.Hour},
		{minimalCheck + "\nhistory_lookback: 36h", 36 * time.Hour},
	} {
		p := mustLoad(t, wrapCheck("gift_card_purchase", tc.body), testKnown)
		if got := p.Check(riskv1.Check_CHECK_GIFT_CARD_PURCHASE).Lookback; got != tc.want {
			t.Errorf("%q: look-back %s, want %s", tc.body, got, tc.want)
		}
	}
	if policy.DefaultLookback < 400*24*time.Hour {
		t.Errorf("default look-back %s is under 400 days: a once-a-year buyer would look new", policy.DefaultLookback)
	}
	def, err := policy.Load(policy.DefaultBytes(), policy.DefaultSource, defaultKnown)
	if err != nil {
		t.Fatal(err)
	}
	if got := def.Check(riskv1.Check_CHECK_GIFT_CARD_PURCHASE).Lookback; got < 400*24*time.Hour {
		t.Errorf("the default policy reads %s of gift-card history, want at least 400 days", got)
	}
}
