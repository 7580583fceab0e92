package mirror

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/ctxtime"
	"github.com/sluice-io/sluice/internal/record"
)

// partition is one mirrored partition. The identity fields are fixed; the
// rest is guarded by Mirror.mu.
type partition struct {
	srcTopic string
	srcID    kadm.TopicID
	index    int32
	dstTopic string

	dstID     kadm.TopicID
	srcLeader int32
	dstLeader int32
	// next is the next source offset to copy: the target's end offset as
	// far as it has acknowledged, -1 until read from the target.
	next int64
	// fetchNext is where the next fetch starts: past next while an
	// append is in flight, back to next when one fails, and up to the
	// source's log start when the records before it expired uncopied.
	fetchNext int64
	// copiedEnd is the target's end once the appends collected so far
	// succeed: fetchNext without a jump to the source's log start. A
	// fetched batch must not start below it.
	copiedEnd int64
	srcEnd    int64 // the source's high watermark at the last fetch, -1 unknown
	// srcStart is the source's log start offset at the last fetch;
	// dstStart the target's, as its last answer said; askedStart the
	// last one sent without batches (-1 none yet). The target's log start
	// follows the source's (config.MirrorLogStartTag).
	srcStart, dstStart, askedStart int64
	records                        int64 // records copied by this process
	bytes                          int64 // bytes copied by this process
	err                            string
	stopped                        string // why copying stopped for good, "" while it runs
	lastCopy                       time.Time
	// failures counts the fetches in a row that failed for this
	// partition alone; it is left out of fetches until retryAt, and its
	// error is logged at most once per partitionErrLogEvery (loggedAt).
	failures          int
	retryAt, loggedAt time.Time
}

// The backoff of a partition whose fetches fail: it doubles from
// partitionBackoffMin up to partitionBackoffMax; a persistent error is
// logged once per partitionErrLogEvery.
const (
	partitionBackoffMin  = 100 * time.Millisecond
	partitionBackoffMax  = 5 * time.Second
	partitionErrLogEvery = 30 * time.Second
)

// workers are the copy loops, one per source broker leading mirrored
// partitions. They are replaced as a whole when the assignment changes.
type workers struct {
	m      *Mirror
	key    string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newWorkers(m *Mirror) *workers { return &workers{m: m} }

// set runs one copy loop per source leader of assign, restarting them all
// if the assignment changed.
func (w *workers) set(ctx context.Context, assign map[int32][]*partition) {
	var keys []string
	for leader, parts := range assign {
		for _, p := range parts {
			keys = append(keys, fmt.Sprintf("%d:%s/%d:%p", leader, p.dstTopic, p.index, p))
		}
	}
	sort.Strings(keys)
	key := strings.Join(keys, ",")
	if key == w.key {
		return
	}
	w.stop()
	w.key = key
	cctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	for leader, parts := range assign {
		if leader < 0 {
			continue // no source leader now: the next refresh finds one
		}
		for i, group := range splitParts(parts, len(w.m.streams)) {
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				w.m.copyLoop(cctx, w.m.streams[i], leader, group)
			}()
		}
	}
}

// splitParts deals parts out to at most n copy loops, round robin in
// partition order, so that the partitions of one topic spread over them.
func splitParts(parts []*partition, n int) [][]*partition {
	sorted := slices.Clone(parts)
	slices.SortFunc(sorted, func(a, b *partition) int {
		if c := strings.Compare(a.dstTopic, b.dstTopic); c != 0 {
			return c
		}
		return int(a.index - b.index)
	})
	n = max(min(n, len(sorted)), 1)
	out := make([][]*partition, n)
	for i, p := range sorted {
		out[i%n] = append(out[i%n], p)
	}
	return out
}

// stop ends every copy loop and waits for them.
func (w *workers) stop() {
	if w.cancel != nil {
		w.cancel()
		w.wg.Wait()
		w.cancel = nil
	}
	w.key = ""
}

