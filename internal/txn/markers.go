package txn

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Completing a transaction (Kafka's TransactionMarkerChannelManager): once
// its PrepareCommit or PrepareAbort state is durable, the markers go to
// every partition of the transaction, and then the CompleteCommit or
// CompleteAbort state is written. Both steps are retried with backoff
// until they succeed or the partition is unloaded (its context ends).
// Meanwhile the ID's pending state is the Complete* one, so requests get
// CONCURRENT_TRANSACTIONS, as in Kafka. A marker refused as fenced ends
// the sending: the transaction belongs to another coordinator or epoch.

// startCompletion writes the markers of t's Prepare* state in the
// background, then its Complete* state. The caller holds p.mu and has
// checked that t is in a Prepare* state with nothing pending.
func (c *coordinator) startCompletion(p *partition, t *txn) {
	prepared := t.cur
	req := prepared.markerRequest(p.epoch)
	t.pending = prepared.completeValue(c.nowMs())
	t.completing = true
	done := make(chan struct{})
	t.completed = done
	started := c.goBackground(func() { c.complete(p, t, prepared, req, done) })
	if !started {
		t.pending = nil
		t.completing = false
		close(done)
	}
}

// completionWait bounds how long a request that finds the producer's
// previous transaction still completing waits for it before answering
// CONCURRENT_TRANSACTIONS. Markers usually take one fsync, so the
// producer's next transaction starts right after them instead of after a
// client's retry backoff.
const completionWait = time.Second

// awaitCompletion waits until t's completion in progress, if any, ends, or
// completionWait passes, or ctx ends. The caller holds p.mu; it is
// released while waiting and not held on return.
func (c *coordinator) awaitCompletion(ctx context.Context, p *partition, t *txn) {
	done := t.completed
	p.mu.Unlock()
	if done == nil {
		return
	}
	timer := time.NewTimer(completionWait)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
	case <-ctx.Done():
	}
}

func (c *coordinator) complete(p *partition, t *txn, prepared txnValue, req MarkerRequest, done chan struct{}) {
	log := c.logger.With("transactional_id", t.id, "partition", p.id, "producer_id", req.ProducerID, "producer_epoch", req.ProducerEpoch, "commit", req.Commit)
	defer func() {
		p.mu.Lock()
		t.completing = false
		if t.completed == done {
			t.completed = nil
		}
		p.mu.Unlock()
		close(done)
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
			if markerFenced(err) {
				// Another coordinator, or a newer epoch of the
				// producer, owns the transaction (Kafka's
				// TransactionMarkerRequestCompletionHandler stops
				// sending too). The Complete* state stays pending,
				// so requests get CONCURRENT_TRANSACTIONS until the
				// partition is unloaded or loaded again, which
				// restarts the completion.
				log.Warn("transaction markers fenced; no longer sending them", "err", err)
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

// markerFenced reports whether a marker write was refused because the
// producer's epoch at the partition is newer than the marker's, or the
// coordinator's epoch is older than one the partition saw: retrying
// cannot succeed.
func markerFenced(err error) bool {
	return errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.ProducerFenced) ||
		errors.Is(err, kerr.TransactionCoordinatorFenced)
}
