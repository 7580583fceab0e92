package log

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// snapshotV1 encodes producer state in the version 1 snapshot format,
// which had no transaction fields.
func snapshotV1(ps producerStates) []byte {
	ids := make([]int64, 0, len(ps.byID))
	for id := range ps.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b := make([]byte, snapshotHeaderSize)
	binary.BigEndian.PutUint16(b, 1)
	binary.BigEndian.PutUint32(b[6:], uint32(len(ids)))
	for _, id := range ids {
		e := ps.byID[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = append(b, byte(len(e.batches)))
		for _, m := range e.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.maxTimestamp))
			b = binary.BigEndian.AppendUint64(b, uint64(m.appendTime))
		}
	}
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
	return b
}

// txnStep is one write of a transaction scenario: a data batch (marker
// false) or a marker.
type txnStep struct {
	pid       int64
	epoch     int16
	seq       int32 // -1: no sequence
	txn       bool  // transactional data
	records   int
	marker    bool
	commit    bool
	coord     int32
	wantErr   error
	wantFirst int64 // FirstUnstableOffset after the step; -2: the log end offset
}

const atLEO = -2

func txnDataBatch(t testing.TB, s txnStep, ts int64) []byte {
	t.Helper()
	n := max(s.records, 1)
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{OffsetDelta: int32(i), Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("p%d-%d", s.pid, ts))}
	}
	b, err := record.Build(record.BuildOptions{BaseTimestamp: ts, Transactional: s.txn,
		Producer: &record.Producer{ID: s.pid, Epoch: s.epoch, BaseSequence: s.seq}}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// doStep performs one step at timestamp ts.
func doStep(t testing.TB, l *Log, s txnStep, ts int64) (AppendInfo, error) {
	t.Helper()
	if s.marker {
		return l.AppendMarker(Marker{ProducerID: s.pid, ProducerEpoch: s.epoch, Commit: s.commit, CoordinatorEpoch: s.coord, Timestamp: ts}, 1)
	}
	return appendBatch(l, txnDataBatch(t, s, ts), 1)
}

func data(pid int64, n int) txnStep { return txnStep{pid: pid, seq: -1, txn: true, records: n} }
func commit(pid int64) txnStep      { return txnStep{pid: pid, marker: true, commit: true} }
func abort(pid int64) txnStep       { return txnStep{pid: pid, marker: true} }
func (s txnStep) want(first int64) txnStep {
	s.wantFirst = first
	return s
}

// txnModel computes what the log should say about transactions from its
// batches, independently of the log's code: the open transactions and the
// aborted ones, with the last stable offset after each abort.
type txnModel struct {
	open    map[int64]int64
	aborted []abortedEntry
	leo     int64
}

func modelTxns(t testing.TB, batches [][]byte) txnModel {
	t.Helper()
	m := txnModel{open: map[int64]int64{}}
	for _, b := range batches {
		h, err := record.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		m.leo = h.LastOffset() + 1
		if !h.HasProducerID() {
			continue
		}
		if !h.IsControl() {
			if _, ok := m.open[h.ProducerID]; h.IsTransactional() && !ok {
				m.open[h.ProducerID] = h.BaseOffset
			}
			continue
		}
		var ct record.ControlType
		if err := record.IterRecords(b[record.HeaderSize:], h.RecordCount, func(r record.Record) error {
			ct, err = record.ParseControlKey(r.Key)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		first, ok := m.open[h.ProducerID]
		delete(m.open, h.ProducerID)
		if ok && ct == record.ControlAbort {
			lso := h.BaseOffset + 1
			for _, f := range m.open {
				lso = min(lso, f)
			}
			m.aborted = append(m.aborted, abortedEntry{producerID: h.ProducerID, firstOffset: first, lastOffset: h.BaseOffset, lso: lso})
		}
	}
	return m
}

func (m txnModel) firstUnstable() int64 {
	first := m.leo
	for _, f := range m.open {
		first = min(first, f)
	}
	return first
}

// abortedIn is the model's answer to AbortedTransactions(from, upTo).
func (m txnModel) abortedIn(from, upTo int64) []AbortedTxn {
	var out []AbortedTxn
	for _, e := range m.aborted {
		if e.lastOffset >= from && e.firstOffset < upTo {
			out = append(out, AbortedTxn{ProducerID: e.producerID, FirstOffset: e.firstOffset, LastOffset: e.lastOffset})
		}
	}
	slices.SortStableFunc(out, func(a, b AbortedTxn) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	return out
}

// checkTxns compares the log's transaction state with the model of its
// own batches: the first unstable offset, the producers' open
// transactions, every AbortedTransactions range at segment and entry
// boundaries, and the .txnindex entries segment by segment.
func checkTxns(t testing.TB, l *Log) txnModel {
	t.Helper()
	l.HighWatermarkMoved(l.LogEndOffset()) // every marker replicated
	m := modelTxns(t, readAll(t, l, l.LogStartOffset(), 1<<20))
	if m.leo < l.LogEndOffset() {
		m.leo = l.LogEndOffset()
	}
	if got, want := l.FirstUnstableOffset(), m.firstUnstable(); got != want {
		t.Fatalf("FirstUnstableOffset %d, want %d (open %v)", got, want, m.open)
	}
	for _, p := range l.Producers() {
		want, ok := m.open[p.ProducerID]
		if !ok {
			want = -1
		}
		if p.TxnStartOffset != want {
			t.Fatalf("producer %d: transaction starts at %d, want %d", p.ProducerID, p.TxnStartOffset, want)
		}
	}
	points := []int64{0, l.LogStartOffset(), l.LogEndOffset(), l.LogEndOffset() + 1}
	for _, e := range m.aborted {
		points = append(points, e.firstOffset, e.firstOffset+1, e.lastOffset, e.lastOffset+1)
	}
	for _, s := range l.segs {
		points = append(points, s.base, s.base+1)
	}
	for _, from := range points {
		for _, upTo := range points {
			if upTo <= from {
				continue
			}
			got, err := l.AbortedTransactions(from, upTo)
			if err != nil {
				t.Fatal(err)
			}
			if want := m.abortedIn(from, upTo); !slices.Equal(got, want) {
				t.Fatalf("AbortedTransactions(%d, %d) = %v, want %v", from, upTo, got, want)
			}
		}
	}
	var indexed []abortedEntry
	for _, s := range l.segs {
		for _, e := range s.txn.snapshot() {
			if e.lastOffset < s.base || segmentFor(l.segs, e.lastOffset) != slices.Index(l.segs, s) {
				t.Fatalf("entry %+v in the index of segment %d", e, s.base)
			}
			indexed = append(indexed, e)
		}
		onDisk, err := readMemOrOS(l.fs, s.txn.filePath())
		if err != nil {
			t.Fatal(err)
		}
		if want := encodeAborted(s.txn.snapshot()); !bytes.Equal(onDisk, want) {
			t.Fatalf("%s holds %d bytes, want %d", s.txn.filePath(), len(onDisk), len(want))
		}
	}
	if !slices.Equal(indexed, m.aborted) {
		t.Fatalf("indexed aborts %+v, want %+v", indexed, m.aborted)
	}
	return m
}

// readMemOrOS reads a whole file; a missing one is empty.
func readMemOrOS(fsys FS, path string) ([]byte, error) {
	b, err := ReadSmallFile(fsys, path, 1<<30)
	if errors.Is(err, errNoCheckpoint) {
		return nil, nil
	}
	return b, err
}

// TestTransactionsSetTheFirstUnstableOffset checks KIP-98's last stable
// offset bookkeeping with producers whose transactions interleave: the
// first unstable offset is the first offset of the oldest open
// transaction, and an ABORT is indexed with the LSO right after it.
func TestTransactionsSetTheFirstUnstableOffset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps []txnStep
	}{
		{"commit then abort", []txnStep{
			data(1, 2).want(0), data(1, 1).want(0), commit(1).want(atLEO),
			data(1, 1).want(4), abort(1).want(atLEO),
		}},
		{"interleaved, oldest closes first", []txnStep{
			data(1, 1).want(0), data(2, 1).want(0), data(3, 1).want(0),
			commit(1).want(1), abort(2).want(2), data(1, 1).want(2), commit(3).want(5), abort(1).want(atLEO),
		}},
		{"interleaved, newest closes first", []txnStep{
			data(1, 3).want(0), data(2, 1).want(0), abort(2).want(0), data(2, 2).want(0),
			commit(1).want(5), abort(2).want(atLEO),
		}},
		{"non-transactional data does not hold the offset back", []txnStep{
			{pid: 4, seq: 0, records: 2, wantFirst: atLEO}, data(1, 1).want(2),
			{pid: -1, seq: -1, records: 1, wantFirst: 2}, {pid: 4, seq: 2, records: 1, wantFirst: 2}, abort(1).want(atLEO),
		}},
		{"a marker with no open transaction changes nothing", []txnStep{
			abort(1).want(atLEO), commit(2).want(atLEO), data(1, 1).want(2), abort(3).want(2), abort(1).want(atLEO),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.SegmentBytes = 300 // a few batches per segment
			l := openLog(t, newMemFS(), "/data/t-0", cfg)
			defer mustClose(t, l)
			for i, s := range tt.steps {
				if _, err := doStep(t, l, s, int64(i)); err != nil {
					t.Fatalf("step %d %+v: %v", i, s, err)
				}
				want := s.wantFirst
				if want == atLEO {
					want = l.LogEndOffset()
				}
				l.HighWatermarkMoved(l.LogEndOffset()) // every marker replicated
				if got := l.FirstUnstableOffset(); got != want {
					t.Fatalf("step %d: FirstUnstableOffset %d, want %d", i, got, want)
				}
				checkTxns(t, l)
			}
		})
	}
}

// TestTransactionalAppendChecks checks the leader's producer checks for
// transactions (Kafka's ProducerAppendInfo).
func TestTransactionalAppendChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps []txnStep
	}{
		{"a marker from an older producer epoch is fenced", []txnStep{
			{pid: 1, epoch: 3, seq: -1, txn: true},
			{pid: 1, epoch: 2, marker: true, commit: true, wantErr: ErrInvalidProducerEpoch},
			{pid: 1, epoch: 3, marker: true, commit: true},
		}},
		{"a marker from an older coordinator epoch is fenced", []txnStep{
			{pid: 1, seq: -1, txn: true},
			{pid: 1, marker: true, coord: 5},
			{pid: 1, seq: -1, txn: true},
			{pid: 1, marker: true, commit: true, coord: 4, wantErr: ErrTxnCoordinatorFenced},
			{pid: 1, marker: true, commit: true, coord: 5},
		}},
		{"a marker may bump the producer epoch, which fences older data", []txnStep{
			{pid: 1, seq: -1, txn: true},
			{pid: 1, epoch: 1, marker: true},
			{pid: 1, seq: -1, txn: true, wantErr: ErrInvalidProducerEpoch},
			{pid: 1, epoch: 1, seq: 0, txn: true},
		}},
		{"non-transactional data during an open transaction", []txnStep{
			{pid: 1, seq: 0, txn: true},
			{pid: 1, seq: 1, wantErr: ErrInvalidTxnState},
			{pid: 1, marker: true, commit: true},
			{pid: 1, seq: 1},
		}},
		{"a new epoch cannot join the old epoch's open transaction", []txnStep{
			{pid: 1, seq: 0, txn: true},
			{pid: 1, epoch: 1, seq: 0, txn: true, wantErr: ErrInvalidTxnState},
			{pid: 1, epoch: 1, marker: true},
			{pid: 1, epoch: 1, seq: 0, txn: true},
		}},
		{"batches without a sequence skip sequence checks, not epoch checks", []txnStep{
			{pid: 1, epoch: 2, seq: 0, txn: true},
			{pid: 1, epoch: 2, seq: -1, txn: true},
			{pid: 1, epoch: 2, seq: 1, txn: true},
			{pid: 1, epoch: 1, seq: -1, txn: true, wantErr: ErrInvalidProducerEpoch},
			{pid: 1, epoch: 2, seq: 3, txn: true, wantErr: ErrOutOfOrderSequence},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := openLog(t, newMemFS(), "/data/t-0", testConfig())
			defer mustClose(t, l)
			for i, s := range tt.steps {
				leo := l.LogEndOffset()
				_, err := doStep(t, l, s, int64(i))
				if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
					t.Fatalf("step %d %+v: error %v, want %v", i, s, err, s.wantErr)
				}
				if err != nil && l.LogEndOffset() != leo {
					t.Fatalf("step %d: a refused batch was written", i)
				}
			}
			checkTxns(t, l)
		})
	}
}

