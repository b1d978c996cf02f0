package engine_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/riskd/riskd/internal/engine"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pebblestore"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// lifeRestart is one start of riskd on file and st: a reloader and its
// engine, and a lifecycle attached as riskd's run attaches it.
func lifeRestart(t *testing.T, file string, st store.Store) (*engine.Reloader, *engine.Engine, *engine.Lifecycle) {
	t.Helper()
	r, e := startReloader(t, file)
	life, err := engine.NewLifecycle(engine.LifecycleOptions{Store: st, Engine: e, Known: map[string]bool{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(life.Close)
	if err := life.Start(context.Background(), e.Policy()); err != nil {
		t.Fatal(err)
	}
	r.AttachLifecycle(life)
	return r, e, life
}

func docVersion(t *testing.T, doc string) string {
	t.Helper()
	p, err := policy.Load([]byte(doc), "t", map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Version
}

// The policy file and the API share one rule (issue 22, item 4): the file
// wins when its content changes, the API between changes; an API change
// while the file holds a change not taken yet is refused, and so is, at
// start, a changed file when the API changed the state since.
func TestPolicyFileAndAPIDoNotFight(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := pebblestore.Open(filepath.Join(dir, "data"), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a, b, c, d, e := reloadDoc(30), reloadDoc(40), reloadDoc(50), reloadDoc(60), reloadDoc(20)
	inForce := func(eng *engine.Engine, doc, when string) {
		t.Helper()
		if got, want := eng.Policy().Version, docVersion(t, doc); got != want {
			t.Fatalf("%s: %s in force, want %s", when, got, want)
		}
	}

	write(a)
	r, eng, life := lifeRestart(t, file, st)
	inForce(eng, a, "first start")
	if _, err := life.Publish(ctx, []byte(b), "ana", "raise"); err != nil {
		t.Fatal(err)
	}
	if _, err := life.Apply(ctx, engine.Change{Kind: engine.ChangePromote, Version: docVersion(t, b), By: "ana"}); err != nil {
		t.Fatal(err)
	}
	inForce(eng, b, "promoted through the API")
	r.Reload(ctx, "file changed")
	inForce(eng, b, "the watcher's tick with the file unchanged")

	write(c)
	if _, err := life.Apply(ctx, engine.Change{Kind: engine.ChangeRollback, By: "ana"}); !errors.Is(err, engine.ErrFilePending) {
		t.Fatalf("API change with a file change not taken: %v, want ErrFilePending", err)
	}
	inForce(eng, b, "after the refused API change")
	r.Reload(ctx, "file changed")
	inForce(eng, c, "the file's edit")
	if _, err := life.Apply(ctx, engine.Change{Kind: engine.ChangeRollback, By: "ana"}); err != nil {
		t.Fatal(err)
	}
	inForce(eng, b, "rolled back through the API (the version before the file's)")
	r.Reload(ctx, "file changed")
	inForce(eng, b, "the watcher after the rollback")

	// A restart with the same file: the rollback stands.
	_, eng, _ = lifeRestart(t, file, st)
	inForce(eng, b, "restart with the file unchanged")

	// A file changed while riskd was down, after an API change: which is
	// newer cannot be told, so the file is not loaded... until SIGHUP.
	write(d)
	r, eng, _ = lifeRestart(t, file, st)
	inForce(eng, b, "restart with a changed file after an API change")
	r.Reload(ctx, "SIGHUP")
	inForce(eng, d, "SIGHUP")

	// A file changed while riskd was down, nobody having changed the state
	// since the file last did: the edit is the newest, and goes in.
	write(e)
	_, eng, _ = lifeRestart(t, file, st)
	inForce(eng, e, "restart with a changed file, no API change since")

	changes, err := st.PolicyChanges(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range changes {
		got = append(got, ch.Action.String()+" "+ch.By)
	}
	want := []string{"activate file", "activate file", "rollback ana", "activate file", "promote ana", "activate file"}
	if len(got) != len(want) {
		t.Fatalf("history %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("history %q, want %q", got, want)
		}
	}
}

// Choosing the policy per request costs a hash of an ID already at hand
// and no allocation.
func TestCanaryChoiceAllocatesNothing(t *testing.T) {
	seed := engine.Seed("sha256:candidate")
	req := &riskv1.ScoreGiftCardPurchaseRequest{AccountId: "acct-81723"}
	var in bool
	if n := testing.AllocsPerRun(1000, func() { in = engine.InCanary(seed, 1000, engine.StickyID(req)) }); n != 0 {
		t.Fatalf("%v allocations per choice, want 0", n)
	}
	_ = in
}

func BenchmarkCanaryChoice(b *testing.B) {
	seed := engine.Seed("sha256:candidate")
	req := &riskv1.ScoreGiftCardPurchaseRequest{AccountId: "acct-81723"}
	n := 0
	for b.Loop() {
		if engine.InCanary(seed, 1000, engine.StickyID(req)) {
			n++
		}
	}
	_ = n
}
