package cluster

// Leader election and ISR changes, as apply functions of the FSM. Everything
// here is deterministic: it reads only the image being built and the
// command, so every node computes the same leaders and epochs. The
// controller (controller.go) only decides *when* to propose; *what* changes
// is decided here.
//
// Kafka semantics followed:
//   - KIP-631: a fenced broker (no heartbeat within the session timeout, or
//     registered but not yet heartbeating) leads nothing and leaves every
//     ISR where it is not the last member; the last member stays so that no
//     unclean election happens (unless unclean.leader.election.enable).
//     One exception: a broker that registers again after stopping without
//     a controlled shutdown keeps its ISR places and leaderships (with new
//     leader epochs) until its first heartbeat (brokerRejoined).
//   - KIP-497/KIP-841 AlterPartition: applies only at the current leader and
//     partition epochs, with live replicas in the new ISR; KIP-903: at the
//     broker epochs the leader names for them.
//   - KIP-455 reassignment: Replicas is target ∪ original while adding,
//     completed once every target replica is in the ISR.
//   - KIP-460 ElectLeaders: preferred and unclean.
//   - Controlled shutdown: like a fence, but the broker stays registered.
//
// A leader change bumps LeaderEpoch; any change of leader, ISR or replicas
// bumps PartitionEpoch, once per command.

import (
	"cmp"
	"fmt"
	"slices"
)

// noLeader is Partition.Leader while no replica may lead.
const noLeader = -1

// uncleanConfig is the topic (and cluster default) config that allows an
// out-of-sync replica to lead.
const uncleanConfig = "unclean.leader.election.enable"

// electResults is what an ElectLeaders command returns from Apply.
type electResults map[TopicPartitionID]error

// isLive reports whether a broker may lead or be in an ISR: registered,
// unfenced, not shutting down.
func isLive(brokers map[int32]Broker, id int32) bool {
	b, ok := brokers[id]
	return ok && !b.Fenced && !b.ShuttingDown
}

func (b *imageBuilder) live(id int32) bool { return isLive(b.next.Brokers, id) }

// uncleanAllowed reports whether t allows unclean leader election: the
// topic's own config, else the cluster-wide dynamic default.
func (b *imageBuilder) uncleanAllowed(t *Topic) bool {
	return uncleanAllowed(t, b.next.BrokerConfigs, false)
}

// uncleanAllowed is imageBuilder.uncleanAllowed against the dynamic broker
// configs brokerConfigs, with fallback where neither sets it.
func uncleanAllowed(t *Topic, brokerConfigs map[string]map[string]string, fallback bool) bool {
	if v, ok := t.Configs[uncleanConfig]; ok {
		return v == "true"
	}
	if v, ok := brokerConfigs[""][uncleanConfig]; ok {
		return v == "true"
	}
	return fallback
}

// electLeader picks the leader for p: the first replica, in replica order,
// that is live, not offline and in the ISR. With unclean set and no such
// replica, the first live replica not offline (which then becomes the
// whole ISR). noLeader if none.
func (b *imageBuilder) electLeader(p Partition, unclean bool) (leader int32, wasUnclean bool) {
	return b.electLeaderExcept(p, unclean, noLeader)
}

// electLeaderExcept is electLeader passing over the replica except (a live
// broker whose replica of p is offline).
func (b *imageBuilder) electLeaderExcept(p Partition, unclean bool, except int32) (leader int32, wasUnclean bool) {
	for _, r := range p.Replicas {
		if r != except && slices.Contains(p.ISR, r) && b.live(r) && !slices.Contains(p.OfflineReplicas, r) {
			return r, false
		}
	}
	if unclean {
		for _, r := range p.Replicas {
			if r != except && b.live(r) && !slices.Contains(p.OfflineReplicas, r) {
				return r, true
			}
		}
	}
	return noLeader, false
}

// withLeader returns p led by leader; an unclean leader becomes the ISR.
func withLeader(p Partition, leader int32, unclean bool) Partition {
	p.Leader = leader
	if unclean {
		p.ISR = []int32{leader}
	}
	return p
}

