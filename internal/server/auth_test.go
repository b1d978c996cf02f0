package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/server"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// secConfig is what startSecure sets beyond start's server: the security
// and load options, and start's policy plumbing.
type secConfig struct {
	callers         []auth.Caller
	tls             *tls.Config // server side; nil serves plaintext
	ratePerCaller   float64
	rateBurst       int
	maxInFlight     int64
	defaultDeadline time.Duration
	policyYAML      string
	extra           verifier.Registry
	reserve         time.Duration // engine.Options.Reserve; 0 is its default
	// logs receives the server's log; a test that reads it gets every
	// line from info up (and sampled traces), not the quiet load setup.
	logs    io.Writer
	clock   func() time.Time
	metrics sdkmetric.Reader
}

type secOption func(*secConfig)

func withCallers(c ...auth.Caller) secOption { return func(s *secConfig) { s.callers = c } }
func withServerTLS(c *tls.Config) secOption  { return func(s *secConfig) { s.tls = c } }
func withRate(perSecond float64, burst int) secOption {
	return func(s *secConfig) { s.ratePerCaller, s.rateBurst = perSecond, burst }
}
func withMaxInFlight(n int64) secOption { return func(s *secConfig) { s.maxInFlight = n } }
func withDefaultDeadline(d time.Duration) secOption {
	return func(s *secConfig) { s.defaultDeadline = d }
}
func withPolicy(doc string, extra verifier.Registry) secOption {
	return func(s *secConfig) { s.policyYAML, s.extra = doc, extra }
}
func withReserve(d time.Duration) secOption  { return func(s *secConfig) { s.reserve = d } }
func withLogs(w io.Writer) secOption         { return func(s *secConfig) { s.logs = w } }
func withClock(c func() time.Time) secOption { return func(s *secConfig) { s.clock = c } }
func withMetrics(r sdkmetric.Reader) secOption {
	return func(s *secConfig) { s.metrics = r }
}

// secHarness is a real riskd server on a real loopback TCP listener, so
// that TLS and client certificates go through a real handshake.
type secHarness struct {
	addr  string
	srv   *server.Server
	store store.Store
}

// startSecure boots the server with the security and load options of
// opts, serving on 127.0.0.1.
func startSecure(t *testing.T, opts ...secOption) *secHarness {
	t.Helper()
	var c secConfig
	for _, o := range opts {
		o(&c)
	}
	b := boot(t, bootOptions{
		setup: setup{policyYAML: c.policyYAML, extra: c.extra, clock: c.clock, metrics: c.metrics},
		tcp:   true, quiet: c.logs == nil, logs: c.logs, callers: c.callers, tls: c.tls,
		config: func(cfg *config.Config) {
			cfg.RatePerCaller, cfg.RateBurst = c.ratePerCaller, c.rateBurst
			cfg.MaxInFlight, cfg.DefaultDeadline = int(c.maxInFlight), c.defaultDeadline
			if c.reserve != 0 {
				cfg.DecisionReserve = c.reserve
			}
		},
	})
	return &secHarness{addr: b.lis.Addr().String(), srv: b.srv, store: b.store}
}

// dial connects to the server with the given transport credentials
// (plaintext when nil); the connection is closed when the test ends.
func (h *secHarness) dial(t *testing.T, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient("passthrough:///"+h.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// bearer is ctx carrying a bearer token.
func bearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// secPKI is a CA that issues the server's certificate and the client
// certificates, and a rogue CA nobody configured.
type secPKI struct {
	pool   *x509.CertPool // the CA: trusted for the server and as client CA
	server tls.Certificate
	admin  tls.Certificate // CN admin.riskd.test, issued by the CA
	rogue  tls.Certificate // CN admin.riskd.test, issued by the rogue CA
	// stranger is issued by the CA to a name no caller has.
	stranger tls.Certificate
}

type secCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var secCertSerial atomic.Int64

func newSecCA(t *testing.T, name string) secCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(secCertSerial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return secCA{cert: cert, key: key}
}

// issue signs a leaf certificate for cn; a server certificate is for
// 127.0.0.1.
func (ca secCA) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(secCertSerial.Add(1)), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func newSecPKI(t *testing.T) *secPKI {
	t.Helper()
	ca, rogue := newSecCA(t, "riskd test CA"), newSecCA(t, "rogue CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &secPKI{
		pool:     pool,
		server:   ca.issue(t, "riskd.test", true),
		admin:    ca.issue(t, "admin.riskd.test", false),
		rogue:    rogue.issue(t, "admin.riskd.test", false),
		stranger: ca.issue(t, "stranger.riskd.test", false),
	}
}

// serverTLS is the server's configuration as cmd/riskd builds it: TLS,
// and client certificates verified against the client CA when given.
func (p *secPKI) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.server},
		ClientCAs:    p.pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
	}
}

