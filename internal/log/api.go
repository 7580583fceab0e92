package log

// This file fixes the contract of the partition log that the rest of Sluice
// codes against: keep these exported signatures and their documented behaviour.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// Errors the log returns. The broker maps them to Kafka error codes.
var (
	ErrOffsetOutOfRange     = errors.New("log: offset out of range")
	ErrDuplicateSequence    = errors.New("log: duplicate sequence") // returned with the original AppendInfo
	ErrOutOfOrderSequence   = errors.New("log: out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("log: producer epoch is older than the current one")
	ErrCorruption           = errors.New("log: corruption")
	ErrClosed               = errors.New("log: closed")
	ErrOffline              = errors.New("log: directory offline after an I/O error")
)

// Config holds the per-partition settings, named after their Kafka topic
// configs. Zero values are never used: the caller fills every field.
type Config struct {
	SegmentBytes       int64 // segment.bytes
	SegmentMs          int64 // segment.ms
	SegmentJitterMs    int64 // segment.jitter.ms
	IndexIntervalBytes int64 // index.interval.bytes
	SegmentIndexBytes  int64 // segment.index.bytes: cap on one index file
	RetentionMs        int64 // retention.ms, -1 for unlimited
	RetentionBytes     int64 // retention.bytes, -1 for unlimited
	FlushMessages      int64 // flush.messages: fsync after this many unflushed messages
	FlushMs            int64 // flush.ms: fsync when the oldest unflushed append is this old
	FileDeleteDelayMs  int64 // file.delete.delay.ms

	// Compaction (Kafka's log cleaner). The zero values mean a topic with
	// cleanup.policy=delete, which the cleaner leaves alone.
	CleanupPolicy          CleanupPolicy // cleanup.policy
	DeleteRetentionMs      int64         // delete.retention.ms: how long tombstones outlive their first cleaning
	MinCleanableDirtyRatio float64       // min.cleanable.dirty.ratio
	MinCompactionLagMs     int64         // min.compaction.lag.ms: younger records are not cleaned
	MaxCompactionLagMs     int64         // max.compaction.lag.ms: older dirty records force a clean; <= 0 is no limit
}

// CleanupPolicy is a topic's cleanup.policy. The zero value is "delete".
type CleanupPolicy uint8

// The cleanup policies Kafka allows.
const (
	PolicyDelete        CleanupPolicy = iota // delete whole segments past retention.ms / retention.bytes
	PolicyCompact                            // keep the latest record per key; no time or size retention
	PolicyCompactDelete                      // both
)

// Compacts reports whether the log cleaner compacts the log.
func (p CleanupPolicy) Compacts() bool { return p == PolicyCompact || p == PolicyCompactDelete }

// Deletes reports whether retention.ms and retention.bytes delete segments.
func (p CleanupPolicy) Deletes() bool { return p == PolicyDelete || p == PolicyCompactDelete }

// String returns the policy as cleanup.policy spells it.
func (p CleanupPolicy) String() string {
	switch p {
	case PolicyCompact:
		return "compact"
	case PolicyCompactDelete:
		return "compact,delete"
	}
	return "delete"
}

// Options are the collaborators of a log.
type Options struct {
	Logger *slog.Logger
	// Now is the wall clock, used for LogAppendTime, segment.ms and
	// retention only. Nil means time.Now.
	Now func() time.Time
	// FS is the filesystem; nil means the operating system's.
	FS FS
	// Codecs decompresses batches when a timestamp lookup must find a
	// record inside one. Share one per process; nil means the log makes
	// its own on first use.
	Codecs *record.Codecs
	// Files bounds the file descriptors held by segment files; share one
	// per process (NewFileCache). Nil means a cache of the log's own with no
	// bound: files are still opened only when first used, and stay open
	// until the log closes them.
	Files *FileCache
	// OnOffline, if set, is called once when an I/O error (a failed fsync,
	// a full disk, EIO) takes the log offline, with an error wrapping
	// ErrOffline; the log then leaves the logging to it. Kafka takes the
	// whole log directory offline then. It is called with the log's locks
	// held: it must not block or call into the log, except Dir.
	OnOffline func(err error)
	// OnRetentionDue, if set, is called when something retention or
	// producer expiry may act on appears: a segment is rolled (a sealed
	// segment retention may delete), the lone segment of a log gains its
	// first records, or the log gains its first producer ID. With NextRetention it lets the owner keep a schedule of due
	// logs instead of visiting every log on each check. It is called with
	// the log's locks held: it must not block or call into the log.
	OnRetentionDue func()
	// Group, if set, shares the log's fsyncs with the other logs of its
	// log directory (SyncGroup): one per directory.
	Group *SyncGroup
	// OnCorruption, if set, is called when a read finds a batch whose
	// CRC32C does not match (the read fails with the *CorruptionError).
	// It is called with the log's read lock held: it must not block or
	// call into the log.
	OnCorruption func(*CorruptionError)
	// RepairCorruption makes Open cut the log at a corrupt batch below the
	// recovery point, as at a torn tail, instead of failing with
	// ErrCorruption: for a replica whose lost records another replica
	// still has (it fetches them again). CorruptionRepaired tells where.
	RepairCorruption bool
}

// CorruptionError is a batch found damaged on the disk (ErrCorruption):
// Offset is the first offset the damage may cover.
type CorruptionError struct {
	Offset int64
	Err    error
}

func (e *CorruptionError) Error() string { return e.Err.Error() }

// Unwrap lets errors.Is find ErrCorruption.
func (e *CorruptionError) Unwrap() error { return e.Err }

// CorruptionRepaired is the offset where Open cut the log because of a
// corrupt batch below the recovery point (Options.RepairCorruption); ok is
// false when it did not.
func (l *Log) CorruptionRepaired() (offset int64, ok bool) {
	return l.corruptionRepaired, l.corruptionRepaired >= 0
}

// AppendInfo describes where an appended batch landed.
type AppendInfo struct {
	BaseOffset    int64
	LastOffset    int64
	LogAppendTime int64 // -1 unless the broker stamped the batch
	// LogStartOffset is the log start offset after the append.
	LogStartOffset int64
}

// Open opens or creates the log in dir (a missing dir is made by the log's
// first write: dir.go), recovering it: the tail past the
// recovery point is scanned, a torn or corrupt tail is truncated (and
// logged), missing or damaged indexes are rebuilt, and producer state is
// loaded from its snapshot and the batches after it.
func Open(dir string, cfg Config, opts Options) (*Log, error) { return open(dir, cfg, opts) }

// Append validates nothing about the batch's bytes (the caller did, with
// record.Validate) but checks its producer ID, epoch and sequence against
// the producer state, assigns offsets from the log end offset, stamps
// leaderEpoch into the batch and writes it to the active segment, rolling
// the segment first when segment.bytes or segment.ms say so.
//
// A batch that repeats one of the producer's last five batches is not
// written; Append returns the original AppendInfo with ErrDuplicateSequence.
// The batch slice is modified in place (base offset, leader epoch).
func (l *Log) Append(batch []byte, h record.Header, leaderEpoch int32) (AppendInfo, error) {
	return l.append(batch, h, leaderEpoch)
}

// WaitDurable returns once every byte of the log below offset is fsynced,
// sharing one fsync among all concurrent callers (group commit). An offset
// past the log end offset is ErrOffsetOutOfRange; once an fsync has failed,
// every call returns an error wrapping ErrOffline.
func (l *Log) WaitDurable(ctx context.Context, offset int64) error { return l.waitDurable(ctx, offset) }

// MaybeFlush fsyncs when flush.messages or flush.ms ask for it. The owner
// calls it periodically and after appends.
func (l *Log) MaybeFlush() error { return l.maybeFlush() }

// Read returns whole batches starting with the one that contains offset,
// stopping before maxBytes would be exceeded, except that the first batch is
// always returned whole (KIP-74), and never returning a batch whose base
// offset is at or above limit (the high watermark). An offset below the log
// start offset or above the log end offset is ErrOffsetOutOfRange; an offset
// equal to the log end offset returns no bytes.
func (l *Log) Read(offset int64, maxBytes int, limit int64) ([]byte, error) {
	return l.read(nil, offset, maxBytes, limit)
}

// ReadInto is Read that reuses buf's memory when it is large enough, so a
// caller that pools buffers reads without allocating. The result aliases
// buf in that case.
func (l *Log) ReadInto(buf []byte, offset int64, maxBytes int, limit int64) ([]byte, error) {
	return l.read(buf, offset, maxBytes, limit)
}

// LogStartOffset is the first offset still in the log.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// LogEndOffset is the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// OffsetForTimestamp finds the first record whose timestamp is at or after
// ts and returns its offset and timestamp; ok is false when there is none.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	return l.offsetForTimestamp(ts, nil)
}

