package broker

// Produce, versions 3-12 (record batch v2 only; Kafka 4 dropped older ones;
// v12 is transaction version 2, see txn_verify.go).
//
// Each partition's records must be exactly one v2 batch (INVALID_RECORD
// otherwise, as in Kafka). The batch is validated in one pass
// (validateBatch): header, length and CRC32C once, then one walk over the
// records for their count and offset deltas, keys on compacted topics and
// timestamps. Topic settings come from the configs cached per metadata
// image. As in Kafka's LogValidator, a producer may not set the
// LogAppendTime attribute (INVALID_TIMESTAMP) nor send a batch with a
// producer ID and no base sequence (INVALID_RECORD), and records with no
// timestamp (-1) skip the timestamp checks. Records failing the key,
// timestamp or schema checks are all listed in the partition's
// record_errors, each with its index in the batch (KIP-467; at most
// maxRecordErrors of them). Transactional batches need the request's
// transactional ID (TRANSACTIONAL_ID_AUTHORIZATION_FAILED otherwise, as
// Kafka) and a producer ID; the log checks the producer's epoch and
// transaction state.
//
// With the default compression.type=producer, the batch is appended
// byte-for-byte with only the base offset and leader epoch rewritten (and
// the max timestamp, for LogAppendTime topics). A topic whose
// compression.type names a codec (or "uncompressed") gets every batch in
// another codec recompressed to it, at the topic's compression.*.level, as
// Kafka does: the records' bytes are kept, so offsets deltas, timestamps,
// headers and producer fields are unchanged (decompression.go). A batch that
// recompression makes larger than max.message.bytes is refused with
// MESSAGE_TOO_LARGE. A retried idempotent batch is answered with the
// offsets (and LogAppendTime) it got the first time and stored once.
//
// Only the partition's leader appends (NOT_LEADER_OR_FOLLOWER elsewhere).
// acks=-1 needs min.insync.replicas in the ISR before the append
// (NOT_ENOUGH_REPLICAS, nothing appended), and is answered once the high
// watermark has passed the batch (every ISR member has it; an ISR that
// falls below min.insync.replicas meanwhile answers
// NOT_ENOUGH_REPLICAS_AFTER_APPEND) and the leader has fsynced it: the
// partition's group commit lets every request waiting at the same time
// share one fsync. The wait (produce_wait.go) is bounded by the request's
// timeout (REQUEST_TIMED_OUT) and starts as soon as the batch is appended,
// off the connection's read loop, so a producer that pipelines requests
// keeps appending while earlier ones wait, and a pipelined request's fsync
// need not wait for the answer to the one before it. acks=1 is answered
// after the leader's append. acks=0 gets no response; when a partition
// fails, the connection is closed instead, as Kafka does, so the client
// notices and refreshes its metadata.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
)

// durableWait is an acks=-1 partition waiting for its replication and
// fsync.
type durableWait struct {
	part   ackPartition
	end    int64
	epoch  int32 // the leader epoch the batch was appended at
	minISR int
	resp   *kmsg.ProduceResponseTopicPartition
}

