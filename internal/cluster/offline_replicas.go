package cluster

import (
	"fmt"
	"slices"
)

// OfflineReplicas reports that Broker's replicas of Partitions are offline:
// the log directory holding them failed (KIP-112), while the broker itself
// and its other directories still serve. The controller treats each such
// replica as Kafka's does an offline replica: a partition it leads moves to
// another live member of its ISR (or to any other live replica when
// unclean.leader.election.enable allows, or to no leader), and it leaves
// the ISR unless it is the last member. The partition remembers the
// replica as offline (Partition.OfflineReplicas), so no later election,
// unclean ones included, picks it. The broker stays registered and
// live; its other partitions are untouched. The replicas come back as
// followers out of the ISR once the broker restarts with the directory
// readable (its registration clears them), and rejoin the ISR when they
// have caught up. Entries logged before version 2 apply without the
// memory, as then.
//
// Partitions of topics deleted meanwhile, and partitions Broker no longer
// holds a replica of, are skipped: the report may be late.
type OfflineReplicas struct {
	Broker     int32
	Partitions []TopicPartitionID
}

func (OfflineReplicas) isCommand() {}

func applyOfflineReplicas(b *imageBuilder, c OfflineReplicas) error {
	if _, err := b.registered(c.Broker, "offline replicas of"); err != nil {
		return err
	}
	if len(c.Partitions) == 0 {
		return fmt.Errorf("offline replicas: %w", errNoItems)
	}
	for _, tp := range c.Partitions {
		t, p, err := b.partitionOf(tp.Topic, tp.Partition)
		if err != nil || !slices.Contains(p.Replicas, c.Broker) {
			continue
		}
		np := p
		if len(p.ISR) > 1 && slices.Contains(p.ISR, c.Broker) {
			np.ISR = without(p.ISR, c.Broker)
		}
		if b.version != 1 && !slices.Contains(p.OfflineReplicas, c.Broker) {
			np.OfflineReplicas = append(slices.Clone(p.OfflineReplicas), c.Broker)
		}
		if p.Leader == c.Broker {
			leader, unclean := b.electLeaderExcept(np, b.uncleanAllowed(t), c.Broker)
			np = withLeader(np, leader, unclean)
		}
		np = bumped(p, np, false)
		if np.PartitionEpoch != p.PartitionEpoch || len(np.OfflineReplicas) != len(p.OfflineReplicas) {
			b.putPartition(t, np)
		}
	}
	return nil
}

// Payload, versions 1 and 2.
type wireOfflineReplicas struct {
	Broker     int32                `json:"broker"`
	Partitions []wireTopicPartition `json:"partitions"`
}

func toWireOfflineReplicas(c OfflineReplicas) wireOfflineReplicas {
	return wireOfflineReplicas{Broker: c.Broker, Partitions: convertAll(c.Partitions, func(tp TopicPartitionID) wireTopicPartition { return wireTopicPartition(tp) })}
}

func fromWireOfflineReplicas(w wireOfflineReplicas) OfflineReplicas {
	return OfflineReplicas{Broker: w.Broker, Partitions: convertAll(w.Partitions, func(tp wireTopicPartition) TopicPartitionID { return TopicPartitionID(tp) })}
}
