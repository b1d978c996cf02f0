package main

import (
	"context"
	"flag"
	"os"
	"strings"

	"github.com/riskd/riskd/internal/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// remoteFlags are how the subcommands that talk to a running riskd (riskd
// lists, riskd policy ..., riskd erase and export) reach it: one set of
// flags and one way to dial, so an operator learns them once. The bearer
// token comes from RISKD_TOKEN or --token-file, never from a flag's value:
// ps shows a command line to every user of the machine.
type remoteFlags struct {
	addr, ca, tokenFile *string
	useTLS, skipVerify  *bool
}

// addRemoteFlags declares the connection flags on fs. --addr defaults to
// RISKD_LISTEN, else riskd's default listen address.
func addRemoteFlags(fs *flag.FlagSet, getenv func(string) string) *remoteFlags {
	def := getenv(config.EnvName("listen"))
	if def == "" {
		def = config.Default().Listen
	}
	return &remoteFlags{
		addr:       fs.String("addr", def, "address of a riskd (any replica)"),
		useTLS:     fs.Bool("tls", false, "speak TLS, verified with the system's CAs or --tls-ca"),
		ca:         fs.String("tls-ca", "", "CA (PEM) to verify riskd with (implies --tls)"),
		skipVerify: fs.Bool("tls-skip-verify", false, "speak TLS without verifying riskd's certificate (local probes only)"),
		tokenFile:  fs.String("token-file", "", "file holding the bearer token (else RISKD_TOKEN)"),
	}
}

// dial connects to riskd with the flags' transport and the token, if any.
func (r *remoteFlags) dial(getenv func(string) string) (*grpc.ClientConn, error) {
	secure := *r.useTLS || *r.ca != "" || *r.skipVerify
	creds, err := clientCredentials(secure, *r.ca, *r.skipVerify)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	tok := getenv("RISKD_TOKEN")
	if *r.tokenFile != "" {
		b, err := os.ReadFile(*r.tokenFile)
		if err != nil {
			return nil, err
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds{token: tok, secure: secure}))
	}
	return grpc.NewClient(*r.addr, opts...)
}

// tokenCreds sends a bearer token with every call.
type tokenCreds struct {
	token  string
	secure bool
}

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + t.token}, nil
}

func (t tokenCreds) RequireTransportSecurity() bool { return t.secure }

var _ credentials.PerRPCCredentials = tokenCreds{}
