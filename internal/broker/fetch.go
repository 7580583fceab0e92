package broker

// Fetch, versions 4-16, for consumers and followers. Only the leader
// answers (NOT_LEADER_OR_FOLLOWER elsewhere; KIP-392 fetching from a
// follower is not supported), after checking the fetcher's current leader
// epoch (KIP-320). A consumer (replica ID -1) gets whole stored batches from
// the requested offset up to the high watermark; the client skips records
// before its offset inside the first batch. A follower (replica ID >= 0:
// ReplicaID before v15, ReplicaState.ReplicaID from v15) reads up to the log
// end offset, and its fetch offset tells the leader how far it has
// replicated, which moves the high watermark and the ISR. As in Kafka
// (KIP-74), only the first partition read with data may exceed the
// request's max_bytes or its partition_max_bytes, by returning its first
// batch whole; every other partition gets at most min(partition_max_bytes,
// what is left of max_bytes), and nothing when its first batch does not
// fit (Kafka's firstEntryIncomplete). Sluice returns whole batches only,
// where Kafka's byte range may end with part of a batch, which clients
// discard. A fetch with too little data waits up to
// max_wait_ms: it registers one watcher with every partition it reads and,
// woken, reads again only the partitions that changed.
//
// Fetch sessions (KIP-227, fetch_session.go): a full fetch with session
// epoch 0 creates a session (room permitting) and the response carries its
// ID; incremental fetches list only changed partitions and get back only
// partitions with news. v13+ name topics by ID. read_committed (isolation
// level 1) reads up to the last stable offset and lists the aborted
// transactions that overlap the batches returned, so the client drops
// their records (KIP-98).
//
// Replication throttles (KIP-73, replica/throttle.go): a follower outside
// the ISR of a partition whose replica here is listed in
// leader.replication.throttled.replicas gets no records of it while this
// broker's leader.replication.throttled.rate is exceeded; the bytes sent
// of such partitions are recorded in that rate.
//
// Quotas (quotas.go): a consumer with a consumer_byte_rate quota reads at
// most what the quota allows over quota.window.num - 1 windows in one
// fetch; a consumer over its fetch or request quota is answered at once
// with no records and throttle_time_ms, and the bytes it would have got
// do not count against it, as Kafka answers a throttled fetch.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
)

// readBufSize is the most one partition's read takes from the pooled
// chunks: the default partition_max_bytes. Larger reads allocate.
const readBufSize = 1 << 20

// readChunkSize is the size of the pooled chunks fetch reads go into. The
// partitions of one response share chunks: each read takes only the bytes
// it returned, so a response of many partitions with little data each
// holds one chunk, not a buffer per partition.
const readChunkSize = 2 * readBufSize

// Fetch memory is bounded broker-wide: the chunks in use by every
// response in flight are at most fetchChunksInUse (a response whose first
// read needs a chunk always gets one, so every fetch makes progress), and
// at most fetchChunksIdle stay pooled between fetches. A response that
// finds the chunks taken stops reading more partitions, as when it reaches
// its max_bytes: Kafka's responses may always carry less. Without the
// bound, a consumer of many partitions made the broker hold two or more
// 50 MiB responses at once (chunks plus the encoded copy), kept in a
// sync.Pool until two garbage collections, which an idle broker does not
// run for minutes.
const (
	fetchChunksInUse = 16 // 32 MiB of records in flight
	fetchChunksIdle  = 4
)

// chunkPool hands out read chunks of readChunkSize within the bound above.
type chunkPool struct {
	mu    sync.Mutex
	inUse int
	idle  []*[]byte
}

// get returns a chunk, or nil when fetchChunksInUse are in use and force
// is not set.
func (p *chunkPool) get(force bool) *[]byte {
	p.mu.Lock()
	if p.inUse >= fetchChunksInUse && !force {
		p.mu.Unlock()
		return nil
	}
	p.inUse++
	if n := len(p.idle); n > 0 {
		bp := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return bp
	}
	p.mu.Unlock()
	buf := make([]byte, readChunkSize)
	return &buf
}

