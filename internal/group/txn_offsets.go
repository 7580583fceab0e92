package group

// Transactional offset commits: TxnOffsetCommit v0-v6 (KIP-98; KIP-447
// adds the group generation, member ID and instance ID at v3; v6 names
// topics by ID) and the transaction markers that end them.
//
// TxnOffsetCommit writes the offsets, in OffsetCommit's record format, as
// one transactional batch of the request's producer ID and epoch. They
// stay pending, per group and producer, invisible to OffsetFetch (which
// answers UNSTABLE_OFFSET_COMMIT for them when asked for stable offsets),
// until the producer's marker reaches the group's __consumer_offsets
// partition: the broker then calls CompleteTxn, and a replay applies the
// markers it reads the same way. COMMIT makes them the group's offsets,
// keeping the commit timestamps they were written with; ABORT drops them.
// When a plain commit of the same partition was written after the
// transactional one, the plain one stays (Kafka's OffsetMetadataManager
// compares record offsets the same way).
//
// Validation is Kafka's validateTransactionalOffsetCommit: a group that
// does not exist is created empty for generation -1 and is
// ILLEGAL_GENERATION otherwise; a commit naming a member, an instance or a
// generation must match the group's; an anonymous commit (v0-v2, or
// generation -1 without a member or instance) is accepted even while the
// group has members, in classic and KIP-848 groups alike, unlike
// OffsetCommit; there is no REBALANCE_IN_PROGRESS. For a KIP-848 group the
// generation is the member epoch, and an older one (or any, from a static
// member that left with epoch -2) is ILLEGAL_GENERATION.
//
// Verification (KIP-890): the broker asks the transaction coordinator
// whether the group's partition is in the producer's ongoing transaction
// before the offsets are written. A transaction that ends between that
// answer and the write would get offsets no marker ends, so, as Kafka's
// log does with its VerificationGuard, the broker takes a guard for the
// producer (StartTxnVerification) before it asks, and the write carries
// it (WithVerificationGuard). A marker for the producer on the partition
// drops the guard (TxnEnding, CompleteTxn), and a write whose guard is no
// longer the producer's gets INVALID_TXN_STATE. The check and the indexing
// of the write happen under the partition's lock, which the marker's
// clearing takes too, and the write holds the group's wmu until its batch
// is durable, which TxnEnding waits for: a write either precedes the
// marker in the log or is refused. A write without a guard (verification
// off) is not checked.
//
// Pending offsets are kept whole by the rest of the coordinator: an
// offset with a pending transactional one does not expire and a group
// with pending offsets is not removed by expiry; OffsetDelete and
// DeleteGroups write tombstones that drop them with the committed ones.

import (
	"context"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
)

// txnEnd is a transaction marker written to a partition.
type txnEnd struct {
	producer int64
	commit   bool
}

func (c *Coordinator) txnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	c.logger.Debug("TxnOffsetCommit", "group", req.Group, "producer_id", req.ProducerID, "producer_epoch", req.ProducerEpoch,
		"member_id", req.MemberID, "generation", req.Generation, "version", req.Version)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	ti := c.topicIndex()
	codes := make([][]int16, len(req.Topics))
	names := make([]string, len(req.Topics))
	for i, t := range req.Topics {
		metas := make([]*string, len(t.Partitions))
		parts := make([]int32, len(t.Partitions))
		for j, p := range t.Partitions {
			parts[j], metas[j] = p.Partition, p.Metadata
		}
		names[i], codes[i] = ti.checkCommitTopic(t.Topic, t.TopicID, req.Version >= 6, parts, metas)
	}
	fillCodes(codes, c.commitTxnOffsets(ctx, req, names, codes))
	for i, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for j, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// commitTxnOffsets validates and writes the partitions whose code is still
