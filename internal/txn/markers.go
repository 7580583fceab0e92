package txn

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// Completing a transaction (Kafka's TransactionMarkerChannelManager): once
// its PrepareCommit or PrepareAbort state is durable, the markers go to
// every partition of the transaction, and then the CompleteCommit or
// CompleteAbort state is written. Both steps are retried with backoff
// until they succeed or the partition is unloaded (its context ends).
// Meanwhile the ID's pending state is the Complete* one, so requests get
// CONCURRENT_TRANSACTIONS, as in Kafka.

// startCompletion writes the markers of t's Prepare* state in the
// background, then its Complete* state. The caller holds p.mu and has
// checked that t is in a Prepare* state with nothing pending.
func (c *coordinator) startCompletion(p *partition, t *txn) {
	prepared := t.cur
	req := prepared.markerRequest(p.epoch)
	t.pending = prepared.completeValue(c.nowMs())
	t.completing = true
	started := c.goBackground(func() { c.complete(p, t, prepared, req) })
	if !started {
		t.pending = nil
		t.completing = false
	}
}

func (c *coordinator) complete(p *partition, t *txn, prepared txnValue, req MarkerRequest) {
	log := c.logger.With("transactional_id", t.id, "partition", p.id, "producer_id", req.ProducerID, "producer_epoch", req.ProducerEpoch, "commit", req.Commit)
	defer func() {
		p.mu.Lock()
		t.completing = false
		p.mu.Unlock()
	}()
	if len(req.Partitions) > 0 {
		for attempt := 0; ; attempt++ {
			err := c.cfg.Markers.Write(p.ctx, req)
			if err == nil {
				break
			}
			if p.ctx.Err() != nil {
				return
			}
			log.Warn("writing transaction markers failed; retrying", "attempt", attempt+1, "err", err)
			if !c.sleep(p.ctx, attempt) {
				return
			}
		}
	}
	for attempt := 0; ; attempt++ {
		p.mu.Lock()
		if p.unloaded || p.txns[t.id] != t || t.cur.state != prepared.state ||
			t.cur.producerID != prepared.producerID || t.cur.producerEpoch != prepared.producerEpoch {
			p.mu.Unlock()
			return
		}
		if t.pending == nil {
			// A failed write cleared it: write the Complete* state
			// again, timestamped now.
			t.pending = prepared.completeValue(c.nowMs())
		}
		v := t.pending
		p.mu.Unlock()

		switch code := c.write(p.ctx, p, t, v); code {
		case 0:
			log.Debug("transaction completed")
			return
		case kerr.NotCoordinator.Code:
			return
		}
		if !c.sleep(p.ctx, attempt) {
			return
		}
	}
}
