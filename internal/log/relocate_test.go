package log

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// dirRenameFS is a memFS that can also rename directories (Relocate's
// commit point). The rename is atomic and durable at once, which is what
// the fsync of the parent that Relocate does right after it guarantees.
type dirRenameFS struct{ *memFS }

func (m dirRenameFS) Rename(oldname, newname string) error {
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	m.mu.Lock()
	isDir := m.dirs[oldname]
	m.mu.Unlock()
	if !isDir {
		return m.memFS.Rename(oldname, newname)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[newname] {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrExist}
	}
	move := func(p string) (string, bool) {
		if p == oldname {
			return newname, true
		}
		if rest, ok := strings.CutPrefix(p, oldname+"/"); ok {
			return newname + "/" + rest, true
		}
		return "", false
	}
	for _, tbl := range []map[string]*memNode{m.files, m.durable} {
		for p, n := range tbl {
			if q, ok := move(p); ok {
				delete(tbl, p)
				tbl[q] = n
			}
		}
	}
	for d := range m.dirs {
		if q, ok := move(d); ok {
			delete(m.dirs, d)
			m.dirs[q] = true
		}
	}
	return nil
}

// crashFS counts the operations that change a dirRenameFS and, just before
// operation number at, keeps what a crash would leave (CrashClone).
type crashFS struct {
	dirRenameFS
	n     atomic.Int64
	at    int64
	mu    sync.Mutex
	crash *memFS
}

func (c *crashFS) step() {
	if c.n.Add(1) == c.at {
		snap := c.memFS.CrashClone()
		c.mu.Lock()
		c.crash = snap
		c.mu.Unlock()
	}
}

func (c *crashFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		c.step()
	}
	f, err := c.dirRenameFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &crashFile{File: f, fs: c}, nil
}
func (c *crashFS) Remove(name string) error    { c.step(); return c.dirRenameFS.Remove(name) }
func (c *crashFS) RemoveAll(name string) error { c.step(); return c.dirRenameFS.RemoveAll(name) }
func (c *crashFS) Rename(o, n string) error    { c.step(); return c.dirRenameFS.Rename(o, n) }
func (c *crashFS) SyncDir(name string) error   { c.step(); return c.dirRenameFS.SyncDir(name) }
func (c *crashFS) MkdirAll(name string, perm os.FileMode) error {
	c.step()
	return c.dirRenameFS.MkdirAll(name, perm)
}

type crashFile struct {
	File
	fs *crashFS
}

func (f *crashFile) Write(p []byte) (int, error) { f.fs.step(); return f.File.Write(p) }
func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.step()
	return f.File.WriteAt(p, off)
}
func (f *crashFile) Sync() error               { f.fs.step(); return f.File.Sync() }
func (f *crashFile) Truncate(size int64) error { f.fs.step(); return f.File.Truncate(size) }

// fillLog appends n batches with two leader epochs and a producer, and
// makes them durable.
func fillLog(t *testing.T, l *Log, m *model, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		b := newBatch(t, batchSpec{records: 1 + i%4, ts: int64(1000 + i), valueSize: 100})
		mustAppend(t, l, b, int32(1+i/(n/2+1)))
		m.add(b)
	}
	if err := l.WaitDurable(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
}