// bumped returns next with the epochs bumped for what changed since prev.
func bumped(prev, next Partition, force bool) Partition {
	if next.Leader != prev.Leader {
		next.LeaderEpoch = prev.LeaderEpoch + 1
	}
	if force || next.Leader != prev.Leader || !slices.Equal(next.ISR, prev.ISR) || !slices.Equal(next.Replicas, prev.Replicas) ||
		!slices.Equal(next.AddingReplicas, prev.AddingReplicas) || !slices.Equal(next.RemovingReplicas, prev.RemovingReplicas) {
		next.PartitionEpoch = prev.PartitionEpoch + 1
	}
	return next
}

// partitionOf finds a partition by topic ID and index.
func (b *imageBuilder) partitionOf(id TopicID, index int32) (*Topic, Partition, error) {
	t, ok := b.topicByID(id)
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return nil, Partition{}, fmt.Errorf("partition %v/%d: %w", id, index, ErrUnknownPartition)
	}
	return t, t.Partitions[index], nil
}

// putPartition replaces one partition of t with p. The first change to a
// topic in a builder (or a batch of them) copies its partitions; later
// ones write into that copy, so a command changing many partitions of one
// topic costs one copy of it, not one per partition.
func (b *imageBuilder) putPartition(t *Topic, p Partition) {
	if b.ownedTopic(t) {
		old := t.Partitions[p.Index]
		b.mutated = true
		if !slices.Equal(old.Replicas, p.Replicas) {
			b.copyLoad()
			b.next.load.addReplicas(old.Replicas, -1)
			b.next.load.addReplicas(p.Replicas, 1)
		}
		b.topicChanged(t.Name)
		t.Partitions[p.Index] = p
		return
	}
	nt := *t
	nt.Partitions = slices.Clone(t.Partitions)
	nt.Partitions[p.Index] = p
	b.putTopic(&nt)
	b.own(&nt)
}

// updateAll calls fn on every partition, in topic-name order, and keeps
// what it returns; fn reports whether it changed the partition.
func (b *imageBuilder) updateAll(fn func(t *Topic, p Partition) (Partition, bool)) {
	for _, name := range b.topicNames() {
		t, _ := b.topic(name)
		var parts []Partition
		for i, p := range t.Partitions {
			np, ok := fn(t, p)
			if !ok {
				continue
			}
			if parts == nil {
				parts = slices.Clone(t.Partitions)
			}
			parts[i] = np
		}
		if parts != nil {
			nt := *t
			nt.Partitions = parts
			b.putTopic(&nt)
			b.own(&nt)
		}
	}
}

// brokerLeft applies a broker's fencing or controlled shutdown (already
// recorded in the builder's brokers): it leaves every ISR where it is not
// the last member, and its leaderships move to the first live ISR member
// (or to no leader).
func (b *imageBuilder) brokerLeft(id int32) {
	b.updateAll(func(t *Topic, p Partition) (Partition, bool) {
		if p.Leader != id && !slices.Contains(p.ISR, id) {
			return p, false
		}
		np := p
		if len(p.ISR) > 1 && slices.Contains(p.ISR, id) {
			np.ISR = without(p.ISR, id)
		}
		if p.Leader == id {
			leader, unclean := b.electLeader(np, b.uncleanAllowed(t))
			np = withLeader(np, leader, unclean)
		}
		np = bumped(p, np, false)
		return np, np.PartitionEpoch != p.PartitionEpoch
	})
}

// brokerRejoined applies the registration of a broker that starts again
// after it stopped without a controlled shutdown, while the image still
// shows it live. It stays in its ISRs: followers fsync what they fetch
// before they fetch again, so it still holds every record below the high
// watermark. It keeps its leaderships, each with a new leader epoch (its
// log may have lost an unsynced tail the followers hold; the epoch change
// makes them truncate to it), and leads again once its first heartbeat
// unfences it; if that heartbeat does not come within the session
// timeout, the controller fences it and they move (controller.go).
//
// Handing them to another ISR member instead would be a guess: after a
// restart of the whole cluster the controller has heard from nobody yet,
// and a broker that did not come back looks live for a session timeout,
// so it could be named leader of partitions that the brokers which did
// come back could lead at once; and each ISR member that registered
// would leave the ISR, down to a last member that may be the one still
// down, leaving the partition without a leader even after it is fenced.
func (b *imageBuilder) brokerRejoined(id int32) {
	b.updateAll(func(t *Topic, p Partition) (Partition, bool) {
		if p.Leader != id {
			return p, false
		}
		np := p
		np.LeaderEpoch = p.LeaderEpoch + 1
		return bumped(p, np, true), true
	})
}