// 0, and keeps them pending once durable; a non-zero result applies to all
// of them.
func (c *Coordinator) commitTxnOffsets(ctx context.Context, req *kmsg.TxnOffsetCommitRequest, names []string, codes [][]int16) int16 {
	generation, memberID, instanceID := req.Generation, req.MemberID, req.InstanceID
	if req.Version < 3 {
		generation, memberID, instanceID = -1, "", nil
	}
	g, code := c.lookup(req.Group, false)
	if code != 0 {
		return code
	}
	if g == nil {
		if generation >= 0 {
			return kerr.IllegalGeneration.Code
		}
		if g, code = c.lookup(req.Group, true); code != 0 {
			return code
		}
	}

	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if code := g.validateTxnCommit(generation, memberID, instanceID); code != 0 {
		return code
	}
	wall := c.now().UnixMilli()
	var recs []kv
	var tps []topicPartition
	var os []committed
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if codes[i][j] != 0 {
				continue
			}
			o := committed{offset: p.Offset, leaderEpoch: -1, metadata: deref(p.Metadata), commitMs: wall, expireMs: -1}
			if req.Version >= 2 {
				o.leaderEpoch = p.LeaderEpoch
			}
			tp := topicPartition{names[i], p.Partition}
			recs = append(recs, kv{key: offsetKey(g.id, tp), value: offsetValue(o)})
			tps = append(tps, tp)
			os = append(os, o)
		}
	}
	if len(recs) == 0 {
		return 0
	}
	// Indexed before the append: a marker written while the append waits
	// for replication finds the group, and its CompleteTxn waits on wmu
	// for the offsets to be pending.
	guard, guarded := guardFrom(ctx)
	if code := c.indexTxn(g, req.ProducerID, guard, guarded); code != 0 {
		if code == kerr.InvalidTxnState.Code && req.Version >= 4 {
			code = kerr.TransactionAbortable.Code // as a failed verification answers
		}
		return code
	}
	g.mu.Unlock()
	base, err := c.appendAt(ctx, g.part, recs, &record.Producer{ID: req.ProducerID, Epoch: req.ProducerEpoch, BaseSequence: -1})
	g.mu.Lock()
	if err != nil {
		c.logger.Warn("store transactional offsets", "group", g.id, "producer_id", req.ProducerID, "err", err)
		return appendCode(err, kerr.InvalidCommitOffsetSize.Code)
	}
	pend := g.txnOffsets[req.ProducerID]
	if pend == nil {
		pend = make(map[topicPartition]committed, len(tps))
		g.txnOffsets[req.ProducerID] = pend
	}
	for i, tp := range tps {
		o := os[i]
		o.at = base + int64(i)
		pend[tp] = o
	}
	return 0
}

// validateTxnCommit is Kafka's validateTransactionalOffsetCommit with the
// group's validateOffsetCommit for a transactional commit. The caller
// holds g.mu.
func (g *group) validateTxnCommit(generation int32, memberID string, instanceID *string) int16 {
	switch {
	case g.unloaded:
		return kerr.NotCoordinator.Code
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code
	case g.kind == kindConsumer:
		if generation < 0 && len(g.cons.members) == 0 {
			return 0
		}
		if generation == -1 && memberID == "" && instanceID == nil {
			// An anonymous commit (sendOffsetsToTransaction with a group
			// ID only) names nothing to check (Kafka 3.8+).
			return 0
		}
		m := g.cons.members[memberID]
		switch {
		case m == nil:
			return kerr.UnknownMemberID.Code
		case generation != m.memberEpoch():
			// Kafka's STALE_MEMBER_EPOCH, older or newer, which
			// TxnOffsetCommit does not have.
			return kerr.IllegalGeneration.Code
		}
		return 0
	case generation < 0 && g.state == stateEmpty:
		return 0
	case generation >= 0 || memberID != "" || instanceID != nil:
		if code := g.validateMember(memberID, instanceID); code != 0 {
			return code
		}
		if generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
	}
	return 0
}

