package log

import (
	"bytes"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
)

// produce is one step of an idempotence scenario.
type produce struct {
	pid     int64
	epoch   int16
	seq     int32
	records int
	// want: the offsets the append reports, and its error.
	wantBase int64
	wantLast int64
	wantErr  error
}

// TestIdempotentProduce checks the producer state rules of KIP-98, as
// Kafka's ProducerStateManager applies them.
func TestIdempotentProduce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps []produce
	}{
		{"in order", []produce{
			{pid: 1, epoch: 0, seq: 0, records: 3, wantBase: 0, wantLast: 2},
			{pid: 1, epoch: 0, seq: 3, records: 2, wantBase: 3, wantLast: 4},
		}},
		{"a new producer may start at any sequence", []produce{
			{pid: 1, epoch: 5, seq: 42, records: 1, wantBase: 0, wantLast: 0},
			{pid: 1, epoch: 5, seq: 43, records: 1, wantBase: 1, wantLast: 1},
		}},
		{"a retry of the last batch returns its offsets", []produce{
			{pid: 1, epoch: 0, seq: 0, records: 3, wantBase: 0, wantLast: 2},
			{pid: 2, epoch: 0, seq: 0, records: 1, wantBase: 3, wantLast: 3},
			{pid: 1, epoch: 0, seq: 0, records: 3, wantBase: 0, wantLast: 2, wantErr: ErrDuplicateSequence},
		}},
		{"a retry of the fifth newest batch is a duplicate, the sixth is out of order", []produce{
			{pid: 1, seq: 0, records: 1, wantBase: 0, wantLast: 0},
			{pid: 1, seq: 1, records: 1, wantBase: 1, wantLast: 1},
			{pid: 1, seq: 2, records: 1, wantBase: 2, wantLast: 2},
			{pid: 1, seq: 3, records: 1, wantBase: 3, wantLast: 3},
			{pid: 1, seq: 4, records: 1, wantBase: 4, wantLast: 4},
			{pid: 1, seq: 5, records: 1, wantBase: 5, wantLast: 5},
			{pid: 1, seq: 1, records: 1, wantBase: 1, wantLast: 1, wantErr: ErrDuplicateSequence},
			{pid: 1, seq: 0, records: 1, wantErr: ErrOutOfOrderSequence},
		}},
		{"a gap is out of order", []produce{
			{pid: 1, seq: 0, records: 2, wantBase: 0, wantLast: 1},
			{pid: 1, seq: 3, records: 1, wantErr: ErrOutOfOrderSequence},
			{pid: 1, seq: 2, records: 1, wantBase: 2, wantLast: 2},
		}},
		{"a duplicate with different bounds is out of order", []produce{
			{pid: 1, seq: 0, records: 3, wantBase: 0, wantLast: 2},
			{pid: 1, seq: 0, records: 2, wantErr: ErrOutOfOrderSequence},
		}},
		{"an older epoch is fenced", []produce{
			{pid: 1, epoch: 3, seq: 0, records: 1, wantBase: 0, wantLast: 0},
			{pid: 1, epoch: 2, seq: 1, records: 1, wantErr: ErrInvalidProducerEpoch},
			{pid: 1, epoch: 2, seq: 0, records: 1, wantErr: ErrInvalidProducerEpoch},
		}},
		{"a new epoch starts at sequence 0", []produce{
			{pid: 1, epoch: 0, seq: 0, records: 5, wantBase: 0, wantLast: 4},
			{pid: 1, epoch: 1, seq: 5, records: 1, wantErr: ErrOutOfOrderSequence},
			{pid: 1, epoch: 1, seq: 0, records: 1, wantBase: 5, wantLast: 5},
			{pid: 1, epoch: 0, seq: 5, records: 1, wantErr: ErrInvalidProducerEpoch},
			// The new epoch forgot the old batches: their retry is fenced.
			{pid: 1, epoch: 0, seq: 0, records: 5, wantErr: ErrInvalidProducerEpoch},
		}},
		{"sequences wrap at MaxInt32", []produce{
			{pid: 1, seq: math.MaxInt32 - 1, records: 2, wantBase: 0, wantLast: 1},
			{pid: 1, seq: 0, records: 1, wantBase: 2, wantLast: 2},
		}},
		{"a batch spanning the wrap", []produce{
			{pid: 1, seq: math.MaxInt32, records: 3, wantBase: 0, wantLast: 2},
			{pid: 1, seq: 2, records: 1, wantBase: 3, wantLast: 3},
		}},
		{"producers are independent", []produce{
			{pid: 1, seq: 0, records: 1, wantBase: 0, wantLast: 0},
			{pid: 2, seq: 7, records: 1, wantBase: 1, wantLast: 1},
			{pid: 1, seq: 1, records: 1, wantBase: 2, wantLast: 2},
			{pid: 2, seq: 9, records: 1, wantErr: ErrOutOfOrderSequence},
		}},
		{"batches without a sequence are not checked", []produce{
			{pid: -1, seq: -1, records: 2, wantBase: 0, wantLast: 1},
			{pid: -1, seq: -1, records: 2, wantBase: 2, wantLast: 3},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := openLog(t, newMemFS(), "/data/t-0", testConfig())
			defer mustClose(t, l)
			for i, st := range tt.steps {
				info, err := appendBatch(l, producerBatch(t, st), 0)
				if !errors.Is(err, st.wantErr) || (st.wantErr == nil && err != nil) {
					t.Fatalf("step %d %+v: error %v, want %v", i, st, err, st.wantErr)
				}
				if (err == nil || errors.Is(err, ErrDuplicateSequence)) && (info.BaseOffset != st.wantBase || info.LastOffset != st.wantLast) {
					t.Fatalf("step %d: offsets [%d, %d], want [%d, %d]", i, info.BaseOffset, info.LastOffset, st.wantBase, st.wantLast)
				}
			}
		})
	}
}

