package engine

// The policy lifecycle: every version kept, a candidate tried on a share
// of traffic, one step back. The truth is the store's shared policy state
// (store.Policies); every replica follows it, polling every sync interval,
// and a change made through this replica is followed at once. A change is
// a compare-and-swap on the state's seq, so two people, or a person and a
// replica's guard rail, cannot both win.
//
// The policy file (or the embedded default, which stands for a file) and
// the API share one rule: the file wins when its content changes, the API
// wins between changes. A new file content is put in force on every
// replica; canary, promotion and rollback through the API never touch the
// file, and the watcher does not undo them, since it acts only on a
// change. Two cases are ambiguous and refused: an API change while the
// watcher holds a file change it has not taken yet (ErrFilePending), and,
// at start, a file that changed while the API had since changed the state
// (the file is not loaded; SIGHUP loads it).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/remote"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Policy lifecycle errors, mapped to status codes by the server.
var (
	// ErrFilePending: the policy file changed on disk and the watcher has
	// not taken the change yet; an API change now would race with it.
	ErrFilePending = errors.New("the policy file changed on disk and is not taken yet")
	// ErrNoCanary: there is no candidate to promote.
	ErrNoCanary = errors.New("no canary is running")
	// ErrAlreadyInForce: the version named is the one in force.
	ErrAlreadyInForce = errors.New("that version is the one in force")
	// ErrNoEarlierVersion: no version was in force before this one.
	ErrNoEarlierVersion = errors.New("no earlier version was in force")
)

// FileBy is who a policy file's changes are by.
const FileBy = "file"

// Guard bounds a canary: when its decline or review rate differs from the
// version in force's by more than MaxShift (a fraction: 0.05 is 5
// points), both having made at least MinDecisions decisions since the
// canary started on this replica, the canary is stopped.
type Guard struct {
	MinDecisions int64
	MaxShift     float64
}

// LifecycleOptions configure a Lifecycle.
type LifecycleOptions struct {
	Store  store.Policies
	Engine *Engine
	// Known are the verifiers a policy may name besides its own remote
	// ones.
	Known  map[string]bool
	Remote remote.Options
	Guard  Guard
	Logger *slog.Logger
	Meter  metric.Meter
	Clock  func() time.Time
}

// Lifecycle keeps an engine on the shared policy state and changes it.
type Lifecycle struct {
	o        LifecycleOptions
	stopped  metric.Int64Counter
	canaries metric.Int64Gauge
	loaded   metric.Int64Gauge

	mu sync.Mutex // one sync or change at a time in this process
	// cmu guards compiled alone, so that publishing (a compile, slow for a
	// large policy) waits for no change and no change waits for it.
	cmu      sync.Mutex
	compiled map[string]*compiled
	// pending reports whether the policy file has a change the watcher
	// has not taken; nil without a file.
	pending func() bool
}

type compiled struct {
	inst    Installed
	remotes []*remote.Verifier
}

