package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codecs holds reusable compressors and decompressors for the codecs Kafka
// defines. It is safe for concurrent use. A process creates one with
// NewCodecs and passes it to whatever compresses or decompresses batches;
// the package itself keeps no coders.
type Codecs struct {
	gzipReaders sync.Pool // *gzip.Reader
	gzipWriters sync.Pool // *gzip.Writer
	lz4Readers  sync.Pool // *lz4.Reader
	lz4Writers  sync.Pool // *lz4.Writer
	// zstdStreams are single-goroutine stream decoders (stream.go);
	// streamBufs the bufio.Readers records are read through.
	zstdStreams sync.Pool // *zstd.Decoder
	streamBufs  sync.Pool // *bufio.Reader

	// The zstd coders are safe for concurrent EncodeAll and DecodeAll and
	// pool their own state, so one of each is shared.
	zstdEnc *zstd.Encoder
	zstdDec *zstd.Decoder

	// zstdLevels are the encoders of the zstd levels other than the
	// default, made on first use (recompress.go).
	zstdLevelsMu sync.Mutex
	zstdLevels   map[zstd.EncoderLevel]*zstd.Encoder
}

// NewCodecs returns a set of coders ready for use.
func NewCodecs() *Codecs {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(fmt.Sprintf("record: zstd encoder: %v", err)) // constant options cannot fail
	}
	// DecodeAllCapLimit makes DecodeAll stop at cap(dst) rather than grow
	// it; see unzstd.
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		panic(fmt.Sprintf("record: zstd decoder: %v", err))
	}
	return &Codecs{zstdEnc: enc, zstdDec: dec}
}

// Compress compresses src with a fresh, unpooled coder. Use
// (*Codecs).Compress where batches are compressed often.
func Compress(c Codec, src []byte) ([]byte, error) { return NewCodecs().Compress(c, src) }

// Decompress decompresses src with a fresh, unpooled coder. Use
// (*Codecs).Decompress where batches are decompressed often.
func Decompress(c Codec, src []byte, maxOut int) ([]byte, error) {
	return NewCodecs().Decompress(c, src, maxOut)
}

// Compress returns src compressed with codec c, in the framing Kafka clients
// read: a gzip stream, xerial-framed snappy (as the Java producer writes),
// an LZ4 frame with 64 KiB blocks, or a zstd frame. CodecNone returns src.
func (cs *Codecs) Compress(c Codec, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return src, nil
	case CodecGzip:
		return cs.gzip(src)
	case CodecSnappy:
		return appendXerial(make([]byte, 0, xerialMaxLen(len(src))), src), nil
	case CodecLZ4:
		return cs.lz4(src)
	case CodecZstd:
		return cs.zstdEnc.EncodeAll(src, make([]byte, 0, len(src)/2+64)), nil
	}
	return nil, fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, c)
}

// Decompress returns src decompressed with codec c. Output longer than
// maxOut bytes is an error wrapping ErrInvalid. The output buffer never
// grows past maxOut (for zstd, maxOut and one 128 KiB block), so a
// decompression bomb costs about maxOut, at most twice that counting the
// smaller buffers outgrown on the way. Malformed input is an error wrapping
// ErrCorrupt. Snappy input may be a raw block or xerial-framed. CodecNone
// returns src itself.
func (cs *Codecs) Decompress(c Codec, src []byte, maxOut int) ([]byte, error) {
	return cs.DecompressReserve(c, src, maxOut, nil)
}

// Reserve is called before a decompression allocates output memory, with
// the bytes it is about to allocate; an error stops the decompression and
// is returned as is. The caller sums what it granted and gives it back
// once the output is no longer used.
type Reserve func(n int) error