// clientCreds trusts the CA for the server and presents certs, if any.
func (p *secPKI) clientCreds(certs ...tls.Certificate) credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.pool, Certificates: certs})
}

const (
	checkoutToken = "checkout-token-5f1e0c2a9b"
	reviewToken   = "review-token-77d3a1c4e8"
	opsToken      = "ops-token-0b9e44f2c1"
	wrongToken    = "wrong-token-c0ffee1234"
)

var secTokens = []string{checkoutToken, reviewToken, opsToken, wrongToken}

// secCallers are the callers of the auth tests. "ops" holds by token
// every method neither checkout nor review has, so every method is
// called once with a token that is granted it.
func secCallers() []auth.Caller {
	return []auth.Caller{
		{Name: "checkout", TokenSHA256: auth.HashToken(checkoutToken), Grants: []string{
			"/risk.v1.RiskService/ScoreGiftCardPurchase", "/risk.v1.RiskService/EvaluateRefund"}},
		{Name: "review", TokenSHA256: auth.HashToken(reviewToken), Grants: []string{
			"/risk.v1.RiskService/ReportOutcome", "/risk.v1.RiskService/GetDecision",
			"/risk.v1.ReviewService/ListDecisions", "/risk.v1.ReviewService/ListCases", "/risk.v1.ReviewService/GetCase",
			"/risk.v1.ListService/ListLists", "/risk.v1.ListService/ListListEntries", "/risk.v1.ListService/LookupListValue"}},
		{Name: "ops", TokenSHA256: auth.HashToken(opsToken), Grants: []string{
			"/risk.v1.RiskService/CheckSeller", "/risk.v1.RiskService/RecordEvents", "/risk.v1.PolicyService/*"}},
		{Name: "admin", ClientCN: "admin.riskd.test", Grants: []string{
			"/risk.v1.RiskService/*", "/risk.v1.PolicyService/*", "/risk.v1.ReviewService/*", "/risk.v1.ListService/*", "/risk.v1.PrivacyService/*"}},
	}
}

var secRequestSeq atomic.Int64

func secID(prefix string) string { return fmt.Sprintf("%s-%d", prefix, secRequestSeq.Add(1)) }

// secCall makes one call of a method with a minimal valid request.
type secCall func(ctx context.Context, conn *grpc.ClientConn, decisionID string) error

