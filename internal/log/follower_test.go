package log

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
)

// leaderBatches appends specs to a fresh leader log at the given epochs and
// returns what the leader stored, as a follower's fetch would see it.
func leaderBatches(t *testing.T, epochs []int32, producer *record.Producer) []byte {
	t.Helper()
	l := openLog(t, OSFS{}, filepath.Join(t.TempDir(), "leader-0"), testConfig())
	defer mustClose(t, l)
	for i, e := range epochs {
		s := batchSpec{records: 2 + i%3, ts: int64(1000 + i)}
		if producer != nil {
			p := *producer
			p.BaseSequence = int32(2 * i)
			s.records = 2
			s.producer = &p
		}
		mustAppend(t, l, newBatch(t, s), e)
	}
	b, err := l.Read(0, 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// KIP-101: a follower keeps the leader's offsets and partition leader
// epochs byte for byte, and learns the epochs into its own cache.
func TestAppendAsFollowerKeepsOffsetsAndEpochs(t *testing.T) {
	t.Parallel()
	for _, k := range fsKinds {
		t.Run(k.name, func(t *testing.T) {
			src := leaderBatches(t, []int32{1, 1, 3, 3, 4}, &record.Producer{ID: 7, Epoch: 0})
			fsys, dir := k.new(t)
			cfg := testConfig()
			cfg.SegmentBytes = 300 // several rolls
			l := openLog(t, fsys, dir, cfg)
			defer mustClose(t, l)
			if err := l.AppendAsFollower(bytes.Clone(src)); err != nil {
				t.Fatal(err)
			}
			if got := l.LogEndOffset(); got != 10 {
				t.Fatalf("log end offset %d, want 10", got)
			}
			if got := bytes.Join(readAll(t, l, 0, 1<<20), nil); !bytes.Equal(got, src) {
				t.Fatalf("follower's bytes differ from the leader's")
			}
			for _, c := range []struct {
				ask       int32
				wantEpoch int32
				wantEnd   int64
			}{{1, 1, 4}, {2, 1, 4}, {3, 3, 8}, {4, 4, 10}} {
				e, end := l.EndOffsetForEpoch(c.ask)
				if e != c.wantEpoch || end != c.wantEnd {
					t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", c.ask, e, end, c.wantEpoch, c.wantEnd)
				}
			}
			if e := l.LatestEpoch(); e != 4 {
				t.Errorf("latest epoch %d, want 4", e)
			}
			ps, ok := l.ProducerState(7)
			if !ok || ps.LastSequence != 9 || ps.LastOffset != 9 {
				t.Errorf("producer state %+v %v, want last sequence 9 at offset 9", ps, ok)
			}
		})
	}
}

func TestAppendAsFollowerRefusesOverlapAndCorruption(t *testing.T) {
	t.Parallel()
	src := leaderBatches(t, []int32{2, 2}, nil)
	l := openLog(t, OSFS{}, filepath.Join(t.TempDir(), "f-0"), testConfig())
	defer mustClose(t, l)
	if err := l.AppendAsFollower(bytes.Clone(src)); err != nil {
		t.Fatal(err)
	}
	end := l.LogEndOffset()
	if err := l.AppendAsFollower(bytes.Clone(src)); !errors.Is(err, ErrUnexpectedAppendOffset) {
		t.Fatalf("appending the same batches again: %v, want ErrUnexpectedAppendOffset", err)
	}
	bad := leaderBatches(t, []int32{2, 2, 2}, nil)
	h, _ := record.ParseHeader(bad)
	last := bad[h.Size()*0:]
	for range 2 {
		hh, _ := record.ParseHeader(last)
		last = last[hh.Size():]
	}
	last = bytes.Clone(last)
	last[len(last)-1] ^= 0xff
	if err := l.AppendAsFollower(last); !errors.Is(err, record.ErrCorrupt) {
		t.Fatalf("corrupt batch: %v, want ErrCorrupt", err)
	}
	if l.LogEndOffset() != end {
		t.Fatalf("log end offset moved to %d after refused appends", l.LogEndOffset())
	}
}

// A gap in the leader's offsets (compaction removed whole batches) is kept.
func TestAppendAsFollowerKeepsAGap(t *testing.T) {
	t.Parallel()
	l := openLog(t, OSFS{}, filepath.Join(t.TempDir(), "f-0"), testConfig())
	defer mustClose(t, l)
	b, err := record.Build(record.BuildOptions{BaseOffset: 5, PartitionLeaderEpoch: 3}, []record.Record{{Value: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AppendAsFollower(b); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 6 {
		t.Fatalf("log end offset %d, want 6", l.LogEndOffset())
	}
	got, err := l.Read(0, 1<<20, 6)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("read from 0: %v, %d bytes", err, len(got))
	}
}

// A new leader records where its epoch starts before it appends, so
// OffsetForLeaderEpoch answers at once; an older epoch changes nothing.
func TestAssignEpoch(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "p-0")
	l := openLog(t, OSFS{}, dir, testConfig())
	mustAppend(t, l, newBatch(t, batchSpec{records: 3}), 1)
	if err := l.AssignEpoch(4, 3); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignEpoch(2, 3); err != nil {
		t.Fatal(err)
	}
	if e, end := l.EndOffsetForEpoch(1); e != 1 || end != 3 {
		t.Fatalf("epoch 1 ends at %d (%d), want 3", end, e)
	}
	if e, end := l.EndOffsetForEpoch(4); e != 4 || end != 3 {
		t.Fatalf("epoch 4: %d, %d; want 4, 3", e, end)
	}
	mustAppend(t, l, newBatch(t, batchSpec{records: 2}), 4)
	mustClose(t, l)
	l = openLog(t, OSFS{}, dir, testConfig())
	defer mustClose(t, l)
	if e, end := l.EndOffsetForEpoch(1); e != 1 || end != 3 {
		t.Fatalf("after reopen, epoch 1 ends at %d (%d), want 3", end, e)
	}
	if l.LatestEpoch() != 4 {
		t.Fatalf("latest epoch %d after reopen, want 4", l.LatestEpoch())
	}
}
