package log_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sluice-io/sluice/internal/faultfs"
	"github.com/sluice-io/sluice/internal/log"
)

// durableRoot returns a crashable filesystem holding an empty, durable
// log directory root, as a broker's data directory is.
func durableRoot(t *testing.T) *faultfs.Mem {
	t.Helper()
	mem := faultfs.NewMem()
	if err := mem.MkdirAll("/data", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mem.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return mem
}

func mustNotExist(t *testing.T, fsys log.FS, path, when string) {
	t.Helper()
	if _, err := fsys.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s: %s: %v, want it not to exist", when, path, err)
	}
}

// A new log makes its directory with its first write, not at Open: opening,
// leading (an epoch on the empty log) and closing it create nothing, and a
// reopen finds the same empty log. The first acknowledged append survives
// a power cut, directory and all; a cut before that acknowledgement leaves
// an empty log, never a damaged one.
func TestNewLogMakesItsDirectoryOnFirstWrite(t *testing.T) {
	t.Parallel()
	mem := durableRoot(t)
	dir := "/data/t-0"
	ctx := context.Background()

	l := openFS(t, mem, dir, log.Options{})
	mustNotExist(t, mem, dir, "after Open")
	if err := l.AssignEpoch(1, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDurable(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, mem, dir, "after closing an empty log")

	l = openFS(t, mem, dir, log.Options{})
	if l.LogStartOffset() != 0 || l.LogEndOffset() != 0 {
		t.Fatalf("reopened empty log is [%d, %d), want [0, 0)", l.LogStartOffset(), l.LogEndOffset())
	}
	// Appended, not yet fsynced: a power cut may take the directory.
	if _, err := appendValue(l, t, "unacked"); err != nil {
		t.Fatal(err)
	}
	cut := mem.Crash()
	r := openFS(t, cut, dir, log.Options{})
	if got := values(t, r); len(got) > 1 || (len(got) == 1 && got[0] != "unacked") {
		t.Fatalf("after a cut before the fsync: %q, want nothing or the unacknowledged record", got)
	}
	r.Close()
	l.Close()

	// Appended and acknowledged: a power cut keeps it.
	mem = durableRoot(t)
	l = openFS(t, mem, dir, log.Options{})
	info, err := appendValue(l, t, "acked")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDurable(ctx, info.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	cut = mem.Crash()
	l.Close()
	r = openFS(t, cut, dir, log.Options{})
	defer r.Close()
	if got := values(t, r); len(got) != 1 || got[0] != "acked" {
		t.Fatalf("after a cut past the fsync: %q, want [acked]", got)
	}
}

// The other first writes make the directory too, durably: a follower's
// empty log that starts at its leader's log start offset, an owner's file
// beside the log (EnsureDir), and a move to another log directory.
func TestNewLogDirectoryForOtherFirstWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("start at an offset", func(t *testing.T) {
		mem := durableRoot(t)
		l := openFS(t, mem, "/data/t-0", log.Options{})
		if err := l.TruncateFullyAndStartAt(42); err != nil {
			t.Fatal(err)
		}
		cut := mem.Crash()
		l.Close()
		r := openFS(t, cut, "/data/t-0", log.Options{})
		defer r.Close()
		if r.LogStartOffset() != 42 || r.LogEndOffset() != 42 {
			t.Fatalf("after a cut: log [%d, %d), want [42, 42)", r.LogStartOffset(), r.LogEndOffset())
		}
	})

	t.Run("EnsureDir", func(t *testing.T) {
		mem := durableRoot(t)
		l := openFS(t, mem, "/data/t-0", log.Options{})
		defer l.Close()
		if err := l.EnsureDir(); err != nil {
			t.Fatal(err)
		}
		if _, err := mem.Stat("/data/t-0"); err != nil {
			t.Fatalf("EnsureDir made no directory: %v", err)
		}
		if err := l.EnsureDir(); err != nil { // again: nothing to do
			t.Fatal(err)
		}
		info, err := appendValue(l, t, "v")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.WaitDurable(ctx, info.LastOffset+1); err != nil {
			t.Fatal(err)
		}
		r := openFS(t, mem.Crash(), "/data/t-0", log.Options{})
		defer r.Close()
		if got := values(t, r); len(got) != 1 || got[0] != "v" {
			t.Fatalf("after a cut: %q, want [v]", got)
		}
	})

	t.Run("relocate", func(t *testing.T) {
		// faultfs.Mem renames no directories: the real disk.
		fsys := log.OSFS{}
		from, to := filepath.Join(t.TempDir(), "t-0"), filepath.Join(t.TempDir(), "t-0")
		l := openFS(t, fsys, from, log.Options{})
		if err := l.Relocate(ctx, to, nil); err != nil {
			t.Fatal(err)
		}
		if l.Dir() != to {
			t.Fatalf("log in %s after relocating, want %s", l.Dir(), to)
		}
		mustNotExist(t, fsys, from, "after relocating")
		info, err := appendValue(l, t, "moved")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.WaitDurable(ctx, info.LastOffset+1); err != nil {
			t.Fatal(err)
		}
		l.Close()
		r := openFS(t, fsys, to, log.Options{})
		defer r.Close()
		if got := values(t, r); len(got) != 1 || got[0] != "moved" {
			t.Fatalf("after reopening: %q, want [moved]", got)
		}
	})
}

// A directory that cannot be made takes the log offline at its first
// append, as a failed write does, and acknowledges nothing.
func TestNewLogDirectoryFailure(t *testing.T) {
	t.Parallel()
	mem := durableRoot(t)
	in := faultfs.NewInjector(mem)
	l := openFS(t, in, "/data/t-0", log.Options{})
	defer l.Close()
	in.SetRules([]faultfs.Rule{{Ops: faultfs.OpMkdir, Err: syscall.EIO}})
	if _, err := appendValue(l, t, "v"); !errors.Is(err, log.ErrOffline) {
		t.Fatalf("append with the directory failing: %v, want ErrOffline", err)
	}
	in.SetRules(nil)
	if _, err := appendValue(l, t, "w"); !errors.Is(err, log.ErrOffline) {
		t.Fatalf("append after the failure: %v, want ErrOffline", err)
	}
}
