package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/auth"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// selfSigned writes a certificate for 127.0.0.1 with the given serial and
// its key, PEM, into dir.
func selfSigned(t *testing.T, dir string, serial int64) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "riskd.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// Write then rename, as a certificate renewal would.
	for f, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	} {
		if err := os.WriteFile(f+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f+".tmp", f); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// servedSerial connects with TLS and returns the serial of the certificate
// the server presents.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test reads the certificate served
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func TestTLSTokensAndCertificateReload(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir, 1)
	cfg := filepath.Join(dir, "config.yaml")
	callers := "callers:\n  - name: checkout\n    token_sha256: " + auth.HashToken("s3cret-token") +
		"\n    grants: [/risk.v1.RiskService/EvaluateRefund]\n"
	if err := os.WriteFile(cfg, []byte(callers), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, "--config", cfg, "--tls-cert", cert, "--tls-key", key)
	if got := servedSerial(t, p.Addr); got != 1 {
		t.Fatalf("served certificate %d, want 1", got)
	}

	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}))) //nolint:gosec // self-signed test certificate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := riskv1.NewRiskServiceClient(conn)
	refund := &riskv1.EvaluateRefundRequest{
		RequestId: "tls-1", OrderId: "o", BuyerAccountId: "b", SellerId: "s",
		Client:          &riskv1.Client{DeviceId: "d", IpAddress: "127.0.0.1"},
		AmountRequested: &riskv1.Money{AmountMinor: 100, Currency: "CNY"},
		AmountPaid:      &riskv1.Money{AmountMinor: 100, Currency: "CNY"},
		GoodsKind:       riskv1.GoodsKind_GOODS_KIND_PHYSICAL,
		Destination:     &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD},
	}
	ctx := context.Background()
	if _, err := c.EvaluateRefund(ctx, refund); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v, want UNAUTHENTICATED", err)
	}
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer s3cret-token")
	if _, err := c.EvaluateRefund(authed, refund); err != nil {
		t.Fatalf("granted call: %v", err)
	}
	if _, err := c.GetDecision(authed, &riskv1.GetDecisionRequest{DecisionId: "x"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("call not granted: %v, want PERMISSION_DENIED", err)
	}
	// "s3cret-token" is too short (12 characters): both calls were let in,
	// and the binary warned once, naming the field.
	shortWarnings := func() (n int, field any) {
		for _, l := range p.Logs() {
			if m, _ := l["msg"].(string); strings.Contains(m, "token is too short") {
				n, field = n+1, l["field"]
			}
		}
		return n, field
	}
	if !eventually(5*time.Second, func() bool { n, _ := shortWarnings(); return n > 0 }) {
		t.Errorf("a 12-character token was not warned of: %v", p.Messages())
	} else if n, field := shortWarnings(); n != 1 || field != "callers[0].token_sha256" {
		t.Errorf("short-token warnings: %d naming %v, want one naming callers[0].token_sha256", n, field)
	}
	// Health answers without credentials, over TLS.
	if out, err := exec.Command(binary(t), "health", "--addr", p.Addr, "--tls-skip-verify").CombinedOutput(); err != nil {
		t.Fatalf("riskd health --tls-skip-verify: %v %s", err, out)
	}

	// A renewed certificate is served without a restart.
	selfSigned(t, dir, 2)
	deadline := time.Now().Add(15 * time.Second)
	for servedSerial(t, p.Addr) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not served without a restart")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !eventually(5*time.Second, func() bool { return strings.Contains(strings.Join(p.Messages(), "|"), "TLS certificate reloaded") }) {
		t.Errorf("the reload was not logged: %v", p.Messages())
	}
}

func TestOpenListenerWithoutCredentialsIsRefused(t *testing.T) {
	cmd := exec.Command(binary(t), "--listen", "0.0.0.0:0", "--data-dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no callers are configured") {
		t.Fatalf("riskd on 0.0.0.0 without credentials: err %v, output %s", err, out)
	}
}