// DecompressReserve is Decompress that asks reserve before each allocation
// of output: the whole output at once when its size is known up front
// (snappy, zstd with a content size or bounded blocks), otherwise in steps
// as the buffer grows (gzip, LZ4), each step at most the size reached so
// far, so a batch that turns out too big has taken about what it
// decompressed. A nil reserve grants everything.
func (cs *Codecs) DecompressReserve(c Codec, src []byte, maxOut int, reserve Reserve) ([]byte, error) {
	if reserve == nil {
		reserve = func(int) error { return nil }
	}
	var out []byte
	var err error
	switch c {
	case CodecNone:
		if len(src) > maxOut {
			return nil, errTooBig(c, maxOut)
		}
		return src, nil
	case CodecGzip:
		out, err = cs.gunzip(src, maxOut, reserve)
	case CodecSnappy:
		out, err = unsnappy(src, maxOut, reserve)
	case CodecLZ4:
		out, err = cs.unlz4(src, maxOut, reserve)
	case CodecZstd:
		out, err = cs.unzstd(src, maxOut, reserve)
	default:
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, c)
	}
	if err != nil {
		var refused reserveError
		if errors.As(err, &refused) {
			return nil, refused.err
		}
		if errors.Is(err, ErrInvalid) || errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, c, err)
	}
	return out, nil
}

// reserveError carries a Reserve's refusal through a decompressor's
// wrapping, so the caller gets it back as it was.
type reserveError struct{ err error }

func (e reserveError) Error() string { return e.err.Error() }

func ask(reserve Reserve, n int) error {
	if err := reserve(n); err != nil {
		return reserveError{err}
	}
	return nil
}

func errTooBig(c Codec, maxOut int) error {
	return fmt.Errorf("%w: %w: %s data decompresses to more than %d bytes", ErrInvalid, ErrTooLarge, c, maxOut)
}

func (cs *Codecs) gzip(src []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(src)/2 + 64)
	w, _ := cs.gzipWriters.Get().(*gzip.Writer)
	if w == nil {
		w = gzip.NewWriter(&buf)
	} else {
		w.Reset(&buf)
	}
	defer cs.gzipWriters.Put(w)
	return finish(&buf, w, src)
}

func (cs *Codecs) gunzip(src []byte, maxOut int, reserve Reserve) ([]byte, error) {
	r, _ := cs.gzipReaders.Get().(*gzip.Reader)
	if r == nil {
		r = new(gzip.Reader)
	}
	defer cs.gzipReaders.Put(r)
	if err := r.Reset(bytes.NewReader(src)); err != nil {
		return nil, err
	}
	return readCapped(r, CodecGzip, len(src), maxOut, reserve)
}

func (cs *Codecs) lz4(src []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(src)/2 + 64)
	w, _ := cs.lz4Writers.Get().(*lz4.Writer)
	if w == nil {
		w = lz4.NewWriter(&buf)
		// Kafka's Java stream writes 64 KiB blocks and no content
		// checksum; match it so every consumer reads what we write.
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false)); err != nil {
			return nil, err
		}
	} else {
		w.Reset(&buf)
	}
	defer cs.lz4Writers.Put(w)
	return finish(&buf, w, src)
}

