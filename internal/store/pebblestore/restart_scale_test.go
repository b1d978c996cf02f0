//go:build linux

package pebblestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// TestRestartTimeAtScale is a measurement, not part of the suite: it is
// skipped unless RISKD_RESTART_SCALE holds a number of decisions. It fills
// a data directory with that many gift-card decisions through the real
// commit path, then times Open, the service's restart, for the README's
// restart figure (issue 15). Linux only: it drops the directory's files
// from the page cache (posix_fadvise) to time a restart as after a reboot.
//
//	RISKD_RESTART_SCALE=1000000 [RISKD_RESTART_DIR=/big/disk/dir] \
//	[RISKD_RESTART_CPUPROFILE=/tmp/open] \
//	  go test -run TestRestartTimeAtScale -v -count=1 -timeout 0 ./internal/store/pebblestore
//
// The decisions are spread evenly over the 400 days before now, each the
// size of a real gift-card decision (a decision of about 1.6 KB, facts of
// about 1.5 KB, 4 subjects, 4 events, 3 links over a pool of a million
// accounts); 1% get a reported outcome, so marks exist. Four opens are
// timed, with the real clock and fsync on, as the service opens: right
// after the fill (page cache dropped, the fill's WAL to replay) and again
// (page cache warm), both with compactions still behind the fill; then,
// once compactions have caught up, cold and warm again. For each it logs
// the time, the hot window rebuilt, pebble's messages during the open and
// where the open's wall time went (stack samples: pebble's open, its wait
// for a compaction, the hot-window rebuild, the marked set); and the fill's
// rate, the size on disk, the LSM's shape and the time of each Close.
// RISKD_RESTART_DIR (which must not hold a store yet) keeps the data
// somewhere other than a temporary directory; it is deleted at the end
// either way. RISKD_RESTART_CPUPROFILE is a path prefix for CPU profiles
// of the opens only (not of the fill): <prefix>-first.pprof and so on.
func TestRestartTimeAtScale(t *testing.T) {
	v := os.Getenv("RISKD_RESTART_SCALE")
	if v == "" {
		t.Skip("a measurement: set RISKD_RESTART_SCALE to a number of decisions to run it")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("RISKD_RESTART_SCALE=%q: want a positive number of decisions", v)
	}
	dir := t.TempDir()
	if d := os.Getenv("RISKD_RESTART_DIR"); d != "" {
		if _, err := os.Stat(filepath.Join(d, DirName)); err == nil {
			t.Fatalf("%s already holds a store: the measurement needs an empty directory", d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dir = d
		t.Cleanup(func() { os.RemoveAll(filepath.Join(d, DirName)) })
	}

	// The fill's now: decisions run up to it, and its fixed clock makes
	// the hot window (the last HotWindow) hold its realistic share.
	now := time.Now().UTC().Truncate(time.Second)
	fill := fillScale(t, dir, n, now)

	// Opens as the service opens: the real clock, fsync on.
	profile := os.Getenv("RISKD_RESTART_CPUPROFILE")
	var waits []time.Duration // of each open, waiting in pebble.Open for a compaction
	measure := func(name string, cold bool) (*Store, time.Duration) {
		if cold {
			files, size, err := evictPageCache(dir)
			if err != nil {
				t.Fatalf("drop the data from the page cache: %v", err)
			}
			t.Logf("%s: dropped %d files, %.1f MB, from the page cache", name, files, float64(size)/1e6)
		}
		var prof *os.File
		if profile != "" {
			name, _, _ := strings.Cut(name, " ")
			if prof, err = os.Create(profile + "-" + name + ".pprof"); err != nil {
				t.Fatal(err)
			}
			defer prof.Close()
			if err := pprof.StartCPUProfile(prof); err != nil {
				t.Logf("cpu profile: %v", err)
				prof = nil
			}
		}
		log := &openLog{}
		log.start(time.Now())
		wall := sampleWall(2 * time.Millisecond)
		start := time.Now()
		s, err := Open(dir, Options{Logger: slog.New(log)})
		took := time.Since(start)
		parts, compaction := wall.stop(took)
		log.stop()
		if prof != nil {
			pprof.StopCPUProfile()
		}
		if err != nil {
			t.Fatalf("%s open: %v", name, err)
		}
		keys, events := s.hot.size()
		t.Logf("%s open: %v (hot_keys %d, hot_events %d, marked identifiers %d, %v after the fill's now)",
			name, took.Round(time.Millisecond), keys, events, len(s.marked.ids), time.Since(now).Round(time.Second))
		for _, l := range log.lines {
			t.Logf("  %s", l)
		}
		t.Logf("  where the open's wall time went (goroutine stacks every 2ms): %s", parts)
		waits = append(waits, compaction)
		return s, took
	}
	closeStore := func(name string, s *Store) time.Duration {
		start := time.Now()
		if err := s.Close(); err != nil {
			t.Fatalf("%s close: %v", name, err)
		}
		took := time.Since(start)
		t.Logf("%s close: %v", name, took.Round(time.Millisecond))
		return took
	}

	s, first := measure("first (page cache dropped, the fill's WAL to replay, compactions behind)", true)
	closeStore("first", s)
	s, second := measure("second (page cache warm, compactions behind)", false)

	// The fill wrote months of decisions in minutes, leaving compactions
	// far behind, as they never are at the service's rate; and Open waits
	// for a compaction in progress. Let them catch up with the store open,
	// as the service's would have been, then time the opens again.
	settle(t, s)

	// The parts of Open that read the stored data, each timed alone on the
	// open store (page cache warm, tables open): the rest of Open is
	// pebble's own.
	start := time.Now()
	h := newHotIndex(time.Now().Add(-HotWindow))
	if err := h.rebuild(s); err != nil {
		t.Fatal(err)
	}
	rebuild := time.Since(start)
	start = time.Now()
	marks, err := loadMarkSet(s)
	if err != nil {
		t.Fatal(err)
	}
	markTook := time.Since(start)
	keys, events := h.size()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("parts of a warm open: hot-window rebuild %v (%d keys, %d events), marked set %v (%d identifiers); heap after open %.0f MB",
		rebuild.Round(time.Millisecond), keys, events, markTook.Round(time.Millisecond), len(marks.ids), float64(ms.HeapAlloc)/1e6)
	m := s.db.Metrics()
	t.Logf("LSM: %d tables, %.1f MB in tables, WAL %d files %.1f MB, read amp %d\n%s",
		m.Total().TablesCount, float64(m.Total().TablesSize)/1e6, m.WAL.Files, float64(m.WAL.Size)/1e6, m.ReadAmp(), m)
	closeStore("second", s)

	s, third := measure("third (page cache dropped, compactions caught up)", true)
	closeStore("third", s)
	s, fourth := measure("fourth (page cache warm, compactions caught up)", false)
	closeStore("fourth", s)

	du, apparent, files := diskUsage(t, dir)
	t.Logf("SUMMARY n=%d fill=%v (%.0f decisions/s, %d outcomes, decision %.0f B, facts %d B) fill-close=%v du=%.2f GB (apparent %.2f GB, %d files); "+
		"open behind on compactions: first/cold+WAL=%v second/warm=%v; caught up: third/cold=%v fourth/warm=%v; "+
		"of each, waiting for a compaction: %v; warm parts: rebuild=%v marks=%v; hot_events=%d marked=%d",
		n, fill.took.Round(time.Second), float64(n)/fill.took.Seconds(), fill.outcomes, fill.decisionBytes, factsSize,
		fill.closeTook.Round(time.Millisecond), float64(du)/1e9, float64(apparent)/1e9, files,
		first.Round(time.Millisecond), second.Round(time.Millisecond), third.Round(time.Millisecond), fourth.Round(time.Millisecond),
		waits, rebuild.Round(time.Millisecond), markTook.Round(time.Millisecond), events, len(marks.ids))
}

// settle waits until pebble has caught up on compactions. pebble picks a
// compaction only when a flush or a compaction ends, so each round flushes
// a rewrite of the schema version (the value it holds) and waits until no
// compaction runs or starts for two seconds; it is done when a round
// starts none.
func settle(t *testing.T, s *Store) {
	start := time.Now()
	m := s.db.Metrics()
	debt, count := m.Compact.EstimatedDebt, m.Compact.Count
	schema, err := s.get(metaSchema)
	if err != nil {
		t.Fatal(err)
	}
	for round := 1; ; round++ {
		if time.Since(start) > 3*time.Hour {
			t.Fatal("compactions did not catch up in 3 hours")
		}
		before := s.db.Metrics().Compact.Count
		if err := s.db.Set(metaSchema, schema, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if err := s.db.Flush(); err != nil {
			t.Fatal(err)
		}
		last, quiet := before, 0
		for quiet < 4 {
			time.Sleep(500 * time.Millisecond)
			m = s.db.Metrics()
			if m.Compact.NumInProgress == 0 && m.Compact.Count == last {
				quiet++
			} else {
				quiet = 0
			}
			last = m.Compact.Count
		}
		if last == before {
			t.Logf("compactions caught up in %v (%d rounds): %d compactions, estimated debt %.1f MB before, %.1f MB after",
				time.Since(start).Round(time.Second), round, m.Compact.Count-count, float64(debt)/1e6, float64(m.Compact.EstimatedDebt)/1e6)
			return
		}
	}
}

type fillResult struct {
	took, closeTook time.Duration
	outcomes        int64
	decisionBytes   float64 // mean marshalled decision
}

// Shape of the fill.
const (
	scaleSpan     = 400 * 24 * time.Hour
	scaleWorkers  = 64 // concurrent callers, so group commit batches them
	scaleAccounts = 1_000_000
	factsSize     = 1500
	outcomeShare  = 100 // one decision in outcomeShare gets a reported outcome
)

// fillScale commits n decisions, spread evenly over the scaleSpan before
// now, in time order (as the service writes them), from scaleWorkers
// goroutines, and closes the store. Each worker builds its decisions as it
// goes: nothing is held beyond the commit in flight.
func fillScale(t *testing.T, dir string, n int, now time.Time) fillResult {
	// NoSync for the fill only: fsync decides when the bytes reach the
	// disk, not which bytes are written, and Close (then the page-cache
	// drop, which syncs each file first) leaves the same files either
	// way. Fsync per group would only slow the fill on a shared box.
	s, err := Open(dir, Options{NoSync: true, Clock: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	first := now.Add(-scaleSpan)
	step := scaleSpan / time.Duration(n)
	var next, outcomes, decisionBytes atomic.Int64
	var failed atomic.Bool
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range scaleWorkers {
		wg.Go(func() {
			g := newScaleGen(uint64(w))
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				at := first.Add(time.Duration(i+1) * step)
				c := g.commit(at)
				decisionBytes.Add(int64(proto.Size(c.Decision)))
				if _, _, err := s.Commit(ctx, c); err != nil {
					t.Errorf("commit %d: %v", i, err)
					failed.Store(true)
					return
				}
				if i%outcomeShare == outcomeShare/2 {
					if err := s.ReportOutcome(ctx, g.outcome(c.Decision.GetDecisionId(), at, now)); err != nil {
						t.Errorf("outcome %d: %v", i, err)
						failed.Store(true)
						return
					}
					outcomes.Add(1)
				}
				if tenth := max(n/10, 1); (i+1)%tenth == 0 {
					el := time.Since(start)
					t.Logf("fill: %d/%d decisions in %v (%.0f/s)", i+1, n, el.Round(time.Second), float64(i+1)/el.Seconds())
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if failed.Load() {
		s.Close()
		t.FailNow()
	}
	keys, events := s.hot.size()
	cs := s.CommitStats()
	t.Logf("fill: %d decisions in %v (%.0f/s), %d outcomes, %d groups (%.1f commits per group), mean decision %.0f B marshalled; hot window at the fill's now: %d keys, %d events",
		n, took.Round(time.Second), float64(n)/took.Seconds(), outcomes.Load(), cs.Groups, float64(cs.Commits)/float64(cs.Groups),
		float64(decisionBytes.Load())/float64(n), keys, events)
	cstart := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closeTook := time.Since(cstart)
	du, apparent, files := diskUsage(t, dir)
	t.Logf("fill close: %v; on disk %.2f GB (apparent %.2f GB, %d files)", closeTook.Round(time.Millisecond), float64(du)/1e9, float64(apparent)/1e9, files)
	return fillResult{took: took, closeTook: closeTook, outcomes: outcomes.Load(), decisionBytes: float64(decisionBytes.Load()) / float64(n)}
}

// scaleGen builds one worker's decisions.
type scaleGen struct {
	rng   *rand.Rand
	bytes *rand.ChaCha8
	facts []byte
}

func newScaleGen(seed uint64) *scaleGen {
	var key [32]byte
	key[0] = byte(seed)
	return &scaleGen{rng: rand.New(rand.NewPCG(seed, 0x5ca1e)), bytes: rand.NewChaCha8(key), facts: make([]byte, factsSize)}
}

func (g *scaleGen) hex(n int) string {
	b := make([]byte, n/2)
	g.bytes.Read(b)
	return hex.EncodeToString(b)
}

// decisionID is a UUIDv7 of at, as the engine makes at decision time.
func (g *scaleGen) decisionID(at time.Time) string {
	var u uuid.UUID
	g.bytes.Read(u[:])
	ms := uint64(at.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

// scaleIdent stands in for the keyed hash of an identifier.
func scaleIdent(kind store.Kind, account, variant int) store.Identifier {
	return store.Identifier{Kind: kind, Hash: sha256.Sum256(fmt.Appendf(nil, "%d/%d/%d", kind, account, variant))}
}

// Rule reasons as the default policy words them.
var scaleReasons = []*riskv1.Reason{
	{Code: "NEW_DEVICE", Message: "The order comes from a device not seen before on this account.", Source: "rule:new-device", Score: 15},
	{Code: "RECIPIENT_NOT_OWNER", Message: "The codes go to a recipient that is not the account's own, or was just added.", Source: "rule:recipient-not-owner", Score: 15},
	{Code: "ACTIVE_CALL", Message: "The buyer was in a phone call during checkout.", Source: "rule:active-call", Score: 25},
	{Code: "FRESH_CREDIT_FUNDING", Message: "The order is paid with credit or a loan drawn in the last 24 hours.", Source: "rule:fresh-credit-funding", Score: 30},
	{Code: "VELOCITY_ACCOUNT", Message: "This account bought unusually many gift cards, or for unusually much, in the last hour.", Source: "rule:velocity-account", Score: 30},
	{Code: "NEW_LOCATION", Message: "The order comes from a login at a location new for this account.", Source: "rule:new-location", Score: 10},
}

// commit is one gift-card order decided at at: the decision, its facts and
// what the history builder derives (4 subjects, 4 events, 3 links).
func (g *scaleGen) commit(at time.Time) store.Commit {
	r := g.rng
	account := r.IntN(scaleAccounts)
	variant := func(p float64, k int) int { // most orders reuse the account's usual one
		if r.Float64() < p {
			return 0
		}
		return 1 + r.IntN(k)
	}
	subjects := []store.Identifier{
		scaleIdent(store.KindAccount, account, 0),
		scaleIdent(store.KindDevice, account, variant(0.8, 3)),
		scaleIdent(store.KindInstrument, account, variant(0.7, 2)),
		scaleIdent(store.KindRecipient, account, variant(0.6, 4)),
	}
	id := g.decisionID(at)
	d := &riskv1.Decision{
		DecisionId: id, RequestId: "gc-" + g.hex(32), Check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE,
		PolicyVersion: "sha256:" + g.hex(64), DecidedAt: timestamppb.New(at), TraceId: g.hex(32),
	}
	nReasons := r.IntN(2) // an approval has a reason or none
	switch p := r.IntN(100); {
	case p < 3:
		d.Outcome, d.Score, nReasons = riskv1.Outcome_OUTCOME_DECLINE, 70+int32(r.IntN(30)), 4
		d.Actions = []riskv1.Action{riskv1.Action_ACTION_HOLD_CODE_DELIVERY}
	case p < 15:
		d.Outcome, d.Score, nReasons = riskv1.Outcome_OUTCOME_REVIEW, 30+int32(r.IntN(40)), 3
		d.Actions = []riskv1.Action{riskv1.Action_ACTION_HOLD_CODE_DELIVERY, riskv1.Action_ACTION_CONFIRM_WITH_ACCOUNT_HOLDER}
	default:
		d.Outcome, d.Score = riskv1.Outcome_OUTCOME_APPROVE, int32(r.IntN(30))
	}
	for _, k := range r.Perm(len(scaleReasons))[:nReasons] {
		d.Reasons = append(d.Reasons, scaleReasons[k])
	}
	for _, name := range []string{"velocity", "spending", "links"} {
		d.VerifierResults = append(d.VerifierResults, &riskv1.VerifierResult{
			Name: name, Status: riskv1.VerifierStatus_VERIFIER_STATUS_OK, Duration: durationpb.New(time.Duration(50+r.IntN(900)) * time.Microsecond)})
	}
	amount := int64(10_000 * (1 + r.IntN(50)))
	cards := int64(1 + r.IntN(5))
	for _, key := range []string{"account", "device", "instrument", "recipient"} {
		count := int64(1 + r.IntN(3))
		for _, w := range []string{"10m", "1h", "24h"} {
			prefix := "velocity." + key + "." + w + "."
			d.Signals = append(d.Signals,
				&riskv1.Signal{Name: prefix + "count", Value: &riskv1.Signal_IntValue{IntValue: count}},
				&riskv1.Signal{Name: prefix + "amount", Value: &riskv1.Signal_IntValue{IntValue: count * amount}},
				&riskv1.Signal{Name: prefix + "cards", Value: &riskv1.Signal_IntValue{IntValue: count * cards}})
			count += int64(r.IntN(2))
		}
	}
	d.Signals = append(d.Signals,
		&riskv1.Signal{Name: "spending.orders", Value: &riskv1.Signal_IntValue{IntValue: int64(r.IntN(40))}},
		&riskv1.Signal{Name: "spending.median", Value: &riskv1.Signal_IntValue{IntValue: amount}},
		&riskv1.Signal{Name: "spending.limit", Value: &riskv1.Signal_IntValue{IntValue: 4 * amount}},
		&riskv1.Signal{Name: "links.confirmed_fraud", Value: &riskv1.Signal_BoolValue{BoolValue: false}})
	slices.SortFunc(d.Signals, func(a, b *riskv1.Signal) int { return strings.Compare(a.GetName(), b.GetName()) })

	g.bytes.Read(g.facts) // copied into the record by Commit before it returns
	c := store.Commit{Decision: d, Subjects: subjects, Facts: g.facts}
	g.bytes.Read(c.RequestHash[:])
	ref := ""
	if d.GetOutcome() == riskv1.Outcome_OUTCOME_DECLINE {
		ref = "declined"
	}
	subject := fmt.Sprintf("account:%09d", account)
	for k, s := range subjects {
		c.Events = append(c.Events, store.Event{ID: fmt.Sprintf("%s/giftcard/%d", id, k), Series: "giftcard", Key: s, At: at, Amount: amount, Quantity: cards, Ref: ref})
		if k > 0 {
			c.Links = append(c.Links, store.Link{ID: s, Subject: subject, At: at})
		}
	}
	return c
}

// outcome is a report on the decision made at at, some hours to weeks
// later (never after now).
func (g *scaleGen) outcome(id string, at, now time.Time) store.Outcome {
	label, note := riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, "confirmed by the account holder by phone"
	switch p := g.rng.IntN(100); {
	case p < 15:
		label, note = riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, "victim reported the codes stolen"
	case p < 40:
		label, note = riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK, "chargeback from the issuing bank"
	}
	when := at.Add(time.Hour + time.Duration(g.rng.Int64N(int64(30*24*time.Hour))))
	if when.After(now) {
		when = now
	}
	return store.Outcome{DecisionID: id, Label: label, Note: note, At: when}
}

// evictPageCache drops the files under dir from the page cache, as after a
// reboot: each is synced, then advised away.
func evictPageCache(dir string) (files int, size int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := f.Sync(); err != nil {
			return err
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return err
		}
		if fi, err := f.Stat(); err == nil {
			size += fi.Size()
		}
		files++
		return nil
	})
	return files, size, err
}

// diskUsage is du's figure (allocated blocks) and the apparent size of the
// files under dir.
func diskUsage(t *testing.T, dir string) (du, apparent int64, files int) {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files++
		apparent += fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			du += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return du, apparent, files
}

// wallSampler is a wall-clock profile of Open: it samples the stack of
// the goroutine inside Open every few milliseconds and counts the samples
// by the part of Open (pebble's open, the bbolt import check, prepare, the
// hot-window rebuild, the marked set) and the innermost function, so time
// spent waiting (a read from disk, an fsync, a flush) is counted too, which
// a CPU profile leaves out.
type wallSampler struct {
	quit   chan struct{}
	done   chan struct{}
	counts map[string]int
	total  int
}

func sampleWall(every time.Duration) *wallSampler {
	w := &wallSampler{quit: make(chan struct{}), done: make(chan struct{}), counts: map[string]int{}}
	go func() {
		defer close(w.done)
		buf := make([]byte, 1<<20)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
			for g := range strings.SplitSeq(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
				if strings.Contains(g, "pebblestore.Open(") {
					w.counts[wallLabel(g)]++
					w.total++
				}
			}
		}
	}()
	return w
}

// wallLabel names a sample: the part of Open, the function it called, and
// the innermost function.
func wallLabel(stack string) string {
	var funcs []string // innermost first
	for l := range strings.SplitSeq(stack, "\n") {
		if l == "" || strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "goroutine ") || strings.HasPrefix(l, "created by ") {
			continue
		}
		if i := strings.LastIndexByte(l, '('); i > 0 {
			l = l[:i]
		}
		funcs = append(funcs, l)
	}
	short := func(fn string) string {
		if i := strings.LastIndexByte(fn, '/'); i >= 0 {
			return fn[i+1:]
		}
		return fn
	}
	const self = "github.com/riskd/riskd/internal/store/pebblestore."
	parts := []struct{ fn, name string }{
		{self + "(*hotIndex).rebuild", "hot-window rebuild"}, {self + "loadMarkSet", "marked set"},
		{self + "(*Store).prepare", "prepare"}, {self + "importBolt", "bbolt import check"},
		{"github.com/cockroachdb/pebble/v2.Open", "pebble.Open"}, {self + "Open", "Open itself"},
	}
	for _, p := range parts {
		if i := slices.Index(funcs, p.fn); i >= 0 {
			label := p.name
			if i > 0 {
				label += " > " + short(funcs[i-1])
			}
			if i > 1 {
				label += " ... " + short(funcs[0])
			}
			return label
		}
	}
	return "other: " + short(funcs[0])
}

// stop ends the sampling. It returns the time (took, shared out by the
// samples) of each part of Open and of its most frequent stacks, and the
// time pebble.Open spent waiting for a compaction to finish (before it
// looks for obsolete files, it waits for the compactions in progress: a
// flush of the replayed WAL, even of one batch, can start one).
func (w *wallSampler) stop(took time.Duration) (string, time.Duration) {
	close(w.quit)
	<-w.done
	if w.total == 0 {
		return "no samples", 0
	}
	type part struct {
		label string
		n     int
	}
	sorted := func(m map[string]int) []part {
		var out []part
		for l, n := range m {
			out = append(out, part{l, n})
		}
		slices.SortFunc(out, func(a, b part) int { return b.n - a.n })
		return out
	}
	per := took / time.Duration(w.total)
	ms := func(n int) time.Duration { return (time.Duration(n) * per).Round(time.Millisecond) }
	byPart, compacting, flushing := map[string]int{}, 0, 0
	for l, n := range w.counts {
		name, _, _ := strings.Cut(l, " > ")
		byPart[name] += n
		switch {
		case strings.HasPrefix(l, "pebble.Open > v2.(*DB).scanObsoleteFiles ... sync.runtime_notifyListWait"):
			compacting += n
		case strings.HasPrefix(l, "pebble.Open > sync.(*Cond).Wait"): // Open's wait for the flush of the replayed WAL
			flushing += n
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples; by part:", w.total)
	for i, p := range sorted(byPart) {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s %v", p.label, ms(p.n))
		if p.label == "pebble.Open" {
			fmt.Fprintf(&b, " (waiting for the flush of the replayed WAL %v, for a compaction %v)", ms(flushing), ms(compacting))
		}
	}
	b.WriteString("; top stacks:")
	for i, p := range sorted(w.counts) {
		if i == 6 {
			break
		}
		fmt.Fprintf(&b, " %.0f%% %s;", 100*float64(p.n)/float64(w.total), p.label)
	}
	return b.String(), ms(compacting)
}

// openLog is a slog handler that keeps the messages logged while it is on
// (pebble's, at debug level, and the store's), each with the time since
// the open began.
type openLog struct {
	mu    sync.Mutex
	on    bool
	begin time.Time
	lines []string
}

func (l *openLog) start(at time.Time) { l.mu.Lock(); l.on, l.begin = true, at; l.mu.Unlock() }
func (l *openLog) stop()              { l.mu.Lock(); l.on = false; l.mu.Unlock() }

func (l *openLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *openLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.on {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "+%v %s", r.Time.Sub(l.begin).Round(time.Millisecond), r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.lines = append(l.lines, b.String())
	return nil
}

func (l *openLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *openLog) WithGroup(string) slog.Handler      { return l }