// TestRelocateWhileAppendingKeepsEveryBatch moves a log between two
// directories while a writer appends and waits for durability and a reader
// reads (KIP-113: the replica keeps serving while it moves). Afterwards
// the log lives only in the new directory, holds every batch in order,
// and opens there again with the same offsets, epochs and producer state.
func TestRelocateWhileAppendingKeepsEveryBatch(t *testing.T) {
	t.Parallel()
	kinds := []struct {
		name string
		new  func(t *testing.T) (FS, string, string)
	}{
		{"os", func(t *testing.T) (FS, string, string) {
			a, b := t.TempDir(), t.TempDir()
			return OSFS{}, filepath.Join(a, "topic-0"), filepath.Join(b, "topic-0")
		}},
		{"mem", func(t *testing.T) (FS, string, string) {
			m := dirRenameFS{newMemFS()}
			m.MkdirAll("/b", 0o755)
			return m, "/a/topic-0", "/b/topic-0"
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			fsys, from, to := k.new(t)
			l := openLog(t, fsys, from, testConfig())
			var m model
			fillLog(t, l, &m, 300)

			stop := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var appendErr error
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					b := newBatch(t, batchSpec{records: 2, ts: int64(5000 + i), valueSize: 200})
					mu.Lock()
					info, err := appendBatch(l, b, 3)
					if err == nil {
						m.add(b)
					}
					mu.Unlock()
					if err == nil {
						err = l.WaitDurable(context.Background(), info.LastOffset+1)
					}
					if err != nil {
						appendErr = err
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := l.Read(l.LogStartOffset(), 1<<16, math.MaxInt64); err != nil {
						appendErr = err
						return
					}
				}
			}()
			err := l.Relocate(context.Background(), to, nil)
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatalf("relocate: %v", err)
			}
			if appendErr != nil {
				t.Fatalf("append or read during the move: %v", appendErr)
			}
			if l.Dir() != to {
				t.Fatalf("Dir() = %s after the move, want %s", l.Dir(), to)
			}
			if _, ok := l.Relocating(); ok {
				t.Fatal("still relocating after Relocate returned")
			}
			if _, err := fsys.Stat(from); !isNotExist(err) {
				t.Fatalf("old directory %s still there: %v", from, err)
			}
			assertNoFuture(t, fsys, filepath.Dir(to))
			if _, err := fsys.Stat(filepath.Join(to, relocatedMarker)); !isNotExist(err) {
				t.Fatalf("relocation marker left behind: %v", err)
			}
			// The moved log keeps working: appends, rolls, reads.
			for i := 0; i < 50; i++ {
				b := newBatch(t, batchSpec{records: 1, ts: int64(9000 + i), valueSize: 300})
				mustAppend(t, l, b, 4)
				m.add(b)
			}
			m.check(t, l, 0)
			_, epochEnd := l.EndOffsetForEpoch(1)
			leo := l.LogEndOffset()
			mustClose(t, l)

			l = openLog(t, fsys, to, testConfig())
			defer mustClose(t, l)
			if l.LogEndOffset() != leo {
				t.Fatalf("log end offset %d after reopening, want %d", l.LogEndOffset(), leo)
			}
			if _, end := l.EndOffsetForEpoch(1); end != epochEnd {
				t.Fatalf("epoch 1 ends at %d after reopening, want %d", end, epochEnd)
			}
			m.check(t, l, 0)
		})
	}
}

func assertNoFuture(t *testing.T, fsys FS, root string) {
	t.Helper()
	entries, err := fsys.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if IsRelocationLeftover(e.Name()) {
			t.Fatalf("relocation copy %s left in %s", e.Name(), root)
		}
	}
}

// TestRelocateSurvivesACrashAtEveryStep crashes the filesystem before each
// operation a relocation makes, in turn, and checks what a restart finds:
// after SettleRelocations exactly one copy of the partition is left (the
// old one until the rename commits, the new one after) and it holds every
// durable batch.
func TestRelocateSurvivesACrashAtEveryStep(t *testing.T) {
	t.Parallel()
	run := func(at int64) (ops int64, crashed *memFS, m model) {
		fsys := &crashFS{dirRenameFS: dirRenameFS{newMemFS()}}
		fsys.MkdirAll("/b", 0o755)
		l := openLog(t, fsys, "/a/topic-0", testConfig())
		fillLog(t, l, &m, 120)
		// A partition.metadata-like file of the owner moves too.
		if err := writeFileAtomic(fsys, "/a/topic-0", "partition.metadata", []byte("topic_id: x\n")); err != nil {
			t.Fatal(err)
		}
		// Reopen, so no background flush of a roll adds operations.
		mustClose(t, l)
		l = openLog(t, fsys, "/a/topic-0", testConfig())
		start := fsys.n.Load()
		fsys.at = start + at
		if err := l.Relocate(context.Background(), "/b/topic-0", nil); err != nil {
			t.Fatalf("relocate: %v", err)
		}
		mustClose(t, l)
		fsys.mu.Lock()
		defer fsys.mu.Unlock()
		return fsys.n.Load() - start, fsys.crash, m
	}
	total, _, _ := run(0)
	if total < 20 {
		t.Fatalf("a relocation made only %d filesystem operations", total)
	}
	for at := int64(1); at <= total; at++ {
		_, crashed, m := run(at)
		if crashed == nil {
			t.Fatalf("crash point %d of %d not reached: the relocation made fewer operations this time", at, total)
		}
		fsys := dirRenameFS{crashed}
		if failed, _, dup := SettleRelocations(fsys, []string{"/a", "/b"}, nil); len(failed) > 0 || dup != nil {
			t.Fatalf("crash at %d: settle: %v %v", at, failed, dup)
		}
		var copies []string
		for _, root := range []string{"/a", "/b"} {
			assertNoFuture(t, fsys, root)
			if _, err := fsys.Stat(filepath.Join(root, "topic-0")); err == nil {
				copies = append(copies, root)
			}
		}
		if len(copies) != 1 {
			t.Fatalf("crash at %d of %d: the partition is in %v after settling, want exactly one", at, total, copies)
		}
		dir := filepath.Join(copies[0], "topic-0")
		if _, err := fsys.Stat(filepath.Join(dir, "partition.metadata")); err != nil {
			t.Fatalf("crash at %d: partition.metadata missing in %s: %v", at, dir, err)
		}
		l := openLog(t, fsys, dir, testConfig())
		m.check(t, l, 0)
		mustClose(t, l)
	}
	t.Logf("crashed at each of %d operations of a relocation", total)
}