// randomTxnSteps writes n random transactional steps for three producers.
func randomTxnSteps(t testing.TB, l *Log, rng *rand.Rand, n int, ts int64) {
	t.Helper()
	for i := 0; i < n; i++ {
		pid := int64(rng.IntN(3))
		var s txnStep
		switch r := rng.IntN(10); {
		case r < 5:
			s = data(pid, 1+rng.IntN(4))
		case r < 7:
			s = commit(pid)
		case r < 9:
			s = abort(pid)
		default:
			s = txnStep{pid: -1, seq: -1, records: 1 + rng.IntN(3)}
		}
		if _, err := doStep(t, l, s, ts+int64(i)); err != nil {
			t.Fatalf("step %+v: %v", s, err)
		}
	}
}

func TestAbortedTransactionsAcrossSegments(t *testing.T) {
	t.Parallel()
	for seed := uint64(0); seed < 6; seed++ {
		cfg := testConfig()
		cfg.SegmentBytes = 200 + int64(seed)*150
		l := openLog(t, newMemFS(), "/data/t-0", cfg)
		randomTxnSteps(t, l, rand.New(rand.NewPCG(seed, 1)), 120, 0)
		if len(l.segs) < 4 {
			t.Fatalf("seed %d: only %d segments", seed, len(l.segs))
		}
		m := checkTxns(t, l)
		if len(m.aborted) == 0 {
			t.Fatalf("seed %d: no aborted transactions", seed)
		}
		mustClose(t, l)
	}
}

