// Package engine decides one request: it runs the verifiers the policy names
// for the check, concurrently, each inside its own budget cut to fit the
// caller's deadline, then lets the policy turn their signals and findings into
// a decision. It owns the orchestration, not the meaning: what a finding or a
// failure does to the outcome is the policy's business.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/riskd/riskd/internal/facts"
	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DefaultReserve is the time kept back from the caller's deadline for the
// policy, the store and the answer's trip back, so that the answer leaves
// before the deadline even when a verifier hangs.
const DefaultReserve = 40 * time.Millisecond

// ErrNoCheck is returned for a check the policy does not define.
var ErrNoCheck = errors.New("policy defines no such check")

// Options configure an Engine.
type Options struct {
	Policy    *policy.Policy
	Verifiers verifier.Registry
	// Extra are the policy's own verifiers (its remote ones).
	Extra verifier.Registry
	// Reserve is kept back from the caller's deadline; DefaultReserve if zero.
	Reserve time.Duration
	// Keys key the request's identifiers for history; with none, the
	// engine derives no history entry and verifiers derive their own.
	Keys *pseudonym.Keyer
	// Log is where decisions are committed, with their history, before
	// Decide returns them (and where replays find them). Without one,
	// Decide only decides: for tests of the decision itself.
	Log    store.DecisionLog
	Logger *slog.Logger
	Tracer trace.Tracer
	Meter  metric.Meter
	// Clock returns the server's time; time.Now if nil.
	Clock func() time.Time
	// EventRetention is how long the store keeps history. A policy whose
	// history_lookback is longer is refused: it would read history that
	// expiry has dropped and call a returning buyer a first-time one. Zero
	// skips the check (an engine without a store).
	EventRetention time.Duration
}

// Engine decides requests. It is safe for concurrent use; the policy can be
// swapped while requests are in flight and each request keeps the policy it
// started with.
type Engine struct {
	// state is the policy in force with the verifiers it uses; a request
	// loads it once and keeps it, so a reload never changes a decision
	// half-way.
	state     atomic.Pointer[state]
	loadedAt  atomic.Int64 // UnixNano of the last Install
	verifiers verifier.Registry
	reserve   time.Duration
	keys      *pseudonym.Keyer
	decisions store.DecisionLog
	log       *slog.Logger
	tracer    trace.Tracer
	metrics   *metrics
	clock     func() time.Time
	retention time.Duration
}

