package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// The log cleaner's tests follow Kafka's LogCleaner semantics: the latest
// record of each key stays, offsets never change, tombstones outlive their
// first cleaning by delete.retention.ms (KIP-534), dirty ratio and
// compaction lags decide when (KIP-354), producer state survives.

func compactConfig() Config {
	cfg := testConfig()
	cfg.CleanupPolicy = PolicyCompact
	cfg.DeleteRetentionMs = 1000
	cfg.MinCleanableDirtyRatio = 0.5
	cfg.MaxCompactionLagMs = math.MaxInt64
	return cfg
}

// msClock is a settable wall clock, safe for concurrent use.
type msClock struct{ ms atomic.Int64 }

func (c *msClock) now() time.Time  { return time.UnixMilli(c.ms.Load()) }
func (c *msClock) advance(d int64) { c.ms.Add(d) }
func withClock(c *msClock) func(*Options) {
	return func(o *Options) { o.Now = c.now }
}

// kv is one record as the tests see it.
type kv struct {
	offset int64
	key    string
	value  *string // nil: tombstone
	ts     int64
}

func (r kv) String() string {
	v := "<nil>"
	if r.value != nil {
		v = *r.value
	}
	return fmt.Sprintf("%d:%s=%s", r.offset, r.key, v)
}

func str(s string) *string { return &s }

// keyedBatch builds a batch of records with the given keys and values
// (nil value: a tombstone), timestamps ts, ts+1, ...
func keyedBatch(t testing.TB, codec record.Codec, p *record.Producer, ts int64, recs ...kv) []byte {
	t.Helper()
	rs := make([]record.Record, len(recs))
	for i, r := range recs {
		rs[i] = record.Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: []byte(r.key)}
		if r.value != nil {
			rs[i].Value = []byte(*r.value)
		}
	}
	b, err := record.Build(record.BuildOptions{BaseTimestamp: ts, Codec: codec, Producer: p}, rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readRecords reads every record of the log, checking that batches and
// records come in strictly increasing offsets.
func readRecords(t testing.TB, l *Log) ([]kv, []record.Header) {
	t.Helper()
	cs := record.NewCodecs()
	var out []kv
	var hs []record.Header
	last := int64(-1)
	for _, b := range readAll(t, l, l.LogStartOffset(), 1<<20) {
		h, _ := record.ParseHeader(b)
		if h.BaseOffset <= last {
			t.Fatalf("batch at %d after offset %d", h.BaseOffset, last)
		}
		hs = append(hs, h)
		recs, err := cs.Records(b, 1<<24)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			off := h.BaseOffset + int64(r.OffsetDelta)
			if off <= last || off > h.LastOffset() {
				t.Fatalf("record at %d after %d in batch [%d, %d]", off, last, h.BaseOffset, h.LastOffset())
			}
			last = off
			rec := kv{offset: off, key: string(r.Key), ts: h.BaseTimestamp + r.TimestampDelta}
			if r.Value != nil {
				rec.value = str(string(r.Value))
			}
			out = append(out, rec)
		}
		last = max(last, h.LastOffset())
	}
	return out, hs
}

// expectAfterClean is what a pass that cleaned everything below end must
// leave: below end, the last record of each key (tombstones too when
// keepTombstones), then everything from end on.
func expectAfterClean(all []kv, end int64, keepTombstones bool) []kv {
	lastBelow := map[string]int64{}
	for _, r := range all {
		if r.offset < end {
			lastBelow[r.key] = r.offset
		}
	}
	var out []kv
	for _, r := range all {
		if r.offset >= end {
			out = append(out, r)
			continue
		}
		if lastBelow[r.key] == r.offset && (r.value != nil || keepTombstones) {
			out = append(out, r)
		}
	}
	return out
}

func sameRecords(t testing.TB, got, want []kv) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d\ngot  %v\nwant %v", len(got), len(want), head(got), head(want))
	}
	for i := range got {
		if got[i].String() != want[i].String() || got[i].ts != want[i].ts {
			t.Fatalf("record %d: got %v (ts %d), want %v (ts %d)", i, got[i], got[i].ts, want[i], want[i].ts)
		}
	}
}

func head(rs []kv) []kv {
	if len(rs) > 20 {
		return rs[:20]
	}
	return rs
}

// fillKeyed appends n batches of 1-4 records over keys key-0..key-(keys-1),
// with about one tombstone in ten, and returns the log's records.
func fillKeyed(t testing.TB, l *Log, rng *rand.Rand, codec record.Codec, n, keys int, ts int64) {
	t.Helper()
	for i := 0; i < n; i++ {
		recs := make([]kv, 1+rng.IntN(4))
		for j := range recs {
			recs[j].key = fmt.Sprintf("key-%d", rng.IntN(keys))
			if rng.IntN(10) != 0 {
				recs[j].value = str(fmt.Sprintf("value-%d-%d-%s", i, j, bytes.Repeat([]byte("x"), rng.IntN(40))))
			}
		}
		mustAppend(t, l, keyedBatch(t, codec, nil, ts+int64(i), recs...), 1)
	}
}

