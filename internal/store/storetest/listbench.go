package storetest

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riskd/riskd/internal/store"
)

// listBenchKinds are the kinds the benchmark's entries cycle through.
var listBenchKinds = []store.Kind{store.KindPhone, store.KindDevice, store.KindAccount, store.KindInstrument}

// listBenchValue is the i-th value the benchmark lists (or probes, past
// the entries).
func listBenchValue(i int) store.Identifier {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return store.Identifier{Kind: listBenchKinds[i%len(listBenchKinds)], Hash: sha256.Sum256(b[:])}
}

// BenchmarkMatchLists measures one decision's lookup (MatchLists) in a
// store holding n entries on a block list, plus 30 IP ranges of 3 lengths:
// a probe of 8 identifiers and an IP address, as a seller check makes,
// that matches nothing (the common case) or one entry. The entries are
// written through AddListEntries in batches, as an import writes them;
// the time that takes is reported once. settle, if not nil, is run before
// the "settled" round: a backend's background work after a bulk write
// (pebble's compactions), done at once.
func BenchmarkMatchLists(b *testing.B, s store.Store, n int, settle func() error) {
	ctx := b.Context()
	if _, _, err := s.CreateList(ctx, store.List{Name: "bench", Purpose: store.PurposeBlock, CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	const batch = 20000
	entries := make([]store.ListEntry, 0, batch)
	for i := 0; i < n; i += batch {
		entries = entries[:0]
		for j := i; j < min(i+batch, n); j++ {
			entries = append(entries, store.ListEntry{ID: uuid.Must(uuid.NewV7()).String(), Value: store.ListValue{ID: listBenchValue(j)},
				Reason: "bench", AddedBy: "bench", AddedAt: start})
		}
		if _, err := s.AddListEntries(ctx, "bench", entries); err != nil {
			b.Fatal(err)
		}
	}
	entries = entries[:0]
	for i := range 30 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), []int{16, 24, 28}[i%3]).Masked()
		entries = append(entries, store.ListEntry{ID: uuid.Must(uuid.NewV7()).String(),
			Value: store.ListValue{ID: store.Identifier{Kind: store.KindIP}, Range: p}, AddedAt: start})
	}
	if _, err := s.AddListEntries(ctx, "bench", entries); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d entries written in %v", n, time.Since(start).Round(time.Millisecond))
	ip := netip.MustParseAddr("192.0.2.44")
	rounds := []struct {
		name   string
		hit    bool
		settle bool
	}{{"miss", false, false}, {"hit", true, false}}
	if settle != nil {
		rounds = append(rounds, struct {
			name   string
			hit    bool
			settle bool
		}{"settled-miss", false, true}, struct {
			name   string
			hit    bool
			settle bool
		}{"settled-hit", true, false})
	}
	for _, bc := range rounds {
		if bc.settle {
			t0 := time.Now()
			if err := settle(); err != nil {
				b.Fatal(err)
			}
			b.Logf("settled in %v", time.Since(t0).Round(time.Millisecond))
		}
		b.Run(fmt.Sprintf("%s-of-%d", bc.name, n), func(b *testing.B) {
			ids := make([]store.Identifier, 8)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				for k := range ids {
					ids[k] = listBenchValue(n + (i*8+k)%1_000_000) // never listed
				}
				if bc.hit {
					ids[3] = listBenchValue((i * 7919) % n)
				}
				ms, err := s.MatchLists(ctx, store.ListProbe{IDs: ids, IP: ip, Now: start})
				if err != nil {
					b.Fatal(err)
				}
				if got := len(ms) > 0; got != bc.hit {
					b.Fatalf("probe %d: %d matches, want a hit %v", i, len(ms), bc.hit)
				}
			}
		})
	}
}
