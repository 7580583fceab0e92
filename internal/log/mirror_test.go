package log

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
)

// splitBatches returns each batch of b with its header.
func splitBatches(t *testing.T, b []byte) (batches [][]byte, headers []record.Header) {
	t.Helper()
	if err := record.Batches(b, false, func(h record.Header, batch []byte) error {
		batches, headers = append(batches, batch), append(headers, h)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return batches, headers
}

// A mirrored batch keeps its source offsets (a gap stays a gap) and bytes,
// except its partition leader epoch, which becomes this leader's; a retried
// copy is skipped, and a batch straddling the log end is refused whole.
func TestAppendMirroredKeepsSourceOffsetsSkipsRetriesRefusesOverlap(t *testing.T) {
	t.Parallel()
	src := leaderBatches(t, []int32{1, 1, 3, 3, 4}, &record.Producer{ID: 7, Epoch: 0})
	batches, hs := splitBatches(t, src)
	l := openLog(t, OSFS{}, filepath.Join(t.TempDir(), "mirror-0"), testConfig())
	defer mustClose(t, l)

	// The first two batches, then the fourth: the third is a source gap.
	first := bytes.Join([][]byte{bytes.Clone(batches[0]), bytes.Clone(batches[1])}, nil)
	info, err := l.AppendMirrored(first, 9)
	if err != nil {
		t.Fatal(err)
	}
	if info.BaseOffset != 0 || info.LastOffset != hs[1].LastOffset() {
		t.Fatalf("appended [%d, %d], want [0, %d]", info.BaseOffset, info.LastOffset, hs[1].LastOffset())
	}
	if info, err = l.AppendMirrored(bytes.Clone(batches[3]), 9); err != nil {
		t.Fatal(err)
	}
	if info.BaseOffset != hs[3].BaseOffset || l.LogEndOffset() != hs[3].LastOffset()+1 {
		t.Fatalf("appended from %d, log end %d; want from %d, end %d", info.BaseOffset, l.LogEndOffset(), hs[3].BaseOffset, hs[3].LastOffset()+1)
	}
	// A retry of everything so far plus the last batch stores the last once.
	again := bytes.Join([][]byte{bytes.Clone(batches[0]), bytes.Clone(batches[1]), bytes.Clone(batches[3]), bytes.Clone(batches[4])}, nil)
	if info, err = l.AppendMirrored(again, 9); err != nil {
		t.Fatal(err)
	}
	if info.BaseOffset != hs[4].BaseOffset || l.LogEndOffset() != hs[4].LastOffset()+1 {
		t.Fatalf("retry appended from %d, log end %d; want from %d, end %d", info.BaseOffset, l.LogEndOffset(), hs[4].BaseOffset, hs[4].LastOffset()+1)
	}
	if info, err = l.AppendMirrored(bytes.Clone(batches[4]), 9); err != nil || info.BaseOffset != -1 {
		t.Fatalf("a copy already stored: appended from %d, err %v; want nothing, no error", info.BaseOffset, err)
	}
	got, gotH := splitBatches(t, bytes.Join(readAll(t, l, 0, 1<<20), nil))
	want := []int{0, 1, 3, 4}
	if len(got) != len(want) {
		t.Fatalf("%d batches stored, want %d", len(got), len(want))
	}
	for i, k := range want {
		if gotH[i].BaseOffset != hs[k].BaseOffset || gotH[i].PartitionLeaderEpoch != 9 {
			t.Errorf("batch %d at %d epoch %d, want at %d epoch 9", i, gotH[i].BaseOffset, gotH[i].PartitionLeaderEpoch, hs[k].BaseOffset)
		}
		// Everything after the epoch field is the source's, byte for byte.
		if !bytes.Equal(got[i][16:], batches[k][16:]) {
			t.Errorf("batch %d: bytes differ from the source's", i)
		}
	}
	// A batch whose offsets straddle the log end: nothing appended.
	straddle := bytes.Clone(batches[4])
	record.SetBaseOffset(straddle, l.LogEndOffset()-1)
	end := l.LogEndOffset()
	if _, err := l.AppendMirrored(straddle, 9); !errors.Is(err, ErrMirrorOverlap) {
		t.Fatalf("straddling batch: err %v, want ErrMirrorOverlap", err)
	}
	if l.LogEndOffset() != end {
		t.Fatalf("log end moved to %d after a refused batch, want %d", l.LogEndOffset(), end)
	}
}