// copyLoop copies parts, all led by source broker leader, until ctx ends:
// fetch their batches from the source as they are (read_uncommitted, so
// transaction markers and aborted records come too, as a follower sees
// them), then append them to the target at their own offsets, through
// the clients of stream st.
func (m *Mirror) copyLoop(ctx context.Context, st stream, leader int32, parts []*partition) {
	logger := m.logger.With("source_broker", leader)
	// The resume point is the target's end offset, read at every start:
	// whatever this process believed before, the target's log decides.
	for attempt := 1; ctx.Err() == nil; attempt++ {
		err := m.loadPositions(ctx, parts)
		if err == nil {
			break
		}
		// A mirror topic just created has no leader for a moment.
		if attempt%10 == 0 {
			logger.Warn("read the mirror topics' end offsets; retrying", "err", err)
		}
		ctxtime.Sleep(ctx, min(time.Duration(attempt)*50*time.Millisecond, time.Second))
	}
	// One append may be in flight while the next fetch runs (the copy's
	// pipeline); appends go out one at a time, in order.
	var inflight chan struct{}
	wait := func() {
		if inflight != nil {
			<-inflight
			inflight = nil
		}
	}
	defer wait()
	failures := 0
	for ctx.Err() == nil {
		req, byKey, retryAt := m.fetchRequest(parts)
		if req == nil {
			wait()
			if req, byKey, retryAt = m.fetchRequest(parts); req == nil {
				if retryAt.IsZero() {
					<-ctx.Done() // every partition stopped
					return
				}
				ctxtime.Sleep(ctx, time.Until(retryAt)) // every running partition backs off
				continue
			}
		}
		resp, err := st.src.Broker(int(leader)).Request(ctx, req)
		if err == nil {
			err = kerr.ErrorForCode(resp.(*kmsg.FetchResponse).ErrorCode)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			wait()
			failures++
			m.noteErr(parts, fmt.Sprintf("fetch from source broker %d: %v", leader, err))
			if failures == 1 || failures%30 == 0 {
				logger.Warn("fetch from the source failed; retrying", "err", err, "failures", failures)
			}
			m.refreshSoon()
			ctxtime.Sleep(ctx, min(time.Duration(failures)*200*time.Millisecond, 2*time.Second))
			continue
		}
		if failures > 0 {
			logger.Info("fetching from the source again", "after_failures", failures)
			failures = 0
		}
		appends := m.takeFetched(ctx, resp.(*kmsg.FetchResponse), byKey)
		wait()
		if len(appends) > 0 {
			done := make(chan struct{})
			inflight = done
			go func() {
				defer close(done)
				m.appendAll(ctx, st.dst, appends)
			}()
		}
	}
}

// loadPositions sets each partition's next offset to the target's end
// offset (its high watermark: what the target has acknowledged).
func (m *Mirror) loadPositions(ctx context.Context, parts []*partition) error {
	var topics []string
	for _, p := range parts {
		if !slices.Contains(topics, p.dstTopic) {
			topics = append(topics, p.dstTopic)
		}
	}
	ends, err := m.dstAdm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range parts {
		o, ok := ends.Lookup(p.dstTopic, p.index)
		if !ok {
			return fmt.Errorf("no end offset for %s/%d", p.dstTopic, p.index)
		}
		if o.Err != nil {
			return fmt.Errorf("end offset of %s/%d: %w", p.dstTopic, p.index, o.Err)
		}
		p.next, p.fetchNext, p.copiedEnd = o.Offset, o.Offset, o.Offset
	}
	return nil
}

// fetchKey finds a fetched partition by topic ID (Fetch v13 and later) or
// name.
type fetchKey struct {
	id    kadm.TopicID
	topic string
	part  int32
}

// fetching is a partition in a fetch request, at the offset asked for.
type fetching struct {
	p      *partition
	offset int64
}

