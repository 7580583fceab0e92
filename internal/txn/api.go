package txn

// This file fixes the contract of the transaction coordinator that the
// broker codes against: keep these exported names and their documented
// behaviour; the implementation is free.

import (
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// StateTopic is the internal topic that holds transaction state.
const StateTopic = "__transaction_state"

// Log is how the coordinator reaches the partitions of __transaction_state
// that this broker leads. The broker implements it over its replicas, as
// for __consumer_offsets.
type Log interface {
	// Append appends one record batch to a partition and returns once
	// every in-sync replica has it and it is durable (acks=all), with the
	// offset of its first record.
	Append(ctx context.Context, partition int32, batch []byte) (int64, error)
	// Read returns whole batches from offset on, at most about maxBytes,
	// up to the log end; empty at the end of the log.
	Read(partition int32, offset int64, maxBytes int) ([]byte, error)
	// Bounds returns the log start offset and the log end offset.
	Bounds(partition int32) (start, end int64, err error)
}

// MarkerRequest asks for COMMIT or ABORT markers for one producer in the
// partitions of its transaction.
type MarkerRequest struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	// Partitions of the transaction, by topic (including the
	// __consumer_offsets partitions of AddOffsetsToTxn).
	Partitions map[string][]int32
}

// Markers writes transaction markers to the leaders of partitions (locally
// or with WriteTxnMarkers to other brokers).
type Markers interface {
	// Write returns once every partition of r has its marker, retrying
	// across leader changes and unavailable leaders until ctx ends. A
	// partition of a deleted topic counts as done. An error means some
	// markers may be missing; the coordinator retries the whole request
	// (markers are idempotent per producer epoch for the partition),
	// unless the error is INVALID_PRODUCER_EPOCH, PRODUCER_FENCED or
	// TRANSACTION_COORDINATOR_FENCED (errors.Is): a newer producer epoch
	// or coordinator owns the transaction, and the coordinator stops
	// sending its markers until the partition is loaded again.
	Write(ctx context.Context, r MarkerRequest) error
}

// Config configures a transaction coordinator. Durations come from Kafka's
// broker configs of the same meaning.
type Config struct {
	// Partitions is transaction.state.log.num.partitions (default 50).
	Partitions int32
	Log        Log
	Markers    Markers
	// ProducerIDs hands out new producer IDs.
	ProducerIDs *ProducerIDs
	// GroupPartition maps a group ID to its __consumer_offsets partition
	// (AddOffsetsToTxn adds that partition to the transaction).
	GroupPartition func(groupID string) int32
	// PartitionExists reports whether a partition exists in the
	// cluster's metadata; AddPartitionsToTxn answers
	// UNKNOWN_TOPIC_OR_PARTITION for those that do not (and
	// OPERATION_NOT_ATTEMPTED for the rest). Nil takes every partition
	// as existing.
	PartitionExists func(topic string, partition int32) bool
	Logger          *slog.Logger
	// SessionExpiry, when set, is when this broker's session with the
	// controller may end (cluster.Node.SessionExpiry): past it the
	// controller may have fenced the broker and given its
	// __transaction_state partitions to others, so the coordinator answers
	// NOT_COORDINATOR and gives up the writes it waits for, which the
	// partition's followers are no longer copying. bounded false: no
	// session to lose. Nil: the broker's leaderships never lapse.
	SessionExpiry func() (expiry time.Time, bounded bool)
	// Now is the clock for every timeout and timestamp of the coordinator;
	// nil is time.Now. Tests pass a fake one and call Tick.
	Now func() time.Time

	MaxTimeout         time.Duration // transaction.max.timeout.ms (15 min)
	IDExpiration       time.Duration // transactional.id.expiration.ms (7 days)
	AbortTimedOutEvery time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms (10 s)
	RemoveExpiredEvery time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms (1 h)
}

// Coordinator is the transaction coordinator for the __transaction_state
// partitions this broker leads.
type Coordinator struct{ c *coordinator }

// New returns a coordinator that owns no partition yet.
func New(cfg Config) *Coordinator { return &Coordinator{newCoordinator(cfg)} }

// Run calls Tick every AbortTimedOutEvery until ctx ends, and waits for the
// marker writes it started to stop.
func (c *Coordinator) Run(ctx context.Context) { c.c.run(ctx) }

// Tick does the timed work due at now: transactions open longer than their
// timeout are aborted (the producer's epoch is bumped, fencing it), and
// transactional IDs idle longer than IDExpiration are removed.
func (c *Coordinator) Tick(ctx context.Context) { c.c.tick(ctx) }

// PartitionFor is the __transaction_state partition of a transactional ID:
// abs(id.hashCode()) % Partitions, with Java's String.hashCode.
func (c *Coordinator) PartitionFor(transactionalID string) int32 {
	return c.c.partitionFor(transactionalID)
}

// Load makes this coordinator the owner of a partition at coordinatorEpoch
// (the partition's leader epoch): it replays the partition to rebuild
// every transactional ID's state, then completes transactions it finds in
// PrepareCommit or PrepareAbort by writing their markers. Until the replay
// ends, requests for its IDs get COORDINATOR_LOAD_IN_PROGRESS; IDs of
// partitions not loaded get NOT_COORDINATOR.
func (c *Coordinator) Load(ctx context.Context, partition int32, coordinatorEpoch int32) error {
	return c.c.load(ctx, partition, coordinatorEpoch)
}

// Unload drops a partition's state (leadership moved away).
func (c *Coordinator) Unload(partition int32) { c.c.unload(partition) }

// The request handlers. Each takes the decoded request at its version and
// returns the response at the same version.
func (c *Coordinator) InitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	return c.c.initProducerID(ctx, req)
}
func (c *Coordinator) AddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	return c.c.addPartitionsToTxn(ctx, req)
}
func (c *Coordinator) AddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse {
	return c.c.addOffsetsToTxn(ctx, req)
}
func (c *Coordinator) EndTxn(ctx context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	return c.c.endTxn(ctx, req)
}
func (c *Coordinator) DescribeTransactions(ctx context.Context, req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	return c.c.describeTransactions(ctx, req)
}
func (c *Coordinator) ListTransactions(ctx context.Context, req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	return c.c.listTransactions(ctx, req)
}