// finish writes src through w, a compressor writing to buf, closes it and
// returns what buf then holds.
func finish(buf *bytes.Buffer, w io.WriteCloser, src []byte) ([]byte, error) {
	if _, err := w.Write(src); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (cs *Codecs) unlz4(src []byte, maxOut int, reserve Reserve) ([]byte, error) {
	r, _ := cs.lz4Readers.Get().(*lz4.Reader)
	if r == nil {
		r = lz4.NewReader(nil)
	}
	r.Reset(bytes.NewReader(src))
	defer func() {
		r.Reset(nil)
		cs.lz4Readers.Put(r)
	}()
	return readCapped(r, CodecLZ4, len(src), maxOut, reserve)
}

// initialCap guesses the decompressed size of n compressed bytes; the
// buffer grows from there by doubling, up to the cap.
func initialCap(n, maxOut int) int {
	return max(0, min(maxOut, 4*n+512))
}

// readCapped reads r to EOF into a buffer that never grows past maxOut,
// reserving each allocation first.
func readCapped(r io.Reader, c Codec, n, maxOut int, reserve Reserve) ([]byte, error) {
	first := initialCap(n, maxOut)
	if err := ask(reserve, first); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, first)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxOut {
				// Full: the data fits only if r has nothing more.
				var one [1]byte
				k, err := io.ReadAtLeast(r, one[:], 1)
				if k > 0 {
					return nil, errTooBig(c, maxOut)
				}
				if err == io.EOF {
					return buf, nil
				}
				return nil, err
			}
			size := min(maxOut, max(2*cap(buf), 4096))
			if err := ask(reserve, size); err != nil {
				return nil, err
			}
			grown := make([]byte, len(buf), size)
			copy(grown, buf)
			buf = grown
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (cs *Codecs) unzstd(src []byte, maxOut int, reserve Reserve) ([]byte, error) {
	limit := uint64(max(maxOut, 0))
	exact, bound, _, err := zstdBounds(src)
	if err != nil {
		return nil, err
	}
	if exact > limit {
		return nil, errTooBig(CodecZstd, maxOut)
	}
	// DecodeAll stops about a block past cap(dst) (WithDecodeAllCapLimit).
	// When the bound fits, the output cannot outgrow the buffer. Otherwise
	// the buffer holds the cap plus a block, and running out of room leaves
	// more than maxOut bytes decoded, so either way output past maxOut
	// means too big and any other failure means corrupt.
	size := min(bound, limit+zstdMaxBlock+1024)
	if err := ask(reserve, int(size)); err != nil {
		return nil, err
	}
	out, err := cs.zstdDec.DecodeAll(src, make([]byte, 0, size))
	if uint64(len(out)) > limit {
		return nil, errTooBig(CodecZstd, maxOut)
	}
	return out, err
}

const zstdMaxBlock = 128 << 10 // the most one zstd block decodes to

// zstdBounds walks the frames and block headers of src (RFC 8878) without
// decoding anything. It returns how much src decodes to at most, and how
// much of that is known exactly: stated content sizes, raw and RLE blocks.
// A streaming producer (the Java client) states no content size, so the
// bound is what keeps the output buffer small without trying sizes. window
// is the largest window a frame asks the decoder to keep.
func zstdBounds(b []byte) (exact, bound, window uint64, err error) {
	truncated := fmt.Errorf("%w: zstd: truncated frame", ErrCorrupt)
	for len(b) > 0 {
		if len(b) < 5 {
			return 0, 0, 0, truncated
		}
		magic := binary.LittleEndian.Uint32(b)
		if magic&^0xf == 0x184d2a50 { // skippable frame: size, then data
			if len(b) < 8 {
				return 0, 0, 0, truncated
			}
			n := uint64(binary.LittleEndian.Uint32(b[4:]))
			if n > uint64(len(b)-8) {
				return 0, 0, 0, truncated
			}
			b = b[8+n:]
			continue
		}
		if magic != 0xfd2fb528 {
			return 0, 0, 0, fmt.Errorf("%w: zstd: bad frame magic %08x", ErrCorrupt, magic)
		}
		desc := b[4]
		b = b[5:]
		single := desc&0x20 != 0
		fcsSize := [4]int{0, 2, 4, 8}[desc>>6]
		if single && fcsSize == 0 {
			fcsSize = 1
		}
		skip := [4]int{0, 1, 2, 4}[desc&3] // dictionary ID
		var fWindow uint64
		if !single {
			if len(b) < 1 {
				return 0, 0, 0, truncated
			}
			base := uint64(1) << (10 + b[0]>>3)
			fWindow = base + base/8*uint64(b[0]&7)
			b = b[1:]
		}
		if len(b) < skip+fcsSize {
			return 0, 0, 0, truncated
		}
		b = b[skip:]
		var fcs uint64
		switch fcsSize {
		case 1:
			fcs = uint64(b[0])
		case 2:
			fcs = uint64(binary.LittleEndian.Uint16(b)) + 256
		case 4:
			fcs = uint64(binary.LittleEndian.Uint32(b))
		case 8:
			fcs = binary.LittleEndian.Uint64(b)
		}
		b = b[fcsSize:]
		if single {
			fWindow = fcs
		}
		window = max(window, fWindow)
		var fExact, fBound uint64
		for last := false; !last; {
			if len(b) < 3 {
				return 0, 0, 0, truncated
			}
			h := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
			last = h&1 != 0
			size, n := uint64(h>>3), uint64(h>>3)
			switch h >> 1 & 3 {
			case 0: // raw
				fExact += size
			case 1: // RLE: one byte repeated
				fExact, n = fExact+size, 1
			case 2: // compressed
				size = min(fWindow, zstdMaxBlock)
			default:
				return 0, 0, 0, fmt.Errorf("%w: zstd: reserved block type", ErrCorrupt)
			}
			fBound += size
			if n > uint64(len(b)-3) {
				return 0, 0, 0, truncated
			}
			b = b[3+n:]
		}
		if desc&0x04 != 0 { // content checksum
			if len(b) < 4 {
				return 0, 0, 0, truncated
			}
			b = b[4:]
		}
		if fcsSize > 0 {
			fExact, fBound = fcs, fcs
		}
		exact, bound = addSat(exact, fExact), addSat(bound, fBound)
	}
	return exact, bound, window, nil
}

// addSat adds without wrapping around.
func addSat(a, b uint64) uint64 {
	if a+b < a {
		return math.MaxUint64
	}
	return a + b
}

// Snappy in Kafka comes either as one raw snappy block (some non-Java
// clients write that) or in the framing of the Java snappy library
// (xerial): a 16-byte header, then blocks each prefixed by a big-endian
// int32 length.
const (
	xerialMagic     = "\x82SNAPPY\x00"
	xerialHeaderLen = 16       // magic, version, minimum compatible version
	xerialBlockSize = 32 << 10 // uncompressed bytes per block, as the Java writer uses
)

func xerialMaxLen(n int) int {
	blocks := n/xerialBlockSize + 1
	return xerialHeaderLen + blocks*(4+snappy.MaxEncodedLen(min(n, xerialBlockSize)))
}

// appendXerial appends src to dst as xerial-framed snappy.
func appendXerial(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, 1) // version
	dst = binary.BigEndian.AppendUint32(dst, 1) // minimum compatible version
	for len(src) > 0 {
		n := min(len(src), xerialBlockSize)
		at := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		dst = dst[:len(dst)+snappy.MaxEncodedLen(n)]
		enc := snappy.Encode(dst[at+4:], src[:n])
		binary.BigEndian.PutUint32(dst[at:], uint32(len(enc)))
		dst = dst[:at+4+len(enc)]
		src = src[n:]
	}
	return dst
}

