package log

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

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
