package log_test

// Disk faults below a log, injected through package faultfs: the log goes
// offline at the first failed write or fsync and acknowledges nothing more,
// and a reopen on a healthy disk keeps everything fsynced before.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/faultfs"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
)

func faultConfig() log.Config {
	return log.Config{
		SegmentBytes: 4096, SegmentMs: 7 * 24 * 3600 * 1000, IndexIntervalBytes: 256,
		SegmentIndexBytes: 10 << 20, RetentionMs: -1, RetentionBytes: -1,
		FlushMessages: math.MaxInt64, FlushMs: math.MaxInt64, FileDeleteDelayMs: 60000,
	}
}

func batchOf(t testing.TB, value string) []byte {
	t.Helper()
	b, err := record.Build(record.BuildOptions{BaseTimestamp: 1}, []record.Record{{Value: []byte(value)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appendValue(l *log.Log, t testing.TB, value string) (log.AppendInfo, error) {
	b := batchOf(t, value)
	h, err := record.Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	return l.Append(b, h, 0)
}

func openFS(t testing.TB, fsys log.FS, dir string, opts log.Options) *log.Log {
	t.Helper()
	opts.FS = fsys
	l, err := log.Open(dir, faultConfig(), opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return l
}

// values reads every record value of the log from its start.
func values(t testing.TB, l *log.Log) []string {
	t.Helper()
	var out []string
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		b, err := l.Read(off, 1<<20, math.MaxInt64)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(b) == 0 {
			break
		}
		err = record.Batches(b, false, func(h record.Header, batch []byte) error {
			return record.CheckRecords(h, batch[record.HeaderSize:], func(r record.Record) error {
				out = append(out, string(r.Value))
				return nil
			})
		})
		if err != nil {
			t.Fatalf("batches at %d: %v", off, err)
		}
		off += int64(countBatches(b))
	}
	return out
}

func countBatches(b []byte) int {
	n := 0
	record.Batches(b, false, func(h record.Header, _ []byte) error {
		n += int(h.LastOffsetDelta) + 1
		return nil
	})
	return n
}

// A failed write, fsync or a full disk takes the log offline: the append
// or WaitDurable that met it fails with ErrOffline and so does everything
// after; reopened on a healthy disk, the log holds exactly what was
// acknowledged (WaitDurable returned) before, and takes appends again.
func TestDiskFaultTakesLogOfflineAndKeepsAcknowledged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rule faultfs.Rule
		// onWait: the fault surfaces at WaitDurable rather than Append.
		onWait bool
	}{
		{"write EIO", faultfs.Rule{Ops: faultfs.OpWrite, Path: ".log", Err: syscall.EIO}, false},
		{"full disk", faultfs.Rule{Ops: faultfs.OpWrite, Path: ".log", Err: syscall.ENOSPC}, false},
		{"short write", faultfs.Rule{Ops: faultfs.OpWrite, Path: ".log", Short: true, Err: syscall.ENOSPC}, false},
		{"fsync EIO", faultfs.Rule{Ops: faultfs.OpSync, Err: syscall.EIO}, true},
		{"directory fsync EIO", faultfs.Rule{Ops: faultfs.OpSyncDir, Err: syscall.EIO}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "t-0")
			in := faultfs.NewInjector(nil)
			offlineCalls := 0
			l := openFS(t, in, dir, log.Options{OnOffline: func(error) { offlineCalls++ }})
			ctx := context.Background()
			var acked []string
			for i := range 40 { // several segments
				v := fmt.Sprintf("acked-%03d", i)
				info, err := appendValue(l, t, v)
				if err != nil {
					t.Fatal(err)
				}
				if err := l.WaitDurable(ctx, info.LastOffset+1); err != nil {
					t.Fatal(err)
				}
				acked = append(acked, v)
			}
			in.Inject(tc.rule)
			info, err := appendValue(l, t, "doomed")
			if tc.onWait {
				if err != nil {
					t.Fatalf("append before the failing fsync: %v", err)
				}
				// A directory fsync happens only with new entries: roll.
				for tc.rule.Ops == faultfs.OpSyncDir && err == nil && info.BaseOffset < 60 {
					info, err = appendValue(l, t, "doomed")
				}
				err = l.WaitDurable(ctx, info.LastOffset+1)
			}
			if !errors.Is(err, log.ErrOffline) {
				t.Fatalf("the faulted operation returned %v, want ErrOffline", err)
			}
			if _, err := appendValue(l, t, "after"); !errors.Is(err, log.ErrOffline) {
				t.Fatalf("append after the fault: %v, want ErrOffline", err)
			}
			if err := l.WaitDurable(ctx, l.LogEndOffset()); !errors.Is(err, log.ErrOffline) {
				t.Fatalf("WaitDurable after the fault: %v, want ErrOffline", err)
			}
			if _, err := l.Read(0, 1<<20, math.MaxInt64); !errors.Is(err, log.ErrOffline) {
				t.Fatalf("read after the fault: %v, want ErrOffline", err)
			}
			if offlineCalls != 1 {
				t.Fatalf("OnOffline called %d times, want 1", offlineCalls)
			}
			l.Close()

			// The disk is healthy again (a restart after the operator's fix).
			in.SetRules(nil)
			r := openFS(t, in, dir, log.Options{})
			defer r.Close()
			got := values(t, r)
			if len(got) < len(acked) {
				t.Fatalf("after reopening: %d records, want at least the %d acknowledged", len(got), len(acked))
			}
			for i, v := range acked {
				if got[i] != v {
					t.Fatalf("record %d is %q, want %q", i, got[i], v)
				}
			}
			for _, v := range got[len(acked):] {
				if v != "doomed" {
					t.Fatalf("unexpected record %q after the acknowledged ones", v)
				}
			}
			info, err = appendValue(r, t, "later")
			if err != nil || r.WaitDurable(ctx, info.LastOffset+1) != nil {
				t.Fatalf("append after reopening: %v", err)
			}
		})
	}
}

