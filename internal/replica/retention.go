package replica

import (
	"container/heap"
	"errors"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
)

// Retention and producer-ID expiry are scheduled, not swept. Each check
// (every log.retention.check.interval.ms, as in Kafka) visits only the
// partitions due by then: a log says when it may next have work
// (log.Log.NextRetention: the first segment with records passing
// retention.ms, the active one too, a producer ID expiring, or at once
// under retention.bytes), and tells when that can change without a check
// (log.Options.OnRetentionDue: a roll, the first records of a lone
// segment, a first producer ID). Partitions are also due once opened with
// data, and when their config changes. Retention never deletes records at
// or above the high watermark the partition last gave its log
// (log.Log.HighWatermarkMoved: the leader's, or a follower's own); a
// partition held back by it stays due and is checked again. A broker of
// idle partitions whose records have not expired, without retention.bytes
// and producers, does no per-partition work per check.

// retentionQueue is the partitions due for a retention check, earliest
// first. Its lock is a leaf: logs call schedule with their locks held.
type retentionQueue struct {
	mu    sync.Mutex
	items map[TopicPartition]*retentionItem
	heap  retentionHeap
}

type retentionItem struct {
	tp    TopicPartition
	due   time.Time // the zero time: at the next check
	index int
}

// schedule makes tp due at due, unless it is due earlier already.
func (q *retentionQueue) schedule(tp TopicPartition, due time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if it := q.items[tp]; it != nil {
		if due.Before(it.due) {
			it.due = due
			heap.Fix(&q.heap, it.index)
		}
		return
	}
	if q.items == nil {
		q.items = make(map[TopicPartition]*retentionItem)
	}
	it := &retentionItem{tp: tp, due: due}
	q.items[tp] = it
	heap.Push(&q.heap, it)
}

// remove forgets tp (its partition left this broker).
func (q *retentionQueue) remove(tp TopicPartition) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if it := q.items[tp]; it != nil {
		heap.Remove(&q.heap, it.index)
		delete(q.items, tp)
	}
}

// popDue takes out the partitions due at or before now.
func (q *retentionQueue) popDue(now time.Time) []TopicPartition {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []TopicPartition
	for len(q.heap) > 0 && !q.heap[0].due.After(now) {
		it := heap.Pop(&q.heap).(*retentionItem)
		delete(q.items, it.tp)
		out = append(out, it.tp)
	}
	return out
}

// size is how many partitions are scheduled.
func (q *retentionQueue) size() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.heap)
}

type retentionHeap []*retentionItem

func (h retentionHeap) Len() int           { return len(h) }
func (h retentionHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h retentionHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *retentionHeap) Push(x any) {
	it := x.(*retentionItem)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *retentionHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}

// scheduleOpened makes a partition just opened due at the next check when
// its log holds records (a restart: its segments may have expired while
// the broker was down); an empty log waits for OnRetentionDue.
func (m *Manager) scheduleOpened(p *Partition) {
	if p.log.LogEndOffset() > p.log.LogStartOffset() {
		m.retention.schedule(TopicPartition{p.Topic, p.Index}, time.Time{})
	}
}

// applyRetention runs retention and producer-ID expiry on the partitions
// due, then schedules each again for when its log says it may next have
// work.
func (m *Manager) applyRetention(img *cluster.Image) {
	now := m.cfg.Now()
	producerExpiry := time.Duration(m.cfg.BrokerConfig(img).Int64("producer.id.expiration.ms")) * time.Millisecond
	for _, tp := range m.retention.popDue(now) {
		p, ok := m.Partition(tp.Topic, tp.Partition)
		if !ok {
			continue
		}
		if n := p.log.ExpireProducers(now, producerExpiry); n > 0 {
			m.logger.Debug("expired idle producer IDs", "topic", p.Topic, "partition", p.Index, "producers", n)
		}
		n, err := p.log.ApplyRetention()
		switch {
		case err != nil && !errors.Is(err, log.ErrClosed) && !errors.Is(err, log.ErrOffline): // offline: reported once
			m.logger.Error("retention", "topic", p.Topic, "partition", p.Index, "err", err)
		case n > 0:
			m.logger.Info("retention deleted segments", "topic", p.Topic, "partition", p.Index, "segments", n, "log_start_offset", p.LogStartOffset())
		}
		if due, ok := p.log.NextRetention(now, producerExpiry); ok {
			// Never sooner than the next check: a log due now (under
			// retention.bytes) is checked once per interval, as in Kafka.
			m.retention.schedule(tp, due)
		}
	}
}
