package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"github.com/riskd/riskd/internal/testproc"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The console's callers: two analysts, a reader who may look but not
// act, and the checkout that makes the decisions.
const (
	analystToken  = "analyst-token-0123456789abcdefghijklmnop"
	analyst2Token = "analyst2-token-0123456789abcdefghijklmno"
	readerToken   = "reader-token-0123456789abcdefghijklmnopq"
	checkoutToken = "checkout-token-0123456789abcdefghijklmno"
)

// deskRiskd is a real riskd (the binary) with the console on its admin
// listener; it returns the process and the console's base URL.
func deskRiskd(t *testing.T) (*testproc.Process, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := "callers:\n" +
		"  - {name: analyst, token_sha256: " + auth.HashToken(analystToken) + ", grants: [/risk.v1.ReviewService/*]}\n" +
		"  - {name: analyst2, token_sha256: " + auth.HashToken(analyst2Token) + ", grants: [/risk.v1.ReviewService/*]}\n" +
		"  - {name: reader, token_sha256: " + auth.HashToken(readerToken) + ", grants: [/risk.v1.ReviewService/ListCases, /risk.v1.ReviewService/GetCase]}\n" +
		"  - {name: checkout, token_sha256: " + auth.HashToken(checkoutToken) + ", grants: [/risk.v1.RiskService/*]}\n"
	path := filepath.Join(dir, "riskd.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, "--config", path, "--admin-listen", "127.0.0.1:0",
		"--console-trace-url", "https://jaeger.example/trace/{trace_id}")
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range p.Logs() {
				if l["level"] == "ERROR" || l["level"] == "WARN" {
					t.Logf("riskd: %v", l)
				}
			}
		}
	})
	var admin string
	for _, l := range p.Logs() {
		if l["msg"] == "riskd ready" {
			admin, _ = l["admin_addr"].(string)
		}
	}
	if admin == "" {
		t.Fatal("riskd ready logged no admin_addr")
	}
	return p, "http://" + admin + "/console/"
}

// holdCoachedOrder scores the README's coached gift-card order through the
// gRPC API, after an earlier order on the same device, and returns the
// held decision's ID.
func holdCoachedOrder(t *testing.T, addr string) (held, earlier string) {
	t.Helper()
	return holdCoachedOrderOver(t, addr, insecure.NewCredentials())
}

// holdCoachedOrderOver is holdCoachedOrder over the given transport.
func holdCoachedOrderOver(t *testing.T, addr string, creds credentials.TransportCredentials) (held, earlier string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+checkoutToken)
	risk := riskv1.NewRiskServiceClient(conn)
	now := time.Now()
	order := func(name string) *riskv1.ScoreGiftCardPurchaseRequest {
		return &riskv1.ScoreGiftCardPurchaseRequest{
			RequestId: "req-" + name, OrderId: "order-" + name, AccountId: "acct-" + name,
			AccountCreatedAt: timestamppb.New(now.AddDate(-3, 0, 0)),
			Client:           &riskv1.Client{DeviceId: "dev-victim", IpAddress: "198.51.100.20"},
			Total:            &riskv1.Money{AmountMinor: 20000, Currency: "CNY"},
			Cards:            []*riskv1.GiftCardLine{{FaceValueMinor: 20000, Quantity: 1}},
			Payment:          &riskv1.PaymentInstrument{Fingerprint: "fp-" + name, Kind: riskv1.InstrumentKind_INSTRUMENT_KIND_DEBIT_CARD},
			Recipient:        &riskv1.Recipient{Email: name + "@example.com", OwnedByAccount: true, AddedAt: timestamppb.New(now.AddDate(-3, 0, 0))},
			Session: &riskv1.SessionFacts{CheckoutDuration: durationpb.New(45 * time.Second),
				DeviceFirstSeenAt: timestamppb.New(now.AddDate(-1, 0, 0))},
			Brand: "dangdang",
		}
	}
	// An ordinary order on the same device: the one to freeze once the
	// coached order is confirmed as fraud.
	r0, err := risk.ScoreGiftCardPurchase(ctx, order("earlier"))
	if err != nil || r0.GetDecision().GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
		t.Fatalf("the earlier order: %v, %v", r0.GetDecision().GetOutcome(), err)
	}
	// A coached victim: on a call, a remote-control app running, paying
	// with a loan drawn an hour ago.
	req := order("victim")
	req.Payment = &riskv1.PaymentInstrument{Fingerprint: "fp-loan", Kind: riskv1.InstrumentKind_INSTRUMENT_KIND_LOAN,
		CreditDrawnAt: timestamppb.New(now.Add(-time.Hour))}
	req.Session.ActiveCall, req.Session.RemoteAccessApp = true, true
	resp, err := risk.ScoreGiftCardPurchase(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	d := resp.GetDecision()
	if d.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW {
		t.Fatalf("coached order: %v %v, want REVIEW holding the codes", d.GetOutcome(), d.GetActions())
	}
	return d.GetDecisionId(), r0.GetDecision().GetDecisionId()
}

