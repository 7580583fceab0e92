package broker

// Fetch sessions (KIP-227), Kafka's FetchSession.scala: a client fetching
// many partitions names them all once, in a full fetch (session epoch 0)
// that creates a session, and then sends incremental fetches (epoch 1, 2,
// ...) listing only the partitions whose fetch position changed, plus the
// ones to forget. The broker answers an incremental fetch with only the
// partitions that have records, an error, or a high watermark, last stable
// offset or log start offset the client has not been told yet.
//
//	epoch -1, any ID     full fetch, no session (an ID closes that session)
//	epoch  0, any ID     full fetch creating a session (an ID closes that one)
//	epoch >0, known ID   incremental if the epoch is the session's next,
//	                     else INVALID_FETCH_SESSION_EPOCH
//	epoch >0, unknown ID FETCH_SESSION_ID_NOT_FOUND
//
// A session created at v13+ names topics by ID and one created before by
// name; an incremental fetch of the other kind is FETCH_SESSION_TOPIC_ID_ERROR.
// Sessions are not tied to a connection or principal, as in Kafka: the
// random 31-bit ID and the epoch are the whole key. The cache holds at most
// max.incremental.fetch.session.cache.slots sessions and evicts as Kafka's
// FetchSessionCache.tryEvict does: a session idle for two minutes first;
// otherwise a follower's new session may displace a consumer's, and any new
// session one older than two minutes with fewer partitions. Where Sluice
// differs: a change of last stable offset alone also puts a partition in an
// incremental response (Kafka waits for the high watermark), and a session
// holds at most maxSessionPartitions partitions (a fetch that would grow one
// past that closes it and is answered without a session).

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/replica"
)

const (
	// sessionEvictAfter is Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS:
	// a session idle this long may be evicted by any new one, and one
	// younger than this only by a follower's (if it is a consumer's).
	sessionEvictAfter = 2 * time.Minute
	// maxSessionPartitions bounds one session's cached partitions, so the
	// cache's memory is bounded by the slot count.
	maxSessionPartitions = 1 << 16
)

// sessionMode says how a fetch relates to a session.
type sessionMode uint8

const (
	sessionless        sessionMode = iota // epoch -1: answered in full, no session
	sessionFull                           // epoch 0: answered in full, creates a session
	sessionIncremental                    // epoch > 0: answered with what changed
)

// sessionKey names a partition in a session: by topic ID in a v13+
// session (topic is then empty), by name before.
type sessionKey struct {
	topic     string
	topicID   [16]byte
	partition int32
}

// sessionPart is a session's cached partition: the fetch parameters the
// client last sent and what the broker last told it.
type sessionPart struct {
	topic          string
	topicID        [16]byte
	partition      int32
	fetchOffset    int64
	logStartOffset int64 // the fetcher's (a follower's log start)
	maxBytes       int32
	leaderEpoch    int32
	// Last sent; -1 until a response includes the partition, and the
	// high watermark -1 again after an error, so it is sent once fixed.
	hw, lso, localLogStart int64
}

// fetchSession is one client's session.
type fetchSession struct {
	id       int32
	epoch    int32 // the epoch the next incremental fetch must carry
	follower bool  // Kafka's "privileged"
	topicIDs bool  // created at v13+
	created  time.Time
	lastUsed time.Time
	parts    map[sessionKey]*sessionPart
	// order is the order partitions are read in; those that returned
	// records move to the end, so each gets its turn under max_bytes.
	order []*sessionPart
}

// fetchSessions is the broker's session cache. Its zero value is ready.
// One mutex guards every session: each operation is a map lookup or one
// pass over one session's partitions.
type fetchSessions struct {
	mu       sync.Mutex
	sessions map[int32]*fetchSession
	// newID returns a candidate session ID; nil draws a random one.
	newID func() int32
}

