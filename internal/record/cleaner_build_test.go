package record

import (
	"errors"
	"testing"
)

// TestEmptyBatchIsLegalOnDiskButNotFromProducers: the log cleaner keeps a
// producer's last batch with no records (Kafka's empty batch); Validate
// accepts it, ValidateRecords (the producer's rules) refuses it.
func TestEmptyBatchIsLegalOnDiskButNotFromProducers(t *testing.T) {
	t.Parallel()
	b, err := Build(BuildOptions{
		BaseOffset: 100, AllowEmpty: true, LastOffsetDelta: 4, MaxTimestamp: 777, Codec: CodecZstd,
		Producer: &Producer{ID: 9, Epoch: 2, BaseSequence: 10},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if h.RecordCount != 0 || h.LastOffset() != 104 || h.LastSequence() != 14 || h.MaxTimestamp != 777 || h.Codec() != CodecNone {
		t.Fatalf("header %+v", h)
	}
	if err := ValidateRecords(h, b[HeaderSize:]); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ValidateRecords of an empty batch: %v, want ErrInvalid", err)
	}
	recs, err := NewCodecs().Records(b, 1<<20)
	if err != nil || len(recs) != 0 {
		t.Fatalf("Records: %v %v", recs, err)
	}
	if _, err := Build(BuildOptions{}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Build without AllowEmpty: %v", err)
	}
}

// TestBuildDeleteHorizonAndLogAppendTime: KIP-534 stores the delete horizon
// in the base timestamp with attribute bit 6; record timestamps stay
// base + delta.
func TestBuildDeleteHorizonAndLogAppendTime(t *testing.T) {
	t.Parallel()
	recs := []Record{{TimestampDelta: -500, OffsetDelta: 1, Key: []byte("k"), Value: nil}}
	b, err := Build(BuildOptions{BaseTimestamp: 10_000, DeleteHorizon: true, LastOffsetDelta: 3, Codec: CodecLZ4}, recs)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if !h.HasDeleteHorizon() || h.DeleteHorizon() != 10_000 || h.MaxTimestamp != 9_500 || h.LastOffsetDelta != 3 || h.Codec() != CodecLZ4 {
		t.Fatalf("header %+v", h)
	}
	got, err := NewCodecs().Records(b, 1<<20)
	if err != nil || len(got) != 1 || got[0].Value != nil || string(got[0].Key) != "k" || got[0].OffsetDelta != 1 {
		t.Fatalf("records %+v %v", got, err)
	}
	b, err = Build(BuildOptions{BaseTimestamp: 5, LogAppendTime: true, MaxTimestamp: 42}, recs)
	if err != nil {
		t.Fatal(err)
	}
	h, _ = Validate(b)
	if !h.LogAppendTime() || h.MaxTimestamp != 42 || h.HasDeleteHorizon() || h.DeleteHorizon() != -1 {
		t.Fatalf("header %+v", h)
	}
}

func TestControlKey(t *testing.T) {
	t.Parallel()
	for _, ct := range []ControlType{ControlAbort, ControlCommit} {
		got, err := ParseControlKey(ControlKey(ct))
		if err != nil || got != ct {
			t.Fatalf("ParseControlKey(ControlKey(%d)) = %d, %v", ct, got, err)
		}
	}
	if _, err := ParseControlKey([]byte{0}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short key: %v", err)
	}
}
