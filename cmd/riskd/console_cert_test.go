package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"google.golang.org/grpc/credentials"
)

// escapeAll URL-encodes every byte but the unreserved ones, as nginx's
// $ssl_client_escaped_cert does ("+" too, and a space as %20).
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// testCA is a certificate authority of the test's own.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// clientCert issues a client certificate for cn, in PEM.
func (ca *testCA) clientCert(t *testing.T, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// Issue 20, item 5: sign-in with a client certificate that a TLS proxy
// verified and passes in a header. The console believes the header from
// the trusted proxy (the test's client, on loopback), verifies the
// certificate against riskd's client CA, and signs in the caller its
// client_cn names, with exactly that caller's grants: an analyst works
// the case (the console's calls go over TLS as a delegation), a reader
// cannot act. A certificate from another CA, one naming no caller, and
// no certificate are refused.
func TestConsoleSignsInWithAProxysCertificate(t *testing.T) {
	dir := t.TempDir()
	serverCert, serverKey := selfSigned(t, dir, 1)
	ca, stranger := newTestCA(t, "desk CA"), newTestCA(t, "another CA")
	caFile := filepath.Join(dir, "client-ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "callers:\n" +
		"  - {name: ana, client_cn: ana.desk.test, grants: [/risk.v1.ReviewService/*]}\n" +
		"  - {name: rita, client_cn: rita.desk.test, grants: [/risk.v1.ReviewService/ListCases, /risk.v1.ReviewService/GetCase]}\n" +
		"  - {name: checkout, token_sha256: " + auth.HashToken(checkoutToken) + ", grants: [/risk.v1.RiskService/*]}\n"
	path := filepath.Join(dir, "riskd.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, "--config", path, "--admin-listen", "127.0.0.1:0", "--tls-cert", serverCert, "--tls-key", serverKey,
		"--tls-client-ca", caFile, "--console-cert-header", "X-Client-Cert", "--console-trusted-proxies", "127.0.0.1/32, ::1")
	var base string
	for _, l := range p.Logs() {
		if l["msg"] == "riskd ready" {
			base = "http://" + l["admin_addr"].(string) + "/console/"
		}
	}
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(serverCert)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("server certificate: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range p.Logs() {
				if l["level"] == "WARN" || l["level"] == "ERROR" {
					t.Logf("riskd: %v", l)
				}
			}
		}
	})
	held, _ := holdCoachedOrderOver(t, p.Addr, credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))

	// signIn posts the certificate sign-in as the proxy would, with the
	// certificate URL-encoded (nginx's $ssl_client_escaped_cert).
	signIn := func(certPEM string) (*browser, int, string) {
		b := newBrowser(t, base)
		b.header = http.Header{}
		if certPEM != "" {
			b.header.Set("X-Client-Cert", escapeAll(certPEM))
		}
		_, page := b.do("GET", "signin", nil)
		if !strings.Contains(page, `id="signin-cert"`) {
			t.Fatalf("the sign-in page offers no certificate sign-in:\n%s", page)
		}
		code, out := b.do("POST", "signin/cert", url.Values{"csrf": {csrfOf(t, page)}})
		return b, code, out
	}
	for name, certPEM := range map[string]string{
		"a certificate from another CA":  stranger.clientCert(t, "ana.desk.test"),
		"a certificate naming no caller": ca.clientCert(t, "mallory.desk.test"),
		"no certificate":                 "",
	} {
		if _, code, out := signIn(certPEM); code != http.StatusUnauthorized || !strings.Contains(out, "did not sign you in") {
			t.Errorf("sign-in with %s: %d, want 401", name, code)
		}
	}

	ana, code, queue := signIn(ca.clientCert(t, "ana.desk.test"))
	if code != http.StatusOK || !strings.Contains(queue, `data-id="`+held+`"`) || !strings.Contains(queue, "ana") {
		t.Fatalf("ana's certificate sign-in: %d\n%s", code, queue)
	}
	// The session is ana's: later requests need no header.
	ana.header = nil
	_, casePage := ana.do("GET", "case/"+held, nil)
	if code, pg := ana.do("POST", "case/"+held+"/claim", url.Values{"csrf": {csrfOf(t, casePage)}}); code != http.StatusOK ||
		!strings.Contains(pg, `id="confirm-fraud"`) || !strings.Contains(pg, "ana (") {
		t.Fatalf("ana claims: %d\n%s", code, pg)
	}

	rita, code, _ := signIn(ca.clientCert(t, "rita.desk.test"))
	if code != http.StatusOK {
		t.Fatalf("rita's certificate sign-in: %d", code)
	}
	_, pg := rita.do("GET", "case/"+held, nil)
	if strings.Contains(pg, `id="release"`) || strings.Contains(pg, `id="claim"`) || !strings.Contains(pg, "ana (") {
		t.Errorf("rita, a reader, sees the case held by ana and no action: %s", pg)
	}
	if code, _ := rita.do("POST", "case/"+held+"/release", url.Values{"csrf": {csrfOf(t, pg)}}); code != http.StatusForbidden {
		t.Errorf("rita's forged release: %d, want 403 (her grants)", code)
	}
}