// browser is an HTTP client with its own cookies: one signed-in user.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	lang string
	// header is sent with every request (a proxy's certificate header).
	header http.Header
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

func (b *browser) do(method, path string, form url.Values) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in %s", page)
	}
	return m[1]
}

func (b *browser) signIn(token string) string {
	b.t.Helper()
	_, page := b.do("GET", "signin", nil)
	code, queue := b.do("POST", "signin", url.Values{"csrf": {csrfOf(b.t, page)}, "token": {token}})
	if code != http.StatusOK || !strings.Contains(queue, `id="queue-rows"`) {
		b.t.Fatalf("sign-in: %d %s", code, queue)
	}
	return queue
}

func TestConsoleFromHeldOrderToFreezeList(t *testing.T) {
	p, base := deskRiskd(t)
	held, earlier := holdCoachedOrder(t, p.Addr)

	// Signing in with a token that is no caller's is refused.
	stranger := newBrowser(t, base)
	_, page := stranger.do("GET", "signin", nil)
	if code, _ := stranger.do("POST", "signin", url.Values{"csrf": {csrfOf(t, page)}, "token": {"not-a-token"}}); code != http.StatusUnauthorized {
		t.Errorf("sign-in with an unknown token: %d, want 401", code)
	}
	if code, _ := stranger.do("GET", "queue", nil); code != http.StatusOK {
		t.Errorf("queue signed out: %d", code)
	}

	a := newBrowser(t, base)
	queue := a.signIn(analystToken)
	if !strings.Contains(queue, `data-id="`+held+`"`) || !strings.Contains(queue, "Gift card purchase") {
		t.Fatalf("the queue does not show the held order %s:\n%s", held, queue)
	}
	_, rows := a.do("GET", "queue/rows", nil)
	if !strings.Contains(rows, held) || strings.Contains(rows, "<html") || !strings.Contains(rows, `<td class="amount">CNY 200.00</td>`) {
		t.Errorf("queue/rows is not the rows fragment with the case and its amount:\n%s", rows)
	}

	_, casePage := a.do("GET", "case/"+held, nil)
	for _, want := range []string{`id="claim"`, "https://jaeger.example/trace/", "Policy version"} {
		if !strings.Contains(casePage, want) {
			t.Errorf("case page lacks %q", want)
		}
	}
	// The earlier order on the same device is a related decision, and
	// the case page says what they share.
	if m := regexp.MustCompile(`(?s)<tr class="related-decision">.*?</tr>`).FindAllString(casePage, -1); len(m) != 1 ||
		!strings.Contains(m[0], earlier) || !strings.Contains(m[0], ">Device<") {
		t.Errorf("related decisions on the case page: %q, want the earlier order, sharing the device", m)
	}
	csrf := csrfOf(t, casePage)

	// CSRF: missing and wrong tokens are refused, and nothing happens.
	if code, _ := a.do("POST", "case/"+held+"/claim", url.Values{}); code != http.StatusForbidden {
		t.Errorf("claim without a CSRF token: %d, want 403", code)
	}
	if code, _ := a.do("POST", "case/"+held+"/claim", url.Values{"csrf": {csrf + "x"}}); code != http.StatusForbidden {
		t.Errorf("claim with a wrong CSRF token: %d, want 403", code)
	}
	if _, pg := a.do("GET", "case/"+held, nil); !strings.Contains(pg, `id="claim"`) {
		t.Error("a refused claim claimed the case")
	}

	code, casePage := a.do("POST", "case/"+held+"/claim", url.Values{"csrf": {csrf}})
	if code != http.StatusOK || !strings.Contains(casePage, `id="confirm-fraud"`) || !strings.Contains(casePage, "analyst (") {
		t.Fatalf("after claiming: %d\n%s", code, casePage)
	}

	// Released, the case can be claimed again (by anyone); claimed back.
	if code, pg := a.do("POST", "case/"+held+"/release", url.Values{"csrf": {csrf}}); code != http.StatusOK || !strings.Contains(pg, `id="claim"`) {
		t.Fatalf("after releasing: %d, want the claim offered again", code)
	}
	if code, _ := a.do("POST", "case/"+held+"/claim", url.Values{"csrf": {csrf}}); code != http.StatusOK {
		t.Fatalf("claiming again: %d", code)
	}

	// A second analyst sees the claim and cannot take or resolve the case.
	b := newBrowser(t, base)
	b.signIn(analyst2Token)
	_, other := b.do("GET", "case/"+held, nil)
	if strings.Contains(other, `id="confirm-fraud"`) || strings.Contains(other, `id="claim"`) {
		t.Error("a second analyst is offered actions on a case someone holds")
	}
	if code, pg := b.do("POST", "case/"+held+"/resolve", url.Values{"csrf": {csrfOf(t, other)}, "resolution": {"legitimate"}}); code != http.StatusConflict || !strings.Contains(pg, "Someone else holds the claim") {
		t.Errorf("a second analyst's resolve: %d, want 409 (claimed by another)", code)
	}

	code, done := a.do("POST", "case/"+held+"/resolve", url.Values{"csrf": {csrf}, "resolution": {"confirmed_fraud"}, "note": {"holder confirmed a call from fake customer service"}})
	if code != http.StatusOK {
		t.Fatalf("resolve: %d\n%s", code, done)
	}
	for _, want := range []string{`id="freeze"`, "Related orders to freeze", earlier, "Freeze issued codes", "Confirmed fraud", "holder confirmed a call"} {
		if !strings.Contains(done, want) {
			t.Errorf("after resolving, the case page lacks %q", want)
		}
	}
	if strings.Contains(done, `id="actions"`) {
		t.Error("a resolved case still offers actions")
	}
	// A note on the resolved case goes into its audit trail.
	if code, pg := a.do("POST", "case/"+held+"/note", url.Values{"csrf": {csrf}, "note": {"codes of the earlier order frozen"}}); code != http.StatusOK || !strings.Contains(pg, "codes of the earlier order frozen") {
		t.Errorf("adding a note: %d", code)
	}
	// The second analyst, too late, is told it was resolved.
	if code, pg := b.do("POST", "case/"+held+"/claim", url.Values{"csrf": {csrfOf(t, other)}}); code != http.StatusConflict || !strings.Contains(pg, "already been resolved") {
		t.Errorf("claiming a resolved case: %d, want 409 (resolved)", code)
	}
	if _, q := a.do("GET", "queue/rows", nil); strings.Contains(q, held) {
		t.Error("the resolved case is still in the queue")
	}
	// The search finds both orders on the device, by the device ID riskd
	// pseudonymises as at decision time; the form is posted, so the
	// identifier is in no URL.
	_, form := a.do("GET", "search", nil)
	if !strings.Contains(form, `id="search-nav"`) {
		t.Error("the analyst is not offered the search")
	}
	code, found := a.do("POST", "search", url.Values{"csrf": {csrfOf(t, form)}, "check": {"CHECK_GIFT_CARD_PURCHASE"},
		"subject_kind": {"SUBJECT_KIND_DEVICE"}, "subject": {"dev-victim"}})
	if n := strings.Count(found, `class="result"`); code != http.StatusOK || n != 2 || !strings.Contains(found, `href="/console/case/`+held+`"`) {
		t.Errorf("search by device: %d, %d results, want 2 with the held order's case linked:\n%s", code, n, found)
	}
	if _, none := a.do("POST", "search", url.Values{"csrf": {csrfOf(t, form)}, "subject_kind": {"SUBJECT_KIND_DEVICE"}, "subject": {"dev-other"}}); strings.Contains(none, `class="result"`) {
		t.Error("search by another device found decisions")
	}
	// The rule page counts the hit and, the case being answered as
	// fraud, its precision; the case page links to it.
	if !strings.Contains(done, `href="/console/rule/ACTIVE_CALL"`) {
		t.Error("the case page does not link its reasons' rules")
	}
	if code, rule := a.do("GET", "rule/ACTIVE_CALL", nil); code != http.StatusOK || !strings.Contains(rule, `<dd id="hits">1</dd>`) ||
		!strings.Contains(rule, `<dd id="precision">100%</dd>`) || !strings.Contains(rule, held) {
		t.Errorf("rule page: %d\n%s", code, rule)
	}
	// Signed out, the session is gone.
	_, q := a.do("GET", "queue", nil)
	a.do("POST", "signout", url.Values{"csrf": {csrfOf(t, q)}})
	if code, _ := a.do("POST", "case/"+held+"/note", url.Values{"csrf": {csrf}, "note": {"x"}}); code != http.StatusForbidden {
		t.Errorf("a POST after sign-out: %d, want 403", code)
	}
}

