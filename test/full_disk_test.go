package test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// mountSmallDisk mounts a tmpfs of the given size for the test, so a real
// filesystem fills up. It needs root, which CI has.
func mountSmallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// A full disk: producers get KAFKA_STORAGE_ERROR, the broker keeps
// answering, and every record acknowledged before the disk filled is read
// back after a restart on a disk with room again.
func TestFullDiskRefusesWritesAndKeepsAcknowledged(t *testing.T) {
	t.Parallel()
	disk := mountSmallDisk(t, "24m")
	dataDir := filepath.Join(disk, "data")
	p := startProcess(t, dataDir, "127.0.0.1:0")
	setup := newClient(t, p.addr)
	createTopicWith(t, setup, "fill", 1)

	cl := newClient(t, p.addr, kgo.RecordRetries(0), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordDeliveryTimeout(10*time.Second), kgo.ProducerLinger(0))
	ctx := testContext(t, 2*time.Minute)
	value := make([]byte, 64<<10)
	var acked []int64
	var lastErr error
	for i := 0; i < 2000 && lastErr == nil; i++ {
		r := &kgo.Record{Topic: "fill", Value: value}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			lastErr = err
			break
		}
		acked = append(acked, r.Offset)
	}
	if lastErr == nil {
		t.Fatal("the disk never filled")
	}
	if !errors.Is(lastErr, kerr.KafkaStorageError) {
		t.Fatalf("producing to a full disk: %v, want KAFKA_STORAGE_ERROR", lastErr)
	}
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged before the disk filled")
	}
	// The broker still answers other requests.
	if _, err := endOffsetsErr(setup, "fill"); err != nil {
		t.Fatalf("metadata after the disk filled: %v", err)
	}

	// Make room (a bigger disk with the same files) and restart.
	p.kill(9)
	bigger := t.TempDir()
	if out, err := exec.Command("cp", "-a", dataDir, bigger).CombinedOutput(); err != nil {
		t.Fatalf("copy data: %v: %s", err, out)
	}
	q := startProcess(t, filepath.Join(bigger, "data"), "127.0.0.1:0")
	got := consumeAll(t, q.addr, "fill", len(acked))
	for i, r := range got[:len(acked)] {
		if r.Offset != acked[i] || len(r.Value) != len(value) {
			t.Fatalf("record %d: offset %d size %d, want offset %d size %d", i, r.Offset, len(r.Value), acked[i], len(value))
		}
	}
	t.Logf("%d records of 64 KiB acknowledged before the disk filled; all read back", len(acked))
}

// endOffsetsErr lists a topic's end offsets, returning the first error.
func endOffsetsErr(cl *kgo.Client, topic string) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	var firstErr error
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && firstErr == nil {
			firstErr = o.Err
		}
		out[o.Partition] = o.Offset
	})
	return out, firstErr
}

// With several log directories (log.dirs), partitions are spread over
// them; when one directory's disk is full, its partitions answer
// KAFKA_STORAGE_ERROR while partitions in the other directory keep serving.
func TestFullLogDirLeavesOtherDirsServing(t *testing.T) {
	t.Parallel()
	small := mountSmallDisk(t, "4m")
	big := t.TempDir()
	b := startBroker(t, map[string]string{"log.dirs": small + "," + big})
	b.createTopic("spread", 2, nil)

	// One partition in each directory.
	ctx := testContext(t, time.Minute)
	all, err := b.admin().DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	where := map[int32]string{}
	for dir, d := range all[1] {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) { where[p.Partition] = dir })
	}
	if len(all[1]) != 2 || len(where) != 2 || where[0] == where[1] {
		t.Fatalf("log dirs %d, partitions placed %v; want one partition in each of two dirs", len(all[1]), where)
	}
	full := int32(0)
	if where[1] == small {
		full = 1
	}

	cl := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordDeliveryTimeout(10*time.Second))
	value := make([]byte, 64<<10)
	var fillErr error
	acked := 0
	for i := 0; i < 200 && fillErr == nil; i++ {
		if fillErr = cl.ProduceSync(ctx, &kgo.Record{Topic: "spread", Partition: full, Value: value}).FirstErr(); fillErr == nil {
			acked++
		}
	}
	if !errors.Is(fillErr, kerr.KafkaStorageError) {
		t.Fatalf("filling %s: %v after %d records, want KAFKA_STORAGE_ERROR", small, fillErr, acked)
	}
	// The other directory's partition keeps taking writes.
	for i := 0; i < 50; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "spread", Partition: 1 - full, Value: value}).FirstErr(); err != nil {
			t.Fatalf("partition in the healthy directory: %v", err)
		}
	}
	offs, err := endOffsetsErr(b.client(), "spread")
	if err != nil {
		t.Fatal(err)
	}
	if offs[full] != int64(acked) || offs[1-full] != 50 {
		t.Fatalf("end offsets %v, want %d on the full dir's partition and 50 on the other", offs, acked)
	}
}
