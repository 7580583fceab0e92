package group

// Persistence of KIP-848 consumer groups (records in kip848_records.go).
//
// Writing: after every change of a consumer group (a heartbeat, a member
// fenced by a timer, a conversion), persistConsumer compares the group
// with cgImage, the last value queued per record key, and queues the
// records whose value changed, in Kafka's order: tombstones of departed
// members (current assignment, target, member metadata), member metadata,
// partition metadata, group epoch, target assignment members then target
// assignment metadata, current member assignment. Queued records are
// appended in queue order under group.wmu (flushConsumer); a heartbeat
// answers once everything queued up to its change is durable, so it never
// answers with state a failover could lose.
//
// Reading: replay collects the last record per key (cgReplay) and restore
// rebuilds the group from them.

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// cgImage is what the log holds (or will, once the queue is flushed) for
// a consumer group: the value of the last record queued per key, and the
// members that have records.
type cgImage struct {
	recs    map[string]string
	members map[string]bool
	// topicsSig is the topicsSig of the partition metadata in recs, so
	// that it is encoded only when the subscribed topics change.
	topicsSig   string
	topicsKnown bool
}

func (img *cgImage) init() {
	if img.recs == nil {
		img.recs = make(map[string]string)
		img.members = make(map[string]bool)
	}
}

// topicsSignature is what updateTarget compares to notice that subscribed
// topics changed; ts is sorted by name.
func topicsSignature(ts []TopicInfo) string {
	var sig strings.Builder
	for _, t := range ts {
		sig.WriteString(t.Name)
		sig.Write(t.ID[:])
		sig.WriteString(strconv.Itoa(int(t.Partitions)))
	}
	return sig.String()
}

func (m *consumerMember) metadataValue() []byte {
	v := cgMemberMetadataValue{
		instanceID:  m.instanceID,
		rackID:      m.rackID,
		clientID:    m.clientID,
		clientHost:  m.clientHost,
		topicNames:  m.names,
		rebalanceMs: int32(m.rebalance / time.Millisecond),
	}
	if m.regex != "" {
		v.topicRegex = new(m.regex)
	}
	if m.assignor != "" {
		v.serverAssignor = new(m.assignor)
	}
	return v.appendTo(nil)
}

// currentValue is the member's current assignment. A static member that
// left temporarily is stored at epoch -2 as Kafka does, with the epoch it
// left at as its previous epoch.
func (m *consumerMember) currentValue() []byte {
	v := cgCurrentAssignmentValue{
		memberEpoch: m.epoch,
		prevEpoch:   m.prevEpoch,
		state:       int8(m.state),
		assigned:    toTopicPartitions(m.assigned),
		revoking:    toTopicPartitions(m.revoking),
	}
	if m.leaving {
		v.memberEpoch, v.prevEpoch = staticLeaveEpoch, m.epoch
	}
	return v.appendTo(nil)
}

func (cg *consumerGroup) partitionMetadataValue() []byte {
	v := cgPartitionMetadataValue{topics: make([]cgTopicMetadata, len(cg.topics))}
	for i, t := range cg.topics {
		v.topics[i] = cgTopicMetadata{id: t.ID, name: t.Name, partitions: t.Partitions}
	}
	return v.appendTo(nil)
}

