package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// goroutines is how many callers race in the concurrency tests.
const goroutines = 50

var concurrencyTests = []test{
	{"concurrent commits of one request store it exactly once", testConcurrentSameRequest},
	{"concurrent commits of different requests lose no update", testConcurrentDifferentRequests},
}

// race runs fn(i) for i in [0, goroutines) at once, released together so
// that they overlap as much as they can.
func race(fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

type commitResult struct {
	stored *riskv1.Decision
	fresh  bool
	err    error
}

func testConcurrentSameRequest(t *testing.T, s store.Store) {
	account, device := ident(store.KindAccount, "acct-1"), ident(store.KindDevice, "dev-1")
	hash := contentHash("order-1001")
	// Each caller decided on its own: its own decision ID, event ID and
	// link, so that a second write of any of them would show.
	commits := make([]store.Commit, goroutines)
	for i := range commits {
		at := base.Add(time.Duration(i) * time.Millisecond)
		commits[i] = store.Commit{
			Decision:    decision(t, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1001", at),
			RequestHash: hash,
			Subjects:    []store.Identifier{account},
			Events:      []store.Event{event(fmt.Sprintf("evt-%d", i), seriesGiftCard, account, at, int64(100*(i+1)))},
			Links:       []store.Link{{ID: device, Subject: fmt.Sprintf("account:%d", i), At: at}},
		}
	}
	results := make([]commitResult, goroutines)
	race(func(i int) {
		stored, fresh, err := s.Commit(t.Context(), commits[i])
		results[i] = commitResult{stored, fresh, err}
	})

	winner := -1
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("Commit %d: %v", i, r.err)
		}
		if r.fresh {
			if winner >= 0 {
				t.Fatalf("Commits %d and %d both returned fresh", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no Commit returned fresh")
	}
	want := commits[winner].Decision
	wantDecision(t, "Decision of the fresh commit", mustDecision(t, s, want.GetDecisionId()), want)
	byReq, _, err := s.DecisionByRequest(t.Context(), riskv1.Check_CHECK_GIFT_CARD_PURCHASE, "order-1001")
	if err != nil {
		t.Fatalf("DecisionByRequest: %v", err)
	}
	wantDecision(t, "DecisionByRequest", byReq, want)
	for i, r := range results {
		if !proto.Equal(r.stored, want) {
			t.Errorf("Commit %d returned decision %s, want the stored %s", i, r.stored.GetDecisionId(), want.GetDecisionId())
		}
	}

	agg := mustAggregate(t, s, seriesGiftCard, account, base.Add(-time.Hour), base.Add(time.Hour))
	wantAggregate(t, "events of the one request", agg, store.Aggregate{Count: 1, Amount: int64(100 * (winner + 1)), Quantity: 1})
	wantLinks(t, "links of the one request", mustLinked(t, s, device),
		[]store.Link{{ID: device, Subject: fmt.Sprintf("account:%d", winner), At: decidedAt(want)}})
	if n := len(scanAll(t, s, base.Add(-time.Hour), base.Add(time.Hour))); n != 1 {
		t.Errorf("ScanDecisions found %d decisions, want 1", n)
	}
}

func testConcurrentDifferentRequests(t *testing.T, s store.Store) {
	account, device := ident(store.KindAccount, "acct-1"), ident(store.KindDevice, "dev-1")
	commits := make([]store.Commit, goroutines)
	var wantAmount int64
	for i := range commits {
		at := base.Add(time.Duration(i) * time.Second)
		requestID := fmt.Sprintf("order-%d", i)
		e := event("evt-"+requestID, seriesGiftCard, account, at, int64(i+1))
		e.Quantity, e.Ref = 2, fmt.Sprintf("recipient-%d", i)
		wantAmount += e.Amount
		commits[i] = store.Commit{
			Decision:    decision(t, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, requestID, at),
			RequestHash: contentHash(requestID),
			Subjects:    []store.Identifier{account},
			Events:      []store.Event{e},
			Links:       []store.Link{{ID: device, Subject: "account:" + requestID, At: at}},
		}
	}
	errs := make([]error, goroutines)
	race(func(i int) {
		_, fresh, err := s.Commit(t.Context(), commits[i])
		if err == nil && !fresh {
			err = fmt.Errorf("fresh = false for a new request")
		}
		errs[i] = err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Commit %d: %v", i, err)
		}
	}

	agg := mustAggregate(t, s, seriesGiftCard, account, base, base.Add(time.Hour))
	wantAggregate(t, "events of all requests", agg, store.Aggregate{
		Count: goroutines, Amount: wantAmount, Quantity: 2 * goroutines, DistinctRefs: goroutines,
	})
	if n := len(mustLinked(t, s, device)); n != goroutines {
		t.Errorf("Linked found %d subjects, want %d", n, goroutines)
	}
	if n := len(scanAll(t, s, base, base.Add(time.Hour))); n != goroutines {
		t.Errorf("ScanDecisions found %d decisions, want %d", n, goroutines)
	}
	for _, c := range commits {
		wantDecision(t, "Decision "+c.Decision.GetRequestId(), mustDecision(t, s, c.Decision.GetDecisionId()), c.Decision)
	}
}
