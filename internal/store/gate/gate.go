// Package gate keeps a networked backend (PostgreSQL, Redis) from holding
// riskd's calls hostage. Every operation gets a budget of its own inside
// the caller's deadline, and while the backend is known unreachable every
// operation fails at once with store.ErrUnavailable instead of waiting.
//
// Why a budget and not the caller's deadline alone: with the backend's
// packets silently dropped (a partition, not a refused connection) nothing
// ever answers, so a call would wait out its whole deadline, and a checkout
// with a generous deadline would hang that long on every order. Why a known
// state: once one operation has found the backend gone, the next thousand
// need not each spend their budget finding it again.
//
// The backend is known unreachable when a probe (a ping, with the same
// budget) fails. Probes run on a period, and at once when an operation
// fails for want of an answer, so a partition is known within one budget
// of the first call that met it. While unreachable the probes go on, and
// the first that succeeds lets calls through again: recovery needs no
// restart.
package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskd/riskd/internal/store"
)

// Options configure New.
type Options struct {
	// Name is the backend's, in errors and log lines: "postgres", "redis".
	Name string
	// Budget bounds one operation and one probe. It must be positive.
	Budget time.Duration
	// Interval is the period of the probes; a second if zero.
	Interval time.Duration
	// Probe asks the backend whether it answers. It must not go through
	// the gate.
	Probe func(context.Context) error
	// Unreachable tells whether an operation's error means the backend
	// could not be reached (a refused or cut connection), as against a
	// bad statement; a budget that ran out always does.
	Unreachable func(error) bool
	// Logger takes one line when the backend goes and one when it comes
	// back; slog.Default() if nil.
	Logger *slog.Logger
}

// Gate is one backend's budget and known state. Its methods are safe for
// concurrent use.
type Gate struct {
	o    Options
	log  *slog.Logger
	down atomic.Pointer[downErr] // nil while reachable
	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	watch []func(up bool)
}

// downErr is the error operations fail with while the backend is known
// unreachable; built once per outage, not per call.
type downErr struct{ err error }

// New starts the gate's probes; Close stops them.
func New(o Options) *Gate {
	if o.Budget <= 0 || o.Probe == nil {
		panic("gate: New needs a positive budget and a probe")
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Unreachable == nil {
		o.Unreachable = func(error) bool { return false }
	}
	g := &Gate{o: o, log: o.Logger, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if g.log == nil {
		g.log = slog.Default()
	}
	go g.probe()
	return g
}

// Close stops the probes.
func (g *Gate) Close() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.done
}

// Up reports whether the backend is reachable, as last known.
func (g *Gate) Up() bool { return g.down.Load() == nil }

// Watch calls fn with the known state now and on every change, from the
// probing goroutine: fn must not block.
func (g *Gate) Watch(fn func(up bool)) {
	g.mu.Lock()
	g.watch = append(g.watch, fn)
	g.mu.Unlock()
	fn(g.Up())
}

func noCancel() {}

// outage is the error of a known outage, or nil while reachable.
func (g *Gate) outage() error {
	if d := g.down.Load(); d != nil {
		return d.err
	}
	return nil
}

// Op is one operation through the gate.
type Op struct {
	// Ctx bounds the operation: the caller's context within the budget.
	Ctx    context.Context
	caller context.Context
	cancel context.CancelFunc
	g      *Gate
}

// Begin starts an operation. While the backend is known unreachable it
// returns store.ErrUnavailable at once. Otherwise the Op's Ctx is the
// caller's bounded by the budget, and End must be called when the
// operation ends. A caller's deadline already within the budget is kept as
// it is, without a timer.
func (g *Gate) Begin(ctx context.Context) (Op, error) {
	if err := g.outage(); err != nil {
		return Op{}, err
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= g.o.Budget {
		return Op{Ctx: ctx, caller: ctx, cancel: noCancel, g: g}, nil
	}
	bounded, cancel := context.WithTimeout(ctx, g.o.Budget)
	return Op{Ctx: bounded, caller: ctx, cancel: cancel, g: g}, nil
}

// BeginLong starts an operation whose length grows with its work (a scan,
// a batch import): it fails at once while the backend is known
// unreachable, but has only the caller's deadline.
func (g *Gate) BeginLong(ctx context.Context) (Op, error) {
	if err := g.outage(); err != nil {
		return Op{}, err
	}
	return Op{Ctx: ctx, caller: ctx, cancel: noCancel, g: g}, nil
}

// End ends the operation and classifies its error: the budget running out
// while the caller still waits, or an error Options.Unreachable
// recognises, becomes store.ErrUnavailable and has the backend probed at
// once.
func (o Op) End(err error) error {
	// Read before cancel, which would end the bounded context itself.
	spent := err != nil && errors.Is(o.Ctx.Err(), context.DeadlineExceeded) && o.caller.Err() == nil
	o.cancel()
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	g := o.g
	switch {
	case spent:
		err = fmt.Errorf("%w: %s did not answer within %s: %v", store.ErrUnavailable, g.o.Name, g.o.Budget, err)
	case g.o.Unreachable(err):
		err = fmt.Errorf("%w: %s: %v", store.ErrUnavailable, g.o.Name, err)
	case errors.Is(err, context.DeadlineExceeded):
		// The caller's own deadline, shorter than the budget: not proof the
		// backend is gone, but worth a probe.
		g.Kick()
		return err
	default:
		return err
	}
	g.Kick()
	return err
}

// Kick has the backend probed now rather than at the next period.
func (g *Gate) Kick() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

func (g *Gate) probe() {
	defer close(g.done)
	tick := time.NewTicker(g.o.Interval)
	defer tick.Stop()
	var since time.Time
	for {
		select {
		case <-g.stop:
			return
		case <-tick.C:
		case <-g.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), g.o.Budget)
		err := g.o.Probe(ctx)
		cancel()
		was := g.Up()
		switch {
		case err != nil && was:
			since = time.Now()
			g.down.Store(&downErr{fmt.Errorf("%w: %s is unreachable (since %s: %v); calls fail at once until it answers again",
				store.ErrUnavailable, g.o.Name, since.UTC().Format(time.RFC3339), err)})
			g.log.Error(g.o.Name+" unreachable: operations fail at once until a probe succeeds",
				"backend", g.o.Name, "error", err, "budget", g.o.Budget.String(), "probe_interval", g.o.Interval.String())
			g.notify(false)
		case err == nil && !was:
			g.down.Store(nil)
			g.log.Info(g.o.Name+" reachable again", "backend", g.o.Name, "down_for", time.Since(since).Round(time.Millisecond).String())
			g.notify(true)
		}
	}
}

func (g *Gate) notify(up bool) {
	g.mu.Lock()
	fns := append([]func(bool){}, g.watch...)
	g.mu.Unlock()
	for _, fn := range fns {
		fn(up)
	}
}
