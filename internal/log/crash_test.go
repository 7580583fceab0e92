package log

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
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
// part of it.
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