// put returns a chunk: kept for reuse when fewer than fetchChunksIdle are,
// else left to the garbage collector.
func (p *chunkPool) put(bp *[]byte) {
	p.mu.Lock()
	p.inUse--
	if len(p.idle) < fetchChunksIdle {
		p.idle = append(p.idle, bp)
	}
	p.mu.Unlock()
}

// fetchBuffers are the pooled chunks one fetch response refers to.
type fetchBuffers struct {
	pool *chunkPool
	bufs []*[]byte
	free []byte // the unused tail of the newest chunk
}

// get returns room for a read of up to n bytes in a pooled chunk, or nil
// when n is larger than readBufSize (the read allocates). ok is false when
// the broker's fetch chunks are all in use and this response holds one
// already: it reads no more partitions. Call took with what the read used.
func (f *fetchBuffers) get(n int) (buf []byte, ok bool) {
	if n > readBufSize {
		return nil, true
	}
	if len(f.free) < n {
		bp := f.pool.get(len(f.bufs) == 0)
		if bp == nil {
			return nil, false
		}
		f.bufs = append(f.bufs, bp)
		f.free = *bp
	}
	return f.free[:n:n], true
}

// holds is the memory a response of size bytes of records holds: its
// chunks, and what reads larger than a chunk allocated (at most size).
func (f *fetchBuffers) holds(size int) int64 {
	return int64(len(f.bufs))*readChunkSize + int64(size)
}

// took marks the first len(data) bytes of buf, the room get returned, as
// used when data was read into it.
func (f *fetchBuffers) took(buf, data []byte) {
	if len(data) > 0 && len(buf) > 0 && &data[0] == &buf[0] {
		f.free = f.free[len(data):]
	}
}

func (f *fetchBuffers) release() {
	for _, bp := range f.bufs {
		f.pool.put(bp)
	}
	f.bufs = f.bufs[:0]
	f.free = nil
}

func (b *Broker) fetch(ctx context.Context, c *Client, r kmsg.Request) Reply {
	req := r.(*kmsg.FetchRequest)
	// max_bytes as asked, even 0 (the first batch alone, KIP-74); before
	// v3 there is none.
	maxBytes := max(int(req.MaxBytes), 0)
	if req.Version < 3 {
		maxBytes = 50 << 20
	}
	img := b.cfg.Cluster.Image()
	bcfg := b.brokerConfig(img)
	if cap := int(bcfg.Int64("fetch.max.bytes")); maxBytes > cap {
		maxBytes = cap
	}
	replicaID, replicaEpoch := req.ReplicaID, int64(-1)
	if req.Version >= 15 {
		replicaID, replicaEpoch = req.ReplicaState.ID, req.ReplicaState.Epoch
	}
	// A consumer's quotas (quotas.go): nil for followers and without any.
	qc := quotaCallFrom(ctx)
	maxBytes = b.fetchMaxBytes(qc, maxBytes)
	fc, code := b.sessions.open(req, replicaID >= 0, b.cfg.Now())
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = code
		return Reply{Response: resp}
	}
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	f := &fetchRead{b: b, req: req, replica: replicaID, replicaEpoch: replicaEpoch, listener: c.Listener, maxBytes: maxBytes, bufs: &fetchBuffers{pool: &b.readBufs}}
	if bcfg.RackAwareReads() { // read_replica.go
		if replicaID < 0 && req.Version >= 11 {
			f.rack = req.Rack
		}
		f.tellHW = replicaID >= 0
	}
	if b.authz != nil {
		// Authorization (authorize.go): a follower needs CLUSTER_ACTION
		// and nothing more, a consumer READ on each topic.
		switch {
		case replicaID < 0:
			f.authorize = func(topic string) bool { return b.allowed(ctx, c, img.ACLs, acl.OpRead, acl.ResourceTopic, topic) }
		case !b.clusterAllowed(ctx, c, img.ACLs, acl.OpClusterAction):
			f.authorize = func(string) bool { return false }
		}
	}
	for i := range fc.items {
		f.read(img, &fc.items[i], true)
	}
	var waited time.Duration
	if f.readable < int(req.MinBytes) && !f.failed && !f.answerNow && anyReadable(fc.items) && time.Now().Before(deadline) {
		if f.size == 0 {
			f.bufs.release() // nothing read refers to them: a waiting fetch holds no chunk
		}
		waitStart := time.Now()
		if !f.wait(ctx, fc.items, deadline) {
			f.bufs.release()
			return Reply{Response: req.ResponseKind()}
		}
		waited = time.Since(waitStart)
	}
	if qc != nil && b.recordFetch(qc, f.size, waited) > 0 {
		// Over a quota: answered at once with no records and the
		// throttle time (set by the caller), as Kafka answers a
		// throttled fetch; the session stays as it was.
		f.bufs.release()
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.SessionID, resp.ErrorCode = b.sessions.throttled(fc)
		return Reply{Response: resp}
	}
	for i := range fc.items {
		f.refresh(&fc.items[i])
	}
	id, code := b.sessions.finish(fc, b.cfg.Now(), int(bcfg.Int64("max.incremental.fetch.session.cache.slots")))
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SessionID, resp.ErrorCode = id, code
	if code == 0 {
		if f.throttled {
			f.recordThrottled(fc.items)
		}
		fillFetchResponse(resp, fc.items)
		if f.tellHW {
			for i := range fc.items {
				if it := &fc.items[i]; it.part != nil && it.errCode == 0 {
					it.part.ToldHW(replicaID, it.hw)
				}
			}
		}
	}
	return Reply{Response: resp, Release: f.bufs.release, Holds: f.bufs.holds(f.size)}
}