// TestTransactionsSurviveRestartAndCrash reopens a log after Close and
// after crashes at random points (keeping only fsynced bytes): open
// transactions, the first unstable offset and the .txnindex entries come
// back exactly as the recovered batches say. Recovery-point checkpoints
// taken along the way let Open start reading the active segment at a scan
// start, from the producer snapshot there (one segment of 1 MiB holds the
// whole log in the second run).
func TestTransactionsSurviveRestartAndCrash(t *testing.T) {
	t.Parallel()
	for _, segmentBytes := range []int64{400, 1 << 20} {
		t.Run(fmt.Sprint(segmentBytes), func(t *testing.T) {
			t.Parallel()
			transactionsSurviveRestartAndCrash(t, segmentBytes)
		})
	}
}

func transactionsSurviveRestartAndCrash(t *testing.T, segmentBytes int64) {
	rng := rand.New(rand.NewPCG(7, 7))
	cfg := testConfig()
	cfg.SegmentBytes = segmentBytes
	mem := newMemFS()
	dir := "/data/t-0"
	l := openLog(t, mem, dir, cfg)
	for round := 0; round < 12; round++ {
		randomTxnSteps(t, l, rng, 20+rng.IntN(40), int64(round*1000))
		if rng.IntN(2) == 0 {
			if err := l.WaitDurable(context.Background(), l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
			if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			randomTxnSteps(t, l, rng, rng.IntN(20), int64(round*1000+500))
			// A scan start taken now waits until it is durable.
			if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		before := checkTxns(t, l)
		var next *memFS
		switch round % 3 {
		case 0: // clean restart
			mustClose(t, l)
			next = mem
		default: // crash
			next = mem.CrashClone()
			l.Close()
		}
		mem = next
		l = openLog(t, mem, dir, cfg)
		after := checkTxns(t, l)
		if round%3 == 0 && (after.leo != before.leo || !maps.Equal(after.open, before.open)) {
			t.Fatalf("round %d: restart changed transactions: %+v, before %+v", round, after, before)
		}
	}
	mustClose(t, l)
}

// TestTornTxnIndexIsCutToWholeEntries: a .txnindex whose size is not a
// multiple of 34 bytes (a torn write) loses its partial entry on Open.
func TestTornTxnIndexIsCutToWholeEntries(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	cfg := testConfig()
	cfg.SegmentBytes = 300
	l := openLog(t, mem, "/data/t-0", cfg)
	for i := 0; i < 6; i++ {
		doStep(t, l, data(1, 2), int64(i))
		doStep(t, l, abort(1), int64(i))
	}
	doStep(t, l, data(2, 1), 10) // roll past the aborts
	for l.active.base == 0 || len(l.segs) < 3 {
		doStep(t, l, txnStep{pid: -1, seq: -1, records: 5}, 11)
	}
	want := checkTxns(t, l)
	mustClose(t, l)
	path := "/data/t-0/" + fileName(0, txnIndexSuffix)
	b, err := readMemFile(mem, path)
	if err != nil || len(b) == 0 {
		t.Fatalf("no .txnindex for the first segment: %v", err)
	}
	f, _ := mem.OpenFile(path, os.O_RDWR, 0)
	f.WriteAt([]byte{0, 0, 0, 0, 0, 1, 2}, int64(len(b)))
	f.Sync()
	f.Close()
	var logs logBuffer
	l = openLog(t, mem, "/data/t-0", cfg, func(o *Options) { o.Logger = logs.logger() })
	defer mustClose(t, l)
	got := checkTxns(t, l)
	if !slices.Equal(got.aborted, want.aborted) {
		t.Fatalf("aborted %+v, want %+v", got.aborted, want.aborted)
	}
	if after, _ := readMemFile(mem, path); len(after) != len(b) {
		t.Fatalf("torn .txnindex is %d bytes, want %d", len(after), len(b))
	}
	if !strings.Contains(logs.String(), "torn aborted-transaction index") {
		t.Fatalf("no warning in:\n%s", logs.String())
	}
}

func TestTruncateRestoresTransactions(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 9))
	cfg := testConfig()
	cfg.SegmentBytes = 350
	for i := 0; i < 10; i++ {
		mem := newMemFS()
		l := openLog(t, mem, "/data/t-0", cfg)
		randomTxnSteps(t, l, rng, 150, 0)
		full := modelTxns(t, readAll(t, l, 0, 1<<20))
		to := rng.Int64N(l.LogEndOffset())
		if err := l.Truncate(to); err != nil {
			t.Fatal(err)
		}
		m := checkTxns(t, l)
		for _, e := range m.aborted {
			if !slices.Contains(full.aborted, e) {
				t.Fatalf("truncation to %d invented an abort %+v", to, e)
			}
		}
		// Writing goes on from the truncated state, and a restart agrees.
		randomTxnSteps(t, l, rng, 30, 5000)
		checkTxns(t, l)
		mustClose(t, l)
		l = openLog(t, mem, "/data/t-0", cfg)
		checkTxns(t, l)
		mustClose(t, l)
	}
}

