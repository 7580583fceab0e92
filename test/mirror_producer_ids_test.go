package test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/mirror"
)

// mirroredProducerIDs returns the producer IDs the partitions of topic
// hold state for on the cluster adm speaks to.
func mirroredProducerIDs(t *testing.T, adm *kadm.Client, topic string) []int64 {
	t.Helper()
	described, err := adm.DescribeProducers(testContext(t, 10*time.Second), kadm.TopicsSet{topic: nil})
	if err != nil {
		t.Fatalf("describe producers of %s: %v", topic, err)
	}
	var ids []int64
	for _, p := range described[topic].Partitions {
		if p.Err != nil {
			t.Fatalf("describe producers of %s[%d]: %v", topic, p.Partition, p.Err)
		}
		for id := range p.ActiveProducers {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// produceFromNewProducers writes two records to topic from each of n new
// idempotent clients of b, one after another, and returns their values.
func produceFromNewProducers(b *broker, topic, prefix string, n int) []string {
	b.t.Helper()
	var values []string
	for i := range n {
		cl := b.client(kgo.DefaultProduceTopic(topic))
		for j := range 2 {
			v := fmt.Sprintf("%s-%d-%d", prefix, i, j)
			if err := cl.ProduceSync(testContext(b.t, 30*time.Second), &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				b.t.Fatalf("produce %s: %v", v, err)
			}
			values = append(values, v)
		}
		cl.Close()
	}
	return values
}

// A mirror topic keeps the source's producer IDs with their sequences.
// Both clusters hand out producer IDs from the same low range, so the
// target reserves every mirrored ID: after promotion, new idempotent
// producers on the target get IDs above them and their first writes
// (epoch 0, sequence 0) are not taken for duplicates or out-of-order
// sequences of the source's producers.
func TestMirrorPromotedTopicTakesNewIdempotentProducers(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	dst := startBroker(t, nil)
	src.createTopic("orders", 1, nil)
	const producers = 3
	want := produceFromNewProducers(src, "orders", "source", producers)
	sourceIDs := mirroredProducerIDs(t, src.admin(), "orders")
	if len(sourceIDs) != producers {
		t.Fatalf("source producer IDs %v, want %d", sourceIDs, producers)
	}

	runMirror(t, []string{src.addr}, []string{dst.addr}, mirror.Config{})
	waitCaughtUp(t, src.admin(), dst.admin(), func(s string) string { return s }, "orders")
	if got := mirroredProducerIDs(t, dst.admin(), "orders"); !slices.Equal(got, sourceIDs) {
		t.Fatalf("mirrored producer IDs %v, want the source's %v", got, sourceIDs)
	}
	if _, err := mirror.Promote(testContext(t, 10*time.Second), dst.admin(), []string{"orders"}, false); err != nil {
		t.Fatalf("promote: %v", err)
	}

	want = append(want, produceFromNewProducers(dst, "orders", "target", producers)...)
	ids := mirroredProducerIDs(t, dst.admin(), "orders")
	if len(ids) != 2*producers {
		t.Fatalf("target producer IDs %v, want the %d mirrored and %d new ones", ids, producers, producers)
	}
	for _, id := range ids[producers:] {
		if id <= sourceIDs[len(sourceIDs)-1] {
			t.Fatalf("target producer IDs %v: a new one is not above the mirrored %v", ids, sourceIDs)
		}
	}
	var got []string
	for _, r := range readAll(t, []string{dst.addr}, "orders", true) {
		got = append(got, string(r.Value))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("read back %v, want %v", got, want)
	}
}