// secEveryRPC is every method of RiskService and PolicyService.
var secEveryRPC = []struct {
	method string
	call   secCall
}{
	{"/risk.v1.RiskService/CheckSeller", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		req := cleanSeller()
		req.RequestId = secID("req-auth-seller")
		_, err := riskv1.NewRiskServiceClient(conn).CheckSeller(ctx, req)
		return err
	}},
	{"/risk.v1.RiskService/ScoreGiftCardPurchase", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		req := coachedGiftCardOrder(time.Now())
		req.RequestId = secID("req-auth-gc")
		_, err := riskv1.NewRiskServiceClient(conn).ScoreGiftCardPurchase(ctx, req)
		return err
	}},
	{"/risk.v1.RiskService/EvaluateRefund", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		req := overPaidRefund()
		req.RequestId = secID("req-auth-refund")
		_, err := riskv1.NewRiskServiceClient(conn).EvaluateRefund(ctx, req)
		return err
	}},
	{"/risk.v1.RiskService/ReportOutcome", func(ctx context.Context, conn *grpc.ClientConn, decisionID string) error {
		_, err := riskv1.NewRiskServiceClient(conn).ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{
			DecisionId: decisionID, Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE})
		return err
	}},
	{"/risk.v1.RiskService/GetDecision", func(ctx context.Context, conn *grpc.ClientConn, decisionID string) error {
		_, err := riskv1.NewRiskServiceClient(conn).GetDecision(ctx, &riskv1.GetDecisionRequest{DecisionId: decisionID})
		return err
	}},
	{"/risk.v1.RiskService/RecordEvents", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewRiskServiceClient(conn).RecordEvents(ctx, &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{{
			EventId:    secID("ev-auth"),
			OccurredAt: timestamppb.New(time.Now().Add(-time.Hour)),
			Event: &riskv1.HistoryEvent_Outcome{Outcome: &riskv1.OutcomeEvent{
				AccountId: "acct-auth", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE}},
		}}})
		return err
	}},
	{"/risk.v1.PolicyService/GetPolicy", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewPolicyServiceClient(conn).GetPolicy(ctx, &riskv1.GetPolicyRequest{})
		return err
	}},
	{"/risk.v1.PolicyService/ReplayPolicy", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewPolicyServiceClient(conn).ReplayPolicy(ctx, &riskv1.ReplayPolicyRequest{
			Policy: policy.DefaultBytes(), Since: durationpb.New(time.Hour)})
		return err
	}},
	// The policy lifecycle: a version nobody kept is NOT_FOUND once granted;
	// publishing the default keeps nothing new.
	{"/risk.v1.PolicyService/ListPolicyVersions", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewPolicyServiceClient(conn).ListPolicyVersions(ctx, &riskv1.ListPolicyVersionsRequest{})
		return err
	}},
	{"/risk.v1.PolicyService/GetPolicyVersion", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewPolicyServiceClient(conn).GetPolicyVersion(ctx, &riskv1.GetPolicyVersionRequest{Version: secNoVersion})
		return err
	}},
	{"/risk.v1.PolicyService/DiffPolicyVersions", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewPolicyServiceClient(conn).DiffPolicyVersions(ctx, &riskv1.DiffPolicyVersionsRequest{From: secNoVersion, To: secNoVersion})
		return err
	}},
	{"/risk.v1.PolicyService/PublishPolicy", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewPolicyServiceClient(conn).PublishPolicy(ctx, &riskv1.PublishPolicyRequest{Policy: policy.DefaultBytes()})
		return err
	}},
	{"/risk.v1.PolicyService/StartCanary", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewPolicyServiceClient(conn).StartCanary(ctx, &riskv1.StartCanaryRequest{Version: secNoVersion, Percent: 5})
		return err
	}},
	{"/risk.v1.PolicyService/StopCanary", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewPolicyServiceClient(conn).StopCanary(ctx, &riskv1.StopCanaryRequest{})
		return err
	}},
	{"/risk.v1.PolicyService/PromotePolicy", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewPolicyServiceClient(conn).PromotePolicy(ctx, &riskv1.PromotePolicyRequest{Version: secNoVersion})
		return err
	}},
	{"/risk.v1.PolicyService/RollbackPolicy", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewPolicyServiceClient(conn).RollbackPolicy(ctx, &riskv1.RollbackPolicyRequest{Version: secNoVersion})
		return err
	}},
	// The seed decision opened no case: a granted call on it is NOT_FOUND.
	{"/risk.v1.ReviewService/ListDecisions", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewReviewServiceClient(conn).ListDecisions(ctx, &riskv1.ListDecisionsRequest{})
		return err
	}},
	{"/risk.v1.ReviewService/ListCases", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewReviewServiceClient(conn).ListCases(ctx, &riskv1.ListCasesRequest{})
		return err
	}},
	{"/risk.v1.ReviewService/GetCase", func(ctx context.Context, conn *grpc.ClientConn, decisionID string) error {
		_, err := riskv1.NewReviewServiceClient(conn).GetCase(ctx, &riskv1.GetCaseRequest{DecisionId: decisionID})
		return err
	}},
	{"/risk.v1.ReviewService/ClaimCase", func(ctx context.Context, conn *grpc.ClientConn, decisionID string) error {
		_, err := riskv1.NewReviewServiceClient(conn).ClaimCase(ctx, &riskv1.ClaimCaseRequest{DecisionId: decisionID})
		return err
	}},
	{"/risk.v1.ReviewService/ReleaseClaim", func(ctx context.Context, conn *grpc.ClientConn, decisionID string) error {
		_, err := riskv1.NewReviewServiceClient(conn).ReleaseClaim(ctx, &riskv1.ReleaseClaimRequest{DecisionId: decisionID})
		return err
	}},
	{"/risk.v1.ReviewService/ResolveCase", func(ctx context.Context, conn *grpc.ClientConn, decisionID string) error {
		_, err := riskv1.NewReviewServiceClient(conn).ResolveCase(ctx, &riskv1.ResolveCaseRequest{DecisionId: decisionID,
			Resolution: riskv1.CaseResolution_CASE_RESOLUTION_LEGITIMATE})
		return err
	}},
	{"/risk.v1.ReviewService/AddCaseNote", func(ctx context.Context, conn *grpc.ClientConn, decisionID string) error {
		_, err := riskv1.NewReviewServiceClient(conn).AddCaseNote(ctx, &riskv1.AddCaseNoteRequest{DecisionId: decisionID, Note: "n"})
		return err
	}},
	// A stream's refusal comes with its first message; a granted one has
	// none to send yet, and ends at the short deadline.
	{"/risk.v1.ReviewService/WatchCaseResolutions", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		stream, err := riskv1.NewReviewServiceClient(conn).WatchCaseResolutions(ctx, &riskv1.WatchCaseResolutionsRequest{FromNow: true})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) == codes.DeadlineExceeded {
			return nil
		}
		return err
	}},
	{"/risk.v1.ReviewService/ListRelatedDecisions", func(ctx context.Context, conn *grpc.ClientConn, decisionID string) error {
		_, err := riskv1.NewReviewServiceClient(conn).ListRelatedDecisions(ctx, &riskv1.ListRelatedDecisionsRequest{DecisionId: decisionID})
		return err
	}},
	// The lists: a granted call on a list nobody created is NOT_FOUND.
	{"/risk.v1.ListService/CreateList", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewListServiceClient(conn).CreateList(ctx, &riskv1.CreateListRequest{Name: "auth-list", Purpose: riskv1.ListPurpose_LIST_PURPOSE_BLOCK})
		return err
	}},
	{"/risk.v1.ListService/ListLists", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewListServiceClient(conn).ListLists(ctx, &riskv1.ListListsRequest{})
		return err
	}},
	{"/risk.v1.ListService/AddListEntries", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewListServiceClient(conn).AddListEntries(ctx, &riskv1.AddListEntriesRequest{List: "auth-list",
			Entries: []*riskv1.NewListEntry{{Kind: riskv1.EntryKind_ENTRY_KIND_DEVICE, Value: "dev-auth"}}})
		return err
	}},
	{"/risk.v1.ListService/ImportListEntries", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		stream, err := riskv1.NewListServiceClient(conn).ImportListEntries(ctx)
		if err == nil {
			err = stream.Send(&riskv1.ImportListEntriesRequest{List: "auth-list",
				Entries: []*riskv1.NewListEntry{{Kind: riskv1.EntryKind_ENTRY_KIND_DEVICE, Value: "dev-auth-2"}}})
		}
		if err == nil || errors.Is(err, io.EOF) {
			_, err = stream.CloseAndRecv()
		}
		return err
	}},
	{"/risk.v1.ListService/RemoveListEntry", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewListServiceClient(conn).RemoveListEntry(ctx, &riskv1.RemoveListEntryRequest{List: "auth-list", EntryId: "none"})
		return err
	}},
	{"/risk.v1.ListService/ListListEntries", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewListServiceClient(conn).ListListEntries(ctx, &riskv1.ListListEntriesRequest{List: "auth-list"})
		return err
	}},
	{"/risk.v1.ListService/LookupListValue", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewListServiceClient(conn).LookupListValue(ctx, &riskv1.LookupListValueRequest{Kind: riskv1.EntryKind_ENTRY_KIND_PHONE, Value: "13800138000"})
		return err
	}},
	{"/risk.v1.PrivacyService/EraseSubject", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewPrivacyServiceClient(conn).EraseSubject(ctx, &riskv1.EraseSubjectRequest{Subjects: []*riskv1.Subject{
			{Kind: riskv1.SubjectKind_SUBJECT_KIND_ACCOUNT, Value: secID("acct-auth-erase")}}})
		return err
	}},
	{"/risk.v1.PrivacyService/ExportSubject", func(ctx context.Context, conn *grpc.ClientConn, _ string) error {
		_, err := riskv1.NewPrivacyServiceClient(conn).ExportSubject(ctx, &riskv1.ExportSubjectRequest{Subject: &riskv1.Subject{
			Kind: riskv1.SubjectKind_SUBJECT_KIND_ACCOUNT, Value: "acct-auth"}})
		return err
	}},
}