func TestFollowerAppliesMarkersLikeTheLeader(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SegmentBytes = 500
	leader := openLog(t, newMemFS(), "/data/leader", cfg)
	defer mustClose(t, leader)
	randomTxnSteps(t, leader, rand.New(rand.NewPCG(5, 5)), 150, 0)
	follower := openLog(t, newMemFS(), "/data/follower", cfg)
	defer mustClose(t, follower)
	for _, b := range readAll(t, leader, 0, 1<<20) {
		if err := follower.AppendAsFollower(b); err != nil {
			t.Fatal(err)
		}
	}
	want := checkTxns(t, leader)
	got := checkTxns(t, follower)
	if !slices.Equal(got.aborted, want.aborted) || follower.FirstUnstableOffset() != leader.FirstUnstableOffset() {
		t.Fatalf("follower aborted %+v, leader %+v", got.aborted, want.aborted)
	}
	if !slices.Equal(follower.Producers(), leader.Producers()) {
		t.Fatalf("follower producers %+v, leader %+v", follower.Producers(), leader.Producers())
	}
}

func TestRetentionDeletesTheTxnIndex(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	cfg := testConfig()
	cfg.SegmentBytes = 300
	l := openLog(t, mem, "/data/t-0", cfg)
	defer mustClose(t, l)
	randomTxnSteps(t, l, rand.New(rand.NewPCG(1, 1)), 100, 0)
	for pid := int64(0); pid < 3; pid++ {
		doStep(t, l, commit(pid), 100)
	}
	doStep(t, l, data(7, 1), 100) // open, and about to be deleted
	var withIndex []int64
	for _, s := range l.segs[:len(l.segs)-1] {
		if len(s.txn.snapshot()) > 0 {
			withIndex = append(withIndex, s.base)
		}
	}
	if len(withIndex) == 0 {
		t.Fatal("no segment has aborted transactions")
	}
	if err := l.DeleteRecordsBefore(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	for _, base := range withIndex {
		if _, err := mem.Stat("/data/t-0/" + fileName(base, txnIndexSuffix)); !isNotExist(err) {
			t.Fatalf("the .txnindex of deleted segment %d is still there: %v", base, err)
		}
	}
	// The open transaction lost its start: the first unstable offset is
	// the log start offset, as in Kafka, until the transaction ends.
	if got := l.FirstUnstableOffset(); got != l.LogStartOffset() {
		t.Fatalf("FirstUnstableOffset %d, log start %d", got, l.LogStartOffset())
	}
	doStep(t, l, commit(7), 200)
	checkTxns(t, l)
}

func TestRelocateCopiesTheTxnIndex(t *testing.T) {
	t.Parallel()
	mem := dirRenameFS{newMemFS()}
	mem.MkdirAll("/b", 0o755)
	cfg := testConfig()
	cfg.SegmentBytes = 300
	l := openLog(t, mem, "/a/t-0", cfg)
	rng := rand.New(rand.NewPCG(2, 2))
	randomTxnSteps(t, l, rng, 100, 0)
	before := checkTxns(t, l)
	if err := l.Relocate(context.Background(), "/b/t-0", nil); err != nil {
		t.Fatal(err)
	}
	checkTxns(t, l)
	// Aborts after the move go to the new directory's files.
	randomTxnSteps(t, l, rng, 60, 1000)
	checkTxns(t, l)
	mustClose(t, l)
	l = openLog(t, mem, "/b/t-0", cfg)
	defer mustClose(t, l)
	after := checkTxns(t, l)
	if len(after.aborted) < len(before.aborted) {
		t.Fatalf("relocated log lost aborted transactions: %d, before %d", len(after.aborted), len(before.aborted))
	}
}

// TestSnapshotVersion1IsRead: a producer snapshot from before transactions
// were tracked loads with no open transaction.
func TestSnapshotVersion1IsRead(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	l := openLog(t, mem, "/data/t-0", testConfig())
	for i := int32(0); i < 3; i++ {
		mustAppend(t, l, producerBatch(t, produce{pid: 4, epoch: 2, seq: i * 2, records: 2}), 0)
	}
	mustClose(t, l)
	path := "/data/t-0/" + fileName(6, snapshotSuffix)
	b, err := readMemFile(mem, path)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := decodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, mem, path, snapshotV1(ps))
	l = openLog(t, mem, "/data/t-0", testConfig())
	defer mustClose(t, l)
	want := []ProducerInfo{{ProducerID: 4, Epoch: 2, LastSequence: 5, LastTimestamp: 0, CoordinatorEpoch: -1, TxnStartOffset: -1}}
	if got := l.Producers(); !slices.Equal(got, want) {
		t.Fatalf("producers %+v, want %+v", got, want)
	}
	// The idempotence state came back: the next sequence is 6.
	if _, err := appendBatch(l, producerBatch(t, produce{pid: 4, epoch: 2, seq: 7, records: 1}), 0); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("append out of sequence: %v", err)
	}
	mustAppend(t, l, producerBatch(t, produce{pid: 4, epoch: 2, seq: 6, records: 1}), 0)
}

