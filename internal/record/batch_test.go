package record

import (
	"encoding/binary"
	"errors"
	"testing"
)

// testRecords returns n records with offset deltas 0..n-1 and a mix of
// null, empty and filled keys, values and headers.
func testRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		r := Record{TimestampDelta: int64(i * 10), OffsetDelta: int32(i), Value: []byte("value-" + string(rune('a'+i%26)))}
		switch i % 4 {
		case 0:
			r.Key = []byte("key")
		case 1:
			r.Key = []byte{} // empty, not null
			r.Value = nil
		case 2:
			r.Headers = []RecordHeader{{Key: "h1", Value: []byte("v1")}, {Key: "", Value: nil}}
		}
		recs[i] = r
	}
	return recs
}

func mustBuild(t testing.TB, o BuildOptions, recs []Record) []byte {
	t.Helper()
	b, err := Build(o, recs)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return b
}

// fixCRC recomputes the CRC after a test edits a covered field.
func fixCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := mustBuild(t, BuildOptions{BaseOffset: 42}, testRecords(3))
	edit := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	tests := []struct {
		name  string
		batch []byte
		err   error
	}{
		{"valid", good, nil},
		{"valid after base offset and epoch change", edit(func(b []byte) []byte {
			SetBaseOffset(b, 1<<40)
			SetPartitionLeaderEpoch(b, 7)
			return b
		}), nil},
		{"bad crc", edit(func(b []byte) []byte { b[offCRC] ^= 1; return b }), ErrCorrupt},
		{"flipped record byte", edit(func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }), ErrCorrupt},
		{"bad magic", edit(func(b []byte) []byte { b[offMagic] = 1; return b }), ErrCorrupt},
		{"length says more than there is", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-LogOverhead+1))
			return b
		}), ErrCorrupt},
		{"length says less than there is", edit(func(b []byte) []byte { return append(b, 0) }), ErrCorrupt},
		{"length below header", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offBatchLength:], HeaderSize-LogOverhead-1)
			return b
		}), ErrCorrupt},
		{"negative length", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offBatchLength:], 0xffffffff)
			return b
		}), ErrCorrupt},
		{"truncated header", good[:HeaderSize-1], ErrTruncated},
		{"empty", nil, ErrTruncated},
		{"negative record count", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offRecordCount:], 0xffffffff)
			return fixCRC(b)
		}), ErrInvalid},
		{"more records than offsets", edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offLastDelta:], 1)
			return fixCRC(b)
		}), ErrInvalid},
		{"unknown codec", edit(func(b []byte) []byte {
			b[offAttributes+1] |= 5
			return fixCRC(b)
		}), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := Validate(tt.batch)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if h.RecordCount != 3 || h.LastOffsetDelta != 2 || h.Size() != len(tt.batch) {
					t.Fatalf("header %+v", h)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("Validate: got %v, want %v", err, tt.err)
			}
		})
	}
}

func TestParseHeaderNeedsOnlyTheHeader(t *testing.T) {
	t.Parallel()
	b := mustBuild(t, BuildOptions{BaseOffset: 9, PartitionLeaderEpoch: 3, BaseTimestamp: 1000}, testRecords(5))
	h, err := ParseHeader(b[:HeaderSize])
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		BaseOffset: 9, BatchLength: int32(len(b) - LogOverhead), PartitionLeaderEpoch: 3, Magic: 2,
		CRC: Checksum(b), LastOffsetDelta: 4, BaseTimestamp: 1000, MaxTimestamp: 1040,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, RecordCount: 5,
	}
	if h != want {
		t.Fatalf("got  %+v\nwant %+v", h, want)
	}
	if h.LastOffset() != 13 || h.HasProducerID() || h.LastSequence() != -1 {
		t.Fatalf("LastOffset %d HasProducerID %v LastSequence %d", h.LastOffset(), h.HasProducerID(), h.LastSequence())
	}
}

func TestLastSequenceWraps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base, delta, want int32
	}{
		{0, 4, 4},
		{-1, 4, -1},
		{0x7fffffff, 0, 0x7fffffff},
		{0x7fffffff, 1, 0}, // Kafka wraps sequences to 0 after MaxInt32
		{0x7ffffffe, 5, 3},
	}
	for _, tt := range tests {
		h := Header{BaseSequence: tt.base, LastOffsetDelta: tt.delta}
		if got := h.LastSequence(); got != tt.want {
			t.Errorf("base %d delta %d: LastSequence %d, want %d", tt.base, tt.delta, got, tt.want)
		}
	}
}

func TestSetLogAppendTimeKeepsBatchValid(t *testing.T) {
	t.Parallel()
	b := mustBuild(t, BuildOptions{BaseTimestamp: 100}, testRecords(2))
	SetLogAppendTime(b, 5000)
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if !h.LogAppendTime() || h.MaxTimestamp != 5000 || h.BaseTimestamp != 100 {
		t.Fatalf("header %+v", h)
	}
}

func TestBatches(t *testing.T) {
	t.Parallel()
	a := mustBuild(t, BuildOptions{BaseOffset: 0}, testRecords(2))
	b := mustBuild(t, BuildOptions{BaseOffset: 2}, testRecords(3))
	stream := append(append([]byte(nil), a...), b...)
	tests := []struct {
		name      string
		in        []byte
		partialOK bool
		want      []int64 // base offsets seen
		err       error
	}{
		{"two whole batches", stream, false, []int64{0, 2}, nil},
		{"partial batch", stream[:len(stream)-1], false, []int64{0}, ErrTruncated},
		{"partial batch allowed", stream[:len(stream)-1], true, []int64{0}, nil},
		{"partial header allowed", stream[:len(a)+10], true, []int64{0}, nil},
		{"partial header", stream[:len(a)+10], false, []int64{0}, ErrTruncated},
		{"empty", nil, false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []int64
			err := Batches(tt.in, tt.partialOK, func(h Header, batch []byte) error {
				if _, err := Validate(batch); err != nil {
					return err
				}
				got = append(got, h.BaseOffset)
				return nil
			})
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("saw %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("saw %v, want %v", got, tt.want)
				}
			}
		})
	}
}
