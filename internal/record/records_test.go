package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// equalRecords compares records including the difference between a nil
// (null) and an empty key or value.
func equalRecords(a, b []Record) bool {
	return slices.EqualFunc(a, b, func(x, y Record) bool {
		return x.Attributes == y.Attributes && x.TimestampDelta == y.TimestampDelta &&
			x.OffsetDelta == y.OffsetDelta && equalNullable(x.Key, y.Key) &&
			equalNullable(x.Value, y.Value) &&
			slices.EqualFunc(x.Headers, y.Headers, func(h, k RecordHeader) bool {
				return h.Key == k.Key && equalNullable(h.Value, k.Value)
			})
	})
}

func equalNullable(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func TestBuildRecordsRoundTrip(t *testing.T) {
	t.Parallel()
	cs := NewCodecs()
	big := testRecords(500)
	for i := range big {
		big[i].Value = testPayload(300)
	}
	for _, c := range allCodecs {
		for name, recs := range map[string][]Record{"one": testRecords(1), "mixed": testRecords(9), "big": big} {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				t.Parallel()
				b := mustBuild(t, BuildOptions{BaseOffset: 100, Codec: c, Codecs: cs}, recs)
				h, err := Validate(b)
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if h.Codec() != c {
					t.Fatalf("codec %s, want %s", h.Codec(), c)
				}
				got, err := cs.Records(b, 1<<20)
				if err != nil {
					t.Fatalf("Records: %v", err)
				}
				if !equalRecords(got, recs) {
					t.Fatalf("records changed in the round trip:\ngot  %+v\nwant %+v", got[:1], recs[:1])
				}
				raw, err := cs.Decompress(c, b[HeaderSize:], 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if err := ValidateRecords(h, raw); err != nil {
					t.Fatalf("ValidateRecords: %v", err)
				}
			})
		}
	}
}

func TestRecordsDecompressionIsCapped(t *testing.T) {
	t.Parallel()
	cs := NewCodecs()
	b := mustBuild(t, BuildOptions{Codec: CodecZstd, Codecs: cs}, []Record{{Value: make([]byte, 1<<20)}})
	if _, err := cs.Records(b, 64<<10); !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
}