func durable(t testing.TB, l *Log) {
	t.Helper()
	if err := l.WaitDurable(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
}

func mustClean(t testing.TB, l *Log, opts CleanOptions) CleanStats {
	t.Helper()
	st, err := l.Clean(opts)
	if err != nil {
		t.Fatalf("clean: %v", err)
	}
	return st
}

func TestCleanerKeepsTheLatestValuePerKeyWithEveryCodec(t *testing.T) {
	t.Parallel()
	for _, codec := range []record.Codec{record.CodecNone, record.CodecGzip, record.CodecSnappy, record.CodecLZ4, record.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			t.Parallel()
			for _, kind := range fsKinds {
				fsys, dir := kind.new(t)
				clock := &msClock{}
				clock.ms.Store(1_000_000)
				l := openLog(t, fsys, dir, compactConfig(), withClock(clock))
				fillKeyed(t, l, rand.New(rand.NewPCG(1, uint64(codec))), codec, 600, 40, 1000)
				durable(t, l)
				before, _ := readRecords(t, l)
				leo, size := l.LogEndOffset(), l.Size()
				st := mustClean(t, l, CleanOptions{UpperBound: leo, Force: true})
				if !st.Cleaned || st.EndOffset != l.active.base {
					t.Fatalf("stats %+v, active segment at %d", st, l.active.base)
				}
				after, hs := readRecords(t, l)
				sameRecords(t, after, expectAfterClean(before, st.EndOffset, true))
				for _, h := range hs {
					if h.RecordCount > 0 && h.Codec() != codec {
						t.Fatalf("batch at %d has codec %s, want %s", h.BaseOffset, h.Codec(), codec)
					}
				}
				if l.LogEndOffset() != leo || l.Size() >= size {
					t.Fatalf("log end %d (was %d), size %d (was %d)", l.LogEndOffset(), leo, l.Size(), size)
				}
				t.Logf("%s/%s: %d -> %d bytes, %d -> %d segments in range", kind.name, codec, st.BytesBefore, st.BytesAfter, st.SegmentsBefore, st.SegmentsAfter)
				// A second pass merges the small cleaned segments and changes
				// no record; a restart reads the same.
				st = mustClean(t, l, CleanOptions{UpperBound: leo, Force: true})
				if st.SegmentsAfter >= st.SegmentsBefore || st.SegmentsAfter > 2 {
					t.Fatalf("small cleaned segments were not grouped: %d -> %d", st.SegmentsBefore, st.SegmentsAfter)
				}
				again, _ := readRecords(t, l)
				sameRecords(t, again, after)
				mustClose(t, l)
				l = openLog(t, fsys, dir, compactConfig(), withClock(clock))
				reopened, _ := readRecords(t, l)
				sameRecords(t, reopened, after)
				mustClose(t, l)
			}
		})
	}
}

func TestCleanerLeavesTheActiveSegmentAndEverythingFromTheUpperBound(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	l := openLog(t, mem, "/data/t-0", compactConfig())
	defer mustClose(t, l)
	fillKeyed(t, l, rand.New(rand.NewPCG(2, 2)), record.CodecNone, 400, 10, 1000)
	durable(t, l)
	before, _ := readRecords(t, l)
	// A bound inside the log: only segments wholly below it are cleaned.
	l.segMu.RLock()
	mid := l.segs[len(l.segs)/2]
	bound := mid.base + 3
	var untouched [][]byte
	l.segMu.RUnlock()
	for _, b := range readAll(t, l, mid.base, 1<<20) {
		untouched = append(untouched, b)
	}
	st := mustClean(t, l, CleanOptions{UpperBound: bound, Force: true})
	if st.EndOffset != mid.base {
		t.Fatalf("cleaned up to %d, want the base %d of the segment holding the bound %d", st.EndOffset, mid.base, bound)
	}
	after, _ := readRecords(t, l)
	sameRecords(t, after, expectAfterClean(before, mid.base, true))
	got := readAll(t, l, mid.base, 1<<20)
	if len(got) != len(untouched) {
		t.Fatalf("%d batches from the bound's segment on, want %d", len(got), len(untouched))
	}
	for i := range got {
		if !bytes.Equal(got[i], untouched[i]) {
			t.Fatalf("batch %d at or past the upper bound changed", i)
		}
	}
	// With the bound at the log end, the active segment is still left.
	activeBefore := readAll(t, l, l.active.base, 1<<20)
	mustClean(t, l, CleanOptions{UpperBound: math.MaxInt64, Force: true})
	activeAfter := readAll(t, l, l.active.base, 1<<20)
	if len(activeBefore) != len(activeAfter) {
		t.Fatalf("active segment changed: %d batches, was %d", len(activeAfter), len(activeBefore))
	}
}

