package log

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

func benchConfig() Config {
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 30
	cfg.IndexIntervalBytes = 4096
	return cfg
}

// benchBatch is a batch of n records filling about size bytes.
func benchBatch(b *testing.B, size int) ([]byte, record.Header) {
	const records = 8
	batch := newBatch(b, batchSpec{records: records, valueSize: (size - record.HeaderSize) / records})
	h, err := record.Validate(batch)
	if err != nil {
		b.Fatal(err)
	}
	return batch, h
}

func BenchmarkAppend(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int
	}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			l := openLog(b, OSFS{}, filepath.Join(b.TempDir(), "t-0"), benchConfig())
			defer l.Close()
			batch, h := benchBatch(b, size.bytes)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(batch, h, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead reads from random offsets of a 32 MiB log: one batch (a
// consumer far behind with a small fetch) and 1 MiB fetches.
func BenchmarkRead(b *testing.B) {
	l := openLog(b, OSFS{}, filepath.Join(b.TempDir(), "t-0"), benchConfig())
	defer l.Close()
	batch, h := benchBatch(b, 1<<10)
	for l.Size() < 32<<20 {
		if _, err := l.Append(batch, h, 0); err != nil {
			b.Fatal(err)
		}
	}
	end := l.LogEndOffset()
	for _, maxBytes := range []struct {
		name  string
		bytes int
	}{{"one-batch", 1}, {"1MiB", 1 << 20}} {
		b.Run(maxBytes.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				got, err := l.Read(rng.Int64N(end), maxBytes.bytes, math.MaxInt64)
				if err != nil || len(got) == 0 {
					b.Fatal(err)
				}
				n += int64(len(got))
			}
			b.ReportMetric(float64(n)/float64(b.N), "bytes/read")
		})
	}
}

// BenchmarkWaitDurableParallel appends 1 KiB batches from many goroutines,
// each waiting for its batch to be fsynced; group commit shares the
// fsyncs, reported as fsyncs/op.
func BenchmarkWaitDurableParallel(b *testing.B) {
	var syncs atomic.Int64
	fsys := &hookFS{FS: OSFS{}, onSync: func(name string) error {
		if strings.HasSuffix(name, logSuffix) {
			syncs.Add(1)
		}
		return nil
	}}
	l := openLog(b, fsys, filepath.Join(b.TempDir(), "t-0"), benchConfig())
	defer l.Close()
	template, _ := benchBatch(b, 1<<10)
	syncs.Store(0)
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		batch := append([]byte(nil), template...)
		h, _ := record.ParseHeader(batch)
		for pb.Next() {
			info, err := l.Append(batch, h, 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := l.WaitDurable(context.Background(), info.LastOffset+1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(syncs.Load())/float64(b.N), "fsyncs/op")
}

// benchOpenLogs is how many logs BenchmarkOpenManyLogs opens per
// iteration: enough for per-log costs (fsyncs, files, heap) to dominate.
const benchOpenLogs = 2000

// BenchmarkOpenManyLogs opens benchOpenLogs partition logs in one directory,
// as a broker hosting many partitions does at topic creation and restart:
// new ones, ones cleanly closed with a few KiB each, and ones left by a
// crash (no clean-close recovery point or producer snapshot, indexes
// empty) after a few KiB were written and fsynced. It reports the time,
// the open file descriptors and the heap per log, kept open.
func BenchmarkOpenManyLogs(b *testing.B) {
	cfg := benchConfig()
	batch, h := benchBatch(b, 1<<10)
	// prepare writes benchOpenLogs logs of a few KiB under root.
	prepare := func(b *testing.B, root string, crash bool) {
		for i := range benchOpenLogs {
			dir := filepath.Join(root, fmt.Sprintf("t-%d", i))
			l := openLog(b, OSFS{}, dir, cfg)
			for range 4 {
				bb := append([]byte(nil), batch...)
				if _, err := l.Append(bb, h, 0); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.WaitDurable(context.Background(), l.LogEndOffset()); err != nil {
				b.Fatal(err)
			}
			mustClose(b, l)
			if crash {
				// What kill -9 before Close leaves: no recovery point or
				// snapshot from Close, the active segment's indexes empty.
				entries, _ := os.ReadDir(dir)
				for _, e := range entries {
					switch _, suffix, _ := parseFileName(e.Name()); {
					case e.Name() == recoveryPointFile, e.Name() == scanStartFile, suffix == snapshotSuffix:
						os.Remove(filepath.Join(dir, e.Name()))
					case suffix == indexSuffix, suffix == timeIndexSuffix:
						os.Truncate(filepath.Join(dir, e.Name()), 0)
					}
				}
			}
		}
	}
	for _, run := range []struct {
		kind  string
		limit int // of the FileCache shared by the logs; 0 for none
	}{
		{"new", 0}, {"existing-clean", 0}, {"existing-crash", 0},
		{"new", 200}, {"existing-crash", 200},
	} {
		kind := run.kind
		name := kind
		if run.limit > 0 {
			name = fmt.Sprintf("%s/files-%d", kind, run.limit)
		}
		b.Run(name, func(b *testing.B) {
			var files *FileCache
			if run.limit > 0 {
				files = NewFileCache(run.limit)
			}
			b.ReportAllocs()
			var elapsed time.Duration
			var fds, heap int64
			for b.Loop() {
				b.StopTimer()
				root := b.TempDir()
				if kind != "new" {
					prepare(b, root, kind == "existing-crash")
				}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				fdsBefore := openFDs(b)
				logs := make([]*Log, benchOpenLogs)
				b.StartTimer()
				began := time.Now()
				for i := range logs {
					logs[i] = openLog(b, OSFS{}, filepath.Join(root, fmt.Sprintf("t-%d", i)), cfg,
						func(o *Options) { o.Files = files })
				}
				elapsed += time.Since(began)
				b.StopTimer()
				fds += int64(openFDs(b) - fdsBefore)
				runtime.GC()
				runtime.ReadMemStats(&after)
				heap += int64(after.HeapInuse) - int64(before.HeapInuse)
				for _, l := range logs {
					l.Close()
				}
				b.StartTimer()
			}
			n := float64(b.N * benchOpenLogs)
			b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/log")
			b.ReportMetric(float64(fds)/n, "fds/log")
			b.ReportMetric(float64(heap)/n, "heap-B/log")
		})
	}
}

// openFDs counts the process's open file descriptors.
func openFDs(b *testing.B) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		b.Skipf("no /proc/self/fd: %v", err)
	}
	return len(entries)
}