func TestBuildHeader(t *testing.T) {
	t.Parallel()
	recs := []Record{
		{TimestampDelta: 5, OffsetDelta: 0},
		{TimestampDelta: 50, OffsetDelta: 1},
		{TimestampDelta: 7, OffsetDelta: 3}, // a gap, as the cleaner leaves
	}
	tests := []struct {
		name string
		o    BuildOptions
		want Header
	}{
		{"defaults", BuildOptions{BaseTimestamp: 1000}, Header{
			LastOffsetDelta: 3, BaseTimestamp: 1000, MaxTimestamp: 1050,
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		}},
		{"idempotent", BuildOptions{BaseOffset: 7, Producer: &Producer{ID: 0, Epoch: 2, BaseSequence: 10}}, Header{
			BaseOffset: 7, LastOffsetDelta: 3, MaxTimestamp: 50, ProducerID: 0, ProducerEpoch: 2, BaseSequence: 10,
		}},
		{"transactional gzip", BuildOptions{Transactional: true, Codec: CodecGzip, Producer: &Producer{ID: 9, Epoch: 1}}, Header{
			Attributes: TransactionalBit | int16(CodecGzip), LastOffsetDelta: 3, MaxTimestamp: 50, ProducerID: 9, ProducerEpoch: 1,
		}},
		{"control marker", BuildOptions{Control: true, Transactional: true, Producer: &Producer{ID: 9, Epoch: 1, BaseSequence: -1}}, Header{
			Attributes: TransactionalBit | ControlBit, LastOffsetDelta: 3, MaxTimestamp: 50, ProducerID: 9, ProducerEpoch: 1, BaseSequence: -1,
		}},
		{"kept last offset delta", BuildOptions{LastOffsetDelta: 10, PartitionLeaderEpoch: -1}, Header{
			PartitionLeaderEpoch: -1, LastOffsetDelta: 10, MaxTimestamp: 50, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := mustBuild(t, tt.o, recs)
			h, err := Validate(b)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Magic, want.RecordCount = 2, 3
			want.BatchLength, want.CRC = h.BatchLength, h.CRC
			if h != want {
				t.Fatalf("got  %+v\nwant %+v", h, want)
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    BuildOptions
		recs []Record
	}{
		{"no records", BuildOptions{}, nil},
		{"negative offset delta", BuildOptions{}, []Record{{OffsetDelta: -1}}},
		{"repeated offset delta", BuildOptions{}, []Record{{OffsetDelta: 0}, {OffsetDelta: 0}}},
		{"decreasing offset delta", BuildOptions{}, []Record{{OffsetDelta: 2}, {OffsetDelta: 1}}},
		{"unknown codec", BuildOptions{Codec: 6}, []Record{{}}},
	}
	for _, tt := range tests {
		if _, err := Build(tt.o, tt.recs); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", tt.name, err)
		}
	}
}

// rawRecords encodes records without a batch around them.
func rawRecords(recs ...Record) []byte {
	var b []byte
	for _, r := range recs {
		b = r.append(b)
	}
	return b
}

// record hand-encodes one record: its body fields as given, with the
// length computed.
func record(body ...byte) []byte {
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

func TestIterRecordsRejectsMalformed(t *testing.T) {
	t.Parallel()
	good := rawRecords(testRecords(3)...)
	// Body: attributes 0, timestamp delta 0, offset delta 0, then key,
	// value and headers. Varints are zigzag: 0x01 is -1, 0x02 is 1, 0x03 is -2.
	tests := []struct {
		name  string
		raw   []byte
		count int32
	}{
		{"fewer records than declared", good, 4},
		{"more records than declared", good, 2},
		{"truncated last record", good[:len(good)-1], 3},
		{"negative count", good, -1},
		{"record length past end", []byte{0x20, 0, 0, 0}, 1},
		{"negative record length", []byte{0x01, 0, 0, 0}, 1},
		{"overlong varint", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 1},
		{"key length past record", record(0, 0, 0, 0x08, 'a', 0x01, 0x00), 1},
		{"key length -2", record(0, 0, 0, 0x03, 0x01, 0x00), 1},
		{"offset delta beyond int32", record(0, 0, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x01, 0x01, 0x00), 1},
		{"negative header count", record(0, 0, 0, 0x01, 0x01, 0x01), 1},
		{"header count beyond bytes", record(0, 0, 0, 0x01, 0x01, 0xfe, 0xff, 0xff, 0xff, 0x07), 1},
		{"null header key", record(0, 0, 0, 0x01, 0x01, 0x02, 0x01, 0x01), 1},
		{"bytes left inside record", record(0, 0, 0, 0x01, 0x01, 0x00, 0x00), 1},
		{"missing header count", record(0, 0, 0, 0x01, 0x01), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := IterRecords(tt.raw, tt.count, func(Record) error { return nil })
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestIterRecordsHandCoded(t *testing.T) {
	t.Parallel()
	// attributes 0, timestamp delta 3 (0x06), offset delta 1 (0x02), key
	// null (0x01), value "hi" (0x04 'h' 'i'), one header "k" = null.
	raw := record(0, 0x06, 0x02, 0x01, 0x04, 'h', 'i', 0x02, 0x02, 'k', 0x01)
	var got []Record
	err := IterRecords(raw, 1, func(r Record) error {
		r.Headers = slices.Clone(r.Headers)
		got = append(got, r)
		return nil
	})
	want := []Record{{TimestampDelta: 3, OffsetDelta: 1, Value: []byte("hi"), Headers: []RecordHeader{{Key: "k"}}}}
	if err != nil || !equalRecords(got, want) {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	if !bytes.Equal(rawRecords(want...), raw) {
		t.Fatalf("encoding differs:\ngot  % x\nwant % x", rawRecords(want...), raw)
	}
}

func TestIterRecordsStopsAtCallbackError(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	n := 0
	err := IterRecords(rawRecords(testRecords(5)...), 5, func(Record) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Fatalf("err %v after %d records", err, n)
	}
}

func TestIterRecordsDoesNotAllocate(t *testing.T) {
	recs := testRecords(20)
	for i := range recs {
		recs[i].Headers = nil
	}
	raw := rawRecords(recs...)
	var keys int
	fn := func(r Record) error { keys += len(r.Key); return nil }
	allocs := testing.AllocsPerRun(100, func() {
		if err := IterRecords(raw, 20, fn); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run", allocs)
	}
}

// Kafka's LogValidator checks a producer's batch: the declared count is
// the real count, offset deltas are 0..n-1, and lastOffsetDelta is n-1.
func TestValidateRecords(t *testing.T) {
	t.Parallel()
	three := testRecords(3)
	withDeltas := func(deltas ...int32) []byte {
		recs := testRecords(len(deltas))
		for i, d := range deltas {
			recs[i].OffsetDelta = d
		}
		return rawRecords(recs...)
	}
	tests := []struct {
		name    string
		h       Header
		records []byte
		err     error
	}{
		{"valid", Header{RecordCount: 3, LastOffsetDelta: 2}, rawRecords(three...), nil},
		{"count says more", Header{RecordCount: 4, LastOffsetDelta: 3}, rawRecords(three...), ErrInvalid},
		{"count says fewer", Header{RecordCount: 2, LastOffsetDelta: 1}, rawRecords(three...), ErrInvalid},
		{"last offset delta too big", Header{RecordCount: 3, LastOffsetDelta: 3}, rawRecords(three...), ErrInvalid},
		{"last offset delta too small", Header{RecordCount: 3, LastOffsetDelta: 1}, rawRecords(three...), ErrInvalid},
		{"delta gap", Header{RecordCount: 3, LastOffsetDelta: 2}, withDeltas(0, 2, 3), ErrInvalid},
		{"delta out of order", Header{RecordCount: 3, LastOffsetDelta: 2}, withDeltas(0, 2, 1), ErrInvalid},
		{"first delta not zero", Header{RecordCount: 2, LastOffsetDelta: 1}, withDeltas(1, 2), ErrInvalid},
		{"no records", Header{RecordCount: 0, LastOffsetDelta: -1}, nil, nil},
		{"malformed", Header{RecordCount: 3, LastOffsetDelta: 2}, rawRecords(three...)[:10], ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateRecords(tt.h, tt.records)
			if tt.err == nil && err != nil || !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
		})
	}
}