// secNoVersion is a policy version nobody kept.
var secNoVersion = "sha256:" + strings.Repeat("0", 64)

// TestEveryMethodIsCoveredByTheAuthMatrix keeps secEveryRPC in step with the
// services: a method added to the proto must be added to the matrix.
func TestEveryMethodIsCoveredByTheAuthMatrix(t *testing.T) {
	var want, got []string
	for _, sd := range []grpc.ServiceDesc{riskv1.RiskService_ServiceDesc, riskv1.PolicyService_ServiceDesc, riskv1.ReviewService_ServiceDesc,
		riskv1.ListService_ServiceDesc, riskv1.PrivacyService_ServiceDesc} {
		for _, m := range sd.Methods {
			want = append(want, "/"+sd.ServiceName+"/"+m.MethodName)
		}
		for _, s := range sd.Streams {
			want = append(want, "/"+sd.ServiceName+"/"+s.StreamName)
		}
	}
	for _, r := range secEveryRPC {
		got = append(got, r.method)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Fatalf("auth matrix covers %v, services have %v", got, want)
	}
}

type authWant int

const (
	wantUnauthenticated authWant = iota
	wantDenied
	wantGranted
)

func (w authWant) String() string {
	return [...]string{"UNAUTHENTICATED", "PERMISSION_DENIED", "granted (not an auth code)"}[w]
}

