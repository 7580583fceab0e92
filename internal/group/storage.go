package group

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
)

// Record formats in __consumer_offsets are Kafka's, so that the topic can
// be read by Kafka's tools and a Kafka coordinator could load it:
//
//	key version 0/1: OffsetCommitKey (group, topic, partition)
//	                 value OffsetCommitValue, written at version 3
//	key version 2:   GroupMetadataKey (group)
//	                 value GroupMetadataValue, written at version 3
//
// A nil value is a tombstone: the offset, or the group's metadata, is
// gone. Replay applies records in log order, the last one per key wins,
// so compaction does not change what a replay rebuilds.
//
// Offset commits in a transactional batch (TxnOffsetCommit) are held per
// producer until that producer's marker: COMMIT applies them where no
// plain commit of the partition was written after them, ABORT drops them.
// A plain tombstone of a partition drops them too.
//
// Keys 3 to 8 are Kafka's KIP-848 consumer-group records (see
// kip848_records.go and consumer_storage.go). Of a group converted between
// protocols, the kind whose metadata came last in the log wins: a
// GroupMetadataValue drops the consumer-group records before it and a
// ConsumerGroupMetadataValue drops the classic metadata. Keys of other
// versions are skipped.
const (
	offsetKeyVersion   = 1
	offsetValueVersion = 3
	groupKeyVersion    = 2
	groupValueVersion  = 3
)

type kv struct{ key, value []byte }

func offsetKey(groupID string, tp topicPartition) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: groupID, Topic: tp.topic, Partition: tp.partition}
	return k.AppendTo(nil)
}

func offsetValue(o committed) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	v.Offset = o.offset
	v.LeaderEpoch = o.leaderEpoch
	v.Metadata = o.metadata
	v.CommitTimestamp = o.commitMs
	return v.AppendTo(nil)
}

func groupKey(groupID string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: groupID}
	return k.AppendTo(nil)
}

// metadataRecord is the group's GroupMetadataValue: the last completed
// generation, with each member's subscription for the selected protocol and
// its assignment. assignments, when set, replaces the members' assignments
// (the leader's SyncGroup, written before it is applied). The caller holds
// g.mu.
func (g *group) metadataRecord(assignments map[string][]byte) kv {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		v.Protocol = new(g.protocol)
	}
	if g.leader != "" && len(g.members) > 0 {
		v.Leader = new(g.leader)
	}
	if !g.stateAt.IsZero() {
		v.CurrentStateTimestamp = g.stateAt.UnixMilli()
	}
	for _, m := range g.sortedMembers() {
		mv := kmsg.NewGroupMetadataValueMember()
		mv.MemberID = m.id
		mv.InstanceID = m.instanceID
		mv.ClientID = m.clientID
		mv.ClientHost = m.clientHost
		mv.RebalanceTimeoutMillis = int32(m.rebalance / time.Millisecond)
		mv.SessionTimeoutMillis = int32(m.session / time.Millisecond)
		mv.Subscription = m.metadataFor(g.protocol)
		mv.Assignment = m.assignment
		if assignments != nil {
			mv.Assignment = assignments[m.id]
		}
		if mv.Subscription == nil {
			mv.Subscription = []byte{}
		}
		if mv.Assignment == nil {
			mv.Assignment = []byte{}
		}
		v.Members = append(v.Members, mv)
	}
	g.seq++
	return kv{key: groupKey(g.id), value: v.AppendTo(nil)}
}

// buildBatch makes one batch of recs; with txn set, a transactional batch
// of that producer.
func (c *Coordinator) buildBatch(recs []kv, txn *record.Producer) ([]byte, error) {
	rs := make([]record.Record, len(recs))
	for i, r := range recs {
		rs[i] = record.Record{Key: r.key, Value: r.value, OffsetDelta: int32(i)}
	}
	b, err := record.Build(record.BuildOptions{BaseTimestamp: c.now().UnixMilli(), Transactional: txn != nil, Producer: txn}, rs)
	if err != nil {
		return nil, fmt.Errorf("build %s batch: %w", OffsetsTopic, err)
	}
	return b, nil
}

// writeGroup appends a group-metadata snapshot built with sequence seq,
// unless a newer snapshot already reached the log. It takes g.wmu; the
// caller holds neither lock.
func (c *Coordinator) writeGroup(ctx context.Context, g *group, seq uint64, rec kv) error {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	return c.writeGroupLocked(ctx, g, seq, rec)
}

