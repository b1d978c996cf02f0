package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
)

// policyTests hold a backend to store.Policies: versions kept by content
// hash, first keeper wins; the state changed only by the one who read it
// last; the history in order.
var policyTests = []test{
	{"a version is kept once, by its first keeper", testKeepPolicy},
	{"versions list the newest first", testPolicyVersions},
	{"the state changes only from the state read", testPolicyStateSwap},
	{"of racing changers exactly one wins", testPolicyStateRace},
}

func policyDoc(n int) (version string, doc []byte) {
	doc = fmt.Appendf(nil, "version: 1\n# policy %d\n", n)
	sum := sha256.Sum256(doc)
	return "sha256:" + hex.EncodeToString(sum[:]), doc
}

func keepPolicyN(t *testing.T, s store.Store, n int) store.PolicyVersion {
	t.Helper()
	v, doc := policyDoc(n)
	pv := store.PolicyVersion{Version: v, Document: doc, Source: "api", At: base.Add(time.Duration(n) * time.Minute), By: "analyst-" + fmt.Sprint(n), Message: "why " + fmt.Sprint(n)}
	kept, err := s.KeepPolicy(context.Background(), pv)
	if err != nil {
		t.Fatalf("KeepPolicy: %v", err)
	}
	return kept
}

func samePolicy(t *testing.T, got, want store.PolicyVersion) {
	t.Helper()
	if got.Version != want.Version || !bytes.Equal(got.Document, want.Document) || got.Source != want.Source ||
		!got.At.Equal(want.At) || got.By != want.By || got.Message != want.Message {
		t.Fatalf("policy version = %+v, want %+v", got, want)
	}
}