// fetchRequest builds a fetch of every running partition at its next
// offset, leaving out those backing off after failures. With none to
// fetch it returns nil, and the earliest time one backing off may be
// fetched again (zero when every partition stopped).
func (m *Mirror) fetchRequest(parts []*partition) (*kmsg.FetchRequest, map[fetchKey]fetching, time.Time) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 500
	req.MinBytes = 1
	req.MaxBytes = m.cfg.FetchMaxBytes
	req.IsolationLevel = 0 // read_uncommitted: markers and aborted batches are copied as they are
	req.SessionEpoch = -1  // no fetch session: every request names its partitions
	byKey := map[fetchKey]fetching{}
	var retryAt time.Time
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range parts {
		if p.stopped != "" || p.next < 0 {
			continue
		}
		if now.Before(p.retryAt) {
			if retryAt.IsZero() || p.retryAt.Before(retryAt) {
				retryAt = p.retryAt
			}
			continue
		}
		if p.fetchNext < p.next {
			p.fetchNext = p.next
		}
		if p.copiedEnd < p.next {
			p.copiedEnd = p.next
		}
		i := slices.IndexFunc(req.Topics, func(t kmsg.FetchRequestTopic) bool { return t.Topic == p.srcTopic })
		if i < 0 {
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = p.srcTopic, p.srcID
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
		}
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition = p.index
		fp.CurrentLeaderEpoch = -1
		fp.FetchOffset = p.fetchNext
		fp.LastFetchedEpoch = -1
		fp.LogStartOffset = -1
		fp.PartitionMaxBytes = m.cfg.PartitionMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, fp)
		f := fetching{p, p.fetchNext}
		byKey[fetchKey{id: p.srcID, part: p.index}] = f
		byKey[fetchKey{topic: p.srcTopic, part: p.index}] = f
	}
	if len(byKey) == 0 {
		return nil, nil, retryAt
	}
	return req, byKey, time.Time{}
}

// pendingAppend is one partition's copied batches on their way to the
// target.
type pendingAppend struct {
	p       *partition
	batches []byte
	start   int64 // the target's end when it is sent
	end     int64 // the offset after the last batch, -1 for a log start alone
	records int64
	// logStart is the source's log start offset for the target to
	// follow, -1 when the target has it already.
	logStart int64
}

// takeFetched turns a fetch response into appends, handling each
// partition's errors.
func (m *Mirror) takeFetched(ctx context.Context, resp *kmsg.FetchResponse, byKey map[fetchKey]fetching) []pendingAppend {
	var out []pendingAppend
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			f, ok := byKey[fetchKey{id: rt.TopicID, part: rp.Partition}]
			if rt.Topic != "" {
				f, ok = byKey[fetchKey{topic: rt.Topic, part: rp.Partition}]
			}
			if !ok {
				continue
			}
			p := f.p
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil && !errors.Is(err, kerr.OffsetOutOfRange) {
				m.partitionFailed(p, fmt.Sprintf("fetch: %v", err))
				m.refreshSoon() // NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_ID...: the source moved; look at it again
				continue
			}
			if errors.Is(kerr.ErrorForCode(rp.ErrorCode), kerr.OffsetOutOfRange) {
				m.outOfRange(ctx, p, f.offset)
				continue
			}
			if a, ok := m.collect(p, f.offset, rp); ok {
				out = append(out, a)
			}
		}
	}
	return out
}

// collect keeps the whole batches of a partition fetched from offset that
// end at or past it. offset is past the target's end (copiedEnd) when the
// records between expired on the source uncopied: the first batch then
// holds the source's log start and may begin before offset, and is copied
// whole, as a Kafka follower appends the leader's batch that holds its log
// start, unless the target's end falls inside it.
func (m *Mirror) collect(p *partition, offset int64, rp *kmsg.FetchResponseTopicPartition) (pendingAppend, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p.srcEnd = rp.HighWatermark
	p.srcStart = rp.LogStartOffset
	p.failures, p.retryAt = 0, time.Time{}
	a := pendingAppend{p: p, start: p.copiedEnd, end: -1, logStart: -1}
	if p.fetchNext != offset {
		return a, false // an append failed meanwhile: fetch again from its start
	}
	if rp.LogStartOffset > p.dstStart {
		a.logStart = rp.LogStartOffset
	}
	start := -1
	pos := 0
	err := record.Batches(rp.RecordBatches, true, func(h record.Header, batch []byte) error {
		defer func() { pos += len(batch) }()
		if h.LastOffset() < offset {
			return nil
		}
		if start < 0 && h.BaseOffset < p.copiedEnd {
			return fmt.Errorf("source batch [%d, %d] starts before the mirror's end offset %d: the source's batches no longer line up with the mirror's", h.BaseOffset, h.LastOffset(), p.copiedEnd)
		}
		if start < 0 {
			start = pos
		}
		a.end = h.LastOffset() + 1
		a.records += int64(h.RecordCount)
		return nil
	})
	if err != nil {
		p.stopped = err.Error()
		m.logger.Error("stopped mirroring partition", "topic", p.dstTopic, "partition", p.index, "reason", p.stopped)
		return a, false
	}
	if start < 0 {
		// Nothing new to copy; the source's log start may have moved
		// (retention, DeleteRecords): send it alone, once it is taken.
		// At or past the target's end, the target starts its log over
		// there (replica.Partition.MirrorLogStart).
		if a.logStart < 0 || a.logStart <= p.askedStart {
			return a, false
		}
		return a, true
	}
	end := start
	_ = record.Batches(rp.RecordBatches[start:], true, func(_ record.Header, batch []byte) error {
		end += len(batch)
		return nil
	})
	a.batches = rp.RecordBatches[start:end]
	p.fetchNext, p.copiedEnd = a.end, a.end
	return a, true
}

