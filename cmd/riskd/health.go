package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/riskd/riskd/internal/config"
	"google.golang.org/grpc"
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
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