// fetchItem is one partition a fetch reads, with what it read.
type fetchItem struct {
	topic          string
	topicID        [16]byte
	partition      int32
	fetchOffset    int64
	logStartOffset int64
	maxBytes       int32
	leaderEpoch    int32
	cached         *sessionPart // incremental fetches: the session's entry

	part     *replica.Partition
	errCode  int16
	hw, lso  int64
	logStart int64
	leo      int64 // followers: the log end offset when read
	leading  bool  // this broker led the partition when read
	// preferred is the replica the consumer should fetch from instead
	// (read_replica.go), -1 for none.
	preferred int32
	records   []byte
	// readable is what the partition counts toward min_bytes: its
	// records, or, when it holds more than fit, the bytes it could have
	// given (Kafka reads exactly that much, cutting the last batch).
	readable int
	aborted  []kmsg.FetchResponseTopicPartitionAbortedTransaction
	include  bool // in the response
	// throttled: a follower read a leader-throttled replica (KIP-73).
	throttled bool
}

// fetchContext is a fetch resolved against the session cache (Kafka's
// FetchContext): the partitions to read and the session to update.
type fetchContext struct {
	mode     sessionMode
	version  int16
	follower bool
	session  *fetchSession // incremental only
	epoch    int32         // incremental: the session's epoch after this fetch
	items    []fetchItem
}

// nextEpoch is the session epoch after epoch (FetchMetadata.nextEpoch).
func nextEpoch(epoch int32) int32 {
	switch {
	case epoch < 0:
		return -1
	case epoch == math.MaxInt32:
		return 1
	default:
		return epoch + 1
	}
}

// open resolves a fetch against the cache (Kafka's FetchManager.newContext).
// A non-zero error code is the whole answer.
func (c *fetchSessions) open(req *kmsg.FetchRequest, follower bool, now time.Time) (*fetchContext, int16) {
	if req.SessionEpoch == -1 || req.SessionEpoch == 0 {
		if req.SessionID != 0 {
			c.remove(req.SessionID) // a full fetch closes the session it names
		}
		fc := &fetchContext{mode: sessionless, version: req.Version, follower: follower, items: requestItems(req)}
		if req.SessionEpoch == 0 {
			fc.mode = sessionFull
		}
		return fc, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[req.SessionID]
	switch {
	case s == nil:
		return nil, kerr.FetchSessionIDNotFound.Code
	case s.epoch != req.SessionEpoch:
		return nil, kerr.InvalidFetchSessionEpoch.Code
	case s.topicIDs != (req.Version >= 13):
		return nil, kerr.FetchSessionTopicIDError.Code
	}
	s.update(req)
	if len(s.order) == 0 || len(s.order) > maxSessionPartitions {
		// Nothing left (or too much): close it and answer what was asked
		// without a session, as Kafka does for an emptied session.
		delete(c.sessions, s.id)
		return &fetchContext{mode: sessionless, version: req.Version, follower: follower, items: requestItems(req)}, 0
	}
	s.lastUsed = now
	s.epoch = nextEpoch(s.epoch)
	fc := &fetchContext{mode: sessionIncremental, version: req.Version, follower: follower, session: s, epoch: s.epoch,
		items: make([]fetchItem, len(s.order))}
	for i, sp := range s.order {
		fc.items[i] = fetchItem{topic: sp.topic, topicID: sp.topicID, partition: sp.partition,
			fetchOffset: sp.fetchOffset, logStartOffset: sp.logStartOffset, maxBytes: sp.maxBytes,
			leaderEpoch: sp.leaderEpoch, cached: sp, preferred: -1}
	}
	return fc, 0
}

// requestItems lists the partitions a request names, in its order. A
// partition named twice is read once, with what the later entry asks, in
// the place of the first (Kafka keeps a full fetch's partitions in a
// LinkedHashMap), so a request repeating one partition costs one read.
func requestItems(req *kmsg.FetchRequest) []fetchItem {
	n := 0
	for i := range req.Topics {
		n += len(req.Topics[i].Partitions)
	}
	items := make([]fetchItem, 0, n)
	var index map[sessionKey]int // built only for requests of many partitions
	if n > smallFetch {
		index = make(map[sessionKey]int, n)
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			it := fetchItem{topic: rt.Topic, topicID: rt.TopicID, partition: rp.Partition,
				fetchOffset: rp.FetchOffset, logStartOffset: rp.LogStartOffset, maxBytes: rp.PartitionMaxBytes,
				leaderEpoch: rp.CurrentLeaderEpoch, preferred: -1}
			k := sessionKey{topic: rt.Topic, topicID: rt.TopicID, partition: rp.Partition}
			if at := findItem(items, index, k); at >= 0 {
				items[at] = it
				continue
			}
			if index != nil {
				index[k] = len(items)
			}
			items = append(items, it)
		}
	}
	return items
}

