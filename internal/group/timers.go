package group

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// timers is the queue of group deadlines that Run sleeps on and Tick
// fires: session expiry, join and sync timeouts, KIP-394 pending members,
// KIP-848 heartbeats, and the offset expiry interval. Deadlines are on
// Config.Mono. Each group keeps at most a few entries: it queues a deadline
// only when it is earlier than the one it has queued (group.scheduled), and
// when an entry fires the group recomputes and queues its next one. Later
// deadlines (a heartbeat pushing a session out) therefore cost nothing
// until the earlier entry fires.
//
// Lock order: group.mu before timers.mu.
type timers struct {
	mu   sync.Mutex
	h    timerHeap
	wake chan struct{} // Run re-reads the earliest deadline
	// cleanupAt is when offset expiry runs next (every
	// offsets.retention.check.interval.ms).
	cleanupAt time.Time
}

type timerEntry struct {
	at time.Time
	g  *group
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = timerEntry{}
	*h = old[:len(old)-1]
	return e
}

func newTimers(cleanupAt time.Time) timers {
	return timers{wake: make(chan struct{}, 1), cleanupAt: cleanupAt}
}

func (t *timers) add(g *group, at time.Time) {
	t.mu.Lock()
	heap.Push(&t.h, timerEntry{at: at, g: g})
	first := t.h[0].g == g && t.h[0].at.Equal(at)
	t.mu.Unlock()
	if first {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// next returns the earliest deadline: a queued one or the next cleanup.
func (t *timers) next() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.h) > 0 && t.h[0].at.Before(t.cleanupAt) {
		return t.h[0].at
	}
	return t.cleanupAt
}

// cleanupDue reports whether offset expiry is due at now, and if so
// schedules the next one an interval later.
func (t *timers) cleanupDue(now time.Time, interval time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Before(t.cleanupAt) {
		return false
	}
	t.cleanupAt = now.Add(interval)
	return true
}

// due pops the entries whose deadline is not after now.
func (t *timers) due(now time.Time) []timerEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []timerEntry
	for len(t.h) > 0 && !t.h[0].at.After(now) {
		out = append(out, heap.Pop(&t.h).(timerEntry))
	}
	return out
}

// reschedule queues the group's next deadline if it is earlier than the
// one queued. The caller holds g.mu.
func (c *Coordinator) reschedule(g *group) {
	at, ok := g.nextDeadline()
	if !ok || (!g.scheduled.IsZero() && !at.Before(g.scheduled)) {
		return
	}
	g.scheduled = at
	c.timers.add(g, at)
}

func (c *Coordinator) run(ctx context.Context) {
	defer func() {
		c.bgMu.Lock()
		c.bgClosed = true
		c.bgMu.Unlock()
		c.bgCancel()
		c.bg.Wait()
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.tick(c.mono())
		// The wait is measured on Config.Mono; with a fake clock it only
		// bounds how long Run sleeps, and Tick does the rest.
		timer.Reset(max(c.timers.next().Sub(c.mono()), 0))
		select {
		case <-ctx.Done():
			return
		case <-c.timers.wake:
		case <-timer.C:
		}
	}
}

// tick fires the group timers due at now and starts offset expiry when
// its interval has passed.
func (c *Coordinator) tick(now time.Time) {
	for _, e := range c.timers.due(now) {
		c.fire(e, now)
	}
	if c.timers.cleanupDue(now, c.cfg.RetentionCheck) {
		c.startCleanup()
	}
}

// fire runs a group's due timers: pending member IDs and sessions that
// ran out, the end of the join phase, members that never synced, and
// KIP-848 member expiry.
func (c *Coordinator) fire(e timerEntry, now time.Time) {
	g := e.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.at.Equal(g.scheduled) {
		g.scheduled = time.Time{}
	}
	if g.unloaded || g.state == stateDead {
		return
	}
	if g.kind == kindConsumer {
		c.consumerTimers(g, now)
		c.persistConsumer(g, false)
		c.flushConsumerAsync(g)
	} else {
		c.classicTimers(g, now)
	}
	c.reschedule(g)
}

// goBackground runs fn off the request path, bounded by Run's lifetime;
// once Run has returned it runs nothing.
func (c *Coordinator) goBackground(fn func(ctx context.Context)) {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.bgClosed {
		return
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		fn(c.bgCtx)
	}()
}
