package gate

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
)

var errRefused = errors.New("connection refused")

// backend is a probe whose answer the test sets.
type backend struct{ err atomic.Pointer[error] }

func (b *backend) set(err error) { b.err.Store(&err) }
func (b *backend) probe(ctx context.Context) error {
	if p := b.err.Load(); p != nil && *p != nil {
		return *p
	}
	return nil
}

func newGate(t *testing.T, b *backend) (*Gate, *watched) {
	t.Helper()
	g := New(Options{Name: "db", Budget: 50 * time.Millisecond, Interval: time.Hour, Probe: b.probe,
		Unreachable: func(err error) bool { return errors.Is(err, errRefused) },
		Logger:      slog.New(slog.DiscardHandler)})
	t.Cleanup(g.Close)
	w := &watched{}
	g.Watch(w.add)
	return g, w
}

// watched records what Watch reported.
type watched struct {
	mu     sync.Mutex
	states []bool
}

func (w *watched) add(up bool) { w.mu.Lock(); w.states = append(w.states, up); w.mu.Unlock() }
func (w *watched) last() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.states[len(w.states)-1]
}

// until waits (boundedly) for the gate's known state to become up.
func until(t *testing.T, g *Gate, up bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); g.Up() != up; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("gate never became up=%v", up)
		}
	}
}

func TestEndClassifies(t *testing.T) {
	notFound := store.ErrNotFound
	for _, tc := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"success", nil, false},
		{"a bad statement stays itself", notFound, false},
		{"a refused connection is unavailable", errRefused, true},
		{"already unavailable stays so", store.ErrUnavailable, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := newGate(t, &backend{})
			op, err := g.Begin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := op.End(tc.err)
			if errors.Is(got, store.ErrUnavailable) != tc.unavailable {
				t.Fatalf("End(%v) = %v; unavailable should be %v", tc.err, got, tc.unavailable)
			}
			if !tc.unavailable && got != tc.err {
				t.Fatalf("End(%v) = %v; want it unchanged", tc.err, got)
			}
		})
	}
}

func TestASpentBudgetIsUnavailableAndTheCallersDeadlineIsNot(t *testing.T) {
	g, _ := newGate(t, &backend{})
	op, err := g.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := op.Ctx.Deadline(); !ok {
		t.Fatal("an operation without a caller's deadline has no budget")
	}
	<-op.Ctx.Done() // the backend never answers
	if err := op.End(op.Ctx.Err()); !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer within 50ms") {
		t.Fatalf("spent budget: %v, want unavailable naming the budget", err)
	}

	// A caller whose own deadline comes first keeps it, with no timer of
	// the gate's, and its expiry is its own.
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	op, err = g.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if op.Ctx != ctx {
		t.Fatal("a deadline within the budget got a timer of its own")
	}
	<-ctx.Done()
	if err := op.End(ctx.Err()); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("the caller's own deadline: %v, want DeadlineExceeded", err)
	}
}

func TestKnownOutageFailsAtOnceAndRecovers(t *testing.T) {
	b := &backend{}
	g, w := newGate(t, b)
	b.set(errRefused)
	op, err := g.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A failed operation has the backend probed at once: the hour-long
	// interval never comes.
	if err := op.End(errRefused); !errors.Is(err, store.ErrUnavailable) {
		t.Fatal(err)
	}
	until(t, g, false)
	if w.last() {
		t.Fatal("watchers were not told the backend went")
	}
	for _, begin := range []func(context.Context) (Op, error){g.Begin, g.BeginLong} {
		if _, err := begin(context.Background()); !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "fail at once") {
			t.Fatalf("Begin during a known outage: %v, want unavailable at once", err)
		}
	}
	b.set(nil)
	g.Kick()
	until(t, g, true)
	if !w.last() {
		t.Fatal("watchers were not told the backend came back")
	}
	if _, err := g.Begin(context.Background()); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestAProbeAloneFindsAnOutage(t *testing.T) {
	b := &backend{}
	b.set(errRefused)
	g := New(Options{Name: "db", Budget: 50 * time.Millisecond, Interval: time.Millisecond, Probe: b.probe,
		Logger: slog.New(slog.DiscardHandler)})
	defer g.Close()
	until(t, g, false)
}
