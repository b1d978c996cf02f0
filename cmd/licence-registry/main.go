// Command licence-registry is an example out-of-process verifier: a
// business-licence registry backed by a CSV file, answering riskd's
// risk.verifier.v1.VerifierService. It finds LICENSE_NOT_FOUND,
// LICENSE_HOLDER_MISMATCH and LICENSE_REVOKED.
//
//	licence-registry --data examples/licence-registry/licences.csv --listen 127.0.0.1:7070
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/riskd/riskd/internal/telemetry"
	verifierv1 "github.com/riskd/riskd/proto/risk/verifier/v1"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "licence-registry:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("licence-registry", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:7070", "gRPC address")
	data := fs.String("data", "", "CSV file: uscc,company_name,legal_representative,status")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" {
		return errors.New("--data is required (a sample is examples/licence-registry/licences.csv)")
	}
	log := telemetry.NewLogger(os.Stderr, slog.LevelInfo)
	f, err := os.Open(*data)
	if err != nil {
		return err
	}
	licences, err := loadCSV(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	tel, shutdown, err := telemetry.Setup(ctx, os.Getenv)
	if err != nil {
		return err
	}
	defer shutdown(context.WithoutCancel(ctx))

	srv := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(tel.Tracer), otelgrpc.WithMeterProvider(tel.Meter), otelgrpc.WithPropagators(tel.Propagators))))
	verifierv1.RegisterVerifierServiceServer(srv, &registry{licences: licences, log: log})
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		hs.Shutdown()
		done := make(chan struct{})
		go func() { srv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			srv.Stop()
		}
	}()
	log.Info("licence registry ready", "addr", lis.Addr().String(), "licences", len(licences))
	return srv.Serve(lis)
}
