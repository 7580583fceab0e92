package replica

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// A follower in the ISR that fetches below the high watermark has lost
// records the high watermark counted (it cut a damaged range): the leader
// proposes taking it out of the ISR at once, not after
// replica.lag.time.max.ms, so an election cannot make it leader without
// them. Caught up again, it is proposed back in.
func TestFollowerFetchingBelowHighWatermarkLeavesISRAtOnce(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2, 3}, []int32{1, 2, 3})
	f.produce(5)
	f.fetched(2, 5)
	f.fetched(3, 5)
	f.wantHW(5)
	if _, _, n := f.lastProposal(); n != 0 {
		t.Fatalf("%d proposals with every follower caught up", n)
	}

	f.fetched(3, 2) // broker 3 cut its log at offset 2
	cmd, _, n := f.lastProposal()
	if n != 1 || !slices.Equal(cmd.ISR, []int32{1, 2}) {
		t.Fatalf("after a fetch below the high watermark: %d proposals, the last ISR %v; want [1 2]", n, cmd.ISR)
	}
	f.commit()
	f.wantHW(5) // never back

	f.fetched(3, 5)
	cmd, _, n = f.lastProposal()
	if n != 2 || !slices.Equal(cmd.ISR, []int32{1, 2, 3}) {
		t.Fatalf("caught up again: %d proposals, the last ISR %v; want [1 2 3]", n, cmd.ISR)
	}
}

// With another ISR change in flight, the follower that fetched below the
// high watermark is no longer caught up, so the next ShrinkISR takes it
// out without waiting for replica.lag.time.max.ms.
func TestFollowerBelowHighWatermarkLeavesWithTheNextShrink(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2, 3, 4}, []int32{1, 2, 3})
	f.produce(5)
	f.fetched(2, 5)
	f.fetched(3, 5)
	f.fetched(4, 5) // proposes adding 4
	if cmd, _, n := f.lastProposal(); n != 1 || !slices.Equal(cmd.ISR, []int32{1, 2, 3, 4}) {
		t.Fatalf("want 4 proposed into the ISR, got %d proposals, the last ISR %v", n, cmd.ISR)
	}
	f.fetched(3, 1) // in flight: nothing proposed yet
	if _, _, n := f.lastProposal(); n != 1 {
		t.Fatalf("%d proposals while one is in flight", n)
	}
	f.commit()
	out := f.p.ShrinkISR(f.clock.now())
	if !slices.Equal(out, []int32{3}) {
		t.Fatalf("ShrinkISR = %v at once, want [3]", out)
	}
}

// followerOf is a partition of brokers 1 and 2 that led with n records
// and now follows broker 2 at leader epoch 2, at fetch generation gen.
func followerOf(t *testing.T, n int) (p *Partition, gen uint64) {
	t.Helper()
	f := newLeaderFixture(t, []int32{1, 2}, []int32{1, 2})
	f.produce(n)
	p = f.p
	if change, _ := p.applyRole(role{leader: 2, leaderEpoch: 2, partitionEpoch: 2, replicas: []int32{1, 2}, isr: []int32{1, 2}}, f.clock.now()); change != roleResigned {
		t.Fatalf("change %v, want resigned", change)
	}
	_, _, gen, _ = p.followState()
	return p, gen
}

// A fetch answer for an offset the log no longer ends at (a damaged range
// was cut while the fetch was out) is dropped: appended, its batches would
// leave a gap where the cut records were. The next fetch asks from the new
// end.
func TestFetchAnswerAfterACutIsDropped(t *testing.T) {
	t.Parallel()
	p, gen := followerOf(t, 6)
	if err := p.truncateAsFollower(gen, 3); err != nil { // the cut, while a fetch from 6 is out
		t.Fatal(err)
	}
	b, _ := record.Build(record.BuildOptions{BaseOffset: 6, PartitionLeaderEpoch: 2}, []record.Record{{Value: []byte("x")}})
	if err := p.appendFetched(gen, 6, b, 7, 0); err != nil {
		t.Fatal(err)
	}
	if p.LogEndOffset() != 3 {
		t.Fatalf("log end %d after an answer fetched from 6, want 3 (dropped)", p.LogEndOffset())
	}
	b, _ = record.Build(record.BuildOptions{BaseOffset: 3, PartitionLeaderEpoch: 2}, []record.Record{{Value: []byte("y")}})
	if err := p.appendFetched(gen, 3, b, 7, 0); err != nil || p.LogEndOffset() != 4 {
		t.Fatalf("answer fetched from the log end: %v, log end %d; want 4", err, p.LogEndOffset())
	}
}

// A damaged range cut (on its own goroutine) while the fetcher applies an
// answer fetched from the old log end must not land between the fetcher's
// check that the log still ends there and its append: the answer would be
// appended past a gap, and the follower, its log end past the cut records,
// would never fetch them again. Here the cut comes while the append is
// held up just after that check (writing the partition's metadata, which
// a first append does); whichever order they then take, the log ends up
// cut, with no gap, and the high watermark no higher than its end.
func TestCutDuringAFetchedAppendLeavesNoGap(t *testing.T) {
	t.Parallel()
	p, gen := followerOf(t, 6)

	checked, release := make(chan struct{}), make(chan struct{})
	p.meta.write = func() error {
		close(checked)
		<-release
		return nil
	}
	p.meta.pending.Store(true)
	b, _ := record.Build(record.BuildOptions{BaseOffset: 6, PartitionLeaderEpoch: 2}, []record.Record{{Value: []byte("x")}})
	appended := make(chan error, 1)
	go func() { appended <- p.appendFetched(gen, 6, b, 7, 0) }()
	<-checked
	cut := make(chan error, 1)
	go func() { cut <- p.truncateAsFollower(gen, 3) }()
	// The cut either waits for the append (it must) or, were it let
	// through, finishes first; give it the time to, then let the append
	// go on.
	select {
	case err := <-cut:
		cut <- err
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-appended; err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := <-cut; err != nil {
		t.Fatalf("cut: %v", err)
	}
	if p.LogEndOffset() != 3 || p.HighWatermark() > 3 {
		t.Fatalf("log end %d, high watermark %d after the cut at 3; want 3, at most 3", p.LogEndOffset(), p.HighWatermark())
	}
	data, err := p.Log().Read(0, 1<<20, p.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	next := int64(0)
	if err := record.Batches(data, false, func(h record.Header, _ []byte) error {
		if h.BaseOffset != next {
			return fmt.Errorf("batch at %d, want %d: a gap", h.BaseOffset, next)
		}
		next = h.LastOffset() + 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