func TestExpireProducersKeepsOpenTransactions(t *testing.T) {
	t.Parallel()
	l := openLog(t, newMemFS(), "/data/t-0", testConfig())
	defer mustClose(t, l)
	doStep(t, l, txnStep{pid: 1, seq: 0, records: 1}, 1000) // idle since 1000
	doStep(t, l, data(2, 1), 1000)                          // open transaction since 1000
	doStep(t, l, txnStep{pid: 3, seq: 0, records: 1}, 5000) // recent
	doStep(t, l, data(4, 1), 1000)                          // closed by a recent marker
	doStep(t, l, txnStep{pid: 4, marker: true, commit: true}, 5000)
	if n := l.ExpireProducers(time.UnixMilli(6000), 6*time.Second); n != 0 {
		t.Fatalf("expired %d producers before their time", n)
	}
	if n := l.ExpireProducers(time.UnixMilli(6000), 5*time.Second); n != 1 {
		t.Fatalf("expired %d producers, want 1", n)
	}
	var ids []int64
	for _, p := range l.Producers() {
		ids = append(ids, p.ProducerID)
	}
	if !slices.Equal(ids, []int64{2, 3, 4}) {
		t.Fatalf("producers left %v", ids)
	}
	if n := l.ExpireProducers(time.UnixMilli(60000), time.Second); n != 2 {
		t.Fatalf("expired %d producers, want 2 (not the open transaction)", n)
	}
	if got := l.Producers(); len(got) != 1 || got[0].ProducerID != 2 || got[0].TxnStartOffset != 1 {
		t.Fatalf("producers left %+v", got)
	}
	// An expired producer starts again at any sequence.
	doStep(t, l, txnStep{pid: 1, seq: 42, records: 1}, 70000)
}

