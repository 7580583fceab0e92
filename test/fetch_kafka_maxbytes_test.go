package test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
)

// KIP-74, as Kafka's ReplicaManager.readFromLog does it: only the first
// partition read with data may exceed the request's max_bytes or its
// partition_max_bytes (its first batch is returned whole); every later
// partition gets at most min(partition_max_bytes, what is left of
// max_bytes), and nothing when its first batch does not fit.
func TestFetchMaxBytesOnlyFirstPartitionMayExceed(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"auto.create.topics.enable": "false"})
	b.createTopic("kip74", 2, nil)
	cl := b.client()
	random := make([]byte, 10_000)
	rand.Read(random)
	for p := int32(0); p < 2; p++ {
		sent := buildBatch(t, record.BuildOptions{BaseTimestamp: time.Now().UnixMilli()}, nil, string(random))
		if resp := produceRaw(t, cl, "kip74", p, sent); resp.ErrorCode != 0 {
			t.Fatalf("produce to partition %d: %v", p, kerr.ErrorForCode(resp.ErrorCode))
		}
	}
	details, err := b.admin().ListTopics(testContext(t, 10*time.Second), "kip74")
	if err != nil {
		t.Fatal(err)
	}
	id := details["kip74"].ID
	fetch := func(maxBytes, partMax int32, offsets [2]int64) [2]int {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.MinBytes, req.MaxWaitMillis = -1, maxBytes, 1, 100
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "kip74", id
		for p := int32(0); p < 2; p++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, offsets[p], partMax, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
		if err != nil {
			t.Fatal(err)
		}
		var sizes [2]int
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					t.Fatalf("partition %d: %v", rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
				}
				sizes[rp.Partition] = len(rp.RecordBatches)
			}
		}
		return sizes
	}
	whole := len(buildBatch(t, record.BuildOptions{}, nil, string(random)))
	tests := []struct {
		name     string
		maxBytes int32
		partMax  int32
		offsets  [2]int64
		want     [2]int
	}{
		{"room for one batch and a half", int32(whole + whole/2), 1 << 20, [2]int64{0, 0}, [2]int{whole, 0}},
		{"max_bytes below one batch", 1000, 1 << 20, [2]int64{0, 0}, [2]int{whole, 0}},
		{"partition_max_bytes below one batch", 1 << 20, 1000, [2]int64{0, 0}, [2]int{whole, 0}},
		{"room for both", int32(2 * whole), 1 << 20, [2]int64{0, 0}, [2]int{whole, whole}},
		{"first partition has no data", 1000, 1000, [2]int64{1, 0}, [2]int{0, whole}},
	}
	for _, tt := range tests {
		if got := fetch(tt.maxBytes, tt.partMax, tt.offsets); got != tt.want {
			t.Errorf("%s: partitions returned %v bytes, want %v", tt.name, got, tt.want)
		}
	}
}