// OffsetForTimestampVisiting is OffsetForTimestamp that decompresses the
// batches it looks into through visit.
func (l *Log) OffsetForTimestampVisiting(ts int64, visit RecordVisitor) (offset, timestamp int64, ok bool, err error) {
	return l.offsetForTimestamp(ts, visit)
}

// MaxTimestamp returns the largest record timestamp in the log and the
// offset of that record (ListOffsets with timestamp -3, KIP-734).
func (l *Log) MaxTimestamp() (timestamp, offset int64, err error) { return l.maxTimestamp(nil) }

// MaxTimestampVisiting is MaxTimestamp that decompresses the batch it
// looks into through visit.
func (l *Log) MaxTimestampVisiting(visit RecordVisitor) (timestamp, offset int64, err error) {
	return l.maxTimestamp(visit)
}

// Offline returns why the log is offline (an I/O error in it or in its
// directory), or nil while it serves.
func (l *Log) Offline() error { return l.offlineErr() }

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch at or
// below the asked one and the offset where it ends (KIP-101, KIP-279).
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	return l.epochs.endOffsetFor(epoch, l.leo.Load())
}

// EpochForOffset is the leader epoch that wrote offset (Kafka's
// LeaderEpochFileCache.epochForOffset), -1 when the cache has none for it.
// ListOffsets answers it with the offsets it finds.
func (l *Log) EpochForOffset(offset int64) int32 { return l.epochs.forOffset(offset) }

