package group

// Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and their
// expiry. Members commit under generation (or KIP-848 member epoch)
// checks; a commit with generation -1 and no member is a simple consumer's
// (or an admin's) and is allowed only while the group has no members.

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicIndex resolves names and IDs against Config.Topics; with no
// Topics function every topic is taken to exist. It carries the metadata
// bound of the commits it checks (offset.metadata.max.bytes).
type topicIndex struct {
	known       bool
	byName      map[string]TopicInfo
	byID        map[[16]byte]TopicInfo
	maxMetadata int
}

func (c *Coordinator) topicIndex() topicIndex {
	if c.cfg.Topics == nil {
		return topicIndex{maxMetadata: c.cfg.OffsetMetadataMaxSize}
	}
	ts := c.cfg.Topics()
	ti := topicIndex{known: true, byName: make(map[string]TopicInfo, len(ts)), byID: make(map[[16]byte]TopicInfo, len(ts)),
		maxMetadata: c.cfg.OffsetMetadataMaxSize}
	for _, t := range ts {
		ti.byName[t.Name] = t
		ti.byID[t.ID] = t
	}
	return ti
}

// partitionCode is UNKNOWN_TOPIC_OR_PARTITION for a partition the cluster
// does not have, as Kafka answers OffsetCommit.
func (ti topicIndex) partitionCode(topic string, p int32) int16 {
	if !ti.known {
		return 0
	}
	t, ok := ti.byName[topic]
	if !ok || p < 0 || p >= t.Partitions {
		return kerr.UnknownTopicOrPartition.Code
	}
	return 0
}

// checkCommitTopic checks one topic of an OffsetCommit or TxnOffsetCommit
// and returns its name (resolved from its ID when byID is set) and a code
// per partition: UNKNOWN_TOPIC_ID, OFFSET_METADATA_TOO_LARGE,
// UNKNOWN_TOPIC_OR_PARTITION, or 0 for a partition to commit.
func (ti topicIndex) checkCommitTopic(name string, id [16]byte, byID bool, parts []int32, metas []*string) (string, []int16) {
	codes := make([]int16, len(parts))
	if byID {
		info, ok := ti.byID[id]
		if !ok && ti.known {
			for j := range codes {
				codes[j] = kerr.UnknownTopicID.Code
			}
			return "", codes
		}
		name = info.Name
	}
	for j, p := range parts {
		if m := metas[j]; m != nil && javaLength(*m) > ti.maxMetadata {
			codes[j] = kerr.OffsetMetadataTooLarge.Code
			continue
		}
		codes[j] = ti.partitionCode(name, p)
	}
	return name, codes
}

func (c *Coordinator) offsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	c.logger.Debug("OffsetCommit", "group", req.Group, "member_id", req.MemberID, "client_id", clientFrom(ctx).id, "generation", req.Generation, "version", req.Version)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	ti := c.topicIndex()
	codes := make([][]int16, len(req.Topics))
	names := make([]string, len(req.Topics))
	for i, t := range req.Topics {
		metas := make([]*string, len(t.Partitions))
		parts := make([]int32, len(t.Partitions))
		for j, p := range t.Partitions {
			parts[j], metas[j] = p.Partition, p.Metadata
		}
		names[i], codes[i] = ti.checkCommitTopic(t.Topic, t.TopicID, req.Version >= 10, parts, metas)
	}
	fillCodes(codes, c.commit(ctx, req, names, codes))
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// fillCodes gives every partition whose code is still 0 the code of the
// whole commit.
func fillCodes(codes [][]int16, code int16) {
	if code == 0 {
		return
	}
	for i := range codes {
		for j := range codes[i] {
			if codes[i][j] == 0 {
				codes[i][j] = code
			}
		}
	}
}

