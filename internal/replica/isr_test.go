package replica

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
)

// testLogConfig is the log config of a topic with every default.
func testLogConfig(t testing.TB) log.Config {
	t.Helper()
	b, err := config.NewBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := config.ResolveTopic(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return LogConfig(tc)
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// leaderFixture is a partition led by broker 1 with a real log, whose
// AlterPartition proposals are recorded instead of sent.
type leaderFixture struct {
	t         *testing.T
	p         *Partition
	clock     *testClock
	mu        sync.Mutex
	proposals []cluster.AlterPartition
	seqs      []uint64
}

func newLeaderFixture(t *testing.T, replicas, isr []int32) *leaderFixture {
	t.Helper()
	l, err := log.Open(filepath.Join(t.TempDir(), "t-0"), testLogConfig(t), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &leaderFixture{t: t, clock: &testClock{t: time.Unix(1000, 0)}}
	part := cluster.Partition{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: replicas, ISR: isr}
	f.p = newPartition("t", cluster.TopicID{1}, 0, l, 1, part)
	f.p.now = f.clock.now
	f.p.lagMaxMs.Store(30000)
	f.p.alter = func(_ *Partition, cmd cluster.AlterPartition, seq uint64) {
		f.mu.Lock()
		f.proposals = append(f.proposals, cmd)
		f.seqs = append(f.seqs, seq)
		f.mu.Unlock()
	}
	change, err := f.p.applyRole(roleOf(&part), f.clock.now())
	if err != nil || change != roleLeader {
		t.Fatalf("applyRole: %v, %v", change, err)
	}
	return f
}

// produce appends n one-record batches as leader and fsyncs them, so
// that the leader's own log holds the high watermark back no more
// (maybeAdvanceHWLocked).
func (f *leaderFixture) produce(n int) {
	f.t.Helper()
	for range n {
		b, err := record.Build(record.BuildOptions{}, []record.Record{{Value: []byte("v")}})
		if err != nil {
			f.t.Fatal(err)
		}
		h, _ := record.Validate(b)
		if _, err := f.p.Append(b, h); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := f.p.WaitDurable(context.Background(), f.p.LogEndOffset()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *leaderFixture) fetched(replica int32, offset int64) {
	f.t.Helper()
	if err := f.p.FollowerFetched(replica, 0, offset, 0, f.clock.now()); err != nil {
		f.t.Fatalf("FollowerFetched(%d, %d): %v", replica, offset, err)
	}
}

func (f *leaderFixture) lastProposal() (cluster.AlterPartition, uint64, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.proposals) == 0 {
		return cluster.AlterPartition{}, 0, 0
	}
	return f.proposals[len(f.proposals)-1], f.seqs[len(f.seqs)-1], len(f.proposals)
}

// commit applies the last proposal as the image would.
func (f *leaderFixture) commit() {
	f.t.Helper()
	cmd, _, n := f.lastProposal()
	if n == 0 {
		f.t.Fatal("nothing proposed")
	}
	r := role{leader: 1, leaderEpoch: cmd.LeaderEpoch, partitionEpoch: cmd.PartitionEpoch + 1, replicas: f.p.replicas, isr: cmd.ISR}
	if change, err := f.p.applyRole(r, f.clock.now()); err != nil || change != roleSame {
		f.t.Fatalf("applyRole(committed ISR): %v, %v", change, err)
	}
}

func (f *leaderFixture) wantHW(want int64) {
	f.t.Helper()
	if got := f.p.HighWatermark(); got != want {
		f.t.Fatalf("high watermark %d, want %d", got, want)
	}
}

// On a single replica the high watermark is the log end offset after every
// append, as before replication.
func TestSingleReplicaHighWatermarkIsTheLogEnd(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1}, []int32{1})
	f.wantHW(0)
	f.produce(3)
	f.wantHW(3)
	if _, _, n := f.lastProposal(); n != 0 {
		t.Fatalf("%d proposals on a single replica", n)
	}
}

// The high watermark is the smallest log end offset over the ISR, and
// holds while a follower's progress is unknown.
func TestHighWatermarkIsMinimumOverISR(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2, 3}, []int32{1, 2, 3})
	f.produce(5)
	f.wantHW(0)
	f.fetched(2, 5)
	f.wantHW(0) // 3 has not fetched yet
	f.fetched(3, 3)
	f.wantHW(3)
	f.fetched(3, 5)
	f.wantHW(5)
	// Never back.
	f.fetched(3, 4)
	f.wantHW(5)
	// A fetch past the leader's end (the read answers out of range)
	// records nothing.
	f.fetched(2, 9)
	f.produce(1)
	f.fetched(3, 6)
	f.wantHW(5)
}

