package txn

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
)

// load replays a partition and takes ownership of its transactional IDs
// (Kafka's loadTransactionsForTxnTopicPartition), then completes every
// transaction it finds prepared.
func (c *coordinator) load(ctx context.Context, pid, epoch int32) error {
	if pid < 0 || pid >= c.cfg.Partitions {
		return fmt.Errorf("txn: load %s-%d: no such partition (%d partitions)", StateTopic, pid, c.cfg.Partitions)
	}
	if c.bgCtx.Err() != nil {
		return fmt.Errorf("txn: load %s-%d: coordinator stopped", StateTopic, pid)
	}
	c.mu.Lock()
	if old := c.parts[pid]; old != nil {
		if old.epoch >= epoch {
			// Loaded, or loading, at this epoch or a newer one: a
			// late load of an older leadership changes nothing.
			c.mu.Unlock()
			return nil
		}
		c.dropLocked(old)
	}
	pctx, cancel := context.WithCancel(c.bgCtx)
	p := &partition{id: pid, epoch: epoch, ctx: pctx, cancel: cancel, loading: true, txns: make(map[string]*txn)}
	c.parts[pid] = p
	c.mu.Unlock()

	start := time.Now()
	txns, records, err := c.replay(ctx, pid)
	if err != nil {
		c.mu.Lock()
		if c.parts[pid] == p {
			c.dropLocked(p)
		}
		c.mu.Unlock()
		return fmt.Errorf("txn: load %s-%d: %w", StateTopic, pid, err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.unloaded {
		return nil
	}
	p.txns = txns
	p.loading = false
	prepared := 0
	for _, t := range txns {
		if t.cur.state == statePrepareCommit || t.cur.state == statePrepareAbort {
			c.startCompletion(p, t)
			prepared++
		}
	}
	c.logger.Info("loaded transaction state", "topic", StateTopic, "partition", pid, "coordinator_epoch", epoch,
		"transactional_ids", len(txns), "records", records, "completing", prepared, "took", time.Since(start))
	return nil
}

// unload drops a partition (Kafka's removeTransactionsForTxnTopicPartition
// and removeMarkersForTxnTopicPartition).
func (c *coordinator) unload(pid int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.parts[pid]; p != nil {
		c.dropLocked(p)
		c.logger.Info("unloaded transaction state", "topic", StateTopic, "partition", pid, "coordinator_epoch", p.epoch)
	}
}

// dropLocked forgets p and ends its background work. The caller holds c.mu.
func (c *coordinator) dropLocked(p *partition) {
	delete(c.parts, p.id)
	p.mu.Lock()
	p.unloaded = true
	p.txns = nil
	p.mu.Unlock()
	p.cancel()
}

// replay reads a partition from its start and rebuilds its transactional
// IDs: the last value of each key wins and a tombstone removes the ID.
// Malformed records are logged and skipped; a damaged batch ends the load
// with an error.
func (c *coordinator) replay(ctx context.Context, pid int32) (map[string]*txn, int, error) {
	start, end, err := c.cfg.Log.Bounds(pid)
	if err != nil {
		return nil, 0, fmt.Errorf("bounds: %w", err)
	}
	txns := make(map[string]*txn)
	records := 0
	apply := func(r record.Record) {
		records++
		if len(r.Key) < 2 || binary.BigEndian.Uint16(r.Key) != txnKeyVersion {
			return // not a transaction record (Kafka's keys are version 0)
		}
		var k kmsg.TxnMetadataKey
		if err := k.ReadFrom(r.Key); err != nil {
			c.logger.Warn("skipping malformed transaction key", "topic", StateTopic, "partition", pid, "err", err)
			return
		}
		if r.Value == nil {
			delete(txns, k.TransactionalID)
			return
		}
		v, err := unmarshalValue(r.Value)
		if err != nil {
			c.logger.Warn("skipping malformed transaction value", "topic", StateTopic, "partition", pid, "transactional_id", k.TransactionalID, "err", err)
			return
		}
		txns[k.TransactionalID] = &txn{id: k.TransactionalID, cur: v}
	}

	codecs := record.NewCodecs()
	off, maxBytes := start, 1<<20
	for off < end {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		b, err := c.cfg.Log.Read(pid, off, maxBytes)
		if err != nil {
			return nil, 0, fmt.Errorf("read at %d: %w", off, err)
		}
		progressed := false
		err = record.Batches(b, true, func(h record.Header, batch []byte) error {
			if h.LastOffset() < off {
				return nil
			}
			progressed = true
			next := h.LastOffset() + 1
			if h.IsControl() {
				off = next
				return nil
			}
			recs, err := codecs.Records(batch, maxRecordsBytes)
			if err != nil {
				return fmt.Errorf("batch at %d: %w", h.BaseOffset, err)
			}
			for _, r := range recs {
				if h.BaseOffset+int64(r.OffsetDelta) >= off {
					apply(r)
				}
			}
			off = next
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
		if !progressed {
			if len(b) == 0 || maxBytes >= 64<<20 {
				return nil, 0, fmt.Errorf("read at %d returned no whole batch below the log end %d", off, end)
			}
			maxBytes *= 2 // a batch larger than we asked for
		}
	}
	return txns, records, nil
}