// smallFetch is the most partitions a request may name for duplicates to
// be found by comparing with every earlier one rather than through a map.
const smallFetch = 16

// findItem returns where items holds the partition k, or -1.
func findItem(items []fetchItem, index map[sessionKey]int, k sessionKey) int {
	if index != nil {
		if at, ok := index[k]; ok {
			return at
		}
		return -1
	}
	for i := range items {
		if it := &items[i]; it.partition == k.partition && it.topicID == k.topicID && it.topic == k.topic {
			return i
		}
	}
	return -1
}

func (s *fetchSession) key(topic string, id [16]byte, partition int32) sessionKey {
	if s.topicIDs {
		return sessionKey{topicID: id, partition: partition}
	}
	return sessionKey{topic: topic, partition: partition}
}

// update adds or updates the partitions an incremental fetch lists and
// drops those it forgets (FetchSession.update).
func (s *fetchSession) update(req *kmsg.FetchRequest) {
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			k := s.key(rt.Topic, rt.TopicID, rp.Partition)
			sp := s.parts[k]
			if sp == nil {
				sp = &sessionPart{topic: rt.Topic, topicID: rt.TopicID, partition: rp.Partition, hw: -1, lso: -1, localLogStart: -1}
				s.parts[k] = sp
				s.order = append(s.order, sp)
			}
			sp.fetchOffset, sp.logStartOffset = rp.FetchOffset, rp.LogStartOffset
			sp.maxBytes, sp.leaderEpoch = rp.PartitionMaxBytes, rp.CurrentLeaderEpoch
		}
	}
	forgot := false
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := s.key(ft.Topic, ft.TopicID, p)
			if sp := s.parts[k]; sp != nil {
				delete(s.parts, k)
				sp.partition = -1 // marks it for removal from order
				forgot = true
			}
		}
	}
	if forgot {
		kept := s.order[:0]
		for _, sp := range s.order {
			if sp.partition >= 0 {
				kept = append(kept, sp)
			}
		}
		clear(s.order[len(kept):])
		s.order = kept
	}
}

