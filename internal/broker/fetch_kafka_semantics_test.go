package broker

// Fetch and ListOffsets details where Kafka's answer is specific: what
// counts toward min_bytes, which partition errors end a long poll,
// max_bytes 0, and the epoch and availability of listed offsets.

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
)

// appendSized appends n one-record batches of a size-byte value to p.
func (e *leaderEnv) appendSized(p *replica.Partition, n, size int) {
	e.t.Helper()
	for range n {
		b, err := record.Build(record.BuildOptions{}, []record.Record{{Value: bytes.Repeat([]byte("x"), size)}})
		if err != nil {
			e.t.Fatal(err)
		}
		h, _ := record.Validate(b)
		if _, err := p.Append(b, h); err != nil {
			e.t.Fatal(err)
		}
	}
}

// timedFetch is fetch, with how long the answer took.
func (e *leaderEnv) timedFetch(req *kmsg.FetchRequest) (*kmsg.FetchResponse, time.Duration) {
	e.t.Helper()
	start := time.Now()
	resp := e.fetch(req)
	return resp, time.Since(start)
}

// A partition holding more than its partition_max_bytes counts as that
// much toward min_bytes, as Kafka's reads of exactly the limit do: a fetch
// whose min_bytes equals the partition limit is answered at once with
// about 3 MB at hand. Before, only the whole batches returned counted, a
// little under the limit, and every such fetch waited out max_wait.
func TestFetchMinBytesCountsWhatAPartitionHeldBeyondItsLimit(t *testing.T) {
	e := newLeaderEnv(t)
	id := e.createTopic("big", []int32{1})
	e.appendSized(e.part("big", 0), 300, 10_000)

	req := fetchReq(0, -1, 5000, 1<<20, fp{id, 0, 0, -1}) // partition max 1 MiB
	resp, took := e.timedFetch(req)
	got := respParts(resp)[respKey{id, 0}]
	if got.ErrorCode != 0 || len(got.RecordBatches) == 0 || len(got.RecordBatches) > 1<<20 {
		t.Fatalf("fetch: error %d, %d bytes", got.ErrorCode, len(got.RecordBatches))
	}
	if took > 2500*time.Millisecond {
		t.Fatalf("fetch of min_bytes = partition_max_bytes with 3 MB at hand took %v: it waited out max_wait", took)
	}

	// A partition that gave all it held counts only that: min_bytes
	// above it still waits.
	small := e.createTopic("small", []int32{1})
	e.appendSized(e.part("small", 0), 1, 100)
	if _, took := e.timedFetch(fetchReq(0, -1, 600, 1<<20, fp{small, 0, 0, -1})); took < 500*time.Millisecond {
		t.Fatalf("fetch of 1 MiB min_bytes from a partition of 100 bytes answered after %v, before max_wait", took)
	}
}

// A partition of a topic the metadata does not know (UNKNOWN_TOPIC_ID)
// does not end the long poll of the partitions that can be read (Kafka's
// erroneous partitions); it is answered with them. A fetch naming nothing
// readable is answered at once.
func TestFetchWaitsDespiteAnUnknownTopic(t *testing.T) {
	e := newLeaderEnv(t)
	id := e.createTopic("known", []int32{1})
	unknown := [16]byte{9, 9, 9}

	resp, took := e.timedFetch(fetchReq(0, -1, 1000, 1, fp{id, 0, 0, -1}, fp{unknown, 0, 0, -1}))
	if took < 800*time.Millisecond {
		t.Fatalf("fetch of an empty partition and an unknown topic answered after %v, not at max_wait", took)
	}
	parts := respParts(resp)
	if got := parts[respKey{unknown, 0}]; got.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown topic answered error %d, want UNKNOWN_TOPIC_ID", got.ErrorCode)
	}
	if got := parts[respKey{id, 0}]; got.ErrorCode != 0 {
		t.Fatalf("known topic answered error %d", got.ErrorCode)
	}

	// Data arriving during the wait still answers it.
	done := make(chan time.Duration, 1)
	go func() {
		_, took := e.timedFetch(fetchReq(0, -1, 5000, 1, fp{id, 0, 0, -1}, fp{unknown, 0, 0, -1}))
		done <- took
	}()
	time.Sleep(200 * time.Millisecond)
	e.appendN(e.part("known", 0), 1)
	if took := <-done; took > 2500*time.Millisecond {
		t.Fatalf("a record during the wait answered the fetch after %v", took)
	}

	if _, took := e.timedFetch(fetchReq(0, -1, 5000, 1, fp{unknown, 0, 0, -1})); took > time.Second {
		t.Fatalf("a fetch of only an unknown topic answered after %v, not at once", took)
	}
}