// persistConsumer queues the records that bring the log in line with the
// group: for the members named in touched (all of them when full), for
// members that are gone, and for the group. The caller holds g.mu.
func (c *Coordinator) persistConsumer(g *group, full bool, touched ...string) {
	cg := g.cons
	if g.kind != kindConsumer || cg == nil {
		return
	}
	img := &g.cimg
	img.init()
	var out []kv
	put := func(key, value []byte) {
		if v, ok := img.recs[string(key)]; ok && v == string(value) {
			return
		}
		img.recs[string(key)] = string(value)
		out = append(out, kv{key: key, value: value})
	}
	var ms []*consumerMember
	if full {
		ms = cg.sortedMembers()
	} else {
		for _, id := range touched {
			if m := cg.members[id]; m != nil && !slices.Contains(ms, m) {
				ms = append(ms, m)
			}
		}
	}
	for _, m := range ms {
		img.members[m.id] = true
	}
	if full || len(img.members) > len(cg.members) {
		for _, id := range slices.Sorted(maps.Keys(img.members)) {
			if cg.members[id] == nil {
				out = append(out, img.forgetMember(g.id, id)...)
			}
		}
	}
	for _, m := range ms {
		put(cgRecordKey(cgMemberMetadataVersion, g.id, m.id), m.metadataValue())
	}
	pkey := cgRecordKey(cgPartitionMetadataVersion, g.id, "")
	if _, ok := img.recs[string(pkey)]; (ok || len(cg.topics) > 0) && (full || !img.topicsKnown || img.topicsSig != cg.topicsSig) {
		put(pkey, cg.partitionMetadataValue())
		img.topicsSig, img.topicsKnown = cg.topicsSig, true
	}
	put(cgRecordKey(cgMetadataKeyVersion, g.id, ""), cgMetadataValue{epoch: cg.epoch, creationMs: -1}.appendTo(nil))
	tkey := cgRecordKey(cgTargetMetadataVersion, g.id, "")
	tval := cgTargetMetadataValue{assignmentEpoch: cg.assignmentEpoch}.appendTo(nil)
	targets := ms
	if img.recs[string(tkey)] != string(tval) {
		targets = cg.sortedMembers()
	}
	for _, m := range targets {
		put(cgRecordKey(cgTargetMemberVersion, g.id, m.id), cgTargetMemberValue{topics: toTopicPartitions(cg.target[m.id])}.appendTo(nil))
	}
	put(tkey, tval)
	for _, m := range ms {
		put(cgRecordKey(cgCurrentAssignmentVersion, g.id, m.id), m.currentValue())
	}
	g.queue(out)
}

// forgetMember returns the tombstones of a member's records, in Kafka's
// order, and drops them from the image.
func (img *cgImage) forgetMember(groupID, memberID string) []kv {
	var out []kv
	for _, v := range []int16{cgCurrentAssignmentVersion, cgTargetMemberVersion, cgMemberMetadataVersion} {
		k := cgRecordKey(v, groupID, memberID)
		if _, ok := img.recs[string(k)]; ok {
			delete(img.recs, string(k))
			out = append(out, kv{key: k})
		}
	}
	delete(img.members, memberID)
	return out
}

// tombstones returns tombstones for every record of the group the image
// holds, as Kafka's createGroupTombstoneRecords orders them. It leaves the
// image as it is; the caller resets it once they are written.
func (img *cgImage) tombstones(groupID string) []kv {
	var out []kv
	for _, id := range slices.Sorted(maps.Keys(img.members)) {
		for _, v := range []int16{cgCurrentAssignmentVersion, cgTargetMemberVersion, cgMemberMetadataVersion} {
			if k := cgRecordKey(v, groupID, id); img.has(k) {
				out = append(out, kv{key: k})
			}
		}
	}
	for _, v := range []int16{cgTargetMetadataVersion, cgPartitionMetadataVersion, cgMetadataKeyVersion} {
		if k := cgRecordKey(v, groupID, ""); img.has(k) {
			out = append(out, kv{key: k})
		}
	}
	return out
}

func (img *cgImage) has(key []byte) bool {
	_, ok := img.recs[string(key)]
	return ok
}

// queue adds records to the group's KIP-848 queue. The caller holds g.mu.
func (g *group) queue(recs []kv) {
	if len(recs) == 0 {
		return
	}
	g.cq = append(g.cq, recs...)
	g.cqSeq += uint64(len(recs))
}

// takeQueued empties the queue for a caller that appends its records
// ahead of its own, holding g.wmu and g.mu; it passes the result to
// queueWritten or, if the append failed, requeue.
func (g *group) takeQueued() ([]kv, uint64) {
	recs, end := g.cq, g.cqSeq
	g.cq = nil
	return recs, end
}

func (g *group) queueWritten(end uint64) { g.cqDone = max(g.cqDone, end) }

func (g *group) requeue(recs []kv) {
	if len(recs) > 0 {
		g.cq = append(slices.Clip(recs), g.cq...)
	}
}

// flushConsumer appends the group's queued KIP-848 records until those
// queued up to upto are durable. holdsWMU says whether the caller holds
// g.wmu; it never holds g.mu.
func (c *Coordinator) flushConsumer(ctx context.Context, g *group, upto uint64, holdsWMU bool) error {
	if !holdsWMU {
		g.wmu.Lock()
		defer g.wmu.Unlock()
	}
	g.mu.Lock()
	switch {
	case g.cqDone >= upto:
		g.mu.Unlock()
		return nil
	case g.unloaded:
		g.mu.Unlock()
		return kerr.NotCoordinator
	}
	recs, end := g.takeQueued()
	g.mu.Unlock()
	err := c.appendRecords(ctx, g.part, recs)
	g.mu.Lock()
	if err != nil {
		g.requeue(recs)
	} else {
		g.queueWritten(end)
	}
	g.mu.Unlock()
	return err
}