// recordThrottled adds the bytes answered for leader-throttled partitions
// to the leader replication rate, in or out of the ISR, as Kafka records
// them (KafkaApis.sizeOfThrottledPartitions).
func (f *fetchRead) recordThrottled(items []fetchItem) {
	n := 0
	for i := range items {
		if it := &items[i]; it.throttled && it.include {
			n += len(it.records)
		}
	}
	f.b.cfg.Replicas.LeaderThrottle().Record(n)
}

// throttled is the session ID and error code of a fetch answered empty
// because its client is over a quota (Kafka's getThrottledResponse): a
// full fetch creates no session; an incremental one leaves its session as
// it was, but for the epoch it moved to.
func (c *fetchSessions) throttled(fc *fetchContext) (int32, int16) {
	if fc.mode != sessionIncremental {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fc.session.epoch != fc.epoch {
		return fc.session.id, kerr.InvalidFetchSessionEpoch.Code
	}
	return fc.session.id, 0
}

// fetchRead is one fetch request's reading state.
type fetchRead struct {
	b       *Broker
	req     *kmsg.FetchRequest
	replica int32 // >= 0 for a follower
	// replicaEpoch is the follower's broker epoch (v15+), -1 unknown.
	replicaEpoch int64
	maxBytes     int
	bufs         *fetchBuffers
	size         int  // record bytes gathered
	readable     int  // bytes toward min_bytes (fetchItem.readable)
	failed       bool // a partition failed: answer at once
	// throttled is set once a partition read is a leader-throttled
	// replica (KIP-73).
	throttled bool
	// rack is a consumer's client.rack when this broker may send it to a
	// follower (read_replica.go). tellHW, where consumers read from
	// followers, answers a follower at once when it lacks the high
	// watermark. answerNow is set once either has something to say.
	rack       string
	listener   string
	candidates []replica.ReadReplica // preferredReadReplica's scratch
	tellHW     bool
	answerNow  bool
	// authorize, when set, reports whether a topic may be read.
	authorize func(topic string) bool
}

// read (re)reads one partition into it. A follower's (replica >= 0)
// progress is recorded on the first read of the request only.
func (f *fetchRead) read(img *cluster.Image, it *fetchItem, first bool) {
	f.size -= len(it.records)
	f.readable -= it.readable
	it.part, it.errCode, it.records, it.aborted, it.readable = nil, 0, nil, nil, 0
	it.hw, it.lso, it.logStart, it.leo = -1, -1, -1, -1
	it.preferred = -1
	it.throttled = false
	var t *cluster.Topic
	if f.req.Version >= 13 {
		t = img.TopicsByID.Value(cluster.TopicID(it.topicID))
	} else {
		t = img.Topics.Value(it.topic)
	}
	if f.authorize != nil {
		name := it.topic
		if t != nil {
			name = t.Name
		}
		if (t != nil || f.req.Version < 13) && !f.authorize(name) {
			// As an unknown topic below, this does not end the wait of
			// the partitions that can be read (Kafka's erroneous
			// partitions).
			it.errCode = kerr.TopicAuthorizationFailed.Code
			return
		}
	}
	rp := &kmsg.FetchRequestTopicPartition{Partition: it.partition, CurrentLeaderEpoch: it.leaderEpoch}
	part, err := f.b.fetchPartition(t, f.req.Version, rp, f.replica < 0)
	if err == nil && f.replica >= 0 && first {
		err = part.FollowerFetched(f.replica, f.replicaEpoch, it.fetchOffset, it.logStartOffset, f.b.cfg.Now())
	}
	if err != nil {
		it.errCode = errorCode(err)
		// A topic or partition the metadata does not know is answered
		// with the others, when they are; one this broker cannot serve
		// (not the leader, another epoch) answers the fetch at once.
		f.failed = f.failed || !errors.Is(err, kerr.UnknownTopicID) && !errors.Is(err, kerr.UnknownTopicOrPartition)
		return
	}
	it.part, it.leading = part, part.IsLeader()
	if f.rack != "" && it.leading {
		if id := f.b.preferredReadReplica(img, part, f.rack, f.listener, it.fetchOffset, &f.candidates); id >= 0 {
			it.preferred = id
			it.hw, it.lso, it.logStart = part.HighWatermark(), part.LastStableOffset(), part.LogStartOffset()
			f.answerNow = true
			return
		}
	}
	it.hw, it.lso, it.logStart, it.leo = part.HighWatermark(), part.LastStableOffset(), part.LogStartOffset(), part.LogEndOffset()
	readCommitted := f.replica < 0 && f.req.IsolationLevel == 1
	// upper is where the read stops: what counts as more to read when
	// min_bytes is judged below.
	read, upper := part.ReadInto, it.hw
	switch {
	case f.replica >= 0:
		read, upper = part.ReadToEnd, it.leo
	case readCommitted:
		read = func(buf []byte, offset int64, maxBytes int) ([]byte, error) {
			b, _, err := part.ReadCommitted(buf, offset, maxBytes)
			return b, err
		}
		upper = it.lso
	}
	if f.tellHW && part.FollowerLacksHW(f.replica, it.hw) {
		f.answerNow = true
	}
	if f.replica >= 0 && part.LeaderThrottled() {
		// Kafka's shouldLeaderThrottle: in-sync followers are never
		// throttled.
		it.throttled, f.throttled = true, true
		if !part.InSync(f.replica) && f.b.cfg.Replicas.LeaderThrottle().Exceeded() {
			return
		}
	}
	limit := min(int(it.maxBytes), f.maxBytes-f.size)
	// KIP-74: the first partition with data (none holds any yet) gets its
	// first batch whole; the others stay within limit.
	wholeFirst := f.size == 0
	if limit <= 0 && !wholeFirst {
		return
	}
	buf, ok := f.bufs.get(max(limit, 1))
	if !ok {
		return // fetch memory is in use: the partition's data waits for the next fetch
	}
	data, err := read(buf, it.fetchOffset, max(limit, 1))
	if err == nil && len(data) > limit && !wholeFirst {
		// The log returned its first batch whole, and it does not fit.
		data = nil
	}
	f.bufs.took(buf, data)
	if err == nil && readCommitted {
		it.aborted, err = abortedIn(part, it.fetchOffset, data)
	}
	if err != nil {
		if !errors.Is(err, log.ErrOffsetOutOfRange) {
			f.b.logger.Debug("fetch read", "topic", part.Topic, "partition", part.Index, "offset", it.fetchOffset, "err", err)
		}
		it.errCode = errorCode(err)
		it.aborted = nil
		f.failed = true
		return
	}
	if len(data) > 0 {
		it.records = data
	}
	f.size += len(data)
	it.readable = len(data)
	if f.readable+len(data) < int(f.req.MinBytes) {
		// Only a fetch still short of min_bytes needs to know whether
		// the partition held more than it gave: then it counts as much
		// as it could have given, as Kafka's reads of exactly the limit
		// do. A fetch of min_bytes at or above a partition's limit would
		// otherwise wait out max_wait with data at hand.
		if nextOffset(data, it.fetchOffset) < upper {
			it.readable = max(limit, len(data))
		}
	}
	f.readable += it.readable
}

// nextOffset is the offset after the batches of data, read from from.
func nextOffset(data []byte, from int64) int64 {
	next := from
	_ = record.Batches(data, true, func(h record.Header, _ []byte) error {
		next = h.LastOffset() + 1
		return nil
	})
	return next
}

// anyReadable reports whether a partition of items can be waited on: a
// fetch naming only topics the metadata does not know, or may not read, is
// answered at once, as in Kafka.
func anyReadable(items []fetchItem) bool {
	for i := range items {
		if items[i].part != nil {
			return true
		}
	}
	return false
}

// refresh takes the latest offsets of a partition read earlier, so a
// response that waited reports them (and an incremental one sees them
// change) without reading the partition again.
func (f *fetchRead) refresh(it *fetchItem) {
	if it.part == nil || it.errCode != 0 {
		return
	}
	it.hw, it.lso, it.logStart = it.part.HighWatermark(), it.part.LastStableOffset(), it.part.LogStartOffset()
}

// wait waits for enough data, the deadline or ctx, re-reading only the
// partitions whose watcher fired. It returns false when ctx ended.
func (f *fetchRead) wait(ctx context.Context, items []fetchItem, deadline time.Time) bool {
	w := newFetchWaiter()
	follower := f.replica >= 0
	waiting := f.b.waiting.fetchWaiting(follower)
	waiting.Add(1)
	defer waiting.Add(-1)
	watched := make(map[*replica.Partition][]int, len(items))
	watch := func(i int) {
		p := items[i].part
		if p == nil {
			return
		}
		if _, ok := watched[p]; !ok {
			p.Watch(w, follower)
			if f.tellHW {
				p.Watch(w, false) // the high watermark too
			}
		}
		watched[p] = append(watched[p], i)
	}
	defer func() {
		for p := range watched {
			p.Unwatch(w)
		}
	}()
	for i := range items {
		watch(i)
		// A change between the read and Watch is not reported: look for
		// one now (what the partition's channels would have signalled).
		it := &items[i]
		if p := it.part; p != nil && (p.HighWatermark() != it.hw || follower && p.LogEndOffset() != it.leo || p.IsLeader() != it.leading) {
			w.Notify(p)
		}
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var fired []*replica.Partition
	for f.readable < int(f.req.MinBytes) && !f.failed && !f.answerNow {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-w.c:
		}
		img := f.b.cfg.Cluster.Image()
		// Watches stay registered while the fired partitions are read
		// again, so a change during the read fires again.
		fired = w.take(fired[:0])
		for _, p := range fired {
			for _, i := range watched[p] {
				f.read(img, &items[i], false)
				if np := items[i].part; np != nil && np != p {
					watch(i) // the image now names another replica
				}
			}
		}
	}
	return true
}

// fetchWaiter is a fetch's one watcher on all the partitions it waits on.
type fetchWaiter struct {
	c     chan struct{} // a send after a partition fired
	mu    sync.Mutex
	fired map[*replica.Partition]struct{}
}

func newFetchWaiter() *fetchWaiter {
	return &fetchWaiter{c: make(chan struct{}, 1), fired: make(map[*replica.Partition]struct{})}
}

// Notify implements replica.Watcher.
func (w *fetchWaiter) Notify(p *replica.Partition) {
	w.mu.Lock()
	w.fired[p] = struct{}{}
	w.mu.Unlock()
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// take appends the partitions that fired since the last take to dst.
func (w *fetchWaiter) take(dst []*replica.Partition) []*replica.Partition {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p := range w.fired {
		dst = append(dst, p)
	}
	clear(w.fired)
	return dst
}

// fillFetchResponse lists the included items, consecutive partitions of
// one topic under one topic entry.
func fillFetchResponse(resp *kmsg.FetchResponse, items []fetchItem) {
	byID := resp.Version >= 13
	for i := range items {
		it := &items[i]
		if !it.include {
			continue
		}
		if n := len(resp.Topics); n == 0 || byID && resp.Topics[n-1].TopicID != it.topicID || !byID && resp.Topics[n-1].Topic != it.topic {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = it.topic, it.topicID
			resp.Topics = append(resp.Topics, st)
		}
		st := &resp.Topics[len(resp.Topics)-1]
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.Partition = it.partition
		sp.ErrorCode = it.errCode
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = it.hw, it.lso, it.logStart
		switch it.errCode {
		case 0:
		case kerr.OffsetOutOfRange.Code:
			// The log start stays: a follower below it starts over
			// there (replica/fetcher.go), where Kafka's asks ListOffsets.
			// Clients reset by their own offset reset policy.
			sp.HighWatermark, sp.LastStableOffset = -1, -1
		default:
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
		}
		// Kafka sends empty records, never null: librdkafka refuses a
		// null record set.
		sp.RecordBatches = []byte{}
		if len(it.records) > 0 {
			sp.RecordBatches = it.records
		}
		sp.AbortedTransactions = it.aborted
		sp.PreferredReadReplica = it.preferred
		st.Partitions = append(st.Partitions, sp)
	}
}

// abortedIn lists the aborted transactions a read_committed consumer needs
// to filter the batches read from offset: those overlapping the range the
// batches cover.
func abortedIn(part *replica.Partition, offset int64, data []byte) ([]kmsg.FetchResponseTopicPartitionAbortedTransaction, error) {
	if len(data) == 0 {
		return nil, nil
	}
	txns, err := part.Log().AbortedTransactions(offset, nextOffset(data, offset))
	if err != nil || len(txns) == 0 {
		return nil, err
	}
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(txns))
	for i, t := range txns {
		out[i] = kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: t.ProducerID, FirstOffset: t.FirstOffset}
	}
	return out, nil
}

