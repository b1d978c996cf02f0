package auth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const (
	riskSvc   = "/risk.v1.RiskService/"
	policySvc = "/risk.v1.PolicyService/"
)

func TestNewRefusesBadCallers(t *testing.T) {
	hash := auth.HashToken("s3cret")
	ok := func(name string) auth.Caller {
		return auth.Caller{Name: name, TokenSHA256: hash, Grants: []string{riskSvc + "CheckSeller"}}
	}
	for _, tc := range []struct {
		name    string
		callers []auth.Caller
		want    string // part of the error
	}{
		{"missing name", []auth.Caller{{TokenSHA256: hash, Grants: []string{riskSvc + "*"}}}, "unique name"},
		{"duplicate name", []auth.Caller{ok("a"), {Name: "a", TokenSHA256: auth.HashToken("other"), Grants: []string{riskSvc + "*"}}}, "unique name"},
		{"neither token nor cn", []auth.Caller{{Name: "a", Grants: []string{riskSvc + "*"}}}, "token_sha256 or client_cn"},
		{"no grants", []auth.Caller{{Name: "a", TokenSHA256: hash}}, "grant at least one"},
		{"empty grant list", []auth.Caller{{Name: "a", ClientCN: "a.test", Grants: []string{}}}, "grant at least one"},
		{"grant without leading slash", []auth.Caller{{Name: "a", TokenSHA256: hash, Grants: []string{"risk.v1.RiskService/CheckSeller"}}}, "must be /package.Service/Method"},
		{"grant without method", []auth.Caller{{Name: "a", TokenSHA256: hash, Grants: []string{"/risk.v1.RiskService"}}}, "must be /package.Service/Method"},
		{"grant with extra segment", []auth.Caller{{Name: "a", TokenSHA256: hash, Grants: []string{"/risk.v1.RiskService/CheckSeller/x"}}}, "must be /package.Service/Method"},
		{"bare star grant", []auth.Caller{{Name: "a", TokenSHA256: hash, Grants: []string{"*"}}}, "must be /package.Service/Method"},
		{"token not hex", []auth.Caller{{Name: "a", TokenSHA256: strings.Repeat("zz", 32), Grants: []string{riskSvc + "*"}}}, "64 hex digits"},
		{"token too short", []auth.Caller{{Name: "a", TokenSHA256: hash[:62], Grants: []string{riskSvc + "*"}}}, "64 hex digits"},
		{"token too long", []auth.Caller{{Name: "a", TokenSHA256: hash + "00", Grants: []string{riskSvc + "*"}}}, "64 hex digits"},
		{"raw token instead of hash", []auth.Caller{{Name: "a", TokenSHA256: "s3cret", Grants: []string{riskSvc + "*"}}}, "64 hex digits"},
		// Issue 18, item 6: careless credentials.
		{"hash of an empty token", []auth.Caller{{Name: "a", TokenSHA256: auth.HashToken(""), Grants: []string{riskSvc + "*"}}}, "hash of an empty token"},
		{"one token hash on two callers", []auth.Caller{ok("a"), ok("b")}, "also a's"},
		{"duplicate client_cn", []auth.Caller{
			{Name: "a", ClientCN: "svc.riskd.test", Grants: []string{riskSvc + "*"}},
			{Name: "b", ClientCN: "svc.riskd.test", Grants: []string{policySvc + "*"}},
		}, "used twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl, err := auth.New(tc.callers)
			if err == nil {
				t.Fatalf("New accepted %+v", tc.callers)
			}
			if tbl != nil {
				t.Errorf("New returned a table with its error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error echoes a token: %q", err)
			}
		})
	}
}

