package pebblestore

import (
	"os"
	"strconv"
	"testing"

	"github.com/riskd/riskd/internal/store/storetest"
)

// benchListEntries is how many entries the lists benchmarks hold: a
// million, or RISKD_BENCH_LIST_ENTRIES.
func benchListEntries(b *testing.B) int {
	if v := os.Getenv("RISKD_BENCH_LIST_ENTRIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("RISKD_BENCH_LIST_ENTRIES=%q", v)
		}
		return n
	}
	return 1_000_000
}

// BenchmarkMatchLists is a decision's list lookup at a million entries:
//
//	go test -run '^$' -bench MatchLists -benchtime 20000x ./internal/store/pebblestore/
func BenchmarkMatchLists(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Settled: the bulk write compacted, as pebble does in the background
	// within minutes of an import.
	settle := func() error { return s.db.Compact(b.Context(), []byte{pListLookup}, []byte{pListLookup + 1}, true) }
	storetest.BenchmarkMatchLists(b, s, benchListEntries(b), settle)
}
