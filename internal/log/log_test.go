package log

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
)

// testConfig is a config with small segments and a dense index, so tests
// cross many segments and index entries with little data.
func testConfig() Config {
	return Config{
		SegmentBytes:       4096,
		SegmentMs:          7 * 24 * 3600 * 1000,
		IndexIntervalBytes: 256,
		SegmentIndexBytes:  10 << 20,
		RetentionMs:        -1,
		RetentionBytes:     -1,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		FileDeleteDelayMs:  60000,
	}
}

// batchSpec describes a test batch.
type batchSpec struct {
	records   int   // default 1
	ts        int64 // base timestamp
	tsStep    int64 // timestamp delta between records
	valueSize int   // default 20
	codec     record.Codec
	producer  *record.Producer
}

// newBatch builds a valid v2 batch with record.Build. Record i's value is
// "v<i>" padded with a byte derived from the base timestamp.
func newBatch(t testing.TB, s batchSpec) []byte {
	t.Helper()
	n := max(s.records, 1)
	size := s.valueSize
	if size == 0 {
		size = 20
	}
	recs := make([]record.Record, n)
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + (s.ts+int64(i))%26)}, size)
		copy(v, fmt.Sprintf("v%d", i))
		recs[i] = record.Record{TimestampDelta: int64(i) * s.tsStep, OffsetDelta: int32(i), Value: v}
	}
	b, err := record.Build(record.BuildOptions{BaseTimestamp: s.ts, Codec: s.codec, Producer: s.producer}, recs)
	if err != nil {
		t.Fatalf("build batch: %v", err)
	}
	return b
}

func appendBatch(l *Log, b []byte, epoch int32) (AppendInfo, error) {
	h, err := record.Validate(b)
	if err != nil {
		return AppendInfo{}, err
	}
	return l.Append(b, h, epoch)
}

func mustAppend(t testing.TB, l *Log, b []byte, epoch int32) AppendInfo {
	t.Helper()
	info, err := appendBatch(l, b, epoch)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return info
}

// logBuffer collects a log's slog output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fsKind is a filesystem the shared tests run against (nats-server's
// store_test.go runs one suite against file and memory stores).
type fsKind struct {
	name string
	new  func(t testing.TB) (FS, string)
}

var fsKinds = []fsKind{
	{"os", func(t testing.TB) (FS, string) { return OSFS{}, filepath.Join(t.TempDir(), "topic-0") }},
	{"mem", func(t testing.TB) (FS, string) { return newMemFS(), "/data/topic-0" }},
}