func TestNewAcceptsGoodCallers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		callers []auth.Caller
		empty   bool
	}{
		{"none", nil, true},
		{"token", []auth.Caller{{Name: "a", TokenSHA256: auth.HashToken("t"), Grants: []string{riskSvc + "CheckSeller"}}}, false},
		{"upper-case hex", []auth.Caller{{Name: "a", TokenSHA256: strings.ToUpper(auth.HashToken("t")), Grants: []string{riskSvc + "*"}}}, false},
		{"cn", []auth.Caller{{Name: "a", ClientCN: "a.test", Grants: []string{riskSvc + "*"}}}, false},
		{"token and cn", []auth.Caller{{Name: "a", TokenSHA256: auth.HashToken("t"), ClientCN: "a.test", Grants: []string{riskSvc + "*", policySvc + "GetPolicy"}}}, false},
		{"two callers", []auth.Caller{
			{Name: "a", TokenSHA256: auth.HashToken("t1"), Grants: []string{riskSvc + "*"}},
			{Name: "b", ClientCN: "b.test", Grants: []string{policySvc + "*"}},
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl, err := auth.New(tc.callers)
			if err != nil {
				t.Fatal(err)
			}
			if tbl.Empty() != tc.empty {
				t.Errorf("Empty() = %v, want %v", tbl.Empty(), tc.empty)
			}
		})
	}
}

// identity authenticates a call carrying token against callers.
func identity(t *testing.T, callers []auth.Caller, token string) *auth.Identity {
	t.Helper()
	tbl, err := auth.New(callers)
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
	ctx, err = tbl.Authenticate(ctx, nil)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	id, ok := auth.FromContext(ctx)
	if !ok {
		t.Fatal("no identity in the authenticated context")
	}
	return id
}

func TestAllowed(t *testing.T) {
	exact := identity(t, []auth.Caller{{Name: "checkout", TokenSHA256: auth.HashToken("tok"),
		Grants: []string{riskSvc + "ScoreGiftCardPurchase", riskSvc + "EvaluateRefund"}}}, "tok")
	service := identity(t, []auth.Caller{{Name: "admin", TokenSHA256: auth.HashToken("tok"),
		Grants: []string{riskSvc + "*"}}}, "tok")
	if exact.Name != "checkout" || service.Name != "admin" {
		t.Fatalf("names: %q %q", exact.Name, service.Name)
	}
	for _, tc := range []struct {
		name   string
		id     *auth.Identity
		method string
		want   bool
	}{
		{"exact method granted", exact, riskSvc + "ScoreGiftCardPurchase", true},
		{"second exact method granted", exact, riskSvc + "EvaluateRefund", true},
		{"other method of the service", exact, riskSvc + "CheckSeller", false},
		{"method name prefix", exact, riskSvc + "EvaluateRefundX", false},
		{"method name truncated", exact, riskSvc + "EvaluateRefun", false},
		{"same method, other service", exact, "/risk.v2.RiskService/EvaluateRefund", false},
		{"exact grant is not a wildcard", exact, riskSvc + "*", false},
		{"service wildcard covers a method", service, riskSvc + "CheckSeller", true},
		{"service wildcard covers another method", service, riskSvc + "RecordEvents", true},
		{"service wildcard, other service", service, policySvc + "GetPolicy", false},
		{"service wildcard, service name prefix", service, "/risk.v1.RiskServiceAdmin/CheckSeller", false},
		{"service wildcard, package prefix", service, "/risk.v1beta.RiskService/CheckSeller", false},
		{"anonymous, risk method", auth.Anonymous, riskSvc + "CheckSeller", true},
		{"anonymous, policy method", auth.Anonymous, policySvc + "ReplayPolicy", true},
		{"anonymous, any service", auth.Anonymous, "/some.Other/Thing", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.id.Allowed(tc.method); got != tc.want {
				t.Errorf("%s.Allowed(%q) = %v, want %v", tc.id.Name, tc.method, got, tc.want)
			}
		})
	}
}

