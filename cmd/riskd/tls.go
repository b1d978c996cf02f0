package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/riskd/riskd/internal/config"
	"google.golang.org/grpc/credentials"
)

// certs serves the configured certificate and client CA, reading them again
// when their files change, so a renewed certificate takes effect without a
// restart. Files are checked at most every few seconds, on handshakes.
type certs struct {
	cert, key, ca string
	log           *slog.Logger

	mu      sync.Mutex
	checked time.Time
	stamp   string
	pair    *tls.Certificate
	pool    *x509.CertPool
}

const certCheckEvery = 5 * time.Second

func newCerts(cfg config.Config, log *slog.Logger) (*certs, error) {
	c := &certs{cert: cfg.TLSCert, key: cfg.TLSKey, ca: cfg.TLSClientCA, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certs) fileStamp() string {
	s := ""
	for _, f := range []string{c.cert, c.key, c.ca} {
		if f == "" {
			continue
		}
		if st, err := os.Stat(f); err == nil {
			s += fmt.Sprint(st.Size(), st.ModTime().UnixNano(), ";")
		}
	}
	return s
}

func (c *certs) load() error {
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	var pool *x509.CertPool
	if c.ca != "" {
		pem, err := os.ReadFile(c.ca)
		if err != nil {
			return fmt.Errorf("tls client CA: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls client CA: %s holds no PEM certificate", c.ca)
		}
	}
	c.pair, c.pool, c.stamp = &pair, pool, c.fileStamp()
	return nil
}

// current reloads changed files; a bad new file is logged and the old
// certificate kept, so a half-written renewal never takes riskd down.
func (c *certs) current() (*tls.Certificate, *x509.CertPool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) > certCheckEvery {
		c.checked = time.Now()
		if c.fileStamp() != c.stamp {
			old := c.pair
			if err := c.load(); err != nil {
				c.pair = old
				c.log.Error("TLS files changed but do not load; keeping the old certificate", "error", err)
			} else {
				c.log.Info("TLS certificate reloaded", "cert", c.cert)
			}
		}
	}
	return c.pair, c.pool
}

// credentials builds the server's transport credentials: TLS, and mTLS
// (client certificates verified when presented) with a client CA. A client
// without a certificate may still authenticate with a token.
func (c *certs) credentials() credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			pair, pool := c.current()
			cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*pair}}
			if pool != nil {
				cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
			}
			return cfg, nil
		},
	})
}
