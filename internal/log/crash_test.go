package log

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
)

// TestAcknowledgedBatchesSurviveACrash runs producers that append and wait
// for durability, crashes the filesystem at an arbitrary moment (keeping
// only fsynced bytes and directory entries), recovers, and checks that
// every batch acknowledged before the crash is there, byte for byte, at its
// offset. It repeats on the recovered log, so recovery's own writes are
// crashed too. Small segments make rolls (new files, directory fsyncs)
// part of it, and so are recovery-point checkpoints taken all along.
func TestAcknowledgedBatchesSurviveACrash(t *testing.T) {
	t.Parallel()
	const (
		rounds    = 8
		producers = 6
	)
	rng := rand.New(rand.NewPCG(1, 2))
	cfg := testConfig()
	cfg.SegmentBytes = 2048
	mem := newMemFS()
	dir := "/data/t-0"
	acked := map[int64][]byte{} // base offset -> batch, over all rounds
	for round := 0; round < rounds; round++ {
		// Alternate small segments (rolls, new files, directory fsyncs)
		// with large ones (acknowledged batches sit in the active segment).
		cfg.SegmentBytes = 2048
		if round%2 == 1 {
			cfg.SegmentBytes = 1 << 20
		}
		l := openLog(t, mem, dir, cfg)
		// Everything acknowledged in earlier rounds survived.
		checkAcked(t, l, acked)
		var (
			mu      sync.Mutex
			crashed bool
			newAcks = map[int64][]byte{}
			wg      sync.WaitGroup
		)
		crashAfter := 10 + rng.IntN(100)
		crashNow := make(chan struct{})
		// Recovery-point checkpoints (with their scan starts and producer
		// snapshots) run beside the producers, as the broker's do.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l.CheckpointRecoveryPoint(context.Background()) == nil {
				runtime.Gosched()
			}
		}()
		for p := 0; p < producers; p++ {
			wg.Add(1)
			go func(seed uint64) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, 7))
				for {
					b := newBatch(t, batchSpec{records: 1 + r.IntN(5), valueSize: 1 + r.IntN(300), ts: r.Int64N(1e6)})
					info, err := appendBatch(l, b, int32(round))
					if err != nil {
						return // closed
					}
					if err := l.WaitDurable(context.Background(), info.LastOffset+1); err != nil {
						return
					}
					mu.Lock()
					if crashed {
						mu.Unlock()
						return
					}
					newAcks[info.BaseOffset] = append([]byte(nil), b...)
					if len(newAcks) == crashAfter {
						close(crashNow)
					}
					mu.Unlock()
				}
			}(uint64(round*100 + p))
		}
		<-crashNow
		// Crash: take what is on "disk" while producers are still running,
		// and stop counting acknowledgements from this instant.
		mu.Lock()
		crashed = true
		next := mem.CrashClone()
		for off, b := range newAcks {
			acked[off] = b
		}
		mu.Unlock()
		l.Close()
		wg.Wait()
		mem = next
	}
	l := openLog(t, mem, dir, cfg)
	defer mustClose(t, l)
	checkAcked(t, l, acked)
	if len(acked) < rounds*10 {
		t.Fatalf("only %d batches acknowledged over %d rounds", len(acked), rounds)
	}
}

// checkAcked reads the whole log and checks that every acknowledged batch
// is there unchanged, and that the log reads as a valid sequence.
func checkAcked(t *testing.T, l *Log, acked map[int64][]byte) {
	t.Helper()
	byBase := map[int64][]byte{}
	for _, b := range readAll(t, l, l.LogStartOffset(), 1<<20) {
		h, _ := record.ParseHeader(b)
		byBase[h.BaseOffset] = b
	}
	for off, want := range acked {
		got, ok := byBase[off]
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("acknowledged batch at %d lost or changed (log end %d)", off, l.LogEndOffset())
		}
	}
	if _, err := l.Read(l.LogEndOffset(), 1, math.MaxInt64); err != nil {
		t.Fatal(err)
	}
}

// syncCounter counts fsyncs (of files and directories) by name.
type syncCounter struct {
	mu    sync.Mutex
	names []string
}

func (c *syncCounter) hook(name string) error {
	c.mu.Lock()
	c.names = append(c.names, name)
	c.mu.Unlock()
	return nil
}

func (c *syncCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.names
	c.names = nil
	return n
}