// New builds an Engine. Every verifier the policy names must be registered.
func New(o Options) (*Engine, error) {
	if o.Policy == nil {
		return nil, errors.New("engine: no policy")
	}
	if o.Reserve == 0 {
		o.Reserve = DefaultReserve
	}
	if o.Reserve < 0 {
		return nil, errors.New("engine: reserve must not be negative")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Tracer == nil {
		o.Tracer = tracenoop.NewTracerProvider().Tracer("riskd")
	}
	m, err := newMetrics(o.Meter)
	if err != nil {
		return nil, err
	}
	if o.Log != nil && o.Keys == nil {
		return nil, errors.New("engine: committing decisions needs the identifier keys")
	}
	e := &Engine{verifiers: o.Verifiers, reserve: o.Reserve, keys: o.Keys, decisions: o.Log, log: o.Logger, tracer: o.Tracer, metrics: m, clock: o.Clock, retention: o.EventRetention}
	if err := e.Install(o.Policy, o.Extra); err != nil {
		return nil, err
	}
	return e, nil
}

type state struct {
	policy    *policy.Policy
	verifiers verifier.Registry
}

// Install puts a new policy in force with extra verifiers (its remote
// ones) besides the engine's own, for the requests that start after it.
func (e *Engine) Install(p *policy.Policy, extra verifier.Registry) error {
	if p == nil {
		return errors.New("engine: no policy")
	}
	reg := make(verifier.Registry, len(e.verifiers)+len(extra))
	for n, v := range e.verifiers {
		reg[n] = v
	}
	for n, v := range extra {
		reg[n] = v
	}
	for _, c := range policy.Checks {
		check := c.Check
		cp := p.Check(check)
		if cp == nil {
			continue
		}
		for _, spec := range cp.Verifiers {
			if _, ok := reg[spec.Name]; !ok {
				return fmt.Errorf("policy %s names verifier %q, which is not registered", p.Version, spec.Name)
			}
		}
		if e.retention > 0 && cp.Lookback > e.retention {
			return fmt.Errorf("policy %s: %s reads %s of history (history_lookback), longer than the %s event retention: raise --event-retention to at least %[3]s, or shorten the look-back",
				p.Version, check, cp.Lookback, e.retention)
		}
	}
	e.state.Store(&state{policy: p, verifiers: reg})
	e.loadedAt.Store(time.Now().UnixNano())
	return nil
}

// Commits reports whether Decide commits its decisions (the engine has a
// Log).
func (e *Engine) Commits() bool { return e.decisions != nil }

// PolicyLoadedAt says when the policy in force was put in force.
func (e *Engine) PolicyLoadedAt() time.Time { return time.Unix(0, e.loadedAt.Load()) }

// Policy returns the policy in force.
func (e *Engine) Policy() *policy.Policy { return e.state.Load().policy }

// Decide answers one check on a validated request. With a Log, that is the
// whole of it: a replay of a request already decided gets the stored
// decision and changes nothing (other content under the same request ID is
// store.ErrRequestConflict); a new one is decided, and its decision,
// history and facts are durable before it is returned.
func (e *Engine) Decide(ctx context.Context, check riskv1.Check, requestID string, req proto.Message) (*riskv1.Decision, error) {
	if e.decisions == nil {
		d, err := e.DecideWithFacts(ctx, check, requestID, req)
		return d.Decision, err
	}
	hash, err := e.requestHash(check, req)
	if err != nil {
		return nil, err
	}
	switch d, stored, err := e.decisions.DecisionByRequest(ctx, check, requestID); {
	case err == nil && stored == hash:
		return d, nil
	case err == nil:
		return nil, store.ErrRequestConflict
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	decided, err := e.DecideWithFacts(ctx, check, requestID, req)
	if err != nil {
		return nil, err
	}
	d := decided.Decision
	factBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(decided.Facts)
	if err != nil {
		return nil, fmt.Errorf("facts: %w", err)
	}
	entry := *decided.Entry // derived: the engine has Keys
	if d.GetOutcome() == riskv1.Outcome_OUTCOME_DECLINE {
		// A declined order is an attempt, not spend: later decisions
		// count it as such.
		for i := range entry.Events {
			if entry.Events[i].Series == history.SeriesGiftCard {
				entry.Events[i].Ref = history.Declined(entry.Events[i].Ref)
			}
		}
	}
	// Two identical requests racing both get here; the store keeps the
	// first and hands it to both, so there is one decision and one count.
	// A decision that waits for a person opens its case in this same
	// commit, so no held order is lost to a crash between the two.
	stored, _, err := e.decisions.Commit(ctx, store.Commit{
		Decision: d, RequestHash: hash, Subjects: entry.Subjects, Events: entry.Events, Links: entry.Links, Facts: factBytes,
		Indexed: entry.Indexed, Case: decided.Case,
	})
	return stored, err
}

// requestHash identifies a request's content under the identifier key, so
// a replay is recognised without keeping the request. The encoding is
// deterministic for a given build; callers replay within minutes, not
// across upgrades.
func (e *Engine) requestHash(check riskv1.Check, req proto.Message) ([store.HashSize]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend([]byte{byte(check)}, req)
	if err != nil {
		return [store.HashSize]byte{}, fmt.Errorf("hash request: %w", err)
	}
	return e.keys.Content(b), nil
}

// Decided is a decision with what its commit needs.
type Decided struct {
	Decision *riskv1.Decision
	// Facts are what a later replay of a candidate policy needs: the
	// redacted request, what each verifier returned and which rules
	// fired.
	Facts *riskv1.DecisionFacts
	// Entry is what the request adds to history, derived once for the
	// verifiers and the commit; nil if the engine has no Keys.
	Entry *history.Entry
	// Case is the case the decision opens for a person, with the due time
	// and expiry action of the policy that decided; nil for most.
	Case *store.NewCase
}

// DecideWithFacts is Decide that also returns the facts and history entry
// the decision's commit stores.
func (e *Engine) DecideWithFacts(ctx context.Context, check riskv1.Check, requestID string, req proto.Message) (Decided, error) {
	start := time.Now()
	st := e.state.Load()
	pol := st.policy
	cp := pol.Check(check)
	if cp == nil {
		return Decided{}, fmt.Errorf("%w: %s", ErrNoCheck, check)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Decided{}, fmt.Errorf("decision id: %w", err)
	}
	now := e.clock()
	in := verifier.Input{Check: check, DecisionID: id.String(), Request: req, Now: now, Lookback: cp.Lookback}
	if e.keys != nil {
		// Normalising and keying every identifier is done once here, not
		// by each verifier that reads history and again for the commit.
		entry, err := history.Derive(e.keys, req, in.DecisionID, now)
		if err != nil {
			return Decided{}, err
		}
		in.Entry = &entry
	}

	runs, results := e.runVerifiers(ctx, st.verifiers, cp, in)
	if err := ctx.Err(); err != nil {
		// Nobody is waiting for this answer any more.
		return Decided{}, err
	}
	var locale string
	if l, ok := req.(interface{ GetLocale() string }); ok {
		locale = l.GetLocale()
	}
	verdict := cp.Evaluate(policy.Facts{Request: req, Now: now, Runs: runs, Locale: locale})
	for _, re := range verdict.RuleErrors {
		e.metrics.ruleErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("rule", re.Rule)))
		e.log.WarnContext(ctx, "policy rule could not be evaluated; decided by the check's on_rule_error",
			"rule", re.Rule, "check", check.String(), "policy_version", pol.Version, "error", re.Err)
	}

	// Each verifier's signals in wire form, built once: the decision
	// lists them merged, the facts per verifier, sharing the messages.
	runSignals := make([][]*riskv1.Signal, len(runs))
	for i, r := range runs {
		runSignals[i] = facts.Signals(r.Result.Signals)
	}
	span := trace.SpanFromContext(ctx)
	d := &riskv1.Decision{
		DecisionId:      id.String(),
		RequestId:       requestID,
		Check:           check,
		Outcome:         verdict.Outcome,
		Score:           int32(verdict.Score),
		Reasons:         verdict.Reasons,
		Actions:         verdict.Actions,
		VerifierResults: results,
		PolicyVersion:   pol.Version,
		DecidedAt:       timestamppb.New(now),
		Signals:         facts.Merge(runs, runSignals),
	}
	if sc := span.SpanContext(); sc.HasTraceID() {
		d.TraceId = sc.TraceID().String()
	}
	if span.IsRecording() {
		codes := make([]string, 0, len(d.Reasons))
		for _, r := range d.Reasons {
			codes = append(codes, r.Code)
		}
		// Only decision content, never request facts: attributes end up
		// in third-party tracing backends.
		span.SetAttributes(
			attribute.String("riskd.check", check.String()),
			attribute.String("riskd.decision_id", d.DecisionId),
			attribute.String("riskd.outcome", d.Outcome.String()),
			attribute.Int("riskd.score", verdict.Score),
			attribute.StringSlice("riskd.reason_codes", codes),
			attribute.String("riskd.policy_version", pol.Version),
		)
	}
	for _, f := range verdict.Fired {
		e.metrics.ruleHits.Add(ctx, 1, e.metrics.ruleHitAttrs(f.Name, check, d.Outcome, f.Shadow))
	}
	e.metrics.decisions.Add(ctx, 1, e.metrics.outcomeAttrs(check, d.Outcome))
	e.metrics.decisionTime.Record(ctx, time.Since(start).Seconds(), e.metrics.checkAttrs(check))
	c := cp.Case(d, now)
	if c != nil {
		c.Amount = amountOf(req)
	}
	return Decided{Decision: d, Facts: facts.Of(req, runs, runSignals, verdict.Fired), Entry: in.Entry, Case: c}, nil
}

