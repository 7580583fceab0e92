package replica

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/quota"
	"github.com/sluice-io/sluice/internal/record"
)

// moveLogOf builds a real log of about size bytes, in batches of 64 KiB.
func moveLogOf(t *testing.T, size int) *log.Log {
	t.Helper()
	l, err := log.Open(filepath.Join(t.TempDir(), "t-0"), testLogConfig(t), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	value := make([]byte, 64<<10)
	for l.Size() < int64(size) {
		b, err := record.Build(record.BuildOptions{}, []record.Record{{Value: value}})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := record.Validate(b)
		if _, err := l.Append(b, h, 1); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// replica.alter.log.dirs.io.max.bytes.per.second (Kafka's AlterLogDirs
// quota): a move of a few MiB under a bound of 1 MiB/s takes at least
// about half of size/bound, and every byte copied is recorded in the quota.
func TestLogDirMoveIsPacedByTheAlterLogDirsRate(t *testing.T) {
	t.Parallel()
	const size, bound = 3 << 20, 1 << 20
	l := moveLogOf(t, size)
	q := quota.NewReplication(nil)
	// Short windows, so the first burst the rate allows is small.
	q.Configure(bound, 2, 100*time.Millisecond)
	start := time.Now()
	if err := l.Relocate(context.Background(), filepath.Join(t.TempDir(), "t-0"), paceMoves(q)); err != nil {
		t.Fatalf("move: %v", err)
	}
	took := time.Since(start)
	if want := time.Duration(float64(size) / bound / 2 * float64(time.Second)); took < want {
		t.Fatalf("a move of %d bytes at %d bytes/s took %v, want at least %v", size, bound, took, want)
	}
	if got := q.Total(); got < int64(size) {
		t.Fatalf("the quota recorded %d bytes of a %d-byte move", got, size)
	}
	t.Logf("%d bytes moved in %v at a bound of %d bytes/s", size, took.Round(time.Millisecond), bound)
}

// A move held back by the throttle goes on at once when the bound is
// deleted (Configure wakes the waiting copy), and a cancelled move stops
// its wait and leaves the log where it was. A bound of 0 lets nothing
// through until it changes.
func TestThrottledLogDirMoveFinishesOnceTheBoundIsLifted(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		bound float64
		lift  bool
	}{{1024, true}, {1024, false}, {0, true}} {
		lift := c.lift
		l := moveLogOf(t, 2<<20)
		from := l.Dir()
		q := quota.NewReplication(nil)
		q.Configure(c.bound, 2, 100*time.Millisecond) // a 2 MiB move would take half an hour, or for ever
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Relocate(ctx, filepath.Join(t.TempDir(), "t-0"), paceMoves(q)) }()
		deadline := time.Now().Add(10 * time.Second)
		for !q.Exceeded() {
			if time.Now().After(deadline) {
				t.Fatal("the move never went over its bound")
			}
			time.Sleep(5 * time.Millisecond) // polling a condition, not timing
		}
		select {
		case err := <-done:
			t.Fatalf("the move finished under a bound of %v bytes/s: %v", c.bound, err)
		default:
		}
		if lift {
			q.Configure(math.MaxInt64, 2, 100*time.Millisecond)
		} else {
			cancel()
		}
		var err error
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("the move did not end once the bound was lifted (%v) or it was cancelled", lift)
		}
		cancel()
		switch {
		case lift && err != nil:
			t.Fatalf("move after the bound was lifted: %v", err)
		case lift && l.Dir() == from:
			t.Fatalf("the log is still in %s", from)
		case !lift && !errors.Is(err, context.Canceled):
			t.Fatalf("cancelled move: %v, want context.Canceled", err)
		case !lift && l.Dir() != from:
			t.Fatalf("a cancelled move left the log in %s", l.Dir())
		}
	}
}