// Kafka's Replica.updateFetchState: a follower is caught up when it fetches
// at the leader's log end offset, or at the end the leader had when it last
// fetched; the ISR loses a follower not caught up for
// replica.lag.time.max.ms.
func TestShrinkISRRemovesLaggingFollowers(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2, 3}, []int32{1, 2, 3})
	f.p.lagMaxMs.Store(10000)
	f.produce(4)
	f.fetched(2, 4) // caught up now
	f.fetched(3, 2) // behind
	f.clock.advance(6 * time.Second)
	if out := f.p.ShrinkISR(f.clock.now()); out != nil {
		t.Fatalf("shrank %v within the lag time", out)
	}
	// 3 fetches at the end the leader had at its previous fetch: caught
	// up as of that previous fetch (t=0), not now.
	f.produce(2)
	f.fetched(3, 4)
	f.fetched(2, 6)
	f.clock.advance(6 * time.Second) // t=12
	out := f.p.ShrinkISR(f.clock.now())
	if !slices.Equal(out, []int32{3}) {
		t.Fatalf("ShrinkISR = %v, want [3]", out)
	}
	cmd, _, _ := f.lastProposal()
	if !slices.Equal(cmd.ISR, []int32{1, 2}) || cmd.LeaderEpoch != 1 || cmd.PartitionEpoch != 1 || cmd.Leader != 1 {
		t.Fatalf("proposal %+v", cmd)
	}
	// KIP-497: until the shrink commits, 3 still holds the high watermark.
	f.wantHW(4)
	if f.p.ShrinkISR(f.clock.now()) != nil {
		t.Fatal("a second change proposed while one is in flight")
	}
	f.commit()
	f.wantHW(6)
	if !slices.Equal(f.p.ISR(), []int32{1, 2}) {
		t.Fatalf("ISR %v after commit", f.p.ISR())
	}
}

// A follower at the leader's log end offset is never out of sync, however
// long ago it last caught up.
func TestFollowerAtLogEndStaysInSync(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2}, []int32{1, 2})
	f.fetched(2, 0)
	f.clock.advance(time.Hour)
	if out := f.p.ShrinkISR(f.clock.now()); out != nil {
		t.Fatalf("shrank %v", out)
	}
}

// A follower outside the ISR is proposed into it once its log end offset
// reaches the high watermark and the start of the leader's epoch; while the
// expansion is in flight it already counts for the high watermark (the
// maximal ISR of KIP-497).
func TestExpandISRWhenCaughtUp(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2, 3}, []int32{1, 2})
	f.produce(4)
	f.fetched(2, 4)
	f.wantHW(4)
	f.fetched(3, 2)
	if _, _, n := f.lastProposal(); n != 0 {
		t.Fatal("proposed a follower below the high watermark")
	}
	f.produce(2)
	f.fetched(3, 4) // at the high watermark
	cmd, _, n := f.lastProposal()
	if n != 1 || !slices.Equal(cmd.ISR, []int32{1, 2, 3}) {
		t.Fatalf("proposals %d, last %+v", n, cmd)
	}
	if !slices.Equal(f.p.PendingISR(), []int32{1, 2, 3}) {
		t.Fatalf("pending %v", f.p.PendingISR())
	}
	f.fetched(2, 6)
	f.wantHW(4) // 3 counts already
	f.fetched(3, 6)
	f.wantHW(6)
	f.commit()
	if !slices.Equal(f.p.ISR(), []int32{1, 2, 3}) || f.p.PendingISR() != nil {
		t.Fatalf("ISR %v pending %v after commit", f.p.ISR(), f.p.PendingISR())
	}
}

// A refused AlterPartition ends the pending change; the leader proposes
// again only after a pause.
func TestRefusedAlterPartitionIsRetriedLater(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2}, []int32{1})
	f.fetched(2, 0)
	_, seq, n := f.lastProposal()
	if n != 1 {
		t.Fatalf("%d proposals", n)
	}
	f.p.alterFailed(seq, f.clock.now().Add(time.Second))
	if f.p.PendingISR() != nil {
		t.Fatal("still pending after the refusal")
	}
	f.fetched(2, 0)
	if _, _, n := f.lastProposal(); n != 1 {
		t.Fatal("proposed again at once")
	}
	f.clock.advance(2 * time.Second)
	f.fetched(2, 0)
	if _, _, n := f.lastProposal(); n != 2 {
		t.Fatal("not proposed again after the pause")
	}
}

