package pgstore

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store/pgstore/pgtest"
	"github.com/riskd/riskd/internal/store/storetest"
)

// BenchmarkMatchLists is a decision's list lookup on PostgreSQL at a
// million entries (RISKD_BENCH_LIST_ENTRIES to change it): one statement,
// so its cost is mostly one round trip.
//
//	go test -run '^$' -bench MatchLists -benchtime 5000x ./internal/store/pgstore/
func BenchmarkMatchLists(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("RISKD_BENCH_LIST_ENTRIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("RISKD_BENCH_LIST_ENTRIES=%q", v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, Options{URL: pgtest.URL(), Schema: pgtest.Schema(b), MaxConns: 8})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkMatchLists(b, s, n, nil)
}
