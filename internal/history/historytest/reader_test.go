package historytest_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/history/historytest"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pebblestore"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Guards: the fake's Linked and Marks answer what the embedded store
// answers for the same links and marks (first link per subject, oldest
// first; marks oldest first), so verifier tests on it test what runs.
func TestReaderMatchesTheEmbeddedStore(t *testing.T) {
	ctx := context.Background()
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{KeyCheck: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fake := &historytest.Reader{}
	r := rand.New(rand.NewPCG(7, 11))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]store.Identifier, 4)
	for i := range ids {
		ids[i] = store.Identifier{Kind: store.KindDevice, Hash: sha256.Sum256(fmt.Appendf(nil, "dev-%d", i))}
	}
	for i := range 60 {
		id := ids[r.IntN(len(ids))]
		at := base.Add(time.Duration(r.IntN(10_000)) * time.Minute)
		b := store.Batch{EventID: fmt.Sprintf("e-%d", i)}
		if r.IntN(2) == 0 {
			b.Links = []store.Link{{ID: id, Subject: fmt.Sprintf("seller:S%d", r.IntN(5)), At: at}}
			fake.AddLinks(b.Links...)
		} else {
			b.Marks = []store.IdentifierMark{{ID: id, Mark: store.Mark{
				Label: riskv1.OutcomeLabel(1 + r.IntN(5)), DecisionID: fmt.Sprintf("d-%d", i), At: at}}}
			fake.AddMarks(b.Marks...)
		}
		if _, _, err := st.Record(ctx, []store.Batch{b}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		want, err := st.Linked(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := fake.Linked(ctx, id, 0)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Linked:\n fake  %v\n store %v", got, want)
		}
		wm, err := st.Marks(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		gm, _ := fake.Marks(ctx, id)
		if fmt.Sprint(gm) != fmt.Sprint(wm) {
			t.Errorf("Marks:\n fake  %v\n store %v", gm, wm)
		}
	}
}