// NewLifecycle prepares a Lifecycle; Start puts the shared state in force.
func NewLifecycle(o LifecycleOptions) (*Lifecycle, error) {
	if o.Store == nil || o.Engine == nil {
		return nil, errors.New("lifecycle: a store and an engine are needed")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Meter == nil {
		o.Meter = noop.NewMeterProvider().Meter("riskd")
	}
	l := &Lifecycle{o: o, compiled: map[string]*compiled{}}
	var err error
	if l.stopped, err = o.Meter.Int64Counter("riskd.policy.canary_stopped",
		metric.WithDescription("Canaries stopped by a guard rail.")); err != nil {
		return nil, err
	}
	// The reloader's instrument too (same name, scope and description):
	// a version put in force through the API is in force as much as one
	// from the file.
	if l.loaded, err = o.Meter.Int64Gauge("riskd.policy.loaded",
		metric.WithDescription("Unix time the policy in force was loaded, by version.")); err != nil {
		return nil, err
	}
	if l.canaries, err = o.Meter.Int64Gauge("riskd.policy.canary_percent",
		metric.WithDescription("Share of customers the candidate decides for, in percent, by candidate version (0: stopped).")); err != nil {
		return nil, err
	}
	return l, nil
}

// WatchFile tells the lifecycle how to learn that the policy file has a
// change not taken yet.
func (l *Lifecycle) WatchFile(pending func() bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = pending
}

// compile loads a document and dials its remote verifiers, once per
// version.
func (l *Lifecycle) compile(doc []byte, source string) (*compiled, error) {
	pol, err := policy.Load(doc, source, l.o.Known)
	if err != nil {
		return nil, err
	}
	if c := l.cached(pol.Version); c != nil {
		return c, nil
	}
	c := &compiled{inst: Installed{Policy: pol, Extra: verifier.Registry{}}}
	for _, spec := range pol.Remotes {
		rv, err := remote.Dial(spec, l.o.Remote)
		if err != nil {
			closeAll(c.remotes)
			return nil, err
		}
		c.remotes = append(c.remotes, rv)
		c.inst.Extra[spec.Name] = rv
	}
	// The engine's own checks (verifiers registered, look-back inside the
	// retention), so a version that cannot decide is refused up front.
	if _, err := l.o.Engine.prepare(pol, c.inst.Extra); err != nil {
		closeAll(c.remotes)
		return nil, &policy.Error{Source: source, Err: err}
	}
	l.cmu.Lock()
	defer l.cmu.Unlock()
	if prev, ok := l.compiled[pol.Version]; ok {
		closeAll(c.remotes) // compiled twice at once: keep the first
		return prev, nil
	}
	l.compiled[pol.Version] = c
	return c, nil
}

func (l *Lifecycle) cached(v string) *compiled {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	return l.compiled[v]
}

// version returns a kept version compiled.
func (l *Lifecycle) version(ctx context.Context, v string) (*compiled, error) {
	if c := l.cached(v); c != nil {
		return c, nil
	}
	pv, err := l.o.Store.PolicyVersion(ctx, v)
	if err != nil {
		return nil, err
	}
	return l.compile(pv.Document, pv.Source)
}

// Start keeps the policy riskd started with (its file's, or the embedded
// default) and puts the shared state in force: the file's version when
// the store has no state yet or the file changed since it last put a
// version in force, else the state as it stands (a rollback survives a
// restart).
func (l *Lifecycle) Start(ctx context.Context, first *policy.Policy) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.keep(ctx, first.Document(), first.Source, FileBy, "policy file "+first.Source); err != nil {
		return err
	}
	// Replicas starting together race for the first state: the loser
	// decides again on the winner's.
	for range 3 {
		err := l.start(ctx, first)
		if !errors.Is(err, store.ErrPolicyRaced) {
			return err
		}
	}
	return store.ErrPolicyRaced
}

func (l *Lifecycle) start(ctx context.Context, first *policy.Policy) error {
	st, err := l.o.Store.PolicyState(ctx)
	if err != nil {
		return err
	}
	v := first.Version
	switch {
	case st.Seq == 0:
		_, err = l.activate(ctx, st, v, "first start")
	case st.FileVersion == v:
		// The same file as when it last put a version in force: the state
		// stands, whatever the API did since.
	default:
		var last []store.PolicyChange
		if last, err = l.o.Store.PolicyChanges(ctx, 1); err != nil {
			return err
		}
		if len(last) == 1 && last[0].Action == store.PolicyActivate && last[0].By == FileBy && st.Candidate == "" {
			// Changed while riskd was down, and nobody changed the state
			// since the file last did: the file's edit is the newest.
			_, err = l.activate(ctx, st, v, "policy file changed while stopped")
			break
		}
		// The file changed, and so did the state through the API: which
		// is newer cannot be told. The state stands; SIGHUP loads the file.
		l.o.Logger.ErrorContext(ctx, "policy file differs from the version its last load put in force, and the API changed the policy since: the file is not loaded; send SIGHUP to put it in force, or use the API",
			"policy_source", first.Source, "file_version", v, "policy_version", st.Active, "last_file_version", st.FileVersion)
	}
	if err != nil {
		return err
	}
	return l.syncLocked(ctx)
}

