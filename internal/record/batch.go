package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Offsets of the header fields inside a batch.
const (
	offBaseOffset    = 0
	offBatchLength   = 8
	offLeaderEpoch   = 12
	offMagic         = 16
	offCRC           = 17
	offAttributes    = 21
	offLastDelta     = 23
	offBaseTimestamp = 27
	offMaxTimestamp  = 35
	offProducerID    = 43
	offProducerEpoch = 51
	offBaseSequence  = 53
	offRecordCount   = 57

	// HeaderSize is the size of a v2 batch header, up to and including the
	// record count.
	HeaderSize = 61
	// LogOverhead is the part of the header not counted by batchLength.
	LogOverhead = 12
)

// Attribute bits.
const (
	CodecMask        = 0x07
	TimestampTypeBit = 0x08
	TransactionalBit = 0x10
	ControlBit       = 0x20
	DeleteHorizonBit = 0x40
)

// Codec is a compression codec as numbered in the batch attributes.
type Codec int8

// The codecs Kafka defines.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// String returns the codec's name as Kafka's compression.type spells it.
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Errors returned by parsing and validation. ErrCorrupt marks bytes that are
// not a well-formed batch (the broker answers CORRUPT_MESSAGE); ErrInvalid
// marks a well-formed batch whose content breaks a rule (INVALID_RECORD).
var (
	ErrCorrupt   = errors.New("record: corrupt batch")
	ErrInvalid   = errors.New("record: invalid batch")
	ErrTruncated = errors.New("record: truncated batch")
	// ErrTooLarge marks (beside ErrInvalid) data that decompresses to
	// more than the caller's limit.
	ErrTooLarge = errors.New("record: decompresses past the limit")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the decoded fixed header of one batch.
type Header struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size is the number of bytes the whole batch occupies.
func (h *Header) Size() int { return int(h.BatchLength) + LogOverhead }

// LastOffset is the offset of the last record in the batch.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec is the batch's compression codec.
func (h *Header) Codec() Codec { return Codec(h.Attributes & CodecMask) }

// IsTransactional reports whether the batch belongs to a transaction.
func (h *Header) IsTransactional() bool { return h.Attributes&TransactionalBit != 0 }

// IsControl reports whether the batch holds a control record (a transaction marker).
func (h *Header) IsControl() bool { return h.Attributes&ControlBit != 0 }

// LogAppendTime reports whether the timestamps were set by the broker.
func (h *Header) LogAppendTime() bool { return h.Attributes&TimestampTypeBit != 0 }

// HasDeleteHorizon reports whether the log cleaner has set the batch's
// delete horizon (KIP-534): the base timestamp then holds it.
func (h *Header) HasDeleteHorizon() bool { return h.Attributes&DeleteHorizonBit != 0 }

// DeleteHorizon is the time (ms) after which the cleaner may remove the
// batch's tombstones and transaction marker, or -1 when none is set.
func (h *Header) DeleteHorizon() int64 {
	if !h.HasDeleteHorizon() {
		return -1
	}
	return h.BaseTimestamp
}

// HasProducerID reports whether the batch was written by an idempotent or
// transactional producer.
func (h *Header) HasProducerID() bool { return h.ProducerID >= 0 }

// LastSequence is the sequence number of the last record, wrapping at
// MaxInt32 as Kafka's sequences do.
func (h *Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 0x7fffffff {
		s -= 0x80000000
	}
	return int32(s)
}

// ParseHeader decodes the header at the start of b. It checks only that the
// header is there and that its length field is sane; it does not need the
// whole batch and does not check the CRC.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, fmt.Errorf("%w: %d bytes, header needs %d", ErrTruncated, len(b), HeaderSize)
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.BatchLength = int32(binary.BigEndian.Uint32(b[offBatchLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[offBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.RecordCount = int32(binary.BigEndian.Uint32(b[offRecordCount:]))
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d, only 2 is supported", ErrCorrupt, h.Magic)
	}
	if int(h.BatchLength)+LogOverhead < HeaderSize {
		return h, fmt.Errorf("%w: batch length %d below header size", ErrCorrupt, h.BatchLength)
	}
	return h, nil
}

// Checksum computes the CRC32C that a batch's header should carry. The
// batch must hold at least a header.
func Checksum(batch []byte) uint32 {
	return crc32.Checksum(batch[offAttributes:], castagnoli)
}

// Validate checks that b holds exactly one complete batch: magic 2, a length
// that matches len(b), a correct CRC32C, and header fields that agree with
// each other. It returns the decoded header. It does not look inside the
// records; see ValidateRecords for that. A batch with no records is legal
// here (the log cleaner writes them); ValidateRecords refuses it.
func Validate(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	return h, ValidateParsed(h, b)
}

// ValidateParsed is Validate for a header ParseHeader already decoded from
// b, so a caller that looked at the header first parses it once.
func ValidateParsed(h Header, b []byte) error {
	if h.Size() != len(b) {
		return fmt.Errorf("%w: batch length says %d bytes, have %d", ErrCorrupt, h.Size(), len(b))
	}
	if got := Checksum(b); got != h.CRC {
		return fmt.Errorf("%w: crc32c %08x, header says %08x", ErrCorrupt, got, h.CRC)
	}
	if h.RecordCount < 0 || h.LastOffsetDelta < 0 {
		return fmt.Errorf("%w: record count %d, last offset delta %d", ErrInvalid, h.RecordCount, h.LastOffsetDelta)
	}
	// Offset deltas increase, so n records span at least n offsets. (The
	// cleaner may leave fewer records than offsets, never more, and may
	// leave none: an empty batch keeps a producer's last sequence, as in
	// Kafka. A producer's batch must hold records; ValidateRecords checks.)
	if int64(h.RecordCount) > int64(h.LastOffsetDelta)+1 {
		return fmt.Errorf("%w: %d records in %d offsets", ErrInvalid, h.RecordCount, int64(h.LastOffsetDelta)+1)
	}
	if h.Codec() > CodecZstd {
		return fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, h.Codec())
	}
	return nil
}

// SetBaseOffset writes the base offset into a batch. The field is outside the
// CRC, so the checksum stays valid.
func SetBaseOffset(batch []byte, offset int64) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch writes the leader epoch into a batch. The field is
// outside the CRC.
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch as timestamped by the broker at ts and
// recomputes the CRC, as Kafka does for message.timestamp.type=LogAppendTime.
func SetLogAppendTime(batch []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(batch[offAttributes:]) | TimestampTypeBit
	binary.BigEndian.PutUint16(batch[offAttributes:], attrs)
	binary.BigEndian.PutUint64(batch[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(batch[offCRC:], Checksum(batch))
}

// Batches iterates over the consecutive batches in b, calling fn with each
// whole batch and its header. A partial batch at the end is not an error
// when partialOK is set (fetch responses end that way); otherwise it is
// ErrTruncated. The header and bounds are checked, not the CRC.
func Batches(b []byte, partialOK bool, fn func(h Header, batch []byte) error) error {
	for len(b) > 0 {
		h, err := ParseHeader(b)
		if err != nil {
			if partialOK && errors.Is(err, ErrTruncated) {
				return nil
			}
			return err
		}
		n := h.Size()
		if n > len(b) {
			if partialOK {
				return nil
			}
			return fmt.Errorf("%w: batch of %d bytes, %d left", ErrTruncated, n, len(b))
		}
		if err := fn(h, b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