// max_bytes 0 is taken as asked: the first batch of the first partition
// with data, whole (KIP-74), and nothing more. Before, 0 meant 50 MiB.
func TestFetchMaxBytesZeroGivesTheFirstBatchOnly(t *testing.T) {
	e := newLeaderEnv(t)
	id := e.createTopic("zero", []int32{1}, []int32{1})
	e.appendSized(e.part("zero", 0), 3, 100)
	e.appendSized(e.part("zero", 1), 3, 100)

	req := fetchReq(0, -1, 0, 0, fp{id, 0, 0, -1}, fp{id, 1, 0, -1})
	req.MaxBytes = 0
	parts := respParts(e.fetch(req))
	var batches int
	for _, p := range parts {
		if p.ErrorCode != 0 {
			t.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
		}
		_ = record.Batches(p.RecordBatches, true, func(record.Header, []byte) error { batches++; return nil })
	}
	if batches != 1 {
		t.Fatalf("max_bytes 0 answered %d batches, want the first one alone", batches)
	}
}

// listOffset asks this broker for one partition's offset at ts.
func (e *leaderEnv) listOffset(id [16]byte, name string, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	e.t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version, req.ReplicaID = 9, -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = name
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, ts, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	r := e.b.Handle(e.ctx, &Client{ID: "leader-test", Principal: Anonymous}, req)
	resp, ok := r.Response.(*kmsg.ListOffsetsResponse)
	if !ok || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		e.t.Fatalf("ListOffsets answered %#v", r.Response)
	}
	return resp.Topics[0].Partitions[0]
}

// ListOffsets answers each offset it finds with the leader epoch that
// wrote it (earliest, max timestamp, a timestamp), and the latest with the
// current epoch, as Kafka does: a client keeps that epoch with its
// position and checks it against OffsetForLeaderEpoch later. A new leader
// whose high watermark has not reached the start of its epoch answers
// OFFSET_NOT_AVAILABLE for the latest offset only; the earliest it answers.
func TestListOffsetsAnswersTheEpochThatWroteTheOffset(t *testing.T) {
	e := newLeaderEnv(t)
	id, p, follow := e.followedTopic("ep")
	e.appendN(p, 3) // epoch 0
	follow(3)
	e.waitFor("hw 3", func() bool { return p.HighWatermark() == 3 })
	e.appendN(p, 2) // not fetched by the follower yet
	// Leadership moves to broker 2 and back: epoch 2 starts at 5, above
	// the high watermark.
	for _, target := range [][]int32{{2, 1}, {1, 2}} {
		e.propose(cluster.Reassign{Topic: cluster.TopicID(id), Partition: 0, Target: target})
		e.propose(cluster.ElectLeaders{Partitions: []cluster.TopicPartitionID{{Topic: cluster.TopicID(id), Partition: 0}}})
		e.waitFor("the leader to be the first target", func() bool {
			q, ok := e.mgr.Partition("ep", 0)
			return ok && q.IsLeader() == (target[0] == 1)
		})
	}
	p = e.part("ep", 0)
	epoch := p.LeaderEpoch()
	if epoch < 2 || p.EpochStartOffset() != 5 || p.HighWatermark() != 3 {
		t.Fatalf("leader epoch %d starting at %d, high watermark %d; want 2 or more starting at 5, and 3", epoch, p.EpochStartOffset(), p.HighWatermark())
	}
	// The new leader has not heard from its follower yet: the latest
	// offset and a timestamp it cannot answer yet are not available, the
	// earliest offsets and a timestamp below the high watermark are.
	for _, ts := range []int64{-1, 5} {
		if got := e.listOffset(id, "ep", ts); got.ErrorCode != kerr.OffsetNotAvailable.Code {
			t.Fatalf("ListOffsets %d with a lagging high watermark: error %d, want OFFSET_NOT_AVAILABLE", ts, got.ErrorCode)
		}
	}
	for _, ts := range []int64{-2, -4, 0} {
		if got := e.listOffset(id, "ep", ts); got.ErrorCode != 0 || got.Offset != 0 || got.LeaderEpoch != 0 {
			t.Fatalf("ListOffsets %d with a lagging high watermark: error %d offset %d epoch %d, want 0 at epoch 0", ts, got.ErrorCode, got.Offset, got.LeaderEpoch)
		}
	}
	follow(5)
	e.waitFor("hw 5", func() bool { return p.HighWatermark() == 5 })
	for _, ts := range []int64{-2, -4, -3, 0} {
		got := e.listOffset(id, "ep", ts)
		wantOff := int64(0)
		if ts == -3 { // every record has timestamp 0: the first with the max
			wantOff = got.Offset
		}
		if got.ErrorCode != 0 || got.Offset != wantOff || got.LeaderEpoch != 0 {
			t.Fatalf("ListOffsets %d: error %d offset %d epoch %d, want offset %d written at epoch 0", ts, got.ErrorCode, got.Offset, got.LeaderEpoch, wantOff)
		}
	}
	if got := e.listOffset(id, "ep", -1); got.ErrorCode != 0 || got.Offset != 5 || got.LeaderEpoch != epoch {
		t.Fatalf("latest: error %d offset %d epoch %d, want 5 at the current epoch %d", got.ErrorCode, got.Offset, got.LeaderEpoch, epoch)
	}
}
