package quota

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Budget is a broker-wide allowance of bytes (decompression output, request
// bytes) shared by every connection. Acquire takes bytes when they are
// free and otherwise waits until enough are released, the caller's context
// ends, or never when the amount exceeds the whole budget: such an amount
// is clamped to the budget, so one oversized user runs alone rather than
// never.
//
// Unlike a FIFO semaphore, a small amount is granted whenever it fits, even
// while a larger one waits: a flood of large, hostile requests cannot make
// the small ones of well-behaved clients queue behind them.
type Budget struct {
	mu   sync.Mutex
	size int64
	used int64
	// freed is closed and replaced whenever bytes are released, waking
	// every waiter to try again.
	freed   chan struct{}
	waiters int // goroutines waiting on freed
	// waits counts acquisitions that had to wait; lastReport rate-limits
	// ShouldReport.
	waits      atomic.Int64
	lastReport atomic.Int64
}

// NewBudget returns a budget of size bytes (at least 1).
func NewBudget(size int64) *Budget {
	return &Budget{size: max(size, 1), freed: make(chan struct{})}
}

// Size is the budget's total in bytes.
func (b *Budget) Size() int64 { return b.size }

// InUse is how many bytes are taken now.
func (b *Budget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Clamp is the amount Acquire really takes for n: n, or the whole budget
// when n is larger. Release must be given the same.
func (b *Budget) Clamp(n int64) int64 { return min(max(n, 0), b.size) }

// TryAcquire takes Clamp(n) bytes if they are free now.
func (b *Budget) TryAcquire(n int64) bool {
	n = b.Clamp(n)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.size {
		return false
	}
	b.used += n
	return true
}

// Acquire takes Clamp(n) bytes, waiting for them to be released by others.
// It returns ctx's error, having taken nothing, when ctx ends first.
func (b *Budget) Acquire(ctx context.Context, n int64) error {
	n = b.Clamp(n)
	for waited := false; ; waited = true {
		b.mu.Lock()
		if b.used+n <= b.size {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		if !waited {
			b.waits.Add(1)
		}
		freed := b.freed
		b.waiters++
		b.mu.Unlock()
		select {
		case <-freed:
			b.mu.Lock()
			b.waiters--
			b.mu.Unlock()
		case <-ctx.Done():
			b.mu.Lock()
			b.waiters--
			b.mu.Unlock()
			return ctx.Err()
		}
	}
}

// Waits is how many acquisitions have had to wait for room.
func (b *Budget) Waits() int64 { return b.waits.Load() }

// ShouldReport reports whether a full budget should be logged now: at
// most once every reportEvery, so a budget under pressure shows in the log
// without flooding it.
func (b *Budget) ShouldReport(now time.Time) bool {
	last := b.lastReport.Load()
	return now.UnixNano()-last >= int64(reportEvery) && b.lastReport.CompareAndSwap(last, now.UnixNano())
}

const reportEvery = 10 * time.Second

// Release gives back Clamp(n) bytes taken by Acquire or TryAcquire.
func (b *Budget) Release(n int64) {
	n = b.Clamp(n)
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		b.mu.Unlock()
		panic("quota: budget released more than was acquired")
	}
	if b.waiters > 0 {
		// Wake every waiter; without waiters a release allocates nothing.
		close(b.freed)
		b.freed = make(chan struct{})
	}
	b.mu.Unlock()
}
