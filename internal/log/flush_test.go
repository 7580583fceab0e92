package log

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGroupCommitSharesOneFsync holds the first fsync while many producers
// append and wait: their appends must not block on the fsync, and at most
// two more fsyncs must acknowledge all of them (pebble's
// LogWriter.SyncRecord is the model).
func TestGroupCommitSharesOneFsync(t *testing.T) {
	t.Parallel()
	const producers = 64
	var logSyncs atomic.Int64
	started := make(chan struct{})
	release := make(chan struct{})
	fsys := &hookFS{FS: newMemFS(), onSync: func(name string) error {
		if strings.HasSuffix(name, logSuffix) {
			if logSyncs.Add(1) == 1 {
				close(started)
				<-release
			}
		}
		return nil
	}}
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 30
	l := openLog(t, fsys, "/data/t-0", cfg)
	defer mustClose(t, l)
	logSyncs.Store(0)

	errs := make(chan error, producers)
	var appended sync.WaitGroup
	produceAndWait := func() {
		info, err := appendBatch(l, newBatch(t, batchSpec{records: 2}), 0)
		appended.Done()
		if err == nil {
			err = l.WaitDurable(context.Background(), info.LastOffset+1)
		}
		errs <- err
	}
	appended.Add(1)
	go produceAndWait() // becomes the syncer and blocks in fsync
	<-started
	appended.Add(producers - 1)
	for i := 1; i < producers; i++ {
		go produceAndWait()
	}
	appended.Wait() // every append finished while the fsync was held
	close(release)
	for i := 0; i < producers; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("producer: %v", err)
		}
	}
	// The held one, and at most two more: a second round starts beside
	// the held one as soon as a waiter comes (maxSyncRounds), possibly
	// before every append is in, and a third covers the rest.
	if got := logSyncs.Load(); got < 2 || got > 3 {
		t.Fatalf("%d fsyncs of the segment for %d producers, want 2 or 3", got, producers)
	}
	if d := l.DurableOffset(); d != 2*producers {
		t.Fatalf("durable offset %d, want %d", d, 2*producers)
	}
}

func TestWaitDurableHonoursTheContext(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	fsys := &hookFS{FS: newMemFS()}
	l := openLog(t, fsys, "/data/t-0", testConfig())
	defer mustClose(t, l)
	fsys.onSync = func(name string) error {
		if strings.HasSuffix(name, logSuffix) {
			once.Do(func() { close(started); <-release })
		}
		return nil
	}
	mustAppend(t, l, newBatch(t, batchSpec{}), 0)
	done := make(chan error)
	go func() { done <- l.WaitDurable(context.Background(), 1) }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.WaitDurable(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitDurable with a cancelled context: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDurable(context.Background(), 2); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("WaitDurable past the log end: %v", err)
	}
}

// DESIGN.md: if an fsync fails, the log goes offline and nothing more is
// acknowledged or appended.
func TestFsyncFailureTakesTheLogOffline(t *testing.T) {
	t.Parallel()
	for _, what := range []string{"fsync", "write"} {
		t.Run(what, func(t *testing.T) {
			fsys := &hookFS{FS: newMemFS()}
			var logs logBuffer
			l := openLog(t, fsys, "/data/t-0", testConfig(), func(o *Options) { o.Logger = logs.logger() })
			mustAppend(t, l, newBatch(t, batchSpec{}), 0)
			injected := errors.New("injected: input/output error")
			if what == "fsync" {
				fsys.onSync = func(string) error { return injected }
				err := l.WaitDurable(context.Background(), 1)
				if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "input/output error") {
					t.Fatalf("WaitDurable after a failed fsync: %v", err)
				}
			} else {
				fsys.onWrite = func(string) error { return injected }
				if _, err := appendBatch(l, newBatch(t, batchSpec{}), 0); !errors.Is(err, ErrOffline) {
					t.Fatalf("Append with a failing write: %v", err)
				}
			}
			fsys.onSync, fsys.onWrite = nil, nil // the disk is fine again; the log stays offline
			if _, err := appendBatch(l, newBatch(t, batchSpec{}), 0); !errors.Is(err, ErrOffline) {
				t.Fatalf("Append after the failure: %v", err)
			}
			if err := l.WaitDurable(context.Background(), 1); !errors.Is(err, ErrOffline) {
				t.Fatalf("WaitDurable after the failure: %v", err)
			}
			if err := l.MaybeFlush(); !errors.Is(err, ErrOffline) {
				t.Fatalf("MaybeFlush after the failure: %v", err)
			}
			if _, err := l.Read(0, 100, math.MaxInt64); !errors.Is(err, ErrOffline) {
				t.Fatalf("Read after the failure: %v", err)
			}
			if n := strings.Count(logs.String(), "log directory offline"); n != 1 {
				t.Fatalf("offline logged %d times, want once:\n%s", n, logs.String())
			}
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Fatalf("offline not logged at Error:\n%s", logs.String())
			}
			if err := l.Close(); !errors.Is(err, ErrOffline) {
				t.Fatalf("Close of an offline log: %v", err)
			}
		})
	}
}

func TestMaybeFlush(t *testing.T) {
	t.Parallel()
	var syncs atomic.Int64
	fsys := &hookFS{FS: newMemFS(), onSync: func(name string) error {
		if strings.HasSuffix(name, logSuffix) {
			syncs.Add(1)
		}
		return nil
	}}
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 30
	cfg.FlushMessages = 10
	cfg.FlushMs = 1000
	l := openLog(t, fsys, "/data/t-0", cfg)
	defer mustClose(t, l)
	mono := time.Unix(0, 0)
	l.mono = func() time.Time { return mono }
	syncs.Store(0)

	flush := func(wantSyncs int64, wantDurable int64) {
		t.Helper()
		if err := l.MaybeFlush(); err != nil {
			t.Fatal(err)
		}
		if syncs.Load() != wantSyncs || l.DurableOffset() != wantDurable {
			t.Fatalf("%d fsyncs, durable %d; want %d, %d", syncs.Load(), l.DurableOffset(), wantSyncs, wantDurable)
		}
	}
	mustAppend(t, l, newBatch(t, batchSpec{records: 9}), 0)
	flush(0, 0) // 9 unflushed messages, below flush.messages
	mustAppend(t, l, newBatch(t, batchSpec{records: 1}), 0)
	flush(1, 10) // flush.messages reached
	flush(1, 10) // nothing unflushed

	mustAppend(t, l, newBatch(t, batchSpec{records: 1}), 0)
	mono = mono.Add(999 * time.Millisecond)
	flush(1, 10) // the oldest unflushed append is not flush.ms old yet
	mono = mono.Add(time.Millisecond)
	flush(2, 11) // now it is
}

func TestCloseWaitsForTheBackgroundFlush(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var blocked atomic.Bool
	fsys := &hookFS{FS: newMemFS()}
	l := openLog(t, fsys, "/data/t-0", testConfig())
	fsys.onSync = func(name string) error {
		if strings.HasSuffix(name, logSuffix) && blocked.CompareAndSwap(false, true) {
			<-release
		}
		return nil
	}
	for len(l.segs) < 2 {
		mustAppend(t, l, newBatch(t, batchSpec{valueSize: 300}), 0)
	}
	closed := make(chan error)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned during the background flush: %v", err)
	case <-time.After(10 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if l.DurableOffset() != l.LogEndOffset() {
		t.Fatalf("durable %d after Close, log end %d", l.DurableOffset(), l.LogEndOffset())
	}
}
