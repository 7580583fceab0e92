package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/log"
)

// TestMarkLogDirs: the first start marks every log directory (all new); a
// later start finds the marks; a directory wiped in between is reported
// new (not all) and marked again; a directory marked by another broker is
// refused.
func TestMarkLogDirs(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	dirs := []string{a, b}
	if anyNew, allNew, err := markLogDirs(nil, 1, dirs); err != nil || !anyNew || !allNew {
		t.Fatalf("first start: new %v, all new %v, %v; want all new", anyNew, allNew, err)
	}
	if anyNew, allNew, err := markLogDirs(nil, 1, dirs); err != nil || anyNew || allNew {
		t.Fatalf("second start: new %v, all new %v, %v; want none new", anyNew, allNew, err)
	}
	if err := os.RemoveAll(b); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(b, 0o755); err != nil {
		t.Fatal(err)
	}
	if anyNew, allNew, err := markLogDirs(nil, 1, dirs); err != nil || !anyNew || allNew {
		t.Fatalf("after %s was wiped: new %v, all new %v, %v; want one new", b, anyNew, allNew, err)
	}
	if anyNew, _, err := markLogDirs(nil, 1, dirs); err != nil || anyNew {
		t.Fatalf("after the wiped directory was marked again: new %v, %v", anyNew, err)
	}
	_, _, err := markLogDirs(nil, 2, dirs)
	if err == nil || !strings.Contains(err.Error(), "belongs to another broker") {
		t.Fatalf("broker 2 on broker 1's directories: %v", err)
	}
	if err := os.WriteFile(filepath.Join(a, logDirMarkFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := markLogDirs(nil, 1, dirs); err == nil {
		t.Fatal("an unreadable mark was accepted")
	}
}

// Log directories are used as clean paths, and one named twice (however
// spelled) is refused.
func TestCleanLogDirs(t *testing.T) {
	got, err := cleanLogDirs([]string{"./data/", "/srv//b"})
	if err != nil || !slices.Equal(got, []string{"data", "/srv/b"}) {
		t.Fatalf("cleanLogDirs: %q, %v", got, err)
	}
	if _, err := cleanLogDirs([]string{"/srv/a", "/srv/./a/"}); err == nil {
		t.Fatal("the same directory twice was accepted")
	}
}

// A partition directory in two log directories with nothing to say which
// is the log stops the start, naming it, and leaves both copies alone.
func TestStartRefusesDuplicatePartitionDirectories(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	for _, root := range []string{a, b} {
		if err := os.Mkdir(filepath.Join(root, "t-0"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, Config{NodeID: 1, Listen: "127.0.0.1:0", DataDir: t.TempDir(), Settings: map[string]string{"log.dirs": a + "," + b}})
	if err == nil {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		n.Shutdown(sctx)
		t.Fatal("started with t-0 in two log directories")
	}
	if !errors.Is(err, log.ErrDuplicatePartitionDir) || !strings.Contains(err.Error(), "t-0") {
		t.Fatalf("start: %v, want ErrDuplicatePartitionDir naming t-0", err)
	}
	for _, root := range []string{a, b} {
		if _, err := os.Stat(filepath.Join(root, "t-0")); err != nil {
			t.Fatalf("a copy was removed: %v", err)
		}
	}
}