func openLog(t testing.TB, fsys FS, dir string, cfg Config, opts ...func(*Options)) *Log {
	t.Helper()
	o := Options{FS: fsys}
	for _, f := range opts {
		f(&o)
	}
	l, err := Open(dir, cfg, o)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return l
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// readAll reads the whole log from offset from, one Read at a time, and
// returns the batches in order.
func readAll(t testing.TB, l *Log, from int64, maxBytes int) [][]byte {
	t.Helper()
	var out [][]byte
	next := from
	for next < l.LogEndOffset() {
		b, err := l.Read(next, maxBytes, math.MaxInt64)
		if err != nil {
			t.Fatalf("read %d: %v", next, err)
		}
		if len(b) == 0 {
			t.Fatalf("read %d: no bytes before the log end %d", next, l.LogEndOffset())
		}
		err = record.Batches(b, false, func(h record.Header, batch []byte) error {
			if _, err := record.Validate(batch); err != nil {
				return err
			}
			out = append(out, batch)
			next = h.LastOffset() + 1
			return nil
		})
		if err != nil {
			t.Fatalf("read %d: %v", next, err)
		}
	}
	return out
}

// model is what a log should hold: the batches appended, as written.
type model struct{ batches [][]byte }

func (m *model) add(b []byte) { m.batches = append(m.batches, append([]byte(nil), b...)) }

// check compares the log with the model from offset from on.
func (m *model) check(t testing.TB, l *Log, from int64) {
	t.Helper()
	var want [][]byte
	for _, b := range m.batches {
		h, _ := record.ParseHeader(b)
		if h.LastOffset() >= from {
			want = append(want, b)
		}
	}
	got := readAll(t, l, from, 1<<20)
	if len(got) != len(want) {
		t.Fatalf("log holds %d batches from %d, want %d", len(got), from, len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			gh, _ := record.ParseHeader(got[i])
			wh, _ := record.ParseHeader(want[i])
			t.Fatalf("batch %d differs: got base offset %d (%d bytes), want %d (%d bytes)",
				i, gh.BaseOffset, len(got[i]), wh.BaseOffset, len(want[i]))
		}
	}
}

func TestAppendAssignsOffsetsAndEpochAcrossRolledSegments(t *testing.T) {
	t.Parallel()
	for _, k := range fsKinds {
		t.Run(k.name, func(t *testing.T) {
			fsys, dir := k.new(t)
			l := openLog(t, fsys, dir, testConfig())
			var m model
			next := int64(0)
			for i := 0; i < 300; i++ {
				b := newBatch(t, batchSpec{records: 1 + i%7, ts: int64(1000 + i), valueSize: 10 + i%90})
				info := mustAppend(t, l, b, 3)
				n := int64(1 + i%7)
				if info.BaseOffset != next || info.LastOffset != next+n-1 || info.LogAppendTime != -1 || info.LogStartOffset != 0 {
					t.Fatalf("append %d: got %+v, want offsets [%d, %d]", i, info, next, next+n-1)
				}
				h, _ := record.ParseHeader(b)
				if h.BaseOffset != next || h.PartitionLeaderEpoch != 3 {
					t.Fatalf("append %d: batch rewritten to base %d epoch %d", i, h.BaseOffset, h.PartitionLeaderEpoch)
				}
				m.add(b)
				next += n
			}
			if got := l.LogEndOffset(); got != next {
				t.Fatalf("log end offset %d, want %d", got, next)
			}
			if len(l.segs) < 10 {
				t.Fatalf("only %d segments; the test wants many rolls", len(l.segs))
			}
			for _, s := range l.segs {
				if s.size.Load() > testConfig().SegmentBytes {
					t.Fatalf("segment %d has %d bytes, above segment.bytes", s.base, s.size.Load())
				}
			}
			m.check(t, l, 0)
			// Every offset reads back starting with the batch that holds it.
			for off := int64(0); off < next; off++ {
				b, err := l.Read(off, 1, math.MaxInt64)
				if err != nil {
					t.Fatalf("read %d: %v", off, err)
				}
				h, err := record.Validate(b)
				if err != nil {
					t.Fatalf("read %d: %v", off, err)
				}
				if h.BaseOffset > off || h.LastOffset() < off {
					t.Fatalf("read %d returned batch [%d, %d]", off, h.BaseOffset, h.LastOffset())
				}
			}
			segments := len(l.segs)
			mustClose(t, l)

			l = openLog(t, fsys, dir, testConfig())
			defer mustClose(t, l)
			if l.LogEndOffset() != next || len(l.segs) != segments {
				t.Fatalf("after reopen: log end %d with %d segments, want %d with %d", l.LogEndOffset(), len(l.segs), next, segments)
			}
			m.check(t, l, 0)
			b := newBatch(t, batchSpec{records: 2})
			if info := mustAppend(t, l, b, 3); info.BaseOffset != next {
				t.Fatalf("append after reopen got base %d, want %d", info.BaseOffset, next)
			}
		})
	}
}

func TestReadBoundaries(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	l := openLog(t, fsys, dir, cfg)
	defer mustClose(t, l)
	// Five batches of 10 records: offsets [0,9] [10,19] ... [40,49].
	var sizes []int
	var batches [][]byte
	for i := 0; i < 5; i++ {
		b := newBatch(t, batchSpec{records: 10, ts: int64(i)})
		mustAppend(t, l, b, 0)
		sizes = append(sizes, len(b))
		batches = append(batches, b)
	}
	if err := l.DeleteRecordsBefore(5); err != nil {
		t.Fatal(err)
	}
	concat := func(from, to int) []byte { return bytes.Join(batches[from:to], nil) }

	tests := []struct {
		name     string
		offset   int64
		maxBytes int
		limit    int64
		want     []byte
		wantErr  error
	}{
		{"whole log", 5, 1 << 20, math.MaxInt64, concat(0, 5), nil},
		{"maxBytes below the first batch still returns it whole (KIP-74)", 12, 1, math.MaxInt64, concat(1, 2), nil},
		{"maxBytes zero returns the first batch", 12, 0, math.MaxInt64, concat(1, 2), nil},
		{"maxBytes fits two and a half batches", 10, sizes[1] + sizes[2] + sizes[3]/2, math.MaxInt64, concat(1, 3), nil},
		{"maxBytes exactly two batches", 10, sizes[1] + sizes[2], math.MaxInt64, concat(1, 3), nil},
		{"offset in the middle of a batch starts with that batch", 27, 1 << 20, math.MaxInt64, concat(2, 5), nil},
		{"offset at the last record of a batch", 29, 1, math.MaxInt64, concat(2, 3), nil},
		{"limit stops before a batch based at it", 10, 1 << 20, 30, concat(1, 3), nil},
		{"limit inside a batch keeps that batch", 10, 1 << 20, 35, concat(1, 4), nil},
		{"offset at the limit returns nothing", 30, 1 << 20, 30, nil, nil},
		{"offset at the log end returns nothing", 50, 1 << 20, math.MaxInt64, nil, nil},
		{"log start offset in the middle of the first batch", 5, 1, math.MaxInt64, concat(0, 1), nil},
		{"below the log start offset", 4, 1 << 20, math.MaxInt64, nil, ErrOffsetOutOfRange},
		{"above the log end offset", 51, 1 << 20, math.MaxInt64, nil, ErrOffsetOutOfRange},
		{"negative offset", -1, 1 << 20, math.MaxInt64, nil, ErrOffsetOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Read(tt.offset, tt.maxBytes, tt.limit)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Read(%d, %d, %d) error %v, want %v", tt.offset, tt.maxBytes, tt.limit, err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("Read(%d, %d, %d) returned %d bytes, want %d", tt.offset, tt.maxBytes, tt.limit, len(got), len(tt.want))
			}
		})
	}
}

