package log

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// opLog drives a log through a sequence of operations decoded from fuzz
// input and checks it against a simple model after each one (redpanda's
// storage opfuzz is the model for this test).
type opLog struct {
	t     *testing.T
	mem   *memFS
	dir   string
	cfg   Config
	l     *Log
	m     model
	start int64 // log start offset
	end   int64 // log end offset
	seqs  map[int64]int32
	last  map[int64][]byte // the last idempotent batch per producer, for retries
	lost  map[int64]bool   // that batch was truncated away or lost in a crash
}

// The operations; the first byte of each chooses one, the next bytes are
// its arguments.
const (
	opAppend = iota
	opAppendIdempotent
	opRetry
	opRead
	opReopen
	opCrash
	opTruncate
	opSegmentBytes
	opDeleteRecords
	opRetention
	opWaitDurable
	opTxn // transactional data or a marker of producer 10 or 11
	opCount
)

func FuzzLogOps(f *testing.F) {
	seeds := [][]byte{
		{opAppend, 3, 10, opAppend, 1, 200, opRead, 0, 0, 1, opReopen, opRead, 2, 10, 0},
		{opSegmentBytes, 1, opAppend, 5, 5, opAppend, 5, 5, opAppend, 5, 5, opTruncate, 7, opAppend, 1, 1, opRead, 6, 1, 0},
		{opAppendIdempotent, 0, 3, opAppendIdempotent, 1, 2, opRetry, 0, opReopen, opRetry, 0, opAppendIdempotent, 0, 1},
		{opAppend, 7, 250, opAppend, 7, 250, opWaitDurable, opAppend, 7, 250, opCrash, opRead, 0, 0, 255},
		{opSegmentBytes, 0, opAppend, 2, 50, opAppend, 2, 50, opAppend, 2, 50, opDeleteRecords, 3, opRetention, 1, opReopen, opRead, 4, 0, 0},
		{opAppendIdempotent, 1, 4, opAppend, 1, 1, opTruncate, 2, opRetry, 1, opAppendIdempotent, 1, 1, opCrash, opRetry, 1},
		{opSegmentBytes, 0, opTxn, 0, 0, opTxn, 1, 0, opTxn, 0, 2, opAppend, 2, 50, opTxn, 1, 1, opTxn, 0, 0, opWaitDurable,
			opTxn, 0, 2, opCrash, opTruncate, 3, opTxn, 1, 2, opReopen, opDeleteRecords, 2, opTxn, 1, 0},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 {
			ops = ops[:400]
		}
		orig := append([]byte(nil), ops...)
		watchdog := time.AfterFunc(30*time.Second, func() { panic(fmt.Sprintf("hang on %q", orig)) })
		defer watchdog.Stop()
		cfg := testConfig()
		cfg.SegmentBytes = 1024
		o := &opLog{t: t, mem: newMemFS(), dir: "/data/t-0", cfg: cfg, seqs: map[int64]int32{}, last: map[int64][]byte{}, lost: map[int64]bool{}}
		o.open()
		defer func() { o.l.Close() }()
		arg := func() byte {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return b
		}
		for len(ops) > 0 {
			op := int(arg()) % opCount
			if testing.Verbose() {
				t.Logf("op %d on log [%d, %d), %d segments", op, o.start, o.end, len(o.l.segs))
			}
			o.do(op, arg)
			o.check()
		}
	})
}

func (o *opLog) open() {
	l, err := Open(o.dir, o.cfg, Options{FS: o.mem})
	if err != nil {
		o.t.Fatalf("open: %v", err)
	}
	o.l = l
}

