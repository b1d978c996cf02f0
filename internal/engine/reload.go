package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/remote"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// remoteDrain is how long a replaced policy's remote verifiers stay open
// for the requests still using them: longer than any verifier budget.
const remoteDrain = 15 * time.Second

// Reloader keeps the policy in force: it loads the file (or the embedded
// default), dials the policy's remote verifiers, and on a change to the
// file or SIGHUP puts a new version in force in its engine atomically. A
// bad file is refused with its problems logged, and the old version keeps
// deciding.
type Reloader struct {
	path    string
	known   map[string]bool
	remote  remote.Options
	log     *slog.Logger
	engine  *Engine
	loaded  metric.Int64Gauge
	refused metric.Int64Counter

	mu      sync.Mutex
	doc     []byte
	remotes []*remote.Verifier
	// life, once attached, takes every new file content: it keeps it and
	// puts it in force on every replica through the shared state.
	life *Lifecycle
	// seen is the file content last taken or refused, read by Pending
	// without mu (the lifecycle asks while a reload may wait on it).
	seen atomic.Pointer[[]byte]
}

// NewReloader prepares a Reloader of the policy file at path (the embedded
// default when path is empty) whose rules may name the known verifiers.
func NewReloader(path string, known map[string]bool, ro remote.Options, meter metric.Meter, log *slog.Logger) (*Reloader, error) {
	p := &Reloader{path: path, known: known, remote: ro, log: log}
	var err error
	if p.loaded, err = meter.Int64Gauge("riskd.policy.loaded",
		metric.WithDescription("Unix time the policy in force was loaded, by version.")); err != nil {
		return nil, err
	}
	if p.refused, err = meter.Int64Counter("riskd.policy.reload_refused",
		metric.WithDescription("Policy files refused on reload; the old version stayed in force.")); err != nil {
		return nil, err
	}
	return p, nil
}

// load reads and compiles the policy and dials its remote verifiers.
func (p *Reloader) load() (*policy.Policy, []byte, verifier.Registry, []*remote.Verifier, error) {
	doc, source := policy.DefaultBytes(), policy.DefaultSource
	if p.path != "" {
		b, err := os.ReadFile(p.path)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("policy: %w", err)
		}
		doc, source = b, p.path
	}
	pol, err := policy.Load(doc, source, p.known)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	reg := verifier.Registry{}
	var dialed []*remote.Verifier
	for _, spec := range pol.Remotes {
		rv, err := remote.Dial(spec, p.remote)
		if err != nil {
			closeAll(dialed)
			return nil, nil, nil, nil, err
		}
		dialed = append(dialed, rv)
		reg[spec.Name] = rv
	}
	return pol, doc, reg, dialed, nil
}

// First loads the policy riskd starts with, and its remote verifiers, for
// engine.New.
func (p *Reloader) First() (*policy.Policy, verifier.Registry, error) {
	pol, doc, reg, dialed, err := p.load()
	if err != nil {
		return nil, nil, err
	}
	p.doc, p.remotes = doc, dialed
	p.announce(pol, "start")
	return pol, reg, nil
}

// Attach names the engine later reloads put policies in force in: the one
// built with First's policy.
func (p *Reloader) Attach(e *Engine) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.engine = e
}

// AttachLifecycle hands later reloads to the policy lifecycle: a new
// file content is kept and put in force on every replica, and the API's
// changes are refused while the file holds a change not taken yet.
func (p *Reloader) AttachLifecycle(l *Lifecycle) {
	p.mu.Lock()
	p.life = l
	doc := p.doc
	p.seen.Store(&doc)
	p.mu.Unlock()
	l.WatchFile(p.Pending)
}

// Pending reports whether the policy file holds content that the watcher
// has neither taken nor refused yet.
func (p *Reloader) Pending() bool {
	if p.path == "" {
		return false
	}
	b, err := os.ReadFile(p.path)
	if err != nil {
		return false // nothing to take
	}
	seen := p.seen.Load()
	return seen == nil || !bytes.Equal(b, *seen)
}