// A refused change may be proposed again as soon as the image brings the
// partition a newer epoch, without the pause: the refusal was for the old
// one.
func TestRefusedAlterPartitionIsRetriedOnANewerPartitionEpoch(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2, 3}, []int32{1, 2})
	f.fetched(3, 0)
	_, seq, n := f.lastProposal()
	if n != 1 {
		t.Fatalf("%d proposals", n)
	}
	f.p.alterFailed(seq, f.clock.now().Add(time.Second))
	f.fetched(3, 0)
	if _, _, n := f.lastProposal(); n != 1 {
		t.Fatal("proposed again at once")
	}
	// Another change (broker 2 left and came back, say) moved the
	// partition epoch on.
	r := role{leader: 1, leaderEpoch: 1, partitionEpoch: 3, replicas: []int32{1, 2, 3}, isr: []int32{1, 2}}
	if change, err := f.p.applyRole(r, f.clock.now()); err != nil || change != roleSame {
		t.Fatalf("applyRole: %v, %v", change, err)
	}
	f.fetched(3, 0)
	cmd, _, n := f.lastProposal()
	if n != 2 || cmd.PartitionEpoch != 3 || !slices.Equal(cmd.ISR, []int32{1, 2, 3}) {
		t.Fatalf("%d proposals, last %+v: want broker 3 proposed again at partition epoch 3", n, cmd)
	}
}

// Kafka's isFollowerInSync: a follower joins only once it has reached the
// start offset of the leader's current epoch.
func TestExpandNeedsTheLeaderEpochStart(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2}, []int32{1})
	f.produce(3)
	// Lead again at epoch 2: the epoch starts at 3.
	r := role{leader: 1, leaderEpoch: 2, partitionEpoch: 2, replicas: []int32{1, 2}, isr: []int32{1}}
	if change, err := f.p.applyRole(r, f.clock.now()); err != nil || change != roleLeaderEpoch {
		t.Fatalf("applyRole: %v %v", change, err)
	}
	f.wantHW(3)
	f.fetched(2, 3)
	cmd, _, n := f.lastProposal()
	if n != 1 || cmd.LeaderEpoch != 2 || cmd.PartitionEpoch != 2 {
		t.Fatalf("proposals %d last %+v", n, cmd)
	}
	if e, end := f.p.Log().EndOffsetForEpoch(2); e != 2 || end != 3 {
		t.Fatalf("epoch 2 in the cache: %d, %d", e, end)
	}
}

// acks=all: NOT_ENOUGH_REPLICAS before the append, then the wait ends when
// the high watermark passes the batch, with
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
// min.insync.replicas, or NOT_LEADER_OR_FOLLOWER when leadership moved.
func TestWaitReplicated(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2, 3}, []int32{1, 2})
	b, _ := record.Build(record.BuildOptions{}, []record.Record{{Value: []byte("v")}})
	h, _ := record.Validate(b)
	if _, err := f.p.AppendAsLeader(b, h, 3); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("append with min.insync.replicas 3: %v", err)
	}
	if f.p.LogEndOffset() != 0 {
		t.Fatal("appended despite NOT_ENOUGH_REPLICAS")
	}
	info, err := f.p.AppendAsLeader(b, h, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.p.WaitReplicated(ctx, info.LastOffset+1, 1, 2) }()
	select {
	case err := <-done:
		t.Fatalf("returned %v before the follower fetched", err)
	case <-time.After(20 * time.Millisecond):
	}
	f.fetched(2, 1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The ISR shrinks while a write waits.
	f.produce(1)
	go func() { done <- f.p.WaitReplicated(ctx, 2, 1, 2) }()
	f.clock.advance(time.Minute)
	f.p.ShrinkISR(f.clock.now())
	f.commit()
	if err := <-done; !errors.Is(err, ErrNotEnoughReplicasAfterAppend) {
		t.Fatalf("after the shrink: %v", err)
	}

	// Leadership moves while a write waits.
	f.produce(1)
	go func() { done <- f.p.WaitReplicated(ctx, 3, 1, 1) }()
	f.p.applyRole(role{leader: 2, leaderEpoch: 2, partitionEpoch: 3, replicas: []int32{1, 2, 3}, isr: []int32{2}}, f.clock.now())
	if err := <-done; !errors.Is(err, ErrNotLeader) {
		t.Fatalf("after losing leadership: %v", err)
	}
	if _, err := f.p.Append(b, h); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append as follower: %v", err)
	}
	if err := f.p.FollowerFetched(2, 0, 0, 0, f.clock.now()); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("follower fetch at a follower: %v", err)
	}
}