func testKeepPolicy(t *testing.T, s store.Store) {
	ctx := context.Background()
	first := keepPolicyN(t, s, 1)
	// The same document again, by someone else, later: the first stays.
	again := first
	again.By, again.Message, again.At = "someone-else", "again", first.At.Add(day)
	kept, err := s.KeepPolicy(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	samePolicy(t, kept, first)
	got, err := s.PolicyVersion(ctx, first.Version)
	if err != nil {
		t.Fatal(err)
	}
	samePolicy(t, got, first)
	other, _ := policyDoc(2)
	if _, err := s.PolicyVersion(ctx, other); !errors.Is(err, store.ErrNoPolicyVersion) {
		t.Fatalf("unknown version: err = %v, want ErrNoPolicyVersion", err)
	}
}

func testPolicyVersions(t *testing.T, s store.Store) {
	ctx := context.Background()
	var kept []store.PolicyVersion
	for _, n := range []int{3, 1, 4, 2} {
		kept = append(kept, keepPolicyN(t, s, n))
	}
	all, err := s.PolicyVersions(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("%d versions, want 4", len(all))
	}
	// Kept at base+n minutes: newest (4) first.
	for i, n := range []int{4, 3, 2, 1} {
		want, _ := policyDoc(n)
		if all[i].Version != want {
			t.Fatalf("versions[%d] = policy %s, want policy %d", i, all[i].Message, n)
		}
	}
	samePolicy(t, all[1], kept[0])
	two, err := s.PolicyVersions(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(two) != 2 || two[0].Version != all[0].Version || two[1].Version != all[1].Version {
		t.Fatalf("limit 2: got %d versions, want the 2 newest", len(two))
	}
}

func testPolicyStateSwap(t *testing.T, s store.Store) {
	ctx := context.Background()
	st, err := s.PolicyState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st != (store.PolicyState{}) {
		t.Fatalf("a new store's state = %+v, want none", st)
	}
	v1, v2 := keepPolicyN(t, s, 1).Version, keepPolicyN(t, s, 2).Version
	st1, err := s.ChangePolicyState(ctx, 0, store.PolicyState{Active: v1, FileVersion: v1},
		store.PolicyChange{At: base, By: "file", Action: store.PolicyActivate, Version: v1, Message: "start"})
	if err != nil {
		t.Fatal(err)
	}
	if st1.Seq != 1 || st1.Active != v1 {
		t.Fatalf("state after the first change = %+v", st1)
	}
	st2, err := s.ChangePolicyState(ctx, 1, store.PolicyState{Active: v1, Candidate: v2, Percent: 10, FileVersion: v1},
		store.PolicyChange{At: base.Add(time.Minute), By: "ana", Action: store.PolicyCanary, Version: v2, Percent: 10, Message: "try it"})
	if err != nil {
		t.Fatal(err)
	}
	// A changer that read seq 1 is too late now, and writes nothing.
	if _, err := s.ChangePolicyState(ctx, 1, store.PolicyState{Active: v2},
		store.PolicyChange{At: base.Add(2 * time.Minute), By: "bob", Action: store.PolicyPromote, Version: v2}); !errors.Is(err, store.ErrPolicyRaced) {
		t.Fatalf("stale change: err = %v, want ErrPolicyRaced", err)
	}
	got, err := s.PolicyState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := store.PolicyState{Seq: 2, Active: v1, Candidate: v2, Percent: 10, FileVersion: v1}
	if got != want || st2 != want {
		t.Fatalf("state = %+v (returned %+v), want %+v", got, st2, want)
	}
	hist, err := s.PolicyChanges(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 {
		t.Fatalf("%d history entries, want 2: %+v", len(hist), hist)
	}
	h := hist[0]
	if h.Seq != 2 || h.By != "ana" || h.Action != store.PolicyCanary || h.Version != v2 || h.Percent != 10 ||
		h.Message != "try it" || !h.At.Equal(base.Add(time.Minute)) {
		t.Fatalf("newest history entry = %+v", h)
	}
	if hist[1].Seq != 1 || hist[1].Action != store.PolicyActivate || hist[1].By != "file" {
		t.Fatalf("oldest history entry = %+v", hist[1])
	}
	one, err := s.PolicyChanges(ctx, 1)
	if err != nil || len(one) != 1 || one[0].Seq != 2 {
		t.Fatalf("limit 1: %+v, %v", one, err)
	}
}

func testPolicyStateRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	v := keepPolicyN(t, s, 1).Version
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.ChangePolicyState(ctx, 0, store.PolicyState{Active: v, Percent: i},
				store.PolicyChange{At: base, By: fmt.Sprint("replica-", i), Action: store.PolicyActivate, Version: v})
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("changers %d and %d both won from seq 0", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, store.ErrPolicyRaced):
			t.Fatalf("changer %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no changer won")
	}
	st, err := s.PolicyState(ctx)
	if err != nil || st.Seq != 1 || st.Percent != won {
		t.Fatalf("state = %+v, %v; want the winner's (%d)", st, err, won)
	}
	hist, err := s.PolicyChanges(ctx, 0)
	if err != nil || len(hist) != 1 || hist[0].By != fmt.Sprint("replica-", won) {
		t.Fatalf("history = %+v, %v; want the winner's entry alone", hist, err)
	}
}

// testDurablePolicies: versions, state and history survive a reopen.
func testDurablePolicies(t *testing.T, s store.Store, reopen func(t *testing.T, s store.Store) store.Store) {
	ctx := context.Background()
	kept := keepPolicyN(t, s, 1)
	if _, err := s.ChangePolicyState(ctx, 0, store.PolicyState{Active: kept.Version, FileVersion: kept.Version},
		store.PolicyChange{At: base, By: "file", Action: store.PolicyActivate, Version: kept.Version}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	got, err := s.PolicyVersion(ctx, kept.Version)
	if err != nil {
		t.Fatal(err)
	}
	samePolicy(t, got, kept)
	st, err := s.PolicyState(ctx)
	if err != nil || st.Seq != 1 || st.Active != kept.Version || st.FileVersion != kept.Version {
		t.Fatalf("state after reopen = %+v, %v", st, err)
	}
	hist, err := s.PolicyChanges(ctx, 0)
	if err != nil || len(hist) != 1 || hist[0].Action != store.PolicyActivate {
		t.Fatalf("history after reopen = %+v, %v", hist, err)
	}
}