// TestRelocateToAFullDiskLeavesTheLogWhereItIs fails every write to the
// target directory (ENOSPC): Relocate returns the error, the copy is
// removed, and the log keeps appending and reading in its old directory.
func TestRelocateToAFullDiskLeavesTheLogWhereItIs(t *testing.T) {
	t.Parallel()
	mem := dirRenameFS{newMemFS()}
	mem.MkdirAll("/full", 0o755)
	fsys := &hookFS{FS: mem, onWrite: func(name string) error {
		if strings.HasPrefix(name, "/full/") {
			return syscall.ENOSPC
		}
		return nil
	}}
	var offline atomic.Int32
	l := openLog(t, fsys, "/a/topic-0", testConfig(), func(o *Options) {
		o.OnOffline = func(error) { offline.Add(1) }
	})
	defer mustClose(t, l)
	var m model
	fillLog(t, l, &m, 100)
	err := l.Relocate(context.Background(), "/full/topic-0", nil)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("relocate to a full disk: %v, want ENOSPC", err)
	}
	if l.Dir() != "/a/topic-0" {
		t.Fatalf("Dir() = %s, want the old directory", l.Dir())
	}
	if _, err := mem.Stat("/full/topic-0"); !isNotExist(err) {
		t.Fatalf("target directory exists after a failed move: %v", err)
	}
	assertNoFuture(t, mem, "/full")
	if offline.Load() != 0 {
		t.Fatal("a failed move took the log offline")
	}
	fillLog(t, l, &m, 20)
	m.check(t, l, 0)
}

// TestRelocateStartsOverAfterATruncation truncates the log (a follower
// meeting a new leader, KIP-101) while the copy runs: the move copies
// again and the moved log is the truncated one.
func TestRelocateStartsOverAfterATruncation(t *testing.T) {
	t.Parallel()
	mem := dirRenameFS{newMemFS()}
	mem.MkdirAll("/b", 0o755)
	var l *Log
	var once sync.Once
	var truncErr error
	fsys := &hookFS{FS: mem, onWrite: func(name string) error {
		if strings.Contains(name, futureSuffix) {
			once.Do(func() { truncErr = l.Truncate(50) })
		}
		return nil
	}}
	l = openLog(t, fsys, "/a/topic-0", testConfig())
	var m model
	fillLog(t, l, &m, 200)
	if err := l.Relocate(context.Background(), "/b/topic-0", nil); err != nil {
		t.Fatalf("relocate: %v", err)
	}
	if truncErr != nil {
		t.Fatal(truncErr)
	}
	end := l.LogEndOffset()
	if end > 50 {
		t.Fatalf("log end offset %d after truncating to 50", end)
	}
	mustClose(t, l)
	l = openLog(t, mem, "/b/topic-0", testConfig())
	defer mustClose(t, l)
	if l.LogEndOffset() != end {
		t.Fatalf("moved log ends at %d, want %d", l.LogEndOffset(), end)
	}
	var kept model
	for _, b := range m.batches {
		if h, _ := record.ParseHeader(b); h.LastOffset() < end {
			kept.add(b)
		}
	}
	kept.check(t, l, 0)
}