func TestCleanerRemovesTombstonesOnlyAfterDeleteRetention(t *testing.T) {
	t.Parallel()
	clock := &msClock{}
	clock.ms.Store(10_000)
	cfg := compactConfig()
	cfg.SegmentBytes = 300
	cfg.DeleteRetentionMs = 5000
	l := openLog(t, newMemFS(), "/data/t-0", cfg, withClock(clock))
	defer mustClose(t, l)
	mustAppend(t, l, keyedBatch(t, record.CodecGzip, nil, 100, kv{key: "a", value: str("1")}, kv{key: "b", value: str("1")}), 1)
	mustAppend(t, l, keyedBatch(t, record.CodecGzip, nil, 200, kv{key: "a"}, kv{key: "c", value: str("1")}), 1)
	mustAppend(t, l, keyedBatch(t, record.CodecGzip, nil, 300, kv{key: "d", value: str("1")}), 1)
	mustAppend(t, l, keyedBatch(t, record.CodecGzip, nil, 400, kv{key: "e", value: str("1")}), 1)
	durable(t, l)
	end := l.active.base
	before, _ := readRecords(t, l)

	// First pass: a=1 goes, the tombstone stays and gets a delete horizon.
	if c := l.Cleanability(l.LogEndOffset()); !c.Eligible || c.HorizonDue {
		t.Fatalf("cleanability before the first pass: %+v", c)
	}
	mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset()})
	after, hs := readRecords(t, l)
	sameRecords(t, after, expectAfterClean(before, end, true))
	var horizon int64 = -1
	for _, h := range hs {
		if h.HasDeleteHorizon() {
			horizon = h.DeleteHorizon()
		}
	}
	if horizon != 10_000+5000 {
		t.Fatalf("delete horizon %d, want now + delete.retention.ms = %d", horizon, 15_000)
	}
	// Before the horizon: nothing to do, the tombstone stays.
	clock.advance(4999)
	if c := l.Cleanability(l.LogEndOffset()); c.Eligible {
		t.Fatalf("eligible before the horizon: %+v", c)
	}
	mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), Force: true})
	again, _ := readRecords(t, l)
	sameRecords(t, again, after)
	// At the horizon the log is due, and the tombstone goes.
	clock.advance(1)
	if c := l.Cleanability(l.LogEndOffset()); !c.Eligible || !c.HorizonDue {
		t.Fatalf("not due at the horizon: %+v", c)
	}
	mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset()})
	final, _ := readRecords(t, l)
	sameRecords(t, final, expectAfterClean(before, end, false))
	for _, r := range final {
		if r.key == "a" {
			t.Fatalf("deleted key a still in the log: %v", r)
		}
	}
	// The horizon survives a restart through the checkpoint.
	if c := l.Cleanability(l.LogEndOffset()); c.HorizonDue {
		t.Fatalf("still due after the tombstone went: %+v", c)
	}
}

func TestCleanerHonoursDirtyRatioAndCompactionLags(t *testing.T) {
	t.Parallel()
	clock := &msClock{}
	clock.ms.Store(1_000_000)
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.5
	l := openLog(t, newMemFS(), "/data/t-0", cfg, withClock(clock))
	defer mustClose(t, l)
	rng := rand.New(rand.NewPCG(3, 3))
	// Few keys, many updates: after a clean the log is small, so a little
	// more data is dirty enough.
	fillKeyed(t, l, rng, record.CodecNone, 300, 5, 900_000)
	durable(t, l)
	c := l.Cleanability(l.LogEndOffset())
	if !c.Eligible || c.CleanBytes != 0 || c.Ratio != 1 {
		t.Fatalf("never cleaned: %+v", c)
	}
	mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset()})
	if c := l.Cleanability(l.LogEndOffset()); c.Eligible || c.DirtyBytes != 0 || c.CleanBytes == 0 {
		t.Fatalf("just cleaned: %+v", c)
	}

	// Dirty but below the ratio: not eligible, and Clean does nothing.
	cfg.MinCleanableDirtyRatio = 0.99
	l.SetConfig(cfg)
	fill2 := l.LogEndOffset()
	fillKeyed(t, l, rng, record.CodecNone, 60, 5, 950_000)
	durable(t, l)
	c = l.Cleanability(l.LogEndOffset())
	if c.Eligible || c.DirtyBytes == 0 || c.Ratio > 0.99 {
		t.Fatalf("below the ratio: %+v", c)
	}
	if st := mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset()}); st.Cleaned {
		t.Fatalf("cleaned below the ratio: %+v", st)
	}

	// max.compaction.lag.ms: the first dirty record is older than the lag,
	// so the log must be cleaned whatever its ratio (KIP-354).
	cfg.MaxCompactionLagMs = 60_000
	l.SetConfig(cfg)
	if c := l.Cleanability(l.LogEndOffset()); !c.Eligible || !c.ForcedByLag {
		t.Fatalf("past max.compaction.lag.ms: %+v", c)
	}
	cfg.MaxCompactionLagMs = 200_000
	l.SetConfig(cfg)
	if c := l.Cleanability(l.LogEndOffset()); c.Eligible || c.ForcedByLag {
		t.Fatalf("within max.compaction.lag.ms: %+v", c)
	}

	// min.compaction.lag.ms: dirty segments with records younger than the
	// lag are out of reach.
	cfg.MinCleanableDirtyRatio = 0
	cfg.MinCompactionLagMs = 1_000_000 - 950_000 + 10 // the new records are younger
	l.SetConfig(cfg)
	c = l.Cleanability(l.LogEndOffset())
	if c.FirstUncleanableOffset > fill2 {
		t.Fatalf("within min.compaction.lag.ms, records from %d are cleanable: %+v", fill2, c)
	}
	clock.advance(100) // past the newest record's timestamp + the lag
	if c := l.Cleanability(l.LogEndOffset()); !c.Eligible || c.FirstUncleanableOffset <= fill2 || c.FirstUncleanableOffset != l.active.base {
		t.Fatalf("past min.compaction.lag.ms: %+v", c)
	}
}

