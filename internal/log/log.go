package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// Log is one partition's log on disk. It is safe for concurrent use: appends
// are serialised inside, reads run concurrently with appends.
//
// Locks, in the order they nest (a lock is only taken while holding locks
// listed before it):
//
//	cleanMu   a cleaning pass (cleaner.go) holds it throughout; Close
//	          takes it to wait for a pass to stop.
//	swapMu    a cleaning pass's swap (swapIn) holds it across its
//	          directory fsyncs; truncation and retention take it before
//	          they change the segment list, so they wait for a swap,
//	          while appends and fsyncs do not.
//	syncIOMu  the fsync work: a sync of the log holds it read-locked
//	          (two may run side by side, flush.go); whoever else writes
//	          the recovery point or closes segment files holds it
//	          write-locked, so no file is closed under a running fsync
//	          and no stale recovery point is written.
//	mu        the writer: appends, rolls, retention, truncation, config,
//	          producer state. Never held during a data fsync, but for
//	          one per segment: a roll fsyncs the segment it seals, with
//	          the cut of the zeros past its end (zero_ahead.go).
//	segMu     the segment list (write-locked only to change it, or to cut a
//	          file shorter); readers hold it read-locked for a whole Read.
//	loadMu    segment.loadMu: the first use of a sealed segment's indexes
//	          found at Open checks (and may rebuild) them under it.
//	leaves    syncMu (group-commit state), epochCache.mu, segment.tsMu,
//	          sparseIndex.mu, txnIndex.mu and FileCache.mu (shared by
//	          every log of the process); nothing is acquired under them,
//	          except FileCache.mu under the others.
//
// dir (and the paths of the segments' files) change only when Relocate
// moves the log, holding syncIOMu, mu and segMu; code that uses them holds
// at least one of these. Dir reads dirName, which needs no lock.
type Log struct {
	dir    string
	fs     FS
	files  *FileCache
	logger *slog.Logger
	now    func() time.Time // wall clock: LogAppendTime, segment.ms, retention
	mono   func() time.Time // monotonic clock: flush.ms

	cleanMu sync.Mutex
	cleaner cleanerState // guarded by cleanMu
	swapMu  sync.Mutex
	// cleanAbort asks a running cleaning pass to stop (Close).
	cleanAbort atomic.Bool

	syncIOMu sync.RWMutex
	// Guarded by syncIOMu write-locked, or read-locked by the sync whose
	// turn it is (syncPlan.prev).
	recoveryPoint int64
	// scanStart is the one the recovery-point file holds with
	// recoveryPoint (scanStartRP), if any; pendingStart was taken by the
	// last CheckpointRecoveryPoint and waits to be durable
	// (recovery_point.go). Guarded by syncIOMu.
	scanStart    *scanStart
	scanStartRP  int64
	pendingStart *pendingStart
	// recoveredTail: Open found batches past the recovery point and did
	// not fsync them; the first CheckpointRecoveryPoint does.
	recoveredTail atomic.Bool

	mu sync.Mutex
	// Guarded by mu.
	cfg    Config
	active *segment
	// epochUnsaved: the leader-epoch checkpoint lags the cache (AssignEpoch
	// on an empty log); the next fsync, or Close, writes it.
	epochUnsaved bool
	producers    producerStates
	// verifying holds the transaction verification guards taken and not
	// yet used or taken back, by producer ID (verification.go).
	verifying map[int64]*VerificationGuard
	// unstable is the first offset of the oldest transaction open or
	// closed by a marker the high watermark has not passed, -1 when none
	// is: FirstUnstableOffset reads it without a lock. Written under
	// txnMu, and under mu too before the log end offset moves past a
	// batch. oldestMarker is the marker offset of the oldest such closed
	// one, -1 for none (highWatermarkMoved).
	unstable     atomic.Int64
	oldestMarker atomic.Int64
	// txnMu guards unreplicated and openFirst (producers.firstOpen as of
	// the last publishUnstable). A leaf lock: taken under mu by appends,
	// alone when the high watermark moves.
	txnMu          sync.Mutex
	unreplicated   unreplicatedTxns
	openFirst      int64
	snapshots      []int64 // offsets of the snapshot files on disk, ascending
	closed         bool
	pendingRolled  []*segment // rolled segments not yet fsynced
	dirDirty       bool       // entries created or renamed since the last directory fsync
	parentDirty    bool       // the directory was created; its parent is not fsynced yet
	repaired       bool       // Open cut a tail or removed files (recovery.go)
	unflushedSince time.Time  // mono time of the first append after the last fsync began
	zeroAhead      zeroAheadState
	syncTail       chan struct{} // closed when the last sync begun has finished (syncPlan)
	flushStarted   int64         // log end offset noted by the last fsync that began
	rollFlushTo    int64         // the background flush after a roll syncs up to here
	rollFlushing   bool          // the background flush goroutine runs
	truncGen       int64         // bumped by every truncation, so the cleaner sees one happened
	// truncatedTo is the lowest log end offset a truncation left since the
	// cleaner last looked (truncGen says whether there was one): the
	// cleaned-up-to point must not stay above it.
	truncatedTo     int64
	truncatedSeenAt int64 // the truncGen the cleaner last applied truncatedTo at

	// dirPending: Open found no directory and left it to the first
	// write (dir.go); dirMu serializes making it.
	dirPending atomic.Bool
	dirMu      sync.Mutex

	segMu sync.RWMutex
	// Guarded by segMu.
	segs        []*segment // ascending by base offset; the last is the active one
	filesClosed bool

	leo      atomic.Int64 // log end offset, published after the bytes
	logStart atomic.Int64
	// hw is the high watermark last given to HighWatermarkMoved, -1
	// before any: retention deletes no record at or above it.
	hw atomic.Int64

	epochs epochCache

	// group does the group commit (flush.go): the log directory's
	// (Options.Group), or, without one, the log's own (ownGroup), which
	// Close closes.
	group    *SyncGroup
	ownGroup bool

	// Guarded by syncMu.
	syncMu  sync.Mutex
	durable int64 // every offset below it is fsynced
	// onDurable is told after each sync round of the log (OnDurable).
	onDurable atomic.Pointer[func()]

	failure atomic.Pointer[error] // set once when the log goes offline

	bg sync.WaitGroup // the background flush after a roll

	codecsOnce sync.Once
	codecs     *record.Codecs

	// indexInterval is cfg.IndexIntervalBytes, for rebuilding the index of
	// a sealed segment on first use without taking mu.
	indexInterval atomic.Int64

	dirName   atomic.Pointer[string]     // dir, for lock-free readers
	onOffline func(error)                // Options.OnOffline
	reloc     atomic.Pointer[relocation] // the Relocate in progress, if any

	onRetentionDue func() // Options.OnRetentionDue
	onCorruption   func(*CorruptionError)

	// repairCorruption is Options.RepairCorruption; corruptionRepaired is
	// the offset recovery cut the log at because of it, -1 if none.
	repairCorruption   bool
	corruptionRepaired int64
	// [uncheckedFrom, uncheckedTo): batches Open read header-only, for
	// VerifyUnchecked. Guarded by mu.
	uncheckedFrom, uncheckedTo int64
	// scanned: the headers Open's scan read in the last segment, for the
	// producer-state replay that follows it (recovery.go). Open only.
	scanned *scannedHeaders
}

