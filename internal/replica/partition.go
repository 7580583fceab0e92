package replica

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
)

// Errors of the replication paths. The broker maps them to Kafka codes.
var (
	// ErrNotLeader: this broker does not lead the partition
	// (NOT_LEADER_OR_FOLLOWER).
	ErrNotLeader = errors.New("replica: this broker is not the partition's leader")
	// ErrNotEnoughReplicas: an acks=all write found fewer in-sync replicas
	// than min.insync.replicas and appended nothing (NOT_ENOUGH_REPLICAS).
	ErrNotEnoughReplicas = errors.New("replica: fewer in-sync replicas than min.insync.replicas")
	// ErrNotEnoughReplicasAfterAppend: an acks=all write was appended, but
	// the ISR fell below min.insync.replicas before it was replicated
	// (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
	ErrNotEnoughReplicasAfterAppend = errors.New("replica: the ISR fell below min.insync.replicas after the append")
	// ErrUnknownReplica: a follower fetch from a broker that is not a
	// replica of the partition.
	ErrUnknownReplica = errors.New("replica: fetch from a broker that is not a replica")
)

// Partition is one hosted partition: its log, its role (leader or
// follower), and as leader what each follower has fetched.
//
// Locks, in the order they nest:
//
//	roleMu   appends (leader and follower) hold it read-locked; a role
//	         change holds it write-locked, so no append of the old role
//	         lands after the change.
//	followMu a follower's writes to its log (asFollower: fetched appends,
//	         truncations, cuts of a damaged range), one at a time.
//	stateMu  the replication state: role, ISR, pending AlterPartition,
//	         follower progress.
//	mu       the notification channels and watchers; nothing is acquired
//	         under it but a Watcher's own lock, in Notify.
type Partition struct {
	Topic   string
	TopicID cluster.TopicID
	Index   int32

	log    *log.Log
	nodeID int32
	now    func() time.Time
	// countedDir is the log directory the Manager counts the partition
	// in; guarded by the Manager's mu.
	countedDir string
	// stats are the Manager's counters (stats.go); nil in tests.
	stats *Stats

	hw          atomic.Int64
	leaderEpoch atomic.Int32
	leading     atomic.Bool
	minISR      atomic.Int32
	lagMaxMs    atomic.Int64 // replica.lag.time.max.ms
	// throttled holds the throttle bits of this broker's replica
	// (throttle.go), set at each Reconcile.
	throttled atomic.Uint32

	roleMu sync.RWMutex
	// followMu makes each follower write whole: a fetched answer is
	// appended only if the log still ends where it was fetched from, and
	// a cut of a damaged range on another goroutine must not land between
	// that check and the append (the answer would be appended past a gap).
	followMu sync.Mutex

	stateMu        sync.Mutex
	leaderID       int32 // as the image says; -1 for none
	replicas       []int32
	isr            []int32 // the committed ISR
	partitionEpoch int32
	// Leader only.
	followers  map[int32]*follower
	epochStart int64      // log end offset when this leader epoch began
	pending    *isrChange // AlterPartition in flight
	pendingSeq uint64
	alterAfter time.Time // no AlterPartition before this (after a refusal)
	// syncAsked is the log end offset up to which a sync was asked, for
	// the high watermark (maybeAdvanceHWLocked) or by an acks=all write
	// (ExpectWaitDurable): a follower's fetch during that sync asks for
	// no second one.
	syncAsked atomic.Int64
	// alter sends an AlterPartition; the Manager answers through
	// alterFailed. Nil sends nothing.
	alter func(p *Partition, cmd cluster.AlterPartition, seq uint64)
	// eligible reports whether a broker may join an ISR (registered, not
	// fenced, not shutting down); nil allows every one.
	eligible func(id int32) bool
	// brokerEpoch is this start's broker epoch (Config.BrokerEpoch); nil
	// is zero.
	brokerEpoch func() int64
	// meta is the partition.metadata left for the first append
	// (lazy_metadata.go).
	meta metadataWriter
	// Follower only: bumped when the leader or the epoch followed changes,
	// so a fetcher's work for an older one is dropped.
	fetchGen uint64

	mu        sync.Mutex
	notify    chan struct{} // closed and replaced when the HW, role or ISR changes
	leoNotify chan struct{} // closed and replaced when the log end offset moves
	leoWaited bool          // someone holds leoNotify
	// Watchers registered with Watch: told of what closes notify
	// (changed) or leoNotify (appended).
	changedWatchers  map[Watcher]struct{}
	appendedWatchers map[Watcher]struct{}
}