// TestOnOfflineIsCalledOnceAndMarkOfflineStopsReads: a failed fsync calls
// Options.OnOffline once with ErrOffline; MarkOffline takes a healthy log
// offline (its directory failed) without calling it.
func TestOnOfflineIsCalledOnceAndMarkOfflineStopsReads(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	fsys := &hookFS{FS: newMemFS(), onSync: func(string) error {
		if fail.Load() {
			return syscall.EIO
		}
		return nil
	}}
	var calls atomic.Int32
	var got error
	l := openLog(t, fsys, "/a/t-0", testConfig(), func(o *Options) {
		o.OnOffline = func(err error) { calls.Add(1); got = err }
	})
	var m model
	fillLog(t, l, &m, 10)
	fail.Store(true)
	mustAppend(t, l, newBatch(t, batchSpec{}), 1)
	for i := 0; i < 3; i++ {
		if err := l.WaitDurable(context.Background(), l.LogEndOffset()); !errors.Is(err, ErrOffline) {
			t.Fatalf("wait durable after a failed fsync: %v", err)
		}
	}
	if calls.Load() != 1 || !errors.Is(got, ErrOffline) || !errors.Is(got, syscall.EIO) && !strings.Contains(got.Error(), "input/output") {
		t.Fatalf("OnOffline called %d times with %v", calls.Load(), got)
	}
	l.Close()

	other := openLog(t, newMemFS(), "/a/t-1", testConfig(), func(o *Options) {
		o.OnOffline = func(error) { t.Error("OnOffline called by MarkOffline") }
	})
	fillLog(t, other, &m, 1)
	other.MarkOffline(errors.New("sibling failed"))
	if _, err := other.Read(0, 100, math.MaxInt64); !errors.Is(err, ErrOffline) {
		t.Fatalf("read after MarkOffline: %v", err)
	}
	if _, err := appendBatch(other, newBatch(t, batchSpec{}), 1); !errors.Is(err, ErrOffline) {
		t.Fatalf("append after MarkOffline: %v", err)
	}
	other.Close()
}

