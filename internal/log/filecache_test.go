package log

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A process with many partitions keeps a bounded number of segment files
// open: idle files beyond the limit are closed and reopened on their next
// use, and reads stay correct.
func TestFileCacheBoundsOpenFilesOfIdleLogs(t *testing.T) {
	t.Parallel()
	for _, k := range fsKinds {
		t.Run(k.name, func(t *testing.T) {
			fsys, dir := k.new(t)
			files := NewFileCache(5)
			cfg := testConfig()
			const n = 20
			logs := make([]*Log, n)
			models := make([]*model, n)
			for i := range logs {
				logs[i] = openLog(t, fsys, fmt.Sprintf("%s-%d", dir, i), cfg, func(o *Options) { o.Files = files })
				models[i] = &model{}
				for j := 0; j < 30; j++ { // several segments each
					b := newBatch(t, batchSpec{records: 2, ts: int64(j)})
					mustAppend(t, logs[i], b, 0)
					models[i].add(b)
				}
				if err := logs[i].WaitDurable(context.Background(), logs[i].LogEndOffset()); err != nil {
					t.Fatal(err)
				}
			}
			for _, l := range logs {
				l.bg.Wait() // the background flushes after rolls
			}
			if got := files.Open(); got > files.Limit() {
				t.Fatalf("%d files open after the logs went idle, limit %d", got, files.Limit())
			}
			var wg sync.WaitGroup
			for i, l := range logs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					models[i].check(t, l, 0)
				}()
			}
			wg.Wait()
			if got := files.Open(); got > files.Limit() {
				t.Fatalf("%d files open after reads, limit %d", got, files.Limit())
			}
			for _, l := range logs {
				mustClose(t, l)
			}
			if got := files.Open(); got != 0 {
				t.Fatalf("%d files open after every log closed", got)
			}
			for i := range logs { // reopened with the same cache
				l := openLog(t, fsys, fmt.Sprintf("%s-%d", dir, i), cfg, func(o *Options) { o.Files = files })
				models[i].check(t, l, 0)
				mustClose(t, l)
			}
		})
	}
}

