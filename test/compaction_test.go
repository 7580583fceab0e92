package test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Compaction (cleanup.policy=compact): the log cleaner keeps the latest
// record of each key, removes tombstones once delete.retention.ms has
// passed since they were first cleaned (KIP-534), keeps offsets, survives
// kill -9, and keeps __consumer_offsets small.

// cleanerSettings make the broker's cleaner look for work every 200 ms.
var cleanerSettings = map[string]string{"log.cleaner.backoff.ms": "200"}

// partitionLogBytes is the size of the batches in a partition's .log
// files, wherever the partition directory is under root: the zeros Sluice
// writes ahead of an active segment's appends do not count.
func partitionLogBytes(t testing.TB, root, partDir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // files come and go while the cleaner swaps
		}
		if !d.IsDir() && filepath.Base(filepath.Dir(path)) == partDir && strings.HasSuffix(path, ".log") {
			if size, err := logDataSize(path); err == nil {
				n += size
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readCompacted consumes partition 0 of topic from the start up to its
// high watermark and checks that offsets increase strictly.
func readCompacted(t testing.TB, addr, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxBytes(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	end := endOffsets(t, cl, topic)[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []*kgo.Record
	last := int64(-1)
	// Stop at the last offset, or when nothing more comes: the log may end
	// with batches the cleaner emptied.
	for idle := 0; last < end-1 && idle < 3; {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fetches := cl.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			t.Fatalf("read %d records up to offset %d of %d before the timeout", len(out), last, end)
		}
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s: %v", topic, err)
			}
		})
		recs := fetches.Records()
		if len(recs) == 0 {
			idle++
			continue
		}
		idle = 0
		for _, r := range recs {
			if r.Offset <= last {
				t.Fatalf("offset %d after %d", r.Offset, last)
			}
			last = r.Offset
			out = append(out, r)
		}
	}
	return out
}

// compactionWorkload describes a compaction run.
type compactionWorkload struct {
	codec   kgo.CompressionCodec
	name    string
	updates int // records over keys, key i%keys
	keys    int
	deletes int // tombstones for keys 0..deletes-1 at the end
}

func (w compactionWorkload) key(k int) string { return fmt.Sprintf("key-%05d", k) }

// expected is the latest value of every live key.
func (w compactionWorkload) expected() map[string]string {
	want := map[string]string{}
	for i := max(0, w.updates-w.keys); i < w.updates; i++ {
		want[w.key(i%w.keys)] = fmt.Sprintf("value-%07d", i)
	}
	for k := 0; k < w.deletes; k++ {
		delete(want, w.key(k))
	}
	return want
}

func runCompaction(t *testing.T, w compactionWorkload) {
	b := startBroker(t, cleanerSettings)
	topic := "compact-" + w.name
	// Written with cleanup.policy=delete, to measure the size before, then
	// switched to compact.
	b.createTopic(topic, 1, map[string]*string{
		"segment.bytes":             strp("1048576"),
		"segment.ms":                strp("1500"),
		"min.cleanable.dirty.ratio": strp("0.01"),
		"delete.retention.ms":       strp("4000"),
	})
	pad := strings.Repeat("x", 24)
	cl := b.client(kgo.ProducerBatchCompression(w.codec), kgo.ProducerLinger(2*time.Millisecond),
		kgo.ProducerBatchMaxBytes(256<<10), kgo.MaxBufferedRecords(50_000))
	ctx := testContext(t, 3*time.Minute)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	produce := func(r *kgo.Record) {
		wg.Add(1)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	for i := 0; i < w.updates; i++ {
		produce(&kgo.Record{Topic: topic, Key: []byte(w.key(i % w.keys)), Value: []byte(fmt.Sprintf("value-%07d%s", i, pad))})
	}
	wg.Wait()
	for k := 0; k < w.deletes; k++ {
		produce(&kgo.Record{Topic: topic, Key: []byte(w.key(k))}) // tombstone
	}
	wg.Wait()
	// Roll the tombstones out of the active segment, which is never
	// cleaned: a record after segment.ms starts a new one. Waiting out
	// segment.ms is the input here, not synchronization.
	time.Sleep(1600 * time.Millisecond)
	produce(&kgo.Record{Topic: topic, Key: []byte("~barrier"), Value: []byte("end")})
	wg.Wait()
	if failed != nil {
		t.Fatalf("produce: %v", failed)
	}
	before := partitionLogBytes(t, b.dataDir, topic+"-0")

	altered := time.Now()
	resp, err := b.admin().AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: strp("compact")}}, topic)
	if err != nil || resp[0].Err != nil {
		t.Fatalf("alter cleanup.policy: %v %v", err, resp)
	}

	want := w.expected()
	want["~barrier"] = "end"
	deadline := time.Now().Add(90 * time.Second)
	sawTombstonesKept := false
	for {
		started := time.Now()
		recs := readCompacted(t, b.addr, topic)
		got, dup, tombstones := map[string]string{}, 0, 0
		for _, r := range recs {
			k := string(r.Key)
			if _, ok := got[k]; ok {
				dup++
			}
			if r.Value == nil {
				tombstones++
				got[k] = "<tombstone>"
				continue
			}
			got[k] = strings.TrimSuffix(string(r.Value), pad)
		}
		if dup == 0 && tombstones > 0 && started.Before(altered.Add(4*time.Second)) {
			// Deduplicated, and delete.retention.ms cannot have passed
			// since the tombstones were first cleaned: they must be there.
			if tombstones != w.deletes {
				t.Fatalf("%d tombstones before delete.retention.ms, want %d", tombstones, w.deletes)
			}
			sawTombstonesKept = true
		}
		if dup == 0 && tombstones == 0 && len(got) == len(want) {
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("key %s: %q, want %q", k, got[k], v)
				}
			}
			after := partitionLogBytes(t, b.dataDir, topic+"-0")
			t.Logf("%s: %d updates over %d keys, %d deleted: %d bytes on disk before cleaning, %d after (%.1f%%), %d records left; tombstones seen kept before delete.retention.ms: %v",
				w.name, w.updates, w.keys, w.deletes, before, after, 100*float64(after)/float64(before), len(recs), sawTombstonesKept)
			if after >= before/5 {
				t.Fatalf("on-disk size %d, before cleaning %d", after, before)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not compacted after 90s: %d records, %d keys (want %d), %d duplicates, %d tombstones", len(recs), len(got), len(want), dup, tombstones)
		}
		// This loop waits on the compacted result, and on the way also
		// checks the tombstones kept before delete.retention.ms: every
		// read is a sample of the cleaner's progress.
		time.Sleep(300 * time.Millisecond)
	}
}

