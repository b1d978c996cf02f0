package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/riskd/riskd/internal/store"
)

// serveAdmin serves the admin endpoints on their own listener, apart
// from the gRPC port callers reach: /metrics in the Prometheus exposition
// format, the store's group-commit counters at /debug/store (JSON, for the
// benchmark's batch sizes), and Go's profiles under /debug/pprof/ when
// pprof is on. The handlers are mounted on a mux of our own, never on
// http.DefaultServeMux, so nothing else can add to it. It returns the
// address it listens on (the port may have been 0). console, when not
// nil, is the review console, mounted under /console/.
func serveAdmin(addr string, metrics http.Handler, pprofOn bool, st store.Store, console http.Handler, log *slog.Logger) (bound string, stop func(), err error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	if console != nil {
		mux.Handle("/console/", console)
	}
	mux.HandleFunc("/debug/store", func(w http.ResponseWriter, _ *http.Request) {
		var stats store.CommitStats
		if c, ok := st.(store.CommitCounter); ok {
			stats = c.CommitStats()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(stats)
	})
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("admin listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server stopped", "error", err)
		}
	}()
	return lis.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
