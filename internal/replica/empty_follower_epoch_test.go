package replica

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// A follower whose log is empty but whose epoch cache holds an entry with
// no records (it led at epoch 1 and appended nothing) drops that entry at
// its truncation, so the leader's older epochs it then fetches are
// recorded.
func TestEmptyFollowerDropsItsStaleEpochEntry(t *testing.T) {
	f := newLeaderFixture(t, []int32{1, 2}, []int32{1, 2}) // leads epoch 1, empty log
	p := f.p
	if _, err := p.applyRole(role{leader: 2, leaderEpoch: 2, partitionEpoch: 2, replicas: []int32{1, 2}, isr: []int32{1, 2}}, f.clock.now()); err != nil {
		t.Fatal(err)
	}
	_, epoch, gen, _ := p.followState()
	fe := newFetcher(1, 2, "127.0.0.1:1", fetchSettings{socketTimeout: time.Second}, slog.Default(), time.Now)
	fe.set(p, gen, epoch)
	_, _, _, s := fe.plan(time.Now())
	fe.truncate(context.Background(), nil, []*fetchPart{fe.parts[p]}, s)
	if !fe.parts[p].truncated {
		t.Fatal("not marked truncated")
	}
	// The leader (2) has epoch-0 records at 0-2 (it led epoch 0 and
	// was elected again at 2 before it followed epoch 1), then epoch 2.
	b0, _ := record.Build(record.BuildOptions{BaseOffset: 0, PartitionLeaderEpoch: 0}, []record.Record{{Value: []byte("a")}, {OffsetDelta: 1, Value: []byte("b")}, {OffsetDelta: 2, Value: []byte("c")}})
	b2, _ := record.Build(record.BuildOptions{BaseOffset: 3, PartitionLeaderEpoch: 2}, []record.Record{{Value: []byte("d")}})
	if err := p.appendFetched(gen, 0, append(b0, b2...), 4, 0); err != nil {
		t.Fatal(err)
	}
	e0, end0 := p.Log().EndOffsetForEpoch(0)
	e1, end1 := p.Log().EndOffsetForEpoch(1)
	t.Logf("EndOffsetForEpoch(0) = (%d, %d); EndOffsetForEpoch(1) = (%d, %d)", e0, end0, e1, end1)
	if e0 != 0 || end0 != 3 {
		t.Fatalf("epoch 0 ends at (%d, %d), want (0, 3): the cache kept epoch 1 at offset 0", e0, end0)
	}
}
