package record

import (
	"errors"
	"testing"
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