func newLog(dir string, cfg Config, opts Options) *Log {
	l := &Log{
		dir:       dir,
		fs:        opts.FS,
		files:     opts.Files,
		logger:    opts.Logger,
		now:       opts.Now,
		mono:      time.Now,
		cfg:       cfg,
		codecs:    opts.Codecs,
		producers: newProducerStates(),
		onOffline: opts.OnOffline,

		onRetentionDue: opts.OnRetentionDue,
		group:          opts.Group,

		onCorruption:       opts.OnCorruption,
		repairCorruption:   opts.RepairCorruption,
		corruptionRepaired: -1,
		openFirst:          -1,
	}
	l.unstable.Store(-1)
	l.oldestMarker.Store(-1)
	l.hw.Store(-1)
	l.dirName.Store(&dir)
	l.indexInterval.Store(cfg.IndexIntervalBytes)
	if l.fs == nil {
		l.fs = OSFS{}
	}
	if l.files == nil {
		l.files = NewFileCache(0)
	}
	if l.group == nil {
		l.group, l.ownGroup = NewSyncGroup(filepath.Dir(dir)), true
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if !l.ownGroup {
		// A group of one log never syncs its filesystem whole.
		l.group.attach(l.fs, l.logger)
	}
	l.logger = l.logger.With("dir", dir)
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// reportCorruption tells the owner of a damaged batch (Options.OnCorruption).
func (l *Log) reportCorruption(cerr *CorruptionError) {
	if l.onCorruption != nil {
		l.onCorruption(cerr)
	}
}

// offlineErr returns the error that took the log offline, if any.
func (l *Log) offlineErr() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// fail takes the log offline after an I/O error: nothing more is appended
// or acknowledged. The first failure is logged; every later call returns it.
func (l *Log) fail(op string, err error) error {
	wrapped := fmt.Errorf("%w: %s: %v", ErrOffline, op, err)
	if l.failure.CompareAndSwap(nil, &wrapped) {
		if l.onOffline != nil {
			l.onOffline(wrapped) // the owner reports it, once per directory
		} else {
			l.logger.Error("log directory offline", "op", op, "err", err)
		}
	}
	return l.offlineErr()
}

// MarkOffline takes the log offline because its directory failed (another
// log in it hit an I/O error): nothing more is appended, read or
// acknowledged, as after an I/O error of its own. OnOffline is not called.
func (l *Log) MarkOffline(cause error) {
	wrapped := fmt.Errorf("%w: %v", ErrOffline, cause)
	if l.failure.CompareAndSwap(nil, &wrapped) {
		l.logger.Debug("log offline with its directory", "err", cause)
	}
}

func (l *Log) append(batch []byte, h record.Header, leaderEpoch int32) (AppendInfo, error) {
	return l.appendChecked(batch, h, leaderEpoch, nil)
}

// appendChecked is append with check, when set, run under mu after the
// producer state's checks and before the batch is written.
func (l *Log) appendChecked(batch []byte, h record.Header, leaderEpoch int32, check func() error) (AppendInfo, error) {
	if len(batch) < record.HeaderSize || len(batch) != h.Size() {
		return AppendInfo{}, fmt.Errorf("log: append to %s: batch is %d bytes, its header says %d", l.Dir(), len(batch), h.Size())
	}
	m, err := l.markerOf(batch, &h)
	if err != nil {
		return AppendInfo{}, fmt.Errorf("log: append to %s: %w", l.Dir(), err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(batch, h, leaderEpoch, m, check)
}

// appendLocked is the leader's append, shared by Append and AppendMarker:
// m is set when the batch is a transaction marker. The caller holds mu.
func (l *Log) appendLocked(batch []byte, h record.Header, leaderEpoch int32, m *markerInfo, check func() error) (AppendInfo, error) {
	if l.closed {
		return AppendInfo{}, ErrClosed
	}
	if err := l.offlineErr(); err != nil {
		return AppendInfo{}, err
	}
	if dup, err := l.producers.check(&h, m); err != nil {
		if errors.Is(err, ErrDuplicateSequence) {
			return AppendInfo{
				BaseOffset:     dup.firstOffset,
				LastOffset:     dup.lastOffset,
				LogAppendTime:  dup.appendTime,
				LogStartOffset: l.logStart.Load(),
			}, err
		}
		return AppendInfo{}, err
	}
	if check != nil {
		if err := check(); err != nil {
			return AppendInfo{}, err
		}
	}
	if h.IsTransactional() && h.ProducerID >= 0 {
		// A marker, or the batch that opens the producer's transaction,
		// takes its verification guard back (verification.go).
		l.endVerification(&h)
	}
	now := l.now()
	if l.shouldRoll(&h, now) {
		if err := l.roll(); err != nil {
			return AppendInfo{}, err
		}
	}

	seg := l.active
	if err := l.bear(seg); err != nil {
		return AppendInfo{}, err
	}
	h.BaseOffset = l.leo.Load()
	h.PartitionLeaderEpoch = leaderEpoch
	record.SetBaseOffset(batch, h.BaseOffset)
	record.SetPartitionLeaderEpoch(batch, leaderEpoch)
	pos := seg.size.Load()
	if _, err := seg.log.WriteAt(batch, pos); err != nil {
		return AppendInfo{}, l.fail("append to "+seg.path, err)
	}
	if pos == 0 {
		seg.firstAppend = now
		l.firstInLoneSegment()
	}
	seg.observe(&h, pos, l.cfg.IndexIntervalBytes)
	seg.size.Store(pos + int64(len(batch)))
	l.wrote(seg, pos, len(batch))
	// Transactions first: the log end offset must not pass a batch that
	// opens one before FirstUnstableOffset holds it back.
	if err := l.applyBatch(seg, &h, m); err != nil {
		return AppendInfo{}, err
	}
	l.leo.Store(h.LastOffset() + 1)

	if l.unflushedSince.IsZero() {
		l.unflushedSince = l.mono()
	}
	if l.epochs.assign(leaderEpoch, h.BaseOffset) {
		if err := l.writeEpochCheckpoint(); err != nil {
			return AppendInfo{}, l.fail("write leader epoch checkpoint", err)
		}
	}
	info := AppendInfo{
		BaseOffset:     h.BaseOffset,
		LastOffset:     h.LastOffset(),
		LogAppendTime:  -1,
		LogStartOffset: l.logStart.Load(),
	}
	if h.LogAppendTime() {
		info.LogAppendTime = h.MaxTimestamp
	}
	return info, nil
}

// shouldRoll reports whether the batch must go to a new segment: the active
// one would outgrow segment.bytes, is older than segment.ms, has a full
// index, or could not address the batch with 32-bit relative offsets and
// positions. A segment always takes at least one batch.
func (l *Log) shouldRoll(h *record.Header, now time.Time) bool {
	s := l.active
	cur := s.size.Load()
	if cur == 0 {
		return false
	}
	size := int64(h.Size())
	switch {
	case cur+size > l.cfg.SegmentBytes:
		return true
	case l.maxSegmentMs() > 0 && now.Sub(s.firstAppend) >= time.Duration(l.maxSegmentMs()-l.rollJitterMs(s))*time.Millisecond:
		return true
	case l.cfg.SegmentIndexBytes > 0 && (int64(s.index.len()) >= l.cfg.SegmentIndexBytes/offsetEntrySize ||
		int64(s.tindex.len()) >= l.cfg.SegmentIndexBytes/timeEntrySize):
		return true
	case !s.fits(l.leo.Load(), h.LastOffsetDelta, int(size)):
		return true
	}
	return false
}

// maxSegmentMs is segment.ms, or max.compaction.lag.ms when that is
// shorter on a compacted log: the active segment is never cleaned, so it
// must roll for its records to be (KIP-354). The caller holds mu.
func (l *Log) maxSegmentMs() int64 {
	ms := l.cfg.SegmentMs
	if lag := l.cfg.MaxCompactionLagMs; l.cfg.CleanupPolicy.Compacts() && lag > 0 && (ms <= 0 || lag < ms) {
		ms = lag
	}
	return ms
}

// rollJitterMs is how much earlier than maxSegmentMs the segment s rolls:
// a share of segment.jitter.ms below it, drawn per segment (from the log's
// directory and the segment's base offset, so it stays the same while the
// segment is active), so that partitions created together do not all roll
// at once (Kafka's randomSegmentJitter). The caller holds mu.
func (l *Log) rollJitterMs(s *segment) int64 {
	limit := min(l.cfg.SegmentJitterMs, l.maxSegmentMs())
	if limit <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(l.dir))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(s.base)))
	return int64(h.Sum64() % uint64(limit))
}

// roll seals the active segment and starts a new one at the log end
// offset. The sealed segment is fsynced by a background flush (and by any
// WaitDurable before it), which then moves the recovery point past it.
func (l *Log) roll() error {
	old := l.active
	if err := old.ensureIndexes(); err != nil { // the part Open left to first use
		if !errors.Is(err, ErrCorruption) {
			return l.fail("index "+old.path, err)
		}
		// A damaged batch before the scan start: the roll needs none of
		// the index entries of that part (a sparse index without them
		// still finds every batch), so it is reported as a read reports
		// it, for the owner to repair, and the segment rolls without them.
		old.dropHeadIndex()
		l.reportCorruption(&CorruptionError{Offset: max(old.base, l.logStart.Load()), Err: err})
	}
	if err := l.dropZeroAhead(old, true); err != nil {
		return l.fail("roll", err)
	}
	if err := old.seal(); err != nil {
		return l.fail("seal "+old.path, err)
	}
	base := l.leo.Load()
	// The recovery point may already be at the sealed segment's end (every
	// batch of it fsynced and checkpointed), or get there from a sync
	// begun before the roll (its target the segment's end, it writes the
	// recovery point for an earlier rolled segment): Open would then
	// trust the indexes as they are on disk, so they are made durable
	// before a later segment's name can be. Otherwise the sync that makes
	// the segment's last batches durable fsyncs them first
	// (pendingRolled).
	l.syncMu.Lock()
	durable := l.durable
	l.syncMu.Unlock()
	if durable >= base || l.flushStarted >= base {
		if err := old.syncIndexes(); err != nil {
			return l.fail("fsync sealed segment", err)
		}
	}
	seg, err := createSegment(l.files, l.fs, l.dir, base, "")
	if err != nil {
		return l.fail("roll", err)
	}
	l.segMu.Lock()
	l.segs = append(l.segs, seg)
	l.segMu.Unlock()
	l.active = seg
	l.pendingRolled = append(l.pendingRolled, old)
	l.dirDirty = true
	// The snapshot is not fsynced here: its CRC catches a torn one, which
	// recovery then skips. The next fsync of the log makes its name durable.
	if err := l.writeSnapshot(base, false); err != nil {
		return l.fail("write producer snapshot", err)
	}
	l.logger.Debug("rolled segment", "base_offset", base)
	l.retentionDue()
	l.startRollFlush(base)
	return nil
}

// bear creates the .log file of an unborn segment before its first write
// (unbornSegment) and marks the directory for the next fsync, which must
// make the new name durable before the write is acknowledged. The caller
// holds mu.
func (l *Log) bear(s *segment) error {
	if !s.unborn {
		return nil
	}
	if err := l.bearDir(); err != nil {
		return err
	}
	if err := s.log.openWith(osCreateTrunc, false); err != nil {
		return l.fail("create segment "+s.path, err)
	}
	s.unborn = false
	l.dirDirty = true
	return nil
}

// writeSnapshot writes the producer state as of offset (the log end
// offset) to a snapshot file (keepSnapshots says which stay). The caller
// holds mu.
func (l *Log) writeSnapshot(offset int64, sync bool) error {
	return l.writeSnapshotData(offset, l.producers.encodeSnapshot(), sync)
}

// writeSnapshotData writes data, the producer state as of offset, to a
// snapshot file (keepSnapshots says which stay): durable when it returns
// with sync; otherwise its name is left to the directory's next fsync.
// The caller holds mu.
func (l *Log) writeSnapshotData(offset int64, data []byte, sync bool) error {
	if err := l.dirForWrite(); err != nil {
		return err
	}
	name := fileName(offset, snapshotSuffix)
	if sync {
		if err := writeFileAtomic(l.fs, l.dir, name, data); err != nil {
			return err
		}
	} else {
		if err := writeFileRenamed(l.fs, filepath.Join(l.dir, name), tmpSuffix, data, false); err != nil {
			return err
		}
		l.dirDirty = true
	}
	return l.keepSnapshots(offset)
}

// writeFileRenamed writes data to path+tmp, fsynced with syncData, and
// renames it to path; the directory is not fsynced.
func writeFileRenamed(fsys FS, path, tmp string, data []byte, syncData bool) error {
	f, err := fsys.OpenFile(path+tmp, osCreateTrunc, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && syncData {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path+tmp, err)
	}
	return fsys.Rename(path+tmp, path)
}

// keepSnapshots notes the snapshot just written at offset and removes the
// ones no longer needed. Kept are the newest two at segment bases (a roll
// writes one at each new segment's base, from which a truncation in the
// active segment, or just before it, replays) and the newest one at
// another offset (a scan start's, which the recovery point names): scan
// starts, one every checkpoint, must not push the segments' ones out, or a
// truncation below them would replay the producer state from the log's
// start. The caller holds mu.
func (l *Log) keepSnapshots(offset int64) error {
	i, found := slices.BinarySearch(l.snapshots, offset)
	if !found {
		l.snapshots = slices.Insert(l.snapshots, i, offset)
	}
	l.segMu.RLock()
	isBase := func(off int64) bool {
		i := segmentFor(l.segs, off)
		return i < len(l.segs) && l.segs[i].base == off
	}
	keep := make([]bool, len(l.snapshots))
	bases, other := 0, false
	for i := len(l.snapshots) - 1; i >= 0; i-- {
		if isBase(l.snapshots[i]) {
			keep[i] = bases < 2
			bases++
		} else {
			keep[i] = !other
			other = true
		}
	}
	l.segMu.RUnlock()
	kept := l.snapshots[:0]
	for i, off := range l.snapshots {
		if keep[i] {
			kept = append(kept, off)
			continue
		}
		path := filepath.Join(l.dir, fileName(off, snapshotSuffix))
		if err := l.fs.Remove(path); err != nil && !isNotExist(err) {
			return fmt.Errorf("remove %s: %w", path, err)
		}
		l.dirDirty = true
	}
	l.snapshots = kept
	return nil
}

// writeEpochCheckpoint persists the leader-epoch cache. The caller holds mu.
func (l *Log) writeEpochCheckpoint() error {
	if err := l.dirForWrite(); err != nil {
		return err
	}
	if err := writeFileAtomic(l.fs, l.dir, epochCheckpoint, formatEpochCheckpoint(l.epochs.snapshot())); err != nil {
		return err
	}
	l.epochUnsaved = false
	return nil
}

// saveEpochCheckpoint writes the leader-epoch checkpoint if AssignEpoch
// deferred it. The caller holds mu.
func (l *Log) saveEpochCheckpoint() error {
	if !l.epochUnsaved {
		return nil
	}
	if err := l.writeEpochCheckpoint(); err != nil {
		return l.fail("write leader epoch checkpoint", err)
	}
	return nil
}

// writeLogStart persists the log start offset. The caller holds mu.
func (l *Log) writeLogStart(offset int64) error {
	if err := l.dirForWrite(); err != nil {
		return err
	}
	return writeFileAtomic(l.fs, l.dir, logStartOffsetFile, formatOffsetCheckpoint(offset))
}

// segmentFor returns the index in segs of the segment that holds offset:
// the last one whose base offset is at or below it (0 if none is).
func segmentFor(segs []*segment, offset int64) int {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	return max(i, 0)
}

func (l *Log) read(dst []byte, offset int64, maxBytes int, limit int64) ([]byte, error) {
	b, err := l.readSegments(dst, offset, maxBytes, limit, false)
	if errors.Is(err, errPastEnd) {
		// Appended since the read began, or a damaged base offset: no
		// append runs under mu, so a second look tells them apart.
		l.mu.Lock()
		b, err = l.readSegments(dst, offset, maxBytes, limit, true)
		l.mu.Unlock()
	}
	return b, err
}

// errPastEnd: the batch found for an offset below the log end offset
// starts at or past it.
var errPastEnd = errors.New("log: batch found past the log end")

// readSegments is read's work. A batch found for offset that starts at or
// past the log end offset read at the start (a batch has none of its
// offsets, and none of the offsets between, in the log) was either appended
// since, or has a base offset damaged to point past the end (the base
// offset lies outside the CRC32C). When settled (the caller holds mu, so
// nothing is appended) it is the damage, a *CorruptionError; otherwise
// errPastEnd asks the caller to look again under mu.
func (l *Log) readSegments(dst []byte, offset int64, maxBytes int, limit int64, settled bool) ([]byte, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.filesClosed {
		return nil, ErrClosed
	}
	if err := l.offlineErr(); err != nil {
		return nil, err
	}
	start, end := l.logStart.Load(), l.leo.Load()
	if offset < start || offset > end {
		return nil, fmt.Errorf("%w: offset %d, log has [%d, %d)", ErrOffsetOutOfRange, offset, start, end)
	}
	if offset == end || offset >= limit {
		return nil, nil
	}
	// Batches appended since end was read wait for the next read, so that
	// every batch served can be checked against end (verifyRead).
	limit = min(limit, end)
	buf := make([]byte, record.HeaderSize)
	// A segment may end before offset when compaction left a gap; the
	// batch is then at the start of a later segment.
	for i := segmentFor(l.segs, offset); i < len(l.segs); i++ {
		seg := l.segs[i]
		segEnd := seg.size.Load()
		pos, h, found, err := seg.find(buf, offset, segEnd)
		if err != nil {
			if errors.Is(err, ErrCorruption) {
				// Somewhere in the segment, before or at the batch.
				cerr := &CorruptionError{Offset: max(seg.base, l.logStart.Load()), Err: err}
				l.reportCorruption(cerr)
				return nil, cerr
			}
			return nil, err
		}
		if !found {
			continue
		}
		if h.BaseOffset >= end {
			if !settled {
				return nil, errPastEnd
			}
			// Damaged: offset is in it unless a batch after it holds
			// offset (an index entry led the search to before it).
			badPos, bad := pos, h
			var err error
			if pos, h, found, err = seg.locate(buf, offset, pos+int64(h.Size()), segEnd); err == nil && (!found || h.BaseOffset > offset) {
				err = seg.corruptAt(badPos, fmt.Errorf("batch offsets [%d, %d] past the log end %d, found for offset %d",
					bad.BaseOffset, bad.LastOffset(), end, offset))
			}
			if err != nil {
				cerr := &CorruptionError{Offset: max(offset, seg.base), Err: err}
				if !errors.Is(err, ErrCorruption) {
					return nil, err
				}
				l.reportCorruption(cerr)
				return nil, cerr
			}
		}
		if h.BaseOffset >= limit {
			return nil, nil
		}
		out, err := seg.readBatches(dst, pos, segEnd, h.Size(), maxBytes, limit)
		if err != nil {
			return nil, err
		}
		return l.verifyRead(seg, pos, offset, end, h, out)
	}
	return nil, nil
}

// verifyRead checks every batch a read of offset returns, so that a
// flipped bit on the disk is never served to a consumer or a follower: its
// CRC32C, and its offsets (outside the CRC), which must follow the batch
// before and end below end, the log end offset when the read began. A bad
// first batch fails the read with a *CorruptionError, a bad later one ends
// it there (the read that starts at it fails). Options.OnCorruption hears
// of it. (A later batch whose base offset was damaged to at or past end is
// not served either: the read stops before it, and the read that starts at
// it reports it: readSegments.)
func (l *Log) verifyRead(seg *segment, pos, offset, end int64, first record.Header, b []byte) ([]byte, error) {
	n := 0
	next := seg.base
	for n < len(b) {
		h, err := record.ParseHeader(b[n:])
		if err == nil && h.Size() <= len(b)-n {
			err = record.ValidateParsed(h, b[n:n+h.Size()])
		}
		// The base offset lies outside the CRC: it must follow the batch
		// before and stay inside the log.
		if err == nil && (h.BaseOffset < next || h.LastOffset() >= end) {
			err = fmt.Errorf("batch offsets [%d, %d] out of place (after %d, log end %d)", h.BaseOffset, h.LastOffset(), next-1, end)
		}
		if err != nil {
			if n > 0 {
				return b[:n:n], nil
			}
			// The damage may start at the batch holding offset, whose
			// base offset may itself be what is damaged.
			cerr := &CorruptionError{Offset: max(min(first.BaseOffset, offset), seg.base), Err: seg.corruptAt(pos, err)}
			l.reportCorruption(cerr)
			return nil, cerr
		}
		next = h.LastOffset() + 1
		n += h.Size()
	}
	return b, nil
}

// readBatches reads the whole batches from pos on: the first one (of
// firstSize bytes) always, then as many more as fit in maxBytes and start
// below limit, without crossing end.
func (s *segment) readBatches(dst []byte, pos, end int64, firstSize, maxBytes int, limit int64) ([]byte, error) {
	want := min(max(int64(firstSize), int64(maxBytes)), end-pos)
	var buf []byte
	if int64(cap(dst)) >= want {
		buf = dst[:want]
	} else {
		buf = make([]byte, want)
	}
	if _, err := s.log.ReadAt(buf, pos); err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", s.path, pos, err)
	}
	n := firstSize
	for len(buf)-n >= record.HeaderSize {
		h, err := record.ParseHeader(buf[n:])
		if err != nil || h.BaseOffset >= limit || h.Size() > len(buf)-n {
			break // a bad header is reported by the read that starts there
		}
		n += h.Size()
	}
	return buf[:n:n], nil
}