func TestCleanerKeepsTheLastBatchOfEachProducer(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	dir := "/data/t-0"
	cfg := compactConfig()
	l := openLog(t, mem, dir, cfg)
	// Producer 7 writes key k five times, one record per batch; producer 8
	// writes key k then nothing; a plain producer overwrites k last, and
	// enough filler rolls the segment.
	var seq int32
	for i := 0; i < 5; i++ {
		mustAppend(t, l, keyedBatch(t, record.CodecZstd, &record.Producer{ID: 7, Epoch: 1, BaseSequence: seq}, int64(i), kv{key: "k", value: str(fmt.Sprint(i))}, kv{key: "k", value: str(fmt.Sprint(i))}), 1)
		seq += 2
	}
	mustAppend(t, l, keyedBatch(t, record.CodecNone, &record.Producer{ID: 8, Epoch: 3, BaseSequence: 0}, 10, kv{key: "k", value: str("p8")}), 1)
	mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 11, kv{key: "k", value: str("last")}), 1)
	for i := 0; l.active.base == 0; i++ {
		mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 12, kv{key: fmt.Sprintf("f%d", i), value: str("x")}), 1)
	}
	durable(t, l)
	want7, _ := l.ProducerState(7)
	want8, _ := l.ProducerState(8)
	mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), Force: true})

	recs, hs := readRecords(t, l)
	for _, r := range recs {
		if r.key == "k" && *r.value != "last" {
			t.Fatalf("old value of k kept: %v", r)
		}
	}
	// The producers' last batches remain, empty, with their offsets and
	// sequences; the earlier ones are gone.
	var empties []record.Header
	for _, h := range hs {
		if h.ProducerID >= 0 {
			empties = append(empties, h)
		}
	}
	if len(empties) != 2 || empties[0].ProducerID != 7 || empties[0].RecordCount != 0 || empties[0].BaseOffset != 8 ||
		empties[0].LastOffset() != 9 || empties[0].LastSequence() != 9 || empties[1].ProducerID != 8 || empties[1].RecordCount != 0 {
		t.Fatalf("producer batches after cleaning: %+v", empties)
	}
	check := func(l *Log) {
		t.Helper()
		if got, _ := l.ProducerState(7); got != want7 {
			t.Fatalf("producer 7: %+v, want %+v", got, want7)
		}
		if got, _ := l.ProducerState(8); got != want8 {
			t.Fatalf("producer 8: %+v, want %+v", got, want8)
		}
		// A retry of producer 7's last batch is still recognised; its next
		// batch is accepted.
		retry := keyedBatch(t, record.CodecZstd, &record.Producer{ID: 7, Epoch: 1, BaseSequence: 8}, 4, kv{key: "k", value: str("4")}, kv{key: "k", value: str("4")})
		if info, err := appendBatch(l, retry, 1); !errors.Is(err, ErrDuplicateSequence) || info.BaseOffset != 8 {
			t.Fatalf("retry of the last batch: %+v %v", info, err)
		}
	}
	check(l)
	mustClose(t, l)
	// Producer state rebuilt from the log alone (no snapshot) is the same.
	entries, _ := mem.ReadDir(dir)
	for _, e := range entries {
		if _, suffix, ok := parseFileName(e.Name()); ok && suffix == snapshotSuffix {
			mem.Remove(dir + "/" + e.Name())
		}
	}
	l = openLog(t, mem, dir, cfg)
	defer mustClose(t, l)
	check(l)
	next := keyedBatch(t, record.CodecZstd, &record.Producer{ID: 7, Epoch: 1, BaseSequence: 10}, 4, kv{key: "k", value: str("5")})
	mustAppend(t, l, next, 1)
}

