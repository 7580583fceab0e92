package group

// This file fixes the contract of the group coordinator that the broker
// codes against: keep these exported names and their documented behaviour;
// the implementation is free.

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetsTopic is the internal topic that holds group state and offsets.
const OffsetsTopic = "__consumer_offsets"

// Log is how the coordinator reaches the partitions of __consumer_offsets.
// The broker implements it over its local replicas.
type Log interface {
	// Append appends one record batch (magic 2, built with record.Build)
	// to a partition and returns once it is durable (acks=all semantics),
	// with the offset of its first record.
	Append(ctx context.Context, partition int32, batch []byte) (int64, error)
	// Read returns whole batches from offset on, at most about maxBytes,
	// up to the log end offset (not only below the high watermark: a new
	// leader loads everything it has, as Kafka's coordinator does, since
	// its followers will copy it); empty at the end of the log.
	Read(partition int32, offset int64, maxBytes int) ([]byte, error)
	// Bounds returns the log start offset and the log end offset: the
	// range a load replays.
	Bounds(partition int32) (start, end int64, err error)
}

// TopicInfo is what assignment needs to know about a topic.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// Config configures a coordinator. Durations come from Kafka's broker
// configs of the same meaning.
type Config struct {
	// Partitions is offsets.topic.num.partitions.
	Partitions int32
	Log        Log
	Logger     *slog.Logger
	// Now is the wall clock, for commit timestamps and offset expiry; nil is
	// time.Now.
	Now func() time.Time
	// Mono is the monotonic clock that sessions, rebalance and join
	// timeouts and the offset expiry interval are measured on; nil is
	// time.Now. A test that sets it drives the timeouts with Tick.
	Mono func() time.Time

	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	OffsetsRetention      time.Duration // offsets.retention.minutes
	RetentionCheck        time.Duration // offsets.retention.check.interval.ms
	MaxGroupSize          int           // group.max.size
	// OffsetMetadataMaxSize is offset.metadata.max.bytes: the most
	// characters (as Java counts them: UTF-16 code units) a committed
	// offset's metadata may have. Zero is Kafka's default, 4096.
	OffsetMetadataMaxSize int
	// CommitTimeout is offsets.commit.timeout.ms: how long a write to
	// __consumer_offsets may take. Zero is Kafka's default, 5 s.
	CommitTimeout time.Duration
	// Topics lists the cluster's topics, for server-side assignment
	// (KIP-848): subscriptions name topics, assignments carry topic IDs.
	Topics func() []TopicInfo
	// MaxMetadataBytes caps one member's protocol metadata or assignment
	// (Sluice's limit; Kafka bounds it only by the request size).
	MaxMetadataBytes int

	// ConsumerSessionTimeout is group.consumer.session.timeout.ms and
	// ConsumerHeartbeatInterval group.consumer.heartbeat.interval.ms, for
	// KIP-848 groups; zero is Kafka's default (45s and 5s).
	ConsumerSessionTimeout    time.Duration
	ConsumerHeartbeatInterval time.Duration
}

// Coordinator is the group coordinator for the __consumer_offsets
// partitions this broker leads.
type Coordinator struct {
	cfg    Config
	logger *slog.Logger
	now    func() time.Time // wall clock: commit timestamps, retention
	mono   func() time.Time // monotonic: sessions, rebalance timeouts

	mu    sync.RWMutex
	parts map[int32]*partition // the partitions loaded or loading

	timers timers

	// bg runs the appends nobody waits for (a group that became empty,
	// offset expiry); Run cancels and waits for them when it returns.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
	bgMu     sync.Mutex // guards bgClosed and bg.Add against Run's Wait
	bgClosed bool
	cleaning atomic.Bool
}

// New returns a coordinator that owns no partition yet.
func New(cfg Config) *Coordinator { return newCoordinator(cfg) }

// Run drives the coordinator's timers (session expiry, rebalance and
// join timeouts, offset expiry) until ctx ends: it calls Tick whenever the
// earliest deadline comes, as Config.Mono tells.
func (c *Coordinator) Run(ctx context.Context) { c.run(ctx) }

