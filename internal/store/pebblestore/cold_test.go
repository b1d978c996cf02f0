package pebblestore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
)

// TestColdCacheAgreesWithLSM drives two stores through the same random
// life (events written at any time in the last 200 days, old ones
// recorded late, the clock moving on by minutes or days, expiry) and reads
// every key at random spans from both after each step: one serves reads
// through the in-memory window and the cache of older events, the other
// from the LSM alone. Their answers must be the same.
func TestColdCacheAgreesWithLSM(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { coldVersusLSM(t, seed) })
	}
}

func coldVersusLSM(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 15))
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	open := func(cache bool) *Store {
		s, err := Open(t.TempDir(), Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		if !cache {
			s.cold = nil
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	cached, plain := open(true), open(false)
	keys := make([]store.Identifier, 5)
	for i := range keys {
		keys[i] = store.Identifier{Kind: store.KindAccount}
		keys[i].Hash[0], keys[i].Hash[31] = byte(i), byte(i*7) // spread over shards
	}
	retention := store.Retention{Events: 90 * 24 * time.Hour, Decisions: 400 * 24 * time.Hour}
	id := 0
	for step := range 120 {
		switch op := rng.IntN(10); {
		case op < 5: // events of the moment, or recorded late
			var batch []store.Batch
			for range 1 + rng.IntN(4) {
				age := time.Duration(rng.Int64N(int64(2 * time.Hour)))
				if rng.IntN(3) == 0 {
					age = time.Duration(rng.Int64N(int64(200 * 24 * time.Hour)))
				}
				id++
				e := store.Event{ID: fmt.Sprint("e", id), Series: "giftcard", Key: keys[rng.IntN(len(keys))],
					At: now.Add(-age), Amount: rng.Int64N(1_000_000), Quantity: 1}
				batch = append(batch, store.Batch{EventID: e.ID, Events: []store.Event{e}})
				if rng.IntN(8) == 0 { // the same event again is one event
					batch = append(batch, store.Batch{EventID: e.ID + "-again", Events: []store.Event{e}})
				}
			}
			for _, s := range []*Store{cached, plain} {
				if _, _, err := s.Record(t.Context(), batch); err != nil {
					t.Fatal(err)
				}
			}
		case op < 8: // time passes: minutes, or days (the window moves on)
			d := time.Duration(rng.Int64N(int64(30 * time.Minute)))
			if op == 7 {
				d = time.Duration(rng.Int64N(int64(3 * 24 * time.Hour)))
			}
			now = now.Add(d)
		default:
			for _, s := range []*Store{cached, plain} {
				if _, err := s.Expire(t.Context(), now, retention, 100_000); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, k := range keys {
			since := now.Add(-time.Duration(rng.Int64N(int64(200 * 24 * time.Hour))))
			if rng.IntN(2) == 0 {
				since = now.Add(-180 * 24 * time.Hour) // the spending look-back
			}
			until := now.Add(time.Second)
			if rng.IntN(4) == 0 {
				until = since.Add(time.Duration(rng.Int64N(int64(now.Sub(since)))))
			}
			limit := 0
			if rng.IntN(4) == 0 {
				limit = 1 + rng.IntN(5)
			}
			got, err := cached.Events(t.Context(), "giftcard", k, since, until, limit)
			if err != nil {
				t.Fatal(err)
			}
			want, err := plain.Events(t.Context(), "giftcard", k, since, until, limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, func(a, b store.Event) bool { return a == b }) {
				t.Fatalf("step %d, key %d, [%s, %s) limit %d:\ncached %d events %v\nLSM    %d events %v",
					step, k.Hash[0], since, until, limit, len(got), got, len(want), want)
			}
		}
	}
	held := 0
	for i := range cached.cold.shards {
		held += len(cached.cold.shards[i].entries)
	}
	if held == 0 {
		t.Fatal("the cache of older events was never filled: the test compared the LSM with itself")
	}
}

// TestColdCacheFillRacesWithWrites: reads that fill the cache while old
// events are being recorded for the same keys must not leave an entry
// that lacks one of them. After the writers stop, every key read through
// the cache agrees with the LSM.
func TestColdCacheFillRacesWithWrites(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keys := make([]store.Identifier, 3)
	for i := range keys {
		keys[i] = store.Identifier{Kind: store.KindAccount}
		keys[i].Hash[31] = byte(i) // three shards
	}
	since := now.Add(-180 * 24 * time.Hour)
	done := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				// Each read reaches a little further back than the last,
				// so each fills its key's entry anew, racing the writers.
				from := since.Add(-time.Duration(i) * time.Millisecond)
				if _, err := s.Events(t.Context(), "giftcard", keys[(r+i)%len(keys)], from, now, 0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i := range 100 {
				e := store.Event{ID: fmt.Sprintf("w%d-%d", w, i), Series: "giftcard", Key: keys[i%len(keys)],
					At: now.Add(-time.Duration(1+i) * 24 * time.Hour), Amount: int64(i), Quantity: 1}
				if _, _, err := s.Record(t.Context(), []store.Batch{{EventID: e.ID, Events: []store.Event{e}}}); err != nil {
					t.Error(err)
					return
				}
				// A write is read back at once, through whatever entry
				// a racing fill left.
				back, err := s.Events(t.Context(), "giftcard", e.Key, since, now, 0)
				if err != nil {
					t.Error(err)
					return
				}
				if !slices.ContainsFunc(back, func(b store.Event) bool { return b.ID == e.ID }) {
					t.Errorf("event %s not read back after its write (%d events read)", e.ID, len(back))
					return
				}
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	for _, k := range keys {
		got, err := s.Events(t.Context(), "giftcard", k, since, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		var want []store.Event
		if err := s.scanLSM(t.Context(), "giftcard", k, since, now, 0, func(e store.Event) { want = append(want, e) }); err != nil {
			t.Fatal(err)
		}
		// Four writers, each writing events 0..99 round the three keys.
		wantN := 4 * (100/len(keys) + btoi(int(k.Hash[31]) < 100%len(keys)))
		if len(want) != wantN || !slices.EqualFunc(got, want, func(a, b store.Event) bool { return a == b }) {
			t.Errorf("key %d: %d events through the cache, %d in the LSM, want %d", k.Hash[31], len(got), len(want), wantN)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