// writeGroupLocked is writeGroup for a caller that holds g.wmu (not g.mu).
func (c *Coordinator) writeGroupLocked(ctx context.Context, g *group, seq uint64, rec kv) error {
	g.mu.Lock()
	// A group that became a consumer group since has its own records.
	stale := g.written >= seq || g.state == stateDead || g.unloaded || g.kind != kindClassic
	g.mu.Unlock()
	if stale {
		return nil
	}
	if err := c.appendRecords(ctx, g.part, []kv{rec}); err != nil {
		return err
	}
	g.mu.Lock()
	g.written = max(g.written, seq)
	g.mu.Unlock()
	return nil
}

// persistGroupAsync writes the group's current metadata in the background:
// the transitions Kafka stores without anyone waiting (a group that became
// empty). The caller holds g.mu.
func (c *Coordinator) persistGroupAsync(g *group) {
	rec := g.metadataRecord(nil)
	seq := g.seq
	c.goBackground(func(ctx context.Context) {
		if err := c.writeGroup(ctx, g, seq, rec); err != nil {
			c.logger.Warn("store group metadata", "group", g.id, "err", err)
		}
	})
}

type replayStats struct{ records, offsets, txnOffsets, consumerGroups int }

// replay reads a partition from its start to its log end and rebuilds its
// groups: the last metadata record of each group, its committed offsets,
// and the offsets of transactions whose marker has not been read (a
// marker commits or drops its producer's offsets as CompleteTxn does). A
// group with offsets but no metadata is a simple consumer group, left
// Empty with no protocol type.
func (c *Coordinator) replay(ctx context.Context, pid int32) (map[string]*group, replayStats, error) {
	var stats replayStats
	start, end, err := c.cfg.Log.Bounds(pid)
	if err != nil {
		return nil, stats, fmt.Errorf("bounds: %w", err)
	}
	metas := make(map[string]*kmsg.GroupMetadataValue)
	cgs := make(map[string]*cgReplay)
	offsets := make(map[string]map[topicPartition]committed)
	txns := make(txnReplay)
	codecs := record.NewCodecs()
	// apply replays one record at offset at; producer is the producer ID
	// of a transactional batch, -1 for any other.
	apply := func(r record.Record, at, producer int64) error {
		stats.records++
		if len(r.Key) < 2 {
			return nil
		}
		switch binary.BigEndian.Uint16(r.Key) {
		case 0, 1:
			var k kmsg.OffsetCommitKey
			if err := k.ReadFrom(r.Key); err != nil {
				return fmt.Errorf("offset commit key: %w", err)
			}
			tp := topicPartition{k.Topic, k.Partition}
			if r.Value == nil {
				if producer >= 0 {
					delete(txns[producer][k.Group], tp)
					return nil
				}
				delete(offsets[k.Group], tp)
				txns.drop(k.Group, tp)
				return nil
			}
			var v kmsg.OffsetCommitValue
			if err := v.ReadFrom(r.Value); err != nil {
				return fmt.Errorf("offset commit value of %s: %w", k.Group, err)
			}
			o := committed{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitMs: v.CommitTimestamp, expireMs: -1, at: at}
			if v.Version >= 3 {
				o.leaderEpoch = v.LeaderEpoch
			}
			if v.Version == 1 {
				o.expireMs = v.ExpireTimestamp
			}
			if producer >= 0 {
				txns.add(producer, k.Group, tp, o)
				return nil
			}
			if offsets[k.Group] == nil {
				offsets[k.Group] = make(map[topicPartition]committed)
			}
			offsets[k.Group][tp] = o
		case 2:
			var k kmsg.GroupMetadataKey
			if err := k.ReadFrom(r.Key); err != nil {
				return fmt.Errorf("group metadata key: %w", err)
			}
			if r.Value == nil {
				delete(metas, k.Group)
				return nil
			}
			v := new(kmsg.GroupMetadataValue)
			if err := v.ReadFrom(r.Value); err != nil {
				return fmt.Errorf("group metadata value of %s: %w", k.Group, err)
			}
			metas[k.Group] = v
			// The group is a classic one now: KIP-848 records before
			// this one are of a consumer group it was converted from.
			delete(cgs, k.Group)
		case 3, 4, 5, 6, 7, 8:
			// A malformed KIP-848 record is logged and skipped: the
			// rest of the partition still loads.
			var k cgKey
			err := k.readFrom(r.Key)
			if err == nil {
				err = c.applyConsumerRecord(cgs, k, r.Value)
			}
			if err != nil {
				c.logger.Warn("skipping malformed consumer group record", "topic", OffsetsTopic, "partition", pid, "group", k.group, "key_version", k.version, "err", err)
				return nil
			}
			if k.version == cgMetadataKeyVersion && r.Value != nil {
				// A consumer group now: a classic group it was
				// converted from is gone.
				delete(metas, k.group)
			}
		}
		return nil
	}

	off, maxBytes := start, 1<<20
	for off < end {
		if err := ctx.Err(); err != nil {
			return nil, stats, err
		}
		b, err := c.cfg.Log.Read(pid, off, maxBytes)
		if err != nil {
			return nil, stats, fmt.Errorf("read at %d: %w", off, err)
		}
		progressed := false
		err = record.Batches(b, true, func(h record.Header, batch []byte) error {
			if h.LastOffset() < off {
				return nil
			}
			progressed = true
			next := h.LastOffset() + 1
			recs, err := codecs.Records(batch, maxRecordsBytes)
			if err != nil {
				return fmt.Errorf("batch at %d: %w", h.BaseOffset, err)
			}
			if h.IsControl() {
				// A transaction marker: its one record says
				// whether the producer's offsets commit or abort.
				if len(recs) > 0 {
					typ, err := record.ParseControlKey(recs[0].Key)
					if err != nil {
						return fmt.Errorf("control batch at %d: %w", h.BaseOffset, err)
					}
					switch typ {
					case record.ControlCommit, record.ControlAbort:
						txns.end(offsets, h.ProducerID, typ == record.ControlCommit)
					}
				}
				off = next
				return nil
			}
			producer := int64(-1)
			if h.IsTransactional() {
				producer = h.ProducerID
			}
			for _, r := range recs {
				at := h.BaseOffset + int64(r.OffsetDelta)
				if at < off {
					continue
				}
				if err := apply(r, at, producer); err != nil {
					return fmt.Errorf("record at %d: %w", at, err)
				}
			}
			off = next
			return nil
		})
		if err != nil {
			return nil, stats, err
		}
		if !progressed {
			if len(b) == 0 || maxBytes >= 64<<20 {
				return nil, stats, fmt.Errorf("read at %d returned no whole batch below the log end %d", off, end)
			}
			maxBytes *= 2 // a batch larger than we asked for
		}
	}

	now := c.mono()
	groups := make(map[string]*group)
	for id, v := range metas {
		g := newGroup(id, pid)
		g.restore(v, now)
		groups[id] = g
	}
	for id, cr := range cgs {
		if cr.meta == nil {
			// Records without the group's epoch: nothing Kafka would
			// load either.
			c.logger.Warn("consumer group records without group metadata ignored", "topic", OffsetsTopic, "partition", pid, "group", id)
			continue
		}
		g := newGroup(id, pid)
		c.restoreConsumer(g, cr, now)
		groups[id] = g
		stats.consumerGroups++
	}
	for id, os := range offsets {
		if len(os) == 0 {
			continue
		}
		g := groups[id]
		if g == nil {
			g = newGroup(id, pid)
			groups[id] = g
		}
		g.offsets = os
		stats.offsets += len(os)
	}
	// Transactions still open at the end of the log stay pending: their
	// markers are yet to come.
	for producer, byGroup := range txns {
		for id, os := range byGroup {
			if len(os) == 0 {
				continue
			}
			g := groups[id]
			if g == nil {
				g = newGroup(id, pid)
				groups[id] = g
			}
			g.txnOffsets[producer] = os
			stats.txnOffsets += len(os)
		}
	}
	return groups, stats, nil
}