// flushConsumerAsync writes what is queued in the background: changes
// nobody waits for (timers, conversions). The caller holds g.mu.
func (c *Coordinator) flushConsumerAsync(g *group) {
	if g.cqDone >= g.cqSeq {
		return
	}
	upto := g.cqSeq
	c.goBackground(func(ctx context.Context) {
		if err := c.flushConsumer(ctx, g, upto, false); err != nil && !errors.Is(err, kerr.NotCoordinator) {
			c.logger.Warn("store consumer group records", "group", g.id, "err", err)
		}
	})
}

// cgReplay is what replay collects of a consumer group: the last value of
// each of its records.
type cgReplay struct {
	meta     *cgMetadataValue
	topics   *cgPartitionMetadataValue
	target   *cgTargetMetadataValue
	members  map[string]*cgMemberMetadataValue
	targets  map[string]*cgTargetMemberValue
	currents map[string]*cgCurrentAssignmentValue
}

func newCGReplay() *cgReplay {
	return &cgReplay{
		members:  make(map[string]*cgMemberMetadataValue),
		targets:  make(map[string]*cgTargetMemberValue),
		currents: make(map[string]*cgCurrentAssignmentValue),
	}
}

// apply applies one record. A tombstone of the group's metadata removes
// the group (Kafka writes it last, after every other tombstone).
func (c *Coordinator) applyConsumerRecord(cgs map[string]*cgReplay, k cgKey, value []byte) error {
	cr := cgs[k.group]
	if value == nil {
		if cr == nil {
			return nil
		}
		switch k.version {
		case cgMetadataKeyVersion:
			delete(cgs, k.group)
		case cgPartitionMetadataVersion:
			cr.topics = nil
		case cgTargetMetadataVersion:
			cr.target = nil
		case cgMemberMetadataVersion:
			delete(cr.members, k.member)
		case cgTargetMemberVersion:
			delete(cr.targets, k.member)
		case cgCurrentAssignmentVersion:
			delete(cr.currents, k.member)
		}
		return nil
	}
	var set func(*cgReplay)
	switch k.version {
	case cgMetadataKeyVersion:
		v := new(cgMetadataValue)
		if err := v.readFrom(value); err != nil {
			return err
		}
		set = func(cr *cgReplay) { cr.meta = v }
	case cgPartitionMetadataVersion:
		v := new(cgPartitionMetadataValue)
		if err := v.readFrom(value); err != nil {
			return err
		}
		set = func(cr *cgReplay) { cr.topics = v }
	case cgTargetMetadataVersion:
		v := new(cgTargetMetadataValue)
		if err := v.readFrom(value); err != nil {
			return err
		}
		set = func(cr *cgReplay) { cr.target = v }
	case cgMemberMetadataVersion:
		v := new(cgMemberMetadataValue)
		if err := v.readFrom(value); err != nil {
			return err
		}
		set = func(cr *cgReplay) { cr.members[k.member] = v }
	case cgTargetMemberVersion:
		v := new(cgTargetMemberValue)
		if err := v.readFrom(value); err != nil {
			return err
		}
		set = func(cr *cgReplay) { cr.targets[k.member] = v }
	case cgCurrentAssignmentVersion:
		v := new(cgCurrentAssignmentValue)
		if err := v.readFrom(value); err != nil {
			return err
		}
		set = func(cr *cgReplay) { cr.currents[k.member] = v }
	default:
		return nil
	}
	if cr == nil {
		cr = newCGReplay()
		cgs[k.group] = cr
	}
	set(cr)
	return nil
}

