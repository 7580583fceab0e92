package test

// Retention (Kafka's log.retention.check.interval.ms loop): whole segments
// past retention.bytes or retention.ms are deleted, oldest first, never the
// active one; the log start offset moves to the first remaining segment;
// consumers from the start begin there; fetching below it is
// OFFSET_OUT_OF_RANGE. retention.ms is measured against the records'
// timestamps (CreateTime), not the files' ages.

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// segment is one .log file of a partition directory.
type segment struct {
	base int64
	size int64
}

// segments lists a partition's segment files, oldest first. Files renamed
// for deletion (.deleted) are not segments any more.
// logDataSize is the length of the batches in a segment file: an active
// segment may hold zeros past them, written ahead of its appends.
func logDataSize(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return int64(len(batchesOnly(b))), nil
}

// batchesOnly cuts a segment's bytes at the zeros past its last batch, if
// any: Sluice writes zeros ahead of an active segment's appends. A torn or
// damaged tail is kept, for the caller to find.
func batchesOnly(b []byte) []byte {
	pos := 0
	for pos+12 <= len(b) { // base offset, batch length
		n := int(binary.BigEndian.Uint32(b[pos+8:]))
		if n == 0 && binary.BigEndian.Uint64(b[pos:]) == 0 {
			return b[:pos]
		}
		pos += 12 + n
	}
	return b
}

func segments(t testing.TB, dir string) []segment {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read partition dir: %v", err)
	}
	var out []segment
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		if len(name) != 20 {
			t.Fatalf("segment file %s: the name is not a 20-digit offset", e.Name())
		}
		base, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			t.Fatalf("segment file %s: %v", e.Name(), err)
		}
		size, err := logDataSize(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // deleted while listing
		}
		out = append(out, segment{base, size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].base < out[j].base })
	return out
}

func logStartOffset(t testing.TB, adm *kadm.Client, topic string, partition int32) int64 {
	t.Helper()
	offs, err := adm.ListStartOffsets(testContext(t, 10*time.Second), topic)
	if err != nil {
		t.Fatalf("list start offsets: %v", err)
	}
	o, ok := offs.Lookup(topic, partition)
	if !ok || o.Err != nil {
		t.Fatalf("list start offset %s/%d: %v", topic, partition, o.Err)
	}
	return o.Offset
}

// fetchRaw fetches one partition at offset with a raw Fetch request and
// returns the partition's error code.
func fetchRaw(t testing.TB, cl *kgo.Client, topic string, id [16]byte, partition int32, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 100
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 1<<20
	rp.CurrentLeaderEpoch, rp.LogStartOffset, rp.LastFetchedEpoch = -1, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch: top-level error %v with %d topics", kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

func topicID(t testing.TB, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	mt := metadataTopics(t, cl, false, topic)[topic]
	if mt.ErrorCode != 0 {
		t.Fatalf("metadata for %s: %v", topic, kerr.ErrorForCode(mt.ErrorCode))
	}
	return mt.TopicID
}

// checkConsumeFrom consumes topic's partition 0 from the start and checks
// that it begins at start and holds produced[start:] exactly.
func checkConsumeFrom(t testing.TB, addr, topic string, start int64, produced []*kgo.Record) {
	t.Helper()
	n := len(produced) - int(start)
	got := consumeAll(t, addr, topic, n)
	if len(got) != n {
		t.Fatalf("consumed %d records from the start, want %d", len(got), n)
	}
	for i, r := range got {
		want := produced[int(start)+i]
		if r.Offset != want.Offset {
			t.Fatalf("consumed record %d at offset %d, want %d (log start %d)", i, r.Offset, want.Offset, start)
		}
		checkRecord(t, fmt.Sprintf("offset %d", r.Offset), r, want)
	}
}

// retentionRecords builds n records for partition 0 of ~300 random bytes,
// record i with timestamp ts plus i milliseconds.
func retentionRecords(topic string, n int, ts time.Time, from int) []*kgo.Record {
	rng := rand.New(rand.NewSource(int64(from)))
	out := make([]*kgo.Record, n)
	for i := range out {
		val := make([]byte, 280)
		rng.Read(val)
		out[i] = &kgo.Record{
			Topic:     topic,
			Key:       []byte(fmt.Sprintf("k%06d", from+i)),
			Value:     val,
			Headers:   []kgo.RecordHeader{{Key: "i", Value: []byte(strconv.Itoa(from + i))}},
			Timestamp: ts.Add(time.Duration(i) * time.Millisecond),
		}
	}
	return out
}

func TestRetentionDeletesOldSegments(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"log.retention.check.interval.ms": "100"})
	const segmentBytes, retentionBytes = 16384, 65536
	b.createTopic("ret-bytes", 1, map[string]*string{
		"segment.bytes":        ptr(strconv.Itoa(segmentBytes)),
		"retention.bytes":      ptr(strconv.Itoa(retentionBytes)),
		"file.delete.delay.ms": ptr("0"),
	})
	dir := filepath.Join(b.dataDir, "ret-bytes-0")
	// Small uncompressed batches, so that segments roll at about
	// segment.bytes and the bytes on disk are the bytes produced.
	cl := b.client(kgo.ProducerBatchMaxBytes(4096), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := b.admin()
	records := retentionRecords("ret-bytes", 2000, time.Now().Truncate(time.Millisecond), 0)
	produceAll(t, cl, records)
	for i, r := range records {
		if r.Offset != int64(i) {
			t.Fatalf("record %d acknowledged at offset %d", i, r.Offset)
		}
	}

	// About 650 KB were written: retention must delete down to
	// retention.bytes. Kafka deletes the oldest segment while the log
	// stays at or above retention.bytes without it, so once retention has
	// run the log holds at least retention.bytes and less than
	// retention.bytes plus its oldest segment.
	var start int64
	var segs []segment
	var total int64
	waitFor(t, 30*time.Second, "retention to delete down to retention.bytes", func() bool {
		start = logStartOffset(t, adm, "ret-bytes", 0)
		segs = segments(t, dir)
		total = 0
		for _, s := range segs {
			total += s.size
		}
		return start > 0 && len(segs) > 0 && total-segs[0].size < retentionBytes && segs[0].base == start
	})
	if total < retentionBytes {
		t.Fatalf("retention left %d bytes in %d segments; it may not go below retention.bytes %d", total, len(segs), retentionBytes)
	}
	if len(segs) < 4 {
		t.Fatalf("only %d segments of segment.bytes %d hold %d bytes", len(segs), segmentBytes, total)
	}
	for _, s := range segs[:len(segs)-1] {
		if s.size > segmentBytes+4096 {
			t.Fatalf("segment %d has %d bytes; segment.bytes is %d", s.base, s.size, segmentBytes)
		}
	}
	if end := endOffsets(t, cl, "ret-bytes")[0]; end != 2000 {
		t.Fatalf("end offset %d after retention, want 2000", end)
	}
	// No index or time index of a deleted segment is left behind. A
	// segment's .log goes first, so its indexes may still be on their
	// way out at the moment the .log is seen gone.
	var left []string
	waitFor(t, 10*time.Second, "the indexes of deleted segments to go", func() bool {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		left = left[:0]
		for _, e := range entries {
			for _, ext := range []string{".index", ".timeindex"} {
				if name, ok := strings.CutSuffix(e.Name(), ext); ok {
					if base, err := strconv.ParseInt(name, 10, 64); err == nil && base < start {
						left = append(left, e.Name())
					}
				}
			}
		}
		return len(left) == 0
	})

	checkConsumeFrom(t, b.addr, "ret-bytes", start, records)

	id := topicID(t, cl, "ret-bytes")
	if p := fetchRaw(t, cl, "ret-bytes", id, 0, 0); p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch at 0 below log start %d: %v, want OFFSET_OUT_OF_RANGE", start, kerr.ErrorForCode(p.ErrorCode))
	}
	if p := fetchRaw(t, cl, "ret-bytes", id, 0, start-1); p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch at %d, just below log start: %v, want OFFSET_OUT_OF_RANGE", start-1, kerr.ErrorForCode(p.ErrorCode))
	}
	p := fetchRaw(t, cl, "ret-bytes", id, 0, start)
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.LogStartOffset != start || p.HighWatermark != 2000 {
		t.Fatalf("fetch at log start %d: %v, %d bytes, log start %d, high watermark %d",
			start, kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches), p.LogStartOffset, p.HighWatermark)
	}
	if base := int64(binary.BigEndian.Uint64(p.RecordBatches)); base != start {
		t.Fatalf("fetch at log start returned a first batch at %d, want %d", base, start)
	}
}

