package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/mirror"
)

// deleteRecordsBefore moves a source partition's log start offset to
// offset.
func deleteRecordsBefore(t *testing.T, adm *kadm.Client, topic string, offset int64) {
	t.Helper()
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: topic, Partition: 0, At: offset})
	resps, err := adm.DeleteRecords(testContext(t, 10*time.Second), o)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatalf("delete records of %s before %d: %v", topic, offset, err)
	}
}

// startEnd is a partition's log start and end offsets, -1 while the
// topic is not there.
func startEnd(t *testing.T, adm *kadm.Client, topic string) (int64, int64) {
	t.Helper()
	ctx := testContext(t, 10*time.Second)
	starts, err1 := adm.ListStartOffsets(ctx, topic)
	ends, err2 := adm.ListEndOffsets(ctx, topic)
	s, ok1 := starts.Lookup(topic, 0)
	e, ok2 := ends.Lookup(topic, 0)
	if err1 != nil || err2 != nil || !ok1 || !ok2 || s.Err != nil || e.Err != nil {
		return -1, -1
	}
	return s.Offset, e.Offset
}

// mirrorPartition is partition 0 of topic in the mirror's status.
func mirrorPartition(m *mirror.Mirror, topic string) string {
	_, parts := m.Status()
	for _, p := range parts {
		if p.Topic == topic && p.Partition == 0 {
			return fmt.Sprintf("%+v", p)
		}
	}
	return "not in the status"
}

// A source whose log start falls inside a batch (DeleteRecords at 5 of
// one batch [0, 9]) is mirrored as a Kafka follower would: the batch that
// holds the log start is copied whole into the empty mirror topic, whose
// log start then moves to 5; the partition goes on mirroring.
func TestMirrorLogStartInsideABatch(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	dst := startBroker(t, nil)
	const topic = "inbatch"
	src.createTopic(topic, 1, nil)
	cl := src.client(kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(300*time.Millisecond))
	ctx := testContext(t, 10*time.Second)
	for i := range 10 {
		cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	srcAdm, dstAdm := src.admin(), dst.admin()
	deleteRecordsBefore(t, srcAdm, topic, 5)

	m, _ := runMirror(t, []string{src.addr}, []string{dst.addr}, mirror.Config{})
	waitState(t, 30*time.Second, "the mirror copies the batch holding the log start", func() (bool, string) {
		start, end := startEnd(t, dstAdm, topic)
		return end == 10 && start == 5, fmt.Sprintf("target end %d, log start %d; %s", end, start, mirrorPartition(m, topic))
	})
	produceSync(t, cl, &kgo.Record{Value: []byte("after")})
	waitCaughtUp(t, srcAdm, dstAdm, func(s string) string { return s }, topic)
	sameRecords(t, topic, readAll(t, []string{dst.addr}, topic, false), readAll(t, []string{src.addr}, topic, false))
}

// Records that expired on the source before they were copied (its log
// start is its end, past the mirror topic's end) leave the mirror topic
// starting and ending at the source's log start, with no lag, and a
// promoted topic's new records take the source's next offsets.
func TestMirrorExpiredRecordsMoveTheTargetsEnd(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	dst := startBroker(t, nil)
	expiredUncopied(t, src, []string{dst.addr}, dst.admin())
}

// The same with a mirror topic replicated on two brokers: the follower
// starts its log over at the leader's new log start, stays in the ISR,
// and acks=all writes after promotion work.
func TestMirrorExpiredRecordsMoveTheTargetsEndReplicated(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	c := startCluster(t, 2, nil)
	adm := c.admin()
	resp, err := adm.CreateTopic(testContext(t, 10*time.Second), 1, 2, nil, "expired")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create the mirror topic beforehand: %v", err)
	}
	expiredUncopied(t, src, c.seeds(), adm)
	waitState(t, 30*time.Second, "both replicas in the ISR", func() (bool, string) {
		md, err := adm.Metadata(testContext(t, 5*time.Second), "expired")
		if err != nil {
			return false, err.Error()
		}
		p := md.Topics["expired"].Partitions[0]
		return len(p.ISR) == 2, fmt.Sprintf("replicas %v, ISR %v", p.Replicas, p.ISR)
	})
}

func expiredUncopied(t *testing.T, src *broker, dst []string, dstAdm *kadm.Client) {
	t.Helper()
	const topic = "expired"
	src.createTopic(topic, 1, nil)
	cl := src.client(kgo.DefaultProduceTopic(topic))
	for i := range 5 {
		produceSync(t, cl, &kgo.Record{Value: fmt.Appendf(nil, "gone-%d", i)})
	}
	deleteRecordsBefore(t, src.admin(), topic, 5)

	m, stop := runMirror(t, []string{src.addr}, dst, mirror.Config{})
	waitState(t, 30*time.Second, "the mirror topic starts and ends at the source's log start", func() (bool, string) {
		start, end := startEnd(t, dstAdm, topic)
		p := mirrorPartition(m, topic)
		return end == 5 && start == 5, fmt.Sprintf("target end %d, log start %d; %s", end, start, p)
	})
	waitState(t, 10*time.Second, "no lag", func() (bool, string) {
		_, parts := m.Status()
		for _, p := range parts {
			if p.Topic == topic && p.Lag != 0 {
				return false, fmt.Sprintf("%+v", p)
			}
		}
		return true, ""
	})
	stop()
	if _, err := mirror.Promote(testContext(t, 10*time.Second), dstAdm, []string{topic}, false); err != nil {
		t.Fatalf("promote: %v", err)
	}
	out, err := kgo.NewClient(kgo.SeedBrokers(dst...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	r := &kgo.Record{Value: []byte("new")}
	waitForErr(t, 30*time.Second, "produce to the promoted topic", func() error {
		return out.ProduceSync(testContext(t, 5*time.Second), r).FirstErr()
	})
	if r.Offset != 5 {
		t.Fatalf("the first record produced after promotion is at offset %d, want 5 (the source's next)", r.Offset)
	}
}
