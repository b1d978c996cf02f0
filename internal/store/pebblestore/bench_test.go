package pebblestore

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var benchSeq atomic.Int64

// benchCommit is a decision the size of a real one, with the history a
// gift-card order adds: four events and three links.
func benchCommit() store.Commit {
	n := benchSeq.Add(1)
	id, _ := uuid.NewV7()
	now := time.Now()
	d := &riskv1.Decision{
		DecisionId: id.String(), RequestId: fmt.Sprintf("bench-%d", n), Check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE,
		Outcome: riskv1.Outcome_OUTCOME_REVIEW, Score: 45, PolicyVersion: "sha256:0123456789abcdef", DecidedAt: timestamppb.New(now),
		TraceId: "4bf92f3577b34da6a3ce929d0e0e4736",
		Reasons: []*riskv1.Reason{{Code: "ACTIVE_CALL", Message: "The buyer was in a phone call during checkout.", Source: "rule:active-call", Score: 25},
			{Code: "NEW_DEVICE", Message: "The order comes from a device not seen before on this account.", Source: "rule:new-device", Score: 20}},
		Actions:         []riskv1.Action{riskv1.Action_ACTION_HOLD_CODE_DELIVERY},
		VerifierResults: []*riskv1.VerifierResult{{Name: "velocity", Status: riskv1.VerifierStatus_VERIFIER_STATUS_OK, Duration: durationpb.New(300 * time.Microsecond)}},
	}
	c := store.Commit{Decision: d}
	for k := range 4 {
		key := store.Identifier{Kind: store.Kind(k + 9)}
		key.Hash[0], key.Hash[1] = byte(n), byte(n>>8)
		c.Subjects = append(c.Subjects, key)
		c.Events = append(c.Events, store.Event{ID: fmt.Sprintf("%s/%d", d.DecisionId, k), Series: "giftcard", Key: key, At: now, Amount: 100000, Quantity: 10})
		if k > 0 {
			c.Links = append(c.Links, store.Link{ID: key, Subject: fmt.Sprintf("account:%d", n), At: now})
		}
	}
	return c
}

// fsyncRate is what one fsync per decision allows on this disk: small
// appends to a file in the same directory, each followed by fsync.
func fsyncRate(b *testing.B, dir string, n int) float64 {
	f, err := os.OpenFile(filepath.Join(dir, "fsync-probe"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 512)
	start := time.Now()
	for range n {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkGroupCommit measures, in one run on one disk: the rate of plain
// fsyncs, of commits one at a time, and of commits from 50 concurrent
// callers. "x-fsync" is concurrent commits per second over fsyncs per
// second: how far group commit lifts durable writes above one fsync each.
func BenchmarkGroupCommit(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const seq, workers, perWorker = 200, 50, 40
	for b.Loop() {
		fsyncs := fsyncRate(b, dir, seq)

		start := time.Now()
		for range seq {
			if _, _, err := s.Commit(ctx, benchCommit()); err != nil {
				b.Fatal(err)
			}
		}
		sequential := float64(seq) / time.Since(start).Seconds()

		start = time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range perWorker {
					if _, _, err := s.Commit(ctx, benchCommit()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		concurrent := float64(workers*perWorker) / time.Since(start).Seconds()

		b.ReportMetric(fsyncs, "fsyncs/s")
		b.ReportMetric(sequential, "seq-commits/s")
		b.ReportMetric(concurrent, "c50-commits/s")
		b.ReportMetric(concurrent/fsyncs, "x-fsync")
	}
}

// BenchmarkLinkedNeverSeen reads the links of identifiers never linked
// (most of what a new seller brings) from a store whose links sit in
// several tables: through the tables' prefix bloom filters, and by a plain
// bounded scan, as a directory of the default comparer is read.
func BenchmarkLinkedNeverSeen(b *testing.B) {
	s, err := Open(b.TempDir(), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for r := range 8 {
		var batch []store.Batch
		for i := range 2000 {
			id := store.Identifier{Kind: store.KindDevice}
			// Spread over the key space, as keyed hashes are.
			binary.BigEndian.PutUint64(id.Hash[:], spread(uint64(r*2000+i)))
			batch = append(batch, store.Batch{EventID: fmt.Sprint(r, "-", i), Links: []store.Link{{ID: id, Subject: "seller:S", At: at}}})
		}
		if _, _, err := s.Record(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		if err := s.db.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	for _, prefix := range []bool{true, false} {
		b.Run(fmt.Sprint("bloom=", prefix), func(b *testing.B) {
			s.prefixLinks = prefix
			id := store.Identifier{Kind: store.KindDevice}
			for i := 0; b.Loop(); i++ {
				binary.BigEndian.PutUint64(id.Hash[:], spread(uint64(1_000_000+i)))
				if got, err := s.Linked(context.Background(), id, 0); err != nil || len(got) != 0 {
					b.Fatal(got, err)
				}
			}
		})
	}
}

// spread maps i over the 64-bit space (a bijection: distinct i, distinct
// results), as keyed hashes spread.
func spread(i uint64) uint64 { return i * 0x9E3779B97F4A7C15 }
