package record

import (
	"bytes"
	"testing"
)

// Recompress keeps everything of a batch but its codec bits, length and
// CRC: the records' bytes, the producer fields and the timestamps.
func TestRecompressKeepsRecordsAndHeader(t *testing.T) {
	cs := NewCodecs()
	recs := []Record{
		{OffsetDelta: 0, TimestampDelta: 0, Key: []byte("k"), Value: bytes.Repeat([]byte("abc"), 100), Headers: []RecordHeader{{Key: "h", Value: nil}}},
		{OffsetDelta: 1, TimestampDelta: 9, Value: []byte("v")},
	}
	codecs := []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}
	levels := map[Codec][]int{
		CodecNone:   {0},
		CodecSnappy: {0},
		CodecGzip:   {DefaultGzipLevel, 1, 9},
		CodecLZ4:    {DefaultLZ4Level, 1, 17},
		CodecZstd:   {DefaultZstdLevel, -5, 1, 10, 22},
	}
	for _, from := range codecs {
		src, err := Build(BuildOptions{BaseTimestamp: 1000, Codec: from, Transactional: true, Producer: &Producer{ID: 3, Epoch: 4, BaseSequence: 5}}, recs)
		if err != nil {
			t.Fatal(err)
		}
		h0, _ := ParseHeader(src)
		raw, err := cs.Decompress(from, src[HeaderSize:], 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range codecs {
			for _, level := range levels[to] {
				out, err := cs.Recompress(src, raw, to, level)
				if err != nil {
					t.Fatalf("%s to %s level %d: %v", from, to, level, err)
				}
				h, err := Validate(out)
				if err != nil {
					t.Fatalf("%s to %s level %d: %v", from, to, level, err)
				}
				want := h0
				want.Attributes = h0.Attributes&^CodecMask | int16(to)
				want.BatchLength, want.CRC = h.BatchLength, h.CRC
				if h != want || h.Size() != len(out) {
					t.Errorf("%s to %s level %d: header %+v, want %+v", from, to, level, h, want)
				}
				got, err := cs.Records(out, 1<<20)
				if err != nil {
					t.Fatalf("%s to %s level %d: %v", from, to, level, err)
				}
				if len(got) != 2 || !bytes.Equal(got[0].Value, recs[0].Value) || string(got[0].Key) != "k" || len(got[0].Headers) != 1 ||
					got[1].TimestampDelta != 9 || string(got[1].Value) != "v" {
					t.Errorf("%s to %s level %d: records %+v", from, to, level, got)
				}
			}
		}
	}
}
