package test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/faultfs"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
)

// Corruption on one replica (issue 15): a flipped bit in a batch on one
// broker's disk is caught by the batch's CRC32C (at recovery, or when the
// batch is read), is never served to a consumer or a follower, and the
// damaged replica repairs itself from a healthy one without an operator.

func flipBit(t *testing.T, path string, pos int64) {
	t.Helper()
	if err := faultfs.FlipBit(path, pos, 0x04); err != nil {
		t.Fatal(err)
	}
}

// recordsPos is the position, in the segment at path, of the records
// (inside the CRC32C) of its k-th batch.
func recordsPos(t *testing.T, path string, k int) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pos, i := 0, 0
	err = record.Batches(b, false, func(h record.Header, batch []byte) error {
		if i == k {
			return errFound
		}
		pos += len(batch)
		i++
		return nil
	})
	if err != errFound {
		t.Fatalf("%s has %d batches, not %d", path, i, k+1)
	}
	return int64(pos + record.HeaderSize + 2)
}

var errFound = errors.New("found")

// replicaValues reads a partition directory's segments straight from the
// disk, checking every batch's CRC32C, and returns the record values in
// offset order.
func replicaValues(t *testing.T, dir string) []string {
	t.Helper()
	out, err := readReplica(dir)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readReplica(dir string) ([]string, error) {
	segs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(segs)
	var out []string
	for _, seg := range segs {
		b, err := os.ReadFile(seg)
		if err != nil {
			return nil, err
		}
		err = record.Batches(b, false, func(h record.Header, batch []byte) error {
			if err := record.ValidateParsed(h, batch); err != nil {
				return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
			}
			return record.CheckRecords(h, batch[record.HeaderSize:], func(r record.Record) error {
				out = append(out, string(r.Value))
				return nil
			})
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", seg, err)
		}
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

func (c *fsCluster) leaderOf(topic string) int32 {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.listens...))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).Metadata(testContext(c.t, 10*time.Second), topic)
	if err != nil {
		c.t.Fatal(err)
	}
	return md.Topics[topic].Partitions[0].Leader
}

// checkReplica waits until broker i's copy of partition 0 of topic holds
// exactly want, every batch whole (a repair may still be fetching), then
// stops the broker and checks its files again.
func (c *fsCluster) checkReplica(i int, topic string, want []string) {
	c.t.Helper()
	dir := filepath.Join(c.dirs[i], topic+"-0")
	waitForErr(c.t, time.Minute, fmt.Sprintf("broker %d holding the %d records produced", i+1, len(want)), func() error {
		got, err := readReplica(dir)
		if err != nil {
			return err
		}
		return replicaDiff(got, want)
	})
	c.stop(i)
	got := replicaValues(c.t.(*testing.T), filepath.Join(c.dirs[i], topic+"-0"))
	if strings.Join(got, ",") != strings.Join(want, ",") {
		c.t.Fatalf("broker %d holds %d records, want the %d produced (first difference near %d)", i+1, len(got), len(want), firstDiff(got, want))
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
	c := startFSCluster(t, 3, corruptionSettings, func(int) log.FS { return nil })
	const topic = "corrupt-follower"
	two := "2"
	c.createTopic(topic, 1, 3, map[string]*string{"min.insync.replicas": &two})
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	want := produceEach(t, cl, topic, "a", 200)
	leader := c.leaderOf(topic)
	f := int(leader % 3) // a follower's index (broker f+1)
	c.waitISR(topic, 3, 30*time.Second)
	c.stop(f)
	seg := filepath.Join(c.dirs[f], topic+"-0", "00000000000000000000.log")
	flipBit(t, seg, recordsPos(t, seg, 66))
	c.startAll(func(int) log.FS { return nil })
	want = append(want, produceEach(t, cl, topic, "b", 50)...)
	c.waitISR(topic, 3, time.Minute)
	c.checkReplica(f, topic, want)
}

// A leader whose segment is damaged while it serves never hands the bad
// batch to a consumer: the read fails its CRC check, the leader gives the
// partition to an in-sync follower, cuts its own log at the bad batch and
// fetches the rest back. The consumer reads every record, intact and in
// order, from the new leader.
func TestCorruptLeaderGivesUpLeadershipAndRepairs(t *testing.T) {
	t.Parallel()
	damagedLeaderRepairs(t, "corrupt-leader", func(seg string) {
		flipBit(t, seg, recordsPos(t, seg, 100)) // in the page cache the leader reads from
	})
}

// damagedLeaderRepairs writes 200 records to a partition of three
// replicas, damages the leader's segment with damage, and checks that a
// consumer reads every record at its offset, that leadership moved, and
// that the old leader holds every record again after 50 more.
func damagedLeaderRepairs(t *testing.T, topic string, damage func(seg string)) {
	c := startFSCluster(t, 3, corruptionSettings, func(int) log.FS { return nil })
	two := "2"
	c.createTopic(topic, 1, 3, map[string]*string{"min.insync.replicas": &two})
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	want := produceEach(t, cl, topic, "a", 200)
	c.waitISR(topic, 3, 30*time.Second)
	leader := c.leaderOf(topic)
	li := int(leader - 1)
	damage(filepath.Join(c.dirs[li], topic+"-0", "00000000000000000000.log"))

	checkInOrder(t, consumeFrom(t, c.seeds(), topic, len(want)), want)
	if now := c.leaderOf(topic); now == leader {
		t.Fatalf("broker %d still leads after reading a damaged batch", leader)
	}
	want = append(want, produceEach(t, cl, topic, "b", 50)...)
	c.waitISR(topic, 3, time.Minute)
	c.checkReplica(li, topic, want)
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
	c := startFSCluster(t, 1, nil, func(int) log.FS { return nil })
	const topic = "corrupt-alone"
	c.createTopic(topic, 1, 1, nil)
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	want := produceEach(t, cl, topic, "a", 50)
	seg := filepath.Join(c.dirs[0], topic+"-0", "00000000000000000000.log")
	flipBit(t, seg, recordsPos(t, seg, 30))
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
}

// batchStart is the position, in the segment at path, of its k-th batch.
func batchStart(t *testing.T, path string, k int) int64 {
	t.Helper()
	return recordsPos(t, path, k) - record.HeaderSize - 2
}

// A leader whose copy of a batch has a bit flipped in its base offset
// (which the CRC32C does not cover) so that it points past the log end
// offset never answers a consumer with nothing at that offset: the read
// reports the damage, the leader hands the partition to an in-sync
// follower, cuts its log there and fetches the rest back. The consumer
// reads every record, in order, at its offset.
func TestCorruptBaseOffsetPastLogEndOnLeaderIsRepaired(t *testing.T) {
	t.Parallel()
	damagedLeaderRepairs(t, "corrupt-base-offset", func(seg string) {
		// Byte 5 of the base offset, bit 0x04: 2^18 past the batch's
		// place, far past the log end offset (200).
		flipBit(t, seg, batchStart(t, seg, 100)+5)
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
	c := startCluster(t, 3, settings)
	const topic = "repaired-follower"
	ctx := testContext(t, 3*time.Minute)
	two := "2"
	if resp, err := c.admin().CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &two}, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	td := c.waitHealthy(topic, c.liveNode(), 3, 30*time.Second)
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	want := produceEach(t, cl, topic, "a", 200)
	td = c.waitHealthy(topic, c.liveNode(), 3, 30*time.Second)
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
		b, err := os.ReadFile(filepath.Join(c.node(first).dataDir, topic+"-0", "recovery-point"))
		lines := strings.Split(string(b), "\n")
		return err == nil && len(lines) > 2 && lines[1] == "200"
	})
	f := c.node(first)
	f.kill(syscall.SIGKILL)
	seg := filepath.Join(f.dataDir, topic+"-0", "00000000000000000000.log")
	flipBit(t, seg, recordsPos(t, seg, 66))
	c.node(leader).kill(syscall.SIGKILL)
	f.restart()

	// The dead leader is fenced; the follower that kept every record is
	// the only one in the ISR that may lead.
	var last string
	waitFor(t, time.Minute, fmt.Sprintf("broker %d leading", other), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		md, err := c.metadata(ctx, other, topic)
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
		logs := f.logs()
		return strings.Contains(logs, "left the ISR after losing a damaged range") ||
			strings.Contains(logs, "out of the ISR until caught up again after losing a damaged range")
	})
	want = append(want, produceEach(t, cl, topic, "b", 50)...)
	checkInOrder(t, consumeFrom(t, c.seeds(), topic, len(want)), want)
	f.kill(syscall.SIGTERM)
	if vals := replicaValues(t, filepath.Join(f.dataDir, topic+"-0")); strings.Join(vals, ",") != strings.Join(want, ",") {
		t.Fatalf("the repaired follower holds %d records, want the %d produced (first difference near %d)", len(vals), len(want), firstDiff(vals, want))
	}
}