func TestFollowerFetchFromANonReplica(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2}, []int32{1, 2})
	if err := f.p.FollowerFetched(9, 0, 0, 0, f.clock.now()); !errors.Is(err, ErrUnknownReplica) {
		t.Fatalf("fetch by broker 9: %v", err)
	}
}

// A leader that stays leader keeps its high watermark, and a new image
// with an older leader epoch is ignored.
func TestStaleImageIsIgnored(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2}, []int32{1, 2})
	r := role{leader: 2, leaderEpoch: 0, partitionEpoch: 0, replicas: []int32{1, 2}, isr: []int32{1, 2}}
	if change, _ := f.p.applyRole(r, f.clock.now()); change != roleSame || !f.p.IsLeader() {
		t.Fatalf("stale image changed the role: %v", change)
	}
}

// dropIneligibleFollower3 runs a fixture of three caught-up replicas of
// which broker 3 then becomes ineligible (ineligible[3]) and the
// controller takes it out of the ISR while it stops fetching; the high
// watermark moves on without it.
func dropIneligibleFollower3(t *testing.T, ineligible map[int32]bool) *leaderFixture {
	t.Helper()
	f := newLeaderFixture(t, []int32{1, 2, 3}, []int32{1, 2, 3})
	f.p.eligible = func(id int32) bool { return !ineligible[id] }
	f.produce(2)
	f.fetched(2, 2)
	f.fetched(3, 2)
	f.wantHW(2)
	ineligible[3] = true
	r := role{leader: 1, leaderEpoch: 1, partitionEpoch: 2, replicas: []int32{1, 2, 3}, isr: []int32{1, 2}}
	if change, err := f.p.applyRole(r, f.clock.now()); err != nil || change != roleSame {
		f.t.Fatalf("applyRole: %v, %v", change, err)
	}
	f.produce(3)
	f.fetched(2, 5)
	f.wantHW(5)
	return f
}

// A follower the controller took out of the ISR because it is shutting
// down (or fenced) no longer holds the high watermark, however recently it
// was caught up (Kafka's shouldWaitForReplicaToJoinIsr).
func TestIneligibleFollowerDoesNotHoldTheHighWatermark(t *testing.T) {
	t.Parallel()
	dropIneligibleFollower3(t, map[int32]bool{}) // broker 3 shuts down
}

// A follower that was fenced (its broker died) and comes back does not
// hold the high watermark with the caught-up state of its previous life:
// after a restart it may be far behind, and every acks=all write would
// wait until it caught up. It holds the high watermark again once it is
// caught up anew, or in the ISR.
func TestRestartedFollowerDoesNotHoldTheHighWatermarkWithItsOldState(t *testing.T) {
	t.Parallel()
	fenced := map[int32]bool{}
	f := dropIneligibleFollower3(t, fenced) // broker 3 dies: fenced
	// It restarts and is unfenced well within replica.lag.time.max.ms of
	// when it was last caught up, but it has not fetched since.
	fenced[3] = false
	f.produce(2)
	f.fetched(2, 7)
	f.wantHW(7)
}

// KIP-903: an ISR change names the broker epoch of every member as the
// leader knows it, its own and each follower's from its fetches, so the
// controller refuses one naming a start of a broker that is gone; a new
// start of a follower is told the high watermark again at once.
func TestAlterPartitionNamesBrokerEpochs(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2, 3}, []int32{1, 2})
	f.p.brokerEpoch = func() int64 { return 11 }
	f.produce(2)
	fetched := func(replica int32, epoch, offset int64) {
		t.Helper()
		if err := f.p.FollowerFetched(replica, epoch, offset, 0, f.clock.now()); err != nil {
			t.Fatal(err)
		}
	}
	fetched(2, 22, 2)
	fetched(3, 33, 2)
	cmd, _, n := f.lastProposal()
	if n != 1 || !slices.Equal(cmd.ISR, []int32{1, 2, 3}) || !slices.Equal(cmd.BrokerEpochs, []int64{11, 22, 33}) {
		t.Fatalf("proposals %d, last %+v: want ISR [1 2 3] with epochs [11 22 33]", n, cmd)
	}

	f.p.ToldHW(3, 2)
	if f.p.FollowerLacksHW(3, 2) {
		t.Fatal("a follower told the high watermark still lacks it")
	}
	fetched(3, 34, 2) // broker 3 started again
	if !f.p.FollowerLacksHW(3, 2) {
		t.Fatal("a new start of the follower is not told the high watermark again")
	}
}

