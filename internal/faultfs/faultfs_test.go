package faultfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/log"
)

func writeFile(t *testing.T, fsys log.FS, name, data string, sync bool) log.File {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func readFile(t *testing.T, fsys log.FS, name string) (string, bool) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

// A crash keeps a file's bytes as of its last fsync, and its name only
// when its directory was fsynced after the name appeared.
func TestMemCrashKeepsOnlyWhatWasSynced(t *testing.T) {
	m := NewMem()
	if err := m.MkdirAll("/d/p", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, m, "/d/p/a", "synced", true)
	if _, err := f.Write([]byte("-lost")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, m, "/d/p/nodirsync", "data", true) // its name is made durable next
	if err := m.SyncDir("/d/p"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, m, "/d/p/late", "data", true) // data synced, name not
	if err := m.Rename("/d/p/nodirsync", "/d/p/renamed"); err != nil {
		t.Fatal(err)
	}
	if err := m.MkdirAll("/d/q", 0o755); err != nil { // parent never fsynced
		t.Fatal(err)
	}
	writeFile(t, m, "/d/q/x", "x", true)
	if err := m.SyncDir("/d/q"); err != nil {
		t.Fatal(err)
	}

	c := m.Crash()
	if got, ok := readFile(t, c, "/d/p/a"); !ok || got != "synced" {
		t.Fatalf("a after crash: %q %v, want \"synced\"", got, ok)
	}
	if _, ok := readFile(t, c, "/d/p/late"); ok {
		t.Fatal("a file whose directory was not fsynced survived")
	}
	if _, ok := readFile(t, c, "/d/p/renamed"); ok {
		t.Fatal("a rename without a directory fsync survived")
	}
	if got, ok := readFile(t, c, "/d/p/nodirsync"); !ok || got != "data" {
		t.Fatalf("the old name of an unsynced rename: %q %v", got, ok)
	}
	if _, ok := readFile(t, c, "/d/q/x"); ok {
		t.Fatal("a file in a directory whose own name was never fsynced survived")
	}
	// The old filesystem is dead: nothing more can be written or synced.
	if _, err := f.Write([]byte("x")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write after the crash: %v, want EIO", err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync after the crash: %v, want EIO", err)
	}
	// The clone works and crashes again.
	g := writeFile(t, c, "/d/p/a", "", false)
	if err := g.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFile(t, c.Crash(), "/d/p/a"); got != "sy" {
		t.Fatalf("after truncate and fsync: %q, want \"sy\"", got)
	}
}

// A removed file comes back after a crash unless the directory was
// fsynced; a file overwritten in the middle keeps its synced bytes.
func TestMemCrashRemoveAndOverwrite(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d", 0o755)
	m.SyncDir("/")
	f := writeFile(t, m, "/d/a", "0123456789", true)
	writeFile(t, m, "/d/b", "b", true)
	m.SyncDir("/d")
	if _, err := f.WriteAt([]byte("xx"), 2); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("/d/b"); err != nil {
		t.Fatal(err)
	}
	c := m.Crash()
	if got, _ := readFile(t, c, "/d/a"); got != "0123456789" {
		t.Fatalf("overwritten without fsync: %q", got)
	}
	if got, ok := readFile(t, c, "/d/b"); !ok || got != "b" {
		t.Fatalf("removed without a directory fsync: %q %v, want it back", got, ok)
	}
	if err := c.SyncFS("/"); err != nil {
		t.Fatal(err)
	}
}

// Rules fail the operations they match, after and as many times as they
// say; a short write stores half the bytes.
func TestInjectorRules(t *testing.T) {
	dir := t.TempDir()
	in := NewInjector(nil)
	name := filepath.Join(dir, "seg.log")
	f, err := in.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	remove := in.Inject(Rule{Ops: OpSync, Path: "seg", Err: syscall.EIO, After: 1, Times: 1})
	if err := f.Sync(); err != nil {
		t.Fatalf("first fsync: %v, want it to pass (after=1)", err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("second fsync: %v, want EIO", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("third fsync: %v, want it to pass (times=1)", err)
	}
	remove()
	in.Inject(Rule{Ops: OpWrite, Err: syscall.ENOSPC, Short: true})
	n, err := f.Write([]byte("abcdef"))
	if n != 3 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("short write: %d %v, want 3 ENOSPC", n, err)
	}
	if b, _ := os.ReadFile(name); string(b) != "abc" {
		t.Fatalf("file holds %q after a short write, want \"abc\"", b)
	}
	if in.Hits(OpWrite) != 1 || in.Hits(OpSync) != 1 {
		t.Fatalf("hits: write %d sync %d", in.Hits(OpWrite), in.Hits(OpSync))
	}
	in.SetRules([]Rule{{Ops: OpAnySync, Delay: 30 * time.Millisecond}})
	start := time.Now()
	if err := in.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Fatalf("delayed directory fsync took %v", took)
	}
}

func TestParseRules(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rule
		bad  bool
	}{
		{in: "sync EIO path=/t-0/ after=3 times=1", want: Rule{Ops: OpAnySync, Err: syscall.EIO, Path: "/t-0/", After: 3, Times: 1}},
		{in: "write,truncate ENOSPC", want: Rule{Ops: OpWrite | OpTruncate, Err: syscall.ENOSPC}},
		{in: "write short path=.log", want: Rule{Ops: OpWrite, Short: true, Path: ".log"}},
		{in: "syncdir delay=250ms", want: Rule{Ops: OpSyncDir, Delay: 250 * time.Millisecond}},
		{in: "write", bad: true},
		{in: "scribble EIO", bad: true},
		{in: "sync EIO after=x", bad: true},
		{in: "sync EBADNESS", bad: true},
	} {
		got, err := ParseRule(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v %v, want %+v", tc.in, got, err, tc.want)
		}
	}
	rules, err := ParseRules("# comment\n\nsync EIO\n  write ENOSPC  \n")
	if err != nil || len(rules) != 2 {
		t.Fatalf("ParseRules: %v %v", rules, err)
	}
}

// A control file's rules apply as soon as the file changes.
func TestControlFileReload(t *testing.T) {
	dir := t.TempDir()
	ctl := filepath.Join(dir, "faults")
	in, err := FromControlFile(nil, ctl, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, in, filepath.Join(dir, "x"), "x", true)
	if err := os.WriteFile(ctl, []byte("fsync EIO\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.Sync() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the control file's rule never applied")
		}
		time.Sleep(5 * time.Millisecond)
	}
	os.Remove(ctl)
	for f.Sync() != nil {
		if time.Now().After(deadline) {
			t.Fatal("removing the control file never lifted the rule")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