// commit validates and stores the partitions whose code is still 0; a
// non-zero result applies to all of them.
func (c *Coordinator) commit(ctx context.Context, req *kmsg.OffsetCommitRequest, names []string, codes [][]int16) int16 {
	generation, memberID := req.Generation, req.MemberID
	if req.Version == 0 {
		generation, memberID = -1, ""
	}
	g, code := c.lookup(req.Group, false)
	if code != 0 {
		return code
	}
	if g == nil {
		switch {
		case generation >= 0 && req.Version >= 9:
			return kerr.GroupIDNotFound.Code
		case generation >= 0:
			// A member of a group that is gone: before v9 Kafka
			// answers that its generation is stale.
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
	if code := c.validateCommit(g, req, generation, memberID); code != 0 {
		return code
	}
	wall := c.now().UnixMilli()
	var recs []kv
	type update struct {
		tp topicPartition
		o  committed
	}
	var updates []update
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if codes[i][j] != 0 {
				continue
			}
			o := committed{offset: p.Offset, leaderEpoch: -1, metadata: deref(p.Metadata), commitMs: wall, expireMs: -1}
			if req.Version >= 6 {
				o.leaderEpoch = p.LeaderEpoch
			}
			if req.Version == 1 && p.Timestamp >= 0 {
				o.commitMs = p.Timestamp
			}
			tp := topicPartition{names[i], p.Partition}
			recs = append(recs, kv{key: offsetKey(g.id, tp), value: offsetValue(o)})
			updates = append(updates, update{tp, o})
		}
	}
	if len(recs) == 0 {
		return 0
	}
	g.mu.Unlock()
	base, err := c.appendAt(ctx, g.part, recs, nil)
	g.mu.Lock()
	if err != nil {
		c.logger.Warn("store offsets", "group", g.id, "err", err)
		return appendCode(err, kerr.InvalidCommitOffsetSize.Code)
	}
	for i, u := range updates {
		u.o.at = base + int64(i)
		g.offsets[u.tp] = u.o
	}
	return 0
}

// validateCommit is GroupCoordinator.validateOffsetCommit for classic
// groups, and ConsumerGroup.validateOffsetCommit (KIP-848) for consumer
// groups. A member's commit counts as a heartbeat. The caller holds g.mu.
func (c *Coordinator) validateCommit(g *group, req *kmsg.OffsetCommitRequest, generation int32, memberID string) int16 {
	switch {
	case g.unloaded:
		return kerr.NotCoordinator.Code
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code
	case g.kind == kindConsumer:
		return c.validateConsumerCommit(g, memberID, generation, req.Version)
	case generation < 0 && g.state == stateEmpty:
		// An admin or simple consumer: an empty group takes its
		// commit whatever member it names.
		return 0
	}
	if generation >= 0 || memberID != "" || req.InstanceID != nil {
		if code := g.validateMember(memberID, req.InstanceID); code != 0 {
			return code
		}
		if generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
	} else if g.state != stateEmpty {
		// Only members commit to a group that has members.
		return kerr.UnknownMemberID.Code
	}
	if g.state == stateCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	if m := g.members[memberID]; m != nil {
		m.lastHeartbeat = c.mono()
	}
	return 0
}

// fetchTopic is one topic of an OffsetFetch, whichever version.
type fetchTopic struct {
	topic      string
	partitions []int32
}

type fetchedPartition struct {
	partition int32
	o         committed
	found     bool
	code      int16
}

type fetchedTopic struct {
	topic      string
	partitions []fetchedPartition
}

