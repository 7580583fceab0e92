package replica

import (
	"path/filepath"
	"testing"

	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
)

// epochLogOf builds a real log whose batches have the given leader epochs,
// one record each.
func epochLogOf(t *testing.T, epochs ...int32) *log.Log {
	t.Helper()
	l, err := log.Open(filepath.Join(t.TempDir(), "t-0"), testLogConfig(t), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, e := range epochs {
		b, err := record.Build(record.BuildOptions{}, []record.Record{{Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := record.Validate(b)
		if _, err := l.Append(b, h, e); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// KIP-101 and KIP-279, as Kafka's AbstractFetcherThread decides.
func TestTruncationPoint(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name        string
		follower    []int32 // epoch of each offset
		hw          int64
		leaderEpoch int32
		leaderEnd   int64
		want        int64
		wantDone    bool
	}{
		{"same epoch, leader shorter", []int32{1, 1, 2, 2, 2}, 3, 2, 4, 4, true},
		{"same epoch, leader longer", []int32{1, 1, 2, 2}, 3, 2, 9, 4, true},
		// The follower wrote epoch 3 the leader never saw; the leader's
		// epoch 2 ends at 3, the follower's at 4: cut at 3.
		{"leader answers an older epoch the follower has", []int32{1, 2, 2, 2, 3}, 2, 2, 3, 3, true},
		// KIP-279: the leader answers epoch 2, which the follower lacks;
		// its largest below is 1, ending at 2: cut there, ask again.
		{"leader answers an epoch the follower lacks", []int32{1, 1, 3, 3}, 1, 2, 3, 2, false},
		{"leader knows no such epoch: high watermark", []int32{4, 4, 4}, 1, -1, -1, 1, true},
		{"an old leader without epochs", []int32{1, 1, 1}, 0, -1, 2, 2, true},
		// The leader's epoch 3 ends at 1, but the follower's offset 0 is
		// of epoch 5, which the leader never wrote: the follower's epoch 3
		// ends where its first known epoch starts, at 0 (Kafka's answer
		// for an epoch below the first known one), and it cuts there.
		{"follower's epochs start later", []int32{5, 5}, 0, 3, 1, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := epochLogOf(t, c.follower...)
			got, done := truncationPoint(l, c.hw, c.leaderEnd, c.leaderEpoch)
			if got != c.want || done != c.wantDone {
				t.Fatalf("truncationPoint = %d, %v; want %d, %v", got, done, c.want, c.wantDone)
			}
		})
	}
}

// A follower truncates only while it follows the generation it was asked
// for, lowers its high watermark with its log end, and takes the leader's
// high watermark only up to its own log end and never below its own.
func TestFollowerTruncateAndAppend(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2}, []int32{1, 2})
	f.produce(4)
	f.fetched(2, 4)
	f.wantHW(4)
	p := f.p
	if change, _ := p.applyRole(role{leader: 2, leaderEpoch: 2, partitionEpoch: 2, replicas: []int32{1, 2}, isr: []int32{1, 2}}, f.clock.now()); change != roleResigned {
		t.Fatalf("change %v, want resigned", change)
	}
	leader, epoch, gen, ok := p.followState()
	if !ok || leader != 2 || epoch != 2 {
		t.Fatalf("followState %d %d %v", leader, epoch, ok)
	}
	if err := p.truncateAsFollower(gen+1, 1); err != errStaleFetch {
		t.Fatalf("truncate at a stale generation: %v", err)
	}
	if err := p.truncateAsFollower(gen, 2); err != nil {
		t.Fatal(err)
	}
	if p.LogEndOffset() != 2 || p.HighWatermark() != 2 {
		t.Fatalf("after truncation: end %d, high watermark %d", p.LogEndOffset(), p.HighWatermark())
	}
	b, _ := record.Build(record.BuildOptions{BaseOffset: 2, PartitionLeaderEpoch: 2}, []record.Record{{Value: []byte("x")}, {OffsetDelta: 1, Value: []byte("y")}})
	if err := p.appendFetched(gen, 2, b, 10, 0); err != nil {
		t.Fatal(err)
	}
	if p.LogEndOffset() != 4 || p.HighWatermark() != 4 {
		t.Fatalf("after append: end %d, high watermark %d", p.LogEndOffset(), p.HighWatermark())
	}
	// A leader restarted in the same epoch answers with the high watermark
	// of its checkpoint, which lags: the follower keeps the one it had.
	if err := p.appendFetched(gen, 4, nil, 1, 0); err != nil {
		t.Fatal(err)
	}
	if p.HighWatermark() != 4 {
		t.Fatalf("after a fetch answering high watermark 1: high watermark %d, want 4", p.HighWatermark())
	}
	if e, end := p.Log().EndOffsetForEpoch(1); e != 1 || end != 2 {
		t.Fatalf("epoch 1 ends at %d (%d), want 2", end, e)
	}
	if err := p.restartAsFollower(gen, 10); err != nil {
		t.Fatal(err)
	}
	if p.LogStartOffset() != 10 || p.LogEndOffset() != 10 || p.HighWatermark() != 10 {
		t.Fatalf("after restart: start %d end %d hw %d", p.LogStartOffset(), p.LogEndOffset(), p.HighWatermark())
	}
}
