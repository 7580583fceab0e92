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
//
// Uses (NewUse) also share the budget fairly between holders (the request
// budget's holders are client addresses): a holder's uses may take more
// only while what it holds stays within its fair share, the budget divided
// by the holders holding or waiting now (at least two, so one holder never
// has more than half while nobody else is there yet). One use of a holder
// at a time may go past the share, whatever its size, so every holder
// always makes progress; a client with many connections holds, beyond one
// request, at most its share, however many connections it opens.
type Budget struct {
	mu   sync.Mutex
	size int64
	used int64
	// holders are the holders of Uses that hold bytes or wait for them
	// now.
	holders map[string]holder
	// freed is closed and replaced whenever bytes are released, waking
	// every waiter to try again.
	freed   chan struct{}
	waiters int // goroutines waiting on freed
	// waits counts acquisitions that had to wait; lastReport rate-limits
	// ShouldReport.
	waits      atomic.Int64
	lastReport atomic.Int64
}

// holder is what one holder holds, how many of its uses wait, and
// whether one of its uses is past the holder's fair share.
type holder struct {
	held    int64
	waiting int
	over    bool
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

// Holders is how many holders hold bytes or wait for them now.
func (b *Budget) Holders() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.holders)
}

// A Use is one use of a budget by a holder (one request of a client): the
// bytes it holds, taken in steps and given back at once. Its zero value
// is not ready; make one with Budget.NewUse.
type Use struct {
	b    *Budget
	key  string
	held int64
	// over is set while this use is the holder's one use past its share.
	over bool
}

// NewUse returns an empty use of b by the holder key.
func (b *Budget) NewUse(key string) Use { return Use{b: b, key: key} }

// Held is how many bytes u holds.
func (u *Use) Held() int64 { return u.held }

// fairShareLocked is what key may hold in all, apart from its one use past
// the share: the budget divided by the holders holding or waiting, key
// included, and at least two.
func (b *Budget) fairShareLocked(key string) int64 {
	n := len(b.holders)
	if _, ok := b.holders[key]; !ok {
		n++
	}
	return b.size / int64(max(n, 2))
}

// growLocked gives n more bytes to u if they are free and u may have them:
// within its holder's share, or as the holder's one use past it.
func (u *Use) growLocked(n int64) bool {
	b := u.b
	if b.used+n > b.size {
		return false
	}
	h := b.holders[u.key]
	within := h.held+n <= b.fairShareLocked(u.key)
	if !within && !u.over && h.over {
		return false // another use of the holder is past the share
	}
	if !within && !u.over {
		u.over, h.over = true, true
	}
	h.held += n
	u.held += n
	b.used += n
	if b.holders == nil {
		b.holders = map[string]holder{}
	}
	b.holders[u.key] = h
	return true
}

// TryGrow takes Clamp(n) more bytes for u if it may have them now: they
// are free, and what u's holder holds stays within its fair share, or u
// is the holder's one use past it (see Budget).
func (u *Use) TryGrow(n int64) bool {
	n = u.b.Clamp(n)
	u.b.mu.Lock()
	defer u.b.mu.Unlock()
	return u.growLocked(n)
}

// Grow is TryGrow that waits until u may have the bytes. It returns ctx's
// error, having taken nothing more, when ctx ends first.
func (u *Use) Grow(ctx context.Context, n int64) error {
	b := u.b
	n = b.Clamp(n)
	b.mu.Lock()
	if u.growLocked(n) {
		b.mu.Unlock()
		return nil
	}
	b.waits.Add(1)
	if b.holders == nil {
		b.holders = map[string]holder{}
	}
	h := b.holders[u.key]
	h.waiting++
	b.holders[u.key] = h
	b.waiters++
	defer func() {
		h := b.holders[u.key]
		h.waiting--
		b.putHolderLocked(u.key, h)
		b.waiters--
		b.mu.Unlock()
	}()
	for {
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			b.mu.Lock()
			return ctx.Err()
		}
		b.mu.Lock()
		if u.growLocked(n) {
			return nil
		}
	}
}

// putHolderLocked stores h for key, or forgets key when it holds nothing
// and nothing of it waits.
func (b *Budget) putHolderLocked(key string, h holder) {
	if h.held == 0 && h.waiting == 0 {
		delete(b.holders, key)
		return
	}
	b.holders[key] = h
}

// Release gives back everything u holds; u may then grow again.
func (u *Use) Release() {
	if u.held == 0 {
		return
	}
	b := u.b
	b.mu.Lock()
	h := b.holders[u.key]
	h.held -= u.held
	if u.over {
		h.over = false
	}
	b.putHolderLocked(u.key, h)
	n := u.held
	u.held, u.over = 0, false
	b.releaseLocked(n)
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
	b.releaseLocked(n)
}

// releaseLocked gives back n bytes, wakes the waiters and unlocks b.mu.
func (b *Budget) releaseLocked(n int64) {
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