// partitionFailed records a failure of p alone: it backs off, doubling up
// to partitionBackoffMax, and a persistent error is logged once per
// partitionErrLogEvery. The caller does not hold m.mu.
func (m *Mirror) partitionFailed(p *partition, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p.err = msg
	p.failures++
	now := time.Now()
	p.retryAt = now.Add(min(partitionBackoffMin<<min(p.failures-1, 10), partitionBackoffMax))
	if now.Sub(p.loggedAt) >= partitionErrLogEvery {
		p.loggedAt = now
		m.logger.Warn("fetching a partition from the source fails; retrying", "topic", p.dstTopic, "partition", p.index,
			"err", msg, "failures", p.failures)
	}
}

// outOfRange handles a fetch offset the source does not have: below its
// log start (retention deleted records before they were copied: they are
// lost, the fetch goes on from the log start, and the target follows the
// source's log start past the gap), or past its end (the source lost
// acknowledged records or is not the same log: the partition stops).
func (m *Mirror) outOfRange(ctx context.Context, p *partition, offset int64) {
	starts, err := m.srcAdm.ListStartOffsets(ctx, p.srcTopic)
	if err != nil {
		m.partitionFailed(p, fmt.Sprintf("offset out of range; list source start offsets: %v", err))
		return
	}
	ends, err := m.srcAdm.ListEndOffsets(ctx, p.srcTopic)
	if err != nil {
		m.partitionFailed(p, fmt.Sprintf("offset out of range; list source end offsets: %v", err))
		return
	}
	so, ok1 := starts.Lookup(p.srcTopic, p.index)
	eo, ok2 := ends.Lookup(p.srcTopic, p.index)
	if !ok1 || !ok2 || so.Err != nil || eo.Err != nil {
		m.partitionFailed(p, fmt.Sprintf("offset %d out of range; the source's offsets are unknown", offset))
		m.refreshSoon()
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.fetchNext != offset {
		return // an append failed meanwhile: fetch again from its start
	}
	switch {
	case offset < so.Offset:
		m.logger.Warn("records expired on the source before they were mirrored; continuing after the gap",
			"topic", p.dstTopic, "partition", p.index, "from", offset, "to", so.Offset)
		p.fetchNext = so.Offset
	case offset > eo.Offset:
		p.stopped = fmt.Sprintf("the mirror holds records up to offset %d but the source ends at %d: the source lost acknowledged records (an unclean leader election) or is another log; promote or delete the mirror topic", offset, eo.Offset)
		m.logger.Error("stopped mirroring partition", "topic", p.dstTopic, "partition", p.index, "reason", p.stopped)
	}
}

// noteErr records the latest error of parts, for Status.
func (m *Mirror) noteErr(parts []*partition, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range parts {
		p.err = msg
	}
}

// appendAll sends the appends to their target leaders, one request per
// leader, all at once, and moves each partition's next offset past what
// the target acknowledged.
func (m *Mirror) appendAll(ctx context.Context, dst *kgo.Client, appends []pendingAppend) {
	byLeader := map[int32][]pendingAppend{}
	m.mu.Lock()
	for _, a := range appends {
		// Only a copy that starts where the target ends: after a failed
		// append the target ends before it, and sending it would leave
		// a gap where the source has records.
		if a.start != a.p.next || a.p.stopped != "" {
			a.p.rewind()
			continue
		}
		byLeader[a.p.dstLeader] = append(byLeader[a.p.dstLeader], a)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for leader, as := range byLeader {
		if leader < 0 {
			m.noteErr(partsOf(as), "no leader on the target")
			m.refreshSoon()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.appendTo(ctx, dst, leader, as)
		}()
	}
	wg.Wait()
}

// rewind makes the next fetch start at the target's end, after an append
// that failed or was not sent. The caller holds Mirror.mu.
func (p *partition) rewind() {
	p.fetchNext, p.copiedEnd = p.next, p.next
}

func partsOf(as []pendingAppend) []*partition {
	out := make([]*partition, len(as))
	for i, a := range as {
		out[i] = a.p
	}
	return out
}

// appendTo sends one mirror append to target broker leader.
func (m *Mirror) appendTo(ctx context.Context, dst *kgo.Client, leader int32, as []pendingAppend) {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 30000
	req.UnknownTags.Set(config.MirrorAppendTag, nil)
	for _, a := range as {
		i := slices.IndexFunc(req.Topics, func(t kmsg.ProduceRequestTopic) bool { return t.Topic == a.p.dstTopic })
		if i < 0 {
			t := kmsg.NewProduceRequestTopic()
			t.Topic, t.TopicID = a.p.dstTopic, a.p.dstID
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
		}
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Partition = a.p.index
		pp.Records = a.batches
		if a.logStart >= 0 {
			pp.UnknownTags.Set(config.MirrorLogStartTag, binary.BigEndian.AppendUint64(nil, uint64(a.logStart)))
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, pp)
	}
	resp, err := dst.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		m.mu.Lock()
		for _, a := range as {
			a.p.rewind()
		}
		m.mu.Unlock()
		if ctx.Err() == nil {
			m.noteErr(partsOf(as), fmt.Sprintf("append to target broker %d: %v", leader, err))
			m.refreshSoon()
			ctxtime.Sleep(ctx, 500*time.Millisecond)
		}
		return
	}
	results := map[tp]kmsg.ProduceResponseTopicPartition{}
	for _, t := range resp.(*kmsg.ProduceResponse).Topics {
		for _, p := range t.Partitions {
			results[tp{t.Topic, p.Partition}] = p
		}
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range as {
		r, ok := results[tp{a.p.dstTopic, a.p.index}]
		if !ok {
			a.p.err = "the target's answer left the partition out"
			a.p.rewind()
			continue
		}
		err := kerr.ErrorForCode(r.ErrorCode)
		msg := ""
		if r.ErrorMessage != nil {
			msg = " (" + *r.ErrorMessage + ")"
		}
		switch {
		case err == nil:
			if a.end >= 0 {
				a.p.next = a.end
			} else {
				a.p.askedStart = a.logStart // sent alone: not again until the source's moves
			}
			if r.LogStartOffset >= 0 {
				a.p.dstStart = r.LogStartOffset
				// The target started its log over at the source's log
				// start, past its end (replica.Partition.MirrorLogStart).
				a.p.next = max(a.p.next, r.LogStartOffset)
			}
			a.p.records += a.records
			a.p.bytes += int64(len(a.batches))
			a.p.err = ""
			a.p.lastCopy = now
		case len(a.batches) == 0 && (errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.InvalidRequest)):
			// A target that does not take the source's log start
			// offset (an older Sluice): copy records without it.
			a.p.dstStart, a.p.askedStart = math.MaxInt64, math.MaxInt64
			m.logger.Warn("the target does not follow the source's log start offset", "topic", a.p.dstTopic, "partition", a.p.index, "err", err)
		case errors.Is(err, kerr.InvalidTopicException):
			// Promoted (or no longer a mirror): this is the end.
			a.p.stopped = fmt.Sprintf("the target refused the copy: %v%s", err, msg)
			m.logger.Info("stopped mirroring partition", "topic", a.p.dstTopic, "partition", a.p.index, "reason", a.p.stopped)
		case errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.CorruptMessage):
			a.p.stopped = fmt.Sprintf("the target refused the copied batches: %v%s", err, msg)
			m.logger.Error("stopped mirroring partition", "topic", a.p.dstTopic, "partition", a.p.index, "reason", a.p.stopped)
		default:
			a.p.err = fmt.Sprintf("append: %v%s", err, msg)
			a.p.rewind()
			m.refreshSoon()
		}
	}
}
