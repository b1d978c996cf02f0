package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthTimeout is how long `riskd health` waits by default: less than the
// Dockerfile's HEALTHCHECK --timeout, so that what Docker records is the
// probe's own reason, not "timed out" (container_test.go checks it).
const healthTimeout = 2 * time.Second

const healthUsage = `Usage: riskd health [flags]

Exits 0 when the riskd configured by the same --config/RISKD_CONFIG file,
RISKD_* variables and flags as the server reports SERVING. It asks the
configured --listen address (loopback when that is every interface), over
TLS when --tls-cert is configured, checking that the server presents the
configured certificate (or one its chain in that file issued). It needs no
credentials: riskd answers health without them, and with --tls-client-ca it
asks for a client certificate but does not require one.
`

// health is `riskd health`: exit 0 when the server reports SERVING. The
// container's health check runs it with no flags, so it reads the server's
// own configuration (file, environment, flags) and probes accordingly: a
// probe whose address or TLS setting is written separately can disagree
// with the server it probes, and then reports a healthy server unhealthy.
func health(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var p probe
	cfg, err := config.LoadCommand("riskd health", healthUsage, args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&p.addr, "addr", "", "address to ask instead of the configured --listen")
		fs.DurationVar(&p.timeout, "timeout", healthTimeout, "give up after this long")
		fs.StringVar(&p.service, "service", "", `health service to ask: "" is riskd as a whole (SERVING when it can decide), "`+server.LivenessService+`" the process alone`)
		fs.BoolVar(&p.useTLS, "tls", false, "speak TLS even if no --tls-cert is configured (a server elsewhere), verified with the system's CAs or --tls-ca")
		fs.StringVar(&p.caFile, "tls-ca", "", "CA (PEM) to verify the server with, and its name against --addr")
		fs.BoolVar(&p.skipVerify, "tls-skip-verify", false, "speak TLS without verifying the server's certificate")
	})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	addr := p.addr
	if addr == "" {
		if addr, err = probeAddr(cfg.Listen); err != nil {
			return fmt.Errorf("health: %w", err)
		}
	}
	creds, err := p.credentials(cfg)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: p.service})
	if err != nil {
		return fmt.Errorf("health: %s: %w", addr, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health: %s is %s", addr, resp.GetStatus())
	}
	return nil
}

type probe struct {
	addr, service, caFile string
	timeout               time.Duration
	useTLS, skipVerify    bool
}

// probeAddr is where a probe on the same machine reaches a server listening
// on listen: the same port, and loopback when the host is every interface
// (0.0.0.0 or ::), which is not an address to connect to.
func probeAddr(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen %q is not host:port: %w", listen, err)
	}
	if port == "0" {
		return "", fmt.Errorf("listen %q has no fixed port to ask: give --addr", listen)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port), nil
}

// credentials are the probe's transport credentials: the flags when they
// ask for TLS, else the server's own setting, plaintext without a
// certificate.
func (p probe) credentials(cfg config.Config) (credentials.TransportCredentials, error) {
	switch {
	case p.useTLS || p.caFile != "" || p.skipVerify:
		return clientCredentials(true, p.caFile, p.skipVerify)
	case cfg.TLSCert != "":
		c, err := trustServerFile(cfg.TLSCert)
		if err != nil {
			return nil, err
		}
		return credentials.NewTLS(c), nil
	default:
		return insecure.NewCredentials(), nil
	}
}

// trustServerFile verifies a server against the certificates of its own
// --tls-cert file: the certificate itself, or any the chain in that file
// issued (so a renewal the server has not picked up yet, signed by the same
// CA, still passes). The probe dials an address such as 127.0.0.1, not the
// name the certificate was issued for, so the usual name check cannot
// apply; pinning the server's own file is the check instead, which a
// skipped verification would not make. A certificate that has expired
// fails, as it would for every caller.
func trustServerFile(certFile string) (*tls.Config, error) {
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("tls-cert: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("tls-cert: %s holds no PEM certificate", certFile)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Go's own verification also checks the name; VerifyPeerCertificate
		// below does the chain check without it.
		InsecureSkipVerify: true, //nolint:gosec // verified by VerifyPeerCertificate
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the server presented no certificate")
			}
			certs := make([]*x509.Certificate, len(raw))
			for i, b := range raw {
				c, err := x509.ParseCertificate(b)
				if err != nil {
					return err
				}
				certs[i] = c
			}
			intermediates := x509.NewCertPool()
			for _, c := range certs[1:] {
				intermediates.AddCert(c)
			}
			if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates}); err != nil {
				return fmt.Errorf("the server's certificate is not from its --tls-cert file %s: %w", certFile, err)
			}
			return nil
		},
	}, nil
}

// clientCredentials are a client's transport credentials from the --tls,
// --tls-ca and --tls-skip-verify flags: plaintext unless one is set.
func clientCredentials(useTLS bool, caFile string, skipVerify bool) (credentials.TransportCredentials, error) {
	if !useTLS && caFile == "" && !skipVerify {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skipVerify} //nolint:gosec // an explicit flag for local probes
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
	}
	return credentials.NewTLS(cfg), nil
}
