package main

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/riskd/riskd/internal/auth"
	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/console"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// newConsole builds the review console on a gRPC client of riskd's own
// listener (grpcAddr): the console's calls go through the same
// authentication, grants, validation, limits and logs as any caller's.
// Over TLS the connection trusts the server's own --tls-cert file, as the
// health probe does: it dials an address, not the certificate's name.
//
// clientCAs, with --console-cert-header, verifies the certificates a
// trusted proxy passes (the client CA of --tls-client-ca, as reloaded).
func newConsole(cfg config.Config, grpcAddr net.Addr, callers *auth.Table, clientCAs func() *x509.CertPool, log *slog.Logger) (http.Handler, func(), error) {
	target := grpcAddr.String()
	if tcp, ok := grpcAddr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		// Listening on every interface: loopback is one of them.
		target = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
		if tcp.IP.To4() == nil {
			target = net.JoinHostPort("::1", fmt.Sprint(tcp.Port))
		}
	}
	if h, _, err := net.SplitHostPort(cfg.AdminListen); err == nil {
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			// As riskd warns of tokens over gRPC without TLS: the console's
			// sign-in carries a token, and the admin listener is plain HTTP.
			log.Warn("the review console is served on a non-loopback admin listener in plain HTTP: sign-in tokens travel in the clear; reach it through a TLS proxy or a port-forward",
				"admin_listen", cfg.AdminListen, "path", console.Prefix)
		}
	}
	creds := insecure.NewCredentials()
	if cfg.TLSCert != "" {
		tc, err := trustServerFile(cfg.TLSCert)
		if err != nil {
			return nil, nil, err
		}
		creds = credentials.NewTLS(tc)
	}
	conn, err := grpc.NewClient("passthrough:///"+target, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	opts := console.Options{Conn: conn, Auth: callers, TraceURL: cfg.ConsoleTraceURL, Logger: log}
	if cfg.ConsoleCertHeader != "" {
		// Validated with the config: the proxies parse, a client CA is set.
		proxies, err := config.ParseProxies(cfg.ConsoleTrustedProxies)
		if err != nil {
			conn.Close()
			return nil, nil, err
		}
		opts.CertHeader, opts.TrustedProxies, opts.ClientCAs = cfg.ConsoleCertHeader, proxies, clientCAs
	}
	c, err := console.New(opts)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return c, func() { _ = conn.Close() }, nil
}