// Tick fires the timeouts due by Config.Mono's now (sessions, join and
// sync timeouts, KIP-394 pending members, KIP-848 member expiry) and
// starts offset expiry in the background when its interval has passed.
// It is safe to call alongside Run; a test with a fake clock advances the
// clock and calls Tick instead of sleeping.
func (c *Coordinator) Tick() { c.tick(c.mono()) }

// PartitionFor is the __consumer_offsets partition of a group: Kafka's
// abs(groupID.hashCode()) % partitions, with Java's String.hashCode.
func (c *Coordinator) PartitionFor(groupID string) int32 {
	return partitionFor(groupID, c.cfg.Partitions)
}

// Load makes this coordinator the owner of a partition: it replays the
// partition to rebuild groups and offsets. Until the replay ends, requests
// for its groups get COORDINATOR_LOAD_IN_PROGRESS; requests for groups of
// partitions never loaded get NOT_COORDINATOR.
func (c *Coordinator) Load(ctx context.Context, partition int32) error {
	return c.load(ctx, partition)
}

// TopicsDeleted removes the committed offsets of deleted topics (by name)
// from every group this coordinator has loaded, writing their tombstones.
// The owner calls it when topics leave the cluster metadata, or are
// replaced by new topics of the same names.
func (c *Coordinator) TopicsDeleted(ctx context.Context, topics map[string]bool) {
	c.topicsDeleted(ctx, topics)
}

// Unload drops a partition's groups (leadership moved away).
func (c *Coordinator) Unload(partition int32) { c.unload(partition) }

// The request handlers. Each takes the decoded request at its version and
// returns the response at the same version. JoinGroup and SyncGroup block
// until the rebalance lets them answer, or ctx ends.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	return c.joinGroup(ctx, req)
}
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	return c.syncGroup(ctx, req)
}
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	return c.heartbeat(ctx, req)
}
func (c *Coordinator) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	return c.leaveGroup(ctx, req)
}
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	return c.offsetCommit(ctx, req)
}
func (c *Coordinator) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	return c.offsetFetch(ctx, req)
}
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	return c.offsetDelete(ctx, req)
}
func (c *Coordinator) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	return c.describeGroups(ctx, req)
}
func (c *Coordinator) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	return c.listGroups(ctx, req)
}
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	return c.deleteGroups(ctx, req)
}
func (c *Coordinator) ConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	return c.consumerGroupHeartbeat(ctx, req)
}
func (c *Coordinator) ConsumerGroupDescribe(ctx context.Context, req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	return c.consumerGroupDescribe(ctx, req)
}

// TxnOffsetCommit stores offsets committed inside a transaction (KIP-98,
// with KIP-447's generation, member ID and instance ID checked as
// OffsetCommit checks them). They are written to __consumer_offsets in a
// transactional batch of the request's producer ID and epoch (no
// sequence) and stay pending, invisible to OffsetFetch, until CompleteTxn
// commits or aborts them; meanwhile OffsetFetch with require_stable
// answers UNSTABLE_OFFSET_COMMIT for those partitions.
func (c *Coordinator) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	return c.txnOffsetCommit(ctx, req)
}

// CompleteTxn applies a transaction marker just written to a
// __consumer_offsets partition this coordinator owns: COMMIT makes the
// producer's pending offsets in that partition committed, ABORT drops
// them. Replaying a partition applies the markers it finds the same way.
func (c *Coordinator) CompleteTxn(partition int32, producerID int64, commit bool, epoch int16) {
	c.completeTxn(partition, producerID, commit, epoch)
}

// TxnEnding tells the coordinator that the producer's transaction marker,
// of producer epoch epoch, is about to be written to a __consumer_offsets
// partition it owns: it drops the producer's verification guard there
// (unless the guard is for the transaction after this one), so a
// TxnOffsetCommit verified before the transaction ended is refused
// (KIP-890), and returns once the offset writes that passed the check are
// durable, ahead of the marker. CompleteTxn drops the guard too, for a
// marker written without TxnEnding.
func (c *Coordinator) TxnEnding(partition int32, producerID int64, epoch int16) {
	c.txnEnding(partition, producerID, epoch)
}