func TestAuthMatrix(t *testing.T) {
	pki := newSecPKI(t)
	h := startSecure(t, withCallers(secCallers()...), withServerTLS(pki.serverTLS()))
	plainTLS := h.dial(t, pki.clientCreds())
	adminTLS := h.dial(t, pki.clientCreds(pki.admin))

	// A stored decision for GetDecision and ReportOutcome to find.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seed := overPaidRefund()
	seed.RequestId = "req-auth-seed"
	resp, err := riskv1.NewRiskServiceClient(adminTLS).EvaluateRefund(ctx, seed)
	if err != nil {
		t.Fatalf("admin by client certificate: %v", err)
	}
	decisionID := resp.GetDecision().GetDecisionId()

	principals := []struct {
		name  string
		conn  *grpc.ClientConn
		token string // "" sends none
	}{
		{"no credentials", plainTLS, ""},
		{"wrong token", plainTLS, wrongToken},
		{"checkout token", plainTLS, checkoutToken},
		{"review token", plainTLS, reviewToken},
		{"ops token", plainTLS, opsToken},
		{"admin certificate", adminTLS, ""},
		// The certificate is checked first; a bad token beside it is moot.
		{"admin certificate and wrong token", adminTLS, wrongToken},
	}
	// want[method] lists the expectation per principal, in order.
	const U, D, G = wantUnauthenticated, wantDenied, wantGranted
	want := map[string][]authWant{
		//                                          none wrong checkout review ops admin admin+wrong
		"/risk.v1.RiskService/CheckSeller":           {U, U, D, D, G, G, G},
		"/risk.v1.RiskService/ScoreGiftCardPurchase": {U, U, G, D, D, G, G},
		"/risk.v1.RiskService/EvaluateRefund":        {U, U, G, D, D, G, G},
		"/risk.v1.RiskService/ReportOutcome":         {U, U, D, G, D, G, G},
		"/risk.v1.RiskService/GetDecision":           {U, U, D, G, D, G, G},
		"/risk.v1.RiskService/RecordEvents":          {U, U, D, D, G, G, G},
		"/risk.v1.PolicyService/GetPolicy":           {U, U, D, D, G, G, G},
		"/risk.v1.PolicyService/ReplayPolicy":        {U, U, D, D, G, G, G},
		"/risk.v1.PolicyService/ListPolicyVersions":  {U, U, D, D, G, G, G},
		"/risk.v1.PolicyService/GetPolicyVersion":    {U, U, D, D, G, G, G},
		"/risk.v1.PolicyService/DiffPolicyVersions":  {U, U, D, D, G, G, G},
		"/risk.v1.PolicyService/PublishPolicy":       {U, U, D, D, G, G, G},
		"/risk.v1.PolicyService/StartCanary":         {U, U, D, D, G, G, G},
		"/risk.v1.PolicyService/StopCanary":          {U, U, D, D, G, G, G},
		"/risk.v1.PolicyService/PromotePolicy":       {U, U, D, D, G, G, G},
		"/risk.v1.PolicyService/RollbackPolicy":      {U, U, D, D, G, G, G},
		// A reader of the desk may list and read, never change a case.
		"/risk.v1.ReviewService/ListDecisions":        {U, U, D, G, D, G, G},
		"/risk.v1.ReviewService/ListCases":            {U, U, D, G, D, G, G},
		"/risk.v1.ReviewService/GetCase":              {U, U, D, G, D, G, G},
		"/risk.v1.ReviewService/ClaimCase":            {U, U, D, D, D, G, G},
		"/risk.v1.ReviewService/ReleaseClaim":         {U, U, D, D, D, G, G},
		"/risk.v1.ReviewService/ResolveCase":          {U, U, D, D, D, G, G},
		"/risk.v1.ReviewService/AddCaseNote":          {U, U, D, D, D, G, G},
		"/risk.v1.ReviewService/WatchCaseResolutions": {U, U, D, D, D, G, G},
		"/risk.v1.ReviewService/ListRelatedDecisions": {U, U, D, D, D, G, G},
		// A reader of the desk may look the lists up, never change them.
		"/risk.v1.ListService/CreateList":        {U, U, D, D, D, G, G},
		"/risk.v1.ListService/ListLists":         {U, U, D, G, D, G, G},
		"/risk.v1.ListService/AddListEntries":    {U, U, D, D, D, G, G},
		"/risk.v1.ListService/ImportListEntries": {U, U, D, D, D, G, G},
		"/risk.v1.ListService/RemoveListEntry":   {U, U, D, D, D, G, G},
		"/risk.v1.ListService/ListListEntries":   {U, U, D, G, D, G, G},
		"/risk.v1.ListService/LookupListValue":   {U, U, D, G, D, G, G},
		// Erasure and access are the privacy desk's alone.
		"/risk.v1.PrivacyService/EraseSubject":  {U, U, D, D, D, G, G},
		"/risk.v1.PrivacyService/ExportSubject": {U, U, D, D, D, G, G},
	}
	for _, rpc := range secEveryRPC {
		expect, ok := want[rpc.method]
		if !ok || len(expect) != len(principals) {
			t.Fatalf("no full expectation for %s", rpc.method)
		}
		for i, p := range principals {
			t.Run(strings.TrimPrefix(rpc.method, "/risk.v1.")+"/"+p.name, func(t *testing.T) {
				callCtx := ctx
				if p.token != "" {
					callCtx = bearer(ctx, p.token)
				}
				err := rpc.call(callCtx, p.conn, decisionID)
				checkAuthOutcome(t, err, expect[i])
			})
		}
	}
}