// keep stores a document under its version.
func (l *Lifecycle) keep(ctx context.Context, doc []byte, source, by, msg string) (store.PolicyVersion, error) {
	c, err := l.compile(doc, source)
	if err != nil {
		return store.PolicyVersion{}, err
	}
	return l.o.Store.KeepPolicy(ctx, store.PolicyVersion{Version: c.inst.Policy.Version, Document: doc, Source: source,
		At: l.o.Clock().UTC(), By: by, Message: msg})
}

// activate puts a file's version in force, stopping any canary.
func (l *Lifecycle) activate(ctx context.Context, st store.PolicyState, v, msg string) (store.PolicyState, error) {
	return l.o.Store.ChangePolicyState(ctx, st.Seq, store.PolicyState{Active: v, FileVersion: v},
		store.PolicyChange{At: l.o.Clock().UTC(), By: FileBy, Action: store.PolicyActivate, Version: v, Message: msg})
}

// FileChanged puts a policy file's new content in force on every replica,
// unless it is the version the file already put in force (another
// replica, or this one before a restart, did it) and force is false.
// force is SIGHUP: the operator says "this file".
func (l *Lifecycle) FileChanged(ctx context.Context, doc []byte, source string, force bool) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept, err := l.keep(ctx, doc, source, FileBy, "policy file "+source)
	if err != nil {
		return "", err
	}
	for range 3 {
		st, err := l.o.Store.PolicyState(ctx)
		if err != nil {
			return "", err
		}
		if st.FileVersion == kept.Version && (!force || st.Active == kept.Version && st.Candidate == "") {
			return kept.Version, l.syncLocked(ctx)
		}
		_, err = l.activate(ctx, st, kept.Version, "policy file "+source)
		if errors.Is(err, store.ErrPolicyRaced) {
			continue
		}
		if err != nil {
			return "", err
		}
		return kept.Version, l.syncLocked(ctx)
	}
	return "", store.ErrPolicyRaced
}

// Sync puts the shared state in force on this replica if it changed.
func (l *Lifecycle) Sync(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncLocked(ctx)
}

func (l *Lifecycle) syncLocked(ctx context.Context) error {
	st, err := l.o.Store.PolicyState(ctx)
	if err != nil {
		return err
	}
	if st.Seq == 0 || st.Seq == l.o.Engine.StateSeq() {
		return nil
	}
	active, err := l.version(ctx, st.Active)
	if err != nil {
		return fmt.Errorf("policy %s in force: %w", st.Active, err)
	}
	var cand Installed
	if st.Candidate != "" {
		c, err := l.version(ctx, st.Candidate)
		if err != nil {
			return fmt.Errorf("candidate %s: %w", st.Candidate, err)
		}
		cand = c.inst
	}
	before := l.o.Engine.Canary().Policy
	if err := l.o.Engine.InstallState(st.Seq, active.inst, cand, st.Percent); err != nil {
		return err
	}
	if before != nil && before.Version != st.Candidate {
		l.canaries.Record(ctx, 0, metric.WithAttributes(versionAttr(before.Version)))
	}
	if st.Candidate != "" {
		l.canaries.Record(ctx, int64(st.Percent), metric.WithAttributes(versionAttr(st.Candidate)))
	}
	l.loaded.Record(ctx, time.Now().Unix(), metric.WithAttributes(versionAttr(st.Active)))
	l.o.Logger.InfoContext(ctx, "policy state in force", "policy_version", st.Active, "canary_version", st.Candidate,
		"canary_percent", st.Percent, "state_seq", st.Seq)
	// Versions no longer deciding close their remote verifiers once the
	// requests still using them have finished.
	l.cmu.Lock()
	defer l.cmu.Unlock()
	for v, c := range l.compiled {
		if v != st.Active && v != st.Candidate {
			delete(l.compiled, v)
			if len(c.remotes) > 0 {
				old := c.remotes
				time.AfterFunc(remoteDrain, func() { closeAll(old) })
			}
		}
	}
	return nil
}

