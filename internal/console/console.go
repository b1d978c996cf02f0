// Package console is the review desk's web console: server-rendered pages
// on riskd's admin listener, in zh-CN and en, for the analyst who works
// held orders all day.
//
// The console holds no business logic of its own: every page is a call to
// risk.v1.ReviewService over a gRPC connection to riskd's own listener,
// made with the signed-in user's bearer token. So the per-method grants of
// internal/auth apply to a console user exactly as to an API caller, and a
// form the page did not offer (a read-only user's forged resolve) is
// refused by the same check. The auth table is consulted only to decide
// which actions to show.
package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/riskd/riskd/internal/auth"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console is mounted on the admin listener.
const Prefix = "/console/"

const (
	sessionCookie = "riskd_console_session"
	// preCookie carries the sign-in form's CSRF token before there is a
	// session (double submit): a sign-in forged by another site would
	// otherwise sign the analyst in as the attacker.
	preCookie  = "riskd_console_pre"
	langCookie = "riskd_console_lang"
	// idleTimeout ends a session nobody used for this long; maxAge ends
	// any session, however busy, so a token left on a shared desk expires.
	idleTimeout = 30 * time.Minute
	maxAge      = 12 * time.Hour
	callTimeout = 5 * time.Second
)

// Options configure the console.
type Options struct {
	// Conn is a client connection to riskd's own gRPC listener.
	Conn grpc.ClientConnInterface
	// Auth is the configured callers, to tell which actions a user may
	// take (the server checks again on every call).
	Auth *auth.Table
	// TraceURL is a URL template with {trace_id}, or empty for no link.
	TraceURL string
	Logger   *slog.Logger
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
	// CertHeader, if set, offers sign-in with a client certificate that a
	// TLS proxy at one of TrustedProxies verified and passes in this
	// header (URL-encoded PEM). The console verifies it again against
	// ClientCAs and finds the caller by its client_cn.
	CertHeader     string
	TrustedProxies []netip.Prefix
	ClientCAs      func() *x509.CertPool
}

type session struct {
	// token is the user's bearer token; empty for a user signed in with a
	// client certificate, whose calls carry an auth.Delegate value.
	token   string
	user    string
	csrf    string
	created time.Time
	used    time.Time
	// resolved keeps the last resolution's event per case, shown once on
	// the case page after the redirect (the freeze list is in the event,
	// not in the case).
	resolved map[string]*riskv1.CaseEvent
}

// Console is the console's http.Handler.
type Console struct {
	opts  Options
	desk  riskv1.ReviewServiceClient
	pages *template.Template
	mux   *http.ServeMux

	mu       sync.Mutex
	sessions map[string]*session
}

// New builds the console.
func New(opts Options) (*Console, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{opts: opts, desk: riskv1.NewReviewServiceClient(opts.Conn), sessions: map[string]*session{}}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = pages
	static, _ := fs.Sub(staticFS, "static")
	m := http.NewServeMux()
	m.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", http.FileServerFS(static)))
	m.HandleFunc("GET "+Prefix+"{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"queue", http.StatusSeeOther)
	})
	m.HandleFunc("GET "+Prefix+"lang/{lang}", c.setLang)
	m.HandleFunc("GET "+Prefix+"signin", c.signinPage)
	m.HandleFunc("POST "+Prefix+"signin", c.signin)
	if opts.CertHeader != "" {
		m.HandleFunc("POST "+Prefix+"signin/cert", c.signinCert)
	}
	m.HandleFunc("POST "+Prefix+"signout", c.withSession(c.signout))
	m.HandleFunc("GET "+Prefix+"queue", c.withSession(c.queue("queue")))
	m.HandleFunc("GET "+Prefix+"queue/rows", c.withSession(c.queue("rows")))
	m.HandleFunc("GET "+Prefix+"case/{id}", c.withSession(c.casePage))
	m.HandleFunc("GET "+Prefix+"search", c.withSession(c.search))
	m.HandleFunc("GET "+Prefix+"rule/{code}", c.withSession(c.rulePage))
	m.HandleFunc("POST "+Prefix+"search", c.withSession(c.search))
	m.HandleFunc("POST "+Prefix+"case/{id}/{action}", c.withSession(c.caseAction))
	c.mux = m
	return c, nil
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The pages are for this origin only: no framing (clickjacking on the
	// resolve buttons), no inline script, no referrer carrying case IDs.
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	// The console's forms are a token, a note and a few filters.
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	c.mux.ServeHTTP(w, r)
}