func (c *Coordinator) offsetFetch(_ context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	c.logger.Debug("OffsetFetch", "group", req.Group, "groups", len(req.Groups), "version", req.Version)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		ti := c.topicIndex()
		for _, rg := range req.Groups {
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = make([]fetchTopic, 0, len(rg.Topics))
				for _, t := range rg.Topics {
					name := t.Topic
					if req.Version >= 10 {
						name = ti.byID[t.TopicID].Name
					}
					topics = append(topics, fetchTopic{name, t.Partitions})
				}
			}
			code, out := c.fetchOffsets(rg.Group, topics, rg.Topics == nil, req.RequireStable, rg.MemberID, rg.MemberEpoch)
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = rg.Group, code
			for _, ft := range out {
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic = ft.topic
				if req.Version >= 10 {
					rt.TopicID = ti.byName[ft.topic].ID
				}
				for _, fp := range ft.partitions {
					rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					rp.Partition, rp.ErrorCode = fp.partition, fp.code
					rp.Offset, rp.Metadata = -1, new("")
					if fp.found {
						rp.Offset, rp.LeaderEpoch, rp.Metadata = fp.o.offset, fp.o.leaderEpoch, new(fp.o.metadata)
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				g.Topics = append(g.Topics, rt)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}

	all := req.Topics == nil && req.Version >= 2
	topics := make([]fetchTopic, 0, len(req.Topics))
	for _, t := range req.Topics {
		topics = append(topics, fetchTopic{t.Topic, t.Partitions})
	}
	code, out := c.fetchOffsets(req.Group, topics, all, req.Version >= 7 && req.RequireStable, nil, -1)
	if req.Version >= 2 {
		resp.ErrorCode = code
	}
	for _, ft := range out {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = ft.topic
		for _, fp := range ft.partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.ErrorCode = fp.partition, fp.code
			rp.Offset, rp.Metadata = -1, new("")
			if fp.found {
				rp.Offset, rp.LeaderEpoch, rp.Metadata = fp.o.offset, fp.o.leaderEpoch, new(fp.o.metadata)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// fetchOffsets returns a group's committed offsets for the requested
// partitions (offset -1 where none is committed), or all of them when all
// is set. On a group-level error the requested partitions carry it too.
// Offsets of open transactions are not visible; with stable set
// (require_stable, v7+) a partition that has one is UNSTABLE_OFFSET_COMMIT
// instead (KIP-447), so that a consumer does not start from an offset the
// transaction is about to replace.
func (c *Coordinator) fetchOffsets(groupID string, topics []fetchTopic, all, stable bool, memberID *string, epoch int32) (int16, []fetchedTopic) {
	requested := func(code int16) []fetchedTopic {
		out := make([]fetchedTopic, 0, len(topics))
		for _, t := range topics {
			ft := fetchedTopic{topic: t.topic}
			for _, p := range t.partitions {
				ft.partitions = append(ft.partitions, fetchedPartition{partition: p, code: code})
			}
			out = append(out, ft)
		}
		return out
	}
	g, code := c.lookup(groupID, false)
	if code != 0 {
		return code, requested(code)
	}
	if g == nil {
		return 0, requested(0)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.unloaded {
		return kerr.NotCoordinator.Code, requested(kerr.NotCoordinator.Code)
	}
	if g.state == stateDead {
		return 0, requested(0)
	}
	if g.kind == kindConsumer {
		if code := g.validateConsumerFetch(memberID, epoch); code != 0 {
			return code, requested(code)
		}
	}
	if !all {
		out := requested(0)
		for i := range out {
			for j := range out[i].partitions {
				fp := &out[i].partitions[j]
				tp := topicPartition{out[i].topic, fp.partition}
				if stable && g.hasTxnOffset(tp) {
					fp.code = kerr.UnstableOffsetCommit.Code
					continue
				}
				fp.o, fp.found = g.offsets[tp]
			}
		}
		return 0, out
	}
	tps := make([]topicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, compareTP)
	var out []fetchedTopic
	for _, tp := range tps {
		if len(out) == 0 || out[len(out)-1].topic != tp.topic {
			out = append(out, fetchedTopic{topic: tp.topic})
		}
		ft := &out[len(out)-1]
		if stable && g.hasTxnOffset(tp) {
			ft.partitions = append(ft.partitions, fetchedPartition{partition: tp.partition, code: kerr.UnstableOffsetCommit.Code})
			continue
		}
		ft.partitions = append(ft.partitions, fetchedPartition{partition: tp.partition, o: g.offsets[tp], found: true})
	}
	return 0, out
}

func compareTP(a, b topicPartition) int {
	if c := strings.Compare(a.topic, b.topic); c != 0 {
		return c
	}
	return int(a.partition) - int(b.partition)
}

func (c *Coordinator) offsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	c.logger.Debug("OffsetDelete", "group", req.Group)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	codes := make([][]int16, len(req.Topics))
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
	}
	resp.ErrorCode = c.deleteOffsets(ctx, req, codes)
	if resp.ErrorCode != 0 {
		return resp
	}
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// deleteOffsets is KIP-496: offsets go only for topics the group does not
// consume (GROUP_SUBSCRIBED_TO_TOPIC otherwise); a classic group that is
// not a consumer group must be empty (NON_EMPTY_GROUP).
func (c *Coordinator) deleteOffsets(ctx context.Context, req *kmsg.OffsetDeleteRequest, codes [][]int16) int16 {
	g, code := c.lookup(req.Group, false)
	if code != 0 {
		return code
	}
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.unloaded:
		return kerr.NotCoordinator.Code
	case g.state == stateDead:
		return kerr.GroupIDNotFound.Code
	}
	var subscribed func(topic string) bool
	switch {
	case g.kind == kindConsumer:
		subscribed = g.cons.subscribes
	case g.state == stateEmpty:
		subscribed = func(string) bool { return false }
	case g.protocolType == "consumer":
		subscribed = func(topic string) bool { return g.subscribed == nil || g.subscribed[topic] }
	default:
		return kerr.NonEmptyGroup.Code
	}
	var tps []topicPartition
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if subscribed(t.Topic) {
				codes[i][j] = kerr.GroupSubscribedToTopic.Code
				continue
			}
			tps = append(tps, topicPartition{t.Topic, p.Partition})
		}
	}
	if _, err := c.removeOffsets(ctx, g, tps); err != nil {
		c.logger.Warn("delete offsets", "group", g.id, "err", err)
		return appendCode(err, kerr.UnknownServerError.Code)
	}
	return 0
}

// removeOffsets writes tombstones for those of tps the group has,
// committed or in an open transaction, plus one for the group itself when
// that leaves it empty with no offsets (Kafka's cleanupGroupMetadata), then
// applies them. The caller holds g.wmu and g.mu; mu is released during the
// append. It returns how many committed offsets went.
func (c *Coordinator) removeOffsets(ctx context.Context, g *group, tps []topicPartition) (int, error) {
	var recs []kv
	var gone []topicPartition
	committedGone := 0
	for _, tp := range tps {
		_, ok := g.offsets[tp]
		if ok {
			committedGone++
		}
		if ok || g.hasTxnOffset(tp) {
			recs = append(recs, kv{key: offsetKey(g.id, tp)})
			gone = append(gone, tp)
		}
	}
	dies := len(g.offsets) == committedGone && !g.txnOffsetsBeyond(gone) && g.isEmpty() && len(g.pending) == 0 &&
		(g.kind == kindConsumer || g.state == stateEmpty)
	var queued []kv
	var end uint64
	if dies {
		// KIP-848 records not written yet go ahead of the tombstones.
		queued, end = g.takeQueued()
		recs = append(slices.Clip(queued), recs...)
		recs = append(recs, g.groupTombstones()...)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	g.mu.Unlock()
	err := c.appendRecords(ctx, g.part, recs)
	g.mu.Lock()
	if err != nil {
		g.requeue(queued)
		return 0, err
	}
	g.queueWritten(end)
	for _, tp := range gone {
		delete(g.offsets, tp)
		g.dropTxnOffsets(tp)
	}
	if dies {
		g.cimg = cgImage{}
		if g.kind == kindConsumer && !g.isEmpty() {
			// Revived while the tombstones were written: store it anew.
			c.persistConsumer(g, true)
			c.flushConsumerAsync(g)
		}
	}
	if dies && len(g.offsets) == 0 && len(g.txnOffsets) == 0 && g.isEmpty() && g.state != stateDead {
		g.transition(stateDead, c.now())
		c.forget(g)
		c.logger.Info("removed empty group", "group", g.id)
	}
	return committedGone, nil
}

// expiredOffsets is GroupMetadata.removeExpiredOffsets's selection (Kafka
// 2.1+, KIP-211): an empty classic group's offsets expire
// offsets.retention.minutes after it became empty; a simple consumer's,
// after their commit; a Stable classic consumer group's, after their
// commit for topics no member subscribes. A KIP-848 group's expire after
// their commit, for topics no member subscribes, empty or not (Kafka's
// ConsumerGroup.offsetExpirationCondition). The caller holds g.mu.
func (g *group) expiredOffsets(now time.Time, retention time.Duration) []topicPartition {
	nowMs, keep := now.UnixMilli(), retention.Milliseconds()
	fromCommit := func(o committed) int64 { return o.commitMs }
	fromEmpty := func(o committed) int64 {
		if g.stateAt.IsZero() {
			return o.commitMs
		}
		return g.stateAt.UnixMilli()
	}
	var base func(committed) int64
	skip := func(string) bool { return false }
	switch {
	case g.kind == kindConsumer:
		base, skip = fromCommit, g.cons.subscribes
	case g.protocolType == "":
		base = fromCommit
	case g.state == stateEmpty:
		base = fromEmpty
	case g.protocolType == "consumer" && g.subscribed != nil && g.state == stateStable:
		base, skip = fromCommit, func(t string) bool { return g.subscribed[t] }
	default:
		return nil
	}
	var out []topicPartition
	for tp, o := range g.offsets {
		// An offset a transaction is about to replace stays until the
		// transaction ends.
		if skip(tp.topic) || g.hasTxnOffset(tp) {
			continue
		}
		if o.expireMs >= 0 {
			if nowMs >= o.expireMs {
				out = append(out, tp)
			}
			continue
		}
		if nowMs-base(o) >= keep {
			out = append(out, tp)
		}
	}
	slices.SortFunc(out, compareTP)
	return out
}

func (c *Coordinator) startCleanup() {
	if !c.cleaning.CompareAndSwap(false, true) {
		return
	}
	c.goBackground(func(ctx context.Context) {
		defer c.cleaning.Store(false)
		c.expireOffsets(ctx)
	})
}

// eachLoadedGroup calls fn for every live group of the partitions loaded
// here, holding the group's wmu and mu, as a caller that removes offsets
// (removeOffsets) must. Unloaded and dead groups are skipped; it stops
// when ctx ends.
func (c *Coordinator) eachLoadedGroup(ctx context.Context, fn func(g *group)) {
	gs, _ := c.loadedGroups()
	for _, g := range gs {
		if ctx.Err() != nil {
			return
		}
		g.wmu.Lock()
		g.mu.Lock()
		if !g.unloaded && g.state != stateDead {
			fn(g)
		}
		g.mu.Unlock()
		g.wmu.Unlock()
	}
}

// expireOffsets removes expired offsets, and groups left empty without
// offsets, writing their tombstones.
func (c *Coordinator) expireOffsets(ctx context.Context) {
	expired, removed := 0, 0
	c.eachLoadedGroup(ctx, func(g *group) {
		n, err := c.removeOffsets(ctx, g, g.expiredOffsets(c.now(), c.cfg.OffsetsRetention))
		if err != nil {
			c.logger.Warn("expire offsets", "group", g.id, "err", err)
		}
		expired += n
		if g.state == stateDead {
			removed++
		}
	})
	if expired > 0 || removed > 0 {
		c.logger.Info("expired offsets", "offsets", expired, "groups_removed", removed)
	}
}

// topicsDeleted removes every loaded group's offsets of the deleted topics,
// committed and pending, with tombstones, as Kafka's coordinator does when
// partitions are deleted (onPartitionsDeleted): a topic created again under
// the same name starts with no committed offsets. A group left with no
// offsets and no members goes with them. As in Kafka, only the groups
// loaded here are visited: a group whose partition is still loading keeps
// the offsets until they expire.
func (c *Coordinator) topicsDeleted(ctx context.Context, topics map[string]bool) {
	removed := 0
	c.eachLoadedGroup(ctx, func(g *group) {
		var tps []topicPartition
		for tp := range g.offsets {
			if topics[tp.topic] {
				tps = append(tps, tp)
			}
		}
		for _, pend := range g.txnOffsets {
			for tp := range pend {
				if topics[tp.topic] && !slices.Contains(tps, tp) {
					tps = append(tps, tp)
				}
			}
		}
		if len(tps) == 0 {
			return
		}
		n, err := c.removeOffsets(ctx, g, tps)
		if err != nil {
			c.logger.Warn("remove offsets of deleted topics", "group", g.id, "err", err)
		}
		removed += n
	})
	if removed > 0 {
		c.logger.Info("removed offsets of deleted topics", "offsets", removed, "topics", len(topics))
	}
}

// javaLength is the length of s as Java counts a String's: UTF-16 code
// units. offset.metadata.max.bytes bounds that, despite its name.
func javaLength(s string) int {
	n := 0
	for _, r := range s {
		if r > 0xFFFF {
			n += 2
		} else {
			n++
		}
	}
	return n
}