func (o *opLog) do(op int, arg func() byte) {
	t, l := o.t, o.l
	switch op {
	case opAppend:
		b := newBatch(t, batchSpec{records: 1 + int(arg())%8, valueSize: 1 + int(arg())*2, ts: o.end})
		info := mustAppend(t, l, b, 0)
		o.appended(info, b)
	case opAppendIdempotent:
		pid := int64(arg() % 2)
		n := 1 + int(arg())%5
		seq := o.seqs[pid]
		if ps, ok := l.ProducerState(pid); ok && ps.LastSequence >= 0 {
			seq = ps.LastSequence + 1
		}
		b := newBatch(t, batchSpec{records: n, producer: &record.Producer{ID: pid, BaseSequence: seq}})
		info := mustAppend(t, l, b, 0)
		o.appended(info, b)
		o.seqs[pid] = seq + int32(n)
		o.last[pid], o.lost[pid] = append([]byte(nil), b...), false
	case opRetry:
		pid := int64(arg() % 2)
		prev := o.last[pid]
		if prev == nil {
			return
		}
		h, _ := record.ParseHeader(prev)
		b := append([]byte(nil), prev...)
		info, err := appendBatch(l, b, 0)
		gone := o.lost[pid]
		switch {
		case errors.Is(err, ErrDuplicateSequence) && !gone:
			if info.BaseOffset != h.BaseOffset || info.LastOffset != h.LastOffset() {
				t.Fatalf("retry of producer %d's batch at %d answered %+v", pid, h.BaseOffset, info)
			}
		case err == nil && (gone || h.BaseOffset < o.start):
			// The original was truncated away, or its state went with the
			// segments below the log start: the retry is a new batch.
			o.appended(info, b)
			o.last[pid], o.lost[pid] = append([]byte(nil), b...), false
		case errors.Is(err, ErrOutOfOrderSequence) && gone:
		default:
			t.Fatalf("retry of producer %d's batch at %d (log [%d, %d)): %+v %v", pid, h.BaseOffset, o.start, o.end, info, err)
		}
	case opRead:
		o.read(int64(arg())*3, int(arg())*8, arg())
	case opReopen:
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		o.open()
	case opCrash:
		// Let the background flush after a roll finish first, so the crash
		// (and the input's outcome) is deterministic; crashes during
		// flushes are TestAcknowledgedBatchesSurviveACrash's job.
		l.bg.Wait()
		durable := l.DurableOffset()
		crashed := o.mem.CrashClone()
		l.Close()
		o.mem = crashed
		o.open()
		// Everything fsynced survives; of the rest, a prefix may.
		end := o.l.LogEndOffset()
		if testing.Verbose() {
			for _, sg := range o.l.segs {
				o.t.Logf("after crash: segment %d size %d; durable was %d, log end %d", sg.base, sg.size.Load(), durable, end)
			}
		}
		if end < durable || end > o.end {
			t.Fatalf("after a crash the log ends at %d; durable was %d, log end %d", end, durable, o.end)
		}
		o.truncateModel(end)
		o.start = o.l.LogStartOffset()
	case opTruncate:
		to := o.end - int64(arg())%8
		if to < o.start {
			return
		}
		if err := l.Truncate(to); err != nil {
			t.Fatal(err)
		}
		// A batch is never split: the log ends after the last batch kept,
		// or at the base of a segment left empty.
		dataEnd := o.start
		for _, b := range o.m.batches {
			if h, _ := record.ParseHeader(b); h.LastOffset() < to {
				dataEnd = max(dataEnd, h.LastOffset()+1)
			}
		}
		end := l.LogEndOffset()
		if end < dataEnd || end > to {
			t.Fatalf("Truncate(%d) left the log end at %d; the kept batches end at %d", to, end, dataEnd)
		}
		o.truncateModel(end)
	case opSegmentBytes:
		o.cfg.SegmentBytes = []int64{1, 200, 1024, 1 << 20}[arg()%4]
		l.SetConfig(o.cfg)
	case opDeleteRecords:
		to := o.start + int64(arg())%8
		if to > o.end {
			return
		}
		if err := l.DeleteRecordsBefore(to); err != nil {
			t.Fatal(err)
		}
		o.start = max(o.start, to)
	case opRetention:
		o.cfg.RetentionBytes = int64(arg()) * 16
		l.SetConfig(o.cfg)
		if _, err := l.ApplyRetention(); err != nil {
			t.Fatal(err)
		}
		o.cfg.RetentionBytes = -1
		l.SetConfig(o.cfg)
		if s := l.LogStartOffset(); s < o.start || s > o.end {
			t.Fatalf("retention moved the log start from %d to %d (log end %d)", o.start, s, o.end)
		} else {
			o.start = s
		}
	case opWaitDurable:
		if err := l.WaitDurable(context.Background(), o.end); err != nil {
			t.Fatal(err)
		}
	case opTxn:
		pid := 10 + int64(arg()%2)
		var s txnStep
		switch arg() % 3 {
		case 0:
			s = data(pid, 1+int(arg())%4)
		case 1:
			s = commit(pid)
		default:
			s = abort(pid)
		}
		info, err := doStep(t, l, s, o.end)
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		b, err := l.Read(info.BaseOffset, 1, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := record.ParseHeader(b)
		o.appended(info, b[:h.Size()])
	}
}

func (o *opLog) appended(info AppendInfo, b []byte) {
	h, _ := record.ParseHeader(b)
	if info.BaseOffset != o.end || h.BaseOffset != o.end || info.LastOffset != h.LastOffset() {
		o.t.Fatalf("append at %d: %+v", o.end, info)
	}
	o.m.add(b)
	o.end = info.LastOffset + 1
}

// truncateModel drops the batches that hold offsets at or past end.
func (o *opLog) truncateModel(end int64) {
	var keep [][]byte
	for _, b := range o.m.batches {
		if h, _ := record.ParseHeader(b); h.LastOffset() < end {
			keep = append(keep, b)
		}
	}
	o.m.batches = keep
	o.end = end
	for pid, b := range o.last {
		if h, _ := record.ParseHeader(b); h.LastOffset() >= end {
			o.lost[pid] = true
		}
	}
	o.start = min(o.start, end)
}

// read checks one Read against the model: whole batches of the model, in
// order, starting with the first that holds an offset at or past the asked
// one, the first always whole, within maxBytes otherwise, below limit.
func (o *opLog) read(off int64, maxBytes int, limitArg byte) {
	t := o.t
	off += o.start
	limit := int64(math.MaxInt64)
	if limitArg%4 == 0 {
		limit = o.start + int64(limitArg)
	}
	got, err := o.l.Read(off, maxBytes, limit)
	if off > o.end {
		if !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("read %d past the log end %d: %v", off, o.end, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("read %d: %v", off, err)
	}
	i := 0
	for i < len(o.m.batches) {
		if h, _ := record.ParseHeader(o.m.batches[i]); h.LastOffset() >= off {
			break
		}
		i++
	}
	if i == len(o.m.batches) || off >= limit {
		if len(got) != 0 {
			t.Fatalf("read %d returned %d bytes, want none", off, len(got))
		}
		return
	}
	first := o.m.batches[i]
	if h, _ := record.ParseHeader(first); h.BaseOffset >= limit {
		if len(got) != 0 {
			t.Fatalf("read %d below limit %d returned %d bytes", off, limit, len(got))
		}
		return
	}
	if len(got) > max(maxBytes, len(first)) {
		t.Fatalf("read %d returned %d bytes, maxBytes %d, first batch %d", off, len(got), maxBytes, len(first))
	}
	for rest := got; len(rest) > 0; i++ {
		if i >= len(o.m.batches) || !bytes.HasPrefix(rest, o.m.batches[i]) {
			t.Fatalf("read %d: bytes differ from the model at batch %d", off, i)
		}
		if h, _ := record.ParseHeader(o.m.batches[i]); h.BaseOffset >= limit {
			t.Fatalf("read %d returned a batch at %d, limit %d", off, h.BaseOffset, limit)
		}
		rest = rest[len(o.m.batches[i]):]
	}
	if len(got) == 0 {
		t.Fatalf("read %d returned nothing; the model has a batch there", off)
	}
}

func (o *opLog) check() {
	t, l := o.t, o.l
	if l.LogEndOffset() != o.end || l.LogStartOffset() != o.start {
		t.Fatalf("log [%d, %d), model [%d, %d)", l.LogStartOffset(), l.LogEndOffset(), o.start, o.end)
	}
	o.m.check(t, l, o.start)
	o.checkTxns()
}

// checkTxns compares the transactions with a model of the batches from the
// log start on. A transaction that began before the log start is invisible
// to the model: it holds the first unstable offset at the log start, and
// its abort entry is left out of the comparison.
func (o *opLog) checkTxns() {
	t, l := o.t, o.l
	m := modelTxns(t, readAll(t, l, o.start, 1<<20))
	m.leo = o.end
	l.HighWatermarkMoved(l.LogEndOffset()) // every marker replicated
	if got, want := l.FirstUnstableOffset(), m.firstUnstable(); got != want && got != o.start {
		t.Fatalf("FirstUnstableOffset %d, model %d (log [%d, %d))", got, want, o.start, o.end)
	}
	got, err := l.AbortedTransactions(o.start, o.end+1)
	if err != nil {
		t.Fatal(err)
	}
	// A transaction that began before the log start: the model sees it
	// begin later, or not at all.
	hidden := map[int64]bool{}
	for _, a := range got {
		if a.FirstOffset < o.start {
			hidden[a.LastOffset] = true
		}
	}
	early := func(a AbortedTxn) bool { return a.FirstOffset < o.start || hidden[a.LastOffset] }
	got = slices.DeleteFunc(got, early)
	if want := slices.DeleteFunc(m.abortedIn(o.start, o.end+1), early); !slices.Equal(got, want) {
		t.Fatalf("AbortedTransactions %+v, model %+v", got, want)
	}
}

// FuzzRecoverSegmentTail appends arbitrary bytes to a segment past the
// recovery point: Open must neither panic nor fail, keep every good batch
// before the garbage, and serve only batches that pass their CRC.
func FuzzRecoverSegmentTail(f *testing.F) {
	good := newBatch(f, batchSpec{records: 3})
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0})
	f.Add(good[:40])
	f.Add(good)
	f.Add(append(append([]byte(nil), good...), good[:70]...))
	f.Add(bytes.Repeat([]byte{0xff}, 100))
	f.Fuzz(func(t *testing.T, tail []byte) {
		mem, dir := newMemFS(), "/data/t-0"
		m := writeLog(t, mem, dir, 3)
		setRecoveryPoint(t, mem, dir, 0)
		path := filepath.Join(dir, fileName(0, logSuffix))
		f, err := mem.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		f.WriteAt(tail, st.Size())
		f.Close()
		l, err := Open(dir, testConfig(), Options{FS: mem})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer l.Close()
		if l.LogEndOffset() < 15 {
			t.Fatalf("recovery lost good batches: log end %d", l.LogEndOffset())
		}
		batches := readAll(t, l, 0, 1<<20)
		for i, b := range m.batches {
			if !bytes.Equal(batches[i], b) {
				t.Fatalf("good batch %d changed", i)
			}
		}
	})
}