// restoreConsumer makes g the consumer group the records describe: members
// with their subscriptions, epochs, states and partitions, the target
// assignment and the subscribed topics' metadata, so that members keep
// heartbeating at their epochs and nothing rebalances. Sessions and
// revocation timeouts restart now, as Kafka's do on load.
func (c *Coordinator) restoreConsumer(g *group, cr *cgReplay, now time.Time) {
	g.toConsumer()
	cg := g.cons
	cg.epoch = cr.meta.epoch
	if cr.target != nil {
		cg.assignmentEpoch = cr.target.assignmentEpoch
	}
	if cr.topics != nil {
		for _, t := range cr.topics.topics {
			cg.topics = append(cg.topics, TopicInfo{Name: t.name, ID: t.id, Partitions: t.partitions})
		}
		slices.SortFunc(cg.topics, func(a, b TopicInfo) int { return cmp.Compare(a.Name, b.Name) })
		cg.topicsSig = topicsSignature(cg.topics)
	}
	for _, id := range slices.Sorted(maps.Keys(cr.members)) {
		mv := cr.members[id]
		m := &consumerMember{
			id:         id,
			instanceID: mv.instanceID,
			rackID:     mv.rackID,
			clientID:   mv.clientID,
			clientHost: mv.clientHost,
			names:      slices.Compact(slices.Sorted(slices.Values(mv.topicNames))),
			assignor:   deref(mv.serverAssignor),
			assigned:   make(assignment),
			revoking:   make(assignment),
		}
		if len(m.names) == 0 {
			m.names = nil
		}
		if mv.rebalanceMs > 0 {
			m.rebalance = ms(mv.rebalanceMs)
		}
		if mv.topicRegex != nil && *mv.topicRegex != "" {
			m.regex = *mv.topicRegex
			re, err := regexp.Compile("^(?:" + m.regex + ")$")
			if err != nil {
				c.logger.Warn("stored subscription regex does not compile", "group", g.id, "member_id", id, "err", err)
			} else {
				m.re = re
			}
		}
		m.sessionDeadline = now.Add(c.cfg.ConsumerSessionTimeout)
		cg.members[id] = m
		if m.instanceID != nil {
			cg.static[*m.instanceID] = id
		}
		if tv := cr.targets[id]; tv != nil {
			cg.target[id] = fromTopicPartitions(tv.topics)
		}
		if cv := cr.currents[id]; cv != nil {
			m.epoch, m.prevEpoch = cv.memberEpoch, cv.prevEpoch
			if cv.memberEpoch == staticLeaveEpoch {
				m.leaving = true
				m.epoch = cv.prevEpoch
			}
			switch s := memberState(cv.state); s {
			case memberStable, memberUnrevoked, memberUnreleased:
				m.state = s
			default:
				m.state = memberUnreleased // unknown: reconcile anew
			}
			cg.hold(m, fromTopicPartitions(cv.assigned), fromTopicPartitions(cv.revoking))
			if m.state == memberUnrevoked {
				m.revokeDeadline = now.Add(m.rebalance)
			}
		}
	}
	for _, recs := range []map[string]bool{keySet(cr.targets), keySet(cr.currents)} {
		for id := range recs {
			if cg.members[id] == nil {
				c.logger.Warn("consumer group record of an unknown member ignored", "group", g.id, "member_id", id)
			}
		}
	}
	if cg.assignmentEpoch > 0 || len(cg.members) > 0 {
		cg.assignor = cg.preferredAssignor()
	}
	// The image is the restored state as this coordinator would write
	// it, over every key the log holds (so that deleting the group
	// tombstones them all).
	img := &g.cimg
	img.init()
	has := func(version int16, member string) { img.recs[string(cgRecordKey(version, g.id, member))] = "" }
	has(cgMetadataKeyVersion, "")
	if cr.topics != nil {
		has(cgPartitionMetadataVersion, "")
	}
	if cr.target != nil {
		has(cgTargetMetadataVersion, "")
	}
	for id := range cg.members {
		img.members[id] = true
		has(cgMemberMetadataVersion, id)
		if cr.targets[id] != nil {
			has(cgTargetMemberVersion, id)
		}
		if cr.currents[id] != nil {
			has(cgCurrentAssignmentVersion, id)
		}
	}
	c.persistConsumer(g, true)
	g.cq, g.cqSeq, g.cqDone = nil, 0, 0
}

// groupTombstones are the tombstones that delete a group: its KIP-848
// records for a consumer group, its GroupMetadata otherwise. The caller
// holds g.mu.
func (g *group) groupTombstones() []kv {
	if g.kind == kindConsumer {
		if ts := g.cimg.tombstones(g.id); len(ts) > 0 {
			return ts
		}
	}
	return []kv{{key: groupKey(g.id)}}
}

func keySet[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