// amountOf is what a case shows as its amount: a gift-card order's total,
// or the refund asked for; none for a seller.
func amountOf(req proto.Message) store.Amount {
	var m *riskv1.Money
	switch r := req.(type) {
	case *riskv1.ScoreGiftCardPurchaseRequest:
		m = r.GetTotal()
	case *riskv1.EvaluateRefundRequest:
		m = r.GetAmountRequested()
	}
	if m == nil {
		return store.Amount{}
	}
	return store.Amount{Minor: m.GetAmountMinor(), Currency: m.GetCurrency()}
}

// runVerifiers runs the check's verifiers concurrently and waits for each
// until it answers or its budget ends, whichever is first. A verifier that
// waits for others (policy key after) starts when they have finished, on
// a goroutine of its own, and its budget starts then.
func (e *Engine) runVerifiers(ctx context.Context, reg verifier.Registry, cp *policy.CheckPolicy, in verifier.Input) ([]policy.VerifierRun, []*riskv1.VerifierResult) {
	runs := make([]policy.VerifierRun, len(cp.Verifiers))
	results := make([]*riskv1.VerifierResult, len(cp.Verifiers))
	// done[i] is closed when verifier i has finished; only a check with
	// dependencies needs them, so the common one allocates nothing more.
	// (Declared once, never assigned again, so that the closures below
	// capture it by value: a variable they shared would be one more
	// allocation per decision.)
	done := doneChannels(cp)
	// The ones that can wait start first, each on its own goroutine, so
	// their waiting overlaps the inline ones' work.
	var wg sync.WaitGroup
	for i, spec := range cp.Verifiers {
		v := reg[spec.Name]
		switch deps := spec.Deps(); {
		case deps != nil:
			wg.Go(func() {
				defer close(done[i])
				for _, j := range deps {
					<-done[j] // every verifier finishes: inline, or at its budget
				}
				runs[i], results[i] = e.runDependent(ctx, v, cp, i, in, runs)
			})
		case !neverWaits(v):
			wg.Go(func() {
				runs[i], results[i] = e.runOne(ctx, v, spec, in)
				if done != nil {
					close(done[i])
				}
			})
		}
	}
	for i, spec := range cp.Verifiers {
		if v := reg[spec.Name]; spec.Deps() == nil && neverWaits(v) {
			runs[i], results[i] = e.runOne(ctx, v, spec, in)
			if done != nil {
				close(done[i])
			}
		}
	}
	wg.Wait()
	return runs, results
}