// controlBatch builds a transaction marker.
func controlBatch(t testing.TB, pid int64, epoch int16, ct record.ControlType, ts int64) []byte {
	t.Helper()
	b, err := record.Build(record.BuildOptions{
		BaseTimestamp: ts, Transactional: true, Control: true,
		Producer: &record.Producer{ID: pid, Epoch: epoch, BaseSequence: -1},
	}, []record.Record{{Key: record.ControlKey(ct), Value: []byte{0, 0, 0, 0, 0, 0}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func txnBatch(t testing.TB, pid int64, seq int32, ts int64, recs ...kv) []byte {
	t.Helper()
	rs := make([]record.Record, len(recs))
	for i, r := range recs {
		rs[i] = record.Record{OffsetDelta: int32(i), Key: []byte(r.key), Value: []byte(*r.value)}
	}
	b, err := record.Build(record.BuildOptions{BaseTimestamp: ts, Transactional: true,
		Producer: &record.Producer{ID: pid, Epoch: 0, BaseSequence: seq}}, rs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCleanerTransactionMarkers(t *testing.T) {
	t.Parallel()
	clock := &msClock{}
	clock.ms.Store(50_000)
	cfg := compactConfig()
	cfg.DeleteRetentionMs = 1000
	l := openLog(t, newMemFS(), "/data/t-0", cfg, withClock(clock))
	defer mustClose(t, l)
	mustAppend(t, l, txnBatch(t, 5, 0, 1, kv{key: "a", value: str("committed")}), 1) // 0
	mustAppend(t, l, controlBatch(t, 5, 0, record.ControlCommit, 2), 1)              // 1
	mustAppend(t, l, txnBatch(t, 5, 1, 3, kv{key: "b", value: str("aborted")}), 1)   // 2
	mustAppend(t, l, controlBatch(t, 5, 0, record.ControlAbort, 4), 1)               // 3
	mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 5, kv{key: "a", value: str("plain")}), 1)
	mustAppend(t, l, txnBatch(t, 5, 2, 6, kv{key: "c", value: str("last")}), 1) // 5
	mustAppend(t, l, controlBatch(t, 5, 0, record.ControlCommit, 7), 1)         // 6
	for i := 0; l.active.base == 0; i++ {
		mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 8, kv{key: fmt.Sprintf("f%d", i), value: str("x")}), 1)
	}
	durable(t, l)
	markers := func() map[int64]*record.Header {
		_, hs := readRecords(t, l)
		m := map[int64]*record.Header{}
		for _, h := range hs {
			if h.IsControl() {
				m[h.BaseOffset] = &h
			}
		}
		return m
	}
	values := func() map[string]string {
		recs, _ := readRecords(t, l)
		m := map[string]string{}
		for _, r := range recs {
			m[r.key] = *r.value
		}
		return m
	}

	// Pass 1: the aborted data and the superseded committed data go; their
	// markers stay (their transactions' data was still there to read).
	mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), Force: true})
	if v := values(); v["a"] != "plain" || v["b"] != "" || v["c"] != "last" {
		t.Fatalf("after pass 1: %v", v)
	}
	m := markers()
	if len(m) != 3 || m[1].HasDeleteHorizon() || m[3].HasDeleteHorizon() {
		t.Fatalf("markers after pass 1: %+v", m)
	}
	// Pass 2: no data of the first two transactions is left, so their
	// markers get a delete horizon; the last transaction's marker is the
	// producer's latest and its data is there: it stays as it is.
	mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), Force: true})
	m = markers()
	if len(m) != 3 || !m[1].HasDeleteHorizon() || !m[3].HasDeleteHorizon() || m[6].HasDeleteHorizon() {
		t.Fatalf("markers after pass 2: %+v", m)
	}
	// Pass 3, past the horizon: the two empty transactions' markers go.
	clock.advance(cfg.DeleteRetentionMs)
	if c := l.Cleanability(l.LogEndOffset()); !c.HorizonDue {
		t.Fatalf("marker horizon not due: %+v", c)
	}
	mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset()})
	m = markers()
	if len(m) != 1 || m[6].BaseOffset != 6 {
		t.Fatalf("markers after pass 3: %+v", m)
	}
	if v := values(); v["a"] != "plain" || v["c"] != "last" {
		t.Fatalf("after pass 3: %v", v)
	}
}

func TestCompactOnlyLogIgnoresTimeAndSizeRetention(t *testing.T) {
	t.Parallel()
	clock := &msClock{}
	clock.ms.Store(1_000_000_000)
	for _, tc := range []struct {
		policy  CleanupPolicy
		deletes bool
	}{{PolicyCompact, false}, {PolicyCompactDelete, true}, {PolicyDelete, true}} {
		cfg := compactConfig()
		cfg.CleanupPolicy = tc.policy
		cfg.RetentionMs = 1000
		cfg.RetentionBytes = 1
		l := openLog(t, newMemFS(), "/data/t-0", cfg, withClock(clock))
		fillKeyed(t, l, rand.New(rand.NewPCG(4, 4)), record.CodecNone, 200, 10, 1000)
		n, err := l.ApplyRetention()
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) != tc.deletes {
			t.Fatalf("cleanup.policy=%s: retention deleted %d segments", tc.policy, n)
		}
		mustClose(t, l)
	}
}