// A power cut below a directory of logs that share their fsyncs (a
// SyncGroup, whose syncs of several logs are one syncfs): after the cut,
// every batch WaitDurable covered is there byte for byte, in every log;
// what was not covered may be gone, never half there.
func TestPowerLossKeepsWhatWaitDurableCovered(t *testing.T) {
	t.Parallel()
	const logs = 4
	mem := faultfs.NewMem()
	if err := mem.MkdirAll("/data", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mem.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	acked := make([][]string, logs)
	for round := range 4 {
		group := log.NewSyncGroup("/data")
		var ls [logs]*log.Log
		for i := range ls {
			ls[i] = openFS(t, mem, fmt.Sprintf("/data/t-%d", i), log.Options{Group: group})
			got := values(t, ls[i])
			if len(got) < len(acked[i]) {
				t.Fatalf("round %d, log %d: %d records after the cut, %d were acknowledged", round, i, len(got), len(acked[i]))
			}
			for j, v := range acked[i] {
				if got[j] != v {
					t.Fatalf("round %d, log %d: record %d is %q, want %q", round, i, j, got[j], v)
				}
			}
			// Records synced whose waiters had not returned when the
			// power went are there too, unacknowledged: they stay, and
			// this round's records follow them.
			acked[i] = got
		}
		before := 0
		for i := range acked {
			before += len(acked[i])
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for i := range ls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					v := fmt.Sprintf("r%d-l%d-%05d", round, i, n)
					info, err := appendValue(ls[i], t, v)
					if err != nil {
						return // the power is off
					}
					if ls[i].WaitDurable(context.Background(), info.LastOffset+1) != nil {
						return
					}
					mu.Lock()
					acked[i] = append(acked[i], v)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(20+rng.IntN(80)) * time.Millisecond) // a random moment to cut
		mem = mem.Crash()
		close(stop)
		wg.Wait()
		for _, l := range ls {
			l.Close() // fails: the power is off
		}
		after := 0
		for i := range acked {
			after += len(acked[i])
		}
		if after == before {
			t.Fatalf("round %d: nothing was acknowledged before the cut", round)
		}
	}
	c := mem.Crash()
	for i := range logs {
		l := openFS(t, c, fmt.Sprintf("/data/t-%d", i), log.Options{})
		if got := values(t, l); len(got) < len(acked[i]) {
			t.Fatalf("log %d: %d records after the last cut, %d acknowledged", i, len(got), len(acked[i]))
		}
		l.Close()
	}
}

// A compaction's swap fsyncs the directory three times (to commit, after
// deleting the replaced segments, after the final renames). None of them
// holds the partition's writer or sync locks: appends and acknowledgements
// go on while the disk takes its time over them. Here every directory
// fsync takes 300 ms and a producer appends and waits for durability
// throughout the swap; no round trip may wait for one.
func TestCleanerSwapDoesNotStallAppendsOnSlowDirectoryFsync(t *testing.T) {
	t.Parallel()
	in := faultfs.NewInjector(nil)
	cfg := faultConfig()
	cfg.CleanupPolicy = log.PolicyCompact
	cfg.SegmentBytes = 1024
	dir := filepath.Join(t.TempDir(), "compacted-0")
	l, err := log.Open(dir, cfg, log.Options{FS: in})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for i := range 200 { // many segments, few keys: much to clean
		b, err := record.Build(record.BuildOptions{BaseTimestamp: 1},
			[]record.Record{{Key: fmt.Appendf(nil, "k%d", i%5), Value: fmt.Appendf(nil, "value-%04d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := record.Validate(b)
		if _, err := l.Append(b, h, 0); err != nil {
			t.Fatal(err)
		}
	}
	cfg.SegmentBytes = 1 << 30 // no roll (and no new directory entry) from here on
	l.SetConfig(cfg)
	if err := l.WaitDurable(ctx, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	const slow = 300 * time.Millisecond
	in.Inject(faultfs.Rule{Ops: faultfs.OpSyncDir, Delay: slow})

	done := make(chan error, 1)
	began := time.Now()
	go func() {
		st, err := l.Clean(log.CleanOptions{UpperBound: l.LogEndOffset(), Force: true})
		if err == nil && !st.Cleaned {
			err = errors.New("nothing was cleaned")
		}
		done <- err
	}()
	var worst time.Duration
	appends := 0
	for cleaning := true; cleaning; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("clean: %v", err)
			}
			cleaning = false
		default:
		}
		start := time.Now()
		info, err := appendValue(l, t, "during")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.WaitDurable(ctx, info.LastOffset+1); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, time.Since(start))
		appends++
	}
	if took := time.Since(began); took < 3*slow {
		t.Fatalf("the clean took %v: its directory fsyncs were not slowed", took)
	}
	t.Logf("%d appends acknowledged during the clean; the slowest took %v (a directory fsync takes %v)", appends, worst.Round(time.Millisecond), slow)
	if worst >= slow {
		t.Fatalf("an append and its fsync waited %v, behind a directory fsync of the swap", worst)
	}
}

// flipByte flips one bit of the file at path, at pos, on the real disk.
func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	if err := faultfs.FlipBit(path, pos, 0x10); err != nil {
		t.Fatal(err)
	}
}

// A bit flipped inside a fsynced batch is caught by its CRC32C: a read
// that would return the batch fails with a *CorruptionError naming its
// offset (OnCorruption hears of it), a read before it stops short of it,
// and Open fails with ErrCorruption, unless RepairCorruption asks it to
// cut the log there (for a replica that fetches the rest again).
func TestCorruptBatchIsNeverServed(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "t-0")
	l := openFS(t, log.OSFS{}, dir, log.Options{})
	var batchPos []int64
	pos := int64(0)
	for i := range 10 {
		b := batchOf(t, fmt.Sprintf("value-%d", i))
		batchPos = append(batchPos, pos)
		pos += int64(len(b))
		h, _ := record.Validate(b)
		if _, err := l.Append(b, h, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil { // fsynced, recovery point at the end
		t.Fatal(err)
	}
	var heard []int64
	onCorruption := func(e *log.CorruptionError) { heard = append(heard, e.Offset) }
	l = openFS(t, log.OSFS{}, dir, log.Options{OnCorruption: onCorruption})
	seg := filepath.Join(dir, "00000000000000000000.log")
	flipByte(t, seg, batchPos[6]+record.HeaderSize+2) // inside batch 6's records

	var cerr *log.CorruptionError
	if _, err := l.Read(6, 1<<20, math.MaxInt64); !errors.As(err, &cerr) || cerr.Offset != 6 || !errors.Is(err, log.ErrCorruption) {
		t.Fatalf("read of the corrupt batch: %v, want a CorruptionError at offset 6", err)
	}
	b, err := l.Read(3, 1<<20, math.MaxInt64)
	if err != nil || countBatches(b) != 3 {
		t.Fatalf("read before the corrupt batch: %d batches, %v; want the 3 good ones", countBatches(b), err)
	}
	if len(heard) != 1 || heard[0] != 6 {
		t.Fatalf("OnCorruption heard %v, want [6]", heard)
	}
	l.Close()

	// The segment is the active one: Open reads it header-only below the
	// recovery point, and VerifyUnchecked (run after Open) catches it.
	heard = nil
	r := openFS(t, log.OSFS{}, dir, log.Options{OnCorruption: onCorruption})
	if err := r.VerifyUnchecked(context.Background(), 0); !errors.As(err, &cerr) || cerr.Offset != 6 || len(heard) != 1 {
		t.Fatalf("VerifyUnchecked: %v (heard %v), want a CorruptionError at 6", err, heard)
	}
	r.Close()

	// Once it is an older segment whose index must be rebuilt, Open meets
	// it: ErrCorruption, or a cut there with RepairCorruption.
	r = openFS(t, log.OSFS{}, dir, log.Options{})
	for i := range 3 {
		cfg := faultConfig()
		cfg.SegmentBytes = 1 // every batch rolls
		r.SetConfig(cfg)
		b := batchOf(t, fmt.Sprintf("later-%d", i))
		h, _ := record.Validate(b)
		if _, err := r.Append(b, h, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "00000000000000000000.index"))
	if _, err := log.Open(dir, faultConfig(), log.Options{}); !errors.Is(err, log.ErrCorruption) {
		t.Fatalf("open with a corrupt batch below the recovery point: %v, want ErrCorruption", err)
	}
	r = openFS(t, log.OSFS{}, dir, log.Options{RepairCorruption: true})
	defer r.Close()
	if at, ok := r.CorruptionRepaired(); !ok || at != 6 || r.LogEndOffset() != 6 {
		t.Fatalf("repaired at %d (%v), log end %d; want both 6", at, ok, r.LogEndOffset())
	}
	if got := values(t, r); len(got) != 6 || got[5] != "value-5" {
		t.Fatalf("after the repair: %v", got)
	}
}

// A recovery point checkpointed inside the active segment (the data below
// it fsynced) spares a restart the CRC check of those batches: a bit
// flipped below it is not looked at by Open (the read of that batch
// catches it), one flipped above it is cut as a torn tail.
func TestRecoveryPointInsideActiveSegmentSkipsItsCRCs(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "t-0")
	cfg := faultConfig()
	cfg.SegmentBytes = 1 << 30
	l, err := log.Open(dir, cfg, log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var pos []int64
	at := int64(0)
	for i := range 20 {
		b := batchOf(t, fmt.Sprintf("value-%02d", i))
		pos = append(pos, at)
		at += int64(len(b))
		h, _ := record.Validate(b)
		if _, err := l.Append(b, h, 0); err != nil {
			t.Fatal(err)
		}
		if i == 9 {
			if err := l.WaitDurable(ctx, 10); err != nil {
				t.Fatal(err)
			}
			if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A crash: no Close (which would checkpoint the end).
	seg := filepath.Join(dir, "00000000000000000000.log")
	flipByte(t, seg, pos[4]+record.HeaderSize+2)  // below the recovery point (10)
	flipByte(t, seg, pos[15]+record.HeaderSize+2) // above it: a torn tail
	r, err := log.Open(dir, cfg, log.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer r.Close()
	if r.LogEndOffset() != 15 {
		t.Fatalf("log end %d after recovery, want 15 (cut at the bad batch past the recovery point)", r.LogEndOffset())
	}
	var cerr *log.CorruptionError
	if _, err := r.Read(4, 1<<20, math.MaxInt64); !errors.As(err, &cerr) || cerr.Offset != 4 {
		t.Fatalf("read of the damaged batch below the recovery point: %v, want a CorruptionError at 4", err)
	}
	b, err := r.Read(10, 1<<20, math.MaxInt64)
	if err != nil || countBatches(b) != 5 {
		t.Fatalf("read from the recovery point: %d batches, %v", countBatches(b), err)
	}
}
