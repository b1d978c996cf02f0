// Package auth says who is calling riskd and what they may call. A caller
// proves who it is with a client certificate (mTLS) or a bearer token;
// tokens are configured only as SHA-256 hashes, so a leaked config file
// leaks no token. Each caller is granted a list of methods; everything else
// is PERMISSION_DENIED.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Caller is one configured client of riskd.
type Caller struct {
	// Name identifies the caller in logs, metrics and rate limits.
	Name string `yaml:"name"`
	// TokenSHA256 is the hex SHA-256 of the caller's bearer token.
	TokenSHA256 string `yaml:"token_sha256"`
	// ClientCN is the common name (or a DNS name) of the caller's client
	// certificate, verified against the configured client CA.
	ClientCN string `yaml:"client_cn"`
	// Grants are full method names ("/risk.v1.RiskService/EvaluateRefund")
	// or a service with "/*" ("/risk.v1.RiskService/*").
	Grants []string `yaml:"grants"`
}

// Identity is an authenticated caller.
type Identity struct {
	Name   string
	grants []string
	// tokenField names where the caller's token hash is configured
	// ("callers[2].token_sha256"), for the short-token warning.
	tokenField string
	// shortTokenWarned is set once the short-token warning was logged:
	// one line per caller per process, not one per call.
	shortTokenWarned atomic.Bool
}

// MinTokenLen is the shortest bearer token, in characters, that riskd
// takes without a warning: 22 base64url characters carry 132 bits if
// random, and anything shorter carries fewer than 128 however it was
// made. `riskd token` makes 43 (256 bits).
const MinTokenLen = 22

// Anonymous is the caller when no credentials are configured at all: riskd
// then listens on loopback only, and everything is allowed.
var Anonymous = &Identity{Name: "anonymous", grants: []string{"*"}}

type ctxKey struct{}

// FromContext returns the caller of a call that passed authentication.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok
}

// Table is the configured callers.
type Table struct {
	byToken map[[sha256.Size]byte]*Identity
	byCN    map[string]*Identity
	byName  map[string]*Identity
	// delegateKey signs the review console's calls for a user who signed
	// in with a client certificate (Delegate): random per process, so it
	// never leaves the process that made it.
	delegateKey [32]byte
}

// New checks the callers and builds the table.
func New(callers []Caller) (*Table, error) {
	t := &Table{byToken: map[[sha256.Size]byte]*Identity{}, byCN: map[string]*Identity{}, byName: map[string]*Identity{}}
	_, _ = rand.Read(t.delegateKey[:]) // crypto/rand.Read never fails
	emptyToken := sha256.Sum256(nil)
	names := map[string]bool{}
	for i, c := range callers {
		if c.Name == "" || names[c.Name] {
			return nil, fmt.Errorf("callers[%d]: a unique name is required", i)
		}
		names[c.Name] = true
		if c.TokenSHA256 == "" && c.ClientCN == "" {
			return nil, fmt.Errorf("callers[%d] (%s): give token_sha256 or client_cn", i, c.Name)
		}
		if len(c.Grants) == 0 {
			return nil, fmt.Errorf("callers[%d] (%s): grant at least one method", i, c.Name)
		}
		for _, g := range c.Grants {
			if !strings.HasPrefix(g, "/") || strings.Count(g, "/") != 2 {
				return nil, fmt.Errorf("callers[%d] (%s): grant %q must be /package.Service/Method or /package.Service/*", i, c.Name, g)
			}
		}
		id := &Identity{Name: c.Name, grants: c.Grants, tokenField: fmt.Sprintf("callers[%d].token_sha256", i)}
		t.byName[c.Name] = id
		if c.TokenSHA256 != "" {
			b, err := hex.DecodeString(c.TokenSHA256)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("callers[%d] (%s): token_sha256 must be 64 hex digits", i, c.Name)
			}
			h := [sha256.Size]byte(b)
			switch {
			case h == emptyToken:
				// `printf %s "$TOKEN" | sha256sum` with TOKEN unset.
				return nil, fmt.Errorf("callers[%d] (%s): token_sha256 is the hash of an empty token: anyone sending no token would be this caller", i, c.Name)
			case t.byToken[h] != nil:
				return nil, fmt.Errorf("callers[%d] (%s): token_sha256 is also %s's: one token cannot be two callers", i, c.Name, t.byToken[h].Name)
			}
			t.byToken[h] = id
		}
		if c.ClientCN != "" {
			if t.byCN[c.ClientCN] != nil {
				return nil, fmt.Errorf("callers[%d] (%s): client_cn %q is used twice", i, c.Name, c.ClientCN)
			}
			t.byCN[c.ClientCN] = id
		}
	}
	return t, nil
}

// Empty reports whether no caller is configured.
func (t *Table) Empty() bool { return len(t.byToken) == 0 && len(t.byCN) == 0 }

// HashToken is what a token's token_sha256 is, for operators and tests.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

var errNoCredentials = errors.New("no credentials")

