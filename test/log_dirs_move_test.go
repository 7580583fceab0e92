package test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// replicaDirs is where DescribeLogDirs puts a partition: its current
// directory, and the target of a move in progress (IsFuture) with its
// offset lag.
type replicaDirs struct {
	current, future string
	lag             int64
	dirErrs         map[string]error
}

func describeReplica(t testing.TB, adm *kadm.Client, topic string, partition int32) replicaDirs {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatalf("describe log dirs: %v", err)
	}
	out := replicaDirs{dirErrs: map[string]error{}}
	all.Each(func(d kadm.DescribedLogDir) {
		out.dirErrs[d.Dir] = d.Err
		if p, ok := d.Topics[topic][partition]; ok {
			if p.IsFuture {
				out.future, out.lag = d.Dir, p.OffsetLag
			} else {
				if out.current != "" {
					t.Fatalf("%s-%d is current in both %s and %s", topic, partition, out.current, d.Dir)
				}
				out.current = d.Dir
				if p.OffsetLag != 0 {
					t.Fatalf("%s-%d: offset lag %d of the current replica, want 0", topic, partition, p.OffsetLag)
				}
			}
		}
	})
	return out
}

// alterLogDir asks to move one partition and returns the per-partition
// error.
func alterLogDir(t testing.TB, adm *kadm.Client, dir, topic string, partition int32) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var req kadm.AlterReplicaLogDirsReq
	req.Add(dir, kadm.TopicsSet{topic: {partition: {}}})
	// Ask broker 1 directly: the sharded AlterAllReplicaLogDirs answers an
	// unknown topic itself, without asking the broker.
	resps, err := adm.AlterBrokerReplicaLogDirs(ctx, 1, req)
	if err != nil {
		t.Fatalf("alter replica log dirs: %v", err)
	}
	var perr error
	found := false
	resps.Each(func(r kadm.AlterReplicaLogDirsResponse) {
		if r.Topic == topic && r.Partition == partition {
			found, perr = true, r.Err
		}
	})
	if !found {
		t.Fatalf("no answer for %s-%d", topic, partition)
	}
	return perr
}

// loadRun produces numbered records (acks=all) and consumes them at the
// same time, checking that the consumer sees offsets in order, each once.
type loadRun struct {
	t       testing.TB
	mu      sync.Mutex
	acked   map[int64]string // offset -> value
	seen    int64            // the consumer's next expected offset
	errs    []error
	stop    context.CancelFunc
	wg      sync.WaitGroup
	records int
}