// brokerLostLogs applies the registration of a broker that lost the data
// of its log directories (RegisterBroker.LostLogs), after it left its ISRs
// as a fenced broker does. Where it was the last ISR member of a partition
// with other replicas, it leaves that ISR too: its replica is empty, and
// the records the partition acknowledged may survive only on a replica
// out of sync. The ISR is then empty, so that no clean election names
// this broker when it is unfenced; an unclean election (the topic allows
// it, or an ElectLeaders asks for it) picks a live replica, which becomes
// the ISR. A partition with this one replica has no other copy to wait
// for: the broker stays its ISR and leads it again, empty.
func (b *imageBuilder) brokerLostLogs(id int32) {
	b.updateAll(func(t *Topic, p Partition) (Partition, bool) {
		if len(p.Replicas) < 2 || !slices.Equal(p.ISR, []int32{id}) {
			return p, false
		}
		np := p
		np.ISR = nil
		if p.Leader == noLeader && b.uncleanAllowed(t) {
			leader, unclean := b.electLeader(np, true)
			np = withLeader(np, leader, unclean)
		}
		np = bumped(p, np, false)
		return np, np.PartitionEpoch != p.PartitionEpoch
	})
}

// brokerReturned applies a broker's unfencing: partitions without a leader
// get one again if this broker (or another live one) is eligible.
func (b *imageBuilder) brokerReturned(id int32) {
	b.updateAll(func(t *Topic, p Partition) (Partition, bool) {
		if p.Leader != noLeader || !slices.Contains(p.Replicas, id) {
			return p, false
		}
		leader, unclean := b.electLeader(p, b.uncleanAllowed(t))
		if leader == noLeader {
			return p, false
		}
		return bumped(p, withLeader(p, leader, unclean), false), true
	})
}

// replicasOnline forgets that broker id's replicas were offline: it
// registered, a new start of it, which reports any directory still
// offline again.
func (b *imageBuilder) replicasOnline(id int32) {
	b.updateAll(func(t *Topic, p Partition) (Partition, bool) {
		if !slices.Contains(p.OfflineReplicas, id) {
			return p, false
		}
		p.OfflineReplicas = without(p.OfflineReplicas, id)
		return p, true
	})
}

// setBroker records br and applies the effect of its liveness on partitions.
func (b *imageBuilder) setBroker(br Broker) {
	b.putBroker(br)
	if isLive(b.next.Brokers, br.ID) {
		b.brokerReturned(br.ID)
	} else {
		b.brokerLeft(br.ID)
	}
}

func (b *imageBuilder) registered(id int32, what string) (Broker, error) {
	br, ok := b.next.Brokers[id]
	if !ok {
		return Broker{}, fmt.Errorf("cluster: %s broker %d: not registered", what, id)
	}
	return br, nil
}

func applyFenceBroker(b *imageBuilder, c fenceBroker) error {
	br, err := b.registered(c.ID, "fence")
	if err != nil {
		return err
	}
	if c.Epoch != 0 && c.Epoch != br.Epoch {
		return fmt.Errorf("cluster: fence broker %d: silent at epoch %d, registered at %d: %w", c.ID, c.Epoch, br.Epoch, ErrStaleBrokerEpoch)
	}
	br.Fenced = true
	b.setBroker(br)
	return nil
}

func applyUnfenceBroker(b *imageBuilder, c unfenceBroker) error {
	br, err := b.registered(c.ID, "unfence")
	if err != nil {
		return err
	}
	if c.Epoch != 0 && c.Epoch != br.Epoch {
		return fmt.Errorf("cluster: unfence broker %d: heartbeat of epoch %d, registered at %d: %w", c.ID, c.Epoch, br.Epoch, ErrStaleBrokerEpoch)
	}
	br.Fenced = false
	b.setBroker(br)
	return nil
}

func applyShutdownBroker(b *imageBuilder, c shutdownBroker) error {
	br, err := b.registered(c.ID, "shut down")
	if err != nil {
		return err
	}
	br.ShuttingDown = true
	b.setBroker(br)
	return nil
}