// TestCleanerRemovesAbortedDataFromTheIndex: the cleaner learns aborted
// transactions from the .txnindex, as Kafka's cleaner does, so aborted data
// goes even when its ABORT marker is past the cleanable range, and an
// aborted value never hides an older committed one. Cleaned segments keep
// the index entries of the ABORT markers they keep.
func TestCleanerRemovesAbortedDataFromTheIndex(t *testing.T) {
	t.Parallel()
	clock := &msClock{}
	clock.ms.Store(50_000)
	cfg := compactConfig()
	mem := newMemFS()
	l := openLog(t, mem, "/data/t-0", cfg, withClock(clock))
	marker := func(pid int64, commit bool) {
		t.Helper()
		if _, err := l.AppendMarker(Marker{ProducerID: pid, Commit: commit, Timestamp: 10}, 1); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 1, kv{key: "a", value: str("committed")}), 1)
	mustAppend(t, l, txnBatch(t, 5, 0, 2, kv{key: "a", value: str("aborted")}), 1)
	marker(5, false)
	mustAppend(t, l, txnBatch(t, 6, 0, 3, kv{key: "b", value: str("kept")}), 1)
	marker(6, true)
	// Producer 5 goes on, so its aborted batch is not its last (which the
	// cleaner would keep, empty, for its sequence).
	mustAppend(t, l, txnBatch(t, 5, 1, 3, kv{key: "d", value: str("kept")}), 1)
	marker(5, true)
	mustAppend(t, l, txnBatch(t, 7, 0, 4, kv{key: "c", value: str("aborted later")}), 1)
	for i := 0; len(l.segs) < 3; i++ {
		mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 8, kv{key: fmt.Sprintf("f%d", i), value: str("x")}), 1)
	}
	bound := l.active.base
	last, err := l.AppendMarker(Marker{ProducerID: 7, Timestamp: 10}, 1) // past the upper bound
	if err != nil {
		t.Fatal(err)
	}
	durable(t, l)
	values := func() map[string]string {
		recs, _ := readRecords(t, l)
		m := map[string]string{}
		for _, r := range recs {
			if r.value != nil {
				m[r.key] = *r.value
			}
		}
		return m
	}
	mustClean(t, l, CleanOptions{UpperBound: bound, Force: true})
	if v := values(); v["a"] != "committed" || v["b"] != "kept" || v["c"] != "" {
		t.Fatalf("after cleaning: a=%q b=%q c=%q", v["a"], v["b"], v["c"])
	}
	// Both aborts are still listed: their markers are there.
	want := []AbortedTxn{{ProducerID: 5, FirstOffset: 1, LastOffset: 2}, {ProducerID: 7, FirstOffset: 7, LastOffset: last.BaseOffset}}
	if got := abortedAll(t, l); !slices.Equal(got, want) {
		t.Fatalf("aborted after cleaning %+v, want %+v", got, want)
	}
	onDisk, err := readMemOrOS(mem, l.segs[0].txn.filePath())
	if err != nil || !bytes.Equal(onDisk, encodeAborted(l.segs[0].txn.snapshot())) || len(onDisk) != txnEntrySize {
		t.Fatalf("cleaned .txnindex holds %d bytes: %v", len(onDisk), err)
	}
	mustClose(t, l)
	l = openLog(t, mem, "/data/t-0", cfg, withClock(clock))
	defer mustClose(t, l)
	if got := abortedAll(t, l); !slices.Equal(got, want) {
		t.Fatalf("aborted after a restart %+v, want %+v", got, want)
	}
	// No data of producer 5's transaction is left: the next pass gives its
	// marker a delete horizon and the cleaned segment no longer lists it;
	// past the horizon the marker goes.
	mustClean(t, l, CleanOptions{UpperBound: bound, Force: true})
	if got := abortedAll(t, l); !slices.Equal(got, want[1:]) {
		t.Fatalf("aborted after the second pass %+v, want %+v", got, want[1:])
	}
	clock.advance(cfg.DeleteRetentionMs)
	mustClean(t, l, CleanOptions{UpperBound: bound, Force: true})
	_, hs := readRecords(t, l)
	for _, h := range hs {
		if h.BaseOffset == 2 {
			t.Fatalf("ABORT marker of producer 5 still there past its horizon: %+v", h)
		}
	}
	if v := values(); v["a"] != "committed" || v["b"] != "kept" {
		t.Fatalf("after the last pass: %v", v)
	}
}