// TestSettleRelocationsKeepsTheMarkedCopy: two complete copies, the new
// one marked (a crash after the commit, before the old one was removed):
// the marked copy stays, the other goes, and the marker is removed.
func TestSettleRelocationsKeepsTheMarkedCopy(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	for _, root := range []string{a, b} {
		if err := os.MkdirAll(filepath.Join(root, "t-0"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(b, "t-0", relocatedMarker), []byte(filepath.Join(a, "t-0")+"\n"), 0o644)
	os.MkdirAll(filepath.Join(a, "t-1.0123456789abcdef0123456789abcdef-future"), 0o755)
	if failed, _, dup := SettleRelocations(nil, []string{a, b}, nil); len(failed) > 0 || dup != nil {
		t.Fatal(failed, dup)
	}
	if _, err := os.Stat(filepath.Join(a, "t-0")); !os.IsNotExist(err) {
		t.Fatalf("old copy kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b, "t-0", relocatedMarker)); !os.IsNotExist(err) {
		t.Fatalf("marker kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(a, "t-1.0123456789abcdef0123456789abcdef-future")); !os.IsNotExist(err) {
		t.Fatalf("future copy kept: %v", err)
	}
}

// blockRemoveFS holds the Remove of one path until release is closed.
type blockRemoveFS struct {
	OSFS
	path    string
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func (f *blockRemoveFS) Remove(name string) error {
	if name == f.path {
		f.once.Do(func() { close(f.reached) })
		<-f.release
	}
	return f.OSFS.Remove(name)
}

// TestDeleteRecordsRacingARelocationKeepsTheLogOnline: DeleteRecords takes
// the first segment out of the log and, while it removes that segment's
// files, a relocation commits and removes the old directory. The removal
// must not fsync the directory that is gone: the log stays online in its
// new directory, starting at the second segment (KIP-107 with KIP-113).
func TestDeleteRecordsRacingARelocationKeepsTheLogOnline(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	fsys := &blockRemoveFS{path: filepath.Join(a, "t-0", fileName(0, logSuffix)), reached: make(chan struct{}), release: make(chan struct{})}
	var offline atomic.Pointer[error]
	l, err := Open(filepath.Join(a, "t-0"), Config{SegmentBytes: 1024}, Options{FS: fsys, OnOffline: func(err error) { offline.Store(&err) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fillLog(t, l, &model{}, 40)
	if len(l.segs) < 3 {
		t.Fatalf("want several segments, have %d", len(l.segs))
	}
	newStart := l.segs[1].base
	del := make(chan error, 1)
	go func() { del <- l.DeleteRecordsBefore(newStart) }()
	select {
	case <-fsys.reached: // the first segment is out of the log; its files are going
	case err := <-del:
		t.Fatalf("DeleteRecordsBefore returned before removing the first segment: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("DeleteRecordsBefore never removed the first segment")
	}
	relocErr := l.Relocate(context.Background(), filepath.Join(b, "t-0"), nil)
	close(fsys.release)
	if relocErr != nil {
		t.Fatalf("relocate: %v", relocErr)
	}
	select {
	case err := <-del:
		if err != nil {
			t.Errorf("DeleteRecordsBefore: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("DeleteRecordsBefore never returned")
	}
	if err := l.Offline(); err != nil {
		t.Fatalf("log offline after a relocation raced DeleteRecords: %v", err)
	}
	if p := offline.Load(); p != nil {
		t.Fatalf("OnOffline called: %v", *p)
	}
	if got, want := l.Dir(), filepath.Join(b, "t-0"); got != want {
		t.Fatalf("log in %s, want %s", got, want)
	}
	if got := l.LogStartOffset(); got != newStart {
		t.Fatalf("log start offset %d, want %d", got, newStart)
	}
	if _, err := os.Stat(filepath.Join(a, "t-0")); !os.IsNotExist(err) {
		t.Fatalf("old directory: %v", err)
	}
}

// relocatedAway builds what a relocation from a/t-0 to b/t-0 leaves when
// the old directory could not be removed (or the process died before it
// was): the moved log in b, holding more batches than the stale copy left
// in a, and the marker in b. It returns the moved log's end offset.
func relocatedAway(t *testing.T, a, b string) int64 {
	t.Helper()
	l, err := Open(filepath.Join(a, "t-0"), Config{SegmentBytes: 1 << 20}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &model{}
	fillLog(t, l, m, 5)
	if err := l.Relocate(context.Background(), filepath.Join(b, "t-0"), nil); err != nil {
		t.Fatal(err)
	}
	fillLog(t, l, m, 5)
	end := l.LogEndOffset()
	mustClose(t, l)
	old, err := Open(filepath.Join(a, "t-0"), Config{SegmentBytes: 1 << 20}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fillLog(t, old, &model{}, 5)
	mustClose(t, old)
	if err := os.WriteFile(filepath.Join(b, "t-0", relocatedMarker), []byte(filepath.Join(a, "t-0")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return end
}

// readDirFailFS fails ReadDir of one directory with EIO.
type readDirFailFS struct {
	OSFS
	dir string
}

func (f readDirFailFS) ReadDir(name string) ([]os.DirEntry, error) {
	if filepath.Clean(name) == f.dir {
		return nil, &os.PathError{Op: "readdirent", Path: name, Err: syscall.EIO}
	}
	return f.OSFS.ReadDir(name)
}

// TestSettleRelocationsKeepsTheMarkerWhileTheOldRootIsUnreadable: a
// relocation from a to b left its old copy in a. The broker starts once
// with a missing or failing: the marker in b names a directory in a, which
// could not be read, so it stays. Once a is back, the marked copy is kept
// and the stale one in a is removed.
func TestSettleRelocationsKeepsTheMarkerWhileTheOldRootIsUnreadable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		hide   func(t *testing.T, a string) (FS, func())
		failed bool
	}{
		{name: "missing", hide: func(t *testing.T, a string) (FS, func()) {
			if err := os.Rename(a, a+".away"); err != nil {
				t.Fatal(err)
			}
			return nil, func() {
				if err := os.Rename(a+".away", a); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "EIO", failed: true, hide: func(t *testing.T, a string) (FS, func()) {
			return readDirFailFS{dir: a}, func() {}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			end := relocatedAway(t, a, b)
			fsys, back := tc.hide(t, a)
			failed, _, dup := SettleRelocations(fsys, []string{a, b}, nil)
			if dup != nil || len(failed) != btoi(tc.failed) || tc.failed && failed[a] == nil {
				t.Fatalf("settle with %s %s: failed %v, duplicates %v", a, tc.name, failed, dup)
			}
			if _, err := os.Stat(filepath.Join(b, "t-0", relocatedMarker)); err != nil {
				t.Fatalf("marker removed while the directory it names could not be read: %v", err)
			}
			back()
			if failed, _, dup := SettleRelocations(nil, []string{a, b}, nil); len(failed) > 0 || dup != nil {
				t.Fatalf("settle with %s back: failed %v, duplicates %v", a, failed, dup)
			}
			if _, err := os.Stat(filepath.Join(a, "t-0")); !os.IsNotExist(err) {
				t.Fatalf("stale copy kept: %v", err)
			}
			if _, err := os.Stat(filepath.Join(b, "t-0", relocatedMarker)); !os.IsNotExist(err) {
				t.Fatalf("marker kept once the stale copy was removed: %v", err)
			}
			l, err := Open(filepath.Join(b, "t-0"), Config{SegmentBytes: 1 << 20}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer mustClose(t, l)
			if got := l.LogEndOffset(); got != end {
				t.Fatalf("kept copy ends at %d, want %d", got, end)
			}
		})
	}
}

// TestSettleRelocationsRefusesUnmarkedDuplicates: the broker started once
// with an empty directory where a's disk should have been mounted, so the
// marker in b went; with a back, two unmarked copies exist. Neither is
// removed and both are reported, as Kafka refuses to start then
// (LogManager.loadLog: duplicate log directories); picking one by the order
// of log.dirs would serve the stale copy.
func TestSettleRelocationsRefusesUnmarkedDuplicates(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	relocatedAway(t, a, b)
	if err := os.Rename(a, a+".unmounted"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(a, 0o755); err != nil {
		t.Fatal(err)
	}
	if failed, _, dup := SettleRelocations(nil, []string{a, b}, nil); len(failed) > 0 || dup != nil {
		t.Fatalf("settle with %s empty: failed %v, duplicates %v", a, failed, dup)
	}
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(a+".unmounted", a); err != nil {
		t.Fatal(err)
	}
	failed, names, dup := SettleRelocations(nil, []string{a, b}, nil)
	if len(failed) > 0 || !errors.Is(dup, ErrDuplicatePartitionDir) || len(names) != 1 || names[0] != "t-0" {
		t.Fatalf("settle with two unmarked copies: failed %v, duplicates %q %v", failed, names, dup)
	}
	for _, root := range []string{a, b} {
		if _, err := os.Stat(filepath.Join(root, "t-0")); err != nil {
			t.Fatalf("a copy was removed: %v", err)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Moves in a row whose markers stayed (c to b while c could not be read,
// then b to a, crashed before b's copy went) leave two marked copies: the
// log is the one no other marker names, and the older copy goes.
func TestSettleRelocationsFollowsAChainOfMarkers(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	c := filepath.Join(t.TempDir(), "c")
	for _, root := range []string{a, b} {
		if err := os.Mkdir(filepath.Join(root, "t-0"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mark := func(root, from string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, "t-0", relocatedMarker), []byte(filepath.Join(from, "t-0")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mark(b, c)
	mark(a, b)
	if err := os.WriteFile(c, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	failed, names, dup := SettleRelocations(nil, []string{a, b, c}, nil)
	if dup != nil || len(names) != 0 || len(failed) != 1 || failed[c] == nil {
		t.Fatalf("settle: failed %v, duplicates %q %v; want only %s failed", failed, names, dup, c)
	}
	if _, err := os.Stat(filepath.Join(b, "t-0")); !os.IsNotExist(err) {
		t.Fatalf("the older copy in %s: %v, want it removed", b, err)
	}
	if _, err := os.Stat(filepath.Join(a, "t-0", relocatedMarker)); !os.IsNotExist(err) {
		t.Fatalf("the log's marker, naming a directory read in full: %v, want it removed", err)
	}
}