// ApplyRetention deletes whole segments that retention.ms or retention.bytes
// have expired (only when cleanup.policy includes delete), the active one
// too once it holds expired records (the log rolls first, so it keeps its
// end offset), and segments wholly below the log start offset, and
// advances the log start offset. It never deletes a record at or above the
// high watermark given to HighWatermarkMoved. It returns how many segments
// were deleted.
func (l *Log) ApplyRetention() (int, error) { return l.applyRetention() }

// NextRetention says when ApplyRetention or ExpireProducers (with
// producerExpiry) may next have work: the earliest time a sealed segment
// passes retention.ms or a producer ID expires, or now when retention.bytes
// or the log start offset may already allow a deletion. ok is false when
// nothing can become due before OnRetentionDue is called (a log without
// records and without producers) or the config changes.
func (l *Log) NextRetention(now time.Time, producerExpiry time.Duration) (due time.Time, ok bool) {
	return l.nextRetention(now, producerExpiry)
}

// Cleanability tells how dirty a compacted log is and whether the cleaner
// should clean it now, with records at or above upperBound out of reach.
// upperBound should be the last stable offset, min(high watermark,
// FirstUnstableOffset): the cleaner must not touch uncommitted records nor
// an open transaction's data.
func (l *Log) Cleanability(upperBound int64) Cleanable { return l.cleanability(upperBound) }

// Clean compacts the log (Kafka's log cleaner): closed segments wholly
// below opts.UpperBound (the last stable offset, as for Cleanability) are
// rewritten keeping the latest record of each key, with offsets unchanged;
// aborted transactional data goes, as the aborted-transaction index says. It does nothing when the log is not
// compacted or not dirty enough, unless opts.Force is set. Appends and
// reads continue meanwhile; a crash at any point recovers to the segments
// before or after the pass. See cleaner.go.
func (l *Log) Clean(opts CleanOptions) (CleanStats, error) {
	st, err := l.clean(opts)
	if errors.Is(err, os.ErrClosed) {
		// Retention or a truncation closed a segment the pass was
		// reading: it was overtaken, not broken.
		err = fmt.Errorf("%w: %w", ErrCleanAborted, err)
	}
	return st, err
}

// DeleteRecordsBefore advances the log start offset to offset (DeleteRecords).
func (l *Log) DeleteRecordsBefore(offset int64) error { return l.deleteRecordsBefore(offset) }

// SetConfig changes the log's settings; they take effect at the next append
// or retention pass.
func (l *Log) SetConfig(cfg Config) { l.setConfig(cfg) }