func applyAlterPartition(b *imageBuilder, c AlterPartition) error {
	t, p, err := b.partitionOf(c.Topic, c.Partition)
	if err != nil {
		return fmt.Errorf("alter partition: %w", err)
	}
	name := fmt.Sprintf("alter partition %s/%d", t.Name, p.Index)
	switch {
	case c.Leader != p.Leader || c.LeaderEpoch != p.LeaderEpoch:
		return fmt.Errorf("%s: leader %d epoch %d, current leader %d epoch %d: %w",
			name, c.Leader, c.LeaderEpoch, p.Leader, p.LeaderEpoch, ErrFencedLeaderEpoch)
	case c.PartitionEpoch != p.PartitionEpoch:
		return fmt.Errorf("%s: partition epoch %d, current %d: %w", name, c.PartitionEpoch, p.PartitionEpoch, ErrInvalidUpdateVersion)
	case !slices.Contains(c.ISR, c.Leader):
		return fmt.Errorf("%s: ISR %v leaves out its leader %d: %w", name, c.ISR, c.Leader, ErrIneligibleReplica)
	case len(c.BrokerEpochs) > 0 && len(c.BrokerEpochs) != len(c.ISR):
		return fmt.Errorf("%s: %d broker epochs for an ISR of %d: %w", name, len(c.BrokerEpochs), len(c.ISR), ErrIneligibleReplica)
	}
	for i, r := range c.ISR {
		switch {
		case slices.Contains(c.ISR[:i], r):
			return fmt.Errorf("%s: replica %d listed twice: %w", name, r, ErrIneligibleReplica)
		case !slices.Contains(p.Replicas, r):
			return fmt.Errorf("%s: broker %d is not a replica: %w", name, r, ErrIneligibleReplica)
		case !b.live(r):
			return fmt.Errorf("%s: broker %d is fenced, shutting down or unregistered: %w", name, r, ErrIneligibleReplica)
		case slices.Contains(p.OfflineReplicas, r) && !slices.Contains(p.ISR, r):
			return fmt.Errorf("%s: replica %d is offline: %w", name, r, ErrIneligibleReplica)
		}
		if len(c.BrokerEpochs) == 0 {
			continue
		}
		// KIP-903: the leader saw the replica catch up at this epoch; a
		// broker registered at another has restarted since and may have
		// lost what it fetched (an unflushed tail).
		switch epoch, cur := c.BrokerEpochs[i], b.next.Brokers[r].Epoch; {
		case epoch != 0 && epoch != cur:
			return fmt.Errorf("%s: broker %d at epoch %d, registered at %d: %w", name, r, epoch, cur, ErrIneligibleReplica)
		case epoch == 0 && cur != 0 && !slices.Contains(p.ISR, r):
			return fmt.Errorf("%s: broker %d joins the ISR without its broker epoch: %w", name, r, ErrIneligibleReplica)
		}
	}
	np := p
	np.ISR = slices.Clone(c.ISR)
	np = b.completeReassignment(np)
	b.putPartition(t, bumped(p, np, true))
	return nil
}

// completeReassignment finishes p's reassignment if every target replica
// is in the ISR: Replicas becomes the target, the ISR keeps only target
// replicas, and a leader outside the target hands over to the first live
// target ISR member. Epochs are left to bumped.
func (b *imageBuilder) completeReassignment(p Partition) Partition {
	if len(p.AddingReplicas) == 0 && len(p.RemovingReplicas) == 0 {
		return p
	}
	target := withoutAll(p.Replicas, p.RemovingReplicas)
	for _, r := range target {
		if !slices.Contains(p.ISR, r) {
			return p
		}
	}
	p.Replicas = target
	p.ISR = intersect(p.ISR, target)
	p.OfflineReplicas = intersect(p.OfflineReplicas, target)
	p.AddingReplicas, p.RemovingReplicas = nil, nil
	if !slices.Contains(target, p.Leader) {
		p.Leader, _ = b.electLeader(p, false)
	}
	return p
}

