package console

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// clock is a settable time for the sessions' expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const testToken = "analyst-token-0123456789abcdefghijklmnop"

// newTestConsole is a console whose gRPC connection is never used by the
// pages these tests open (sign-in reads only the auth table).
func newTestConsole(t *testing.T) (*Console, *clock) {
	t.Helper()
	table, err := auth.New([]auth.Caller{{Name: "analyst", TokenSHA256: auth.HashToken(testToken), Grants: []string{"/risk.v1.ReviewService/*"}}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("passthrough:///127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	clk := &clock{t: time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}
	c, err := New(Options{Conn: conn, Auth: table, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in and returns the session cookie.
func signIn(t *testing.T, c *Console, overTLS bool) *http.Cookie {
	t.Helper()
	get := httptest.NewRequest("GET", "/console/signin", nil)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, get)
	pre := w.Result().Cookies()[0]
	m := csrfRE.FindStringSubmatch(w.Body.String())
	if m == nil || m[1] != pre.Value {
		t.Fatalf("sign-in form without its CSRF token: %s", w.Body)
	}
	post := httptest.NewRequest("POST", "/console/signin", strings.NewReader(url.Values{"csrf": {m[1]}, "token": {testToken}}.Encode()))
	if overTLS {
		post.TLS = &tls.ConnectionState{}
	}
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.AddCookie(pre)
	w = httptest.NewRecorder()
	c.ServeHTTP(w, post)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", w.Code, w.Body)
	}
	for _, ck := range w.Result().Cookies() {
		if ck.Name == sessionCookie {
			return ck
		}
	}
	t.Fatal("sign-in set no session cookie")
	return nil
}

func TestSessionCookieIsLockedDown(t *testing.T) {
	c, _ := newTestConsole(t)
	ck := signIn(t, c, false)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != Prefix || len(ck.Value) < 40 {
		t.Errorf("session cookie %+v, want HttpOnly, SameSite=Strict, a long random value, under %s", ck, Prefix)
	}
	again := signIn(t, c, true)
	if again.Value == ck.Value {
		t.Error("two sign-ins got the same session ID")
	}
	if !again.Secure {
		t.Error("the session cookie of a sign-in over TLS is not Secure")
	}
}

// A session nobody used for the idle timeout is gone: the next page is the
// sign-in, and a POST with its old CSRF token is refused.
func TestSessionExpiresWhenIdle(t *testing.T) {
	c, clk := newTestConsole(t)
	ck := signIn(t, c, false)
	if s := c.sessionByID(ck.Value); s == nil {
		t.Fatal("no session after sign-in")
	}
	clk.advance(idleTimeout + time.Second)
	r := httptest.NewRequest("GET", "/console/queue", nil)
	r.AddCookie(ck)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != Prefix+"signin" {
		t.Errorf("an idle session's queue: %d to %q, want the sign-in", w.Code, w.Header().Get("Location"))
	}
	if c.sessionByID(ck.Value) != nil {
		t.Error("the expired session (and its token) is still held")
	}
}

func TestSessionEndsAtMaxAgeHoweverBusy(t *testing.T) {
	c, clk := newTestConsole(t)
	ck := signIn(t, c, false)
	for elapsed := time.Duration(0); elapsed <= maxAge; elapsed += idleTimeout / 2 {
		clk.advance(idleTimeout / 2)
		r := httptest.NewRequest("GET", "/console/lang/en", nil)
		r.AddCookie(ck)
		c.session(r)
	}
	if c.sessionByID(ck.Value) != nil {
		t.Errorf("a session used every %s outlived %s", idleTimeout/2, maxAge)
	}
}

func TestSignInNeedsItsCSRFCookie(t *testing.T) {
	c, _ := newTestConsole(t)
	post := httptest.NewRequest("POST", "/console/signin", strings.NewReader(url.Values{"csrf": {"forged"}, "token": {testToken}}.Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.AddCookie(&http.Cookie{Name: preCookie, Value: "other"})
	w := httptest.NewRecorder()
	c.ServeHTTP(w, post)
	if w.Code != http.StatusForbidden {
		t.Errorf("a forged sign-in: %d, want 403", w.Code)
	}
}

func TestLanguageSwitchGoesBackOnlyToTheConsole(t *testing.T) {
	c, _ := newTestConsole(t)
	for back, want := range map[string]string{
		"/console/case/x":       "/console/case/x",
		"https://evil.example/": "/console/queue",
		"//evil.example/":       "/console/queue",
		"/console\\..\\x":       "/console/queue",
	} {
		r := httptest.NewRequest("GET", "/console/lang/zh-CN?back="+url.QueryEscape(back), nil)
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if got := w.Header().Get("Location"); got != want {
			t.Errorf("back=%q: to %q, want %q", back, got, want)
		}
	}
}