// finish decides which partitions the response carries, creates or
// updates the session, and returns the response's session ID and
// top-level error code (Kafka's updateAndGenerateResponseData).
func (c *fetchSessions) finish(fc *fetchContext, now time.Time, slots int) (int32, int16) {
	switch fc.mode {
	case sessionless:
		for i := range fc.items {
			fc.items[i].include = true
		}
		return 0, 0
	case sessionFull:
		for i := range fc.items {
			fc.items[i].include = true
		}
		return c.create(fc, now, slots), 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := fc.session
	if s.epoch != fc.epoch {
		// Another fetch on this session came in while this one waited:
		// the client has moved on (a duplicate request).
		return 0, kerr.InvalidFetchSessionEpoch.Code
	}
	moved := 0
	for i := range fc.items {
		it := &fc.items[i]
		sp := it.cached
		it.include = len(it.records) > 0 || it.errCode != 0 || it.preferred >= 0 ||
			sp.hw != it.hw || sp.lso != it.lso || sp.localLogStart != it.logStart
		sp.hw, sp.lso, sp.localLogStart = it.hw, it.lso, it.logStart
		if it.errCode != 0 {
			sp.hw = -1
		}
		if len(it.records) > 0 {
			moved++
		}
	}
	if moved > 0 && len(fc.items) == len(s.order) {
		// Partitions that returned records go to the back (Kafka's
		// round-robin across incremental fetches). The items are the
		// session's order at open, and nothing changed it since: the
		// epoch still matches.
		order := s.order[:0]
		var back []*sessionPart
		for i := range fc.items {
			if len(fc.items[i].records) > 0 {
				back = append(back, fc.items[i].cached)
			} else {
				order = append(order, fc.items[i].cached)
			}
		}
		s.order = append(order, back...)
	}
	return s.id, 0
}

// create makes a session for a full fetch whose items have been read, or
// returns 0 when the cache has no room for it (Kafka's maybeCreateSession).
func (c *fetchSessions) create(fc *fetchContext, now time.Time, slots int) int32 {
	n := len(fc.items)
	if slots <= 0 || n == 0 || n > maxSessionPartitions {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions == nil {
		c.sessions = make(map[int32]*fetchSession)
	}
	for len(c.sessions) >= slots {
		if !c.evictLocked(fc.follower, n, now) {
			return 0
		}
	}
	s := &fetchSession{id: c.unusedIDLocked(), epoch: 1, follower: fc.follower, topicIDs: fc.version >= 13,
		created: now, lastUsed: now, parts: make(map[sessionKey]*sessionPart, n), order: make([]*sessionPart, 0, n)}
	for i := range fc.items {
		it := &fc.items[i]
		k := s.key(it.topic, it.topicID, it.partition)
		if s.parts[k] != nil {
			continue
		}
		sp := &sessionPart{topic: it.topic, topicID: it.topicID, partition: it.partition,
			fetchOffset: it.fetchOffset, logStartOffset: it.logStartOffset, maxBytes: it.maxBytes, leaderEpoch: it.leaderEpoch,
			hw: it.hw, lso: it.lso, localLogStart: it.logStart}
		if it.errCode != 0 {
			sp.hw = -1
		}
		s.parts[k] = sp
		s.order = append(s.order, sp)
	}
	c.sessions[s.id] = s
	return s.id
}

func (c *fetchSessions) unusedIDLocked() int32 {
	for {
		var id int32
		if c.newID != nil {
			id = c.newID()
		} else {
			id = rand.Int32N(math.MaxInt32-1) + 1
		}
		if _, used := c.sessions[id]; id > 0 && !used {
			return id
		}
	}
}

// evictLocked makes room for a new session of size partitions, or
// reports that none may go (FetchSessionCache.tryEvict). A session idle
// past sessionEvictAfter goes first. Otherwise the least valuable session
// that may be evicted goes if the new one is worth more: a follower's is
// worth more than a consumer's, then more partitions are worth more.
// Sessions younger than sessionEvictAfter are protected, except that a
// follower may evict a consumer's.
func (c *fetchSessions) evictLocked(follower bool, size int, now time.Time) bool {
	var lru, least *fetchSession
	for _, s := range c.sessions {
		if lru == nil || s.lastUsed.Before(lru.lastUsed) || s.lastUsed.Equal(lru.lastUsed) && s.id < lru.id {
			lru = s
		}
		old := now.Sub(s.created) > sessionEvictAfter
		if !old && !(follower && !s.follower) {
			continue
		}
		if least == nil || lessValuable(s, least) {
			least = s
		}
	}
	switch {
	case lru == nil:
		return false
	case now.Sub(lru.lastUsed) > sessionEvictAfter:
		delete(c.sessions, lru.id)
		return true
	case least == nil:
		return false
	}
	// The new session must be worth strictly more (Kafka compares with
	// the new key's ID 0, below every real ID).
	if follower != least.follower {
		if !follower {
			return false
		}
	} else if size <= len(least.order) {
		return false
	}
	delete(c.sessions, least.id)
	return true
}

// lessValuable orders sessions for eviction (Kafka's EvictableKey):
// consumers before followers, then fewer partitions, then lower ID.
func lessValuable(a, b *fetchSession) bool {
	if a.follower != b.follower {
		return !a.follower
	}
	if len(a.order) != len(b.order) {
		return len(a.order) < len(b.order)
	}
	return a.id < b.id
}

// remove closes a session.
func (c *fetchSessions) remove(id int32) {
	c.mu.Lock()
	delete(c.sessions, id)
	c.mu.Unlock()
}

// len is the number of sessions cached.
func (c *fetchSessions) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}