func TestRetentionByRecordTimestamp(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"log.retention.check.interval.ms": "100"})
	b.createTopic("ret-time", 1, map[string]*string{
		"segment.bytes":        ptr("16384"),
		"retention.ms":         ptr("60000"),
		"file.delete.delay.ms": ptr("0"),
	})
	dir := filepath.Join(b.dataDir, "ret-time-0")
	cl := b.client(kgo.ProducerBatchMaxBytes(4096), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := b.admin()

	// 1000 records stamped an hour ago, then 50 stamped now. The old ones
	// fill many segments that retention.ms has expired; the new ones keep
	// the segment that holds them.
	const old, fresh = 1000, 50
	records := retentionRecords("ret-time", old, time.Now().Add(-time.Hour).Truncate(time.Millisecond), 0)
	produceAll(t, cl, records)
	newer := retentionRecords("ret-time", fresh, time.Now().Truncate(time.Millisecond), old)
	produceAll(t, cl, newer)
	records = append(records, newer...)
	for i, r := range records {
		if r.Offset != int64(i) {
			t.Fatalf("record %d acknowledged at offset %d", i, r.Offset)
		}
	}

	// Every segment whose records are all older than retention.ms goes;
	// the first one left is the one holding the first new record.
	var start int64
	var segs []segment
	waitFor(t, 30*time.Second, "retention.ms to delete the expired segments", func() bool {
		start = logStartOffset(t, adm, "ret-time", 0)
		segs = segments(t, dir)
		return start > 0 && len(segs) > 0 && segs[0].base == start && (len(segs) == 1 || segs[1].base > old)
	})
	if start > old {
		t.Fatalf("log start %d is past the first unexpired record %d", start, old)
	}
	if end := endOffsets(t, cl, "ret-time")[0]; end != old+fresh {
		t.Fatalf("end offset %d, want %d", end, old+fresh)
	}
	checkConsumeFrom(t, b.addr, "ret-time", start, records)
	id := topicID(t, cl, "ret-time")
	if p := fetchRaw(t, cl, "ret-time", id, 0, start-1); p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch below log start %d: %v, want OFFSET_OUT_OF_RANGE", start, kerr.ErrorForCode(p.ErrorCode))
	}

	// Retention keeps running and deletes nothing more. This waits on
	// time because it checks that something does not happen: three
	// passes of the 100ms check interval.
	time.Sleep(300 * time.Millisecond)
	if again := logStartOffset(t, adm, "ret-time", 0); again != start {
		t.Fatalf("log start moved from %d to %d with no expired segment left", start, again)
	}
}