// indexTxn records that g holds, or is about to hold, offsets of the
// producer's transaction. When guarded, the write must still hold the
// producer's verification guard: INVALID_TXN_STATE otherwise, as Kafka's
// log answers a guard that no longer matches. The caller holds g.wmu and
// g.mu.
func (c *Coordinator) indexTxn(g *group, producer int64, guard *VerificationGuard, guarded bool) int16 {
	c.mu.RLock()
	p := c.parts[g.part]
	c.mu.RUnlock()
	if p == nil {
		return kerr.NotCoordinator.Code
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.unloaded {
		return kerr.NotCoordinator.Code
	}
	if guarded {
		switch {
		case guard == nil || guard.part != p:
			// The partition moved here after the verification
			// started: the client retries.
			return kerr.NotCoordinator.Code
		case p.guards[producer] != guard:
			return kerr.InvalidTxnState.Code
		}
	}
	if p.txns == nil {
		p.txns = make(map[int64]map[string]bool)
	}
	if p.txns[producer] == nil {
		p.txns[producer] = make(map[string]bool)
	}
	p.txns[producer][g.id] = true
	return 0
}

// VerificationGuard is KIP-890's verification guard for transactional
// offset commits: taken before the transaction coordinator is asked,
// dropped by the producer's next marker on the group's partition, unless
// that marker ends the transaction before the one the guard is for (with
// transaction version 2 every transaction has an epoch of its own, which
// its predecessor's markers carry: the next one may be verified while
// those markers are still being written). Guards are compared by
// identity, so a write verified before a marker that dropped its guard is
// refused even if a later verification took a new one.
type VerificationGuard struct {
	part *partition // where it was taken
	// epoch is the newest producer epoch verified under the guard, and
	// tv2 whether transaction version 2 was (TxnOffsetCommit v5+).
	// Both change under the partition's lock.
	epoch int16
	tv2   bool
}

// keepsAfter reports whether the guard outlives a marker of epoch: it is
// for the transaction version 2 transaction that follows the one the
// marker ends. The caller holds the partition's lock.
func (g *VerificationGuard) keepsAfter(epoch int16) bool {
	return g.tv2 && g.epoch >= epoch
}

// guardKey carries a write's verification guard in a context.
type guardKey struct{}

// WithVerificationGuard returns ctx carrying the guard the broker took
// with StartTxnVerification before verifying a TxnOffsetCommit. The write
// is then refused if a marker of the producer reached the group's
// partition since.
func WithVerificationGuard(ctx context.Context, guard *VerificationGuard) context.Context {
	return context.WithValue(ctx, guardKey{}, guard)
}

func guardFrom(ctx context.Context) (*VerificationGuard, bool) {
	guard, ok := ctx.Value(guardKey{}).(*VerificationGuard)
	return guard, ok
}

// StartTxnVerification returns the producer's verification guard on the
// group's partition, taking one if none is held, for a TxnOffsetCommit of
// epoch (tv2: version 5 or later); the broker calls it before it asks the
// transaction coordinator, as Kafka's maybeStartTransactionVerification
// does, and, as there, a held guard is shared and keeps the newest epoch.
// created reports whether this call took it. It returns nil when the
// partition is not served here; a write under a guard taken before its
// partition was loaded here is NOT_COORDINATOR, which the client retries.
// A guard whose verification failed stays until the producer's next
// marker on the partition, the partition's unload, or EndTxnVerification.
func (c *Coordinator) StartTxnVerification(groupID string, producerID int64, epoch int16, tv2 bool) (guard *VerificationGuard, created bool) {
	c.mu.RLock()
	p := c.parts[c.PartitionFor(groupID)]
	c.mu.RUnlock()
	if p == nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.unloaded {
		return nil, false
	}
	if guard := p.guards[producerID]; guard != nil {
		if epoch > guard.epoch {
			guard.epoch, guard.tv2 = epoch, tv2
		}
		return guard, false
	}
	if p.guards == nil {
		p.guards = make(map[int64]*VerificationGuard)
	}
	guard = &VerificationGuard{part: p, epoch: epoch, tv2: tv2}
	p.guards[producerID] = guard
	return guard, true
}

// EndTxnVerification drops a guard StartTxnVerification created for a
// verification that failed, so that producers that never write leave none
// behind; a guard another verification has since moved to a newer epoch
// stays.
func (c *Coordinator) EndTxnVerification(producerID int64, guard *VerificationGuard, epoch int16) {
	if guard == nil {
		return
	}
	p := guard.part
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.guards[producerID] == guard && guard.epoch == epoch && p.txns[producerID] == nil {
		delete(p.guards, producerID)
	}
}

// dropGuardLocked drops the producer's guard for a marker of epoch,
// unless it is for the transaction after the one the marker ends. The
// caller holds p.mu.
func (p *partition) dropGuardLocked(producer int64, epoch int16) {
	if g := p.guards[producer]; g != nil && !g.keepsAfter(epoch) {
		delete(p.guards, producer)
	}
}

// txnEnding drops the producer's verification guard on a partition for a
// marker of epoch and returns the groups that may have a write of the
// producer under way. The caller holds p.mu.
func (p *partition) txnEnding(producer int64, epoch int16) []*group {
	p.dropGuardLocked(producer, epoch)
	gs := make([]*group, 0, len(p.txns[producer]))
	for _, id := range slices.Sorted(maps.Keys(p.txns[producer])) {
		if g := p.groups[id]; g != nil {
			gs = append(gs, g)
		}
	}
	return gs
}

// txnEnding drops the producer's verification guard on partition pid,
// so that later writes of its ended transaction are refused, and waits
// for the writes that passed the check to be durable: they precede the
// marker about to be written.
func (c *Coordinator) txnEnding(pid int32, producer int64, epoch int16) {
	c.mu.RLock()
	p := c.parts[pid]
	c.mu.RUnlock()
	if p == nil {
		return
	}
	p.mu.Lock()
	gs := p.txnEnding(producer, epoch)
	p.mu.Unlock()
	for _, g := range gs {
		g.wmu.Lock()
		g.wmu.Unlock() //nolint:staticcheck // a barrier: the write holding it has appended
	}
}

// indexTxns builds a partition's txns index from its replayed groups.
func indexTxns(groups map[string]*group) map[int64]map[string]bool {
	idx := make(map[int64]map[string]bool)
	for id, g := range groups {
		for producer := range g.txnOffsets {
			if idx[producer] == nil {
				idx[producer] = make(map[string]bool)
			}
			idx[producer][id] = true
		}
	}
	return idx
}

func (c *Coordinator) completeTxn(pid int32, producer int64, commit bool, epoch int16) {
	c.mu.RLock()
	p := c.parts[pid]
	if p == nil {
		// Not ours: whoever loads the partition replays the marker.
		c.mu.RUnlock()
		return
	}
	p.mu.Lock()
	p.dropGuardLocked(producer, epoch)
	if p.loading {
		// The replay may have read past the marker or not; applying it
		// again after the replay is harmless, as no offsets of this
		// producer are written in between.
		p.ended = append(p.ended, txnEnd{producer, commit})
		p.mu.Unlock()
		c.mu.RUnlock()
		return
	}
	c.mu.RUnlock()
	gs := p.takeTxn(producer)
	p.mu.Unlock()
	for _, g := range gs {
		c.endTxn(g, producer, commit)
	}
	c.logger.Debug("transaction ended", "topic", OffsetsTopic, "partition", pid, "producer_id", producer, "commit", commit, "groups", len(gs))
}

// takeTxn removes the producer from the index and returns its groups.
// The caller holds p.mu.
func (p *partition) takeTxn(producer int64) []*group {
	ids := p.txns[producer]
	delete(p.txns, producer)
	gs := make([]*group, 0, len(ids))
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		if g := p.groups[id]; g != nil {
			gs = append(gs, g)
		}
	}
	return gs
}

