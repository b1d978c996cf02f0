package riskclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Defaults of a Client.
const (
	// DefaultDeadline is the deadline of a call whose context has none:
	// riskd sits on the payment path, where nothing may wait forever. It is
	// riskd's own default_deadline.
	DefaultDeadline = 2 * time.Second
	// DefaultAttempts is how many times a retryable call is sent at most.
	DefaultAttempts = 3
	// DefaultBackoff is the wait before the first retry; it doubles for
	// each further one, up to MaxBackoff.
	DefaultBackoff = 50 * time.Millisecond
	// MaxBackoff caps the wait between two attempts.
	MaxBackoff = time.Second
)

// Client calls riskd over one gRPC connection. It is safe for concurrent
// use; make one per riskd target and share it.
type Client struct {
	conn     *grpc.ClientConn
	risk     riskv1.RiskServiceClient
	policy   riskv1.PolicyServiceClient
	health   healthpb.HealthClient
	deadline time.Duration
	attempts int
	backoff  time.Duration
}

// An Option configures a Client.
type Option func(*options)

type options struct {
	transport      []string // names of the transport options given, to refuse two
	creds          credentials.TransportCredentials
	token          string
	tokenSet       bool
	tokenPlaintext bool
	deadline       time.Duration
	attempts       int
	backoff        time.Duration
	dial           []grpc.DialOption
	err            error
}

func (o *options) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

// WithInsecure sends calls in plaintext. riskd listens without TLS only on
// loopback (when no callers are configured) or behind something that
// terminates TLS for it; plaintext is never the default.
func WithInsecure() Option {
	return func(o *options) {
		o.transport = append(o.transport, "WithInsecure")
		o.creds = insecure.NewCredentials()
	}
}

// WithTLS verifies riskd's certificate against the CA certificates (PEM)
// in caFile, or against the system's roots when caFile is empty. Without a
// transport option this is the default, with the system's roots.
func WithTLS(caFile string) Option {
	return func(o *options) {
		o.transport = append(o.transport, "WithTLS")
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pool, err := loadPool(caFile)
			if err != nil {
				o.fail(fmt.Errorf("riskclient: WithTLS: %w", err))
				return
			}
			cfg.RootCAs = pool
		}
		o.creds = credentials.NewTLS(cfg)
	}
}

// WithTLSConfig uses cfg (cloned) for TLS, for what WithTLS and WithMTLS
// do not cover: a certificate rotated in memory (GetClientCertificate),
// another server name. A cfg without a MinVersion gets TLS 1.2, riskd's.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(o *options) {
		o.transport = append(o.transport, "WithTLSConfig")
		if cfg == nil {
			o.fail(errors.New("riskclient: WithTLSConfig: nil config"))
			return
		}
		cfg = cfg.Clone()
		if cfg.MinVersion == 0 {
			cfg.MinVersion = tls.VersionTLS12
		}
		o.creds = credentials.NewTLS(cfg)
	}
}

// WithMTLS presents the client certificate certFile with its key keyFile
// (PEM) and verifies riskd's certificate against caFile (the system's
// roots when empty). riskd matches the certificate's CN or a DNS name
// against a caller's client_cn. The files are read once, by New.
func WithMTLS(certFile, keyFile, caFile string) Option {
	return func(o *options) {
		o.transport = append(o.transport, "WithMTLS")
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			o.fail(fmt.Errorf("riskclient: WithMTLS: %w", err))
			return
		}
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
		if caFile != "" {
			if cfg.RootCAs, err = loadPool(caFile); err != nil {
				o.fail(fmt.Errorf("riskclient: WithMTLS: %w", err))
				return
			}
		}
		o.creds = credentials.NewTLS(cfg)
	}
}

// WithToken sends "authorization: Bearer <token>" on every call. New
// refuses it over plaintext: a token is a password, and anyone on the path
// could replay it. See WithInsecureToken for loopback.
func WithToken(token string) Option {
	return func(o *options) { o.token, o.tokenSet, o.tokenPlaintext = token, true, false }
}

// WithInsecureToken is WithToken allowed over plaintext, for a riskd on
// loopback (a sidecar, a test): New refuses it for any other target.
func WithInsecureToken(token string) Option {
	return func(o *options) { o.token, o.tokenSet, o.tokenPlaintext = token, true, true }
}

// WithDeadline sets the deadline of calls whose context has none
// (DefaultDeadline otherwise). It covers the whole call, retries and the
// waits between them included. Zero or less leaves such calls to riskd's
// own default_deadline.
func WithDeadline(d time.Duration) Option {
	return func(o *options) { o.deadline = d }
}