// checkAuthOutcome checks a call's error against the expectation, and that
// no error message holds a token.
func checkAuthOutcome(t *testing.T, err error, want authWant) {
	t.Helper()
	st := status.Convert(err)
	for _, tok := range secTokens {
		if strings.Contains(st.Message(), tok) || strings.Contains(st.Message(), auth.HashToken(tok)) {
			t.Errorf("error message echoes a token: %q", st.Message())
		}
	}
	switch want {
	case wantUnauthenticated:
		if st.Code() != codes.Unauthenticated {
			t.Errorf("got %v, want UNAUTHENTICATED", err)
		}
	case wantDenied:
		if st.Code() != codes.PermissionDenied {
			t.Errorf("got %v, want PERMISSION_DENIED", err)
		}
	case wantGranted:
		switch st.Code() {
		case codes.OK:
		case codes.InvalidArgument, codes.NotFound:
			t.Logf("granted, answered %v", err)
		default:
			t.Errorf("got %v, want %s (OK, INVALID_ARGUMENT or NOT_FOUND)", err, want)
		}
	}
}

func TestPermissionDeniedNamesCallerAndMethodOnly(t *testing.T) {
	pki := newSecPKI(t)
	h := startSecure(t, withCallers(secCallers()...), withServerTLS(pki.serverTLS()))
	conn := h.dial(t, pki.clientCreds())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := riskv1.NewPolicyServiceClient(conn).GetPolicy(bearer(ctx, checkoutToken), &riskv1.GetPolicyRequest{})
	st := status.Convert(err)
	if st.Code() != codes.PermissionDenied {
		t.Fatalf("got %v, want PERMISSION_DENIED", err)
	}
	if !strings.Contains(st.Message(), "checkout") || !strings.Contains(st.Message(), "GetPolicy") {
		t.Errorf("message %q should name the caller and the method", st.Message())
	}
	if strings.Contains(st.Message(), checkoutToken) || strings.Contains(st.Message(), auth.HashToken(checkoutToken)) {
		t.Errorf("message echoes the token: %q", st.Message())
	}
}

