package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/quota"
	"github.com/sluice-io/sluice/internal/record"
)

// A fetcher replicates every partition this broker follows from one leader
// broker: one goroutine and one Fetch request for all of them, because the
// leader answers a connection's requests in order and per-partition long
// polls would wait behind each other (Kafka's ReplicaFetcherThread, with
// num.replica.fetchers = 1). Before a partition's first fetch from a new
// leader or epoch it truncates (OffsetForLeaderEpoch, KIP-101/KIP-279).
// It keeps a fetch session with the leader (KIP-227, Kafka's
// FetchSessionHandler): after one full fetch, each request lists only the
// partitions whose fetch position changed and forgets those it stopped
// fetching, and the leader answers with only the partitions that have news,
// so following thousands of quiet partitions costs little per round.

// fetchSettings are the replica.fetch.* configs a fetcher uses.
type fetchSettings struct {
	maxWait       time.Duration // replica.fetch.wait.max.ms
	minBytes      int32         // replica.fetch.min.bytes
	maxBytes      int32         // replica.fetch.response.max.bytes
	partMaxBytes  int32         // replica.fetch.max.bytes
	backoff       time.Duration // replica.fetch.backoff.ms
	staleBackoff  time.Duration // after NOT_LEADER_OR_FOLLOWER and epoch errors
	socketTimeout time.Duration // replica.socket.timeout.ms
}

// fetchPart is a fetcher's state of one partition.
type fetchPart struct {
	p         *Partition
	gen       uint64
	epoch     int32
	truncated bool
	backoff   time.Time // no request for it before this
}

type fetcher struct {
	nodeID int32
	leader int32
	addr   string
	// opts are the inter-broker TLS and SASL options (Config.PeerOpts).
	opts   []kgo.Opt
	logger *slog.Logger
	now    func() time.Time
	// throttle is the follower replication quota (throttle.go); nil
	// throttles nothing.
	throttle *quota.Replication
	// brokerEpoch, if set, is this start's broker epoch, which the
	// fetches carry (ReplicaState.ReplicaEpoch, KIP-903).
	brokerEpoch func() int64

	// mu is taken before a Partition's stateMu (plan asks InSync).
	mu       sync.Mutex
	parts    map[*Partition]*fetchPart
	settings fetchSettings
	wake     chan struct{} // buffered: partitions were added

	cancel context.CancelFunc
	done   chan struct{}

	session leaderSession // owned by run's goroutine
}

// leaderSession is the fetcher's side of its fetch session (KIP-227).
type leaderSession struct {
	id    int32
	epoch int32 // of the next request; 0 is a full fetch opening a session
	// sent is what the leader's session holds for each partition.
	sent map[partIDKey]sentPart
}

// sentPart is what a fetch told the leader about one partition.
type sentPart struct {
	topic       string
	fetchOffset int64
	logStart    int64
	leaderEpoch int32
	maxBytes    int32
}

// reset makes the next fetch a full one. Keeping the ID closes the old
// session on the leader when the next fetch opens another.
func (s *leaderSession) reset(keepID bool) {
	if !keepID {
		s.id = 0
	}
	s.epoch, s.sent = 0, nil
}

// nextSessionEpoch is the session epoch after epoch (wrapping to 1).
func nextSessionEpoch(epoch int32) int32 {
	if epoch == math.MaxInt32 {
		return 1
	}
	return epoch + 1
}

func newFetcher(nodeID, leader int32, addr string, s fetchSettings, logger *slog.Logger, now func() time.Time) *fetcher {
	return &fetcher{nodeID: nodeID, leader: leader, addr: addr, settings: s, now: now,
		logger: logger.With("leader", leader, "leader_addr", addr),
		parts:  make(map[*Partition]*fetchPart), wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// set makes the fetcher follow p at generation gen (a new generation
// truncates first) and reports whether p was new to it.
func (f *fetcher) set(p *Partition, gen uint64, epoch int32) {
	f.mu.Lock()
	if fp, ok := f.parts[p]; !ok || fp.gen != gen {
		f.parts[p] = &fetchPart{p: p, gen: gen, epoch: epoch}
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fetcher) remove(p *Partition) {
	f.mu.Lock()
	delete(f.parts, p)
	f.mu.Unlock()
}

func (f *fetcher) has(p *Partition) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.parts[p]
	return ok
}

func (f *fetcher) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.parts)
}