// A user whose grants allow reading sees the case and no action, and a
// resolve posted anyway (with a valid CSRF token) is refused by the
// server's grants.
func TestConsoleReaderCannotAct(t *testing.T) {
	p, base := deskRiskd(t)
	held, _ := holdCoachedOrder(t, p.Addr)
	r := newBrowser(t, base)
	if q := r.signIn(readerToken); !strings.Contains(q, held) {
		t.Fatal("the reader does not see the queue")
	}
	_, pg := r.do("GET", "case/"+held, nil)
	for _, action := range []string{`id="claim"`, `id="confirm-fraud"`, `id="release"`} {
		if strings.Contains(pg, action) {
			t.Errorf("the reader is offered %s", action)
		}
	}
	csrf := csrfOf(t, pg)
	if strings.Contains(pg, `id="related-decisions"`) {
		t.Error("the reader is shown related decisions, which need ListRelatedDecisions")
	}
	if strings.Contains(pg, `id="search-nav"`) {
		t.Error("the reader is offered the search, which needs ListDecisions")
	}
	if code, _ := r.do("POST", "search", url.Values{"csrf": {csrf}}); code != http.StatusForbidden {
		t.Errorf("the reader's search (not granted ListDecisions): %d, want 403", code)
	}
	for _, action := range []string{"claim", "resolve"} {
		code, out := r.do("POST", "case/"+held+"/"+action, url.Values{"csrf": {csrf}, "resolution": {"confirmed_fraud"}})
		if code != http.StatusForbidden || !strings.Contains(out, "Your grants do not allow this") {
			t.Errorf("the reader's forged %s: %d, want 403", action, code)
		}
	}
}