func TestCompactionKeepsLatestValuePerKey(t *testing.T) {
	t.Parallel()
	runCompaction(t, compactionWorkload{codec: kgo.NoCompression(), name: "none", updates: 1_000_000, keys: 10_000, deletes: 1_000})
}

func TestCompactionEveryCodec(t *testing.T) {
	t.Parallel()
	for _, w := range []compactionWorkload{
		{codec: kgo.GzipCompression(), name: "gzip"},
		{codec: kgo.SnappyCompression(), name: "snappy"},
		{codec: kgo.Lz4Compression(), name: "lz4"},
		{codec: kgo.ZstdCompression(), name: "zstd"},
	} {
		w.updates, w.keys, w.deletes = 100_000, 10_000, 1_000
		t.Run(w.name, func(t *testing.T) { runCompaction(t, w) })
	}
}

func TestCompactedTopicRefusesRecordsWithoutKey(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("compact-keys", 1, map[string]*string{"cleanup.policy": strp("compact,delete")})
	ctx := testContext(t, 30*time.Second)
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.ZstdCompression()} {
		cl := b.client(kgo.ProducerBatchCompression(codec), kgo.RecordRetries(0), kgo.DisableIdempotentWrite())
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "compact-keys", Value: []byte("no key")}).FirstErr()
		if !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("keyless record on a compacted topic: %v, want INVALID_RECORD", err)
		}
		// The broker keeps serving: keyed records go in.
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "compact-keys", Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("keyed record after a refused one: %v", err)
		}
	}
	// A plain topic takes keyless records.
	b.createTopic("plain-keys", 1, nil)
	if err := b.client().ProduceSync(ctx, &kgo.Record{Topic: "plain-keys", Value: []byte("no key")}).FirstErr(); err != nil {
		t.Fatalf("keyless record on a delete topic: %v", err)
	}
}