// doneChannels returns one channel per verifier of a check whose
// verifiers wait for one another, nil for any other check.
func doneChannels(cp *policy.CheckPolicy) []chan struct{} {
	if !cp.HasDependencies() {
		return nil
	}
	done := make([]chan struct{}, len(cp.Verifiers))
	for i := range done {
		done[i] = make(chan struct{})
	}
	return done
}

// runDependent runs verifier i of the check, whose dependencies have
// finished, unless its condition (policy key when) says to skip it.
func (e *Engine) runDependent(ctx context.Context, v verifier.Verifier, cp *policy.CheckPolicy, i int, in verifier.Input, runs []policy.VerifierRun) (policy.VerifierRun, *riskv1.VerifierResult) {
	spec := cp.Verifiers[i]
	run, err := cp.ShouldRun(i, in.Request, in.Now, runs)
	if err != nil {
		e.log.WarnContext(ctx, "verifier condition could not be evaluated; the verifier is called", "verifier", spec.Name, "error", err)
	}
	if !run {
		// Not called, so nothing failed: no failure mode applies and the
		// policy adds no reason; rules see "skipped" in verifiers.
		return policy.VerifierRun{Spec: spec, Status: policy.StatusSkipped}, &riskv1.VerifierResult{
			Name: spec.Name, Status: riskv1.VerifierStatus_VERIFIER_STATUS_SKIPPED, Duration: durationpb.New(0),
			Error: spec.SkipReason(),
		}
	}
	return e.runOne(ctx, v, spec, in)
}

func neverWaits(v verifier.Verifier) bool {
	_, ok := v.(verifier.NeverWaits)
	return ok
}