// follower is the leader's view of one follower (Kafka's Replica state).
type follower struct {
	leo                int64 // -1 until it fetches
	logStart           int64
	lastCaughtUp       time.Time
	lastFetch          time.Time
	lastFetchLeaderLEO int64 // the leader's log end offset at its previous fetch
	toldHW             int64 // the highest high watermark its fetches were answered with
	brokerEpoch        int64 // the broker epoch its fetches carry; 0 until one does
}

// caughtUp is Kafka's isCaughtUp: at the leader's log end offset, or caught
// up within the last lagMax.
func (f *follower) caughtUp(leaderLEO int64, now time.Time, lagMax time.Duration) bool {
	return f.leo == leaderLEO || now.Sub(f.lastCaughtUp) <= lagMax
}

// isrChange is an AlterPartition in flight. Until it commits, the high
// watermark uses maximal, the union of the old and the new ISR (KIP-497):
// a replica being added counts at once, one being removed until the change
// commits.
type isrChange struct {
	isr     []int32
	maximal []int32
	seq     uint64
}

func newPartition(topic string, id cluster.TopicID, index int32, l *log.Log, nodeID int32, part cluster.Partition) *Partition {
	p := &Partition{Topic: topic, TopicID: id, Index: index, log: l, nodeID: nodeID, now: time.Now,
		notify: make(chan struct{}), leoNotify: make(chan struct{}), leaderID: -1}
	// With no high watermark checkpoint, a partition replicated elsewhere
	// starts at its log start offset: as leader it rises once the ISR has
	// fetched, as follower it comes from the leader. A partition with no
	// other replica has its end committed.
	if len(part.Replicas) <= 1 {
		p.hw.Store(l.LogEndOffset())
	} else {
		p.hw.Store(l.LogStartOffset())
	}
	l.HighWatermarkMoved(p.hw.Load())
	l.OnDurable(p.durableMoved)
	p.leaderEpoch.Store(part.LeaderEpoch)
	p.minISR.Store(1)
	p.lagMaxMs.Store(30000)
	return p
}

// Log is the partition's log.
func (p *Partition) Log() *log.Log { return p.log }

// LeaderEpoch is the partition's current leader epoch.
func (p *Partition) LeaderEpoch() int32 { return p.leaderEpoch.Load() }

// IsLeader reports whether this broker leads the partition.
func (p *Partition) IsLeader() bool { return p.leading.Load() }

// Leader is the leader's broker ID as the image says, -1 for none.
func (p *Partition) Leader() int32 {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	return p.leaderID
}

// ISR is the committed in-sync replica set as this broker knows it.
func (p *Partition) ISR() []int32 {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	return slices.Clone(p.isr)
}

// HighWatermark is the offset below which records are visible to consumers.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// EpochStartOffset is, on the leader, the log end offset when its leader
// epoch began; -1 on a follower. Until the high watermark reaches it, the
// leader does not know the high watermark its predecessor had reached.
func (p *Partition) EpochStartOffset() int64 {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	if !p.leading.Load() {
		return -1
	}
	return p.epochStart
}

// LogStartOffset is the first offset in the log.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// LogEndOffset is the offset the next record will get.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// Append appends one validated batch as leader, stamping the current
// leader epoch, and advances the high watermark as far as the ISR allows.
func (p *Partition) Append(batch []byte, h record.Header) (log.AppendInfo, error) {
	a, err := p.AppendAsLeader(batch, h, 0)
	return a.AppendInfo, err
}

// Appended is what AppendAsLeader wrote, and at which leader epoch: a
// wait for replication (WaitReplicated) holds only while that epoch lasts.
type Appended struct {
	log.AppendInfo
	LeaderEpoch int32
}

// AppendAsLeader is Append for a write that needs minISR in-sync replicas
// (acks=all): with fewer in the committed ISR nothing is appended and the
// error is ErrNotEnoughReplicas. minISR 0 checks nothing. A broker that
// does not lead the partition answers ErrNotLeader. A duplicate batch
// comes back as log.Append returns it, with its original offsets and
// log.ErrDuplicateSequence.
func (p *Partition) AppendAsLeader(batch []byte, h record.Header, minISR int) (Appended, error) {
	return p.appendAsLeader(minISR, func(epoch int32) (log.AppendInfo, error) {
		return p.log.Append(batch, h, epoch)
	})
}

// AppendAsLeaderVerified is AppendAsLeader for a transactional batch
// verified with its coordinator: a batch that would open a transaction
// needs guard, taken with StartVerification before the coordinator
// answered and not taken back by a marker since (log.AppendVerified).
func (p *Partition) AppendAsLeaderVerified(batch []byte, h record.Header, minISR int, guard *log.VerificationGuard) (Appended, error) {
	return p.appendAsLeader(minISR, func(epoch int32) (log.AppendInfo, error) {
		return p.log.AppendVerified(batch, h, epoch, guard)
	})
}

