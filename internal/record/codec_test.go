package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// testPayload is compressible but not trivially so, and spans several
// xerial and LZ4 blocks.
func testPayload(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefgh"[r.IntN(8)]
	}
	return b
}

func TestCompressRoundTrip(t *testing.T) {
	t.Parallel()
	cs := NewCodecs()
	sizes := []int{0, 1, 100, 32 << 10, 32<<10 + 1, 200 << 10}
	for _, c := range allCodecs {
		for _, n := range sizes {
			t.Run(fmt.Sprintf("%s/%d", c, n), func(t *testing.T) {
				t.Parallel()
				src := testPayload(n)
				comp, err := cs.Compress(c, src)
				if err != nil {
					t.Fatalf("Compress: %v", err)
				}
				got, err := cs.Decompress(c, comp, n)
				if err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(got, src) {
					t.Fatalf("round trip changed %d bytes into %d bytes", len(src), len(got))
				}
				// The package-level helpers agree with the pooled coders.
				got, err = Decompress(c, comp, n)
				if err != nil || !bytes.Equal(got, src) {
					t.Fatalf("Decompress (unpooled): %d bytes, %v", len(got), err)
				}
			})
		}
	}
}

// The Java producer frames snappy with snappy-java's stream format
// (xerial): "\x82SNAPPY\x00", version 1, minimum compatible version 1, then
// blocks each prefixed by a big-endian length. These blobs are written by
// hand, not by our encoder.
func TestDecompressSnappyFormats(t *testing.T) {
	t.Parallel()
	xerial := func(blocks ...[]byte) []byte {
		b := []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01")
		for _, blk := range blocks {
			b = binary.BigEndian.AppendUint32(b, uint32(len(blk)))
			b = append(b, blk...)
		}
		return b
	}
	// Raw snappy blocks: a uvarint decoded length, then elements. A
	// literal of n <= 60 bytes has tag (n-1)<<2; a copy with a one-byte
	// offset has tag 1 | (length-4)<<2 | (offset>>8)<<5.
	hello := []byte("\x05\x10hello")
	world := []byte("\x06\x14 world")
	abc := []byte("\x09\x08abc\x09\x03") // "abc", then copy 6 bytes from 3 back
	tests := []struct {
		name string
		src  []byte
		want string
		err  error
	}{
		{"raw block", hello, "hello", nil},
		{"raw block with copy", abc, "abcabcabc", nil},
		{"xerial one block", xerial(hello), "hello", nil},
		{"xerial two blocks", xerial(hello, world), "hello world", nil},
		{"xerial with copy", xerial(abc, hello), "abcabcabchello", nil},
		{"xerial no blocks", xerial(), "", nil},
		{"xerial block length past end", xerial(hello)[:20], "", ErrCorrupt},
		{"xerial stray bytes", append(xerial(hello), 0, 0), "", ErrCorrupt},
		{"xerial empty block", xerial(hello, nil), "", ErrCorrupt},
		{"xerial corrupt block", xerial([]byte("\x05\x10hel")), "", ErrCorrupt},
		{"raw truncated", hello[:4], "", ErrCorrupt},
		{"empty", nil, "", ErrCorrupt},
		// Offset 0 is the s2 "repeat" extension, not snappy; the Java
		// and C clients reject it, and so do we.
		{"s2 extension", []byte("\x09\x08abc\x09\x00"), "", ErrCorrupt},
	}
	cs := NewCodecs()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := cs.Decompress(CodecSnappy, tt.src, 1<<20)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %q, %v; want error %v", got, err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCompressSnappyWritesXerial(t *testing.T) {
	t.Parallel()
	src := testPayload(70 << 10) // three 32 KiB blocks
	comp, err := NewCodecs().Compress(CodecSnappy, src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(comp, []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01")) {
		t.Fatalf("no xerial header: % x", comp[:16])
	}
	blocks := 0
	for rest := comp[16:]; len(rest) > 0; blocks++ {
		_, next, err := nextXerialBlock(rest)
		if err != nil {
			t.Fatal(err)
		}
		rest = next
	}
	if blocks != 3 {
		t.Fatalf("%d xerial blocks, want 3", blocks)
	}
}

func TestDecompressCorruptInput(t *testing.T) {
	t.Parallel()
	cs := NewCodecs()
	src := testPayload(10 << 10)
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			comp, err := cs.Compress(c, src)
			if err != nil {
				t.Fatal(err)
			}
			cases := map[string][]byte{
				"truncated": comp[:len(comp)/2],
				"garbage":   []byte("this is not compressed data at all"),
			}
			for name, in := range cases {
				if _, err := cs.Decompress(c, in, 1<<20); !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s: got %v, want ErrCorrupt", name, err)
				}
			}
		})
	}
}

func TestUnknownCodec(t *testing.T) {
	t.Parallel()
	cs := NewCodecs()
	if _, err := cs.Decompress(Codec(5), []byte("x"), 10); !errors.Is(err, ErrInvalid) {
		t.Errorf("Decompress codec 5: got %v, want ErrInvalid", err)
	}
	if _, err := cs.Compress(Codec(7), []byte("x")); !errors.Is(err, ErrInvalid) {
		t.Errorf("Compress codec 7: got %v, want ErrInvalid", err)
	}
}

