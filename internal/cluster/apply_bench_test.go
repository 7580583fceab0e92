package cluster

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
)

// The cost of applying one metadata command to an image of 10,000 topics
// of one partition: an ISR change of one partition alone, and 1,000 of
// them in one AlterPartitions command. The topic maps are persistent: a
// command copies the shards of them it changes (one shard of about 40
// topics here, for each map), not the 10,000 topics.
func BenchmarkApplyWith10kTopics(b *testing.B) {
	f := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	index := uint64(0)
	apply := func(c Command) any {
		data, err := encodeCommand(c)
		if err != nil {
			b.Fatal(err)
		}
		index++
		return f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
	}
	for id := int32(1); id <= 3; id++ {
		apply(RegisterBroker{Broker: Broker{ID: id, Host: "h", Port: id}})
	}
	const topics = 10000
	ids := make([]TopicID, topics)
	create := CreateTopics{}
	for i := range topics {
		ids[i] = TopicID{0: 1, 14: byte(i >> 8), 15: byte(i)}
		create.Topics = append(create.Topics, CreateTopic{Name: fmt.Sprint("t", i), ID: ids[i], Replicas: [][]int32{{1, 2, 3}}})
	}
	apply(create)
	isr := [][]int32{{1, 2}, {1, 2, 3}}
	alter := func(i, n int) AlterPartitions {
		c := AlterPartitions{}
		for j := range n {
			t := (i*n + j) % topics
			p := f.state.TopicsByID.Value(ids[t]).Partitions[0]
			c.Items = append(c.Items, AlterPartition{Topic: ids[t], Leader: 1, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr[p.PartitionEpoch%2]})
		}
		return c
	}
	b.Run("one AlterPartition", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			c := alter(i, 1).Items[0]
			if r := apply(c); r != nil {
				b.Fatal(r)
			}
		}
	})
	b.Run("1000 in one AlterPartitions", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			c := alter(i, 1000)
			b.StartTimer()
			if r, ok := apply(c).(itemResults); !ok || r[0] != nil {
				b.Fatal(r)
			}
		}
	})
}
