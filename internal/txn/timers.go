package txn

import (
	"context"
	"time"
)

// The timed work of the coordinator (Kafka's abortTimedOutTransactions and
// removeExpiredTransactionalIds), run by Tick at the injected clock's now.

func (c *coordinator) tick(ctx context.Context) {
	now := c.nowMs()
	c.abortTimedOut(ctx, now)
	c.retryCompletions()
	c.expiryMu.Lock()
	due := now >= c.nextExpiry
	if due {
		c.nextExpiry = now + c.cfg.RemoveExpiredEvery.Milliseconds()
	}
	c.expiryMu.Unlock()
	if due {
		c.removeExpired(ctx, now)
	}
}

type timedWrite struct {
	p *partition
	t *txn
	v *txnValue
}

// loaded returns the partitions loaded here.
func (c *coordinator) loaded() []*partition {
	c.mu.RLock()
	defer c.mu.RUnlock()
	parts := make([]*partition, 0, len(c.parts))
	for _, p := range c.parts {
		parts = append(parts, p)
	}
	return parts
}

// abortTimedOut fences and aborts every transaction ongoing longer than its
// timeout: its producer's next request at the old epoch is fenced.
func (c *coordinator) abortTimedOut(ctx context.Context, now int64) {
	var todo []timedWrite
	for _, p := range c.loaded() {
		p.mu.Lock()
		if !p.loading && !p.unloaded {
			for _, t := range p.txns {
				if t.pending == nil && t.cur.state == stateOngoing && t.cur.startMs+int64(t.cur.timeoutMs) < now {
					v := c.fenceValue(t)
					t.pending = v
					todo = append(todo, timedWrite{p, t, v})
				}
			}
		}
		p.mu.Unlock()
	}
	for _, w := range todo {
		if code := c.writeFence(ctx, w.p, w.t, w.v); code != 0 {
			continue // logged by write; the next tick tries again
		}
		c.logger.Info("aborted a timed-out transaction", "transactional_id", w.t.id,
			"producer_id", w.v.producerID, "producer_epoch", w.v.producerEpoch,
			"timeout", time.Duration(w.v.timeoutMs)*time.Millisecond)
	}
}

// retryCompletions restarts the completion of prepared transactions that
// have none running (it ended on an error while the partition stayed).
func (c *coordinator) retryCompletions() {
	for _, p := range c.loaded() {
		p.mu.Lock()
		if !p.loading && !p.unloaded {
			for _, t := range p.txns {
				if t.pending == nil && !t.completing &&
					(t.cur.state == statePrepareCommit || t.cur.state == statePrepareAbort) {
					c.startCompletion(p, t)
				}
			}
		}
		p.mu.Unlock()
	}
}

// removeExpired writes a tombstone for every transactional ID with no
// transaction that has not been used for IDExpiration.
func (c *coordinator) removeExpired(ctx context.Context, now int64) {
	horizon := now - c.cfg.IDExpiration.Milliseconds()
	var todo []timedWrite
	for _, p := range c.loaded() {
		p.mu.Lock()
		if !p.loading && !p.unloaded {
			for _, t := range p.txns {
				switch t.cur.state {
				case stateEmpty, stateCompleteCommit, stateCompleteAbort:
				default:
					continue
				}
				if t.pending == nil && !t.completing && t.cur.updateMs <= horizon {
					v := t.cur
					v.state = stateDead
					t.pending = &v
					todo = append(todo, timedWrite{p, t, &v})
				}
			}
		}
		p.mu.Unlock()
	}
	for _, w := range todo {
		if code := c.write(ctx, w.p, w.t, w.v); code == 0 {
			c.logger.Info("removed an expired transactional ID", "transactional_id", w.t.id, "topic", StateTopic, "partition", w.p.id)
		}
	}
}
