// Package groupcommit is the queue both stores commit through: writes that
// arrive while a group is being made durable wait together and become the
// next group, so one durable write (an fdatasync, a database transaction)
// serves them all. The stores decide what a group's commit is; this
// package owns only the queueing, the one loop and the orderly close.
package groupcommit

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/riskd/riskd/internal/store"
)

// Queue feeds items to one commit loop in groups of at most max.
type Queue[T any] struct {
	ch     chan T
	mu     sync.RWMutex // guards sending on ch against Close
	closed atomic.Bool
	done   chan struct{}
}

// New starts the loop: commit is called with each group, in order, on one
// goroutine, and must answer every item of it (the items carry their own
// way back to their callers).
func New[T any](max int, commit func(group []T)) *Queue[T] {
	q := &Queue[T]{ch: make(chan T, max), done: make(chan struct{})}
	go q.loop(max, commit)
	return q
}

func (q *Queue[T]) loop(max int, commit func([]T)) {
	defer close(q.done)
	group := make([]T, 0, max)
	for first := range q.ch {
		group = append(group[:0], first)
		// Take what queued up meanwhile, without waiting for more.
	drain:
		for len(group) < max {
			select {
			case it, ok := <-q.ch:
				if !ok {
					break drain
				}
				group = append(group, it)
			default:
				break drain
			}
		}
		commit(group)
	}
}

// Send queues an item for the next group. It fails with store.ErrClosed
// after Close, and with ctx's error if the queue stays full until ctx ends;
// the item is not queued then.
func (q *Queue[T]) Send(ctx context.Context, it T) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed.Load() {
		return store.ErrClosed
	}
	select {
	case q.ch <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Len is how many items wait for a group.
func (q *Queue[T]) Len() int { return len(q.ch) }

// Closed reports whether Close was called.
func (q *Queue[T]) Closed() bool { return q.closed.Load() }

// Close stops taking items, lets the loop commit what is queued, and
// returns when it has. It reports whether this call closed the queue (a
// second Close does nothing).
func (q *Queue[T]) Close() bool {
	q.mu.Lock()
	if q.closed.Swap(true) {
		q.mu.Unlock()
		return false
	}
	close(q.ch)
	q.mu.Unlock()
	<-q.done
	return true
}
