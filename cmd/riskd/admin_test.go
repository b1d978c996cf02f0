package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pebblestore"
)

// TestDebugStoreCounters: /debug/store serves the store's group-commit
// counters as JSON (the benchmark reads its batch sizes from them).
func TestDebugStoreCounters(t *testing.T) {
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, err := st.Record(t.Context(), []store.Batch{{EventID: "e1", Links: []store.Link{{Subject: "account:1"}}}}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	addr, stop, err := serveAdmin(l.Addr().String(), http.NotFoundHandler(), false, st, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/debug/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var got store.CommitStats
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("/debug/store = %q: %v", body, err)
	}
	if want := (store.CommitStats{Groups: 1, Commits: 1}); got != want {
		t.Errorf("/debug/store = %+v, want %+v", got, want)
	}
}
