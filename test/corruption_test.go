package test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/record"
)

// Corruption on one replica (issue 15): a flipped bit in a batch on one
// broker's disk is caught by the batch's CRC32C (at recovery, or when the
// batch is read), is never served to a consumer or a follower, and the
// damaged replica repairs itself from a healthy one without an operator.

// firstSegment is partition 0's first segment in a broker's data
// directory: every record these tests write stays in it.
func firstSegment(topic string) string {
	return filepath.Join(topic+"-0", "00000000000000000000.log")
}

// flipBit flips bit 0x04 of the byte at pos(segment) in broker id's first
// segment of topic's partition 0, through the filesystem its logs are on.
func flipBit(t *testing.T, c cluster, id int32, topic string, pos func(t *testing.T, seg []byte) int64) {
	t.Helper()
	err := c.writeFile(id, firstSegment(topic), func(b []byte) []byte {
		b[pos(t, b)] ^= 0x04
		return b
	})
	if err != nil {
		t.Fatal(err)
	}
}

// recordsPos is the position, in segment b, of the records (inside the
// CRC32C) of its k-th batch.
func recordsPos(t *testing.T, b []byte, k int) int64 {
	t.Helper()
	pos, i := 0, 0
	err := record.Batches(b, false, func(h record.Header, batch []byte) error {
		if i == k {
			return errFound
		}
		pos += len(batch)
		i++
		return nil
	})
	if err != errFound {
		t.Fatalf("the segment has %d batches, not %d", i, k+1)
	}
	return int64(pos + record.HeaderSize + 2)
}

// recordsOf returns a func giving the position of the k-th batch's records.
func recordsOf(k int) func(*testing.T, []byte) int64 {
	return func(t *testing.T, b []byte) int64 { return recordsPos(t, b, k) }
}

var errFound = errors.New("found")

