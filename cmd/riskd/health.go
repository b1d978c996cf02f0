package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/riskd/riskd/internal/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// health is `riskd health [--addr ADDR]`: exit 0 when the server reports
// SERVING. The container's health check runs it, so the image needs no
// separate probe binary.
func health(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("riskd health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := getenv(config.EnvName("listen"))
	if def == "" {
		def = config.Default().Listen
	}
	addr := fs.String("addr", def, "address of the riskd to ask")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	useTLS := fs.Bool("tls", false, "the server speaks TLS")
	caFile := fs.String("tls-ca", "", "CA (PEM) to verify the server with; the system's if empty")
	skipVerify := fs.Bool("tls-skip-verify", false, "do not verify the server's certificate (a local probe of a server whose name is not its address)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	creds, err := clientCredentials(*useTLS, *caFile, *skipVerify)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health: %s: %w", *addr, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health: %s is %s", *addr, resp.GetStatus())
	}
	return nil
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
