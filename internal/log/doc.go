/*
Package log stores one partition's log on disk, in Kafka's layout.

It owns the partition directory: segments of record batches, their offset
and time indexes, and the checkpoints that make a restart fast and safe. It
guarantees that an offset acknowledged through WaitDurable survives a crash,
that a torn or corrupt tail is truncated on Open and never served, and that
fsynced data found damaged is reported as ErrCorruption instead of being
dropped. Every batch a read returns has its CRC32C checked: a damaged
one is never served (the read fails with a *CorruptionError).
It never decodes records on the append or read path (batches are
written and served byte for byte) and imports nothing else of Sluice's.

# Files

A partition directory holds, with Kafka's names (offsets in 20 digits):

	00000000000000000000.log        segment: batches from offset 0
	00000000000000000000.index      its offset index
	00000000000000000000.timeindex  its time index
	00000000000000000000.txnindex   its aborted transactions (only when
	                                it has had one, or was cleaned)
	00000000000000001000.log        next segment: batches from offset 1000
	...
	00000000000000001000.snapshot   producer state as of offset 1000
	leader-epoch-checkpoint         leader epochs and where each started
	recovery-point                  everything below this offset is fsynced
	log-start-offset                the first offset still in the log
	cleaner-offset-checkpoint       compacted logs: cleaned up to here, and
	                                the earliest pending delete horizon

A segment's name is its base offset, the offset of its first batch. The
last segment is the active one; appends go to it until it rolls.

# Segments

A .log file is a sequence of record batches (format v2, see package record)
exactly as the producer sent them, except the base offset and partition
leader epoch, which the log assigns (both sit outside the CRC):

	+-------------+--------------+--------------------+-------+-----------+
	| baseOffset  | batchLength  | partitionLeader-   | magic | crc ...   |
	| int64       | int32        | Epoch int32        | 2     | records   |
	+-------------+--------------+--------------------+-------+-----------+
	|<-------- 12 bytes -------->|<------------ batchLength bytes ------->|

There is no other framing: a batch's size is 12 + batchLength, and the next
batch starts right after it. Offsets increase from batch to batch but may
have gaps (compaction removes records; Truncate may leave the log end past
the last batch).

# Indexes

The offset index (.index) holds 8-byte entries, big-endian:

	relativeOffset uint32  last offset of a batch, minus the base offset
	position       uint32  byte position of that batch in the .log

An entry is added for the first batch after every index.interval.bytes of
log, so a lookup (the last entry at or below the target) lands at most that
far before the batch that holds the target; a scan of batch headers goes
the rest of the way.

The time index (.timeindex) holds 12-byte entries, big-endian:

	timestamp      int64   largest record timestamp so far in the segment
	relativeOffset uint32  last offset of the batch that first carried it

added at the same points as offset index entries, when the largest
timestamp grew, plus one final entry when the segment rolls. Both fields
increase strictly.

The active segment keeps its index entries in memory and writes them out
when it rolls (and at Close); its index files do not exist before. Sealed
segments search their files. Indexes are never trusted more than the log:
recovery rebuilds them for every segment it scans and for older segments
whose files are missing; the indexes of the other older segments are
checked on their first use (not at Open) and rebuilt then when
inconsistent.

# Open files

Segment files are opened on first use through a FileCache (Options.Files,
one per process), which closes the least recently used idle ones beyond
its limit and reopens them when needed. A file is never closed while in
use or while it holds writes not yet fsynced, so a partition idle after
its last fsync holds no descriptor once the cache needs it.

# Checkpoints

recovery-point, log-start-offset and leader-epoch-checkpoint are text, in
Kafka's checkpoint style: a version line "0", then the payload (an offset;
or an entry count followed by "epoch startOffset" lines). Each is replaced
by writing a temp file, fsyncing it, renaming it over the old one and
fsyncing the directory.

The aborted-transaction index (.txnindex, Kafka's TransactionIndex) holds
34-byte entries, big-endian, one per ABORT marker in the segment that
closed an open transaction, in marker order:

	version           int16   0
	producerId        int64
	firstOffset       int64   the transaction's first offset
	lastOffset        int64   its ABORT marker's offset
	lastStableOffset  int64   the first offset of the oldest transaction still open after the abort

Its entries are also kept in memory. Recovery cuts a torn tail to whole
entries; entries at or past the recovery point are rebuilt by replaying
the batches after a producer snapshot, as producer state is.

A producer snapshot (.snapshot, named by the log end offset it describes)
is binary: version (2; version 1 is still read), CRC32C of the rest, then
per producer ID its epoch, the coordinator epoch of its last marker, the
first offset of its open transaction, its last timestamp, and its last five
batches (sequences, offsets, timestamps). The newest two are
kept. They are written when a segment rolls (without an fsync: the CRC
catches a torn one, which recovery then skips) and at Close (fsynced).

# What is fsynced when

	Append         nothing; the batch is written (one write call) and
	               visible to readers. An ABORT marker also writes its
	               .txnindex entry (one write call). The first append to
	               an empty log creates its segment file: Open of a new or
	               empty log creates none, and a directory without segments
	               opens as an empty log at its log start offset. Open of a
	               new log does not create its directory either: its first
	               write does (dir.go), and a missing directory opens as
	               the empty log at offset 0.
	WaitDurable    group commit: one fdatasync of the active segment (and
	               of its .txnindex when written since) covers every
	               append before it; rolled segments not yet fsynced are
	               fsynced too, with their indexes, and the
	               directory when entries were created. Only then does the
	               durable offset advance. The syncs run in rounds, one
	               after another, in the sync loop of the log's SyncGroup
	               (one per log directory, shared by its logs): a round
	               takes every log that joined it (ExpectWait after an
	               acks=all append, or a waiter), and with several makes
	               them durable with one syncfs(2) of the filesystem (which
	               covers every file and directory written before it)
	               instead of a flush of the disk per partition.
	roll           the new segment's files are created; a background flush
	               then fsyncs the rolled segment (and its indexes) and
	               moves the recovery point to the log end offset it
	               fsynced, at least the new segment's base offset.
	MaybeFlush     as WaitDurable, when flush.messages or flush.ms say so.
	new epoch      leader-epoch-checkpoint is rewritten (with fsyncs)
	               before Append returns.
	retention,     log-start-offset is rewritten before segments are
	DeleteRecords  removed; the directory is fsynced after.
	Truncate       recovery-point is lowered before any byte is removed;
	               then the cut segment, every segment before it not yet
	               fsynced, and the directory are fsynced.
	Close          everything, then the producer snapshot and the
	               recovery point at the log end offset.
	Open           nothing, unless recovery repaired something (a torn
	               tail cut, files removed): then what it touched, the
	               directory and the recovery point. A new log's directory
	               (made by its first append), its parent's entry and its
	               first segment's name, and the
	               segments a recovery scanned, are fsynced by the log's
	               first fsync, which then moves the recovery point; until
	               then the durable offset stays at the recovery point.

An fsync or write that fails takes the log offline: every later Append,
Read and WaitDurable returns an error wrapping ErrOffline, because what the
failed call covered may or may not be on disk.

# Compaction

On a topic whose cleanup.policy includes compact, Clean (cleaner.go)
rewrites closed segments below the caller's upper bound keeping the latest
record per key, with offsets unchanged; a cleaned batch may hold fewer
records than its offset span, or none (a producer's last batch is kept
empty, as in Kafka, and each cleaned segment ends with a batch at the last
offset of the segments it replaced). Its output is written as
<base>.log.cleaned with its indexes (always a .txnindex, possibly empty)
and fsynced, renamed to .swap (the
directory fsync there is the commit), the replaced segments are deleted
(directory fsync), and the .swap files take their final names (directory
fsync). Appends and fsyncs go on throughout: the swap holds the writer
lock only while it changes the segment list, never across a directory
fsync; truncation and retention wait for it instead (Log.swapMu). Retention by time and size applies only when cleanup.policy
includes delete.

# Recovery

Open lists the directory, removes leftovers (temp, .deleted and .cleaned
files, indexes without a segment), completes .swap files (deleting every
segment whose base offset lies in the swap's offset range), and scans every
segment from the one holding the recovery point to the end. The scan bounds
each batch length by what is left in the file and checks magic, length and
CRC32C; in the active segment, batches below the recovery point (which
CheckpointRecoveryPoint moves up to the durable offset) are read
header-only, and VerifyUnchecked checks their CRCs after Open.

The recovery-point file may also name a scan start in the active segment
(recovery_point.go): a byte position with the offset of the batch there,
the position of the batch before it, and the segment's timestamps up to
it, written with a producer snapshot at that offset by
CheckpointRecoveryPoint (once every batch below it is fsynced) and by
Close. Open then reads the active segment only from there: it checks
that the batch before the position ends exactly there with the offset
before the scan start's (and that a batch there starts at it), and falls
back to reading the segment from its start, with a warning, when it does
not; the in-memory indexes of the part before it are rebuilt on first use
(a read, a timestamp lookup, a roll), as a full scan would have built
them. A restart after a crash thus reads a few pages per partition plus
what follows the scan start, instead of a header per batch of every
active segment. The file without a scan start is Kafka's offset
checkpoint, which Open still reads; a broker that wrote scan starts
cannot be downgraded to one that does not know them.

At the first bad or partial batch the segment is truncated there
and later segments are deleted, with a warning naming the file, the
position and the bytes dropped: that tail was never fsynced, so no
acknowledged write is lost. An empty last segment that starts past the end
of the data before it (a roll whose predecessor lost its unsynced tail) is
deleted too. A bad batch below the recovery point is corruption, and Open
fails with ErrCorruption naming file and position. The base offset lies
outside the CRC32C: a batch whose offsets overlap the one before it is bad,
unless that one jumped ahead of its own predecessors and the batch after it
is in place, in which case the jumping batch is the bad one; a read that
finds a batch starting past the log end offset for an offset below it
reports it as corruption too.
Then the leader-epoch cache forgets epochs at or past the new log end, and
producer state (with open transactions) is loaded from the newest good
snapshot at or below the recovery point and the batches after it; the
replay rewrites the .txnindex entries from the recovery point on. When
recovery repaired something, what it touched is fsynced and the recovery
point moves to the log end; otherwise the first fsync does both.

# Concurrency

One writer at a time appends (Log.mu); readers use positional reads and
never read past a segment's published size, so they do not wait for
appends, nor for fsyncs. The lock order is written down on Log.
*/
package log