func startLoad(t testing.TB, addr, topic string, value int) *loadRun {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loadRun{t: t, acked: map[int64]string{}, stop: cancel}
	prod := newClient(t, addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(2000))
	cons := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	pad := strings.Repeat("x", value)
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			v := fmt.Sprintf("r-%08d-%s", i, pad)
			prod.Produce(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)}, func(r *kgo.Record, err error) {
				l.mu.Lock()
				defer l.mu.Unlock()
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						l.errs = append(l.errs, fmt.Errorf("produce: %w", err))
					}
					return
				}
				l.acked[r.Offset] = string(r.Value)
			})
		}
		prod.Flush(context.Background())
	}()
	go func() {
		defer l.wg.Done()
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachError(func(_ string, _ int32, err error) {
				if !errors.Is(err, context.Canceled) {
					l.mu.Lock()
					l.errs = append(l.errs, fmt.Errorf("fetch: %w", err))
					l.mu.Unlock()
				}
			})
			l.mu.Lock()
			for _, r := range fs.Records() {
				if r.Offset != l.seen {
					l.errs = append(l.errs, fmt.Errorf("consumer: offset %d after %d", r.Offset, l.seen-1))
				}
				l.seen = r.Offset + 1
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *loadRun) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// finish stops the load and returns the acknowledged records.
func (l *loadRun) finish() map[int64]string {
	l.stop()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.errs {
		l.t.Errorf("during the load: %v", err)
	}
	return l.acked
}

// checkAckedReadBack consumes the whole partition and checks every
// acknowledged record is there at its offset, each offset once, in order.
func checkAckedReadBack(t testing.TB, addr, topic string, acked map[int64]string) {
	t.Helper()
	end := endOffsets(t, newClient(t, addr), topic)[0]
	got := consumeAll(t, addr, topic, int(end))
	for i, r := range got {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
		if v, ok := acked[r.Offset]; ok && v != string(r.Value) {
			t.Fatalf("offset %d: %.12q, acknowledged %.12q", r.Offset, r.Value, v)
		}
	}
	for off := range acked {
		if off >= int64(len(got)) {
			t.Fatalf("acknowledged offset %d lost; the log has %d records", off, len(got))
		}
	}
}

// TestAlterReplicaLogDirsMovesAPartitionUnderLoad moves a partition
// between two log directories (KIP-113) while a producer with acks=all and
// a consumer run: every acknowledged record is read back once and in
// order, DescribeLogDirs shows the partition in the new directory only,
// the old directory no longer holds it, and it stays there after a
// restart.
func TestAlterReplicaLogDirsMovesAPartitionUnderLoad(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	br := startBroker(t, map[string]string{"log.dirs": a + "," + b})
	seg := "262144"
	br.createTopic("moving", 1, map[string]*string{"segment.bytes": &seg})
	adm := br.admin()
	from := describeReplica(t, adm, "moving", 0).current
	to := map[string]string{a: b, b: a}[from]
	if to == "" {
		t.Fatalf("moving-0 is in %q, not in %s or %s", from, a, b)
	}

	load := startLoad(t, br.addr, "moving", 200)
	waitFor(t, time.Minute, "records before the move", func() bool { return load.ackedCount() >= 20000 })
	if err := alterLogDir(t, adm, to, "moving", 0); err != nil {
		t.Fatalf("move to %s: %v", to, err)
	}
	sawFuture := false
	waitFor(t, time.Minute, "the move to finish", func() bool {
		d := describeReplica(t, adm, "moving", 0)
		if d.future == to {
			sawFuture = true
			if d.lag < 0 {
				t.Fatalf("future offset lag %d", d.lag)
			}
		}
		return d.current == to && d.future == ""
	})
	before := load.ackedCount()
	waitFor(t, time.Minute, "records after the move", func() bool { return load.ackedCount() >= before+5000 })
	acked := load.finish()
	t.Logf("%d records acknowledged; future replica seen in DescribeLogDirs: %v", len(acked), sawFuture)

	if _, err := os.Stat(filepath.Join(from, "moving-0")); !os.IsNotExist(err) {
		t.Fatalf("old directory still holds moving-0: %v", err)
	}
	if _, err := os.Stat(filepath.Join(to, "moving-0", "00000000000000000000.log")); err != nil {
		t.Fatalf("new directory: %v", err)
	}
	checkAckedReadBack(t, br.addr, "moving", acked)

	br.restart()
	// A restarted broker may serve while its partitions still open.
	adm = br.admin()
	waitFor(t, 30*time.Second, "moving-0 to open", func() bool { return describeReplica(t, adm, "moving", 0).current != "" })
	if d := describeReplica(t, adm, "moving", 0); d.current != to || d.future != "" {
		t.Fatalf("after restart moving-0 is in %q (future %q), want %s", d.current, d.future, to)
	}
	checkAckedReadBack(t, br.addr, "moving", acked)
}

// TestAlterReplicaLogDirsRefusals: a directory that is not one of log.dirs
// is LOG_DIR_NOT_FOUND, an unknown partition UNKNOWN_TOPIC_OR_PARTITION,
// and a move to the directory the partition is in is accepted and changes
// nothing.
func TestAlterReplicaLogDirsRefusals(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	br := startBroker(t, map[string]string{"log.dirs": a + "," + b})
	br.createTopic("stay", 1, nil)
	adm := br.admin()
	if err := alterLogDir(t, adm, t.TempDir(), "stay", 0); !errors.Is(err, kerr.LogDirNotFound) {
		t.Fatalf("move to an unknown dir: %v, want LOG_DIR_NOT_FOUND", err)
	}
	if err := alterLogDir(t, adm, a, "nosuch", 0); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("move of an unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	cur := describeReplica(t, adm, "stay", 0).current
	if err := alterLogDir(t, adm, cur, "stay", 0); err != nil {
		t.Fatalf("move to the current dir: %v", err)
	}
	if d := describeReplica(t, adm, "stay", 0); d.current != cur || d.future != "" {
		t.Fatalf("after a move to its own dir: %+v", d)
	}
}

// TestKill9DuringLogDirMoveKeepsOneCopy kills a broker process with
// SIGKILL while it moves a big partition between log directories, and
// restarts it: the partition is in exactly one directory, no -future copy
// is left, and every acknowledged record is there.
func TestKill9DuringLogDirMoveKeepsOneCopy(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	p := startProcess(t, t.TempDir(), "127.0.0.1:0", "--config", "log.dirs="+a+","+b)
	setup := newClient(t, p.addr)
	createTopicWith(t, setup, "big", 1)
	cl := newClient(t, p.addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
	ctx := testContext(t, 3*time.Minute)
	value := make([]byte, 16<<10)
	acked := map[int64]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 12000; i++ { // about 190 MiB
		v := fmt.Sprintf("big-%07d", i)
		copy(value, v)
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: "big", Value: append([]byte(nil), value...)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			mu.Lock()
			acked[r.Offset] = string(r.Value[:len(v)])
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	adm := kadm.NewClient(setup)
	from := describeReplica(t, adm, "big", 0).current
	to := map[string]string{a: b, b: a}[from]
	if err := alterLogDir(t, adm, to, "big", 0); err != nil {
		t.Fatalf("move: %v", err)
	}
	// Kill once the copy is under way and not finished.
	killed := false
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if d := describeReplica(t, adm, "big", 0); d.future == to && d.lag > 0 {
			p.kill(syscall.SIGKILL)
			killed = true
			break
		}
		// A poll of its own, faster than waitFor's: the copy may be
		// under way for only a few hundred milliseconds.
		time.Sleep(5 * time.Millisecond)
	}
	if !killed {
		t.Fatal("never saw the move in progress")
	}
	futures := 0
	entries, _ := os.ReadDir(to)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "-future") {
			futures++
		}
	}
	t.Logf("killed mid-move; %d future copies on disk", futures)

	p.restart()
	for _, root := range []string{a, b} {
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), "-future") {
				t.Fatalf("future copy %s left in %s after restart", e.Name(), root)
			}
		}
	}
	copies := 0
	for _, root := range []string{a, b} {
		if _, err := os.Stat(filepath.Join(root, "big-0")); err == nil {
			copies++
		}
	}
	if copies != 1 {
		t.Fatalf("big-0 is in %d log directories after restart, want 1", copies)
	}
	adm = kadm.NewClient(newClient(t, p.addr))
	// The broker serves while its partitions open.
	waitFor(t, time.Minute, "big-0 to open", func() bool { return describeReplica(t, adm, "big", 0).current != "" })
	if d := describeReplica(t, adm, "big", 0); d.current == "" || d.future != "" {
		t.Fatalf("after restart: %+v", d)
	}
	end := endOffsets(t, newClient(t, p.addr), "big")[0]
	got := consumeAll(t, p.addr, "big", int(end), kgo.FetchMaxBytes(8<<20))
	for i, r := range got {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
		if v, ok := acked[r.Offset]; ok && v != string(r.Value[:len(v)]) {
			t.Fatalf("offset %d: %q, acknowledged %q", r.Offset, r.Value[:len(v)], v)
		}
	}
	if len(got) < len(acked) {
		t.Fatalf("%d records after restart, %d acknowledged", len(got), len(acked))
	}

	// The move can be asked again and now completes.
	if err := alterLogDir(t, adm, to, "big", 0); err != nil {
		t.Fatalf("move again: %v", err)
	}
	waitFor(t, time.Minute, "the second move", func() bool {
		d := describeReplica(t, adm, "big", 0)
		return d.current == to && d.future == ""
	})
}