func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, age time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: Prefix, MaxAge: int(age.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// session finds the request's live session, touching it.
func (c *Console) session(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return c.sessionByID(ck.Value)
}

// sessionByID is the live session with this ID, touched; an expired one
// is dropped, with its token.
func (c *Console) sessionByID(id string) *session {
	now := c.opts.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[id]
	if s == nil {
		return nil
	}
	if now.Sub(s.used) > idleTimeout || now.Sub(s.created) > maxAge {
		delete(c.sessions, id)
		return nil
	}
	s.used = now
	return s
}

// sweep drops expired sessions, so tokens do not stay in memory after
// their session ended; run on each sign-in, which is when sessions grow.
func (c *Console) sweep(now time.Time) {
	for id, s := range c.sessions {
		if now.Sub(s.used) > idleTimeout || now.Sub(s.created) > maxAge {
			delete(c.sessions, id)
		}
	}
}

// withSession sends a request without a session to sign in, and checks
// the CSRF token of every POST.
func (c *Console) withSession(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.session(r)
		if s == nil {
			if r.Method == http.MethodPost {
				c.fail(w, r, nil, http.StatusForbidden, "err_signed_out")
				return
			}
			http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !sameToken(r.PostFormValue("csrf"), s.csrf) {
			c.fail(w, r, s, http.StatusForbidden, "err_csrf")
			return
		}
		h(w, r, s)
	}
}

func sameToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// callCtx is a call's context carrying the user's token, as an API caller
// would send it; or, for a user signed in with a certificate, a
// delegation that lasts no longer than the call.
func (c *Console) callCtx(r *http.Request, s *session) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	if s.token == "" {
		return metadata.AppendToOutgoingContext(ctx, auth.DelegateHeader, c.opts.Auth.Delegate(s.user, time.Now().Add(callTimeout+time.Second))), cancel
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.token), cancel
}

// userIdentity is the signed-in user's caller in the auth table.
func (c *Console) userIdentity(s *session) *auth.Identity {
	if s.token == "" {
		return c.opts.Auth.ByName(s.user)
	}
	return c.identity(s.token)
}

// identity is who a token belongs to in the auth table, to show only the
// actions its grants allow; nil when the token is unknown.
func (c *Console) identity(token string) *auth.Identity {
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
	ctx, err := c.opts.Auth.Authenticate(ctx, nil)
	if err != nil {
		return nil
	}
	id, _ := auth.FromContext(ctx)
	return id
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	c.renderSignin(w, r, http.StatusOK, "")
}

func (c *Console) renderSignin(w http.ResponseWriter, r *http.Request, code int, errKey string) {
	pre := randomID()
	c.setCookie(w, r, preCookie, pre, 10*time.Minute)
	c.render(w, r, code, "signin", &page{CSRF: pre, Error: errKey, CertSignin: c.opts.CertHeader != ""})
}

func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(preCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), ck.Value) {
		c.fail(w, r, nil, http.StatusForbidden, "err_csrf")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	id := c.identity(token)
	if token == "" || id == nil {
		// The same answer for an unknown token and an empty one; nothing
		// about the token is logged.
		c.renderSignin(w, r, http.StatusUnauthorized, "err_bad_token")
		return
	}
	c.startSession(w, r, token, id.Name, "token")
}

// startSession signs the user in: a new session, its cookie, and the
// queue.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, token, user, how string) {
	now := c.opts.Now()
	s := &session{token: token, user: user, csrf: randomID(), created: now, used: now, resolved: map[string]*riskv1.CaseEvent{}}
	sid := randomID()
	c.mu.Lock()
	c.sweep(now)
	c.sessions[sid] = s
	c.mu.Unlock()
	c.setCookie(w, r, preCookie, "", -time.Second)
	c.setCookie(w, r, sessionCookie, sid, maxAge)
	c.opts.Logger.Info("console sign-in", "caller", user, "with", how)
	http.Redirect(w, r, Prefix+"queue", http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request, _ *session) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.mu.Lock()
		delete(c.sessions, ck.Value)
		c.mu.Unlock()
	}
	c.setCookie(w, r, sessionCookie, "", -time.Second)
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}

func (c *Console) setLang(w http.ResponseWriter, r *http.Request) {
	lang := r.PathValue("lang")
	if _, ok := catalogs[lang]; !ok {
		http.NotFound(w, r)
		return
	}
	c.setCookie(w, r, langCookie, lang, 365*24*time.Hour)
	back := Prefix + "queue"
	// Only a path of ours to go back to: never an open redirect.
	if b := r.URL.Query().Get("back"); strings.HasPrefix(b, Prefix) && !strings.ContainsAny(b, "\\") && !strings.HasPrefix(b, "//") {
		back = b
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
