package log_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-io/sluice/internal/faultfs"
	"github.com/sluice-io/sluice/internal/log"
)

// tenBatchLog writes a log of ten one-record batches into one segment,
// closes it (fsynced, the recovery point at its end) and returns the
// segment's path and each batch's position.
func tenBatchLog(t *testing.T, dir string) (string, []int64) {
	t.Helper()
	cfg := faultConfig()
	cfg.SegmentBytes = 1 << 20
	l, err := log.Open(dir, cfg, log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pos []int64
	at := int64(0)
	for i := range 10 {
		v := fmt.Sprintf("value-%d", i)
		pos, at = append(pos, at), at+int64(len(batchOf(t, v)))
		if _, err := appendValue(l, t, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "00000000000000000000.log"), pos
}

// flipBaseOffsetBit flips bit in byte i (0 the most significant) of the
// base offset of the batch at pos. The base offset lies outside the
// batch's CRC32C.
func flipBaseOffsetBit(t *testing.T, path string, pos int64, i int, bit byte) {
	t.Helper()
	if err := faultfs.FlipBit(path, pos+int64(i), bit); err != nil {
		t.Fatal(err)
	}
}

// A bit flipped in a batch's base offset so that it points past the log
// end offset (outside the CRC32C's reach) is damage, not a batch appended
// since the read began: the read of it fails with a *CorruptionError at
// the offset asked for (OnCorruption hears of it, so a replica repairs
// it) instead of answering nothing, forever, to a consumer or follower at
// that offset. Reads before it stop short of it.
func TestBaseOffsetDamagedPastLogEndIsReportedByRead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		byte int // of the base offset, 0 the most significant
	}{
		{"by 2^20", 5},
		{"by 2^36", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "t-0")
			seg, pos := tenBatchLog(t, dir)
			var heard []int64
			l := openFS(t, log.OSFS{}, dir, log.Options{OnCorruption: func(e *log.CorruptionError) { heard = append(heard, e.Offset) }})
			defer l.Close()
			flipBaseOffsetBit(t, seg, pos[6], tc.byte, 0x10)

			var cerr *log.CorruptionError
			if b, err := l.Read(6, 1<<20, math.MaxInt64); !errors.As(err, &cerr) || cerr.Offset != 6 || !errors.Is(err, log.ErrCorruption) {
				t.Fatalf("read of the damaged batch: %d batches, %v; want a CorruptionError at offset 6", countBatches(b), err)
			}
			if len(heard) != 1 || heard[0] != 6 {
				t.Fatalf("OnCorruption heard %v, want [6]", heard)
			}
			b, err := l.Read(2, 1<<20, math.MaxInt64)
			if err != nil || countBatches(b) != 4 {
				t.Fatalf("read before the damaged batch: %d records, %v; want the 4 good ones", countBatches(b), err)
			}
			// A consumer's read, bounded by the high watermark, meets it
			// too.
			if _, err := l.Read(6, 1<<20, 8); !errors.As(err, &cerr) {
				t.Fatalf("read of the damaged batch below a limit: %v, want a CorruptionError", err)
			}
			// The batches after it are served.
			b, err = l.Read(7, 1<<20, math.MaxInt64)
			if err != nil || countBatches(b) != 3 {
				t.Fatalf("read after the damaged batch: %d records, %v; want 3", countBatches(b), err)
			}
		})
	}
}

// At Open a batch whose base offset was flipped to jump ahead is found by
// the batch after it, which starts in place after the batches before: the
// jumping batch is the bad one. Below the recovery point that is
// corruption (Open fails, or cuts there with RepairCorruption); the log
// end offset never follows the damaged offset, and the good batches after
// it are never cut as a torn tail. Open reads the active segment from its
// start only when the recovery point comes without a scan start (as one
// written before scan starts existed): here it is rewritten that way.
func TestBaseOffsetDamagedAheadIsCorruptionAtOpen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		byte int
	}{
		{"by 2^20", 5},
		{"by 2^36", 3},
		{"by 2^4", 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "t-0")
			seg, pos := tenBatchLog(t, dir)
			flipBaseOffsetBit(t, seg, pos[6], tc.byte, 0x10)
			if err := os.WriteFile(filepath.Join(dir, "recovery-point"), []byte("0\n10\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, "recovery-point-scan-start")); err != nil {
				t.Fatal(err)
			}
			if _, err := log.Open(dir, faultConfig(), log.Options{}); !errors.Is(err, log.ErrCorruption) {
				t.Fatalf("open: %v, want ErrCorruption", err)
			}
			l := openFS(t, log.OSFS{}, dir, log.Options{RepairCorruption: true})
			defer l.Close()
			if at, ok := l.CorruptionRepaired(); !ok || at != 6 || l.LogEndOffset() != 6 {
				t.Fatalf("repaired at %d (%v), log end %d; want both 6", at, ok, l.LogEndOffset())
			}
			if got := values(t, l); len(got) != 6 || got[5] != "value-5" {
				t.Fatalf("after the repair: %v", got)
			}
		})
	}
}

// With a scan start in the recovery point (as Close writes it), Open reads
// nothing before it: a base offset damaged there is found by the check of
// what Open did not read (VerifyUnchecked), reported to OnCorruption like
// any read of it (the owner then repairs it from another replica); the
// batches after it are still served.
func TestBaseOffsetDamagedBeforeTheScanStartIsFoundAfterOpen(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "t-0")
	seg, pos := tenBatchLog(t, dir)
	flipBaseOffsetBit(t, seg, pos[6], 5, 0x10)
	var heard []int64
	l := openFS(t, log.OSFS{}, dir, log.Options{OnCorruption: func(e *log.CorruptionError) { heard = append(heard, e.Offset) }})
	defer l.Close()
	if l.LogEndOffset() != 10 {
		t.Fatalf("log end %d after Open, want 10", l.LogEndOffset())
	}
	var cerr *log.CorruptionError
	if err := l.VerifyUnchecked(context.Background(), 0); !errors.As(err, &cerr) || cerr.Offset != 6 {
		t.Fatalf("VerifyUnchecked: %v, want a CorruptionError at offset 6", err)
	}
	if len(heard) != 1 || heard[0] != 6 {
		t.Fatalf("OnCorruption heard %v, want [6]", heard)
	}
	b, err := l.Read(7, 1<<20, math.MaxInt64)
	if err != nil || countBatches(b) != 3 {
		t.Fatalf("read after the damaged batch: %d batches, %v; want 3", countBatches(b), err)
	}
}