// min.insync.replicas counts at most the partition's replicas (Kafka's
// effectiveMinIsr): a topic of two replicas with min.insync.replicas=3
// takes acks=all writes while both are in sync.
func TestMinISRIsCappedAtTheReplicaCount(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2}, []int32{1, 2})
	f.p.minISR.Store(3)
	b, _ := record.Build(record.BuildOptions{}, []record.Record{{Value: []byte("v")}})
	h, _ := record.Validate(b)
	info, err := f.p.AppendAsLeader(b, h, 3)
	if err != nil {
		t.Fatalf("acks=all with both replicas in sync and min.insync.replicas 3: %v", err)
	}
	if got := f.p.MinInsyncReplicas(); got != 2 {
		t.Fatalf("MinInsyncReplicas %d, want 2 (capped at the replicas)", got)
	}
	f.fetched(2, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.p.WaitReplicated(ctx, info.LastOffset+1, 1, 3); err != nil {
		t.Fatalf("wait: %v", err)
	}
}

// The high watermark stays while the committed ISR is smaller than
// min.insync.replicas (Kafka's maybeIncrementLeaderHW): acks=1 records are
// not committed then, and rise to consumers only once the ISR grows back
// or min.insync.replicas is lowered.
func TestHighWatermarkHoldsUnderMinISR(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2, 3}, []int32{1})
	f.p.minISR.Store(2)
	f.produce(3)
	if got := f.p.HighWatermark(); got != 0 {
		t.Fatalf("high watermark %d with ISR [1] under min.insync.replicas 2, want 0", got)
	}
	f.fetched(2, 3)
	if got := f.p.HighWatermark(); got != 0 {
		t.Fatalf("high watermark %d before follower 2 joined the ISR, want 0", got)
	}
	f.p.updateISR(role{leader: 1, leaderEpoch: 1, partitionEpoch: 2, replicas: []int32{1, 2, 3}, isr: []int32{1, 2}}, f.clock.now())
	if got := f.p.HighWatermark(); got != 3 {
		t.Fatalf("high watermark %d once the ISR is [1 2], want 3", got)
	}
	// Back under: min.insync.replicas 3 holds the next record, and
	// lowering it lets the high watermark rise at once.
	f.p.setMinISR(3, f.clock.now())
	f.produce(1)
	f.fetched(2, 4)
	if got := f.p.HighWatermark(); got != 3 {
		t.Fatalf("high watermark %d with ISR [1 2] under min.insync.replicas 3, want 3", got)
	}
	f.p.setMinISR(2, f.clock.now())
	if got := f.p.HighWatermark(); got != 4 {
		t.Fatalf("high watermark %d once min.insync.replicas is 2, want 4", got)
	}
}

// A replicated partition's high watermark waits for the leader's own
// fsync too, which the leader asks for itself when acks=1 appends leave
// it behind its followers: every record below the high watermark is on
// the disk of every ISR member, the leader included.
func TestHighWatermarkWaitsForTheLeadersSync(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2}, []int32{1, 2})
	for range 3 {
		b, _ := record.Build(record.BuildOptions{}, []record.Record{{Value: []byte("v")}})
		h, _ := record.Validate(b)
		if _, err := f.p.Append(b, h); err != nil {
			t.Fatal(err)
		}
	}
	f.fetched(2, 3)
	if hw, durable := f.p.HighWatermark(), f.p.Log().DurableOffset(); hw > durable {
		t.Fatalf("high watermark %d past the leader's fsynced end %d", hw, durable)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.p.HighWatermark() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("high watermark %d, want 3 once the leader's own sync ends", f.p.HighWatermark())
		}
		time.Sleep(time.Millisecond)
	}
}

// An acks=all write's sync counts as asked: a follower's fetch while it
// runs asks for no second sync of the same records (with a fetch 20 µs
// after the append, 200 writes took 355 rounds before).
func TestAcksAllSyncCountsAsAsked(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2}, []int32{1, 2})
	b, _ := record.Build(record.BuildOptions{}, []record.Record{{Value: []byte("v")}})
	h, _ := record.Validate(b)
	if _, err := f.p.AppendAsLeader(b, h, 2); err != nil {
		t.Fatal(err)
	}
	f.p.ExpectWaitDurable()
	if got := f.p.syncAsked.Load(); got != 1 {
		t.Fatalf("sync asked up to %d after an acks=all append, want 1", got)
	}
	f.p.StartSyncs()
	if err := f.p.WaitDurable(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
}