// unsnappy decodes a raw or xerial-framed snappy payload. Snappy states
// each block's decoded length up front, so the cap is checked before any
// output is allocated. Decoding is strict standard snappy, as the Java and
// C clients read it, not the s2 superset.
func unsnappy(src []byte, maxOut int, reserve Reserve) ([]byte, error) {
	if len(src) < xerialHeaderLen || string(src[:len(xerialMagic)]) != xerialMagic {
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return nil, err
		}
		if n > maxOut {
			return nil, errTooBig(CodecSnappy, maxOut)
		}
		if err := ask(reserve, n); err != nil {
			return nil, err
		}
		return snappy.DecodeStrict(nil, src)
	}
	// Two passes over the framing: sum the decoded lengths against the
	// cap, then decode every block into one buffer.
	total := 0
	for rest := src[xerialHeaderLen:]; len(rest) > 0; {
		block, next, err := nextXerialBlock(rest)
		if err != nil {
			return nil, err
		}
		n, err := snappy.DecodedLen(block)
		if err != nil {
			return nil, err
		}
		if n > maxOut-total {
			return nil, errTooBig(CodecSnappy, maxOut)
		}
		total += n
		rest = next
	}
	if err := ask(reserve, total); err != nil {
		return nil, err
	}
	out := make([]byte, total)
	at := 0
	for rest := src[xerialHeaderLen:]; len(rest) > 0; {
		block, next, _ := nextXerialBlock(rest)
		n, _ := snappy.DecodedLen(block)
		if _, err := snappy.DecodeStrict(out[at:at+n:at+n], block); err != nil {
			return nil, err
		}
		at += n
		rest = next
	}
	return out, nil
}

// nextXerialBlock splits the first length-prefixed block off b.
func nextXerialBlock(b []byte) (block, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: snappy: %d stray bytes after the last xerial block", ErrCorrupt, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, fmt.Errorf("%w: snappy: xerial block of %d bytes, %d left", ErrCorrupt, n, len(b)-4)
	}
	return b[4 : 4+n], b[4+n:], nil
}
