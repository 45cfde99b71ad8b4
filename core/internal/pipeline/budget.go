package pipeline

import (
	"context"
	"sync"
)

// budget is a weighted semaphore over bytes in flight. A request that does not fit waits
// until enough is released, except that a request is always granted when nothing is in
// flight, so a single batch larger than the whole budget is admitted alone instead of
// deadlocking.
type budget struct {
	max int64

	mu      sync.Mutex
	used    int64
	peak    int64
	changed chan struct{} // closed and replaced when bytes are released
}

func newBudget(max int64) *budget {
	return &budget{max: max, changed: make(chan struct{})}
}

// acquire takes n bytes, waiting while they do not fit.
func (b *budget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.max {
			b.add(n)
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// force takes n bytes without waiting (a batch whose records turned out larger than its
// changes).
func (b *budget) force(n int64) {
	b.mu.Lock()
	b.add(n)
	b.mu.Unlock()
}

func (b *budget) add(n int64) {
	b.used += n
	if b.used > b.peak {
		b.peak = b.used
	}
}

// release returns n bytes.
func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// setMax changes the budget (a phase change); waiters are woken to re-check.
func (b *budget) setMax(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.max = n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

func (b *budget) usage() (used, peak int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak
}

// limit returns the current budget.
func (b *budget) limit() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.max
}
