package console

// Sign-in with a client certificate, through a TLS proxy: the proxy
// verifies the user's certificate and passes it in a header; the console
// believes the header only from the proxy's addresses, verifies the
// certificate again against riskd's client CA (a proxy set to pass any
// certificate must not let one in), and signs in the caller whose
// client_cn it names. That user has no token to send, so the console's
// calls carry an auth.Delegate value instead.

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
)

// maxCertHeader bounds the header: a client certificate chain in PEM is a
// few kilobytes.
const maxCertHeader = 16 << 10

// parseCertHeader reads the proxy's header: a PEM certificate, URL-encoded
// (nginx's $ssl_client_escaped_cert) or not. Only the first certificate
// counts: it is the client's own.
func parseCertHeader(v string) (*x509.Certificate, error) {
	if v == "" {
		return nil, errors.New("no certificate in the header")
	}
	if len(v) > maxCertHeader {
		return nil, fmt.Errorf("header over %d bytes", maxCertHeader)
	}
	// PathUnescape, not QueryUnescape: a raw PEM's "+" is base64, not a
	// space.
	text, err := url.PathUnescape(v)
	if err != nil {
		return nil, fmt.Errorf("header is not URL-encoded PEM: %w", err)
	}
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("header holds no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

// fromProxy reports whether the request came from a trusted proxy.
func (c *Console) fromProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range c.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// certCaller is the configured caller the request's certificate names,
// or why there is none (for the log; the user is told only that the
// certificate did not sign them in).
func (c *Console) certCaller(r *http.Request) (string, error) {
	if !c.fromProxy(r) {
		return "", fmt.Errorf("%s is not a trusted proxy (--console-trusted-proxies)", r.RemoteAddr)
	}
	cert, err := parseCertHeader(r.Header.Get(c.opts.CertHeader))
	if err != nil {
		return "", err
	}
	var roots *x509.CertPool
	if c.opts.ClientCAs != nil {
		roots = c.opts.ClientCAs()
	}
	if roots == nil {
		return "", errors.New("no client CA to verify the certificate with (--tls-client-ca)")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: c.opts.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "", fmt.Errorf("certificate %q: %w", cert.Subject.CommonName, err)
	}
	id := c.opts.Auth.ForCertificate(cert)
	if id == nil {
		return "", fmt.Errorf("certificate %q names no caller's client_cn", cert.Subject.CommonName)
	}
	return id.Name, nil
}

func (c *Console) signinCert(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(preCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), ck.Value) {
		c.fail(w, r, nil, http.StatusForbidden, "err_csrf")
		return
	}
	user, err := c.certCaller(r)
	if err != nil {
		c.opts.Logger.Warn("console sign-in with a certificate refused", "error", err, "remote", r.RemoteAddr)
		c.renderSignin(w, r, http.StatusUnauthorized, "err_bad_cert")
		return
	}
	c.startSession(w, r, "", user, "certificate")
}