func (b *Broker) produce(ctx context.Context, c *Client, r kmsg.Request) Reply {
	req := r.(*kmsg.ProduceRequest)
	if isMirrorAppend(req) {
		return b.produceMirrored(ctx, c, req) // produce_mirror.go
	}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	img := b.cfg.Cluster.Image()
	configs := b.configsFor(img)
	now := b.cfg.Now().UnixMilli()
	ctx, endLookups := withSchemaLookups(ctx, time.Duration(req.TimeoutMillis)*time.Millisecond) // schema_validation.go
	defer endLookups()
	// Authorization (authorize.go): WRITE on the transactional ID denies
	// the whole request, WRITE on a topic its partitions.
	var denyAll error
	if b.authz != nil && req.TransactionID != nil && !b.allowed(ctx, c, img.ACLs, acl.OpWrite, acl.ResourceTransactionalID, *req.TransactionID) {
		denyAll = kerr.TransactionalIDAuthorizationFailed
	}

	// Validate every partition's batch first, so the transactional ones
	// go to the transaction coordinator in one call, then append.
	var entries []produceEntry
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		t := img.Topics.Value(rt.Topic)
		var ts *topicSettings
		if t != nil {
			ts = configs.topic(t)
		}
		denied := denyAll
		if denied == nil && b.authz != nil && !b.allowed(ctx, c, img.ACLs, acl.OpWrite, acl.ResourceTopic, rt.Topic) {
			denied = kerr.TopicAuthorizationFailed
		}
		for j := range rt.Partitions {
			e := produceEntry{t: t, ts: ts, rp: &rt.Partitions[j], sp: &st.Partitions[j]}
			*e.sp = kmsg.NewProduceResponseTopicPartition()
			e.sp.Partition = e.rp.Partition
			e.sp.BaseOffset, e.sp.LogAppendTime, e.sp.LogStartOffset = -1, -1, -1
			if denied != nil {
				e.fail(denied)
				continue
			}
			var err error
			if e.part, e.h, err = b.checkPartition(ctx, req, t, ts, e.rp, now); err != nil {
				e.fail(err)
				continue
			}
			entries = append(entries, e)
		}
	}
	b.checkTransactions(ctx, req, configs, entries) // txn_verify.go
	var waits []durableWait
	for k := range entries {
		e := &entries[k]
		if e.failed {
			continue
		}
		info, err := b.appendPartition(req, e, now)
		if err != nil {
			e.fail(err)
			continue
		}
		e.sp.BaseOffset, e.sp.LogAppendTime, e.sp.LogStartOffset = info.BaseOffset, info.LogAppendTime, info.LogStartOffset
		if req.Acks == -1 {
			waits = append(waits, durableWait{part: e.part, end: info.LastOffset + 1, epoch: info.LeaderEpoch, minISR: e.ts.minISR, resp: e.sp})
		}
	}
	if req.Acks == 0 {
		return acksZeroReply(resp)
	}
	if len(waits) == 0 {
		return Reply{Response: resp}
	}
	return awaitDurable(ctx, waits, time.Duration(req.TimeoutMillis)*time.Millisecond, b.cfg.Cluster.SessionExpiry, resp, &b.waiting.produce)
}

// acksZeroReply is the reply to an acks=0 produce: none, unless a partition
// failed. A client that expects no answer learns of a failure only by
// losing its connection, so Kafka closes it then (and the client refreshes
// its metadata, which is what most failures, such as
// NOT_LEADER_OR_FOLLOWER, call for).
func acksZeroReply(resp *kmsg.ProduceResponse) Reply {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return Reply{Fatal: fmt.Errorf("acks=0 produce to %s partition %d failed with %v", t.Topic, p.Partition, kerr.ErrorForCode(p.ErrorCode))}
			}
		}
	}
	return Reply{}
}

// produceEntry is one partition of a produce request on its way to the
// log.
type produceEntry struct {
	t      *cluster.Topic
	ts     *topicSettings
	rp     *kmsg.ProduceRequestTopicPartition
	sp     *kmsg.ProduceResponseTopicPartition
	part   *replica.Partition
	h      record.Header
	failed bool
	// verified: the transactional batch was checked with its
	// coordinator (txn_verify.go), and the append must present guard,
	// nil when the producer's transaction was open here already.
	verified bool
	guard    *log.VerificationGuard
}

func (e *produceEntry) fail(err error) {
	e.failed = true
	e.sp.ErrorCode, e.sp.ErrorMessage = errorCode(err), errorMessage(err)
	var re *recordErrors
	if errors.As(err, &re) {
		e.sp.ErrorRecords = re.records
	}
}

// checkPartition finds the partition's leader here and validates its batch.
func (b *Broker) checkPartition(ctx context.Context, req *kmsg.ProduceRequest, t *cluster.Topic, ts *topicSettings, rp *kmsg.ProduceRequestTopicPartition, now int64) (*replica.Partition, record.Header, error) {
	if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
		return nil, record.Header{}, kerr.UnknownTopicOrPartition
	}
	if isInternalTopic(t.Name) {
		return nil, record.Header{}, kerrf(kerr.InvalidTopicException, "clients may not produce to the internal topic %s", t.Name)
	}
	if err := refuseMirrorProduce(t); err != nil {
		return nil, record.Header{}, err
	}
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		return nil, record.Header{}, kerrf(kerr.InvalidRequiredAcks, "acks must be -1, 0 or 1, got %d", req.Acks)
	}
	part, ok := b.leaderPartition(ctx, t, rp.Partition)
	if !ok {
		return nil, record.Header{}, kerr.NotLeaderForPartition
	}
	h, err := b.prepareBatch(ctx, req, ts, rp, now)
	return part, h, err
}