// Run follows the shared state and applies the guard rails every tick,
// until ctx ends.
func (l *Lifecycle) Run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := l.Sync(ctx)
		if err == nil {
			err = l.guard(ctx)
		}
		// One line per distinct problem, not one a tick.
		switch {
		case err != nil && err.Error() != lastErr && ctx.Err() == nil:
			l.o.Logger.ErrorContext(ctx, "policy state not followed; the versions in force keep deciding", "error", err)
			lastErr = err.Error()
		case err == nil:
			lastErr = ""
		}
	}
}

// guard stops the canary when its rates moved too far.
func (l *Lifecycle) guard(ctx context.Context) error {
	g := l.o.Guard
	c := l.o.Engine.Canary()
	if c.Policy == nil || g.MaxShift <= 0 || c.Candidate.Decisions < g.MinDecisions || c.Active.Decisions < g.MinDecisions {
		return nil
	}
	ar, ad := c.Active.Rates()
	cr, cd := c.Candidate.Rates()
	var what string
	switch {
	case abs(cd-ad) > g.MaxShift:
		what = fmt.Sprintf("decline rate %.1f%% against %.1f%% in force", 100*cd, 100*ad)
	case abs(cr-ar) > g.MaxShift:
		what = fmt.Sprintf("review rate %.1f%% against %.1f%% in force", 100*cr, 100*ar)
	default:
		return nil
	}
	msg := fmt.Sprintf("%s over %d and %d decisions; the bound is %.1f points", what, c.Candidate.Decisions, c.Active.Decisions, 100*g.MaxShift)
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.o.Store.PolicyState(ctx)
	if err != nil {
		return err
	}
	if st.Seq != l.o.Engine.StateSeq() || st.Candidate != c.Policy.Version {
		return nil // the state moved on meanwhile: these counts judge nothing now
	}
	_, err = l.o.Store.ChangePolicyState(ctx, st.Seq, store.PolicyState{Active: st.Active, FileVersion: st.FileVersion},
		store.PolicyChange{At: l.o.Clock().UTC(), By: "guard", Action: store.PolicyGuardStop, Version: st.Candidate, Message: msg})
	if errors.Is(err, store.ErrPolicyRaced) {
		return nil // someone else changed it first: the next tick follows
	}
	if err != nil {
		return err
	}
	l.stopped.Add(ctx, 1, metric.WithAttributes(versionAttr(st.Candidate)))
	l.o.Logger.WarnContext(ctx, "canary stopped by a guard rail", "canary_version", st.Candidate, "policy_version", st.Active, "why", msg)
	return l.syncLocked(ctx)
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// Publish checks a document as riskd would put it in force and keeps it
// as a candidate; nothing decides with it yet. A bad one is a
// *policy.Error naming its line.
func (l *Lifecycle) Publish(ctx context.Context, doc []byte, by, msg string) (store.PolicyVersion, error) {
	// Not under mu: keeping a version changes no state.
	return l.keep(ctx, doc, "api", by, msg)
}

// ChangeKind is one of the API's changes to the state.
type ChangeKind int

// The API's changes.
const (
	ChangeCanary ChangeKind = iota + 1
	ChangeStop
	ChangePromote
	ChangeRollback
)

// Change is one change asked through the API.
type Change struct {
	Kind    ChangeKind
	Version string // the version it is about; see each kind's default
	Percent int    // a canary's share
	By      string
	Message string
}

// Apply makes a change to the shared state and puts it in force on this
// replica at once (the others follow within their sync interval).
func (l *Lifecycle) Apply(ctx context.Context, ch Change) (store.PolicyState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending != nil && l.pending() {
		return store.PolicyState{}, ErrFilePending
	}
	for range 3 {
		st, err := l.o.Store.PolicyState(ctx)
		if err != nil {
			return store.PolicyState{}, err
		}
		if ch.Kind == ChangeStop && st.Candidate == "" {
			// Stopping is "no canary, please": already so, nothing to
			// write, and a second click or a retry is not an error.
			return st, l.syncLocked(ctx)
		}
		next, entry, err := l.plan(ctx, st, ch)
		if err != nil {
			return store.PolicyState{}, err
		}
		entry.At, entry.By, entry.Message = l.o.Clock().UTC(), ch.By, ch.Message
		out, err := l.o.Store.ChangePolicyState(ctx, st.Seq, next, entry)
		if errors.Is(err, store.ErrPolicyRaced) {
			continue // decide again on the state that won
		}
		if err != nil {
			return store.PolicyState{}, err
		}
		l.o.Logger.InfoContext(ctx, "policy state changed", "action", entry.Action.String(), "version", entry.Version,
			"percent", entry.Percent, "by", ch.By, "message", ch.Message, "state_seq", out.Seq)
		return out, l.syncLocked(ctx)
	}
	return store.PolicyState{}, store.ErrPolicyRaced
}

// plan computes a change's next state and history entry from st.
func (l *Lifecycle) plan(ctx context.Context, st store.PolicyState, ch Change) (store.PolicyState, store.PolicyChange, error) {
	next := store.PolicyState{Active: st.Active, FileVersion: st.FileVersion}
	var entry store.PolicyChange
	v := ch.Version
	switch ch.Kind {
	case ChangeCanary:
		if v == st.Active {
			return next, entry, ErrAlreadyInForce
		}
		if ch.Percent < 1 || ch.Percent > 99 {
			return next, entry, errors.New("a canary's share must be 1 to 99 percent")
		}
		next.Candidate, next.Percent = v, ch.Percent
		entry = store.PolicyChange{Action: store.PolicyCanary, Version: v, Percent: ch.Percent}
	case ChangeStop:
		if st.Candidate == "" {
			return next, entry, ErrNoCanary
		}
		entry = store.PolicyChange{Action: store.PolicyStop, Version: st.Candidate}
	case ChangePromote:
		if v == "" {
			if v = st.Candidate; v == "" {
				return next, entry, ErrNoCanary
			}
		}
		if v == st.Active && st.Candidate == "" {
			return next, entry, ErrAlreadyInForce
		}
		next.Active = v
		entry = store.PolicyChange{Action: store.PolicyPromote, Version: v}
	case ChangeRollback:
		if v == "" {
			prev, err := l.previous(ctx, st.Active)
			if err != nil {
				return next, entry, err
			}
			v = prev
		}
		if v == st.Active && st.Candidate == "" {
			return next, entry, ErrAlreadyInForce
		}
		next.Active = v
		entry = store.PolicyChange{Action: store.PolicyRollback, Version: v}
	default:
		return next, entry, fmt.Errorf("unknown change %d", ch.Kind)
	}
	// Every version the next state names must decide here, or it is
	// refused now rather than on every replica's next sync.
	for _, want := range []string{next.Active, next.Candidate} {
		if want == "" {
			continue
		}
		if _, err := l.version(ctx, want); err != nil {
			return next, entry, err
		}
	}
	return next, entry, nil
}

// previous is the version in force before active: the newest version put
// in force by an earlier change that is not active itself.
func (l *Lifecycle) previous(ctx context.Context, active string) (string, error) {
	changes, err := l.o.Store.PolicyChanges(ctx, 0)
	if err != nil {
		return "", err
	}
	for _, c := range changes {
		switch c.Action {
		case store.PolicyActivate, store.PolicyPromote, store.PolicyRollback:
			if c.Version != active {
				return c.Version, nil
			}
		}
	}
	return "", ErrNoEarlierVersion
}

// Close closes the remote verifiers of every version compiled.
func (l *Lifecycle) Close() {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	for v, c := range l.compiled {
		closeAll(c.remotes)
		delete(l.compiled, v)
	}
}

func versionAttr(v string) attribute.KeyValue { return attribute.String("version", v) }
