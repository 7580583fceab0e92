package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestCheckCompressedStreamsAndStopsAtTheLimit(t *testing.T) {
	cs := NewCodecs()
	value := make([]byte, 3000)
	var recs []Record
	for i := range 1000 { // 3 MB: above streamAbove, so zstd streams too
		recs = append(recs, Record{OffsetDelta: int32(i), Key: []byte("k"), Value: value})
	}
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		batch, err := Build(BuildOptions{Codec: c}, recs)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseHeader(batch)
		if err != nil {
			t.Fatal(err)
		}
		src := batch[HeaderSize:]
		n := 0
		if err := cs.CheckCompressed(h, src, 4<<20, nil, func(r Record) error {
			if len(r.Value) != len(value) || string(r.Key) != "k" {
				t.Fatalf("%s: record %d decoded wrong", c, n)
			}
			n++
			return nil
		}); err != nil || n != len(recs) {
			t.Fatalf("%s: %d records checked, err %v", c, n, err)
		}
		// Past the limit: refused as too large, having reserved about
		// what it decompressed, not the batch.
		reserved := 0
		err = cs.CheckCompressed(h, src, 1<<20, func(k int) error { reserved += k; return nil }, nil)
		if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: 3 MB under a 1 MiB limit: %v, want ErrTooLarge", c, err)
		}
		if reserved > 2<<20 {
			t.Fatalf("%s: reserved %d bytes for a 1 MiB limit", c, reserved)
		}
		// A refused reservation stops the check with the refusal itself.
		refusal := errors.New("no room")
		if err := cs.CheckCompressed(h, src, 4<<20, func(int) error { return refusal }, nil); err != refusal {
			t.Fatalf("%s: refused reservation: %v", c, err)
		}
	}
}

func TestCheckCompressedRefusesARecordLongerThanTheLimitFromItsLength(t *testing.T) {
	cs := NewCodecs()
	batch, err := Build(BuildOptions{Codec: CodecGzip}, []Record{{Value: make([]byte, 8<<20)}})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ParseHeader(batch)
	reserved := 0
	err = cs.CheckCompressed(h, batch[HeaderSize:], 1<<20, func(k int) error { reserved += k; return nil }, nil)
	if !errors.Is(err, ErrTooLarge) || reserved != 0 {
		t.Fatalf("8 MiB record under a 1 MiB limit: %v with %d bytes reserved, want ErrTooLarge and none", err, reserved)
	}
}

// A zstd frame asking for a window over maxZstdWindow (zstd's highest
// levels declare 32-128 MiB when streaming, as the Java producer's
// compression.zstd.level=22 does) is valid, as Kafka takes it: above
// streamAbove it is checked whole, within the limit, rather than refused
// by the stream decoder.
func TestCheckCompressedZstdLargeWindow(t *testing.T) {
	var recs []Record
	for i := range 40 {
		v := make([]byte, 64<<10)
		for j := range v {
			v[j] = byte(i*7 + j%251)
		}
		recs = append(recs, Record{OffsetDelta: int32(i), Value: v})
	}
	plain, err := Build(BuildOptions{}, recs)
	if err != nil {
		t.Fatal(err)
	}
	section := plain[HeaderSize:]
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithWindowSize(32<<20), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(section); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := append(bytes.Clone(plain[:HeaderSize]), buf.Bytes()...)
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-LogOverhead))
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(CodecZstd))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, window, err := zstdBounds(b[HeaderSize:]); err != nil || window <= maxZstdWindow {
		t.Fatalf("frame window %d (%v), want over %d", window, err, maxZstdWindow)
	}
	cs := NewCodecs()
	n := 0
	if err := cs.CheckCompressed(h, b[HeaderSize:], 8<<20, nil, func(Record) error { n++; return nil }); err != nil || n != len(recs) {
		t.Fatalf("a valid %d-byte batch (%d bytes decompressed): %d records, %v", len(b), len(section), n, err)
	}
	if err := cs.CheckCompressed(h, b[HeaderSize:], 1<<20, nil, nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("the same batch over a 1 MiB limit: %v, want ErrTooLarge", err)
	}
}