func producerBatch(t testing.TB, st produce) []byte {
	var p *record.Producer
	if st.pid >= 0 {
		p = &record.Producer{ID: st.pid, Epoch: st.epoch, BaseSequence: st.seq}
	}
	return newBatch(t, batchSpec{records: st.records, producer: p})
}

func TestDuplicateIsNotWritten(t *testing.T) {
	t.Parallel()
	l := openLog(t, newMemFS(), "/data/t-0", testConfig())
	defer mustClose(t, l)
	st := produce{pid: 9, seq: 0, records: 4}
	mustAppend(t, l, producerBatch(t, st), 0)
	size := l.Size()
	info, err := appendBatch(l, producerBatch(t, st), 0)
	if !errors.Is(err, ErrDuplicateSequence) || info.BaseOffset != 0 || info.LastOffset != 3 || info.LogAppendTime != -1 {
		t.Fatalf("duplicate: %+v, %v", info, err)
	}
	if l.Size() != size || l.LogEndOffset() != 4 {
		t.Fatalf("duplicate was written: size %d -> %d, log end %d", size, l.Size(), l.LogEndOffset())
	}
}

// Producer state must survive a clean restart (from the snapshot written at
// Close) and a crash (rebuilt from snapshots written at rolls and the batch
// headers after them, or from the whole log when there is no snapshot).
func TestProducerStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"close", "crash", "crash without snapshots"} {
		t.Run(mode, func(t *testing.T) {
			mem := newMemFS()
			dir := "/data/t-0"
			l := openLog(t, mem, dir, testConfig())
			// Enough batches to roll several segments (and write snapshots).
			seqs := map[int64]int32{}
			last := map[int64]produce{}
			for i := 0; i < 120; i++ {
				pid := int64(i % 4)
				st := produce{pid: pid, epoch: 2, seq: seqs[pid], records: 3}
				mustAppend(t, l, producerBatch(t, st), 0)
				seqs[pid] += 3
				last[pid] = st
			}
			if len(l.segs) < 3 {
				t.Fatalf("want several segments, have %d", len(l.segs))
			}
			fsys := FS(mem)
			switch mode {
			case "close":
				mustClose(t, l)
			default:
				if err := l.WaitDurable(t.Context(), l.LogEndOffset()); err != nil {
					t.Fatal(err)
				}
				crashed := mem.CrashClone()
				if mode == "crash without snapshots" {
					ents, _ := crashed.ReadDir(dir)
					for _, e := range ents {
						if filepath.Ext(e.Name()) == snapshotSuffix {
							crashed.Remove(filepath.Join(dir, e.Name()))
						}
					}
					crashed.SyncDir(dir)
				}
				mustClose(t, l)
				fsys = crashed
			}
			l = openLog(t, fsys, dir, testConfig())
			defer mustClose(t, l)
			for pid, st := range last {
				ps, ok := l.ProducerState(pid)
				if !ok || ps.Epoch != 2 || ps.LastSequence != seqs[pid]-1 {
					t.Fatalf("producer %d: %+v %v, want epoch 2 last sequence %d", pid, ps, ok, seqs[pid]-1)
				}
				// The last batch is recognised as a duplicate, a gap is refused
				// and the next sequence is accepted.
				if _, err := appendBatch(l, producerBatch(t, st), 0); !errors.Is(err, ErrDuplicateSequence) {
					t.Fatalf("producer %d: retry after restart: %v, want ErrDuplicateSequence", pid, err)
				}
				if _, err := appendBatch(l, producerBatch(t, produce{pid: pid, epoch: 2, seq: seqs[pid] + 1, records: 1}), 0); !errors.Is(err, ErrOutOfOrderSequence) {
					t.Fatalf("producer %d: gap after restart: %v, want ErrOutOfOrderSequence", pid, err)
				}
				if _, err := appendBatch(l, producerBatch(t, produce{pid: pid, epoch: 1, seq: seqs[pid], records: 1}), 0); !errors.Is(err, ErrInvalidProducerEpoch) {
					t.Fatalf("producer %d: old epoch after restart: %v, want ErrInvalidProducerEpoch", pid, err)
				}
				mustAppend(t, l, producerBatch(t, produce{pid: pid, epoch: 2, seq: seqs[pid], records: 1}), 0)
			}
		})
	}
}

