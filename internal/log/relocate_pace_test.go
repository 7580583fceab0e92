package log

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// The Pacer of Relocate (replica.alter.log.dirs.io.max.bytes.per.second)
// paces the background rounds only: it is called holding no lock of the
// log, so an append made from inside it completes, and never for the final
// copy under the writer lock (which would hold that append back). Every
// byte the log held before the move passes through it, segment data and
// sealed indexes alike.
func TestRelocatePacedPacesOnlyTheBackgroundCopy(t *testing.T) {
	t.Parallel()
	fsys := dirRenameFS{newMemFS()}
	fsys.MkdirAll("/b", 0o755)
	l := openLog(t, fsys, "/a/topic-0", testConfig())
	defer mustClose(t, l)
	var m model
	fillLog(t, l, &m, 300) // about 20 segments of 4 KiB
	before := l.Size()

	var paced, calls int64
	var sizes []int64 // the copy's size as DescribeLogDirs shows it, at each call
	pace := func(ctx context.Context, n int) (bool, error) {
		paced += int64(n)
		calls++
		if st, ok := l.Relocating(); ok && (len(sizes) == 0 || sizes[len(sizes)-1] != st.Size) {
			sizes = append(sizes, st.Size)
		}
		if t.Failed() {
			return false, nil
		}
		// The log's writer lock is free: an append goes through.
		b := newBatch(t, batchSpec{records: 1, ts: 7000 + calls, valueSize: 100})
		done := make(chan error, 1)
		go func() {
			_, err := appendBatch(l, b, 3)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("append from the pacer: %v", err)
			} else {
				m.add(b)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("an append from the pacer did not finish: the pacer is called under the writer lock")
		}
		return false, nil
	}
	if err := l.Relocate(context.Background(), "/b/topic-0", pace); err != nil {
		t.Fatalf("relocate: %v", err)
	}
	if l.Dir() != "/b/topic-0" {
		t.Fatalf("Dir() = %s after the move", l.Dir())
	}
	if paced < before {
		t.Fatalf("paced %d bytes; the log held %d before the move", paced, before)
	}
	// The size grows chunk by chunk while the pacer holds the copy back,
	// not once a round.
	if len(sizes) < 10 {
		t.Fatalf("the pacer saw the copy's size take %d values (%v); want it to grow with each of about 20 segments", len(sizes), sizes)
	}
	if !t.Failed() {
		m.check(t, l, 0)
	}
}

// A Pacer's error (a cancelled move waiting on the throttle) stops the
// relocation: the log stays where it was and no copy is left behind.
func TestRelocatePacedStopsOnThePacersError(t *testing.T) {
	t.Parallel()
	fsys := dirRenameFS{newMemFS()}
	fsys.MkdirAll("/b", 0o755)
	l := openLog(t, fsys, "/a/topic-0", testConfig())
	defer mustClose(t, l)
	var m model
	fillLog(t, l, &m, 100)
	stop := errors.New("throttle wait cancelled")
	calls := 0
	err := l.Relocate(context.Background(), "/b/topic-0", func(context.Context, int) (bool, error) {
		if calls++; calls == 3 {
			return true, stop
		}
		return false, nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("relocate: %v, want the pacer's error", err)
	}
	if l.Dir() != "/a/topic-0" {
		t.Fatalf("Dir() = %s after a stopped move", l.Dir())
	}
	if _, err := fsys.Stat("/b/topic-0"); !isNotExist(err) {
		t.Fatalf("target exists after a stopped move: %v", err)
	}
	assertNoFuture(t, fsys, filepath.Dir("/b/topic-0"))
	m.check(t, l, 0)
}