// TestFullLogDirGoesOfflineAsAWhole fills one of two log directories
// (KIP-112): every partition in it answers KAFKA_STORAGE_ERROR, also one
// that never wrote, DescribeLogDirs reports the directory with
// KAFKA_STORAGE_ERROR, new partitions go to the other directory, and the
// partitions there keep serving.
func TestFullLogDirGoesOfflineAsAWhole(t *testing.T) {
	t.Parallel()
	small := mountSmallDisk(t, "4m")
	big := t.TempDir()
	br := startBroker(t, map[string]string{"log.dirs": small + "," + big})
	br.createTopic("four", 4, nil)
	adm := br.admin()
	inSmall, inBig := []int32{}, []int32{}
	for p := int32(0); p < 4; p++ {
		switch describeReplica(t, adm, "four", p).current {
		case small:
			inSmall = append(inSmall, p)
		case big:
			inBig = append(inBig, p)
		}
	}
	if len(inSmall) != 2 || len(inBig) != 2 {
		t.Fatalf("partitions in %s: %v, in %s: %v; want two in each", small, inSmall, big, inBig)
	}

	cl := br.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordDeliveryTimeout(10*time.Second))
	ctx := testContext(t, time.Minute)
	value := make([]byte, 64<<10)
	var fillErr error
	acked := 0
	for i := 0; i < 200 && fillErr == nil; i++ {
		if fillErr = cl.ProduceSync(ctx, &kgo.Record{Topic: "four", Partition: inSmall[0], Value: value}).FirstErr(); fillErr == nil {
			acked++
		}
	}
	if !errors.Is(fillErr, kerr.KafkaStorageError) {
		t.Fatalf("filling %s: %v, want KAFKA_STORAGE_ERROR", small, fillErr)
	}
	// The other partition of the full directory never wrote; it is
	// offline with its directory.
	waitFor(t, 10*time.Second, "the directory to go offline", func() bool {
		return describeReplica(t, adm, "four", 0).dirErrs[small] != nil
	})
	if err := describeReplica(t, adm, "four", 0).dirErrs[small]; !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("DescribeLogDirs for the full dir: %v, want KAFKA_STORAGE_ERROR", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "four", Partition: inSmall[1], Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("produce to the idle partition of the offline dir: %v, want KAFKA_STORAGE_ERROR", err)
	}
	// kgo retries KAFKA_STORAGE_ERROR inside PollFetches; ask directly.
	// The directory's partitions are taken offline one by one after the
	// directory (a fetch a moment before reads what the disk still holds).
	fcl := br.client()
	waitFor(t, 10*time.Second, "a fetch from the offline dir to answer KAFKA_STORAGE_ERROR", func() bool {
		return fetchErrorCode(t, fcl, "four", inSmall[1]) == kerr.KafkaStorageError.Code
	})
	// The healthy directory keeps serving.
	for _, p := range inBig {
		for i := 0; i < 20; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "four", Partition: p, Value: value}).FirstErr(); err != nil {
				t.Fatalf("partition %d in the healthy directory: %v", p, err)
			}
		}
	}
	// A new topic goes to the healthy directory only.
	br.createTopic("later", 2, nil)
	for p := int32(0); p < 2; p++ {
		if d := describeReplica(t, adm, "later", p).current; d != big {
			t.Fatalf("later-%d placed in %q, want %s", p, d, big)
		}
	}
	// Moving into the offline directory is refused.
	if err := alterLogDir(t, adm, small, "four", inBig[0]); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("move into the offline dir: %v, want KAFKA_STORAGE_ERROR", err)
	}

	// With room again, a restart brings the directory back with every
	// acknowledged record.
	if out, err := exec.Command("mount", "-o", "remount,size=64m", small).CombinedOutput(); err != nil {
		t.Fatalf("grow tmpfs: %v: %s", err, out)
	}
	br.restart()
	if err := describeReplica(t, br.admin(), "four", 0).dirErrs[small]; err != nil {
		t.Fatalf("after restart the dir reports %v", err)
	}
	cl = br.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "four", Partition: inSmall[1], Value: []byte("back")}).FirstErr(); err != nil {
		t.Fatalf("produce to the dir after restart: %v", err)
	}
	if end := endOffsets(t, cl, "four")[inSmall[0]]; end < int64(acked) {
		t.Fatalf("partition %d ends at %d after restart; %d records were acknowledged", inSmall[0], end, acked)
	}
	cons := br.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"four": {inSmall[0]: kgo.NewOffset().AtStart()}}))
	var got []*kgo.Record
	for len(got) < acked && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consume after restart: %v", err) })
		got = append(got, fs.Records()...)
	}
	if len(got) < acked {
		t.Fatalf("read %d records after restart, %d acknowledged", len(got), acked)
	}
	for i, r := range got[:acked] {
		if r.Offset != int64(i) || len(r.Value) != len(value) {
			t.Fatalf("record %d after restart: offset %d, %d bytes", i, r.Offset, len(r.Value))
		}
	}
}

// fetchErrorCode sends one Fetch for offset 0 of a partition to broker 1
// and returns the partition's error code.
func fetchErrorCode(t testing.TB, cl *kgo.Client, topic string, partition int32) int16 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	// From v13 the topic goes by ID; kgo sends the newest version.
	ctx0, cancel0 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel0()
	details, err := kadm.NewClient(cl).ListTopics(ctx0, topic)
	if err != nil || details[topic].Err != nil {
		t.Fatalf("list topic %s: %v %v", topic, err, details[topic].Err)
	}
	rt.TopicID = details[topic].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.PartitionMaxBytes = partition, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl.Broker(1))
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.Partition == partition {
				return p.ErrorCode
			}
		}
	}
	t.Fatalf("fetch: no answer for %s-%d", topic, partition)
	return 0
}
