package config_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"github.com/riskd/riskd/internal/auth"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/config"
)

// fakeEnv is the environment a test gives Load: never the real one, so
// that a developer's RISKD_* variables cannot change a result.
type fakeEnv struct {
	vars  map[string]string
	asked []string
}

func (e *fakeEnv) getenv(k string) string {
	e.asked = append(e.asked, k)
	return e.vars[k]
}

func env(kv ...string) *fakeEnv {
	e := &fakeEnv{vars: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		e.vars[kv[i]] = kv[i+1]
	}
	return e
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func load(t *testing.T, args []string, e *fakeEnv) (config.Config, error) {
	t.Helper()
	var stderr bytes.Buffer
	cfg, err := config.Load(args, e.getenv, &stderr)
	for _, k := range e.asked {
		// riskd reads only its own variables and the XDG state directory
		// that places the default data directory: anything else would make
		// a deployment depend on an unrelated setting.
		if !strings.HasPrefix(k, config.EnvPrefix) && k != "XDG_STATE_HOME" {
			t.Errorf("Load read environment variable %q", k)
		}
	}
	return cfg, err
}

// layered is one setting as each layer writes it, and what it becomes.
type layered struct {
	flag                        string // also the env name and, with underscores, the YAML key
	file, env, arg              string // the raw text each layer gives
	get                         func(config.Config) any
	fileWant, envWant, flagWant any
}

var layers = []layered{
	{"listen", "10.0.0.1:1001", "10.0.0.2:1002", "10.0.0.3:1003",
		func(c config.Config) any { return c.Listen }, "10.0.0.1:1001", "10.0.0.2:1002", "10.0.0.3:1003"},
	{"data-dir", "/from/file", "/from/env", "/from/flag",
		func(c config.Config) any { return c.DataDir }, "/from/file", "/from/env", "/from/flag"},
	{"policy", "/file/policy.yaml", "/env/policy.yaml", "/flag/policy.yaml",
		func(c config.Config) any { return c.Policy }, "/file/policy.yaml", "/env/policy.yaml", "/flag/policy.yaml"},
	{"log-level", "debug", "warn", "error",
		func(c config.Config) any { return c.LogLevel }, "debug", "warn", "error"},
	{"shutdown-timeout", "1s", "2s", "3s",
		func(c config.Config) any { return c.ShutdownTimeout }, time.Second, 2 * time.Second, 3 * time.Second},
	{"decision-reserve", "10ms", "20ms", "30ms",
		func(c config.Config) any { return c.DecisionReserve }, 10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond},
	{"max-message-bytes", "2048", "4096", "8192",
		func(c config.Config) any { return c.MaxMessageBytes }, 2048, 4096, 8192},
	{"max-concurrent-streams", "10", "20", "30",
		func(c config.Config) any { return c.MaxConcurrentStreams }, uint32(10), uint32(20), uint32(30)},
	{"keepalive-time", "61s", "62s", "63s",
		func(c config.Config) any { return c.KeepaliveTime }, 61 * time.Second, 62 * time.Second, 63 * time.Second},
	{"keepalive-timeout", "11s", "12s", "13s",
		func(c config.Config) any { return c.KeepaliveTimeout }, 11 * time.Second, 12 * time.Second, 13 * time.Second},
	{"keepalive-min-client-interval", "21s", "22s", "23s",
		func(c config.Config) any { return c.KeepaliveMinClientInterval }, 21 * time.Second, 22 * time.Second, 23 * time.Second},
	{"max-connection-idle", "1h", "2h", "3h",
		func(c config.Config) any { return c.MaxConnectionIdle }, time.Hour, 2 * time.Hour, 3 * time.Hour},
	{"identifier-key", strings.Repeat("aa", 32), strings.Repeat("bb", 32), strings.Repeat("cc", 32),
		func(c config.Config) any { return c.IdentifierKey }, strings.Repeat("aa", 32), strings.Repeat("bb", 32), strings.Repeat("cc", 32)},
	{"event-retention", "2h", "3h", "4h",
		func(c config.Config) any { return c.EventRetention }, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour},
	{"decision-retention", "48h", "72h", "96h",
		func(c config.Config) any { return c.DecisionRetention }, 48 * time.Hour, 72 * time.Hour, 96 * time.Hour},
	{"expiry-interval", "2m", "3m", "4m",
		func(c config.Config) any { return c.ExpiryInterval }, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute},
	// The default is true, so the layers alternate to show each one wins.
	{"reflection", "false", "true", "false",
		func(c config.Config) any { return c.Reflection }, false, true, false},
}

func TestLoadPrecedence(t *testing.T) {
	for _, l := range layers {
		for mask := range 8 {
			useFile, useEnv, useFlag := mask&1 != 0, mask&2 != 0, mask&4 != 0
			name := fmt.Sprintf("%s/file=%t,env=%t,flag=%t", l.flag, useFile, useEnv, useFlag)
			t.Run(name, func(t *testing.T) {
				e := env()
				var args []string
				want := l.get(config.Default())
				if useFile {
					key := strings.ReplaceAll(l.flag, "-", "_")
					e.vars["RISKD_CONFIG"] = writeFile(t, "riskd.yaml", fmt.Sprintf("%s: %s\n", key, l.file))
					want = l.fileWant
				}
				if useEnv {
					e.vars[config.EnvName(l.flag)] = l.env
					want = l.envWant
				}
				if useFlag {
					args = append(args, "--"+l.flag+"="+l.arg)
					want = l.flagWant
				}
				cfg, err := load(t, args, e)
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if got := l.get(cfg); got != want {
					t.Errorf("%s = %v (%T), want %v (%T)", l.flag, got, got, want, want)
				}
				// Setting one field must leave every other at its default.
				for _, other := range layers {
					if other.flag == l.flag {
						continue
					}
					if got, def := other.get(cfg), other.get(config.Default()); got != def {
						t.Errorf("%s = %v, want its default %v: only %s was set", other.flag, got, def, l.flag)
					}
				}
			})
		}
	}
}

func TestLoadLayersMixPerField(t *testing.T) {
	// Each layer overrides only the fields it names: a flag for one field
	// must not reset what the file or the environment set for another.
	file := writeFile(t, "riskd.yaml", `
listen: 10.1.1.1:7000
log_level: debug
data_dir: /file
shutdown_timeout: 4s
reflection: false
`)
	e := env(
		"RISKD_CONFIG", file,
		"RISKD_LOG_LEVEL", "warn",
		"RISKD_DATA_DIR", "/env",
		"RISKD_MAX_MESSAGE_BYTES", "65536",
	)
	cfg, err := load(t, []string{"--data-dir", "/flag", "--keepalive-time", "90s"}, e)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := config.Default()
	want.Listen = "10.1.1.1:7000"          // file only
	want.ShutdownTimeout = 4 * time.Second // file only
	want.Reflection = false                // file only
	want.LogLevel = "warn"                 // env over file
	want.MaxMessageBytes = 65536           // env only
	want.DataDir = "/flag"                 // flag over env over file
	want.KeepaliveTime = 90 * time.Second  // flag only
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load =\n %+v\nwant\n %+v", cfg, want)
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := load(t, nil, env())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(cfg, config.Default()) {
		t.Errorf("Load with nothing set = %+v, want Default() %+v", cfg, config.Default())
	}
	if cfg.Listen != "127.0.0.1:50051" {
		t.Errorf("default listen = %q, want loopback 127.0.0.1:50051", cfg.Listen)
	}
}

func TestLoadConfigFile(t *testing.T) {
	flagFile := func(t *testing.T) string { return writeFile(t, "flag.yaml", "listen: 10.0.0.1:1\n") }
	envFile := func(t *testing.T) string { return writeFile(t, "env.yaml", "listen: 10.0.0.2:2\n") }
	tests := []struct {
		name    string
		setup   func(t *testing.T) ([]string, *fakeEnv)
		listen  string
		wantErr []string // fragments of the error; none means success
	}{
		{
			name:   "no file",
			setup:  func(t *testing.T) ([]string, *fakeEnv) { return nil, env() },
			listen: "127.0.0.1:50051",
		},
		{
			name:   "--config",
			setup:  func(t *testing.T) ([]string, *fakeEnv) { return []string{"--config", flagFile(t)}, env() },
			listen: "10.0.0.1:1",
		},
		{
			name:   "--config=",
			setup:  func(t *testing.T) ([]string, *fakeEnv) { return []string{"--config=" + flagFile(t)}, env() },
			listen: "10.0.0.1:1",
		},
		{
			name:   "RISKD_CONFIG",
			setup:  func(t *testing.T) ([]string, *fakeEnv) { return nil, env("RISKD_CONFIG", envFile(t)) },
			listen: "10.0.0.2:2",
		},
		{
			name: "--config wins over RISKD_CONFIG",
			setup: func(t *testing.T) ([]string, *fakeEnv) {
				return []string{"--config", flagFile(t)}, env("RISKD_CONFIG", envFile(t))
			},
			listen: "10.0.0.1:1",
		},
		{
			name: "empty file",
			setup: func(t *testing.T) ([]string, *fakeEnv) {
				return []string{"--config", writeFile(t, "e.yaml", "")}, env()
			},
			listen: "127.0.0.1:50051",
		},
		{
			name: "comments only",
			setup: func(t *testing.T) ([]string, *fakeEnv) {
				return []string{"--config", writeFile(t, "c.yaml", "# nothing to change\n")}, env()
			},
			listen: "127.0.0.1:50051",
		},
		{
			name: "--config file missing",
			setup: func(t *testing.T) ([]string, *fakeEnv) {
				return []string{"--config", filepath.Join(t.TempDir(), "absent.yaml")}, env()
			},
			wantErr: []string{"absent.yaml"},
		},
		{
			name: "RISKD_CONFIG file missing",
			setup: func(t *testing.T) ([]string, *fakeEnv) {
				return nil, env("RISKD_CONFIG", filepath.Join(t.TempDir(), "gone.yaml"))
			},
			wantErr: []string{"gone.yaml"},
		},
		{
			name: "unknown key",
			setup: func(t *testing.T) ([]string, *fakeEnv) {
				return []string{"--config", writeFile(t, "u.yaml", "listen: 10.0.0.1:1\nlistn: 10.0.0.1:2\n")}, env()
			},
			wantErr: []string{"listn"},
		},
		{
			// YAML keys use underscores; the flag spelling is a typo there.
			name: "flag spelling as a key",
			setup: func(t *testing.T) ([]string, *fakeEnv) {
				return []string{"--config", writeFile(t, "d.yaml", "data-dir: /x\n")}, env()
			},
			wantErr: []string{"data-dir"},
		},
		{
			name: "wrong type",
			setup: func(t *testing.T) ([]string, *fakeEnv) {
				return []string{"--config", writeFile(t, "w.yaml", "max_message_bytes: lots\n")}, env()
			},
			wantErr: []string{"lots"},
		},
		{
			// A bare number must not quietly become nanoseconds.
			name: "duration without a unit",
			setup: func(t *testing.T) ([]string, *fakeEnv) {
				return []string{"--config", writeFile(t, "n.yaml", "shutdown_timeout: 5\n")}, env()
			},
			wantErr: []string{"n.yaml", "line 1", "time.Duration"},
		},
		{
			name: "not YAML",
			setup: func(t *testing.T) ([]string, *fakeEnv) {
				return []string{"--config", writeFile(t, "bad.yaml", "listen: [unclosed\n")}, env()
			},
			wantErr: []string{"bad.yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, e := tt.setup(t)
			cfg, err := load(t, args, e)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Load = %+v, want an error", cfg)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %q, want it to mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Listen != tt.listen {
				t.Errorf("Listen = %q, want %q", cfg.Listen, tt.listen)
			}
		})
	}
}

func TestLoadRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
		want string // a fragment the error must carry
	}{
		{"env duration", nil, []string{"RISKD_SHUTDOWN_TIMEOUT", "banana"}, "RISKD_SHUTDOWN_TIMEOUT"},
		{"env duration without unit", nil, []string{"RISKD_KEEPALIVE_TIME", "30"}, "RISKD_KEEPALIVE_TIME"},
		{"env int", nil, []string{"RISKD_MAX_MESSAGE_BYTES", "lots"}, "RISKD_MAX_MESSAGE_BYTES"},
		{"env bool", nil, []string{"RISKD_REFLECTION", "maybe"}, "RISKD_REFLECTION"},
		{"env negative stream count", nil, []string{"RISKD_MAX_CONCURRENT_STREAMS", "-1"}, "RISKD_MAX_CONCURRENT_STREAMS"},
		{"env stream count over uint32", nil, []string{"RISKD_MAX_CONCURRENT_STREAMS", "4294967296"}, "RISKD_MAX_CONCURRENT_STREAMS"},
		{"flag duration", []string{"--shutdown-timeout=banana"}, nil, "shutdown-timeout"},
		{"flag stream count", []string{"--max-concurrent-streams=many"}, nil, "max-concurrent-streams"},
		{"unknown flag", []string{"--listen-addr=x"}, nil, "listen-addr"},
		{"positional argument", []string{"serve"}, nil, `unexpected argument "serve"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(t, tt.args, env(tt.env...))
			if err == nil {
				t.Fatalf("Load = %+v, want an error", cfg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to name %q", err, tt.want)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"listen":                        "RISKD_LISTEN",
		"data-dir":                      "RISKD_DATA_DIR",
		"policy":                        "RISKD_POLICY",
		"config":                        "RISKD_CONFIG",
		"keepalive-min-client-interval": "RISKD_KEEPALIVE_MIN_CLIENT_INTERVAL",
	}
	for flag, want := range tests {
		if got := config.EnvName(flag); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte("checks: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := func() config.Config {
		c := config.Default()
		c.DataDir = filepath.Join(dir, "data")
		return c
	}
	tests := []struct {
		name  string
		edit  func(*config.Config)
		field string // "" when the config is valid
	}{
		{"defaults", func(*config.Config) {}, ""},
		{"every interface with callers", func(c *config.Config) {
			c.Listen = "0.0.0.0:50051"
			c.Callers = []auth.Caller{{Name: "checkout", TokenSHA256: auth.HashToken("t"), Grants: []string{"/risk.v1.RiskService/*"}}}
		}, ""},
		{"IPv6 loopback", func(c *config.Config) { c.Listen = "[::1]:50051" }, ""},
		{"host name", func(c *config.Config) { c.Listen = "localhost:50051" }, ""},
		{"port 0 picks a free port", func(c *config.Config) { c.Listen = "127.0.0.1:0" }, ""},
		{"port 65535", func(c *config.Config) { c.Listen = "127.0.0.1:65535" }, ""},
		{"policy file", func(c *config.Config) { c.Policy = policyFile }, ""},
		{"lowest bounds", func(c *config.Config) {
			c.ShutdownTimeout = 0
			c.DecisionReserve = time.Millisecond
			c.KeepaliveTime = time.Second
			c.KeepaliveTimeout = time.Second
			c.KeepaliveMinClientInterval = time.Second
			c.MaxConnectionIdle = time.Second
			c.MaxMessageBytes = 1 << 10
			c.MaxConcurrentStreams = 1
		}, ""},
		{"highest bounds", func(c *config.Config) {
			c.ShutdownTimeout = 10 * time.Minute
			c.DecisionReserve = time.Second
			c.KeepaliveTime = 24 * time.Hour
			c.KeepaliveTimeout = time.Hour
			c.KeepaliveMinClientInterval = time.Hour
			c.MaxConnectionIdle = 7 * 24 * time.Hour
			c.MaxMessageBytes = 64 << 20
		}, ""},
		{"identifier key of 32 bytes", func(c *config.Config) { c.IdentifierKey = strings.Repeat("0f", 32) }, ""},
		{"retention and expiry at their bounds", func(c *config.Config) {
			c.EventRetention = time.Hour
			c.DecisionRetention = 10 * 366 * 24 * time.Hour
			c.ExpiryInterval = 24 * time.Hour
		}, ""},
		{"log level debug", func(c *config.Config) { c.LogLevel = "debug" }, ""},
		{"log level warn", func(c *config.Config) { c.LogLevel = "warn" }, ""},
		{"log level error", func(c *config.Config) { c.LogLevel = "error" }, ""},

		{"listen without port", func(c *config.Config) { c.Listen = "127.0.0.1" }, "listen"},
		{"listen empty", func(c *config.Config) { c.Listen = "" }, "listen"},
		{"listen port empty", func(c *config.Config) { c.Listen = "127.0.0.1:" }, "listen"},
		{"listen port not a number", func(c *config.Config) { c.Listen = "127.0.0.1:grpc" }, "listen"},
		{"listen port too big", func(c *config.Config) { c.Listen = "127.0.0.1:65536" }, "listen"},
		{"listen port negative", func(c *config.Config) { c.Listen = "127.0.0.1:-1" }, "listen"},
		{"listen without host", func(c *config.Config) { c.Listen = ":50051" }, "listen"},
		{"data dir empty", func(c *config.Config) { c.DataDir = "" }, "data-dir"},
		{"data dir blank", func(c *config.Config) { c.DataDir = "  " }, "data-dir"},
		{"policy file missing", func(c *config.Config) { c.Policy = filepath.Join(dir, "absent.yaml") }, "policy"},
		{"policy is a directory", func(c *config.Config) { c.Policy = dir }, "policy"},
		{"log level unknown", func(c *config.Config) { c.LogLevel = "verbose" }, "log-level"},
		{"log level upper case", func(c *config.Config) { c.LogLevel = "INFO" }, "log-level"},
		{"log level empty", func(c *config.Config) { c.LogLevel = "" }, "log-level"},
		{"shutdown timeout negative", func(c *config.Config) { c.ShutdownTimeout = -time.Second }, "shutdown-timeout"},
		{"shutdown timeout over 10m", func(c *config.Config) { c.ShutdownTimeout = 10*time.Minute + time.Second }, "shutdown-timeout"},
		{"decision reserve zero", func(c *config.Config) { c.DecisionReserve = 0 }, "decision-reserve"},
		{"decision reserve under 1ms", func(c *config.Config) { c.DecisionReserve = time.Millisecond - 1 }, "decision-reserve"},
		{"decision reserve over 1s", func(c *config.Config) { c.DecisionReserve = time.Second + 1 }, "decision-reserve"},
		{"keepalive time under 1s", func(c *config.Config) { c.KeepaliveTime = 999 * time.Millisecond }, "keepalive-time"},
		{"keepalive time over 24h", func(c *config.Config) { c.KeepaliveTime = 25 * time.Hour }, "keepalive-time"},
		{"keepalive timeout zero", func(c *config.Config) { c.KeepaliveTimeout = 0 }, "keepalive-timeout"},
		{"keepalive timeout over 1h", func(c *config.Config) { c.KeepaliveTimeout = time.Hour + time.Second }, "keepalive-timeout"},
		{"keepalive min client interval zero", func(c *config.Config) { c.KeepaliveMinClientInterval = 0 }, "keepalive-min-client-interval"},
		{"keepalive min client interval over 1h", func(c *config.Config) { c.KeepaliveMinClientInterval = 2 * time.Hour }, "keepalive-min-client-interval"},
		{"max connection idle zero", func(c *config.Config) { c.MaxConnectionIdle = 0 }, "max-connection-idle"},
		{"max connection idle over 7d", func(c *config.Config) { c.MaxConnectionIdle = 7*24*time.Hour + time.Second }, "max-connection-idle"},
		{"message size under 1 KiB", func(c *config.Config) { c.MaxMessageBytes = 1<<10 - 1 }, "max-message-bytes"},
		{"message size zero", func(c *config.Config) { c.MaxMessageBytes = 0 }, "max-message-bytes"},
		{"message size over 64 MiB", func(c *config.Config) { c.MaxMessageBytes = 64<<20 + 1 }, "max-message-bytes"},
		{"event retention under 1h", func(c *config.Config) { c.EventRetention = time.Hour - time.Second }, "event-retention"},
		{"event retention over 10 years", func(c *config.Config) { c.EventRetention = 10*366*24*time.Hour + time.Second }, "event-retention"},
		{"decision retention under 1 day", func(c *config.Config) { c.DecisionRetention = 23 * time.Hour }, "decision-retention"},
		{"decision retention over 10 years", func(c *config.Config) { c.DecisionRetention = 10*366*24*time.Hour + time.Second }, "decision-retention"},
		{"expiry interval zero", func(c *config.Config) { c.ExpiryInterval = 0 }, "expiry-interval"},
		{"expiry interval over 1 day", func(c *config.Config) { c.ExpiryInterval = 25 * time.Hour }, "expiry-interval"},
		{"identifier key not hex", func(c *config.Config) { c.IdentifierKey = strings.Repeat("zz", 32) }, "identifier-key"},
		{"identifier key 31 bytes", func(c *config.Config) { c.IdentifierKey = strings.Repeat("ab", 31) }, "identifier-key"},
		{"no concurrent streams", func(c *config.Config) { c.MaxConcurrentStreams = 0 }, "max-concurrent-streams"},
		{"console trace url jaeger", func(c *config.Config) { c.ConsoleTraceURL = "http://jaeger:16686/trace/{trace_id}" }, ""},
		{"console trace url grafana", func(c *config.Config) {
			c.ConsoleTraceURL = "https://grafana.example/explore?left={%22queries%22:[{%22query%22:%22{trace_id}%22}]}"
		}, ""},
		{"console trace url without placeholder", func(c *config.Config) { c.ConsoleTraceURL = "https://jaeger/trace/" }, "console-trace-url"},
		{"console trace url javascript", func(c *config.Config) { c.ConsoleTraceURL = "javascript:alert({trace_id})" }, "console-trace-url"},
		{"console trace url relative", func(c *config.Config) { c.ConsoleTraceURL = "/trace/{trace_id}" }, "console-trace-url"},
		{"console proxies without the header", func(c *config.Config) { c.ConsoleTrustedProxies = "10.0.0.1" }, "console-trusted-proxies"},
		{"console cert header without a client CA", func(c *config.Config) {
			c.ConsoleCertHeader, c.ConsoleTrustedProxies = "X-Client-Cert", "127.0.0.1"
		}, "console-cert-header"},
		{"console cert header not a header", func(c *config.Config) { c.ConsoleCertHeader = "X Client Cert" }, "console-cert-header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v, want a *config.FieldError for %s", err, tt.field)
			}
			if fe.Field != tt.field {
				t.Errorf("Field = %q, want %q (err %q)", fe.Field, tt.field, err)
			}
			if fe.Reason == "" || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("err = %q, want it to name %s and say why", err, tt.field)
			}
		})
	}
}

func TestDefaultValidates(t *testing.T) {
	if err := config.Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v: riskd must start with no configuration", err)
	}
}

func TestLoadedConfigValidates(t *testing.T) {
	// Whatever the layers say, a flag-set value must survive to Validate:
	// an operator's --max-concurrent-streams must not turn into 0.
	cfg, err := load(t, []string{"--max-concurrent-streams=64", "--listen=127.0.0.1:0"}, env("RISKD_DATA_DIR", t.TempDir()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestValidateRefusesOpenListenersWithoutCredentials(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:50051", "[::]:50051", "192.0.2.10:50051"} {
		c := config.Default()
		c.Listen = listen
		var fe *config.FieldError
		if err := c.Validate(); !errors.As(err, &fe) || fe.Field != "listen" || !strings.Contains(fe.Reason, "no callers") {
			t.Errorf("%s without callers: %v, want a listen error", listen, err)
		}
	}
	c := config.Default()
	c.Callers = []auth.Caller{{Name: "x", TokenSHA256: "not hex", Grants: []string{"/risk.v1.RiskService/*"}}}
	var fe *config.FieldError
	if err := c.Validate(); !errors.As(err, &fe) || fe.Field != "callers" {
		t.Errorf("bad token hash: %v, want a callers error", err)
	}
}

// A command that reads the server's configuration (riskd health) takes its
// own flags on the command line only: the environment and the file
// configure the server, so RISKD_ADDR is nobody's.
func TestLoadCommandOwnFlags(t *testing.T) {
	var addr string
	e := env("RISKD_LISTEN", "0.0.0.0:7000", "RISKD_ADDR", "10.0.0.9:1", "RISKD_TLS_CERT", "/c.pem")
	var stderr bytes.Buffer
	cfg, err := config.LoadCommand("riskd health", "usage", nil, e.getenv, &stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&addr, "addr", "", "")
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:7000" || cfg.TLSCert != "/c.pem" || addr != "" {
		t.Fatalf("listen %q, tls-cert %q, addr %q: want the server's settings from the environment and no addr", cfg.Listen, cfg.TLSCert, addr)
	}
	cfg, err = config.LoadCommand("riskd health", "usage", []string{"--addr", "h:1", "--listen", "127.0.0.1:9"}, e.getenv, &stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&addr, "addr", "", "")
	})
	if err != nil || addr != "h:1" || cfg.Listen != "127.0.0.1:9" {
		t.Fatalf("flags: addr %q, listen %q, %v", addr, cfg.Listen, err)
	}
}

func TestParseProxies(t *testing.T) {
	got, err := config.ParseProxies(" 10.0.0.0/8, 192.0.2.7 ,::1,10.1.2.3/16")
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "::1/128", "10.1.0.0/16"}
	if err != nil || len(got) != len(want) {
		t.Fatalf("ParseProxies = %v, %v; want %v", got, err, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"", " , ", "10.0.0.0/33", "proxy.example", "10.0.0.1;rm"} {
		if _, err := config.ParseProxies(bad); err == nil {
			t.Errorf("ParseProxies(%q) accepted", bad)
		}
	}
}
