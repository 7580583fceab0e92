package cluster

import (
	"fmt"
	"log/slog"
	"runtime"
	"testing"

	"github.com/hashicorp/raft"
)

// topicsFSM is an FSM holding n topics of one partition on brokers 1-3,
// with a way to apply commands and to build ISR changes for them.
type topicsFSM struct {
	tb    testing.TB
	f     *fsm
	ids   []TopicID
	index uint64
}

func newTopicsFSM(tb testing.TB, n int) *topicsFSM {
	s := &topicsFSM{tb: tb, f: newFSM(slog.New(slog.DiscardHandler), newPublisher()), ids: make([]TopicID, n)}
	for id := int32(1); id <= 3; id++ {
		s.apply(RegisterBroker{Broker: Broker{ID: id, Host: "h", Port: id}})
	}
	create := CreateTopics{}
	for i := range n {
		s.ids[i] = TopicID{0: 1, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}
		create.Topics = append(create.Topics, CreateTopic{Name: fmt.Sprint("t", i), ID: s.ids[i], Replicas: [][]int32{{1, 2, 3}}})
	}
	switch r := s.apply(create).(type) {
	case nil:
	case itemResults:
		for i, err := range r {
			if err != nil {
				tb.Fatalf("create topic %d: %v", i, err)
			}
		}
	default:
		tb.Fatal(r)
	}
	return s
}

func (s *topicsFSM) apply(c Command) any {
	data, err := encodeCommand(c)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.index++
	return s.f.Apply(&raft.Log{Index: s.index, Type: raft.LogCommand, Data: data})
}

// alter is the i-th AlterPartitions of n items: it flips the ISR of n
// topics between {1,2} and {1,2,3}, a different run of topics each time.
func (s *topicsFSM) alter(i, n int) AlterPartitions {
	isr := [][]int32{{1, 2}, {1, 2, 3}}
	c := AlterPartitions{}
	for j := range n {
		t := (i*n + j) % len(s.ids)
		p := s.f.state.TopicsByID.Value(s.ids[t]).Partitions[0]
		c.Items = append(c.Items, AlterPartition{Topic: s.ids[t], Leader: 1, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr[p.PartitionEpoch%2]})
	}
	return c
}

// The cost of applying one metadata command to an image of 10,000 topics
// of one partition: an ISR change of one partition alone, and 1,000 of
// them in one AlterPartitions command. The topic maps are persistent: a
// command copies the shards of them it changes (one shard of about 40
// topics here, for each map), not the 10,000 topics.
func BenchmarkApplyWith10kTopics(b *testing.B) {
	s := newTopicsFSM(b, 10000)
	b.Run("one AlterPartition", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if r := s.apply(s.alter(i, 1).Items[0]); r != nil {
				b.Fatal(r)
			}
		}
	})
	b.Run("1000 in one AlterPartitions", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			c := s.alter(i, 1000)
			b.StartTimer()
			if r, ok := s.apply(c).(itemResults); !ok || r[0] != nil {
				b.Fatal(r)
			}
		}
	})
}

// Applying a command allocates in proportion to what it changes: one ISR
// change in an image of 10,000 topics allocated 877 KB when every command
// copied the topic maps, and stays far below that (about 11 KB) now. Not
// parallel: it reads the process's allocation counter.
func TestApplyAllocatesWhatItChanges(t *testing.T) {
	s := newTopicsFSM(t, 10000)
	const commands = 100
	cmds := make([]AlterPartition, commands)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range cmds {
		cmds[i] = s.alter(i, 1).Items[0]
		if r := s.apply(cmds[i]); r != nil {
			t.Fatal(r)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / commands; per > 100<<10 {
		t.Fatalf("one AlterPartition allocated %d bytes with 10,000 topics, want under 100 KiB", per)
	}
	for i, c := range cmds {
		if p := s.f.state.TopicsByID.Value(c.Topic).Partitions[0]; p.PartitionEpoch != 1 || len(p.ISR) != len(c.ISR) {
			t.Fatalf("command %d: partition %+v after ISR %v", i, p, c.ISR)
		}
	}
}