func TestCleanerSwapRecoveryReplacesEveryCoveredSegment(t *testing.T) {
	t.Parallel()
	// A .log.swap covering three old segments, left as a crash after the
	// commit would leave it: recovery deletes all three and keeps the next.
	mem := newMemFS()
	dir := "/data/t-0"
	cfg := compactConfig()
	l := openLog(t, mem, dir, cfg)
	fillKeyed(t, l, rand.New(rand.NewPCG(5, 5)), record.CodecNone, 300, 5, 1000)
	durable(t, l)
	before, _ := readRecords(t, l)
	l.segMu.RLock()
	segs := cloneSegs(l.segs)
	l.segMu.RUnlock()
	if len(segs) < 5 {
		t.Fatalf("only %d segments", len(segs))
	}
	// Build the cleaned output of segs[0:3] by hand: the last record of
	// each key among them, plus an empty batch at the group's last offset.
	end := segs[3].base
	mustClose(t, l)
	var keep []kv
	for _, r := range expectAfterClean(before, end, true) {
		if r.offset < end {
			keep = append(keep, r)
		}
	}
	var swap []byte
	for _, r := range keep {
		b := keyedBatch(t, record.CodecNone, nil, r.ts, r)
		record.SetBaseOffset(b, r.offset)
		swap = append(swap, b...)
	}
	if keep[len(keep)-1].offset < end-1 {
		endBatch, _ := record.Build(record.BuildOptions{BaseOffset: end - 1, AllowEmpty: true, BaseTimestamp: -1, MaxTimestamp: -1}, nil)
		swap = append(swap, endBatch...)
	}
	writeRaw(t, mem, dir+"/"+fileName(0, logSuffix+swapSuffix), swap)
	writeRaw(t, mem, dir+"/"+fileName(0, indexSuffix+swapSuffix), nil)
	l = openLog(t, mem, dir, cfg)
	defer mustClose(t, l)
	after, _ := readRecords(t, l)
	var want []kv
	want = append(want, keep...)
	for _, r := range before {
		if r.offset >= end {
			want = append(want, r)
		}
	}
	sameRecords(t, after, want)
	entries, _ := mem.ReadDir(dir)
	for _, e := range entries {
		base, suffix, ok := parseFileName(e.Name())
		if ok && suffix == logSuffix && base > 0 && base < end {
			t.Fatalf("replaced segment %s survived recovery", e.Name())
		}
		if ok && (suffix == logSuffix+swapSuffix || suffix == indexSuffix+swapSuffix) {
			t.Fatalf("%s left after recovery", e.Name())
		}
	}
}

func cloneSegs(s []*segment) []*segment { return append([]*segment(nil), s...) }

func writeRaw(t testing.TB, fsys FS, path string, data []byte) {
	t.Helper()
	f, err := fsys.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Sync()
	f.Close()
	fsys.SyncDir(dir(path))
}

func dir(path string) string {
	i := bytes.LastIndexByte([]byte(path), '/')
	return path[:i]
}

// TestCleanerCrashAtEveryStepRecovers crashes a cleaning pass at every
// filesystem operation it makes, in both crash states of stepFS, and
// recovers the log: it must hold every
// record the finished pass keeps, nothing the log never held, offsets in
// order, the same latest value per key, and a pass on the recovered log
// must reach the same result. The second pass merges several small cleaned
// segments into one, so its swaps cover several segments.
func TestCleanerCrashAtEveryStepRecovers(t *testing.T) {
	t.Parallel()
	dir := "/data/t-0"
	cfg := compactConfig()
	cfg.SegmentBytes = 1024
	clock := &msClock{}
	clock.ms.Store(1_000_000)
	rng := rand.New(rand.NewPCG(6, 6))

	// Stage 1: a dirty log. Stage 2: cleaned once, then more dirty data.
	mem := newMemFS()
	l := openLog(t, mem, dir, cfg, withClock(clock))
	appendAbortedTxns(t, l, 50, 3)
	fillKeyed(t, l, rng, record.CodecSnappy, 150, 12, 1000)
	mustClose(t, l)
	stage1 := mem.CrashClone()
	l = openLog(t, mem, dir, cfg, withClock(clock))
	cfg2 := cfg
	cfg2.SegmentBytes = 8192 // cleaned segments are merged up to this
	l.SetConfig(cfg2)
	mustClean(t, l, CleanOptions{UpperBound: math.MaxInt64, Force: true})
	l.SetConfig(cfg)
	fillKeyed(t, l, rng, record.CodecSnappy, 60, 12, 5000)
	mustClose(t, l)
	stage2 := mem.CrashClone()

	for _, stage := range []*memFS{stage1, stage2} {
		// A run without a crash gives the number of steps and the result.
		var abortedBefore, abortedAfter []AbortedTxn
		run := func(crashAt int) (*stepFS, []kv, []kv, int64) {
			sfs := newStepFS(stage.CrashClone())
			l := openLog(t, sfs, dir, cfg2, withClock(clock))
			before, _ := readRecords(t, l)
			abortedBefore = abortedAll(t, l)
			leo := l.LogEndOffset()
			sfs.mu.Lock()
			sfs.steps, sfs.crashAt = 0, crashAt
			sfs.mu.Unlock()
			st := mustClean(t, l, CleanOptions{UpperBound: math.MaxInt64, Force: true})
			if crashAt == 0 && st.SegmentsAfter >= st.SegmentsBefore {
				t.Fatalf("pass did not merge segments: %+v", st)
			}
			after, _ := readRecords(t, l)
			if crashAt == 0 {
				abortedAfter = abortedAll(t, l)
			}
			mustClose(t, l)
			return sfs, before, after, leo
		}
		sfs, before, want, leo := run(0)
		total := sfs.steps
		if total < 10 {
			t.Fatalf("only %d steps", total)
		}
		latest := latestValues(want)
		inBefore := map[string]bool{}
		for _, r := range before {
			inBefore[r.String()] = true
		}
		for crashAt := 1; crashAt <= total; crashAt++ {
			sfs, _, _, _ := run(crashAt)
			if sfs.crashed == nil {
				t.Fatalf("step %d of %d: no crash taken", crashAt, total)
			}
			for _, crashed := range []FS{sfs.crashed, sfs.committed} {
				l := openLog(t, crashed, dir, cfg2, withClock(clock))
				got, _ := readRecords(t, l)
				have := map[string]bool{}
				for _, r := range got {
					if !inBefore[r.String()] {
						t.Fatalf("crash at step %d/%d: record %v was never in the log", crashAt, total, r)
					}
					have[r.String()] = true
				}
				for _, r := range want {
					if !have[r.String()] {
						t.Fatalf("crash at step %d/%d: record %v lost", crashAt, total, r)
					}
				}
				if l.LogEndOffset() != leo {
					t.Fatalf("crash at step %d/%d: log end %d, want %d", crashAt, total, l.LogEndOffset(), leo)
				}
				// The aborted transactions are those before the pass or after
				// it, never fewer than after it, never one that was not there.
				ab := abortedAll(t, l)
				for _, a := range abortedAfter {
					if !slices.Contains(ab, a) {
						t.Fatalf("crash at step %d/%d: aborted transaction %+v lost (have %+v)", crashAt, total, a, ab)
					}
				}
				for _, a := range ab {
					if !slices.Contains(abortedBefore, a) {
						t.Fatalf("crash at step %d/%d: aborted transaction %+v invented", crashAt, total, a)
					}
				}
				if lv := latestValues(got); fmt.Sprint(lv) != fmt.Sprint(latest) {
					t.Fatalf("crash at step %d/%d: latest values differ", crashAt, total)
				}
				mustClean(t, l, CleanOptions{UpperBound: math.MaxInt64, Force: true})
				again, _ := readRecords(t, l)
				sameRecords(t, again, want)
				mustClose(t, l)
			}
		}
		t.Logf("crashed a pass at each of its %d steps", total)
	}
}

