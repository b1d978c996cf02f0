package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// A rolling deploy: SIGTERM, health NOT_SERVING at once, calls still served
// through the drain delay, then a graceful stop. Clients call without pause
// through the whole sequence; none may fail before riskd says the drain
// delay is over, and none with anything but UNAVAILABLE (the listener gone)
// after.
func TestSIGTERMDrainsWithoutFailingACall(t *testing.T) {
	p := startBinary(t, "--drain-delay", "1500ms", "--data-dir", t.TempDir())
	conn, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, hc := riskv1.NewRiskServiceClient(conn), healthpb.NewHealthClient(conn)
	ctx := context.Background()
	if _, err := c.CheckSeller(ctx, sellerReq(0)); err != nil {
		t.Fatal(err)
	}

	var (
		next        atomic.Int64
		afterNotOK  atomic.Int64 // calls answered after health said NOT_SERVING
		sawNotOK    atomic.Bool
		mu          sync.Mutex
		early, late []error
		wg          sync.WaitGroup
	)
	drainOver := func() bool {
		return slices.Contains(p.Messages(), "drain delay over: no new calls; calls in flight finish within the shutdown timeout")
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := c.CheckSeller(cctx, sellerReq(i))
				cancel()
				if err == nil {
					if sawNotOK.Load() {
						afterNotOK.Add(1)
					}
					continue
				}
				// Read the log after the failure: the line is written
				// before the server stops taking calls. It reaches the
				// test through a pipe, so allow it a moment, far less than
				// the drain delay it would come after if riskd had stopped
				// serving early.
				over := eventually(300*time.Millisecond, drainOver)
				mu.Lock()
				if over {
					late = append(late, err)
				} else {
					early = append(early, fmt.Errorf("call %d: %w", i, err))
				}
				mu.Unlock()
				return
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // calls under way before the signal
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for !sawNotOK.Load() {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("health stopped answering before it said NOT_SERVING: %v", err)
		}
		if resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
			sawNotOK.Store(true)
		}
	}
	wg.Wait()
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("riskd did not exit after the drain")
	}
	if err := p.Cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if len(early) > 0 {
		t.Fatalf("calls failed during the drain delay: %v", early)
	}
	for _, err := range late {
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("a call after the drain failed with %v, want UNAVAILABLE (riskd gone)", err)
		}
	}
	if afterNotOK.Load() == 0 {
		t.Fatal("no call was answered after health turned NOT_SERVING: the drain delay did not serve")
	}
	msgs := p.Messages()
	for _, want := range []string{"draining: health is NOT_SERVING; calls are still served for the drain delay, so load balancers stop sending them",
		"drain delay over: no new calls; calls in flight finish within the shutdown timeout", "stopped"} {
		if !slices.Contains(msgs, want) {
			t.Fatalf("no log line %q; log: %q", want, msgs)
		}
	}
}