// endQueuedTxns applies the markers written while p loaded, then lets p
// serve requests. A marker that arrives meanwhile is queued under c.mu
// and p.mu, so none is left behind.
func (c *Coordinator) endQueuedTxns(p *partition) {
	for {
		c.mu.Lock()
		p.mu.Lock()
		ended := p.ended
		p.ended = nil
		if len(ended) == 0 {
			if c.parts[p.id] == p {
				p.loading = false
			}
			p.mu.Unlock()
			c.mu.Unlock()
			return
		}
		var todo [][]*group
		for _, e := range ended {
			todo = append(todo, p.takeTxn(e.producer))
		}
		p.mu.Unlock()
		c.mu.Unlock()
		for i, e := range ended {
			for _, g := range todo[i] {
				c.endTxn(g, e.producer, e.commit)
			}
		}
	}
}

// endTxn applies a producer's marker to one group. It waits for a
// TxnOffsetCommit of the group still being written (g.wmu), whose batch
// then precedes the marker in the log.
func (c *Coordinator) endTxn(g *group, producer int64, commit bool) {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	pend := g.txnOffsets[producer]
	delete(g.txnOffsets, producer)
	if commit {
		materialize(g.offsets, pend)
	}
}

// materialize makes a committed transaction's offsets the group's, except
// where the group's offset was written later in the log.
func materialize(offsets, pend map[topicPartition]committed) {
	for tp, o := range pend {
		if cur, ok := offsets[tp]; ok && cur.at > o.at {
			continue
		}
		offsets[tp] = o
	}
}

