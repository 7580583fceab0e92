package record

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// streamAbove is the decompressed size up to which CheckCompressed
// decompresses a batch whole (when the size is known from the framing);
// larger batches, and batches whose size only decoding tells (gzip, LZ4,
// zstd without a content size), are checked record by record as they
// stream out of the decompressor, holding one record at a time.
const streamAbove = 1 << 20

// maxZstdWindow bounds the history a streamed zstd frame may ask the
// decoder to keep: the stream decoder allocates the whole window when a
// frame starts. A frame asking for more (zstd's highest levels, streaming,
// declare 32-128 MiB whatever the data) is decompressed whole instead,
// within the batch's limit, as Kafka accepts it.
const maxZstdWindow = 8 << 20

// CheckCompressed is CheckRecords for a compressed batch: it decompresses
// src (the batch's record section) at most to maxOut bytes and checks its
// records, calling fn with each. Output past maxOut is an error wrapping
// ErrInvalid and ErrTooLarge, reported as soon as the stream passes the
// limit; a record whose length says it would pass it is refused before it
// is read. reserve is asked before any output memory is allocated.
//
// Small batches of known size are decompressed whole, as Decompress does;
// others stream: memory is then the largest record, not the batch.
func (cs *Codecs) CheckCompressed(h Header, src []byte, maxOut int, reserve Reserve, fn func(Record) error) error {
	if reserve == nil {
		reserve = func(int) error { return nil }
	}
	c := h.Codec()
	var r io.Reader
	switch c {
	case CodecSnappy:
		// Snappy states every block's length: the size is known exactly.
		return cs.checkWhole(h, src, maxOut, reserve, fn)
	case CodecZstd:
		exact, bound, window, err := zstdBounds(src)
		if err != nil {
			return err
		}
		if exact > uint64(max(maxOut, 0)) {
			return errTooBig(c, maxOut)
		}
		if bound <= streamAbove || window > maxZstdWindow {
			return cs.checkWhole(h, src, maxOut, reserve, fn)
		}
		d, _ := cs.zstdStreams.Get().(*zstd.Decoder)
		if d == nil {
			var err error
			d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(maxZstdWindow))
			if err != nil {
				return fmt.Errorf("record: zstd stream decoder: %w", err)
			}
		}
		if err := d.Reset(bytes.NewReader(src)); err != nil {
			cs.zstdStreams.Put(d)
			return fmt.Errorf("%w: zstd: %w", ErrCorrupt, err)
		}
		defer func() {
			d.Reset(nil)
			cs.zstdStreams.Put(d)
		}()
		r = d
	case CodecGzip:
		g, _ := cs.gzipReaders.Get().(*gzip.Reader)
		if g == nil {
			g = new(gzip.Reader)
		}
		defer cs.gzipReaders.Put(g)
		if err := g.Reset(bytes.NewReader(src)); err != nil {
			return fmt.Errorf("%w: gzip: %w", ErrCorrupt, err)
		}
		r = g
	case CodecLZ4:
		l, _ := cs.lz4Readers.Get().(*lz4.Reader)
		if l == nil {
			l = lz4.NewReader(nil)
		}
		l.Reset(bytes.NewReader(src))
		defer func() {
			l.Reset(nil)
			cs.lz4Readers.Put(l)
		}()
		r = l
	default:
		return cs.checkWhole(h, src, maxOut, reserve, fn)
	}
	br, _ := cs.streamBufs.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(r, 32<<10)
	} else {
		br.Reset(r)
	}
	defer func() {
		br.Reset(nil)
		cs.streamBufs.Put(br)
	}()
	err := checkStream(h, br, c, maxOut, reserve, fn)
	var refused reserveError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refused):
		return refused.err
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrCorrupt):
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, c, err)
}

// checkWhole decompresses src whole and checks its records.
func (cs *Codecs) checkWhole(h Header, src []byte, maxOut int, reserve Reserve, fn func(Record) error) error {
	raw, err := cs.DecompressReserve(h.Codec(), src, maxOut, reserve)
	if err != nil {
		return err
	}
	return CheckRecords(h, raw, fn)
}

// checkStream reads records from the decompressed stream r one at a time
// into a buffer that grows to the largest record, and checks them as
// CheckRecords does.
func checkStream(h Header, r *bufio.Reader, c Codec, maxOut int, reserve Reserve, fn func(Record) error) error {
	var buf []byte
	var chk recordChecker
	total := 0
	for {
		size, err := binary.ReadVarint(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: record %d: bad length: %w", ErrCorrupt, chk.n, err)
		}
		n := varintLen(size)
		if size < 0 || size > int64(maxOut-total-n) {
			if size >= 0 {
				return errTooBig(c, maxOut)
			}
			return fmt.Errorf("%w: record %d: length %d", ErrCorrupt, chk.n, size)
		}
		total += n + int(size)
		need := n + int(size)
		if cap(buf) < need {
			if err := ask(reserve, need); err != nil {
				return err
			}
			buf = make([]byte, 0, need)
		}
		buf = binary.AppendVarint(buf[:0], size)
		buf = buf[:need]
		if _, err := io.ReadFull(r, buf[n:]); err != nil {
			return fmt.Errorf("%w: record %d: %w", ErrCorrupt, chk.n, err)
		}
		rec, _, err := decodeRecord(buf, nil, false)
		if err != nil {
			return fmt.Errorf("%w: record %d: %s", ErrCorrupt, chk.n, err)
		}
		if err := chk.add(rec, fn); err != nil {
			return err
		}
	}
	return chk.finish(h)
}

func varintLen(v int64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutVarint(b[:], v)
}