// appendAsLeader runs one leader append under the role lock.
func (p *Partition) appendAsLeader(minISR int, appendAt func(epoch int32) (log.AppendInfo, error)) (Appended, error) {
	p.roleMu.RLock()
	defer p.roleMu.RUnlock()
	if !p.leading.Load() {
		return Appended{}, ErrNotLeader
	}
	if minISR > 0 {
		p.stateMu.Lock()
		under := len(p.isr) < p.effectiveMinISRLocked(minISR)
		p.stateMu.Unlock()
		if under {
			return Appended{}, ErrNotEnoughReplicas
		}
	}
	if err := p.ensureMetadata(); err != nil {
		return Appended{}, err
	}
	// The epoch cannot change while roleMu is held.
	epoch := p.leaderEpoch.Load()
	info, err := appendAt(epoch)
	a := Appended{AppendInfo: info, LeaderEpoch: epoch}
	if err != nil {
		return a, err
	}
	p.stateMu.Lock()
	p.maybeAdvanceHWLocked(p.now())
	p.stateMu.Unlock()
	p.wakeLEO()
	return a, nil
}

// advance moves the high watermark up to hw (never down) and wakes its
// waiters. The log hears of it first, so that a woken reader finds the
// last stable offset moved with it.
func (p *Partition) advance(hw int64) {
	p.log.HighWatermarkMoved(hw)
	p.mu.Lock()
	if hw > p.hw.Load() {
		p.hw.Store(hw)
		close(p.notify)
		p.notify = make(chan struct{})
		p.notifyLocked(p.changedWatchers)
	}
	p.mu.Unlock()
}

// setHW sets a follower's high watermark, which may go down after a
// truncation.
func (p *Partition) setHW(hw int64) {
	p.log.HighWatermarkMoved(hw)
	p.mu.Lock()
	if hw != p.hw.Load() {
		p.hw.Store(hw)
		close(p.notify)
		p.notify = make(chan struct{})
		p.notifyLocked(p.changedWatchers)
	}
	p.mu.Unlock()
}

// wake wakes every waiter: the role, the ISR or the log changed.
func (p *Partition) wake() {
	p.mu.Lock()
	close(p.notify)
	p.notify = make(chan struct{})
	if p.leoWaited {
		close(p.leoNotify)
		p.leoNotify = make(chan struct{})
		p.leoWaited = false
	}
	p.notifyLocked(p.changedWatchers)
	p.notifyLocked(p.appendedWatchers)
	p.mu.Unlock()
}

// wakeLEO wakes waiters for new records (follower fetches).
func (p *Partition) wakeLEO() {
	p.mu.Lock()
	if p.leoWaited {
		close(p.leoNotify)
		p.leoNotify = make(chan struct{})
		p.leoWaited = false
	}
	p.notifyLocked(p.appendedWatchers)
	p.mu.Unlock()
}

// A Watcher is told when a partition it watches changes, so one waiter
// can wait on thousands of partitions (a fetch session) without selecting
// on each partition's channel. Notify runs with the partition's
// notification lock held: it must be quick, must not block, and must not
// call back into the partition.
type Watcher interface {
	Notify(p *Partition)
}

// Watch registers w until Unwatch: with appended false, w is told whenever
// Changed's channel would close (high watermark, role, ISR); with appended
// true, whenever Appended's would (log end offset, role). As with the
// channels, read after Watch so that no change is missed.
func (p *Partition) Watch(w Watcher, appended bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := &p.changedWatchers
	if appended {
		m = &p.appendedWatchers
	}
	if *m == nil {
		*m = make(map[Watcher]struct{})
	}
	(*m)[w] = struct{}{}
}

// Unwatch removes w registered by Watch.
func (p *Partition) Unwatch(w Watcher) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.changedWatchers, w)
	delete(p.appendedWatchers, w)
}

// notifyLocked tells watchers of a change; p.mu is held.
func (p *Partition) notifyLocked(watchers map[Watcher]struct{}) {
	for w := range watchers {
		w.Notify(p)
	}
}

// Changed returns a channel closed when the high watermark next moves, or
// the partition's role or ISR changes.
func (p *Partition) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notify
}

// Appended returns a channel closed when the log end offset next moves or
// the role changes: what a follower's fetch waits for.
func (p *Partition) Appended() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leoWaited = true
	return p.leoNotify
}

