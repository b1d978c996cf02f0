package server

// Calls refused to shed load (beyond max_in_flight, or beyond a caller's
// rate) come by the thousand a second exactly when riskd has the least to
// spare: each is counted in a metric and logged sampled, one line a second
// per caller and reason, never one per call.

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type shedReason uint8

const (
	shedInFlight  shedReason = iota // riskd at max_in_flight
	shedRateLimit                   // the caller over its rate
)

func (r shedReason) String() string {
	if r == shedRateLimit {
		return "rate_limit"
	}
	return "in_flight"
}

// shedLogEvery is the least time between two lines about one caller's
// refusals for one reason.
const shedLogEvery = time.Second

// shedder counts and logs the calls refused to shed load.
type shedder struct {
	count metric.Int64Counter
	log   *slog.Logger
	clock func() time.Time

	mu sync.Mutex
	// callers are bounded: names come from the configured callers.
	callers map[shedKey]*shedCaller
	closed  bool
}

type shedKey struct {
	caller string
	reason shedReason
}

func newShedder(meter metric.Meter, log *slog.Logger, clock func() time.Time) (*shedder, error) {
	if meter == nil {
		meter = noop.NewMeterProvider().Meter("riskd/server")
	}
	count, err := meter.Int64Counter("riskd.server.shed",
		metric.WithDescription("Calls refused at once to shed load, by reason (in_flight: riskd at max_in_flight; rate_limit: the caller over its rate) and caller."))
	if err != nil {
		return nil, err
	}
	return &shedder{count: count, log: log, clock: clock, callers: map[shedKey]*shedCaller{}}, nil
}

// caller returns the record of one caller's refusals for one reason.
func (s *shedder) caller(reason shedReason, name string) *shedCaller {
	k := shedKey{caller: name, reason: reason}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.callers[k]
	if c == nil {
		msg := "riskd is at capacity; retry with backoff"
		if reason == shedRateLimit {
			msg = "caller " + name + " is over its rate limit; retry with backoff"
		}
		c = &shedCaller{
			s:   s,
			key: k,
			err: newShedError(msg),
			// Built once: a set built per call would sort, hash and
			// allocate on every refusal.
			attrs: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
				attribute.String("reason", reason.String()), attribute.String("caller", name)))},
			closed: s.closed,
		}
		s.callers[k] = c
	}
	return c
}

// close writes what is still pending and stops the timers, when the
// server has stopped taking calls.
func (s *shedder) close() {
	s.mu.Lock()
	s.closed = true
	callers := make([]*shedCaller, 0, len(s.callers))
	for _, c := range s.callers {
		callers = append(callers, c)
	}
	s.mu.Unlock()
	for _, c := range callers {
		c.mu.Lock()
		c.closed = true
		if c.timer != nil {
			c.timer.Stop()
		}
		c.write(c.s.clock().UnixNano())
		c.mu.Unlock()
	}
}

// shedCaller is one caller's refusals for one reason. A refusal takes no
// lock while a line is not due and a timer will write it; the first
// refusal after a quiet second writes its line at once.
type shedCaller struct {
	s     *shedder
	key   shedKey
	err   error
	attrs []metric.AddOption

	pending atomic.Int64 // refused since the last line
	next    atomic.Int64 // Unix nanoseconds before which no line is written
	armed   atomic.Bool  // a timer will write the pending ones

	mu     sync.Mutex // writing a line, the timer, closed
	timer  *time.Timer
	closed bool
}

// refuse counts a call refused and returns its answer.
func (c *shedCaller) refuse(ctx context.Context) error {
	c.s.count.Add(ctx, 1, c.attrs...)
	c.pending.Add(1)
	now := c.s.clock().UnixNano()
	// armed is read after pending was added to, and the timer clears it
	// before it takes pending: a refusal that sees it set is in the
	// timer's line.
	if !due(now, c.next.Load()) && c.armed.Load() {
		return c.err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.err
	}
	if next := c.next.Load(); !due(now, next) {
		c.arm(next - now)
		return c.err
	}
	c.write(now)
	return c.err
}

// arm makes sure a timer writes the pending refusals when the next line is
// due: the last of a burst are logged within a second, not at the next
// refusal, whenever that comes. Called with c.mu held.
func (c *shedCaller) arm(wait int64) {
	if c.closed || c.armed.Load() {
		return
	}
	c.armed.Store(true)
	c.timer = time.AfterFunc(time.Duration(wait), c.flush)
}

func (c *shedCaller) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed.Store(false)
	if c.closed {
		return
	}
	now := c.s.clock().UnixNano()
	if next := c.next.Load(); !due(now, next) {
		// The server's clock is behind the timer's (a test's, or one
		// slewed): wait for it.
		if c.pending.Load() > 0 {
			c.arm(next - now)
		}
		return
	}
	c.write(now)
}

// due says whether a line may be written at now, the next being due at
// next. A clock set back by more than the interval would hold every line
// back until it caught up: then the line is written at once.
func due(now, next int64) bool {
	return now >= next || next-now > int64(shedLogEvery)
}

// write logs the refusals pending, if any. Called with c.mu held.
func (c *shedCaller) write(now int64) {
	n := c.pending.Swap(0)
	if n == 0 {
		return
	}
	c.next.Store(now + int64(shedLogEvery))
	// No call's context: the line stands for many calls, not the one
	// that happened to write it.
	c.s.log.Warn("calls shed", "caller", c.key.caller, "reason", c.key.reason.String(),
		"count", n, "grpc.code", codes.ResourceExhausted.String())
}

// shedError is the answer to a call refused to shed load. The same value
// answers every such call of a caller; its type tells the logging
// interceptor that the shedder logs it (shedLogField).
type shedError struct {
	st   *status.Status
	text string
}

func newShedError(msg string) *shedError {
	st := status.New(codes.ResourceExhausted, msg)
	return &shedError{st: st, text: st.Err().Error()}
}

func (e *shedError) Error() string              { return e.text }
func (e *shedError) GRPCStatus() *status.Status { return e.st }

// shedLogField marks the call-log line of a shed call, which slogAdapter
// then drops: the shedder has counted and logged it.
const shedLogField = "riskd.shed"