// A file written since its last fsync stays open whatever the limit, so
// its fsync reports what happened to the writes; fsynced, it may close.
func TestFileCacheKeepsUnsyncedFilesOpen(t *testing.T) {
	t.Parallel()
	files := NewFileCache(1)
	fsys, dir := newMemFS(), "/data"
	fsys.MkdirAll(dir, 0o755)
	a := newCachedFile(files, fsys, filepath.Join(dir, "a"))
	b := newCachedFile(files, fsys, filepath.Join(dir, "b"))
	for _, h := range []*cachedFile{a, b} {
		if err := h.create(); err != nil {
			t.Fatal(err)
		}
		if _, err := h.WriteAt([]byte("x"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := files.Open(); got != 2 {
		t.Fatalf("%d files open, want both unsynced ones", got)
	}
	if err := a.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := files.Open(); got != 1 {
		t.Fatalf("%d files open after fsyncing one, want only the unsynced one", got)
	}
	buf := make([]byte, 1)
	if _, err := a.ReadAt(buf, 0); err != nil || buf[0] != 'x' {
		t.Fatalf("read after reopening: %q, %v", buf, err)
	}
	if got := files.Open(); got != 1 {
		t.Fatalf("%d files open after a read, want only the unsynced one", got)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReadAt(buf, 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after Close: %v, want os.ErrClosed", err)
	}
}

// Retention deletes segments whose files may be open in the cache, while
// consumers read old segments through it.
func TestRetentionWhileReadingThroughABoundedFileCache(t *testing.T) {
	t.Parallel()
	fsys, dir := OSFS{}, filepath.Join(t.TempDir(), "t-0")
	files := NewFileCache(2)
	cfg := testConfig()
	l := openLog(t, fsys, dir, cfg, func(o *Options) { o.Files = files })
	defer mustClose(t, l)
	for j := 0; j < 200; j++ {
		mustAppend(t, l, newBatch(t, batchSpec{records: 2, ts: int64(j)}), 0)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := l.LogStartOffset()
				got, err := l.Read(start, 1<<20, l.LogEndOffset())
				if err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
					t.Errorf("read at %d: %v", start, err)
					return
				}
				_ = got
			}
		}()
	}
	for off := int64(20); off < 380; off += 20 {
		if err := l.DeleteRecordsBefore(off); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ApplyRetention(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if got := files.Open(); got > files.Limit()+1 { // the active .log may be unsynced
		t.Fatalf("%d files open, limit %d", got, files.Limit())
	}
}

// A Sync covers only the writes that have reached the file: a write pinned
// but not yet done when the Sync begins (an append racing a sync of its
// log) is not counted as synced, so the next Sync fsyncs it.
func TestFileSyncCoversOnlyFinishedWrites(t *testing.T) {
	t.Parallel()
	var syncs atomic.Int64
	mem := newMemFS()
	mem.MkdirAll("/data", 0o755)
	fsys := &hookFS{FS: mem, onSync: func(string) error { syncs.Add(1); return nil }}
	h := newCachedFile(NewFileCache(8), fsys, "/data/a")
	if err := h.create(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	// A second write has pinned the file but not yet written.
	f, err := h.acquire("write", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Sync(); err != nil || syncs.Load() != 1 {
		t.Fatalf("first sync: %v, %d fsyncs", err, syncs.Load())
	}
	if _, err := f.WriteAt([]byte("y"), 1); err != nil {
		t.Fatal(err)
	}
	h.wrote()
	h.release()
	if err := h.Sync(); err != nil || syncs.Load() != 2 {
		t.Fatalf("sync after the write finished: %v, %d fsyncs in all, want 2", err, syncs.Load())
	}
	if err := h.Sync(); err != nil || syncs.Load() != 2 {
		t.Fatalf("sync of a clean file: %v, %d fsyncs in all, want still 2", err, syncs.Load())
	}
}

// besideHeldSync holds a first Sync of a written file in its fsync (which
// then returns firstErr), writes again and starts a second Sync beside it
// through fsys's onOpen; with ownFsync it waits for the second's own fsync
// first. The second must not return while the first is held. The caller
// closes release.
func besideHeldSync(t *testing.T, firstErr error, onOpen func(string, int) error, ownFsync bool) (first, second chan error, release chan struct{}, calls *atomic.Int64) {
	t.Helper()
	mem := newMemFS()
	mem.MkdirAll("/data", 0o755)
	started := make(chan struct{})
	release, calls = make(chan struct{}), new(atomic.Int64)
	fsys := &hookFS{FS: mem, onOpen: onOpen, onSync: func(string) error {
		if calls.Add(1) == 1 {
			close(started)
			<-release
			return firstErr
		}
		return nil
	}}
	h := newCachedFile(NewFileCache(8), fsys, "/data/a")
	if err := h.create(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	first, second = make(chan error, 1), make(chan error, 1)
	go func() { first <- h.Sync() }()
	<-started
	if _, err := h.WriteAt([]byte("y"), 1); err != nil {
		t.Fatal(err)
	}
	go func() { second <- h.Sync() }()
	for ownFsync && calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-second:
		t.Fatalf("second sync returned %v while the first was still running", err)
	case <-time.After(20 * time.Millisecond):
	}
	return first, second, release, calls
}

// A Sync that runs beside one that fails fails too, though its own
// descriptor saw no error: the failed one may have taken the error for
// data both were to make durable.
func TestFileSyncBesideAFailedOneFails(t *testing.T) {
	t.Parallel()
	first, second, release, _ := besideHeldSync(t, errors.New("EIO"), nil, true)
	close(release)
	if err := <-first; err == nil {
		t.Fatal("first sync: nil, want EIO")
	}
	if err := <-second; err == nil || !strings.Contains(err.Error(), "EIO") {
		t.Fatalf("second sync beside a failed one: %v, want the first's EIO", err)
	}
}

// A Sync beside another that cannot open a descriptor of its own (no
// descriptor to spare) waits for the other and fsyncs the shared one
// after it, instead of failing.
func TestFileSyncBesideAnotherWithoutADescriptorToSpare(t *testing.T) {
	t.Parallel()
	noSpare := func(name string, flag int) error {
		if flag == os.O_RDONLY {
			return syscall.EMFILE
		}
		return nil
	}
	first, second, release, calls := besideHeldSync(t, nil, noSpare, false)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatalf("second sync without a descriptor to spare: %v, want nil", err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d fsyncs, want 2 (the second on the shared descriptor after the first)", n)
	}
}