// A new partition's Open fsyncs nothing: an empty log has nothing to make
// durable. Its first fsync makes the directory, its name in the parent and
// the segment durable before anything is acknowledged, and a crash at any
// point recovers.
func TestCrashAfterCreationAndFirstAppend(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	batch := newBatch(t, batchSpec{records: 3})
	for _, crashAt := range []string{"created", "appended", "acknowledged"} {
		t.Run(crashAt, func(t *testing.T) {
			mem := newMemFS()
			var syncs syncCounter
			fsys := &hookFS{FS: mem, onSync: syncs.hook}
			dir := "/data/t-0"
			l := openLog(t, fsys, dir, cfg)
			// A new leader records its epoch: on an empty log that
			// costs no fsync either; the first fsync writes it.
			if err := l.AssignEpoch(0, 0); err != nil {
				t.Fatal(err)
			}
			if got := syncs.take(); len(got) != 0 {
				t.Fatalf("creating a log and assigning its first epoch fsynced %v", got)
			}
			// Nor does it create a segment file: the first append does.
			if _, err := mem.Stat(filepath.Join(dir, fileName(0, logSuffix))); !isNotExist(err) {
				t.Fatalf("a new log has a segment file before its first append (stat: %v)", err)
			}
			acked := map[int64][]byte{}
			if crashAt != "created" {
				b := append([]byte(nil), batch...)
				info := mustAppend(t, l, b, 0)
				if crashAt == "acknowledged" {
					if err := l.WaitDurable(context.Background(), info.LastOffset+1); err != nil {
						t.Fatal(err)
					}
					got := syncs.take()
					for _, want := range []string{"/data", dir, filepath.Join(dir, fileName(0, logSuffix)), filepath.Join(dir, epochCheckpoint+tmpSuffix)} {
						if !slices.Contains(got, want) {
							t.Fatalf("first fsync did %v, missing %s", got, want)
						}
					}
					acked[0] = b
				}
			}
			next := mem.CrashClone()
			l.Close()
			l = openLog(t, next, dir, cfg)
			checkAcked(t, l, acked)
			if crashAt == "acknowledged" && l.LogEndOffset() != 3 {
				t.Fatalf("log end offset %d after recovery, want 3", l.LogEndOffset())
			}
			// The epoch survives with the acknowledged records; before
			// any, there is nothing it must survive with.
			wantEpoch := int32(-1)
			if crashAt == "acknowledged" {
				wantEpoch = 0
			}
			if got := l.LatestEpoch(); got != wantEpoch {
				t.Fatalf("latest leader epoch %d after recovery, want %d", got, wantEpoch)
			}
			// The recovered log takes appends and survives another crash.
			b := append([]byte(nil), batch...)
			info := mustAppend(t, l, b, 1)
			if err := l.WaitDurable(context.Background(), info.LastOffset+1); err != nil {
				t.Fatal(err)
			}
			acked[info.BaseOffset] = b
			again := next.CrashClone()
			l.Close()
			l = openLog(t, again, dir, cfg)
			defer mustClose(t, l)
			checkAcked(t, l, acked)
		})
	}
}

// Restart after a crash: Open scans the tail past the recovery point but
// fsyncs nothing when nothing needed repair; until the log's first fsync
// the durable offset stays at the recovery point, and that fsync covers
// the scanned segments and moves the recovery point.
func TestOpenAfterCrashDefersFsyncsToTheFirstFsync(t *testing.T) {
	t.Parallel()
	cfg := testConfig() // 4 KiB segments: the crash leaves several past the recovery point
	mem := newMemFS()
	dir := "/data/t-0"
	l := openLog(t, mem, dir, cfg)
	acked := map[int64][]byte{}
	for i := 0; i < 40; i++ {
		b := newBatch(t, batchSpec{records: 2, valueSize: 200, ts: int64(i)})
		info := mustAppend(t, l, b, 0)
		acked[info.BaseOffset] = append([]byte(nil), b...)
	}
	if err := l.WaitDurable(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	leo := l.LogEndOffset()
	next := mem.CrashClone()
	l.Close()
	// Lose the recovery point, as when no roll was fsynced since the last
	// restart: every segment is past it.
	next.Remove(filepath.Join(dir, recoveryPointFile))

	var syncs syncCounter
	fsys := &hookFS{FS: next, onSync: syncs.hook}
	l = openLog(t, fsys, dir, cfg)
	if got := syncs.take(); len(got) != 0 {
		t.Fatalf("Open after a clean crash fsynced %v", got)
	}
	if l.LogEndOffset() != leo || l.DurableOffset() != 0 {
		t.Fatalf("log end %d, durable %d; want %d, 0", l.LogEndOffset(), l.DurableOffset(), leo)
	}
	checkAcked(t, l, acked)
	if err := l.WaitDurable(context.Background(), leo); err != nil {
		t.Fatal(err)
	}
	if got := syncs.take(); !slices.Contains(got, filepath.Join(dir, recoveryPointFile+tmpSuffix)) {
		t.Fatalf("the first fsync did not move the recovery point: %v", got)
	}
	again := next.CrashClone()
	l.Close()
	if rp, err := readOffsetCheckpoint(again, dir, recoveryPointFile); err != nil || rp != leo {
		t.Fatalf("recovery point after the first fsync: %d, %v; want %d", rp, err, leo)
	}
	l = openLog(t, again, dir, cfg)
	defer mustClose(t, l)
	checkAcked(t, l, acked)
}