// hasTxnOffset reports whether a transaction holds an offset of tp. The
// caller holds g.mu.
func (g *group) hasTxnOffset(tp topicPartition) bool {
	for _, pend := range g.txnOffsets {
		if _, ok := pend[tp]; ok {
			return true
		}
	}
	return false
}

// txnOffsetsBeyond reports whether an open transaction of the group holds
// an offset of a partition not in tps. The caller holds g.mu.
func (g *group) txnOffsetsBeyond(tps []topicPartition) bool {
	for _, pend := range g.txnOffsets {
		for tp := range pend {
			if !slices.Contains(tps, tp) {
				return true
			}
		}
	}
	return false
}

// dropTxnOffsets removes tp from every open transaction of the group, as
// a tombstone of tp does. The caller holds g.mu.
func (g *group) dropTxnOffsets(tp topicPartition) {
	for producer, pend := range g.txnOffsets {
		delete(pend, tp)
		if len(pend) == 0 {
			delete(g.txnOffsets, producer)
		}
	}
}

// txnReplay is the transactional offsets a replay has read and no marker
// has ended yet: producer ID -> group -> partition.
type txnReplay map[int64]map[string]map[topicPartition]committed

func (r txnReplay) add(producer int64, groupID string, tp topicPartition, o committed) {
	if r[producer] == nil {
		r[producer] = make(map[string]map[topicPartition]committed)
	}
	if r[producer][groupID] == nil {
		r[producer][groupID] = make(map[topicPartition]committed)
	}
	r[producer][groupID][tp] = o
}

// drop applies a plain tombstone of tp to the open transactions.
func (r txnReplay) drop(groupID string, tp topicPartition) {
	for _, byGroup := range r {
		delete(byGroup[groupID], tp)
	}
}

// end applies a marker read from the log, as endTxn does.
func (r txnReplay) end(offsets map[string]map[topicPartition]committed, producer int64, commit bool) {
	byGroup := r[producer]
	delete(r, producer)
	if !commit {
		return
	}
	for id, pend := range byGroup {
		if len(pend) == 0 {
			continue
		}
		if offsets[id] == nil {
			offsets[id] = make(map[topicPartition]committed)
		}
		materialize(offsets[id], pend)
	}
}