// fetchPartition finds a partition this broker leads or, for a consumer
// that knows of fetching from followers (v11+, KIP-392), hosts; checking
// the client's view of the leader epoch first (KIP-320), as Kafka does.
func (b *Broker) fetchPartition(t *cluster.Topic, version int16, rp *kmsg.FetchRequestTopicPartition, consumer bool) (*replica.Partition, error) {
	if t == nil {
		if version >= 13 {
			return nil, kerr.UnknownTopicID
		}
		return nil, kerr.UnknownTopicOrPartition
	}
	if rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
		return nil, kerr.UnknownTopicOrPartition
	}
	part, ok := b.cfg.Replicas.Partition(t.Name, rp.Partition)
	if !ok || part.TopicID != t.ID {
		return nil, kerr.NotLeaderForPartition
	}
	if err := checkLeaderEpoch(rp.CurrentLeaderEpoch, part.LeaderEpoch()); err != nil {
		return nil, err
	}
	if !part.IsLeader() && (!consumer || version < 11) {
		return nil, kerr.NotLeaderForPartition
	}
	return part, nil
}

// checkLeaderEpoch compares a client's current leader epoch with ours
// (KIP-320): older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH, and
// -1 means the client does not know.
func checkLeaderEpoch(client, ours int32) error {
	switch {
	case client == -1 || client == ours:
		return nil
	case client < ours:
		return kerr.FencedLeaderEpoch
	default:
		return kerr.UnknownLeaderEpoch
	}
}