func (f *fetcher) setSettings(s fetchSettings) {
	f.mu.Lock()
	f.settings = s
	f.mu.Unlock()
}

// current reports whether fp is still the fetcher's state for its
// partition.
func (f *fetcher) current(fp *fetchPart) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.parts[fp.p] == fp
}

// plan splits the partitions into those to truncate and those to fetch,
// and says how long to sleep when there is neither.
func (f *fetcher) plan(now time.Time) (truncate, fetch []*fetchPart, sleep time.Duration, s fetchSettings) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sleep = time.Hour
	var throttled, checked bool
	for _, fp := range f.parts {
		if now.Before(fp.backoff) {
			sleep = min(sleep, fp.backoff.Sub(now))
			continue
		}
		if !fp.truncated {
			truncate = append(truncate, fp)
			continue
		}
		// KIP-73 (Kafka's shouldFollowerThrottle): a throttled replica
		// outside the ISR is not fetched while the follower rate is
		// over follower.replication.throttled.rate.
		if f.throttle != nil && fp.p.followerThrottled() && !fp.p.InSync(f.nodeID) {
			if !checked {
				checked = true
				if d := f.throttle.Delay(); d > 0 {
					throttled = true
					sleep = min(sleep, max(min(d, time.Second), 10*time.Millisecond))
				}
			}
			if throttled {
				continue
			}
		}
		fetch = append(fetch, fp)
	}
	return truncate, fetch, sleep, f.settings
}

func (f *fetcher) backoff(fp *fetchPart, d time.Duration) {
	f.mu.Lock()
	fp.backoff = f.now().Add(d)
	f.mu.Unlock()
}

func (f *fetcher) run(ctx context.Context) {
	defer close(f.done)
	f.mu.Lock()
	dialTimeout := f.settings.socketTimeout
	f.mu.Unlock()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(f.addr),
		kgo.ClientID("sluice-replica-fetcher-" + strconv.Itoa(int(f.nodeID))),
		kgo.DialTimeout(dialTimeout),
	}, f.opts...)...)
	if err != nil {
		f.logger.Error("cannot create a fetch client", "err", err)
		return
	}
	defer cl.Close()
	seeds := cl.SeedBrokers()
	if len(seeds) == 0 {
		f.logger.Error("no seed broker for the leader")
		return
	}
	leader := seeds[0]
	f.logger.Info("replica fetcher started")
	defer f.logger.Info("replica fetcher stopped")
	for ctx.Err() == nil {
		truncate, fetch, sleep, s := f.plan(f.now())
		if len(truncate) > 0 {
			f.truncate(ctx, leader, truncate, s)
			continue
		}
		if len(fetch) == 0 {
			t := time.NewTimer(sleep)
			select {
			case <-ctx.Done():
			case <-f.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		f.fetch(ctx, leader, fetch, s)
	}
}

// truncate asks the leader where each partition's latest epoch ends and
// truncates to it (KIP-101, KIP-279). A partition that must ask again
// stays untruncated for the next round.
func (f *fetcher) truncate(ctx context.Context, leader *kgo.Broker, parts []*fetchPart, s fetchSettings) {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = f.nodeID
	byTopic := make(map[string]int)
	asked := make(map[*fetchPart]int32)
	for _, fp := range parts {
		l := fp.p.log
		if leo := l.LogEndOffset(); leo == l.LogStartOffset() {
			// No records to cut, but an epoch a leadership left without
			// appending goes (Log.Truncate at the end), or fetched
			// batches of older epochs would not be recorded.
			f.finishTruncation(fp, leo, true, s)
			continue
		}
		epoch := l.LatestEpoch()
		if epoch < 0 {
			// No epochs: only what was committed is known to be safe.
			f.finishTruncation(fp, fp.p.HighWatermark(), true, s)
			continue
		}
		asked[fp] = epoch
		i, ok := byTopic[fp.p.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[fp.p.Topic] = i
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = fp.p.Topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = fp.p.Index, fp.epoch, epoch
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	if len(req.Topics) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, s.socketTimeout)
	defer cancel()
	kresp, err := leader.Request(rctx, req)
	if err != nil {
		if ctx.Err() == nil {
			f.logger.Warn("offset for leader epoch request failed", "err", err)
		}
		for fp := range asked {
			f.backoff(fp, s.backoff)
		}
		return
	}
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	answered := make(map[*fetchPart]bool)
	byName := make(map[partKey]*fetchPart, len(asked))
	for c := range asked {
		byName[partKey{c.p.Topic, c.p.Index}] = c
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			fp := byName[partKey{rt.Topic, rp.Partition}]
			if fp == nil || answered[fp] {
				continue
			}
			answered[fp] = true
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				f.partitionError(fp, "offset for leader epoch", err, s)
				continue
			}
			offset, done := truncationPoint(fp.p.log, fp.p.HighWatermark(), rp.EndOffset, rp.LeaderEpoch)
			f.finishTruncation(fp, offset, done, s)
		}
	}
	for fp := range asked {
		if !answered[fp] {
			f.backoff(fp, s.backoff)
		}
	}
}