func TestHashToken(t *testing.T) {
	for _, token := range []string{"", "s3cret", "a much longer token with spaces", "トークン"} {
		sum := sha256.Sum256([]byte(token))
		want := hex.EncodeToString(sum[:])
		got := auth.HashToken(token)
		if got != want {
			t.Errorf("HashToken(%q) = %s, want %s", token, got, want)
		}
		if len(got) != 64 || strings.ToLower(got) != got {
			t.Errorf("HashToken(%q) = %q, want 64 lower-case hex digits", token, got)
		}
	}
	if auth.HashToken("a") == auth.HashToken("b") {
		t.Error("different tokens hash the same")
	}
	// The hash is what New takes.
	if _, err := auth.New([]auth.Caller{{Name: "a", TokenSHA256: auth.HashToken("x"), Grants: []string{riskSvc + "*"}}}); err != nil {
		t.Errorf("New refuses HashToken's output: %v", err)
	}
}

func TestAuthenticateTokens(t *testing.T) {
	callers := []auth.Caller{{Name: "checkout", TokenSHA256: auth.HashToken("good-token"), Grants: []string{riskSvc + "*"}}}
	tbl, err := auth.New(callers)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		md   metadata.MD
		want string // caller name, "" for UNAUTHENTICATED
	}{
		{"bearer", metadata.Pairs("authorization", "Bearer good-token"), "checkout"},
		{"scheme case-insensitive", metadata.Pairs("authorization", "bearer good-token"), "checkout"},
		{"second header matches", metadata.Pairs("authorization", "Bearer nope", "authorization", "Bearer good-token"), "checkout"},
		{"no metadata", nil, ""},
		{"wrong token", metadata.Pairs("authorization", "Bearer bad-token"), ""},
		{"wrong scheme", metadata.Pairs("authorization", "Basic good-token"), ""},
		{"no scheme", metadata.Pairs("authorization", "good-token"), ""},
		{"empty token", metadata.Pairs("authorization", "Bearer "), ""},
		{"hash as token", metadata.Pairs("authorization", "Bearer "+auth.HashToken("good-token")), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.md != nil {
				ctx = metadata.NewIncomingContext(ctx, tc.md)
			}
			out, err := tbl.Authenticate(ctx, nil)
			if tc.want == "" {
				if status.Code(err) != codes.Unauthenticated {
					t.Fatalf("got %v, want UNAUTHENTICATED", err)
				}
				for _, secret := range []string{"good-token", "bad-token"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error echoes a token: %q", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id, ok := auth.FromContext(out)
			if !ok || id.Name != tc.want {
				t.Fatalf("identity %v %v, want %s", id, ok, tc.want)
			}
		})
	}

	// No callers configured: everyone is Anonymous.
	empty, err := auth.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := empty.Authenticate(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := auth.FromContext(out); !ok || id != auth.Anonymous {
		t.Fatalf("identity %v %v, want Anonymous", id, ok)
	}
}

// TestShortTokenWarningCostsLongTokensNothing: the short-token check adds
// no allocation to authentication. A long token's call allocates exactly
// what a short token's does once its caller has been warned of, and logs
// nothing.
func TestShortTokenWarningCostsLongTokensNothing(t *testing.T) {
	const short, long = "short-token", "Vq3tX0b9yJd2kQe7LmN4pR8sUw1zA6cF5gH0iK2oP7r"
	tbl, err := auth.New([]auth.Caller{
		{Name: "short", TokenSHA256: auth.HashToken(short), Grants: []string{riskSvc + "*"}},
		{Name: "long", TokenSHA256: auth.HashToken(long), Grants: []string{riskSvc + "*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctxFor := func(token string) context.Context {
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
	}
	shortCtx, longCtx := ctxFor(short), ctxFor(long)
	if _, err := tbl.Authenticate(shortCtx, log); err != nil { // the one warning
		t.Fatal(err)
	}
	warned := logs.String()
	if strings.Count(warned, "\n") != 1 || !strings.Contains(warned, "field=callers[0].token_sha256") {
		t.Fatalf("first short-token call logged %q, want one line naming callers[0].token_sha256", warned)
	}
	authenticate := func(ctx context.Context) func() {
		return func() {
			if _, err := tbl.Authenticate(ctx, log); err != nil {
				t.Fatal(err)
			}
		}
	}
	longAllocs := testing.AllocsPerRun(100, authenticate(longCtx))
	shortAllocs := testing.AllocsPerRun(100, authenticate(shortCtx))
	if longAllocs != shortAllocs {
		t.Errorf("a long token's call allocates %v times, a warned short token's %v: the check should cost nothing", longAllocs, shortAllocs)
	}
	if logs.String() != warned {
		t.Errorf("later calls logged more: %q", strings.TrimPrefix(logs.String(), warned))
	}
}

// authAs is the caller Authenticate finds for metadata md, "" when the
// call is refused.
func authAs(t *testing.T, tbl *auth.Table, md metadata.MD) string {
	t.Helper()
	ctx, err := tbl.Authenticate(metadata.NewIncomingContext(context.Background(), md), nil)
	if err != nil {
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("refusal %v, want UNAUTHENTICATED", err)
		}
		return ""
	}
	id, _ := auth.FromContext(ctx)
	return id.Name
}

// The console's delegation (a user signed in with a client certificate)
// authenticates as the named caller only with this process's MAC, and
// only until its time; anything else is refused as no credentials.
func TestDelegation(t *testing.T) {
	callers := []auth.Caller{
		{Name: "ana.desk", ClientCN: "ana.example.com", Grants: []string{"/risk.v1.ReviewService/*"}},
		{Name: "ben", TokenSHA256: auth.HashToken("ben-token"), Grants: []string{"/risk.v1.ReviewService/*"}},
	}
	tbl, err := auth.New(callers)
	if err != nil {
		t.Fatal(err)
	}
	other, err := auth.New(callers)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	good := tbl.Delegate("ana.desk", later)
	mac := good[strings.LastIndexByte(good, '.')+1:]
	for _, tc := range []struct {
		name, value, want string
	}{
		{"valid", good, "ana.desk"},
		{"another process's key", other.Delegate("ana.desk", later), ""},
		{"expired", tbl.Delegate("ana.desk", time.Now().Add(-time.Second)), ""},
		{"name changed", "ben" + good[len("ana.desk"):], ""},
		{"time changed", "ana.desk." + fmt.Sprint(later.Unix()+3600) + "." + mac, ""},
		{"no MAC", "ana.desk." + fmt.Sprint(later.Unix()), ""},
		{"MAC not base64", "ana.desk." + fmt.Sprint(later.Unix()) + ".!!", ""},
		{"unknown caller", tbl.Delegate("carl", later), ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := authAs(t, tbl, metadata.Pairs(auth.DelegateHeader, tc.value)); got != tc.want {
				t.Errorf("authenticated as %q, want %q", got, tc.want)
			}
		})
	}
	if got := authAs(t, tbl, metadata.Pairs(auth.DelegateHeader, good, auth.DelegateHeader, good)); got != "" {
		t.Errorf("two delegation headers: %q, want refused", got)
	}
	// A token, when there is one, is the caller.
	if got := authAs(t, tbl, metadata.Pairs("authorization", "Bearer ben-token", auth.DelegateHeader, good)); got != "ben" {
		t.Errorf("a token with a delegation: %q, want the token's caller", got)
	}
}

// Whatever a caller sends as the delegation header, it cannot forge one:
// no value it makes authenticates (the MAC key never leaves the process).
func FuzzDelegation(f *testing.F) {
	tbl, err := auth.New([]auth.Caller{{Name: "ana", ClientCN: "ana", Grants: []string{"/risk.v1.ReviewService/*"}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("ana.99999999999.AAAA")
	f.Add(tbl.Delegate("ana", time.Now().Add(-time.Hour)))
	f.Add("...")
	f.Fuzz(func(t *testing.T, v string) {
		ctx, err := tbl.Authenticate(metadata.NewIncomingContext(context.Background(), metadata.Pairs(auth.DelegateHeader, v)), nil)
		if err == nil {
			id, _ := auth.FromContext(ctx)
			t.Fatalf("%q authenticated as %s", v, id.Name)
		}
	})
}