// zstdStream compresses src as a streaming writer does, without the
// content size in the frame header, the way the Java producer writes zstd.
func zstdStream(t testing.TB, src []byte) []byte {
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	// Flushing before the end writes the frame header before the size is
	// known.
	if _, err := w.Write(src[:len(src)/2]); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(src[len(src)/2:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(buf.Bytes()); err != nil || h.HasFCS {
		t.Fatalf("stream frame header: %+v, %v", h, err)
	}
	return buf.Bytes()
}

type capCase struct {
	name  string
	codec Codec
	comp  []byte
}

// capCases compresses src with every codec, and with zstd also without a
// stated content size.
func capCases(t testing.TB, cs *Codecs, src []byte) []capCase {
	var cases []capCase
	for _, c := range allCodecs {
		comp, err := cs.Compress(c, src)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, capCase{c.String(), c, comp})
	}
	return append(cases, capCase{"zstd-stream", CodecZstd, zstdStream(t, src)})
}

// Output of exactly maxOut bytes is fine; one byte more is ErrInvalid.
func TestDecompressCapBoundary(t *testing.T) {
	t.Parallel()
	cs := NewCodecs()
	const n = 100 << 10
	for _, tc := range capCases(t, cs, testPayload(n)) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got, err := cs.Decompress(tc.codec, tc.comp, n); err != nil || len(got) != n {
				t.Fatalf("maxOut %d: %d bytes, %v", n, len(got), err)
			}
			if _, err := cs.Decompress(tc.codec, tc.comp, n-1); !errors.Is(err, ErrInvalid) {
				t.Fatalf("maxOut %d: got %v, want ErrInvalid", n-1, err)
			}
			if _, err := cs.Decompress(tc.codec, tc.comp, 0); !errors.Is(err, ErrInvalid) {
				t.Fatalf("maxOut 0: got %v, want ErrInvalid", err)
			}
		})
	}
}

// A decompression bomb (64 MiB of zeros) must be refused without
// allocating much past the cap. Not parallel: it measures the heap.
func TestDecompressBombStopsAtCap(t *testing.T) {
	cs := NewCodecs()
	const bomb, maxOut = 64 << 20, 1 << 20
	for _, tc := range capCases(t, cs, make([]byte, bomb))[1:] {
		// Warm the pools so that only the decompression is measured.
		if _, err := cs.Decompress(tc.codec, tc.comp, maxOut); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: got %v, want ErrInvalid", tc.name, err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := cs.Decompress(tc.codec, tc.comp, maxOut)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: got %v, want ErrInvalid", tc.name, err)
		}
		// Doubling up to the cap allocates at most about 2*maxOut in all.
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d compressed bytes, %d allocated", tc.name, len(tc.comp), alloc)
		if alloc > 3*maxOut {
			t.Errorf("%s: %d-byte bomb (%d compressed) allocated %d bytes with a %d-byte cap", tc.name, bomb, len(tc.comp), alloc, maxOut)
		}
	}
}

// zstdFrame hand-assembles a zstd frame (RFC 8878) with no content size
// and a 128 KiB window from already-encoded blocks.
func zstdFrame(blocks ...[]byte) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3}
	for _, blk := range blocks {
		b = append(b, blk...)
	}
	return b
}

// zstdBlock encodes a block header (last flag, type, size) and content.
func zstdBlock(last bool, typ, size int, content []byte) []byte {
	h := typ<<1 | size<<3
	if last {
		h |= 1
	}
	return append([]byte{byte(h), byte(h >> 8), byte(h >> 16)}, content...)
}

// Not parallel: it measures the heap.
func TestZstdBounds(t *testing.T) {
	hello := zstdFrame(zstdBlock(false, 0, 5, []byte("hello")), zstdBlock(true, 1, 3, []byte("x")))
	compressed := zstdFrame(zstdBlock(true, 2, 4, []byte{1, 2, 3, 4}))
	rleBomb := zstdFrame()
	for i := range 100 {
		rleBomb = append(rleBomb, zstdBlock(i == 99, 1, zstdMaxBlock, []byte{0})...)
	}
	skippable := []byte{0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 'h', 'i'}
	tests := []struct {
		name         string
		src          []byte
		exact, bound uint64
		err          error
	}{
		{"raw and rle", hello, 8, 8, nil},
		{"compressed block", compressed, 0, zstdMaxBlock, nil},
		{"two frames and a skippable one", append(append(append([]byte(nil), hello...), skippable...), hello...), 16, 16, nil},
		{"rle bomb", rleBomb, 100 * zstdMaxBlock, 100 * zstdMaxBlock, nil},
		{"empty", nil, 0, 0, nil},
		{"truncated block", hello[:len(hello)-1], 0, 0, ErrCorrupt},
		{"truncated header", hello[:5], 0, 0, ErrCorrupt},
		{"no last block", hello[:6+8], 0, 0, ErrCorrupt},
		{"bad magic", []byte("not zstd"), 0, 0, ErrCorrupt},
		{"reserved block type", zstdFrame(zstdBlock(true, 3, 0, nil)), 0, 0, ErrCorrupt},
		{"truncated skippable", skippable[:9], 0, 0, ErrCorrupt},
		{"skippable cut in its size", skippable[:5], 0, 0, ErrCorrupt},
		{"skippable cut after two bytes of its size", skippable[:6], 0, 0, ErrCorrupt},
		{"skippable cut before its data", skippable[:7], 0, 0, ErrCorrupt},
	}
	for _, tt := range tests {
		exact, bound, _, err := zstdBounds(tt.src)
		if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) || exact != tt.exact || bound != tt.bound {
			t.Errorf("%s: got %d, %d, %v; want %d, %d, %v", tt.name, exact, bound, err, tt.exact, tt.bound, tt.err)
		}
	}

	// The decoder agrees with the hand-built frames.
	cs := NewCodecs()
	if got, err := cs.Decompress(CodecZstd, hello, 8); err != nil || string(got) != "helloxxx" {
		t.Errorf("hand-built frame: %q, %v", got, err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := cs.Decompress(CodecZstd, rleBomb, 1<<20)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("rle bomb: got %v, want ErrInvalid", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
		t.Errorf("rle bomb allocated %d bytes before being refused", alloc)
	}
}
