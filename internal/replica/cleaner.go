package replica

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/log"
)

// The log cleaner (Kafka's LogCleaner with one thread): a goroutine owned
// by Run that, every log.cleaner.backoff.ms, cleans the compacted logs
// that need it, the dirtiest first (by min.cleanable.dirty.ratio, with
// max.compaction.lag.ms and due delete horizons forcing a log in). Each is
// cleaned up to its high watermark only, so nothing uncommitted is
// compacted. Where each log was cleaned up to is checkpointed in its
// directory (cleaner-offset-checkpoint) by the log itself.

// cleanerKeyBytes is the size Kafka counts per offset map entry (a 16-byte
// hash and an 8-byte offset) when it sizes the map from
// log.cleaner.dedupe.buffer.size.
const cleanerKeyBytes = 24

// startCleaner starts the cleaner goroutine; the returned function waits
// for it to stop, which it does when ctx ends.
func (m *Manager) startCleaner(ctx context.Context, node *cluster.Node) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.runCleaner(ctx, node)
	}()
	return func() { <-done }
}

func (m *Manager) runCleaner(ctx context.Context, node *cluster.Node) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		bcfg := m.cfg.BrokerConfig(node.Image())
		if bcfg.Bool("log.cleaner.enable") {
			m.cleanDirtiest(ctx, bcfg)
		}
		timer.Reset(time.Duration(max(bcfg.Int64("log.cleaner.backoff.ms"), 1)) * time.Millisecond)
	}
}

// cleanDirtiest cleans every compacted log that needs it, dirtiest first,
// each once.
func (m *Manager) cleanDirtiest(ctx context.Context, bcfg *config.Broker) {
	start := time.Now()
	defer func() { m.stats.cleanerPass(start, time.Now()) }()
	type candidate struct {
		p     *Partition
		hw    int64
		score float64
	}
	var todo []candidate
	for _, p := range m.tracked(m.compacted) {
		// Never clean into an open transaction: the bound is the last
		// stable offset, which is at most the high watermark.
		hw := p.LastStableOffset()
		c := p.Log().Cleanability(hw)
		if !c.Eligible {
			continue
		}
		score := c.Ratio
		if c.ForcedByLag || c.HorizonDue {
			score += 1 // must be cleaned now
		}
		todo = append(todo, candidate{p, hw, score})
	}
	sort.Slice(todo, func(i, j int) bool { return todo[i].score > todo[j].score })
	maxKeys := int(float64(bcfg.Int64("log.cleaner.dedupe.buffer.size")) * bcfg.Float64("log.cleaner.io.buffer.load.factor") / cleanerKeyBytes)
	for _, c := range todo {
		if ctx.Err() != nil {
			return
		}
		st, err := c.p.Log().Clean(log.CleanOptions{UpperBound: c.hw, MaxKeys: max(maxKeys, 1)})
		if !errors.Is(err, log.ErrCleanAborted) && !errors.Is(err, log.ErrClosed) {
			m.stats.cleaned(st, err)
		}
		switch {
		case errors.Is(err, log.ErrCleanAborted), errors.Is(err, log.ErrClosed):
			m.logger.Debug("cleaning stopped", "topic", c.p.Topic, "partition", c.p.Index, "err", err)
		case err != nil:
			m.logger.Error("clean log", "topic", c.p.Topic, "partition", c.p.Index, "err", err)
		case st.Cleaned:
			m.logger.Debug("cleaned log", "topic", c.p.Topic, "partition", c.p.Index,
				"bytes_before", st.BytesBefore, "bytes_after", st.BytesAfter, "end_offset", st.EndOffset)
		}
	}
}
