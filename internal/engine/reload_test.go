package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/remote"
	"go.opentelemetry.io/otel/metric/noop"
)

// reloadDoc is a whole policy whose refund check reviews at review: each
// value is a version of its own.
func reloadDoc(review int) string {
	return fmt.Sprintf(`checks:
  seller:
    thresholds: {review: 30, decline: 70}
  gift_card_purchase:
    thresholds: {review: 30, decline: 70}
  refund:
    thresholds: {review: %d, decline: 70}
`, review)
}

// startReloader starts a Reloader of file with an engine attached, as
// riskd's run does.
func startReloader(t *testing.T, file string) (*engine.Reloader, *engine.Engine) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := engine.NewReloader(file, map[string]bool{}, remote.Options{}, noop.NewMeterProvider().Meter(""), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	pol, extra, err := r.First()
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, engine.Options{Policy: pol, Verifiers: verifier.Registry{}, Extra: extra, Logger: log})
	r.Attach(e)
	return r, e
}

// Guards (issue 17, item 2): the reloader riskd runs, unit-tested next to
// the engine. A good file goes in force, a broken one is refused and the
// old version keeps deciding, the same broken file is not tried again, a
// fixed one goes in, and a vanished file changes nothing.
func TestReloaderKeepsTheLastGoodPolicy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(reloadDoc(30))
	r, e := startReloader(t, file)
	ctx := context.Background()
	version := func() string { return e.Policy().Version }

	first := version()
	write(reloadDoc(31))
	r.Reload(ctx, "test")
	good := version()
	if good == first {
		t.Fatal("a good new file was not put in force")
	}
	write("checks:\n  seller: {thresholds: {review: 30, decline: 70}}\n") // two checks missing
	r.Reload(ctx, "test")
	if version() != good {
		t.Fatal("a broken file replaced the policy in force")
	}
	r.Reload(ctx, "test")
	if version() != good {
		t.Fatal("the same broken file, tried again, replaced the policy in force")
	}
	write(reloadDoc(32))
	r.Reload(ctx, "test")
	if fixed := version(); fixed == good || fixed == first {
		t.Fatal("the fixed file was not put in force")
	}
	fixed := version()
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	r.Reload(ctx, "test")
	if version() != fixed {
		t.Fatal("a vanished file changed the policy in force")
	}
}

// Guards: without a file the reloader serves the embedded default.
func TestReloaderDefault(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := engine.NewReloader("", map[string]bool{"identity": true, "license": true, "contact": true, "links": true, "lists": true,
		"velocity": true, "spending": true, "returns": true}, remote.Options{}, noop.NewMeterProvider().Meter(""), log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pol, _, err := r.First()
	if err != nil || pol.Source != policy.DefaultSource {
		t.Fatalf("First without a file: %v, %v; want the embedded default", pol, err)
	}
}

// Guards: a file replaced after First but before Watch starts (riskd
// coming up while a deploy writes the policy) is put in force on Watch's
// first tick, not missed until the file changes again.
func TestReloaderWatchSeesAChangeBeforeItStarted(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(reloadDoc(30)), 0o600); err != nil {
		t.Fatal(err)
	}
	r, e := startReloader(t, file)
	first := e.Policy().Version
	if err := os.WriteFile(file, []byte(reloadDoc(33)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Watch(ctx, 10*time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); e.Policy().Version == first; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the file written before Watch started was never put in force")
		}
	}
}