// appendAbortedTxns appends n aborted transactions of one batch each,
// producers first to first+n-1, keys "ab<producer>": their .txnindex
// entries move into a cleaned segment with their markers.
func appendAbortedTxns(t testing.TB, l *Log, first int64, n int) {
	t.Helper()
	for pid := first; pid < first+int64(n); pid++ {
		mustAppend(t, l, txnBatch(t, pid, 0, 900, kv{key: fmt.Sprintf("ab%d", pid), value: str("aborted")}), 1)
		if _, err := l.AppendMarker(Marker{ProducerID: pid, Timestamp: 901}, 1); err != nil {
			t.Fatal(err)
		}
	}
}

func abortedAll(t testing.TB, l *Log) []AbortedTxn {
	t.Helper()
	ab, err := l.AbortedTransactions(0, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	return ab
}

// latestValues lists the latest value of each key, leaving out the keys of
// aborted transactions ("ab..."), which a crashed pass may or may not
// have removed yet.
func latestValues(rs []kv) []string {
	m := map[string]string{}
	for _, r := range rs {
		if strings.HasPrefix(r.key, "ab") {
			continue
		}
		v := "<nil>"
		if r.value != nil {
			v = *r.value
		}
		m[r.key] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func TestCleanerCheckpointSurvivesRestart(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	dir := "/data/t-0"
	cfg := compactConfig()
	l := openLog(t, mem, dir, cfg)
	fillKeyed(t, l, rand.New(rand.NewPCG(7, 7)), record.CodecNone, 300, 5, 1000)
	durable(t, l)
	st := mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset()})
	mustClose(t, l)
	l = openLog(t, mem, dir, cfg)
	defer mustClose(t, l)
	c := l.Cleanability(l.LogEndOffset())
	if c.FirstDirtyOffset != st.EndOffset || c.DirtyBytes != 0 || c.Eligible {
		t.Fatalf("after restart: %+v, cleaned up to %d", c, st.EndOffset)
	}
}

// TestCleanerRecleansAfterTruncationBelowItsCheckpoint: a follower cleans
// up to an offset, is truncated below it, and then receives a tombstone
// for a key in the truncated range. The checkpoint comes down with the
// truncation (Kafka's maybeTruncateCheckpoint), so the tombstone is
// deduplicated against the old value instead of resurrecting it, also
// after a reopen.
func TestCleanerRecleansAfterTruncationBelowItsCheckpoint(t *testing.T) {
	t.Parallel()
	clock := &msClock{}
	clock.ms.Store(10_000)
	cfg := compactConfig()
	cfg.SegmentBytes = 300
	cfg.DeleteRetentionMs = 100
	fsys := newMemFS()
	l := openLog(t, fsys, "/data/t-0", cfg, withClock(clock))
	mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 100, kv{key: "dead", value: str("old-value")}), 1)
	for i := range 12 {
		mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, int64(200+i), kv{key: fmt.Sprintf("k%d", i%3), value: str(fmt.Sprintf("v%d", i))}), 1)
	}
	durable(t, l)
	if st := mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), Force: true}); !st.Cleaned {
		t.Fatalf("first pass did not clean: %+v", st)
	}
	cut := l.LogEndOffset() - 4
	if err := l.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	l = openLog(t, fsys, "/data/t-0", cfg, withClock(clock))
	defer mustClose(t, l)
	mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 500, kv{key: "dead"}), 2)
	for i := range 12 {
		mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, int64(600+i), kv{key: fmt.Sprintf("k%d", i%3), value: str(fmt.Sprintf("w%d", i))}), 2)
	}
	durable(t, l)
	for range 3 {
		mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), Force: true})
		clock.advance(1000)
	}
	got, _ := readRecords(t, l)
	for _, r := range got {
		if r.key == "dead" && r.value != nil {
			t.Fatalf("deleted key came back: %v in %v", r, got)
		}
	}
}