func TestConsoleInChinese(t *testing.T) {
	p, base := deskRiskd(t)
	held, _ := holdCoachedOrder(t, p.Addr)
	c := newBrowser(t, base)
	c.lang = "zh-CN,zh;q=0.9"
	q := c.signIn(analystToken)
	for _, want := range []string{`<html lang="zh-CN">`, "待处理案件", "礼品卡购买", "未认领"} {
		if !strings.Contains(q, want) {
			t.Errorf("zh-CN queue lacks %q", want)
		}
	}
	// The switch wins over the browser's language, and is kept.
	if _, pg := c.do("GET", "lang/en?back=/console/case/"+held, nil); !strings.Contains(pg, `<html lang="en">`) || !strings.Contains(pg, "Claim") {
		t.Error("switching to English did not show the case in English")
	}
	if _, pg := c.do("GET", "lang/zh-CN?back=https://evil.example/", nil); !strings.Contains(pg, "待处理案件") {
		t.Error("the switch did not go back to the queue for a foreign back URL")
	}
	_, pg := c.do("GET", "case/"+held, nil)
	if !strings.Contains(pg, "认领") || !strings.Contains(pg, "审计记录") {
		t.Error("zh-CN case page not in Chinese")
	}
}

// The console on a non-loopback admin listener (the Kubernetes manifest's,
// for Prometheus) is served, with a warning that its tokens travel in the
// clear.
func TestConsoleOffLoopbackIsWarned(t *testing.T) {
	p := startBinary(t, "--admin-listen", "0.0.0.0:0")
	if !slices.ContainsFunc(p.Messages(), func(m string) bool { return strings.HasPrefix(m, "the review console is served on a non-loopback") }) {
		t.Errorf("no warning of the console off loopback in %q", p.Messages())
	}
	q := startBinary(t, "--admin-listen", "127.0.0.1:0")
	if slices.ContainsFunc(q.Messages(), func(m string) bool { return strings.HasPrefix(m, "the review console is served on a non-loopback") }) {
		t.Error("the console on loopback is warned of")
	}
}
