package record

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Record is one record of a batch as it sits on the wire. A nil Key or
// Value is null; a non-nil empty one is empty. Key, Value and header values
// alias the bytes the record was decoded from.
//
// Record layout (varints are zigzag, as in protobuf):
//
//	length          varint  bytes after this field
//	attributes      int8    unused, 0
//	timestampDelta  varlong from the batch's base timestamp
//	offsetDelta     varint  from the batch's base offset
//	keyLength       varint  -1 for null
//	key             bytes
//	valueLength     varint  -1 for null
//	value           bytes
//	headerCount     varint
//	headers         keyLength varint, key (never null), valueLength varint (-1 for null), value
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte
	Value          []byte
	Headers        []RecordHeader
}

// RecordHeader is one header of a record. Kafka does not allow a null key;
// a nil Value is null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// minRecordSize is the smallest encoding of a record: a one-byte length
// and seven one-byte fields.
const minRecordSize = 7

// Records decodes every record of a batch, decompressing it first if its
// codec says so, with the output capped at maxOut bytes. It checks the
// header and that the batch fills len(batch), not the CRC: call Validate
// first on bytes that may be damaged. The records' byte slices alias batch
// (or the decompressed copy).
func (cs *Codecs) Records(batch []byte, maxOut int) ([]Record, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return nil, err
	}
	if h.Size() != len(batch) {
		return nil, fmt.Errorf("%w: batch length says %d bytes, have %d", ErrCorrupt, h.Size(), len(batch))
	}
	raw := batch[HeaderSize:]
	if h.Codec() != CodecNone {
		if raw, err = cs.Decompress(h.Codec(), raw, maxOut); err != nil {
			return nil, err
		}
	}
	// The declared count is untrusted; the bytes bound how many records
	// there can be.
	recs := make([]Record, 0, max(0, min(int(h.RecordCount), len(raw)/minRecordSize)))
	err = IterRecords(raw, h.RecordCount, func(r Record) error {
		r.Headers = slices.Clone(r.Headers)
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// IterRecords decodes count records from raw, the uncompressed record
// section of a batch, and calls fn with each in order. raw must hold exactly
// count records. Malformed bytes are an error wrapping ErrCorrupt; an error
// from fn stops the iteration and is returned as is.
//
// Nothing is allocated except the strings of header keys. The Headers slice
// handed to fn is reused for the next record, so fn must copy it to keep
// it; Key, Value and header values alias raw.
func IterRecords(raw []byte, count int32, fn func(Record) error) error {
	if count < 0 {
		return fmt.Errorf("%w: negative record count %d", ErrCorrupt, count)
	}
	var hdrs []RecordHeader
	for i := range count {
		if len(raw) == 0 {
			return fmt.Errorf("%w: batch declares %d records, holds %d", ErrCorrupt, count, i)
		}
		r, rest, err := decodeRecord(raw, hdrs[:0], true)
		if err != nil {
			return fmt.Errorf("%w: record %d: %s", ErrCorrupt, i, err)
		}
		hdrs = r.Headers[:0]
		if len(r.Headers) == 0 {
			r.Headers = nil
		}
		if err := fn(r); err != nil {
			return err
		}
		raw = rest
	}
	if len(raw) > 0 {
		return fmt.Errorf("%w: %d bytes after the last of %d records", ErrCorrupt, len(raw), count)
	}
	return nil
}

// ValidateRecords checks the records of a batch the way Kafka's
// LogValidator does for a producer's batch: there are exactly RecordCount
// records, their offset deltas run 0, 1, ..., n-1, and LastOffsetDelta is
// n-1. records is the batch's record section, decompressed if the batch is
// compressed. Broken rules are errors wrapping ErrInvalid; bytes that do
// not decode are errors wrapping ErrCorrupt.
//
// Batches the log cleaner has rewritten legitimately break these rules, so
// this is for batches from producers, not from the log.
func ValidateRecords(h Header, records []byte) error { return CheckRecords(h, records, nil) }

// CheckRecords is ValidateRecords that also hands every record to fn (when
// fn is not nil) in the same pass, so a caller with checks of its own
// (keys, timestamps) decodes the records once. The record's Headers are
// not kept; Key and Value alias records. An error from fn stops the walk
// and is returned as is.
func CheckRecords(h Header, records []byte, fn func(Record) error) error {
	var chk recordChecker
	for len(records) > 0 {
		r, rest, err := decodeRecord(records, nil, false)
		if err != nil {
			return fmt.Errorf("%w: record %d: %s", ErrCorrupt, chk.n, err)
		}
		if err := chk.add(r, fn); err != nil {
			return err
		}
		records = rest
	}
	return chk.finish(h)
}

// recordChecker holds ValidateRecords' rules for records seen one at a
// time.
type recordChecker struct{ n int32 }

func (c *recordChecker) add(r Record, fn func(Record) error) error {
	if r.OffsetDelta != c.n {
		return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalid, c.n, r.OffsetDelta)
	}
	c.n++
	if fn != nil {
		return fn(r)
	}
	return nil
}

func (c *recordChecker) finish(h Header) error {
	n := c.n
	if n != h.RecordCount {
		return fmt.Errorf("%w: batch declares %d records, holds %d", ErrInvalid, h.RecordCount, n)
	}
	if n == 0 && h.LastOffsetDelta >= 0 {
		return fmt.Errorf("%w: batch has no records", ErrInvalid)
	}
	if h.LastOffsetDelta != n-1 {
		return fmt.Errorf("%w: last offset delta %d, batch holds %d records", ErrInvalid, h.LastOffsetDelta, n)
	}
	return nil
}

// decodeRecord decodes the record at the front of b and returns the bytes
// after it. Headers are appended to hdrs when keepHeaders is set, and only
// checked otherwise. The error says what is wrong, without a sentinel.
func decodeRecord(b []byte, hdrs []RecordHeader, keepHeaders bool) (Record, []byte, error) {
	var r Record
	size, n := binary.Varint(b)
	if n <= 0 || n > 5 || size < 0 || size > int64(len(b)-n) {
		return r, nil, fmt.Errorf("bad length (%d bytes left)", len(b))
	}
	d := decoder{b: b[n : n+int(size)]}
	r.Attributes = int8(d.byte())
	r.TimestampDelta = d.varint64()
	r.OffsetDelta = d.varint32()
	r.Key = d.bytes()
	r.Value = d.bytes()
	count := d.varint32()
	// Each header takes at least two bytes, which bounds the count before
	// anything is allocated for it.
	if d.err == nil && (count < 0 || int(count) > len(d.b)/2) {
		d.fail("header count %d with %d bytes left", count, len(d.b))
	}
	for range count {
		if d.err != nil {
			break
		}
		key := d.bytes()
		value := d.bytes()
		if d.err == nil && key == nil {
			d.fail("null header key")
		}
		if keepHeaders && d.err == nil {
			hdrs = append(hdrs, RecordHeader{Key: string(key), Value: value})
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes left over inside the record", len(d.b))
	}
	if d.err != nil {
		return r, nil, d.err
	}
	r.Headers = hdrs
	return r, b[n+int(size):], nil
}

// decoder reads the fields of one record. After the first error it reads
// nothing more and returns zero values; the caller checks err once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint64() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// varint32 reads a varint that Kafka reads as an int32: at most five bytes.
func (d *decoder) varint32() int32 {
	v, n := binary.Varint(d.b)
	if n <= 0 || n > 5 || v != int64(int32(v)) {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return int32(v)
}

// bytes reads a length-prefixed byte string; length -1 is null (nil).
func (d *decoder) bytes() []byte {
	n := d.varint32()
	switch {
	case d.err != nil:
		return nil
	case n == -1:
		return nil
	case n < -1 || int(n) > len(d.b):
		d.fail("length %d with %d bytes left", n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