// Authenticate finds the caller of a call: a verified client certificate
// first, then a bearer token. With no callers configured, it is Anonymous.
//
// A caller that authenticates with a token shorter than MinTokenLen is
// let in, and log (if not nil) gets one warning per caller per process
// naming the field to replace. Refusing it instead would lock out a
// running deployment on upgrade, for a token that has worked until now;
// riskd stores only hashes, so this first use is the earliest it can tell.
func (t *Table) Authenticate(ctx context.Context, log *slog.Logger) (context.Context, error) {
	if t.Empty() {
		return context.WithValue(ctx, ctxKey{}, Anonymous), nil
	}
	if id := t.fromCertificate(ctx); id != nil {
		return context.WithValue(ctx, ctxKey{}, id), nil
	}
	id, tokenLen, err := t.fromToken(ctx)
	if err != nil {
		// Looked at only when there is no token: a caller's call costs
		// nothing more.
		if id := t.fromDelegation(ctx, time.Now()); id != nil {
			return context.WithValue(ctx, ctxKey{}, id), nil
		}
		return nil, status.Error(codes.Unauthenticated, "authenticate with a client certificate or an authorization: Bearer token")
	}
	// A long token costs one comparison here: nothing is allocated.
	if tokenLen < MinTokenLen && log != nil && id.shortTokenWarned.CompareAndSwap(false, true) {
		log.WarnContext(ctx, "caller's bearer token is too short: fewer than 128 bits; the call is allowed, but make a new token with `riskd token`, give it to the caller and put its hash in the field",
			"caller", id.Name, "field", id.tokenField, "min_chars", MinTokenLen)
	}
	return context.WithValue(ctx, ctxKey{}, id), nil
}

func (t *Table) fromCertificate(ctx context.Context) *Identity {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 {
		return nil // only a certificate the client CA verified counts
	}
	return t.ForCertificate(info.State.VerifiedChains[0][0])
}

// ForCertificate is the caller a client certificate names, by its common
// name or one of its DNS names; nil if none. The certificate must have
// been verified against the client CA already.
func (t *Table) ForCertificate(leaf *x509.Certificate) *Identity {
	if id := t.byCN[leaf.Subject.CommonName]; id != nil {
		return id
	}
	for _, n := range leaf.DNSNames {
		if id := t.byCN[n]; id != nil {
			return id
		}
	}
	return nil
}

// ByName is the configured caller of that name, nil if none.
func (t *Table) ByName(name string) *Identity { return t.byName[name] }

// DelegateHeader carries the review console's calls on behalf of a user
// who signed in with a client certificate, and so has no token to send.
const DelegateHeader = "x-riskd-console-user"

// Delegate is the DelegateHeader value that authenticates a call as the
// caller name until until: "name.unix-seconds.MAC", the MAC keyed by this
// process's own random key. Only the console in this process can make
// one, and one seen by anyone else stops working at until.
func (t *Table) Delegate(name string, until time.Time) string {
	v := name + "." + strconv.FormatInt(until.Unix(), 10)
	return v + "." + base64.RawURLEncoding.EncodeToString(t.delegationMAC(v))
}

func (t *Table) delegationMAC(v string) []byte {
	m := hmac.New(sha256.New, t.delegateKey[:])
	m.Write([]byte(v))
	return m.Sum(nil)
}

// fromDelegation finds the caller a valid, unexpired Delegate value names.
func (t *Table) fromDelegation(ctx context.Context, now time.Time) *Identity {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(DelegateHeader)
	if len(vals) != 1 {
		return nil
	}
	v, macText, ok := cutLast(vals[0])
	if !ok {
		return nil
	}
	mac, err := base64.RawURLEncoding.DecodeString(macText)
	if err != nil || !hmac.Equal(mac, t.delegationMAC(v)) {
		return nil
	}
	name, untilText, _ := cutLast(v)
	until, err := strconv.ParseInt(untilText, 10, 64)
	if err != nil || now.Unix() >= until {
		return nil
	}
	return t.byName[name]
}

// cutLast cuts s around its last ".".
func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// fromToken finds the caller by its bearer token, and says how long the
// token was (in bytes: a token from `riskd token` is ASCII).
func (t *Table) fromToken(ctx context.Context) (*Identity, int, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		scheme, token, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
			continue
		}
		token = strings.TrimSpace(token)
		// Hashed from a buffer on the stack: []byte(token) allocates for
		// a token over 32 bytes, and `riskd token` makes 43.
		var buf [64]byte
		sum := sha256.Sum256(append(buf[:0], token...))
		// A map lookup by hash: the token itself is never compared, and
		// its hash leaks nothing useful through timing.
		if id := t.byToken[sum]; id != nil {
			return id, len(token), nil
		}
	}
	return nil, 0, errNoCredentials
}

// Allowed reports whether the caller may call fullMethod.
func (id *Identity) Allowed(fullMethod string) bool {
	service := fullMethod[:strings.LastIndexByte(fullMethod, '/')+1]
	for _, g := range id.grants {
		if g == "*" || subtle.ConstantTimeCompare([]byte(g), []byte(fullMethod)) == 1 || g == service+"*" {
			return true
		}
	}
	return false
}