// replicaValues reads broker id's copy of topic's partition 0 through
// the filesystem its logs are on, checking every batch's CRC32C, and
// returns the record values in offset order.
func replicaValues(t *testing.T, c cluster, id int32, topic string) []string {
	t.Helper()
	out, err := readReplica(c, id, topic)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readReplica(c cluster, id int32, topic string) ([]string, error) {
	b, err := c.readFile(id, firstSegment(topic))
	if err != nil {
		return nil, err
	}
	var out []string
	err = record.Batches(batchesOnly(b), false, func(h record.Header, batch []byte) error {
		if err := record.ValidateParsed(h, batch); err != nil {
			return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		return record.CheckRecords(h, batch[record.HeaderSize:], func(r record.Record) error {
			out = append(out, string(r.Value))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("broker %d's %s: %w", id, firstSegment(topic), err)
	}
	return out, nil
}

// produceEach produces n values with acks=all, one at a time so each
// is its own batch, and returns them.
func produceEach(t *testing.T, cl *kgo.Client, topic, prefix string, n int) []string {
	t.Helper()
	ctx := testContext(t, time.Minute)
	var vals []string
	for i := range n {
		v := fmt.Sprintf("%s-%04d", prefix, i)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
		vals = append(vals, v)
	}
	return vals
}

// partitionLeader is the leader of topic's partition 0 as a running
// broker sees it; the test fails if it cannot say.
func partitionLeader(t *testing.T, c cluster, topic string) int32 {
	t.Helper()
	md, err := metadataAt(testContext(t, 10*time.Second), c, liveBroker(c), topic)
	if err != nil {
		t.Fatal(err)
	}
	return md.Topics[topic].Partitions[0].Leader
}

// checkReplica waits until broker id's copy of partition 0 of topic holds
// exactly want, every batch whole (a repair may still be fetching), then
// stops the broker and checks its files again.
func checkReplica(t *testing.T, c cluster, id int32, topic string, want []string) {
	t.Helper()
	waitForErr(t, time.Minute, fmt.Sprintf("broker %d holding the %d records produced", id, len(want)), func() error {
		got, err := readReplica(c, id, topic)
		if err != nil {
			return err
		}
		return replicaDiff(got, want)
	})
	c.stop(id)
	got := replicaValues(t, c, id, topic)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("broker %d holds %d records, want the %d produced (first difference near %d)", id, len(got), len(want), firstDiff(got, want))
	}
}

// replicaDiff says how got differs from want: how many records it holds
// and what it holds where it first differs, so a gap shows as one.
func replicaDiff(got, want []string) error {
	if strings.Join(got, ",") == strings.Join(want, ",") {
		return nil
	}
	d := firstDiff(got, want)
	return fmt.Errorf("it holds %d records; at record %d it holds %v, want %v", len(got), d,
		got[d:min(d+3, len(got))], want[d:min(d+3, len(want))])
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

var corruptionSettings = map[string]string{
	"broker.session.timeout.ms":    "3000",
	"broker.heartbeat.interval.ms": "300",
	"replica.lag.time.max.ms":      "3000",
	"offsets.topic.num.partitions": "1",
}

// A follower whose segment was damaged while it was down finds the bad
// batch at recovery (below its recovery point), cuts its log there instead
// of staying offline, fetches the rest from the leader and rejoins the
// ISR, holding every record again: an answer fetched from the end before
// the cut, while producers write, is dropped rather than appended past it.
func TestCorruptFollowerRepairsFromLeader(t *testing.T) {
	t.Parallel()
	forEachKind(t, 3, corruptionSettings, func(t *testing.T, c cluster) {
		const topic = "corrupt-follower"
		two := "2"
		createTopicIn(c, topic, 1, 3, map[string]*string{"min.insync.replicas": &two})
		cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
		want := produceEach(t, cl, topic, "a", 200)
		leader := partitionLeader(t, c, topic)
		f := leader%3 + 1 // a follower
		waitISR(c, topic, 0, 3, 30*time.Second)
		c.stop(f)
		flipBit(t, c, f, topic, recordsOf(66))
		c.startStopped()
		want = append(want, produceEach(t, cl, topic, "b", 50)...)
		waitISR(c, topic, 0, 3, time.Minute)
		checkReplica(t, c, f, topic, want)
	})
}

// A leader whose segment is damaged while it serves never hands the bad
// batch to a consumer: the read fails its CRC check, the leader gives the
// partition to an in-sync follower, cuts its own log at the bad batch and
// fetches the rest back. The consumer reads every record, intact and in
// order, from the new leader.
func TestCorruptLeaderGivesUpLeadershipAndRepairs(t *testing.T) {
	t.Parallel()
	// In the page cache (or the filesystem in memory) the leader reads from.
	damagedLeaderRepairs(t, "corrupt-leader", recordsOf(100))
}

// damagedLeaderRepairs writes 200 records to a partition of three
// replicas, flips a bit at pos in the leader's segment, and checks that a
// consumer reads every record at its offset, that leadership moved, and
// that the old leader holds every record again after 50 more.
func damagedLeaderRepairs(t *testing.T, topic string, pos func(*testing.T, []byte) int64) {
	forEachKind(t, 3, corruptionSettings, func(t *testing.T, c cluster) {
		two := "2"
		createTopicIn(c, topic, 1, 3, map[string]*string{"min.insync.replicas": &two})
		cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
		want := produceEach(t, cl, topic, "a", 200)
		waitISR(c, topic, 0, 3, 30*time.Second)
		leader := partitionLeader(t, c, topic)
		flipBit(t, c, leader, topic, pos)

		checkInOrder(t, consumeFrom(t, c.seeds(), topic, len(want)), want)
		if now := partitionLeader(t, c, topic); now == leader {
			t.Fatalf("broker %d still leads after reading a damaged batch", leader)
		}
		want = append(want, produceEach(t, cl, topic, "b", 50)...)
		waitISR(c, topic, 0, 3, time.Minute)
		checkReplica(t, c, leader, topic, want)
	})
}

// checkInOrder checks that got holds want's values at offsets 0, 1, ...
func checkInOrder(t *testing.T, got []*kgo.Record, want []string) {
	t.Helper()
	for i, r := range got {
		if string(r.Value) != want[i] || r.Offset != int64(i) {
			t.Fatalf("record %d: %q at offset %d, want %q", i, r.Value, r.Offset, want[i])
		}
	}
}

// On a broker alone with its data, a damaged batch is not served and not
// cut: a fetch of it answers KAFKA_STORAGE_ERROR, the records before it
// are still served, and nothing is lost that could be read back later.
func TestCorruptBatchOnSingleNodeAnswersStorageError(t *testing.T) {
	t.Parallel()
	forEachKind(t, 1, nil, func(t *testing.T, c cluster) {
		const topic = "corrupt-alone"
		createTopicIn(c, topic, 1, 1, nil)
		cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
		want := produceEach(t, cl, topic, "a", 50)
		flipBit(t, c, 1, topic, recordsOf(30))
		ctx := testContext(t, time.Minute)
		if err := fetchErrAt(ctx, c.seeds(), topic, 30); !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("fetch of the damaged batch: %v, want KAFKA_STORAGE_ERROR", err)
		}
		got := consumeFrom(t, c.seeds(), topic, 30)
		for i, r := range got[:30] {
			if string(r.Value) != want[i] {
				t.Fatalf("record %d: %q, want %q", i, r.Value, want[i])
			}
		}
		// Still damaged, still refused: nothing was cut.
		if err := fetchErrAt(ctx, c.seeds(), topic, 30); !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("second fetch of the damaged batch: %v, want KAFKA_STORAGE_ERROR", err)
		}
	})
}

// batchStart is the position, in segment b, of its k-th batch.
func batchStart(t *testing.T, b []byte, k int) int64 {
	t.Helper()
	return recordsPos(t, b, k) - record.HeaderSize - 2
}

// A leader whose copy of a batch has a bit flipped in its base offset
// (which the CRC32C does not cover) so that it points past the log end
// offset never answers a consumer with nothing at that offset: the read
// reports the damage, the leader hands the partition to an in-sync
// follower, cuts its log there and fetches the rest back. The consumer
// reads every record, in order, at its offset.
func TestCorruptBaseOffsetPastLogEndOnLeaderIsRepaired(t *testing.T) {
	t.Parallel()
	// Byte 5 of the base offset, bit 0x04: 2^18 past the batch's place,
	// far past the log end offset (200).
	damagedLeaderRepairs(t, "corrupt-base-offset", func(t *testing.T, seg []byte) int64 {
		return batchStart(t, seg, 100) + 5
	})
}

// A follower that repairs a damaged range has lost records the high
// watermark counted; were it left in the ISR, the next election could make
// it leader without them and the other replicas would truncate to it. Here
// the follower the controller would elect first is killed, damaged, and
// started again (it keeps its ISR place after a crash) while the leader is
// dead too: it finds the damage, cuts its log, and leaves the ISR before
// the dead leader is fenced, so the other follower is elected and every
// acknowledged record survives.
func TestRepairedFollowerLeavesISRBeforeItCanLead(t *testing.T) {
	t.Parallel()
	settings := map[string]string{"log.flush.offset.checkpoint.interval.ms": "200", "broker.session.timeout.ms": "6000"}
	for k, v := range fastFailover {
		if _, ok := settings[k]; !ok {
			settings[k] = v
		}
	}
	// Processes only: the test reads what the follower logs.
	c := startCluster(t, 3, settings).asCluster()
	const topic = "repaired-follower"
	ctx := testContext(t, 3*time.Minute)
	two := "2"
	if resp, err := c.admin().CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &two}, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	td := waitISR(c, topic, 0, 3, 30*time.Second)
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	want := produceEach(t, cl, topic, "a", 200)
	td = waitISR(c, topic, 0, 3, 30*time.Second)
	p0 := td.Partitions[0]
	leader := p0.Leader
	var first, other int32 = -1, -1 // the followers, in election order
	for _, r := range p0.Replicas {
		switch {
		case r == leader:
		case first < 0:
			first = r
		default:
			other = r
		}
	}
	// Every record the follower holds below its recovery point, so the
	// damage is left to the check after Open (a read's path).
	waitFor(t, 30*time.Second, "the follower's recovery point at the log end", func() bool {
		// The offset is the file's second line (a scan start may follow).
		b, err := c.readFile(first, filepath.Join(topic+"-0", "recovery-point"))
		lines := strings.Split(string(b), "\n")
		return err == nil && len(lines) > 2 && lines[1] == "200"
	})
	c.kill(first)
	flipBit(t, c, first, topic, recordsOf(66))
	c.kill(leader)
	c.start(first)

	// The dead leader is fenced; the follower that kept every record is
	// the only one in the ISR that may lead.
	var last string
	waitFor(t, time.Minute, fmt.Sprintf("broker %d leading", other), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		md, err := metadataAt(ctx, c, other, topic)
		if err != nil {
			return false
		}
		td := md.Topics[topic]
		last = describePartitions(td)
		if len(td.Partitions) == 0 {
			return false
		}
		if l := td.Partitions[0].Leader; l == first {
			t.Fatalf("broker %d, which cut acknowledged records, was elected leader: %s", first, last)
		}
		return td.Partitions[0].Leader == other
	})
	waitFor(t, 30*time.Second, fmt.Sprintf("broker %d to say it left the ISR after cutting the damaged range", first), func() bool {
		logs := c.node(first).logs()
		return strings.Contains(logs, "left the ISR after losing a damaged range") ||
			strings.Contains(logs, "out of the ISR until caught up again after losing a damaged range")
	})
	want = append(want, produceEach(t, cl, topic, "b", 50)...)
	checkInOrder(t, consumeFrom(t, c.seeds(), topic, len(want)), want)
	c.stop(first)
	if vals := replicaValues(t, c, first, topic); strings.Join(vals, ",") != strings.Join(want, ",") {
		t.Fatalf("the repaired follower holds %d records, want the %d produced (first difference near %d)", len(vals), len(want), firstDiff(vals, want))
	}
}