// LastStableOffset is the offset below which every transaction is decided
// (committed or aborted) and its marker replicated: the lower of the high
// watermark and the first offset of the oldest transaction open or with
// its marker at or above the high watermark. read_committed consumers
// read below it. It moves with the high watermark, as Kafka's does.
func (p *Partition) LastStableOffset() int64 {
	return min(p.hw.Load(), p.log.FirstUnstableOffset())
}

// ReadCommitted is ReadInto bounded by the last stable offset instead of
// the high watermark (read_committed), with the offset it was bounded by.
func (p *Partition) ReadCommitted(buf []byte, offset int64, maxBytes int) ([]byte, int64, error) {
	lso := p.LastStableOffset()
	b, err := p.log.ReadInto(buf, offset, maxBytes, lso)
	return b, lso, err
}

// AppendMarker writes a transaction marker as leader (WriteTxnMarkers),
// with AppendAsLeader's ISR check and leader epoch.
func (p *Partition) AppendMarker(m log.Marker, minISR int) (Appended, error) {
	return p.appendAsLeader(minISR, func(epoch int32) (log.AppendInfo, error) {
		return p.log.AppendMarker(m, epoch)
	})
}

// Read returns batches from offset, never past the high watermark.
func (p *Partition) Read(offset int64, maxBytes int) ([]byte, error) {
	return p.log.Read(offset, maxBytes, p.hw.Load())
}

// ReadInto is Read into buf's memory when it is large enough.
func (p *Partition) ReadInto(buf []byte, offset int64, maxBytes int) ([]byte, error) {
	return p.log.ReadInto(buf, offset, maxBytes, p.hw.Load())
}

// ReadToEnd is Read up to the log end offset rather than the high
// watermark: for followers, and for a new leader loading its own state.
func (p *Partition) ReadToEnd(buf []byte, offset int64, maxBytes int) ([]byte, error) {
	return p.log.ReadInto(buf, offset, maxBytes, math.MaxInt64)
}

// WaitDurable waits until everything below offset is fsynced.
func (p *Partition) WaitDurable(ctx context.Context, offset int64) error {
	return p.log.WaitDurable(ctx, offset)
}

// ExpectWaitDurable says that a WaitDurable for what was just appended
// follows, so that a sync of the log directory starting before it covers
// this partition too (log.Log.ExpectWait).
func (p *Partition) ExpectWaitDurable() {
	p.log.ExpectWait()
	for end := p.log.LogEndOffset(); ; {
		cur := p.syncAsked.Load()
		if end <= cur || p.syncAsked.CompareAndSwap(cur, end) {
			return
		}
	}
}

// StartSyncs starts the sync ExpectWaitDurable announced, if none runs in
// the partition's log directory (log.Log.StartSync): called after
// announcing every partition of a request, so that one sync covers them.
func (p *Partition) StartSyncs() { p.log.StartSync() }

// WaitReplicated waits, for an acks=all write whose records end before end
// and that was appended at leader epoch epoch, until the high watermark
// reaches end (Kafka's DelayedProduce). Once it has, the write succeeded if
// the maximal ISR still holds minISR replicas, else it fails with
// ErrNotEnoughReplicasAfterAppend (Kafka's checkEnoughReplicasReachOffset).
// It fails with ErrNotLeader when this broker stops leading or the epoch
// changes, and with ctx's error when ctx ends first.
func (p *Partition) WaitReplicated(ctx context.Context, end int64, epoch int32, minISR int) error {
	for {
		ch := p.Changed()
		if !p.leading.Load() || p.leaderEpoch.Load() != epoch {
			return ErrNotLeader
		}
		if p.hw.Load() >= end {
			p.stateMu.Lock()
			under := len(p.maximalISRLocked()) < p.effectiveMinISRLocked(minISR)
			p.stateMu.Unlock()
			if under {
				return ErrNotEnoughReplicasAfterAppend
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// MinInsyncReplicas is the topic's min.insync.replicas as last reconciled,
// capped at the partition's replica count (effectiveMinISRLocked).
func (p *Partition) MinInsyncReplicas() int {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	return p.effectiveMinISRLocked(int(p.minISR.Load()))
}

// effectiveMinISRLocked is minISR capped at the partition's replica count,
// as Kafka's effectiveMinIsr (KAFKA-15583): a topic asking for more
// in-sync replicas than it has is satisfied by all of them, so a
// cluster-wide min.insync.replicas=2 does not refuse every acks=all write
// to a topic of one replica. The caller holds stateMu.
func (p *Partition) effectiveMinISRLocked(minISR int) int {
	return min(minISR, max(len(p.replicas), 1))
}
