package pebblestore

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// The fixture testdata/bolt-v1/riskd.db.gz is a data directory written by
// the bbolt store riskd used before this one (schema 1), with the identifier
// key check "fixture key check": 20 gift-card decisions d-0000..d-0019, one
// event and one link each (the links all on one identifier), a chargeback
// reported on d-0003, and one RecordEvents batch "ev-1".
func boltFixture(t *testing.T) string {
	t.Helper()
	in, err := os.Open("testdata/bolt-v1/riskd.db.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, BoltFileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestImportsABoltDataDir: no user's history is lost when riskd moves from
// the bbolt store: the first open imports everything, keeps the old file
// renamed, and the key check travels with the data.
func TestImportsABoltDataDir(t *testing.T) {
	dir := boltFixture(t)
	if _, err := Open(dir, Options{KeyCheck: []byte("another key")}); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("import under another identifier key: %v, want ErrKeyMismatch", err)
	}
	// The refused open imported nothing: the file is still there.
	if _, err := os.Stat(filepath.Join(dir, BoltFileName)); err != nil {
		t.Fatalf("refused import moved the bbolt file: %v", err)
	}
	s, err := Open(dir, Options{KeyCheck: []byte("fixture key check")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, BoltFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("bbolt file still in place after the import: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, BoltFileName+".imported")); err != nil {
		t.Fatalf("bbolt file not kept as .imported: %v", err)
	}
	ctx := context.Background()
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range 20 {
		c := powerLossCommit(i, base)
		d, hash, err := s.DecisionByRequest(ctx, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, c.Decision.GetRequestId())
		if err != nil || d.GetDecisionId() != c.Decision.GetDecisionId() || hash != c.RequestHash {
			t.Fatalf("decision %d after import: %v, %v", i, d, err)
		}
		// A repeat of the imported request is recognised, not decided again.
		if _, fresh, err := s.Commit(ctx, c); err != nil || fresh {
			t.Fatalf("repeat of imported request %d: fresh %v, %v", i, fresh, err)
		}
		ev, err := s.Events(ctx, "giftcard", powerLossAccount(i), base, base.Add(time.Hour), 0)
		if err != nil || len(ev) != 1 || ev[0].Amount != 10000 {
			t.Fatalf("events of %d after import: %v, %v", i, ev, err)
		}
	}
	links, err := s.Linked(ctx, powerLossAccount(100), 0)
	if err != nil || len(links) != 20 || links[0].Subject != "seller:SA" {
		t.Fatalf("links after import: %v, %v", links, err)
	}
	marks, err := s.Marks(ctx, powerLossAccount(3))
	if err != nil || len(marks) != 1 || marks[0].Label != riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK {
		t.Fatalf("marks after import: %v, %v", marks, err)
	}
	if rec, dup, err := s.Record(ctx, []store.Batch{{EventID: "ev-1"}}); err != nil || rec != 0 || dup != 1 {
		t.Fatalf("imported batch not seen as a duplicate: %d %d %v", rec, dup, err)
	}
	// Expiry still reaches imported items through the imported indexes.
	n, err := s.Expire(ctx, base.Add(400*24*time.Hour), store.Retention{Events: time.Hour, Decisions: time.Hour}, 0)
	if err != nil || n == 0 {
		t.Fatalf("expire after import: %d, %v", n, err)
	}
	if _, err := s.Decision(ctx, "d-0000"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("imported decision not expired: %v", err)
	}
	// A second open does not import again.
	s.Close()
	again, err := Open(dir, Options{KeyCheck: []byte("fixture key check")})
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
}
