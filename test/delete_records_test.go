package test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/config"
)

// produceNumbered writes records "0" to "n-1" to partition 0 of topic.
func produceNumbered(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	ctx := testContext(t, time.Minute)
	for i := range n {
		r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte(fmt.Sprint(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// deleteRecords asks to delete the records of partition 0 of topic before
// offset and returns the answer.
func deleteRecords(t *testing.T, adm *kadm.Client, topic string, offset int64) kadm.DeleteRecordsResponse {
	t.Helper()
	var offsets kadm.Offsets
	offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: offset})
	resp, err := adm.DeleteRecords(testContext(t, 30*time.Second), offsets)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := resp.Lookup(topic, 0)
	if !ok {
		t.Fatalf("no answer for %s-0: %+v", topic, resp)
	}
	return r
}

// startOffset is partition 0's log start offset, as ListOffsets reports it.
func startOffset(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	starts, err := adm.ListStartOffsets(testContext(t, 30*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := starts.Lookup(topic, 0)
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	return o.Offset
}

// readFrom reads partition 0 of topic from its start until it has n
// records, and returns their offsets and values as "offset:value".
func readFrom(t *testing.T, cl *kgo.Client, topic string, n int) []string {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	var got []string
	for len(got) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, fmt.Sprintf("%d:%s", r.Offset, r.Value)) })
	}
	return got
}

// DeleteRecords (kadm, as kafka-delete-records.sh) moves the log start:
// ListOffsets, consumers from the start and a restart all see it; -1
// deletes up to the high watermark; an offset past it, a compacted topic
// and an internal topic are refused with Kafka's errors, and so is a
// read-only mirror topic.
func TestDeleteRecords(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("purge", 1, nil)
	b.createTopic("keyed", 1, map[string]*string{"cleanup.policy": strp("compact")})
	b.createTopic("mirrored", 1, map[string]*string{
		config.MirrorSourceConfig: strp("cluster/mirrored/00000000000000000000000000000001"),
		config.MirrorStateConfig:  strp(config.MirrorStateMirroring),
	})
	cl := b.client()
	produceNumbered(t, cl, "purge", 100)
	adm := b.admin()

	if r := deleteRecords(t, adm, "purge", 40); r.Err != nil || r.LowWatermark != 40 {
		t.Fatalf("delete before 40: low watermark %d, %v", r.LowWatermark, r.Err)
	}
	if got := startOffset(t, adm, "purge"); got != 40 {
		t.Fatalf("log start %d after deleting before 40", got)
	}
	// A smaller offset leaves the log start where it is.
	if r := deleteRecords(t, adm, "purge", 10); r.Err != nil || r.LowWatermark != 40 {
		t.Fatalf("delete before 10 after 40: low watermark %d, %v", r.LowWatermark, r.Err)
	}
	cons := b.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"purge": {0: kgo.NewOffset().AtStart()}}))
	got := readFrom(t, cons, "purge", 60)
	cons.Close()
	if len(got) != 60 || got[0] != "40:40" || got[59] != "99:99" {
		t.Fatalf("read %v from the start, want 40:40 to 99:99", got)
	}
	for _, c := range []struct {
		topic  string
		offset int64
		want   *kerr.Error
	}{
		{"purge", 101, kerr.OffsetOutOfRange}, // past the high watermark
		{"purge", -2, kerr.OffsetOutOfRange},
		{"keyed", 0, kerr.PolicyViolation},
		{"mirrored", 0, kerr.InvalidTopicException}, // its log start follows its source's
		{"__consumer_offsets", 0, kerr.InvalidTopicException},
	} {
		if c.topic == "__consumer_offsets" {
			// The internal topic exists once a group has committed.
			if err := adm.CommitAllOffsets(testContext(t, 30*time.Second), "g", kadm.Offsets{"purge": {0: {Topic: "purge", Partition: 0, At: 50}}}); err != nil {
				t.Fatal(err)
			}
		}
		if r := deleteRecords(t, adm, c.topic, c.offset); !errors.Is(r.Err, c.want) {
			t.Errorf("delete records of %s before %d: %v, want %v", c.topic, c.offset, r.Err, c.want)
		}
	}
	// -1 is the high watermark.
	if r := deleteRecords(t, adm, "purge", -1); r.Err != nil || r.LowWatermark != 100 {
		t.Fatalf("delete before the high watermark: low watermark %d, %v", r.LowWatermark, r.Err)
	}
	b.restart()
	if got := startOffset(t, b.admin(), "purge"); got != 100 {
		t.Fatalf("log start %d after a restart, want 100", got)
	}
}

// On a partition of three replicas the answer comes once every replica in
// the ISR has moved its log start (the low watermark), and a follower made
// leader serves from there.
func TestClusterDeleteRecords(t *testing.T) {
	t.Parallel()
	c := startInProcess(t, 3, clusterSettings(nil))
	createTopicIn(c, "purge", 1, 3, minISR2)
	prod := acksAllProducer(c)
	defer prod.Close()
	produceNumbered(t, prod, "purge", 100)
	adm := c.admin()
	if r := deleteRecords(t, adm, "purge", 70); r.Err != nil || r.LowWatermark != 70 {
		t.Fatalf("delete before 70: low watermark %d, %v", r.LowWatermark, r.Err)
	}
	td := waitISR(c, "purge", 0, 3, 30*time.Second)
	p := td.Partitions[0]
	next := p.Replicas[0]
	if next == p.Leader {
		next = p.Replicas[1]
	}
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("purge", 0, append([]int32{next}, others(c, next)...))
	if _, err := adm.AlterPartitionAssignments(testContext(t, 30*time.Second), req); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.ElectLeaders(testContext(t, 30*time.Second), kadm.ElectPreferredReplica, kadm.TopicsSet{"purge": {0: {}}}); err != nil {
		t.Fatal(err)
	}
	waitTopic(c, "purge", next, 30*time.Second, "led by the follower", func(td kadm.TopicDetail) bool {
		return td.Partitions[0].Leader == next
	})
	if got := startOffset(t, adm, "purge"); got != 70 {
		t.Fatalf("log start %d on the new leader, want 70", got)
	}
	cons := c.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"purge": {0: kgo.NewOffset().AtStart()}}))
	defer cons.Close()
	if got := readFrom(t, cons, "purge", 30); len(got) != 30 || got[0] != "70:70" || got[29] != "99:99" {
		t.Fatalf("read %v from the new leader, want 70:70 to 99:99", got)
	}
}