func (l *Log) setConfig(cfg Config) {
	l.mu.Lock()
	l.cfg = cfg
	l.indexInterval.Store(cfg.IndexIntervalBytes)
	l.mu.Unlock()
}

func (l *Log) size() int64 {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size.Load()
	}
	return n
}

// ProducerState returns what the log remembers about producerID: its epoch
// and the sequence and offset of its last batch. ok is false when the log
// has no state for it.
func (l *Log) ProducerState(producerID int64) (state ProducerState, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.producers.byID[producerID]
	if e == nil {
		return ProducerState{}, false
	}
	return e.public(), true
}

// DurableOffset is the offset below which every record is fsynced.
func (l *Log) DurableOffset() int64 {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	return l.durable
}

func (l *Log) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	if l.ownGroup {
		// Last, with no lock held: the loop may be syncing this log.
		defer l.group.Close()
	}

	// A cleaning pass stops at its next check; wait for it.
	l.cleanAbort.Store(true)
	l.cleanMu.Lock()
	l.cleanMu.Unlock() //nolint:staticcheck // waiting for the pass is the point

	l.bg.Wait() // the background flush; appends are refused now
	l.mu.Lock()
	// Durable: the next Open may seal the segment without an fsync of it.
	err := l.dropZeroAhead(l.active, true)
	l.mu.Unlock()
	if err != nil {
		// As any failed fsync: a sync still running must not acknowledge.
		err = l.fail("close", err)
	}
	if err == nil {
		err = l.syncNow()
	}
	l.mu.Lock()
	// A log never appended to (its only segment unborn) has no producer
	// state, and recovery drops every epoch at or past its end: closing
	// it writes nothing, so a broker of many empty partitions stops fast.
	empty := l.active.unborn
	l.mu.Unlock()
	// The snapshot at the log end lets the next Open start reading the
	// active segment there (scanStart).
	var at *pendingStart
	if err == nil && !empty {
		l.mu.Lock()
		err = l.saveEpochCheckpoint()
		if err == nil {
			at = l.captureScanStart()
			err = l.writeSnapshot(l.leo.Load(), true)
		}
		l.mu.Unlock()
		if err != nil {
			err = l.fail("write producer snapshot", err)
		}
	}

	l.syncIOMu.Lock()
	defer l.syncIOMu.Unlock()
	if err == nil && at != nil {
		err = l.writeRecoveryPointAt(l.leo.Load(), &at.at)
	} else if err == nil {
		err = l.writeRecoveryPoint(l.leo.Load())
	}
	l.segMu.Lock()
	defer l.segMu.Unlock()
	if err == nil && !l.active.unborn {
		// The active segment's indexes live in memory; write them out so
		// the files on disk are whole for tools (recovery rebuilds them
		// anyway while the segment is the last one).
		err = l.active.index.writeOut()
		if err == nil {
			err = l.active.tindex.writeOut()
		}
	}
	for _, s := range l.segs {
		if cerr := s.closeFiles(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", s.path, cerr)
		}
		s.closed = true
	}
	l.filesClosed = true
	if err != nil {
		if !errors.Is(err, ErrOffline) { // already logged when it happened
			l.logger.Error("close log", "err", err)
		}
		return err
	}
	l.logger.Debug("closed log", "log_end_offset", l.leo.Load())
	return nil
}

func (l *Log) delete() error {
	err := l.close()
	if errors.Is(err, ErrOffline) {
		err = nil // an offline log can still be deleted
	}
	if rerr := l.fs.RemoveAll(l.dir); rerr != nil {
		return fmt.Errorf("remove %s: %w", l.dir, rerr)
	}
	if perr := l.fs.SyncDir(filepath.Dir(l.dir)); perr != nil && err == nil {
		err = fmt.Errorf("fsync %s: %w", filepath.Dir(l.dir), perr)
	}
	return err
}