// TestCompactionSurvivesKill9 kills a broker process with SIGKILL at
// random moments while producers write and the cleaner cleans, restarts
// it, and checks that the log reads in order and that every key's latest
// acknowledged value (or a newer one) is there.
func TestCompactionSurvivesKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startProcess(t, dir, "127.0.0.1:0", "--config", "log.cleaner.backoff.ms=50")
	topic := "compact-kill"
	setup := newClient(t, p.addr)
	ctx := testContext(t, 3*time.Minute)
	resp, err := kadm.NewClient(setup).CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": strp("compact"), "segment.bytes": strp("65536"),
		"min.cleanable.dirty.ratio": strp("0.01"), "delete.retention.ms": strp("100000"),
	}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	setup.Close()

	const keys = 500
	type acked struct {
		offset int64
		value  string
	}
	latest := map[string]acked{}
	nAcked := 0
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(9, 9))
	seq := 0
	for round := 0; round < 4; round++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.RecordRetries(2), kgo.ProducerLinger(time.Millisecond),
			kgo.ProducerBatchCompression(kgo.NoCompression()), // ~90 bytes a record: a segment holds ~700
			// Batches well under segment.bytes: a batch is never split, so
			// one of franz-go's default 1 MB would make an active segment
			// of up to MaxBufferedRecords records, which the cleaner never
			// touches when nothing is produced after the last restart.
			kgo.ProducerBatchMaxBytes(16<<10),
			kgo.RecordDeliveryTimeout(5*time.Second), kgo.MaxBufferedRecords(5000))
		if err != nil {
			t.Fatal(err)
		}
		pctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pctx.Err() == nil {
				seq++
				k := fmt.Sprintf("k%04d", seq%keys)
				v := fmt.Sprintf("r%d-%08d-%s", round, seq, strings.Repeat("y", 50))
				cl.Produce(pctx, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v)}, func(r *kgo.Record, err error) {
					if err != nil {
						return
					}
					mu.Lock()
					nAcked++
					if a, ok := latest[k]; !ok || r.Offset > a.offset {
						latest[k] = acked{r.Offset, v}
					}
					mu.Unlock()
				})
			}
		}()
		// A random time under load, not a condition: the kill is to land
		// anywhere in the producing, rolling and cleaning.
		time.Sleep(time.Duration(1500+rng.IntN(1500)) * time.Millisecond)
		p.kill(syscall.SIGKILL)
		stop()
		wg.Wait()
		cl.Close()
		p.restart()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(latest) < keys {
		t.Fatalf("only %d keys acknowledged", len(latest))
	}
	check := func() (records int) {
		recs := readCompacted(t, p.addr, topic)
		got := map[string]*kgo.Record{}
		for _, r := range recs {
			got[string(r.Key)] = r
		}
		for k, a := range latest {
			r, ok := got[k]
			switch {
			case !ok:
				t.Fatalf("key %s lost (last acknowledged at %d)", k, a.offset)
			case r.Offset < a.offset:
				t.Fatalf("key %s: latest record at %d, but %d was acknowledged", k, r.Offset, a.offset)
			case r.Offset == a.offset && string(r.Value) != a.value:
				t.Fatalf("key %s at %d: %q, acknowledged %q", k, r.Offset, r.Value, a.value)
			}
		}
		return len(recs)
	}
	check()
	// The cleaner goes on compacting the recovered log: what is left is
	// the keys plus at most the uncleaned tail (the active segment, about
	// 64 KiB of ~90-byte records, and dirty segments below the cleanable
	// ratio, up to a few thousand records on a loaded machine).
	var n int
	defer func() {
		if !t.Failed() {
			return
		}
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && strings.Contains(path, topic) && !d.IsDir() {
				info, _ := d.Info()
				t.Logf("%s %d", filepath.Base(path), info.Size())
			}
			return nil
		})
		t.Logf("broker log:\n%s", p.logs())
	}()
	waitForErr(t, 60*time.Second, "the cleaner to compact the log after the restarts", func() error {
		if n = check(); n >= keys+5000 {
			return fmt.Errorf("%d records of %d produced", n, seq)
		}
		return nil
	})
	t.Logf("%d keys, %d records acknowledged over 4 kill -9s; %d records left, %d bytes on disk",
		len(latest), nAcked, n, partitionLogBytes(t, dir, topic+"-0"))
	if nAcked < 5*(keys+2000) {
		t.Fatalf("only %d records acknowledged", nAcked)
	}
}

// TestConsumerOffsetsStaysBounded commits offsets in a loop; the cleaner
// keeps __consumer_offsets small, and the committed offsets stay right,
// also after a restart.
func TestConsumerOffsetsStaysBoundedByCompaction(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{
		"log.cleaner.backoff.ms":       "200",
		"offsets.topic.num.partitions": "1",
		"offsets.topic.segment.bytes":  "65536",
	})
	b.createTopic("committed", 4, nil)
	ctx := testContext(t, 2*time.Minute)
	adm := b.admin()
	const groups, commits = 8, 2500
	var wg sync.WaitGroup
	errs := make(chan error, groups)
	for g := 0; g < groups; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 1; i <= commits; i++ {
				var offs kadm.Offsets
				offs.Add(kadm.Offset{Topic: "committed", Partition: int32(i % 4), At: int64(i)})
				r, err := adm.CommitOffsets(ctx, fmt.Sprintf("group-%d", g), offs)
				if err == nil {
					err = r.Error()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("commit: %v", err)
	}
	// 20,000 commits of ~100 bytes; the live state is 32 offsets.
	const bound = 256 << 10
	var size int64
	waitForErr(t, 30*time.Second, "the cleaner to compact __consumer_offsets-0", func() error {
		if size = partitionLogBytes(t, b.dataDir, "__consumer_offsets-0"); size > bound {
			return fmt.Errorf("%d bytes after %d commits, want at most %d", size, groups*commits, bound)
		}
		return nil
	})
	t.Logf("__consumer_offsets-0: %d bytes after %d commits", size, groups*commits)
	checkCommitted := func() {
		for g := 0; g < groups; g++ {
			got, err := b.admin().FetchOffsets(ctx, fmt.Sprintf("group-%d", g))
			if err != nil {
				t.Fatal(err)
			}
			for p := int32(0); p < 4; p++ {
				// The last commit for partition p is the largest i <= commits with i%4 == p.
				want := int64(commits - (commits-int(p))%4)
				if o, ok := got.Lookup("committed", p); !ok || o.At != want {
					t.Fatalf("group-%d partition %d: committed %+v, want %d", g, p, o, want)
				}
			}
		}
	}
	checkCommitted()
	b.restart()
	checkCommitted()
}
