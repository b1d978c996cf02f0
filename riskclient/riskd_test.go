package riskclient_test

// What the tests share: a real riskd process (built from ./cmd/riskd by
// testproc, with -race under go test -race), certificates made for the
// test, valid requests, and an interceptor that sees every attempt.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/testproc"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"github.com/riskd/riskd/riskclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// startRiskd starts riskd on a free loopback port with a fresh data
// directory and args.
func startRiskd(t *testing.T, args ...string) *testproc.Process {
	t.Helper()
	return startRiskdAt(t, "127.0.0.1:0", t.TempDir(), args...)
}

func startRiskdAt(t *testing.T, listen, dataDir string, args ...string) *testproc.Process {
	t.Helper()
	base := []string{"--listen", listen, "--data-dir", dataDir}
	return testproc.Start(t, testproc.Build(t, "./cmd/riskd"), append(base, args...), "riskd ready")
}

// newClient makes a Client closed when the test ends.
func newClient(t *testing.T, target string, opts ...riskclient.Option) *riskclient.Client {
	t.Helper()
	c, err := riskclient.New(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// writeConfig writes a riskd config file and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "riskd.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// pki is a CA, a certificate for riskd on 127.0.0.1 it signed, and the
// files they are in.
type pki struct {
	dir                          string
	caFile, serverCert, serverKy string
	ca                           *x509.Certificate
	caKey                        *ecdsa.PrivateKey
	serial                       int64
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "riskclient test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	p.serverCert, p.serverKy = p.issue(t, "server", &x509.Certificate{
		Subject: pkix.Name{CommonName: "riskd.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return p
}

// client issues a client certificate with the common name cn.
func (p *pki) client(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	return p.issue(t, cn, &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (p *pki) issue(t *testing.T, name string, tmpl *x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl.SerialNumber = big.NewInt(100 + p.serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", kb)
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	f := filepath.Join(p.dir, name)
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// cleanSeller is examples/seller-clean.json: approved.
func cleanSeller(requestID string) *riskv1.CheckSellerRequest {
	return &riskv1.CheckSellerRequest{
		RequestId: requestID, SellerId: "seller-1001",
		Client: &riskv1.Client{DeviceId: "dev-7f3a", IpAddress: "203.0.113.7"},
		Identity: &riskv1.IdentityDocument{Type: riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID,
			Number: "11010519491231002X", FullName: "张三"},
		License: &riskv1.BusinessLicense{Uscc: "91350100M000100Y43", CompanyName: "福州某某贸易有限公司", LegalRepresentative: "张三"},
		Contact: &riskv1.Contact{Mobile: "13800138000", Landline: "0591-87654321", Email: "shop@example.com",
			Address: "福建省福州市鼓楼区五四路 100 号"},
		Payout: &riskv1.PayoutAccount{AccountNumber: "6222020200112233445", HolderName: "福州某某贸易有限公司"},
	}
}

// coachedGiftCard is examples/gift-card-coached.json, the loan drawn an
// hour ago: held for review.
func coachedGiftCard(requestID string) *riskv1.ScoreGiftCardPurchaseRequest {
	return &riskv1.ScoreGiftCardPurchaseRequest{
		RequestId: requestID, OrderId: "order-" + requestID, AccountId: "acct-311",
		AccountCreatedAt: timestamppb.New(time.Date(2023, 3, 1, 8, 0, 0, 0, time.UTC)),
		Client:           &riskv1.Client{DeviceId: "dev-91c2", IpAddress: "198.51.100.23"},
		Total:            &riskv1.Money{AmountMinor: 10_000_000, Currency: "CNY"},
		Cards:            []*riskv1.GiftCardLine{{FaceValueMinor: 100_000, Quantity: 100}},
		Payment: &riskv1.PaymentInstrument{Fingerprint: "pi-loan-88", Kind: riskv1.InstrumentKind_INSTRUMENT_KIND_LOAN,
			CreditDrawnAt: timestamppb.New(time.Now().Add(-time.Hour))},
		Recipient: &riskv1.Recipient{Email: "buyer@example.com", OwnedByAccount: true},
		Session:   &riskv1.SessionFacts{ActiveCall: true, RemoteAccessApp: true},
	}
}

// overPaidRefund is examples/refund-over-paid.json: declined.
func overPaidRefund(requestID string) *riskv1.EvaluateRefundRequest {
	return &riskv1.EvaluateRefundRequest{
		RequestId: requestID, OrderId: "order-7730", BuyerAccountId: "acct-902", SellerId: "seller-1001",
		Client:          &riskv1.Client{DeviceId: "dev-55aa", IpAddress: "192.0.2.10"},
		AmountRequested: &riskv1.Money{AmountMinor: 50000, Currency: "CNY"},
		AmountPaid:      &riskv1.Money{AmountMinor: 20000, Currency: "CNY"},
		GoodsKind:       riskv1.GoodsKind_GOODS_KIND_PHYSICAL,
		Destination:     &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD},
	}
}

// attempt is one call as it left the client, seen by recorder.
type attempt struct {
	method    string
	requestID string
	code      codes.Code
	// left is the time the call's deadline left it when it was sent
	// (zero: no deadline).
	left time.Duration
}

// recorder records every attempt: given with
// WithDialOptions(grpc.WithChainUnaryInterceptor(r.intercept)), it runs
// inside the client's retries, once per attempt.
type recorder struct {
	mu       sync.Mutex
	attempts []attempt
	// each, if set, is called after each attempt.
	each func(attempt)
	// fail, if set, answers an attempt instead of riskd when it returns an
	// error.
	fail func(attempt) error
}

func (r *recorder) option() riskclient.Option {
	return riskclient.WithDialOptions(grpc.WithChainUnaryInterceptor(r.intercept))
}

func (r *recorder) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	a := attempt{method: method}
	if dl, ok := ctx.Deadline(); ok {
		a.left = time.Until(dl)
	}
	if m, ok := req.(interface{ GetRequestId() string }); ok {
		a.requestID = m.GetRequestId()
	}
	var err error
	if r.fail != nil {
		err = r.fail(a)
	}
	if err == nil {
		err = invoker(ctx, method, req, reply, cc, opts...)
	}
	a.code = status.Code(err)
	r.mu.Lock()
	r.attempts = append(r.attempts, a)
	each := r.each
	r.mu.Unlock()
	if each != nil {
		each(a)
	}
	return err
}

// of returns the attempts of one request_id, in order.
func (r *recorder) of(requestID string) []attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []attempt
	for _, a := range r.attempts {
		if a.requestID == requestID {
			out = append(out, a)
		}
	}
	return out
}

func (r *recorder) all() []attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]attempt(nil), r.attempts...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.attempts = nil
	r.mu.Unlock()
}

func codesOf(as []attempt) []codes.Code {
	out := make([]codes.Code, len(as))
	for i, a := range as {
		out[i] = a.code
	}
	return out
}