// An aborted-transaction entry of zeros (a .txnindex grown by a crash
// without its data) is not an entry: it would abort producer 0's batch at
// offset 0. Its records come before its marker.
func TestZeroTxnIndexEntryIsNotAnEntry(t *testing.T) {
	t.Parallel()
	if _, ok := getAbortedEntry(make([]byte, txnEntrySize)); ok {
		t.Fatal("an entry of zeros was read as an aborted transaction")
	}
	b := make([]byte, txnEntrySize)
	abortedEntry{producerID: 0, firstOffset: 0, lastOffset: 1, lso: 2}.put(b)
	if e, ok := getAbortedEntry(b); !ok || e.lastOffset != 1 {
		t.Fatalf("entry %+v, %v", e, ok)
	}
}

// A transaction closed by its marker stays unstable until the high
// watermark passes the marker: the first unstable offset, and with it the
// last stable offset, moves with the high watermark (Kafka's unreplicated
// transactions), also after the producer state is rebuilt.
func TestClosedTransactionIsUnstableUntilItsMarkerIsReplicated(t *testing.T) {
	t.Parallel()
	l := openLog(t, newMemFS(), "/data/t-0", testConfig())
	defer mustClose(t, l)
	doStep(t, l, data(1, 2), 0) // offsets 0-1, transactional, producer 1
	doStep(t, l, data(2, 1), 1) // offset 2, producer 2's transaction
	doStep(t, l, commit(1), 2)  // marker at 3
	doStep(t, l, commit(2), 3)  // marker at 4
	for _, c := range []struct{ hw, want int64 }{
		{3, 0}, // neither marker replicated
		{4, 2}, // producer 1's marker below the high watermark
		{5, 5}, // both: the log end offset
	} {
		l.HighWatermarkMoved(c.hw)
		if got := l.FirstUnstableOffset(); got != c.want {
			t.Fatalf("high watermark %d: first unstable offset %d, want %d", c.hw, got, c.want)
		}
	}
	// A truncation rebuilds the producer state from the log: the markers
	// replayed wait for the high watermark again.
	if err := l.Truncate(4); err != nil {
		t.Fatal(err)
	}
	if got := l.FirstUnstableOffset(); got != 0 {
		t.Fatalf("after a truncation to 4: first unstable offset %d, want 0 until the high watermark passes 3", got)
	}
	l.HighWatermarkMoved(4)
	if got := l.FirstUnstableOffset(); got != 2 {
		t.Fatalf("after a truncation to 4, high watermark 4: first unstable offset %d, want 2 (producer 2's transaction is open)", got)
	}
}

// unreplicatedTxns keeps the lowest first offset of what it holds at hand
// through any order of pushes and drops.
func TestUnreplicatedTxnsLowestFirstOffset(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	var u unreplicatedTxns
	var all []unreplicatedTxn
	marker := int64(0)
	for range 5000 {
		if rng.IntN(3) > 0 {
			marker += 1 + rng.Int64N(5)
			tx := unreplicatedTxn{first: max(0, marker-1-rng.Int64N(50)), marker: marker}
			u.push(tx)
			all = append(all, tx)
		} else {
			hw := marker - rng.Int64N(20)
			u.dropBelow(hw)
			all = slices.DeleteFunc(all, func(tx unreplicatedTxn) bool { return tx.marker < hw })
		}
		want, oldest := int64(-1), int64(-1)
		for _, tx := range all {
			if want < 0 || tx.first < want {
				want = tx.first
			}
		}
		if len(all) > 0 {
			oldest = all[0].marker
		}
		if got := u.first(); got != want {
			t.Fatalf("lowest first offset %d, want %d (%d held)", got, want, len(all))
		}
		if got := u.oldestMarker(); got != oldest {
			t.Fatalf("oldest marker %d, want %d", got, oldest)
		}
	}
}