// restore sets a group from its last metadata record, as Kafka's
// GroupMetadata.loadGroup does: Empty without members, else Stable with
// the stored assignment, and every member's session restarting now.
func (g *group) restore(v *kmsg.GroupMetadataValue, now time.Time) {
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	if v.CurrentStateTimestamp >= 0 {
		g.stateAt = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, mv := range v.Members {
		m := &member{
			id:            mv.MemberID,
			instanceID:    mv.InstanceID,
			clientID:      mv.ClientID,
			clientHost:    mv.ClientHost,
			protocolType:  v.ProtocolType,
			protocols:     []protocol{{name: g.protocol, metadata: slices.Clone(mv.Subscription)}},
			rebalance:     ms(mv.RebalanceTimeoutMillis),
			session:       ms(mv.SessionTimeoutMillis),
			assignment:    slices.Clone(mv.Assignment),
			joinedAt:      now,
			lastHeartbeat: now,
		}
		if m.rebalance <= 0 {
			m.rebalance = m.session
		}
		g.members[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
	}
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ""
		for _, m := range g.sortedMembers() {
			g.leader = m.id
			break
		}
	}
	g.state = stateEmpty
	if len(g.members) > 0 {
		g.state = stateStable
	}
	g.subscribed = g.computeSubscribed()
}