// prepareBatch validates a partition's batch and, when the topic's
// compression.type asks for another codec, replaces rp.Records with the
// batch recompressed.
func (b *Broker) prepareBatch(ctx context.Context, req *kmsg.ProduceRequest, ts *topicSettings, rp *kmsg.ProduceRequestTopicPartition, now int64) (record.Header, error) {
	h, err := b.validateBatch(ctx, req, ts, rp.Records, now)
	if err != nil {
		return h, err
	}
	if !ts.recompress || ts.codec == h.Codec() {
		return h, nil
	}
	batch, err := b.recompress(ctx, h, rp.Records, ts, ts.codec, req.TimeoutMillis)
	if err != nil {
		return h, err
	}
	rp.Records = batch
	return record.ParseHeader(batch)
}

// openWait bounds how long a produce waits for a partition the image
// says this broker leads but that is not open yet.
const openWait = 5 * time.Second

// leaderPartition returns the partition if this broker leads it. When the
// image says it does but the partition is still being opened (start-up,
// a topic just created), it waits for the opening, up to openWait.
func (b *Broker) leaderPartition(ctx context.Context, t *cluster.Topic, index int32) (*replica.Partition, bool) {
	var timer *time.Timer
	for {
		opened := b.cfg.Replicas.Opened()
		part, ok := b.cfg.Replicas.Partition(t.Name, index)
		if ok && part.IsLeader() {
			return part, true
		}
		if ok || t.Partitions[index].Leader != b.cfg.NodeID {
			return nil, false // open and not leading (the image is ahead), or not ours
		}
		if timer == nil {
			timer = time.NewTimer(openWait)
			defer timer.Stop()
		}
		select {
		case <-opened:
		case <-timer.C:
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
}

// topicCodec is the codec a topic's compression.type stores batches in;
// ok is false for "producer", which keeps the producer's.
func topicCodec(compressionType string) (c record.Codec, ok bool) {
	switch compressionType {
	case "uncompressed":
		return record.CodecNone, true
	case "gzip":
		return record.CodecGzip, true
	case "snappy":
		return record.CodecSnappy, true
	case "lz4":
		return record.CodecLZ4, true
	case "zstd":
		return record.CodecZstd, true
	}
	return 0, false
}

// appendPartition appends a validated batch as leader.
func (b *Broker) appendPartition(req *kmsg.ProduceRequest, e *produceEntry, now int64) (replica.Appended, error) {
	batch := e.rp.Records
	if e.ts.logAppendTime {
		record.SetLogAppendTime(batch, now)
		// The log reads the header it is given (the time index, the
		// producer state a retry is answered from), not the bytes.
		e.h.Attributes |= record.TimestampTypeBit
		e.h.MaxTimestamp = now
	}
	minISR := 0
	if req.Acks == -1 {
		minISR = e.ts.minISR
	}
	var info replica.Appended
	var err error
	if e.verified {
		info, err = e.part.AppendAsLeaderVerified(batch, e.h, minISR, e.guard)
		if errors.Is(err, log.ErrTxnUnverified) {
			// As the coordinator's refusal (txn_verify.go): abortable
			// for a client that knows TRANSACTION_ABORTABLE.
			return info, abortableForVersion(kerrf(kerr.TransactionAbortable, "%v", err), req.Version > 10)
		}
	} else {
		info, err = e.part.AppendAsLeader(batch, e.h, minISR)
	}
	if errors.Is(err, log.ErrDuplicateSequence) {
		// Answered with the offsets and LogAppendTime it got the first
		// time (-1 when the broker did not stamp it).
		return info, nil
	}
	if err != nil {
		return info, err
	}
	if e.ts.logAppendTime {
		info.LogAppendTime = now
	} else {
		info.LogAppendTime = -1
	}
	return info, nil
}

// maxDecompressed caps what one produced batch may decompress to while it
// is validated, whatever the topic's max.message.bytes; Kafka has no such
// cap, but a small batch must not be able to make the broker allocate
// without bound.
const maxDecompressed = 128 << 20

// validateBatch checks a producer's batch as Kafka's LogValidator does, in
// one pass over its bytes: the header is parsed and the CRC32C computed
// once, and the records (decompressed into a copy when the batch is
// compressed) are decoded once for every check: their count and offset
// deltas, keys on a compacted topic (INVALID_RECORD), and CreateTime
// timestamps against message.timestamp.before/after.max.ms
// (INVALID_TIMESTAMP, KIP-937).
func (b *Broker) validateBatch(ctx context.Context, req *kmsg.ProduceRequest, ts *topicSettings, batch []byte, now int64) (record.Header, error) {
	if int64(len(batch)) > ts.maxMessageBytes {
		return record.Header{}, kerrf(kerr.MessageTooLarge, "batch of %d bytes exceeds max.message.bytes %d", len(batch), ts.maxMessageBytes)
	}
	if int64(len(batch)) > ts.segmentBytes {
		return record.Header{}, kerrf(kerr.RecordListTooLarge, "batch of %d bytes exceeds segment.bytes %d", len(batch), ts.segmentBytes)
	}
	h, err := record.ParseHeader(batch)
	if err != nil {
		return h, malformed(err)
	}
	if h.Size() != len(batch) {
		return h, kerrf(kerr.InvalidRecord, "produce requests must carry exactly one whole record batch per partition: the batch says %d bytes, the request has %d", h.Size(), len(batch))
	}
	// A CRC mismatch is CORRUPT_MESSAGE, which clients retry (the bytes
	// may have been damaged on the way); every other defect of what the
	// producer checksummed is INVALID_RECORD, which they do not, as in
	// Kafka.
	if err := record.ValidateParsed(h, batch); err != nil {
		return h, err
	}
	if h.Codec() == record.CodecZstd && req.Version < 7 {
		return h, kerrf(kerr.UnsupportedCompressionType, "zstd batches need produce v7 or later (KIP-110); this request is v%d", req.Version)
	}
	if h.IsControl() {
		return h, kerrf(kerr.InvalidRecord, "clients may not produce control batches")
	}
	if h.HasProducerID() && h.BaseSequence < 0 {
		// Kafka's LogValidator: without a sequence, the log could not
		// tell a retried batch from a new one.
		return h, kerrf(kerr.InvalidRecord, "invalid sequence number %d in a batch with producer ID %d", h.BaseSequence, h.ProducerID)
	}
	if h.IsTransactional() {
		if req.TransactionID == nil {
			return h, kerrf(kerr.TransactionalIDAuthorizationFailed, "transactional records need the request's transactional ID")
		}
		if !h.HasProducerID() {
			return h, kerrf(kerr.InvalidRecord, "a transactional batch needs a producer ID")
		}
	}
	raw := batch[record.HeaderSize:]
	var rejected *recordErrors
	check := b.recordChecks(ctx, ts, h, now)
	if check != nil || h.LogAppendTime() {
		rejected = &recordErrors{}
		check = rejected.collect(check, h.LogAppendTime())
	}
	if h.Codec() != record.CodecNone {
		// decompression.go: streamed, within max.message.bytes, on the
		// broker's decompression budget.
		err = b.checkCompressed(ctx, h, raw, int(min(ts.maxMessageBytes, maxDecompressed)), req.TimeoutMillis, check)
	} else {
		err = record.CheckRecords(h, raw, check)
	}
	if err == nil && rejected != nil && rejected.code != nil {
		return h, rejected
	}
	return h, malformed(err)
}

// malformed makes a batch's malformed bytes (a magic other than 2, a short
// batch, records that do not decode), whose CRC matched, INVALID_RECORD:
// the producer built them so, and sending them again would not help.
func malformed(err error) error {
	if err != nil && (errors.Is(err, record.ErrCorrupt) || errors.Is(err, record.ErrTruncated)) {
		return kerrf(kerr.InvalidRecord, "%v", err)
	}
	return err
}

// maxRecordErrors bounds the record errors one partition's answer lists
// (Kafka lists them all): a batch of a million keyless records on a
// compacted topic is refused with the first maxRecordErrors named.
const maxRecordErrors = 1000

// recordErrors are the records of one batch that failed their checks
// (KIP-467): the batch is refused with INVALID_TIMESTAMP when any record's
// timestamp failed, INVALID_RECORD otherwise, and the answer names each
// record by its index in the batch.
type recordErrors struct {
	code    *kerr.Error // nil while no record failed
	total   int
	first   string
	records []kmsg.ProduceResponseTopicPartitionErrorRecord
}

func (e *recordErrors) Error() string {
	return fmt.Sprintf("%d of the batch's records rejected; the first: %s", e.total, e.first)
}

func (e *recordErrors) Unwrap() error { return e.code }

// collect wraps a batch's record checks so that every record is checked
// and the failures gathered rather than the first returned. An error that
// is not INVALID_RECORD or INVALID_TIMESTAMP (the record is malformed, a
// timeout) still stops the walk. A batch marked LogAppendTime fails every
// record that passed the other checks, as Kafka's LogValidator does: the
// producer may not choose the broker's timestamp.
func (e *recordErrors) collect(check func(record.Record) error, logAppendTime bool) func(record.Record) error {
	return func(r record.Record) error {
		var err error
		if check != nil {
			err = check(r)
		}
		if err == nil && logAppendTime {
			err = kerrf(kerr.InvalidTimestamp, "record %d: producers may not set the timestamp type to LogAppendTime", r.OffsetDelta)
		}
		if err == nil {
			return nil
		}
		var ke *kerr.Error
		if !errors.As(err, &ke) || ke != kerr.InvalidRecord && ke != kerr.InvalidTimestamp {
			return err
		}
		if e.code != kerr.InvalidTimestamp {
			e.code = ke
		}
		if e.total == 0 {
			e.first = err.Error()
		}
		e.total++
		if len(e.records) < maxRecordErrors {
			msg := err.Error()
			e.records = append(e.records, kmsg.ProduceResponseTopicPartitionErrorRecord{RelativeOffset: r.OffsetDelta, ErrorMessage: &msg})
		}
		return nil
	}
}

// recordCheck returns the per-record checks a topic asks for, or nil when
// there are none.
func recordCheck(ts *topicSettings, h record.Header, now int64) func(record.Record) error {
	keys, stamps := ts.compacted, ts.checksTimestamps()
	if !keys && !stamps {
		return nil
	}
	return func(r record.Record) error {
		if keys && r.Key == nil {
			// The cleaner keeps the latest record per key: a keyless
			// record has no meaning on a compacted topic.
			return kerrf(kerr.InvalidRecord, "compacted topic cannot accept a record without a key (record %d of the batch)", r.OffsetDelta)
		}
		if stamps {
			// A record without a timestamp (-1) is not checked, as in
			// Kafka. The differences are taken unsigned, so neither a
			// far timestamp nor a large setting overflows.
			t := h.BaseTimestamp + r.TimestampDelta
			switch {
			case t == noTimestamp:
			case ts.tsBefore != math.MaxInt64 && t < now && uint64(now)-uint64(t) > uint64(ts.tsBefore):
				return kerrf(kerr.InvalidTimestamp, "timestamp %d of record %d is more than message.timestamp.before.max.ms=%d before the broker's time %d", t, r.OffsetDelta, ts.tsBefore, now)
			case ts.tsAfter != math.MaxInt64 && t > now && uint64(t)-uint64(now) > uint64(ts.tsAfter):
				return kerrf(kerr.InvalidTimestamp, "timestamp %d of record %d is more than message.timestamp.after.max.ms=%d after the broker's time %d", t, r.OffsetDelta, ts.tsAfter, now)
			}
		}
		return nil
	}
}

// noTimestamp is a record's timestamp when the producer gave none.
const noTimestamp = -1

// requestTimeout bounds a request by its timeout field; zero or negative
// means 30 seconds.
func requestTimeout(ctx context.Context, ms int32) (context.Context, context.CancelFunc) {
	d := time.Duration(ms) * time.Millisecond
	if d <= 0 {
		d = 30 * time.Second
	}
	return context.WithTimeout(ctx, d)
}