type answer struct {
	res verifier.Result
	err error
}

func (e *Engine) runOne(ctx context.Context, v verifier.Verifier, spec policy.VerifierSpec, in verifier.Input) (policy.VerifierRun, *riskv1.VerifierResult) {
	budget := spec.Budget
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl)-e.reserve)
	}
	// A span of its own only inside a trace that is kept: an unsampled
	// call would build one, with its attributes, only to drop it.
	var span trace.Span
	if trace.SpanFromContext(ctx).IsRecording() {
		ctx, span = e.tracer.Start(ctx, "verifier "+spec.Name, trace.WithAttributes(
			attribute.String("riskd.verifier", spec.Name),
			attribute.Int64("riskd.verifier.budget_ms", budget.Milliseconds()),
		))
		defer span.End()
	}

	run := policy.VerifierRun{Spec: spec}
	in.Settings = spec.Settings // this verifier's own, from the policy in force
	started := time.Now()
	var errText string
	switch {
	case budget <= 0:
		run.Status, errText = policy.StatusTimedOut, "no time left before the caller's deadline"
	case neverWaits(v):
		// Bounded work in memory: called right here, no goroutine,
		// timer or channel (see verifier.NeverWaits).
		a := e.call(ctx, v, spec, in)
		run.Status, errText = statusOf(a, ctx)
		if run.Status == policy.StatusOK {
			run.Result = a.res
		}
	default:
		vctx, cancel := context.WithTimeout(ctx, budget)
		defer cancel()
		// Buffered, so a verifier that answers after we stopped waiting
		// can still send and its goroutine ends.
		ch := make(chan answer, 1)
		go func() { ch <- e.call(vctx, v, spec, in) }()
		select {
		case a := <-ch:
			run.Status, errText = statusOf(a, vctx)
			if run.Status == policy.StatusOK {
				run.Result = a.res
			}
		case <-vctx.Done():
			run.Status, errText = policy.StatusTimedOut, fmt.Sprintf("no answer within %s", budget.Round(time.Millisecond))
		}
	}
	took := time.Since(started)

	status := facts.Status(run.Status)
	e.metrics.verifierTime.Record(ctx, took.Seconds(), e.metrics.verifierAttrs(spec.Name, run.Status))
	if span != nil {
		span.SetAttributes(attribute.String("riskd.verifier.status", string(run.Status)))
	}
	if run.Status != policy.StatusOK {
		if span != nil {
			span.SetStatus(codes.Error, string(run.Status))
		}
		e.metrics.verifierFailures.Add(ctx, 1, e.metrics.verifierAttrs(spec.Name, run.Status))
		e.log.WarnContext(ctx, "verifier did not answer", "verifier", spec.Name, "status", string(run.Status),
			"on_failure", spec.OnFailure.String(), "took_ms", took.Milliseconds(), "error", errText)
	}
	return run, &riskv1.VerifierResult{Name: spec.Name, Status: status, Duration: durationpb.New(took), Error: errText}
}

// call runs one verifier, turning a panic into its failure.
func (e *Engine) call(ctx context.Context, v verifier.Verifier, spec policy.VerifierSpec, in verifier.Input) (a answer) {
	defer func() {
		if p := recover(); p != nil {
			e.log.ErrorContext(ctx, "verifier panicked", "verifier", spec.Name, "panic", p, "stack", string(debug.Stack()))
			a = answer{err: errors.New("verifier panicked")}
		}
	}()
	res, err := v.Verify(ctx, in)
	return answer{res: res, err: err}
}

// statusOf classifies a verifier's answer under the context it ran with.
func statusOf(a answer, ctx context.Context) (policy.Status, string) {
	switch {
	case a.err == nil:
		return policy.StatusOK, ""
	// A verifier's own deadline error can come a hair before our context
	// reports it (gRPC's timer is not ours): both are the budget running
	// out.
	case errors.Is(a.err, context.DeadlineExceeded), errors.Is(ctx.Err(), context.DeadlineExceeded):
		return policy.StatusTimedOut, a.err.Error()
	default:
		return policy.StatusFailed, a.err.Error()
	}
}
