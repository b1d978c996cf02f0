package console

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// The certificate header is believed only from the trusted proxies'
// addresses, IPv4-mapped IPv6 included.
func TestFromProxy(t *testing.T) {
	c := &Console{opts: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("::1/128")}}}
	for remote, want := range map[string]bool{
		"10.1.2.3:443":            true,
		"[::ffff:10.1.2.3]:443":   true,
		"[::1]:5000":              true,
		"10.2.0.1:443":            false,
		"127.0.0.1:5000":          false,
		"not-an-address":          false,
		"[fe80::1%eth0]:443":      false,
		"10.1.2.3":                false, // no port: not what net/http sets
		"[2001:db8::1]:443":       false,
		"[::ffff:192.0.2.1]:1234": false,
	} {
		r := httptest.NewRequest("POST", "/console/signin/cert", nil)
		r.RemoteAddr = remote
		if got := c.fromProxy(r); got != want {
			t.Errorf("fromProxy(%s) = %v, want %v", remote, got, want)
		}
	}
}

// The header is a proxy's, but what it carries comes from a browser:
// any value is refused or parsed, never a panic, and an oversized one is
// refused before it is decoded.
func FuzzParseCertHeader(f *testing.F) {
	f.Add("")
	f.Add("-----BEGIN%20CERTIFICATE-----%0AMIIB%0A-----END%20CERTIFICATE-----%0A")
	f.Add("%zz")
	f.Add("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := parseCertHeader(v)
		if (c == nil) == (err == nil) {
			t.Fatalf("parseCertHeader(%q) = %v, %v: want a certificate or an error", v, c, err)
		}
	})
}

func TestParseCertHeaderBound(t *testing.T) {
	if _, err := parseCertHeader(strings.Repeat("A", maxCertHeader+1)); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("an oversized header: %v, want refused for its size", err)
	}
}
