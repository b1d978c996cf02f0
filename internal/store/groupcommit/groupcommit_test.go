package groupcommit

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/store"
)

// TestGroupsFormWhileTheLoopIsBusy: items sent while a group is being
// committed become the next group, in order, at most max at a time; Close
// commits what is queued and refuses what comes after.
func TestGroupsFormWhileTheLoopIsBusy(t *testing.T) {
	held, release := make(chan struct{}), make(chan struct{})
	var groups [][]int
	q := New(4, func(g []int) {
		if g[0] == 0 {
			close(held)
			<-release
		}
		groups = append(groups, slices.Clone(g))
	})
	ctx := context.Background()
	if err := q.Send(ctx, 0); err != nil {
		t.Fatal(err)
	}
	<-held
	for i := 1; i <= 4; i++ {
		if err := q.Send(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	// The queue holds max items: the next send waits, until its ctx ends.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := q.Send(short, 99); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send to a full queue = %v, want the ctx's deadline", err)
	}
	close(release)
	for i := 5; i <= 6; i++ {
		if err := q.Send(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if !q.Close() {
		t.Fatal("first Close reports the queue was already closed")
	}
	if q.Close() {
		t.Fatal("second Close reports it closed the queue")
	}
	if err := q.Send(ctx, 7); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("send after Close = %v, want ErrClosed", err)
	}
	var all []int
	for _, g := range groups {
		if len(g) > 4 {
			t.Errorf("group %v is over the bound of 4", g)
		}
		all = append(all, g...)
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6}; !slices.Equal(all, want) {
		t.Fatalf("committed %v in groups %v, want %v in order", all, groups, want)
	}
	if len(groups) < 2 || !slices.Equal(groups[1], []int{1, 2, 3, 4}) {
		t.Errorf("groups %v: the four sent while the first was held should form the second", groups)
	}
}
