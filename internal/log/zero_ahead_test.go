package log

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// zeroAheadConfig is testConfig with segments large enough for zeros
// ahead (they stop at segment.bytes).
func zeroAheadConfig() Config {
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	return cfg
}

// zeroAheadLog appends small batches to a log, each made durable alone
// (acks=all at moderate load), until it writes zeros ahead, and returns
// how many it appended.
func zeroAheadLog(t *testing.T, l *Log) int {
	t.Helper()
	for i := 1; i <= 50; i++ {
		info := mustAppend(t, l, newBatch(t, batchSpec{records: 2, valueSize: 500}), 0)
		if err := l.WaitDurable(context.Background(), info.LastOffset+1); err != nil {
			t.Fatal(err)
		}
		l.mu.Lock()
		ahead := l.active.zeroEnd - l.active.size.Load()
		l.mu.Unlock()
		if ahead > 0 {
			return i
		}
	}
	t.Fatal("no zeros written ahead after 50 small synced appends")
	return 0
}

// A log whose syncs are small writes zeros past its end; readers and the
// log's size never see them, and Close cuts them off: the file ends where
// the data does.
func TestZeroAheadIsCutAtClose(t *testing.T) {
	t.Parallel()
	for _, k := range fsKinds {
		t.Run(k.name, func(t *testing.T) {
			fsys, dir := k.new(t)
			l := openLog(t, fsys, dir, zeroAheadConfig())
			n := zeroAheadLog(t, l)
			path := lastSegmentPath(t, fsys, dir)
			size := l.active.size.Load()
			if got := fileSize(t, fsys, path); got < size+zeroAheadMinChunk {
				t.Fatalf("segment file is %d bytes, log %d: want at least %d of zeros past the end", got, size, zeroAheadMinChunk)
			}
			if l.Size() != size {
				t.Fatalf("log size %d, want %d (the data only)", l.Size(), size)
			}
			if got := len(readAll(t, l, 0, 1<<20)); got != n {
				t.Fatalf("read %d batches, want %d", got, n)
			}
			mustClose(t, l)
			if got := fileSize(t, fsys, path); got != size {
				t.Fatalf("segment file is %d bytes after Close, want %d", got, size)
			}
			r := openLog(t, fsys, dir, zeroAheadConfig())
			defer mustClose(t, r)
			if got := len(readAll(t, r, 0, 1<<20)); got != n {
				t.Fatalf("read %d batches after reopening, want %d", got, n)
			}
		})
	}
}

// A roll cuts the zeros off the segment it seals and makes the cut
// durable, so a crash never leaves zeros inside the log.
func TestZeroAheadIsCutAtRoll(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	dir := "/data/t-0"
	cfg := testConfig()
	cfg.SegmentBytes = 128 << 10
	l := openLog(t, mem, dir, cfg)
	zeroAheadLog(t, l)
	first := l.active
	for len(l.segs) < 3 {
		info := mustAppend(t, l, newBatch(t, batchSpec{records: 2, valueSize: 500}), 0)
		if err := l.WaitDurable(context.Background(), info.LastOffset+1); err != nil {
			t.Fatal(err)
		}
	}
	crashed := mem.CrashClone()
	for _, s := range l.segs[:len(l.segs)-1] {
		if got := fileSize(t, crashed, s.path); got != s.size.Load() {
			t.Fatalf("sealed segment %s is %d bytes on disk, its data %d", filepath.Base(s.path), got, s.size.Load())
		}
	}
	if first.zeroEnd != 0 {
		t.Fatalf("sealed segment still records zeros up to %d", first.zeroEnd)
	}
	end := l.LogEndOffset()
	l.Close()
	r := openLog(t, crashed, dir, cfg)
	defer mustClose(t, r)
	if r.LogEndOffset() != end {
		t.Fatalf("log end %d after a crash, want %d (everything was durable)", r.LogEndOffset(), end)
	}
}

// After a crash the zeros past the last batch are cut as the end of the
// log, without a warning: they are no damage.
func TestZeroAheadAfterACrashIsCutQuietly(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	dir := "/data/t-0"
	l := openLog(t, mem, dir, zeroAheadConfig())
	n := zeroAheadLog(t, l)
	end := l.LogEndOffset()
	crashed := mem.CrashClone()
	path := l.active.path
	if got, size := fileSize(t, crashed, path), l.active.size.Load(); got <= size {
		t.Fatalf("crashed segment is %d bytes, want zeros past its data (%d)", got, size)
	}
	l.Close()
	var logs logBuffer
	r := openLog(t, crashed, dir, zeroAheadConfig(), func(o *Options) { o.Logger = logs.logger() })
	defer mustClose(t, r)
	if r.LogEndOffset() != end {
		t.Fatalf("log end %d after a crash, want %d", r.LogEndOffset(), end)
	}
	if got := len(readAll(t, r, 0, 1<<20)); got != n {
		t.Fatalf("read %d batches after a crash, want %d", got, n)
	}
	out := logs.String()
	if strings.Contains(out, "level=WARN") || !strings.Contains(out, "cut the zeros written ahead of the log end") {
		t.Fatalf("want the zeros cut quietly; log output:\n%s", out)
	}
	// Appends continue right after the data.
	info := mustAppend(t, r, newBatch(t, batchSpec{}), 0)
	if info.BaseOffset != end {
		t.Fatalf("append after the crash at %d, want %d", info.BaseOffset, end)
	}
}

// A truncation of the active segment takes the zeros with it, and a log
// whose syncs are large (a throughput workload) writes none.
func TestZeroAheadTruncationAndLargeSyncs(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	l := openLog(t, mem, "/data/t-0", zeroAheadConfig())
	defer mustClose(t, l)
	zeroAheadLog(t, l)
	if err := l.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if got, size := fileSize(t, mem, l.active.path), l.active.size.Load(); got != size || l.active.zeroEnd != 0 {
		t.Fatalf("after a truncation the segment file is %d bytes, its data %d, zeros recorded to %d", got, size, l.active.zeroEnd)
	}
	if n := l.group.zeroBytes.Load(); n != 0 {
		t.Fatalf("group counts %d bytes of zeros after the truncation, want 0", n)
	}

	big := openLog(t, mem, "/data/t-1", zeroAheadConfig()) // no roll, whose background sync is small
	defer mustClose(t, big)
	for range 20 {
		var last int64
		for range 40 { // 40 x 4 KB per sync
			last = mustAppend(t, big, newBatch(t, batchSpec{records: 4, valueSize: 1000}), 0).LastOffset
		}
		if err := big.WaitDurable(context.Background(), last+1); err != nil {
			t.Fatal(err)
		}
	}
	if big.active.zeroEnd != 0 {
		t.Fatalf("a log of 160 KB syncs wrote zeros ahead to %d", big.active.zeroEnd)
	}
}