func applyReassign(b *imageBuilder, c Reassign) error {
	t, p, err := b.partitionOf(c.Topic, c.Partition)
	if err != nil {
		return fmt.Errorf("reassign: %w", err)
	}
	name := fmt.Sprintf("reassign %s/%d", t.Name, p.Index)
	inProgress := len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
	original := withoutAll(p.Replicas, p.AddingReplicas)
	var np Partition
	if c.Target == nil {
		if !inProgress {
			return fmt.Errorf("%s: %w", name, ErrNoReassignment)
		}
		np = p
		np.Replicas = original
		np.AddingReplicas, np.RemovingReplicas = nil, nil
		np.ISR = intersect(p.ISR, original)
		np.OfflineReplicas = intersect(p.OfflineReplicas, original)
		if len(np.ISR) == 0 {
			return fmt.Errorf("%s: cancel: no original replica is in sync (ISR %v): %w", name, p.ISR, ErrNotEligibleLeader)
		}
		if !slices.Contains(original, np.Leader) {
			np.Leader, _ = b.electLeader(np, false)
		}
	} else {
		if err := validReplicas(c.Target); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, r := range c.Target {
			if _, ok := b.next.Brokers[r]; !ok {
				return fmt.Errorf("%s: broker %d is not registered: %w", name, r, ErrInvalidReplication)
			}
		}
		// A reassignment replacing one in progress starts from every
		// current replica, the ones the earlier target was adding
		// included (Kafka's PartitionReassignmentReplicas): they may lead
		// or hold the only in-sync copy, and go only once the new
		// target is in sync.
		np = p
		np.Replicas = slices.Concat(c.Target, withoutAll(p.Replicas, c.Target))
		np.AddingReplicas = withoutAll(c.Target, p.Replicas)
		np.RemovingReplicas = withoutAll(p.Replicas, c.Target)
		np.ISR = intersect(p.ISR, np.Replicas)
		if len(np.AddingReplicas) == 0 && len(np.RemovingReplicas) == 0 {
			np.AddingReplicas, np.RemovingReplicas = nil, nil
		}
		np = b.completeReassignment(np)
	}
	b.putPartition(t, bumped(p, np, true))
	return nil
}

// applyElectLeaders runs the elections and returns, through the builder,
// one result per partition. Partitions nil means every partition, and then
// only partitions that needed an election are reported.
func applyElectLeaders(b *imageBuilder, c ElectLeaders) error {
	results := electResults{}
	parts := c.Partitions
	all := parts == nil
	if all {
		for _, t := range b.topics.All() {
			for _, p := range t.Partitions {
				parts = append(parts, TopicPartitionID{Topic: t.ID, Partition: p.Index})
			}
		}
		slices.SortFunc(parts, func(x, y TopicPartitionID) int {
			if c := slices.Compare(x.Topic[:], y.Topic[:]); c != 0 {
				return c
			}
			return cmp.Compare(x.Partition, y.Partition)
		})
	}
	for _, tp := range parts {
		err := b.elect(tp, c.Unclean)
		if all && err == ErrElectionNotNeeded {
			continue
		}
		results[tp] = err
	}
	b.result = results
	return nil
}

// elect runs one partition's election. Its errors are the bare sentinels,
// as Kafka reports them per partition.
func (b *imageBuilder) elect(tp TopicPartitionID, unclean bool) error {
	t, p, err := b.partitionOf(tp.Topic, tp.Partition)
	if err != nil {
		return ErrUnknownPartition
	}
	var np Partition
	if unclean {
		if p.Leader != noLeader && b.live(p.Leader) {
			return ErrElectionNotNeeded
		}
		leader, wasUnclean := b.electLeader(p, true)
		if leader == noLeader {
			return ErrNotEligibleLeader
		}
		np = withLeader(p, leader, wasUnclean)
	} else {
		preferred := p.Replicas[0]
		switch {
		case p.Leader == preferred:
			return ErrElectionNotNeeded
		case !b.live(preferred) || !slices.Contains(p.ISR, preferred) || slices.Contains(p.OfflineReplicas, preferred):
			return ErrNotEligibleLeader
		}
		np = withLeader(p, preferred, false)
	}
	b.putPartition(t, bumped(p, np, false))
	return nil
}

// without returns s without x, as a new slice (nil if empty).
func without(s []int32, x int32) []int32 {
	return filter(s, func(v int32) bool { return v != x })
}

// withoutAll returns s without the members of drop (nil if empty).
func withoutAll(s, drop []int32) []int32 {
	return filter(s, func(v int32) bool { return !slices.Contains(drop, v) })
}

// intersect returns the members of s that are in keep, in s's order (nil
// if none).
func intersect(s, keep []int32) []int32 {
	return filter(s, func(v int32) bool { return slices.Contains(keep, v) })
}

func filter(s []int32, keep func(int32) bool) []int32 {
	var out []int32
	for _, v := range s {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}