func TestHealthAndReflectionNeedNoCredentials(t *testing.T) {
	pki := newSecPKI(t)
	h := startSecure(t, withCallers(secCallers()...), withServerTLS(pki.serverTLS()))
	conn := h.dial(t, pki.clientCreds()) // TLS, no certificate, no token
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	hc := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", riskv1.RiskService_ServiceDesc.ServiceName, server.LivenessService} {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q without credentials: %v %v", svc, resp, err)
		}
	}
	watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := watch.Recv(); err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health watch without credentials: %v %v", first, err)
	}

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	r, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection without credentials: %v", err)
	}
	var names []string
	for _, s := range r.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{riskv1.RiskService_ServiceDesc.ServiceName, riskv1.PolicyService_ServiceDesc.ServiceName} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
	_ = stream.CloseSend()

	// The same connection is still refused the services themselves.
	_, err = riskv1.NewPolicyServiceClient(conn).GetPolicy(ctx, &riskv1.GetPolicyRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("GetPolicy without credentials: got %v, want UNAUTHENTICATED", err)
	}
}

func TestClientCertificateNotFromTheClientCA(t *testing.T) {
	pki := newSecPKI(t)
	h := startSecure(t, withCallers(secCallers()...), withServerTLS(pki.serverTLS()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A certificate with the admin's name from a CA the server does not
	// trust: the handshake fails (UNAVAILABLE) or the call is treated as
	// one without credentials. It is never admin. Go's TLS client leaves
	// out a certificate the server's CA list does not cover ("offered");
	// GetClientCertificate sends it regardless ("forced"), as a hostile
	// client would.
	forced := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pki.pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pki.rogue, nil }})
	for _, c := range []struct {
		name  string
		creds credentials.TransportCredentials
	}{{"offered", pki.clientCreds(pki.rogue)}, {"forced", forced}} {
		rogue := h.dial(t, c.creds)
		for _, rpc := range secEveryRPC {
			err := rpc.call(ctx, rogue, "00000000-0000-7000-8000-000000000000")
			switch status.Code(err) {
			case codes.Unauthenticated, codes.Unavailable:
				t.Logf("%s, rogue certificate %s: %v", rpc.method, c.name, err)
			default:
				t.Errorf("%s, rogue certificate %s: got %v, want the handshake refused or UNAUTHENTICATED", rpc.method, c.name, err)
			}
		}
	}

	// A certificate from the client CA for a name no caller has is no
	// credential either.
	stranger := h.dial(t, pki.clientCreds(pki.stranger))
	_, err := riskv1.NewPolicyServiceClient(stranger).GetPolicy(ctx, &riskv1.GetPolicyRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("unknown client certificate: got %v, want UNAUTHENTICATED", err)
	}
	// ... though a token beside it still counts.
	_, err = riskv1.NewPolicyServiceClient(stranger).GetPolicy(bearer(ctx, opsToken), &riskv1.GetPolicyRequest{})
	if err != nil {
		t.Errorf("unknown client certificate with ops token: %v", err)
	}
}