// TestTruncateAtLogEndDropsAnEmptyEpoch: a leader that lost its leadership
// before appending left an epoch entry at its log end; truncating to (or
// past) the log end drops it, so OffsetForLeaderEpoch no longer names it.
func TestTruncateAtLogEndDropsAnEmptyEpoch(t *testing.T) {
	t.Parallel()
	l := openLog(t, newMemFS(), "/data/t-0", testConfig())
	defer mustClose(t, l)
	mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 1, kv{key: "a", value: str("1")}), 2)
	leo := l.LogEndOffset()
	if err := l.AssignEpoch(5, leo); err != nil {
		t.Fatal(err)
	}
	if got := l.LatestEpoch(); got != 5 {
		t.Fatalf("latest epoch %d, want 5", got)
	}
	if err := l.Truncate(leo); err != nil {
		t.Fatal(err)
	}
	if got := l.LatestEpoch(); got != 2 {
		t.Fatalf("latest epoch after truncating at the log end: %d, want 2", got)
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("log end moved to %d", l.LogEndOffset())
	}
}

// A roll snapshot taken while a transaction was open must not outlive the
// cleaning that removes the transaction's data and then its marker: a
// producer state rebuilt from it (a truncation here; recovery after a
// crash alike) would replay no marker and hold the last stable offset at
// the transaction's start for good, as Kafka's cleaner avoids by deleting
// the snapshots of the segments it replaces.
func TestCleanerDropsSnapshotsThatPredateRemovedMarkers(t *testing.T) {
	t.Parallel()
	cfg := compactConfig()
	cfg.SegmentBytes = 1 << 20 // the test rolls
	clock := &msClock{}
	clock.ms.Store(50_000)
	fsys := newMemFS()
	l := openLog(t, fsys, "/data/t-0", cfg, withClock(clock))
	defer func() { mustClose(t, l) }()

	mustAppend(t, l, txnBatch(t, 5, 0, 1, kv{key: "a", value: str("txn")}), 1)                      // 0
	rollNow(t, l)                                                                                   // a snapshot at 1 with the transaction open
	if _, err := l.AppendMarker(Marker{ProducerID: 5, Commit: true, Timestamp: 2}, 1); err != nil { // 1
		t.Fatal(err)
	}
	mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 3, kv{key: "a", value: str("plain")}), 1) // 2
	mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 3, kv{key: "b", value: str("plain")}), 1) // 3
	rollNow(t, l)
	mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 4, kv{key: "z", value: str("x")}), 1) // 4
	durable(t, l)
	l.HighWatermarkMoved(l.LogEndOffset())
	l.ExpireProducers(clock.now(), time.Millisecond)
	// The first pass removes the transaction's record (key a has a later
	// value); a pass delete.retention.ms later removes its marker.
	for range 3 {
		mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), Force: true})
		clock.advance(cfg.DeleteRetentionMs + 1)
	}
	got, _ := readRecords(t, l)
	if fmt.Sprint(got) != "[2:a=plain 3:b=plain 4:z=x]" {
		t.Fatalf("after cleaning the log holds %v; want the marker and the transaction's record gone", got)
	}
	if u := l.FirstUnstableOffset(); u != l.LogEndOffset() {
		t.Fatalf("first unstable offset %d after cleaning, want the log end %d", u, l.LogEndOffset())
	}
	entries, err := fsys.ReadDir("/data/t-0")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name := e.Name(); strings.HasSuffix(name, snapshotSuffix) && name < fileName(4, snapshotSuffix) {
			t.Errorf("snapshot %s below the cleaned end (4) survived the cleaning", name)
		}
	}

	// A truncation rebuilds the producer state from the newest snapshot
	// at or below its offset.
	if err := l.Truncate(3); err != nil {
		t.Fatal(err)
	}
	l.HighWatermarkMoved(l.LogEndOffset())
	if u := l.FirstUnstableOffset(); u != 3 {
		t.Fatalf("first unstable offset %d after truncating to 3, want 3: a removed transaction came back open", u)
	}
	mustClose(t, l)
	l = openLog(t, fsys, "/data/t-0", cfg, withClock(clock))
	l.HighWatermarkMoved(l.LogEndOffset())
	if u := l.FirstUnstableOffset(); u != l.LogEndOffset() {
		t.Fatalf("first unstable offset %d after reopening, want the log end %d", u, l.LogEndOffset())
	}
}
