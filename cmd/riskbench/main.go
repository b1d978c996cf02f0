// Command riskbench measures what a riskd decision costs against the
// cheapest possible gRPC call on the same machine, in the same run.
//
// It starts two servers as separate processes: an empty unary gRPC handler
// (this binary, `riskbench empty-server`) as the baseline, and the real riskd
// binary on a fresh data directory with its durable embedded store and
// default policy. It then drives each with realistic, varied requests at
// several concurrencies and prints requests per second, latency percentiles,
// errors, and ratios to the baseline. See the README's Benchmarks section.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "riskbench:", err)
		os.Exit(1)
	}
}
