// Package config is riskd's one typed configuration: defaults, then an
// optional YAML file, then RISKD_* environment variables, then flags, each
// overriding the one before. Validate runs before anything starts and names
// the field at fault by its flag name, which is also its YAML key with dashes.
package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"go.yaml.in/yaml/v3"
)

// Config is everything riskd needs to start.
type Config struct {
	// Listen is the gRPC address. Loopback by default: exposing riskd is a
	// decision an operator makes, not an accident.
	Listen string `yaml:"listen"`
	// DataDir is the embedded store's directory.
	DataDir string `yaml:"data_dir"`
	// Store is "embedded" (pebble in DataDir) or "postgres" (shared by
	// several replicas).
	Store string `yaml:"store"`
	// PostgresURL is the database for store "postgres".
	PostgresURL string `yaml:"postgres_url"`
	// PostgresMaxConns sizes the connection pool.
	PostgresMaxConns int `yaml:"postgres_max_conns"`
	// PostgresSchema holds riskd's tables.
	PostgresSchema string `yaml:"postgres_schema"`
	// PostgresTimeout bounds each database operation inside the caller's
	// deadline: a database whose packets are dropped costs a call this
	// long, and once a ping has failed, nothing (calls fail at once).
	PostgresTimeout time.Duration `yaml:"postgres_timeout"`
	// RedisURL, with store "postgres", keeps velocity counters in Redis.
	RedisURL string `yaml:"redis_url"`
	// Policy is a policy file replacing the embedded default.
	Policy string `yaml:"policy"`
	// PolicyPoll is how often the policy file is checked for changes;
	// SIGHUP reloads at once.
	PolicyPoll time.Duration `yaml:"policy_poll"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM; calls still
	// running after it are cut.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// LogOKEvery logs one successful call in this many (1: all, 0: none);
	// refused, failed and slow calls are always logged.
	LogOKEvery int `yaml:"log_ok_every"`
	// LogSlow is the duration from which a successful call is logged at
	// warn whatever LogOKEvery says (0: never).
	LogSlow time.Duration `yaml:"log_slow"`
	// DrainDelay is how long riskd keeps serving on SIGTERM after health
	// turns NOT_SERVING, before it stops taking calls: load balancers see
	// NOT_SERVING only at their next probe, and send calls until then.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// DecisionReserve is kept back from each caller's deadline for the
	// policy, the store and the answer's trip back.
	DecisionReserve time.Duration `yaml:"decision_reserve"`
	// MaxMessageBytes caps a received message.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxConcurrentStreams caps concurrent calls per connection.
	MaxConcurrentStreams uint32 `yaml:"max_concurrent_streams"`
	// KeepaliveTime is how often the server pings an idle connection.
	KeepaliveTime time.Duration `yaml:"keepalive_time"`
	// KeepaliveTimeout is how long a ping may go unanswered.
	KeepaliveTimeout time.Duration `yaml:"keepalive_timeout"`
	// KeepaliveMinClientInterval is the most often a client may ping.
	KeepaliveMinClientInterval time.Duration `yaml:"keepalive_min_client_interval"`
	// MaxConnectionIdle closes connections idle this long.
	MaxConnectionIdle time.Duration `yaml:"max_connection_idle"`
	// Reflection serves gRPC server reflection, for grpcurl.
	Reflection bool `yaml:"reflection"`
	// IdentifierKey is the hex HMAC key for personal identifiers. Empty
	// means the key file in DataDir, created on first start. Prefer the
	// environment or the config file to the flag: flags show in ps.
	IdentifierKey string `yaml:"identifier_key"`
	// KeyOnCommandLine records that the key came as --identifier-key,
	// where ps shows it to every user of the machine: riskd warns.
	KeyOnCommandLine bool `yaml:"-"`
	// EventRetention keeps history and counters this long: at least the
	// longest window any rule reads, and at least every check's
	// history_lookback in the policy (riskd refuses a policy that reads
	// further back than this).
	EventRetention time.Duration `yaml:"event_retention"`
	// DecisionRetention keeps decisions, links and outcomes this long.
	DecisionRetention time.Duration `yaml:"decision_retention"`
	// ExpiryInterval is how often expired data is deleted.
	ExpiryInterval time.Duration `yaml:"expiry_interval"`
	// CaseExpiryInterval is how often cases past their due time are
	// resolved by their expiry action: a case expires at most this late.
	CaseExpiryInterval time.Duration `yaml:"case_expiry_interval"`
	// TLSCert and TLSKey serve TLS; reloaded when the files change.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// TLSClientCA verifies client certificates (mTLS) when given.
	TLSClientCA string `yaml:"tls_client_ca"`
	// Callers are who may call, with what credentials and grants. Only
	// from the config file: tokens are given as SHA-256 hashes.
	Callers []auth.Caller `yaml:"callers"`
	// RatePerCaller limits each caller's calls per second (0: none), with
	// bursts of RateBurst.
	RatePerCaller float64 `yaml:"rate_per_caller"`
	RateBurst     int     `yaml:"rate_burst"`
	// MaxInFlight sheds calls beyond this many at once.
	MaxInFlight int `yaml:"max_in_flight"`
	// DefaultDeadline is given to calls that come without one.
	DefaultDeadline time.Duration `yaml:"default_deadline"`
	// AdminListen serves the admin HTTP endpoints: /metrics (Prometheus)
	// and /debug/store, and pprof when Pprof is set. Loopback by default;
	// empty turns it off.
	AdminListen string `yaml:"admin_listen"`
	// Pprof serves Go's profiles under /debug/pprof/ on the admin
	// listener, which must then be on loopback: profiles are not for the
	// network.
	Pprof bool `yaml:"pprof"`
	// ConsoleTraceURL links a case in the review console to its trace: a
	// URL template with {trace_id} (Jaeger, Grafana...). Empty: no link.
	ConsoleTraceURL string `yaml:"console_trace_url"`
	// ConsoleCertHeader is the HTTP header in which a TLS proxy in front of
	// the console passes the client certificate it verified (URL-encoded
	// PEM, as nginx's $ssl_client_escaped_cert), for signing in without a
	// token. Empty: sign-in with a token only.
	ConsoleCertHeader string `yaml:"console_cert_header"`
	// ConsoleTrustedProxies are the addresses (IPs or CIDR ranges, comma
	// separated) whose ConsoleCertHeader is believed; from anyone else the
	// header is ignored.
	ConsoleTrustedProxies string `yaml:"console_trusted_proxies"`
}

// Default returns the embedded defaults.
func Default() Config { return defaults(os.Getenv) }

func defaults(getenv func(string) string) Config {
	return Config{
		Listen:                     "127.0.0.1:50051",
		DataDir:                    defaultDataDir(getenv),
		Store:                      "embedded",
		PostgresMaxConns:           20,
		PostgresSchema:             "riskd",
		PostgresTimeout:            2 * time.Second,
		LogLevel:                   "info",
		PolicyPoll:                 2 * time.Second,
		ShutdownTimeout:            10 * time.Second,
		DrainDelay:                 5 * time.Second,
		AdminListen:                "127.0.0.1:9464",
		LogOKEvery:                 1,
		LogSlow:                    500 * time.Millisecond,
		DecisionReserve:            40 * time.Millisecond,
		MaxMessageBytes:            1 << 20,
		MaxConcurrentStreams:       1024,
		KeepaliveTime:              2 * time.Minute,
		KeepaliveTimeout:           20 * time.Second,
		KeepaliveMinClientInterval: 10 * time.Second,
		MaxConnectionIdle:          15 * time.Minute,
		Reflection:                 true,
		EventRetention:             400 * 24 * time.Hour,
		DecisionRetention:          400 * 24 * time.Hour,
		ExpiryInterval:             time.Minute,
		CaseExpiryInterval:         5 * time.Second,
		MaxInFlight:                512,
		RateBurst:                  100,
		DefaultDeadline:            2 * time.Second,
	}
}

// defaultDataDir follows the XDG state directory, then ./data.
func defaultDataDir(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "riskd")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "riskd")
	}
	return "data"
}

// EnvPrefix starts every environment variable riskd reads for its config.
const EnvPrefix = "RISKD_"

// EnvName is the environment variable for a flag: --data-dir is RISKD_DATA_DIR.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load builds the config from args (without the program name), the
// environment (getenv) and the file named by --config or RISKD_CONFIG.
// It does not validate; call Validate.
func Load(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	return LoadCommand("riskd", "Usage: riskd [flags]\n       riskd health [flags]\n       riskd token\n", args, getenv, stderr, nil)
}

// LoadCommand is Load for riskd or one of its commands that reads the
// server's configuration (riskd health, which must see exactly what the
// server it probes was started with). name names the flag set, usage heads
// its help, and more, when not nil, binds the command's own flags on the
// same flag set: those are read from the command line only, never from
// the environment or the file, which configure the server.
func LoadCommand(name, usage string, args []string, getenv func(string) string, stderr io.Writer, more func(*flag.FlagSet)) (Config, error) {
	cfg := defaults(getenv)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var file string
	fs.StringVar(&file, "config", "", "optional YAML config file (env RISKD_CONFIG)")
	bind(fs, &cfg)
	server := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { server[f.Name] = true })
	if more != nil {
		more(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\nEach configuration flag also reads the environment variable RISKD_<FLAG> (dashes as underscores).\n\n", usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// Remember which flags the command line set, then lay the file and the
	// environment under them and parse the command line again on top.
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if file == "" {
		file = getenv(EnvName("config"))
	}
	cfg = defaults(getenv)
	if file != "" {
		if err := loadFile(file, &cfg); err != nil {
			return Config{}, err
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || f.Name == "config" || !server[f.Name] {
			return
		}
		if explicit[f.Name] {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", EnvName(f.Name), e)
			}
		}
	})
	if err != nil {
		return Config{}, err
	}
	if err := fs.Parse(args); err != nil { // parsed once already, so it parses again
		return Config{}, err
	}
	cfg.KeyOnCommandLine = explicit["identifier-key"]
	return cfg, nil
}

func bind(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "gRPC listen address")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "embedded store's directory")
	fs.StringVar(&c.Store, "store", c.Store, "embedded or postgres")
	fs.StringVar(&c.PostgresURL, "postgres-url", c.PostgresURL, "PostgreSQL connection string, for --store postgres")
	fs.IntVar(&c.PostgresMaxConns, "postgres-max-conns", c.PostgresMaxConns, "PostgreSQL connection pool size")
	fs.StringVar(&c.PostgresSchema, "postgres-schema", c.PostgresSchema, "PostgreSQL schema for riskd's tables")
	fs.DurationVar(&c.PostgresTimeout, "postgres-timeout", c.PostgresTimeout, "budget of each PostgreSQL operation, inside the caller's deadline")
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "Redis for velocity counters, with --store postgres (optional)")
	fs.StringVar(&c.Policy, "policy", c.Policy, "policy file replacing the embedded default")
	fs.DurationVar(&c.PolicyPoll, "policy-poll", c.PolicyPoll, "check the policy file for changes this often")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "bound on the graceful drain at shutdown")
	fs.IntVar(&c.LogOKEvery, "log-ok-every", c.LogOKEvery, "log one successful call in this many (1: all, 0: none); refused, failed and slow calls always log")
	fs.DurationVar(&c.LogSlow, "log-slow", c.LogSlow, "a successful call this slow is always logged, at warn (0: never)")
	fs.DurationVar(&c.DrainDelay, "drain-delay", c.DrainDelay, "on SIGTERM, serve on this long after health turns NOT_SERVING (a second signal cuts it short)")
	fs.DurationVar(&c.DecisionReserve, "decision-reserve", c.DecisionReserve, "time kept back from each caller's deadline")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", c.MaxMessageBytes, "largest message accepted")
	fs.Func("max-concurrent-streams", "concurrent calls per connection (default 1024)", func(s string) error {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return err
		}
		c.MaxConcurrentStreams = uint32(n)
		return nil
	})
	fs.DurationVar(&c.KeepaliveTime, "keepalive-time", c.KeepaliveTime, "ping an idle connection this often")
	fs.DurationVar(&c.KeepaliveTimeout, "keepalive-timeout", c.KeepaliveTimeout, "drop a connection whose ping goes unanswered this long")
	fs.DurationVar(&c.KeepaliveMinClientInterval, "keepalive-min-client-interval", c.KeepaliveMinClientInterval, "most often a client may ping")
	fs.DurationVar(&c.MaxConnectionIdle, "max-connection-idle", c.MaxConnectionIdle, "close connections idle this long")
	fs.BoolVar(&c.Reflection, "reflection", c.Reflection, "serve gRPC server reflection")
	fs.StringVar(&c.IdentifierKey, "identifier-key", c.IdentifierKey, "hex HMAC key for personal identifiers (default: key file in the data dir)")
	fs.DurationVar(&c.EventRetention, "event-retention", c.EventRetention, "keep history and counters this long")
	fs.DurationVar(&c.DecisionRetention, "decision-retention", c.DecisionRetention, "keep decisions, links and outcomes this long")
	fs.DurationVar(&c.ExpiryInterval, "expiry-interval", c.ExpiryInterval, "delete expired data this often")
	fs.DurationVar(&c.CaseExpiryInterval, "case-expiry-interval", c.CaseExpiryInterval, "resolve cases past their due time this often")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "server certificate (PEM) for TLS")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "server key (PEM) for TLS")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", c.TLSClientCA, "CA (PEM) verifying client certificates, for mTLS")
	fs.Float64Var(&c.RatePerCaller, "rate-per-caller", c.RatePerCaller, "calls per second per caller (0: no limit)")
	fs.IntVar(&c.RateBurst, "rate-burst", c.RateBurst, "burst above the per-caller rate")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", c.MaxInFlight, "calls at once before shedding (0: no limit)")
	fs.DurationVar(&c.DefaultDeadline, "default-deadline", c.DefaultDeadline, "deadline for calls that come without one")
	fs.StringVar(&c.AdminListen, "admin-listen", c.AdminListen, "admin HTTP listener: /metrics, /debug/store, pprof with --pprof (off when empty)")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "serve Go's profiles on the admin listener (which must be on loopback)")
	fs.StringVar(&c.ConsoleTraceURL, "console-trace-url", c.ConsoleTraceURL, "review console's trace link: an http(s) URL template with {trace_id}")
	fs.StringVar(&c.ConsoleCertHeader, "console-cert-header", c.ConsoleCertHeader, "header carrying a TLS proxy's verified client certificate (URL-encoded PEM), for console sign-in by certificate")
	fs.StringVar(&c.ConsoleTrustedProxies, "console-trusted-proxies", c.ConsoleTrustedProxies, "IPs or CIDR ranges (comma separated) whose --console-cert-header is believed")
}

func loadFile(path string, c *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt key is an error, not a silent default
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// loopback reports whether a listen host is a loopback address or name.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// FieldError names the setting at fault.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("config: %s: %s", e.Field, e.Reason) }

// Validate checks every field and returns the first one at fault.
func (c Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return &FieldError{"listen", fmt.Sprintf("%q is not host:port: %v", c.Listen, err)}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return &FieldError{"listen", fmt.Sprintf("port %q is not a number from 0 to 65535", port)}
	}
	if host == "" {
		return &FieldError{"listen", "give a host: 127.0.0.1 for loopback, 0.0.0.0 for every interface"}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return &FieldError{"tls-cert", "give both --tls-cert and --tls-key, or neither"}
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		return &FieldError{"tls-client-ca", "mTLS needs the server's own --tls-cert and --tls-key"}
	}
	for _, f := range []struct{ name, path string }{{"tls-cert", c.TLSCert}, {"tls-key", c.TLSKey}, {"tls-client-ca", c.TLSClientCA}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				return &FieldError{f.name, err.Error()}
			}
		}
	}
	if _, err := auth.New(c.Callers); err != nil {
		return &FieldError{"callers", err.Error()}
	}
	if len(c.Callers) == 0 && !loopback(host) {
		return &FieldError{"listen", fmt.Sprintf("%s is not loopback and no callers are configured: anyone could call riskd. "+
			"Configure callers (tokens or client certificates) in the config file, or listen on 127.0.0.1", host)}
	}
	if c.RatePerCaller < 0 || c.MaxInFlight < 0 || c.RateBurst < 0 {
		return &FieldError{"rate-per-caller", "rates and limits must not be negative"}
	}
	if c.LogOKEvery < 0 {
		return &FieldError{"log-ok-every", fmt.Sprintf("%d must not be negative (0 logs no successful call)", c.LogOKEvery)}
	}
	if c.DefaultDeadline < 10*time.Millisecond || c.DefaultDeadline > time.Minute {
		return &FieldError{"default-deadline", fmt.Sprintf("%s must be between 10ms and 1m", c.DefaultDeadline)}
	}
	if c.AdminListen != "" {
		h, _, err := net.SplitHostPort(c.AdminListen)
		if err != nil {
			return &FieldError{"admin-listen", fmt.Sprintf("%q is not host:port", c.AdminListen)}
		}
		if ip := net.ParseIP(h); c.Pprof && h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return &FieldError{"pprof", "needs --admin-listen on a loopback host:port: profiles are not for the network"}
		}
	} else if c.Pprof {
		return &FieldError{"pprof", "needs --admin-listen"}
	}
	if c.ConsoleTraceURL != "" {
		u, err := url.Parse(strings.ReplaceAll(c.ConsoleTraceURL, "{trace_id}", "x"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.Contains(c.ConsoleTraceURL, "{trace_id}") {
			return &FieldError{"console-trace-url", fmt.Sprintf("%q must be an http or https URL with {trace_id} in it", c.ConsoleTraceURL)}
		}
	}
	if err := c.validateConsoleCerts(); err != nil {
		return err
	}
	switch c.Store {
	case "embedded":
		if c.RedisURL != "" {
			return &FieldError{"redis-url", "Redis counters go with --store postgres; the embedded store keeps its own"}
		}
	case "postgres":
		if c.PostgresURL == "" {
			return &FieldError{"postgres-url", "required with --store postgres"}
		}
		if c.IdentifierKey == "" {
			return &FieldError{"identifier-key", "required with --store postgres: every replica must hash identifiers under the same key"}
		}
		if c.PostgresMaxConns < 1 || c.PostgresMaxConns > 1000 {
			return &FieldError{"postgres-max-conns", fmt.Sprintf("%d must be between 1 and 1000", c.PostgresMaxConns)}
		}
		if c.PostgresSchema == "" {
			return &FieldError{"postgres-schema", "must not be empty"}
		}
		if c.PostgresTimeout < 10*time.Millisecond || c.PostgresTimeout > time.Minute {
			return &FieldError{"postgres-timeout", fmt.Sprintf("%s must be between 10ms and 1m", c.PostgresTimeout)}
		}
	default:
		return &FieldError{"store", fmt.Sprintf("%q must be embedded or postgres", c.Store)}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return &FieldError{"data-dir", "must not be empty"}
	}
	if c.Policy != "" {
		if st, err := os.Stat(c.Policy); err != nil {
			return &FieldError{"policy", err.Error()}
		} else if st.IsDir() {
			return &FieldError{"policy", c.Policy + " is a directory"}
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return &FieldError{"log-level", fmt.Sprintf("%q must be debug, info, warn or error", c.LogLevel)}
	}
	durations := []struct {
		name     string
		v        time.Duration
		min, max time.Duration
	}{
		{"shutdown-timeout", c.ShutdownTimeout, 0, 10 * time.Minute},
		{"drain-delay", c.DrainDelay, 0, 10 * time.Minute},
		{"log-slow", c.LogSlow, 0, time.Hour},
		{"policy-poll", c.PolicyPoll, 100 * time.Millisecond, time.Hour},
		{"decision-reserve", c.DecisionReserve, time.Millisecond, time.Second},
		{"keepalive-time", c.KeepaliveTime, time.Second, 24 * time.Hour},
		{"keepalive-timeout", c.KeepaliveTimeout, time.Second, time.Hour},
		{"keepalive-min-client-interval", c.KeepaliveMinClientInterval, time.Second, time.Hour},
		{"max-connection-idle", c.MaxConnectionIdle, time.Second, 7 * 24 * time.Hour},
		{"event-retention", c.EventRetention, time.Hour, 10 * 366 * 24 * time.Hour},
		{"decision-retention", c.DecisionRetention, 24 * time.Hour, 10 * 366 * 24 * time.Hour},
		{"expiry-interval", c.ExpiryInterval, time.Second, 24 * time.Hour},
		{"case-expiry-interval", c.CaseExpiryInterval, 100 * time.Millisecond, 10 * time.Minute},
	}
	for _, d := range durations {
		if d.v < d.min || d.v > d.max {
			return &FieldError{d.name, fmt.Sprintf("%s must be between %s and %s", d.v, d.min, d.max)}
		}
	}
	if c.MaxMessageBytes < 1<<10 || c.MaxMessageBytes > 64<<20 {
		return &FieldError{"max-message-bytes", fmt.Sprintf("%d must be between 1 KiB and 64 MiB", c.MaxMessageBytes)}
	}
	if c.IdentifierKey != "" {
		key, err := hex.DecodeString(c.IdentifierKey)
		if err != nil {
			return &FieldError{"identifier-key", "must be hex"}
		}
		if len(key) < 32 {
			return &FieldError{"identifier-key", fmt.Sprintf("is %d bytes; at least 32 are needed", len(key))}
		}
	}
	if c.MaxConcurrentStreams < 1 {
		return &FieldError{"max-concurrent-streams", "must be at least 1"}
	}
	return nil
}

// validateConsoleCerts checks certificate sign-in through a proxy: the
// header needs proxies to believe and a CA to verify the certificate
// with (riskd verifies it again: a proxy configured to pass any
// certificate must not let one in).
func (c *Config) validateConsoleCerts() error {
	if c.ConsoleCertHeader == "" {
		if c.ConsoleTrustedProxies != "" {
			return &FieldError{"console-trusted-proxies", "is only read with --console-cert-header"}
		}
		return nil
	}
	if http.CanonicalHeaderKey(c.ConsoleCertHeader) == "" || strings.ContainsAny(c.ConsoleCertHeader, " :\t") {
		return &FieldError{"console-cert-header", fmt.Sprintf("%q is not an HTTP header name", c.ConsoleCertHeader)}
	}
	if c.TLSClientCA == "" {
		return &FieldError{"console-cert-header", "needs --tls-client-ca to verify the certificates the proxy passes"}
	}
	if c.AdminListen == "" {
		return &FieldError{"console-cert-header", "needs --admin-listen, where the console is served"}
	}
	if _, err := ParseProxies(c.ConsoleTrustedProxies); err != nil {
		return &FieldError{"console-trusted-proxies", err.Error()}
	}
	return nil
}

// ParseProxies reads --console-trusted-proxies: IPs and CIDR ranges,
// comma separated, at least one.
func ParseProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or a CIDR range", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	if len(out) == 0 {
		return nil, errors.New("give the proxy's addresses (IPs or CIDR ranges, comma separated)")
	}
	return out, nil
}