// writeSegmentFile writes a segment file holding batches at the given base
// offsets, as compaction leaves them: offsets may skip.
func writeSegmentFile(t *testing.T, fsys FS, dir string, base int64, batches [][]byte, offsets []int64) {
	t.Helper()
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.OpenFile(filepath.Join(dir, fileName(base, logSuffix)), osCreateTrunc, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range batches {
		record.SetBaseOffset(b, offsets[i])
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
}

// A segment gap (left by compaction) makes a read continue at the next
// segment.
func TestReadContinuesPastASegmentGap(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	first := newBatch(t, batchSpec{records: 10})
	second := newBatch(t, batchSpec{records: 3})
	writeSegmentFile(t, fsys, dir, 0, [][]byte{first}, []int64{0})    // [0, 9]
	writeSegmentFile(t, fsys, dir, 15, [][]byte{second}, []int64{15}) // [15, 17]
	l := openLog(t, fsys, dir, testConfig())
	defer mustClose(t, l)
	if l.LogEndOffset() != 18 || len(l.segs) != 2 {
		t.Fatalf("log end %d with %d segments, want 18 with 2", l.LogEndOffset(), len(l.segs))
	}
	for _, off := range []int64{10, 12, 14, 15, 17} {
		got, err := l.Read(off, 1<<20, math.MaxInt64)
		if err != nil || !bytes.Equal(got, second) {
			t.Fatalf("read %d: %d bytes, %v; want the batch at 15", off, len(got), err)
		}
	}
	if got, err := l.Read(9, 1<<20, math.MaxInt64); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("read 9: %d bytes, %v; want the first batch only", len(got), err)
	}
	// Truncating into the gap keeps the first segment whole and ends the
	// log after it.
	if err := l.Truncate(12); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 10 || len(l.segs) != 1 {
		t.Fatalf("after Truncate(12): log end %d with %d segments, want 10 with 1", l.LogEndOffset(), len(l.segs))
	}
}

func TestOperationsOnClosedLog(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	l := openLog(t, fsys, dir, testConfig())
	mustAppend(t, l, newBatch(t, batchSpec{}), 0)
	mustClose(t, l)
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := appendBatch(l, newBatch(t, batchSpec{}), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := l.Read(0, 100, math.MaxInt64); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v, want ErrClosed", err)
	}
	if err := l.WaitDurable(t.Context(), 1); err != nil {
		t.Fatalf("WaitDurable for a durable offset after Close: %v", err)
	}
}

func TestDeleteRemovesTheDirectory(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	l := openLog(t, fsys, dir, testConfig())
	mustAppend(t, l, newBatch(t, batchSpec{}), 0)
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat(dir); !isNotExist(err) {
		t.Fatalf("directory still there after Delete: %v", err)
	}
}

func TestAppendRejectsABatchThatDisagreesWithItsHeader(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	l := openLog(t, fsys, dir, testConfig())
	defer mustClose(t, l)
	b := newBatch(t, batchSpec{})
	h, _ := record.Validate(b)
	if _, err := l.Append(b[:len(b)-1], h, 0); err == nil || !strings.Contains(err.Error(), "header says") {
		t.Fatalf("Append of a short batch: %v", err)
	}
	if l.LogEndOffset() != 0 {
		t.Fatalf("log end %d after a refused append", l.LogEndOffset())
	}
}

func TestSizeAndDir(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	l := openLog(t, fsys, dir, testConfig())
	defer mustClose(t, l)
	var total int64
	for i := 0; i < 50; i++ {
		b := newBatch(t, batchSpec{valueSize: 100})
		mustAppend(t, l, b, 0)
		total += int64(len(b))
	}
	if l.Size() != total || l.Dir() != dir {
		t.Fatalf("Size %d Dir %q, want %d %q", l.Size(), l.Dir(), total, dir)
	}
}