// Size is the total size of the log's segments in bytes.
func (l *Log) Size() int64 { return l.size() }

// Dir is the log's directory.
func (l *Log) Dir() string { return *l.dirName.Load() }

// Close flushes, writes the producer state snapshot and recovery point, and
// closes every file.
func (l *Log) Close() error { return l.close() }

// Delete closes the log and removes its directory.
func (l *Log) Delete() error { return l.delete() }

// ErrTxnCoordinatorFenced: a transaction marker carries an older
// coordinator epoch than one already written for its producer
// (TRANSACTION_COORDINATOR_FENCED).
var ErrTxnCoordinatorFenced = errors.New("log: transaction marker from a fenced coordinator")

// ErrInvalidTxnState: a batch contradicts the producer's transaction, for
// example a non-transactional batch from a producer whose transaction is
// open (INVALID_TXN_STATE).
var ErrInvalidTxnState = errors.New("log: batch contradicts the producer's transaction state")

// Marker is a transaction marker: the control batch that commits or aborts
// a producer's open transaction in this partition (KIP-98).
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool  // COMMIT, else ABORT
	CoordinatorEpoch int32 // the transaction coordinator's epoch (its partition's leader epoch)
	Timestamp        int64 // the control record's timestamp, ms
}

// AbortedTxn is an aborted transaction of this partition, as Fetch lists
// it for read_committed consumers: its producer, the offset of its first
// record and the offset of its ABORT marker.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// ProducerInfo is what the log knows of one producer (DescribeProducers).
type ProducerInfo struct {
	ProducerID       int64
	Epoch            int16
	LastSequence     int32 // -1 when none is remembered
	LastTimestamp    int64 // max timestamp of its last batch, -1 when none
	CoordinatorEpoch int32 // of the last marker written for it, -1 when none
	TxnStartOffset   int64 // first offset of its open transaction, -1 when none
}

// AppendMarker writes a COMMIT or ABORT control batch for m's producer at
// the log end, stamping leaderEpoch, and closes the producer's open
// transaction (a marker for a producer with none is written all the same,
// as Kafka does). A marker whose epoch is older than the producer's is
// ErrInvalidProducerEpoch; one whose coordinator epoch is older than the
// last written for the producer is ErrTxnCoordinatorFenced. An ABORT of an
// open transaction is recorded in the active segment's aborted-transaction
// index (.txnindex).
func (l *Log) AppendMarker(m Marker, leaderEpoch int32) (AppendInfo, error) {
	return l.appendMarker(m, leaderEpoch)
}

// FirstUnstableOffset is the first offset of the oldest transaction open
// or closed by a marker the high watermark last given to HighWatermarkMoved
// has not passed, or the log end offset when there is none. The last
// stable offset is the lower of it and the high watermark.
func (l *Log) FirstUnstableOffset() int64 { return l.firstUnstableOffset() }

// OnDurable has fn called after each sync round that covered the log,
// once its durable offset (DurableOffset) has moved and before the
// round's waiters are woken, on the round's goroutine with no lock of
// the log held. fn must be quick: it delays the next round.
func (l *Log) OnDurable(fn func()) { l.onDurable.Store(&fn) }

// HighWatermarkMoved tells the log its partition's high watermark, before
// readers see it: a transaction counts as unstable until the high
// watermark passes its marker, so the last stable offset moves with the
// high watermark and never past a marker a new leader may lack (Kafka's
// unreplicated transactions).
func (l *Log) HighWatermarkMoved(hw int64) { l.highWatermarkMoved(hw) }

// AbortedTransactions lists the aborted transactions that a read_committed
// fetch of [from, upTo) must know about: those whose ABORT marker is at or
// after from and whose first offset is below upTo, ascending by first
// offset.
func (l *Log) AbortedTransactions(from, upTo int64) ([]AbortedTxn, error) {
	return l.abortedTransactions(from, upTo)
}

// Producers lists the producers the log keeps state for, by producer ID.
func (l *Log) Producers() []ProducerInfo { return l.producerInfos() }

// ExpireProducers forgets producers with no open transaction whose last
// batch is older than maxAge by now (producer.id.expiration.ms, KIP-854),
// so producer state stays bounded. It returns how many it removed.
func (l *Log) ExpireProducers(now time.Time, maxAge time.Duration) int {
	return l.expireProducers(now, maxAge)
}