// Kept are the snapshots at the two newest segment bases and the one Close
// wrote at the log end (its scan start's).
func TestSnapshotsKeepTheNewestTwo(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	dir := "/data/t-0"
	l := openLog(t, mem, dir, testConfig())
	for i := 0; i < 200; i++ {
		mustAppend(t, l, newBatch(t, batchSpec{valueSize: 100}), 0)
	}
	mustClose(t, l)
	ents, _ := mem.ReadDir(dir)
	var snaps []string
	for _, e := range ents {
		if filepath.Ext(e.Name()) == snapshotSuffix {
			snaps = append(snaps, e.Name())
		}
	}
	l.segMu.RLock()
	n := len(l.segs)
	want := []string{fileName(l.segs[n-2].base, snapshotSuffix), fileName(l.segs[n-1].base, snapshotSuffix), fileName(200, snapshotSuffix)}
	l.segMu.RUnlock()
	if !slices.Equal(snaps, want) {
		t.Fatalf("snapshots %v, want %v", snaps, want)
	}
}

// A snapshot that fails its CRC is skipped: the state comes from the older
// one and the batches after it.
func TestCorruptSnapshotIsSkipped(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	dir := "/data/t-0"
	l := openLog(t, mem, dir, testConfig())
	for i := 0; i < 10; i++ {
		mustAppend(t, l, producerBatch(t, produce{pid: 7, seq: int32(i), records: 1}), 0)
	}
	mustClose(t, l)
	path := filepath.Join(dir, fileName(10, snapshotSuffix))
	f, err := mem.OpenFile(path, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff}, 12)
	f.Close()
	var logs logBuffer
	l = openLog(t, mem, dir, testConfig(), func(o *Options) { o.Logger = logs.logger() })
	defer mustClose(t, l)
	if ps, ok := l.ProducerState(7); !ok || ps.LastSequence != 9 || ps.LastOffset != 9 {
		t.Fatalf("producer 7 after a corrupt snapshot: %+v %v", ps, ok)
	}
	if !bytes.Contains([]byte(logs.String()), []byte("skipping producer snapshot")) {
		t.Fatalf("no warning about the corrupt snapshot in:\n%s", logs.String())
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	ps := newProducerStates()
	for i := 0; i < 8; i++ {
		h := record.Header{ProducerID: int64(i), ProducerEpoch: int16(i), BaseSequence: 0, BaseOffset: int64(10 * i), LastOffsetDelta: 2, MaxTimestamp: 99}
		for j := 0; j < i; j++ {
			ps.apply(&h, nil)
			h.BaseSequence += 3
			h.BaseOffset += 3
		}
	}
	b := ps.encodeSnapshot()
	got, err := decodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.encodeSnapshot(), b) {
		t.Fatal("snapshot does not round-trip")
	}
	if e := got.byID[7]; len(e.batches) != maxProducerBatches || e.lastSeq() != 20 {
		t.Fatalf("producer 7: %+v", e)
	}
	for i := range b {
		if _, err := decodeSnapshot(b[:i]); err == nil {
			t.Fatalf("a snapshot cut at %d of %d bytes decoded", i, len(b))
		}
	}
}