// FuzzCheckpoints feeds arbitrary bytes to the checkpoint and snapshot
// parsers: no panic, and whatever parses formats back to the same bytes.
func FuzzCheckpoints(f *testing.F) {
	f.Add([]byte("0\n42\n"))
	f.Add([]byte("0\n2\n1 0\n3 10\n"))
	f.Add([]byte("0\n-1\n"))
	ps := producerStates{byID: map[int64]*producerEntry{
		1: {epoch: 2, coordinatorEpoch: -1, txnFirst: -1, lastTimestamp: 7, batches: []batchMetadata{{firstSeq: 0, lastSeq: 4, lastOffset: 4}}},
		3: {epoch: 0, coordinatorEpoch: 5, txnFirst: 9, lastTimestamp: 8},
	}}
	f.Add(ps.encodeSnapshot())
	f.Add(snapshotV1(ps))
	f.Fuzz(func(t *testing.T, b []byte) {
		if off, err := parseOffsetCheckpoint(b); err == nil {
			if again, err := parseOffsetCheckpoint(formatOffsetCheckpoint(off)); err != nil || again != off {
				t.Fatalf("offset checkpoint %q does not round-trip", b)
			}
		}
		if entries, err := parseEpochCheckpoint(b); err == nil {
			again, err := parseEpochCheckpoint(formatEpochCheckpoint(entries))
			if err != nil || !slices.Equal(again, entries) {
				t.Fatalf("epoch checkpoint %q does not round-trip: %v", b, err)
			}
		}
		if ps, err := decodeSnapshot(b); err == nil {
			// Version 1 is read, version 2 written: a version 2
			// snapshot round-trips, and so does its re-encoding.
			enc := ps.encodeSnapshot()
			if binary.BigEndian.Uint16(b) == snapshotVersion && !bytes.Equal(enc, b) {
				t.Fatalf("snapshot does not round-trip")
			}
			again, err := decodeSnapshot(enc)
			if err != nil || !bytes.Equal(again.encodeSnapshot(), enc) {
				t.Fatalf("re-encoded snapshot does not round-trip: %v", err)
			}
		}
	})
}