// WithRetry sends a retryable call (see the package documentation) at most
// attempts times, waiting backoff before the first retry and twice as long
// before each further one (at most MaxBackoff), each wait jittered down by
// up to half so that callers shed together do not come back together. A
// retry is made only if the deadline leaves time for its wait; otherwise
// the last answer is returned. attempts of 1 turns retries off.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(o *options) {
		if attempts < 1 || backoff < 0 {
			o.fail(fmt.Errorf("riskclient: WithRetry(%d, %s): want at least one attempt and a backoff of zero or more", attempts, backoff))
			return
		}
		o.attempts, o.backoff = attempts, backoff
	}
}

// WithDialOptions adds gRPC dial options, after the client's own: a later
// transport credential replaces the client's, and unary interceptors added
// with grpc.WithChainUnaryInterceptor run inside the client's, once per
// attempt (the client's own sets the default deadline and retries).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dial = append(o.dial, opts...) }
}

// New makes a Client for target ("host:port", or any gRPC target such as
// "dns:///riskd.internal:50051" or "unix:///run/riskd.sock"). Like
// grpc.NewClient it does not connect: the first call does, and a riskd
// not reachable yet is a retryable UNAVAILABLE then. Call Health to check
// the connection up front. Close the Client when done.
func New(target string, opts ...Option) (*Client, error) {
	o := &options{deadline: DefaultDeadline, attempts: DefaultAttempts, backoff: DefaultBackoff}
	for _, opt := range opts {
		opt(o)
	}
	if o.err != nil {
		return nil, o.err
	}
	switch len(o.transport) {
	case 0:
		WithTLS("")(o)
	case 1:
	default:
		return nil, fmt.Errorf("riskclient: give one of WithInsecure, WithTLS, WithTLSConfig and WithMTLS, not %s", strings.Join(o.transport, " and "))
	}
	dial := []grpc.DialOption{grpc.WithTransportCredentials(o.creds)}
	if o.tokenSet {
		if o.token == "" {
			// Most likely an unset environment variable: say so now, not
			// as UNAUTHENTICATED on the first call.
			return nil, errors.New("riskclient: WithToken with an empty token")
		}
		plaintext := o.creds.Info().SecurityProtocol == "insecure"
		switch {
		case plaintext && !o.tokenPlaintext:
			return nil, errors.New("riskclient: WithToken over plaintext would send the token in the clear: use WithTLS, or WithInsecureToken for a riskd on loopback")
		case plaintext && !loopbackTarget(target):
			return nil, fmt.Errorf("riskclient: WithInsecureToken: %s is not a loopback target: use WithTLS", target)
		}
		dial = append(dial, grpc.WithPerRPCCredentials(bearer{token: o.token, requireTLS: !o.tokenPlaintext}))
	}
	c := &Client{deadline: o.deadline, attempts: o.attempts, backoff: o.backoff}
	// The client's interceptor first: options given later chain inside it.
	dial = append(dial, grpc.WithChainUnaryInterceptor(c.intercept))
	conn, err := grpc.NewClient(target, append(dial, o.dial...)...)
	if err != nil {
		return nil, fmt.Errorf("riskclient: %w", err)
	}
	c.conn = conn
	c.risk = riskv1.NewRiskServiceClient(conn)
	c.policy = riskv1.NewPolicyServiceClient(conn)
	c.health = healthpb.NewHealthClient(conn)
	return c, nil
}

// Close closes the connection; calls in flight fail.
func (c *Client) Close() error { return c.conn.Close() }

// Conn is the underlying connection, for services this package does not
// wrap. Calls on it get the default deadline, retries where safe and
// *Error errors, as the Client's own do.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Risk is the generated RiskService client over the same connection, for
// what the helpers do not cover (response headers, a call option).
func (c *Client) Risk() riskv1.RiskServiceClient { return c.risk }

// Policy is the generated PolicyService client over the same connection.
func (c *Client) Policy() riskv1.PolicyServiceClient { return c.policy }

// Health asks riskd's health service whether it is serving. It returns
// nil when it is, and an error otherwise: the call's *Error, or an error
// naming the status riskd reported. It is never retried.
func (c *Client) Health(ctx context.Context) error {
	resp, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("riskclient: riskd is %s", s)
	}
	return nil
}

// bearer is a token sent as per-call credentials. requireTLS makes gRPC
// itself refuse to send it over plaintext, whatever dial options follow.
type bearer struct {
	token      string
	requireTLS bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.requireTLS }

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// loopbackTarget reports whether a gRPC target names this machine: a unix
// socket, "localhost" or a loopback address, bare or after dns:/// or
// passthrough:///. Anything it cannot read is not loopback.
func loopbackTarget(target string) bool {
	hostport := target
	if u, err := url.Parse(target); err == nil && u.Scheme != "" {
		switch u.Scheme {
		case "unix", "unix-abstract":
			return true
		case "dns", "passthrough":
			hostport = strings.TrimPrefix(u.Path, "/")
		}
		// Any other scheme is no resolver gRPC knows, so gRPC reads the
		// whole target as dns:///target ("localhost:50051" parses with
		// scheme "localhost").
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