// reloadThroughLifecycle is Reload with a lifecycle: the file's new
// content (or, with force, its content even unchanged) goes in force on
// every replica; a bad one is refused as before.
func (p *Reloader) reloadThroughLifecycle(ctx context.Context, why string, force bool) {
	b, err := os.ReadFile(p.path)
	if err == nil && !force && bytes.Equal(b, p.doc) {
		return // unchanged
	}
	var version string
	if err == nil {
		_, err = policy.Load(b, p.path, p.known)
		if err == nil {
			version, err = p.life.FileChanged(ctx, b, p.path, force)
		}
	}
	if err != nil {
		p.refused.Add(ctx, 1)
		p.log.ErrorContext(ctx, "policy refused; the old version stays in force",
			"source", p.path, "trigger", why, "problem", err.Error(), "policy_version", p.engine.Policy().Version)
		var pe *policy.Error
		if errors.As(err, &pe) {
			// The same bad file is not logged again every tick; any
			// change to it is tried. Other failures (the store) are
			// tried again on the next tick.
			p.doc = b
			p.seen.Store(&b)
		}
		return
	}
	p.doc = b
	p.seen.Store(&b)
	p.loaded.Record(ctx, time.Now().Unix(), metric.WithAttributes(attribute.String("version", version)))
	p.log.InfoContext(ctx, "policy in force", "policy_version", version, "policy_source", p.path, "trigger", why)
}

// Reload puts the file's current content in force if it changed and is
// good; otherwise the old policy stays. why is logged as the trigger.
func (p *Reloader) Reload(ctx context.Context, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.life != nil {
		if p.path != "" {
			p.reloadThroughLifecycle(ctx, why, why == "SIGHUP")
		}
		return
	}
	if p.path != "" {
		if b, err := os.ReadFile(p.path); err == nil && bytes.Equal(b, p.doc) {
			return // unchanged
		}
	}
	pol, doc, reg, dialed, err := p.load()
	if err == nil {
		err = p.engine.Install(pol, reg)
		if err != nil {
			closeAll(dialed)
		}
	}
	if err != nil {
		p.refused.Add(ctx, 1)
		p.log.ErrorContext(ctx, "policy refused; the old version stays in force",
			"source", p.path, "trigger", why, "problem", err.Error(), "policy_version", p.engine.Policy().Version)
		// Remember the refused content, so the same bad file is not logged
		// again every tick; any change to it is tried.
		p.doc, _ = os.ReadFile(p.path)
		return
	}
	old := p.remotes
	p.doc, p.remotes = doc, dialed
	// Requests already running keep the old verifiers until they finish.
	time.AfterFunc(remoteDrain, func() { closeAll(old) })
	p.announce(pol, why)
}

func (p *Reloader) announce(pol *policy.Policy, why string) {
	p.loaded.Record(context.Background(), time.Now().Unix(), metric.WithAttributes(attribute.String("version", pol.Version)))
	p.log.Info("policy in force", "policy_version", pol.Version, "policy_source", pol.Source, "trigger", why,
		"remote_verifiers", len(pol.Remotes))
}

// Watch reloads on SIGHUP and when the file changes, until ctx ends. It
// polls the file's size and time: no watcher library, and it works the
// same on every file system, including ones that replace the file.
func (p *Reloader) Watch(ctx context.Context, every time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(every)
	defer tick.Stop()
	stamp := func() string {
		st, err := os.Stat(p.path)
		if err != nil {
			return "missing"
		}
		return fmt.Sprint(st.Size(), st.ModTime().UnixNano())
	}
	// The first tick always compares the file with what First loaded: a
	// file replaced between First and this goroutine's start (a deploy
	// writing it as riskd comes up) must not be missed until it changes
	// again. Reload does nothing when the content is the same.
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			p.Reload(ctx, "SIGHUP")
		case <-tick.C:
			if s := stamp(); s != last {
				last = s
				p.Reload(ctx, "file changed")
			}
		}
	}
}

// Close closes the remote verifiers of the policy in force.
func (p *Reloader) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	closeAll(p.remotes)
	p.remotes = nil
}

func closeAll(vs []*remote.Verifier) {
	for _, v := range vs {
		_ = v.Close()
	}
}
