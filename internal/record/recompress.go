package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Kafka's default compression levels (KIP-390): what compression.gzip.level,
// compression.lz4.level and compression.zstd.level default to, and what
// Compress uses.
const (
	DefaultGzipLevel = -1
	DefaultLZ4Level  = 9
	DefaultZstdLevel = 3
)

// Recompress returns batch with its records compressed with codec c at
// level (as Kafka's compression.<codec>.level gives it; snappy has none),
// or uncompressed for CodecNone: what a broker stores when a topic's
// compression.type differs from the producer's codec. raw is the batch's
// record section, uncompressed. The records' bytes are kept as they are,
// so their offset deltas, timestamps and headers do not change, nor do the
// header's fields but the codec bits and the batch length; the CRC is
// recomputed. The caller has validated batch.
func (cs *Codecs) Recompress(batch, raw []byte, c Codec, level int) ([]byte, error) {
	if len(batch) < HeaderSize {
		return nil, fmt.Errorf("%w: batch of %d bytes", ErrTruncated, len(batch))
	}
	var body []byte
	if c == CodecNone {
		body = raw
	} else {
		var err error
		if body, err = cs.CompressLevel(c, raw, level); err != nil {
			return nil, fmt.Errorf("recompress batch with %s: %w", c, err)
		}
	}
	size := HeaderSize + len(body)
	if size-LogOverhead > math.MaxInt32 {
		return nil, fmt.Errorf("%w: batch of %d bytes", ErrInvalid, size)
	}
	out := make([]byte, size)
	copy(out, batch[:HeaderSize])
	copy(out[HeaderSize:], body)
	binary.BigEndian.PutUint32(out[offBatchLength:], uint32(size-LogOverhead))
	attrs := binary.BigEndian.Uint16(out[offAttributes:])&^CodecMask | uint16(c)
	binary.BigEndian.PutUint16(out[offAttributes:], attrs)
	binary.BigEndian.PutUint32(out[offCRC:], Checksum(out))
	return out, nil
}

// CompressLevel is Compress at a level of the codec, numbered as Kafka's
// compression.gzip.level (1 to 9, -1 for the default), compression.lz4.level
// (1 to 17) and compression.zstd.level (zstd's levels) number them. The
// default levels use the pooled coders; others build a coder per call
// (zstd: one per level, kept). Snappy and CodecNone have no level.
//
// LZ4 levels above 9 compress as 9: the Go LZ4 coder has nine. Kafka's
// default 9 is its fast coder, as here.
func (cs *Codecs) CompressLevel(c Codec, src []byte, level int) ([]byte, error) {
	switch {
	case c == CodecGzip && level != DefaultGzipLevel:
		return gzipLevel(src, level)
	case c == CodecLZ4 && level != DefaultLZ4Level:
		return lz4Level(src, level)
	case c == CodecZstd && level != DefaultZstdLevel:
		enc, err := cs.zstdEncoder(zstd.EncoderLevelFromZstd(level))
		if err != nil {
			return nil, err
		}
		return enc.EncodeAll(src, make([]byte, 0, len(src)/2+64)), nil
	}
	return cs.Compress(c, src)
}

func gzipLevel(src []byte, level int) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(src)/2 + 64)
	w, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		return nil, err
	}
	return finish(&buf, w, src)
}

// lz4Levels are the Go coder's levels, 1 to 9.
var lz4Levels = [...]lz4.CompressionLevel{lz4.Level1, lz4.Level2, lz4.Level3, lz4.Level4, lz4.Level5, lz4.Level6, lz4.Level7, lz4.Level8, lz4.Level9}

func lz4Level(src []byte, level int) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(src)/2 + 64)
	w := lz4.NewWriter(&buf)
	lvl := lz4Levels[min(max(level, 1), len(lz4Levels))-1]
	// As Compress: 64 KiB blocks and no content checksum, as Kafka's Java
	// stream writes.
	if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false), lz4.CompressionLevelOption(lvl)); err != nil {
		return nil, err
	}
	return finish(&buf, w, src)
}

// zstdEncoder returns the shared encoder of a zstd speed, made on first
// use. zstd has four, so at most four are kept.
func (cs *Codecs) zstdEncoder(level zstd.EncoderLevel) (*zstd.Encoder, error) {
	if level == zstd.SpeedDefault {
		return cs.zstdEnc, nil
	}
	cs.zstdLevelsMu.Lock()
	defer cs.zstdLevelsMu.Unlock()
	if enc := cs.zstdLevels[level]; enc != nil {
		return enc, nil
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(level))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder at %s: %w", level, err)
	}
	if cs.zstdLevels == nil {
		cs.zstdLevels = make(map[zstd.EncoderLevel]*zstd.Encoder)
	}
	cs.zstdLevels[level] = enc
	return enc, nil
}