// TestShortTokenWarnsOncePerCaller: riskd keeps only token hashes, so a
// token shorter than 128 bits can only be seen when a caller uses it. The
// call is allowed (refusing it would break a running deployment) and the
// operator is told once per caller, naming the field, however many calls
// follow; a long token is never warned of. Issue 18, item 6.
func TestShortTokenWarnsOncePerCaller(t *testing.T) {
	const (
		shortToken = "short-token-0123456" // 19 characters
		// A token as `riskd token` makes one: 43 base64url characters.
		longToken = "Vq3tX0b9yJd2kQe7LmN4pR8sUw1zA6cF5gH0iK2oP7r"
	)
	logs := &logBuffer{}
	b := boot(t, bootOptions{logs: logs, callers: []auth.Caller{
		{Name: "long", TokenSHA256: auth.HashToken(longToken), Grants: []string{"/risk.v1.PolicyService/*"}},
		{Name: "short", TokenSHA256: auth.HashToken(shortToken), Grants: []string{"/risk.v1.PolicyService/*"}},
	}})
	conn := b.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := riskv1.NewPolicyServiceClient(conn)

	// Several calls each, some at once: the warning's flag is raced for.
	var wg sync.WaitGroup
	for range 4 {
		for _, token := range []string{shortToken, longToken} {
			wg.Go(func() {
				for range 3 {
					if _, err := client.GetPolicy(bearer(ctx, token), &riskv1.GetPolicyRequest{}); err != nil {
						t.Errorf("GetPolicy: %v (a short token is warned of, never refused)", err)
					}
				}
			})
		}
	}
	wg.Wait()

	warned := map[string]int{}
	for _, ln := range logs.lines(t) {
		l := ln.attr
		raw, _ := json.Marshal(l)
		for _, secret := range []string{shortToken, longToken, auth.HashToken(shortToken), auth.HashToken(longToken)} {
			if strings.Contains(string(raw), secret) {
				t.Errorf("a log line holds a token or its hash: %s", raw)
			}
		}
		msg, _ := l["msg"].(string)
		if !strings.Contains(msg, "token is too short") {
			continue
		}
		caller, _ := l["caller"].(string)
		warned[caller]++
		if l["level"] != "WARN" {
			t.Errorf("short-token line at level %v, want WARN: %s", l["level"], raw)
		}
		if want := "callers[1].token_sha256"; l["field"] != want {
			t.Errorf("short-token line names field %v, want %s: %s", l["field"], want, raw)
		}
		if !strings.Contains(msg, "riskd token") {
			t.Errorf("short-token line does not say how to make a new token: %s", raw)
		}
	}
	if warned["short"] != 1 || warned["long"] != 0 || len(warned) != 1 {
		t.Errorf("short-token warnings per caller: %v, want exactly one for short and none for long, over 12 calls each", warned)
	}
}
