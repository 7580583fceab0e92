package record

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// Producer identifies the idempotent or transactional producer of a batch.
type Producer struct {
	ID           int64
	Epoch        int16
	BaseSequence int32 // -1 for transaction markers
}

// BuildOptions describes the batch Build writes. The zero value is an
// uncompressed batch at offset 0 with no producer.
type BuildOptions struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	// BaseTimestamp is what the records' TimestampDelta count from. The
	// batch's MaxTimestamp is computed from the records; to mark a batch
	// LogAppendTime, call SetLogAppendTime on the result.
	BaseTimestamp int64
	Codec         Codec
	// Codecs compresses the records. Nil uses a fresh set, which is fine
	// for tests and tools and wasteful in a loop.
	Codecs        *Codecs
	Transactional bool
	Control       bool
	// Producer is nil for a batch without a producer ID; its producer ID,
	// epoch and base sequence are then -1.
	Producer *Producer
	// LastOffsetDelta is written when it is larger than the last record's
	// offset delta: the log cleaner keeps a batch's last offset when it
	// drops the batch's last records, so producer state survives.
	LastOffsetDelta int32
	// LogAppendTime marks the batch as timestamped by the broker, with
	// MaxTimestamp as its time (the log cleaner keeps it this way).
	LogAppendTime bool
	// MaxTimestamp is the batch's max timestamp when LogAppendTime is set
	// or the batch is empty; otherwise it is computed from the records.
	MaxTimestamp int64
	// DeleteHorizon sets the delete-horizon attribute (KIP-534): the log
	// cleaner then stores the horizon in BaseTimestamp.
	DeleteHorizon bool
	// AllowEmpty lets Build write a batch with no records, as the log
	// cleaner does to keep a producer's last sequence (Kafka's empty
	// batch). Such a batch is always uncompressed, and LastOffsetDelta
	// gives its offset span.
	AllowEmpty bool
}

// Build returns a v2 batch holding records, with the CRC computed. Records
// are written as given: their offset deltas must start at 0 or more and
// increase, and Build does not renumber them. At least one record is
// needed unless AllowEmpty is set.
func Build(o BuildOptions, records []Record) ([]byte, error) {
	if len(records) == 0 {
		if !o.AllowEmpty {
			return nil, fmt.Errorf("%w: building a batch with no records", ErrInvalid)
		}
		if o.LastOffsetDelta < 0 {
			return nil, fmt.Errorf("%w: empty batch with last offset delta %d", ErrInvalid, o.LastOffsetDelta)
		}
		o.Codec = CodecNone
	}
	if len(records) > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d records in one batch", ErrInvalid, len(records))
	}
	if o.Codec < CodecNone || o.Codec > CodecZstd {
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, o.Codec)
	}
	h := Header{
		BaseOffset:           o.BaseOffset,
		PartitionLeaderEpoch: o.PartitionLeaderEpoch,
		Magic:                2,
		Attributes:           int16(o.Codec),
		BaseTimestamp:        o.BaseTimestamp,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		BaseSequence:         -1,
		RecordCount:          int32(len(records)),
	}
	if o.Transactional {
		h.Attributes |= TransactionalBit
	}
	if o.Control {
		h.Attributes |= ControlBit
	}
	if o.LogAppendTime {
		h.Attributes |= TimestampTypeBit
	}
	if o.DeleteHorizon {
		h.Attributes |= DeleteHorizonBit
	}
	if p := o.Producer; p != nil {
		h.ProducerID, h.ProducerEpoch, h.BaseSequence = p.ID, p.Epoch, p.BaseSequence
	}

	size := HeaderSize
	var maxDelta int64
	if len(records) > 0 {
		maxDelta = records[0].TimestampDelta
	}
	for i, r := range records {
		if r.OffsetDelta < 0 || i > 0 && r.OffsetDelta <= records[i-1].OffsetDelta {
			return nil, fmt.Errorf("%w: offset deltas must be 0 or more and increase; record %d has %d", ErrInvalid, i, r.OffsetDelta)
		}
		h.LastOffsetDelta = r.OffsetDelta
		maxDelta = max(maxDelta, r.TimestampDelta)
		n := r.bodySize()
		size += varintSize(int64(n)) + n
	}
	h.LastOffsetDelta = max(h.LastOffsetDelta, o.LastOffsetDelta)
	h.MaxTimestamp = o.BaseTimestamp + maxDelta
	if o.LogAppendTime || len(records) == 0 {
		h.MaxTimestamp = o.MaxTimestamp
	}

	b := make([]byte, HeaderSize, size)
	for _, r := range records {
		b = r.append(b)
	}
	if o.Codec != CodecNone && len(records) > 0 {
		cs := o.Codecs
		if cs == nil {
			cs = NewCodecs()
		}
		compressed, err := cs.Compress(o.Codec, b[HeaderSize:])
		if err != nil {
			return nil, fmt.Errorf("build batch: %w", err)
		}
		b = append(b[:HeaderSize], compressed...)
	}
	if len(b)-LogOverhead > math.MaxInt32 {
		return nil, fmt.Errorf("%w: batch of %d bytes", ErrInvalid, len(b))
	}
	h.BatchLength = int32(len(b) - LogOverhead)
	putHeader(b, &h)
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b, nil
}

// putHeader writes h into the first HeaderSize bytes of b, CRC included
// as it stands in h.
func putHeader(b []byte, h *Header) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(h.BatchLength))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = byte(h.Magic)
	binary.BigEndian.PutUint32(b[offCRC:], h.CRC)
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(h.Attributes))
	binary.BigEndian.PutUint32(b[offLastDelta:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(h.BaseTimestamp))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(h.RecordCount))
}

// bodySize is the encoded size of r after its length field.
func (r *Record) bodySize() int {
	n := 1 + varintSize(r.TimestampDelta) + varintSize(int64(r.OffsetDelta)) +
		bytesSize(r.Key) + bytesSize(r.Value) + varintSize(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintSize(int64(len(h.Key))) + len(h.Key) + bytesSize(h.Value)
	}
	return n
}

// append appends the encoding of r to b.
func (r *Record) append(b []byte) []byte {
	b = binary.AppendVarint(b, int64(r.bodySize()))
	b = append(b, byte(r.Attributes))
	b = binary.AppendVarint(b, r.TimestampDelta)
	b = binary.AppendVarint(b, int64(r.OffsetDelta))
	b = appendBytes(b, r.Key)
	b = appendBytes(b, r.Value)
	b = binary.AppendVarint(b, int64(len(r.Headers)))
	for _, h := range r.Headers {
		b = binary.AppendVarint(b, int64(len(h.Key)))
		b = append(b, h.Key...)
		b = appendBytes(b, h.Value)
	}
	return b
}

// appendBytes appends a length-prefixed byte string; nil is written as
// length -1 (null).
func appendBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	return append(binary.AppendVarint(b, int64(len(v))), v...)
}

func bytesSize(v []byte) int {
	if v == nil {
		return 1
	}
	return varintSize(int64(len(v))) + len(v)
}

// varintSize is the length of v as a zigzag varint.
func varintSize(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	return (bits.Len64(u|1) + 6) / 7
}
