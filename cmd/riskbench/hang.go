package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riskd/riskd/internal/policy"
	verifierv1 "github.com/riskd/riskd/proto/risk/verifier/v1"
	"google.golang.org/grpc"
)

// hanging is a verifier that never answers: it holds each call until the
// caller gives up, the worst a remote verifier can do.
type hanging struct {
	verifierv1.UnimplementedVerifierServiceServer
}

func (hanging) Verify(ctx context.Context, _ *verifierv1.VerifyRequest) (*verifierv1.VerifyResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// hangVerifier serves the hanging verifier until ctx ends.
func hangVerifier(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("riskbench hang-verifier", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	verifierv1.RegisterVerifierServiceServer(srv, hanging{})
	go func() {
		<-ctx.Done()
		srv.Stop() // the calls it holds would never finish gracefully
	}()
	fmt.Println("listening", lis.Addr().String())
	return srv.Serve(lis)
}

// hangPolicy is the default policy with the hanging verifier added to the
// gift-card check. Its breaker is set never to open during a run, so every
// call really waits out the budget.
func hangPolicy(addr string, budget time.Duration) (string, error) {
	doc := string(policy.DefaultBytes())
	anchor := "      - {name: velocity, budget: 150ms, on_failure: review}\n"
	if !strings.Contains(doc, anchor) {
		return "", fmt.Errorf("the default policy no longer has the gift-card velocity verifier line riskbench extends")
	}
	doc = strings.Replace(doc, anchor, anchor+fmt.Sprintf("      - {name: hang, budget: %s, on_failure: review}\n", budget), 1)
	remote := fmt.Sprintf("remote_verifiers:\n  - name: hang\n    address: %s\n    plaintext: true\n    fields: [order_id]\n    failures_to_open: 1000\n", addr)
	return remote + doc, nil
}

// hangRun measures ScoreGiftCardPurchase on a second riskd whose policy
// waits on the hanging verifier: every answer should arrive within the
// budget plus a few milliseconds, with no deadline errors.
func hangRun(ctx context.Context, o options, self string) ([]*result, error) {
	hv, err := startServer(ctx, self, []string{"hang-verifier", "--listen", "127.0.0.1:0"}, "listening ")
	if err != nil {
		return nil, fmt.Errorf("hanging verifier: %w", err)
	}
	defer hv.stop()
	dir, err := os.MkdirTemp("", "riskbench-hang")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	doc, err := hangPolicy(hv.addr, o.hangBudget)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		return nil, err
	}
	riskd, err := startServer(ctx, o.riskd, []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--policy", path, "--drain-delay", "0s"}, "riskd ready")
	if err != nil {
		return nil, fmt.Errorf("riskd with a hanging verifier: %w", err)
	}
	defer riskd.stop()
	var out []*result
	gen := generators["gift_card"]
	for _, c := range o.concurrency {
		r, err := measure(ctx, o, riskd.addr, nil, c, fmt.Sprintf("hung verifier (budget %s)", o.hangBudget), gen.call)
		if err != nil {
			return nil, err
		}
		printRow(r)
		out = append(out, r)
	}
	return out, nil
}