// finishTruncation cuts fp's log at offset; done marks it ready to fetch.
func (f *fetcher) finishTruncation(fp *fetchPart, offset int64, done bool, s fetchSettings) {
	if !f.current(fp) {
		return
	}
	if leo := fp.p.log.LogEndOffset(); offset < leo {
		f.logger.Info("truncating follower log", "topic", fp.p.Topic, "partition", fp.p.Index, "to", offset, "log_end_offset", leo, "leader_epoch", fp.epoch)
	}
	if err := fp.p.truncateAsFollower(fp.gen, offset); err != nil {
		f.appendError(fp, "truncate", err, s)
		return
	}
	if done {
		f.mu.Lock()
		fp.truncated = true
		f.mu.Unlock()
	}
}

// fetch sends one Fetch for parts and applies the answer. In a session
// the request lists only the partitions whose position changed since the
// leader's session last heard of them.
func (f *fetcher) fetch(ctx context.Context, leader *kgo.Broker, parts []*fetchPart, s fetchSettings) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = f.nodeID
	req.ReplicaState.ID = f.nodeID
	if f.brokerEpoch != nil {
		req.ReplicaState.Epoch = f.brokerEpoch()
	}
	req.MaxWaitMillis = int32(s.maxWait / time.Millisecond)
	req.MinBytes = s.minBytes
	req.MaxBytes = s.maxBytes
	sess := &f.session
	incremental := sess.id != 0 && sess.epoch > 0
	req.SessionID, req.SessionEpoch = sess.id, sess.epoch
	// Topics by ID: a topic deleted and created again under the same
	// name is another topic, whose fetch positions must not mix.
	byTopic := make(map[[16]byte]int)
	offsets := make(map[*fetchPart]int64, len(parts))
	want := make(map[partIDKey]sentPart, len(parts))
	for _, fp := range parts {
		k := partIDKey{fp.p.TopicID, fp.p.Index}
		sp := sentPart{topic: fp.p.Topic, fetchOffset: fp.p.log.LogEndOffset(), logStart: fp.p.log.LogStartOffset(),
			leaderEpoch: fp.epoch, maxBytes: s.partMaxBytes}
		want[k] = sp
		offsets[fp] = sp.fetchOffset
		if incremental && sess.sent[k] == sp {
			continue // the leader's session already reads it from there
		}
		i, ok := byTopic[fp.p.TopicID]
		if !ok {
			i = len(req.Topics)
			byTopic[fp.p.TopicID] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = fp.p.Topic, fp.p.TopicID
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = fp.p.Index
		rp.CurrentLeaderEpoch = sp.leaderEpoch
		rp.FetchOffset = sp.fetchOffset
		rp.LastFetchedEpoch = -1
		rp.LogStartOffset = sp.logStart
		rp.PartitionMaxBytes = sp.maxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	if incremental {
		// Partitions no longer fetched (backing off, moved) leave the
		// session.
		forgotten := make(map[[16]byte]int)
		for k, sp := range sess.sent {
			if _, ok := want[k]; ok {
				continue
			}
			i, ok := forgotten[k.id]
			if !ok {
				i = len(req.ForgottenTopics)
				forgotten[k.id] = i
				ft := kmsg.NewFetchRequestForgottenTopic()
				ft.Topic, ft.TopicID = sp.topic, k.id
				req.ForgottenTopics = append(req.ForgottenTopics, ft)
			}
			req.ForgottenTopics[i].Partitions = append(req.ForgottenTopics[i].Partitions, k.partition)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, s.maxWait+s.socketTimeout)
	defer cancel()
	kresp, err := leader.Request(rctx, req)
	if err != nil {
		// The leader may or may not have moved the session on.
		sess.reset(true)
		if ctx.Err() == nil {
			f.logger.Warn("fetch from leader failed", "err", err)
			for _, fp := range parts {
				f.backoff(fp, s.backoff)
			}
		}
		return
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		switch {
		case errors.Is(err, kerr.FetchSessionIDNotFound), errors.Is(err, kerr.InvalidFetchSessionEpoch),
			errors.Is(err, kerr.FetchSessionTopicIDError):
			// Evicted, or the leader restarted: start over with a full
			// fetch at once.
			f.logger.Debug("fetch session lost; fetching in full", "session_id", sess.id, "err", err)
			sess.reset(!errors.Is(err, kerr.FetchSessionIDNotFound))
			return
		}
		sess.reset(true)
		f.logger.Warn("fetch from leader failed", "err", err)
		for _, fp := range parts {
			f.backoff(fp, s.backoff)
		}
		return
	}
	switch {
	case resp.SessionID == 0:
		// No session: the leader had no room, or closed it.
		sess.reset(false)
	case !incremental || resp.SessionID == sess.id:
		sess.id, sess.epoch, sess.sent = resp.SessionID, nextSessionEpoch(sess.epoch), want
	default:
		sess.reset(true)
	}
	// Answers name topics by name, or by ID from Fetch v13.
	byName := make(map[partKey]*fetchPart, len(parts))
	byID := make(map[partIDKey]*fetchPart, len(parts))
	for _, fp := range parts {
		byName[partKey{fp.p.Topic, fp.p.Index}] = fp
		byID[partIDKey{fp.p.TopicID, fp.p.Index}] = fp
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			fp := byName[partKey{rt.Topic, rp.Partition}]
			if rt.Topic == "" {
				fp = byID[partIDKey{rt.TopicID, rp.Partition}]
			}
			if fp == nil || !f.current(fp) {
				continue
			}
			f.applyFetched(fp, offsets[fp], &rp, s)
		}
	}
	f.syncFetched(ctx, parts, offsets) // follower_sync.go
}

// applyFetched applies one partition's fetch answer.
func (f *fetcher) applyFetched(fp *fetchPart, offset int64, rp *kmsg.FetchResponseTopicPartition, s fetchSettings) {
	err := kerr.ErrorForCode(rp.ErrorCode)
	switch {
	case err == nil:
	case errors.Is(err, kerr.OffsetOutOfRange):
		l := fp.p.log
		if rp.LogStartOffset > offset || rp.LogStartOffset >= 0 && l.LogStartOffset() == l.LogEndOffset() {
			// Behind the leader's log start, or empty and past the
			// leader's end (an unclean leader with a shorter log), where
			// a truncation has nothing to cut: start over at the leader's
			// log start.
			f.logger.Info("follower log out of the leader's range; restarting the log", "topic", fp.p.Topic, "partition", fp.p.Index,
				"log_end_offset", offset, "leader_log_start_offset", rp.LogStartOffset)
			if err := fp.p.restartAsFollower(fp.gen, rp.LogStartOffset); err != nil {
				f.appendError(fp, "restart log", err, s)
			}
			return
		}
		// Past the leader's end: truncate again.
		f.mu.Lock()
		fp.truncated = false
		f.mu.Unlock()
		f.backoff(fp, s.staleBackoff)
		return
	default:
		f.partitionError(fp, "fetch", err, s)
		return
	}
	data := wholeBatches(rp.RecordBatches)
	if err := fp.p.appendFetched(fp.gen, offset, data, rp.HighWatermark, rp.LogStartOffset); err != nil {
		f.appendError(fp, "append", err, s)
		return
	}
	if f.throttle != nil && fp.p.followerThrottled() {
		f.throttle.Record(len(data)) // in or out of the ISR, as Kafka records
	}
}

// wholeBatches drops a partial batch at the end of a fetch response.
func wholeBatches(b []byte) []byte {
	n := 0
	_ = record.Batches(b, true, func(h record.Header, batch []byte) error {
		n += len(batch)
		return nil
	})
	return b[:n]
}

// partitionError handles a Kafka error for one partition: stale metadata
// on one side or the other, so wait a little and for the next image.
func (f *fetcher) partitionError(fp *fetchPart, op string, err error, s fetchSettings) {
	switch {
	case errors.Is(err, kerr.NotLeaderForPartition), errors.Is(err, kerr.FencedLeaderEpoch),
		errors.Is(err, kerr.UnknownLeaderEpoch), errors.Is(err, kerr.UnknownTopicOrPartition),
		errors.Is(err, kerr.UnknownTopicID):
		f.logger.Debug("leader refused; waiting for metadata", "op", op, "topic", fp.p.Topic, "partition", fp.p.Index, "err", err)
		f.backoff(fp, s.staleBackoff)
	default:
		f.logger.Warn("replica fetch error", "op", op, "topic", fp.p.Topic, "partition", fp.p.Index, "err", err)
		f.backoff(fp, s.backoff)
	}
}

// partKey and partIDKey find a followed partition from a leader's answer.
type (
	partKey struct {
		topic     string
		partition int32
	}
	partIDKey struct {
		id        [16]byte
		partition int32
	}
)

// appendError handles a local failure to truncate or append.
func (f *fetcher) appendError(fp *fetchPart, op string, err error, s fetchSettings) {
	switch {
	case errors.Is(err, errStaleFetch):
		// The role moved on; the Manager updates this fetcher. Until it
		// does, do not retry at once.
		f.backoff(fp, s.staleBackoff)
	case errors.Is(err, log.ErrUnexpectedAppendOffset):
		f.logger.Warn("follower log diverged from the leader; truncating again", "topic", fp.p.Topic, "partition", fp.p.Index, "err", err)
		f.mu.Lock()
		fp.truncated = false
		f.mu.Unlock()
		// The leader's session may read it from elsewhere: fetch in full.
		f.session.reset(true)
		f.backoff(fp, s.staleBackoff)
	default:
		f.logger.Error("replica "+op+" failed", "topic", fp.p.Topic, "partition", fp.p.Index, "err", err)
		f.backoff(fp, s.backoff)
	}
}

func (f *fetcher) String() string { return fmt.Sprintf("fetcher(leader %d at %s)", f.leader, f.addr) }
