// Package mirror copies topics from one Kafka-protocol cluster (Sluice,
// Apache Kafka, Redpanda, kfake) to another. Into a Sluice cluster it keeps
// every record's offset, so that consumers can fail over to the target and
// resume exactly where they were; into any other it falls back to
// MirrorMaker 2's offset translation.
//
// # Mirror topics
//
// Each mirrored source topic has a mirror topic on the target, named by
// Config.RenameFormat ("{topic}" by default, "{source}.{topic}" as
// MirrorMaker 2 names them). Two topic configs, kept in the target's
// replicated metadata like any topic config, make it one:
//
//	sluice.mirror.source = <source cluster id>/<source topic>/<source topic id, hex>
//	sluice.mirror.state  = mirroring | promoted
//
// While mirroring, every broker of the target refuses clients' produce
// requests to it (INVALID_TOPIC_EXCEPTION, with a message naming the
// promotion step) and skips transaction markers its own coordinators would
// write there; clients read it as any topic. INVALID_TOPIC_EXCEPTION is
// what Kafka answers a write to a topic the broker owns (its internal
// topics); it is not retriable, so producers fail at once instead of
// retrying until their delivery timeout, and clients that show only the
// code's text (franz-go, librdkafka) say "an operation on an invalid
// topic" where INVALID_REQUEST would say "malformed request". Keeping the
// state in topic configs puts it in the replicated metadata, so every
// broker of the target agrees on it, and DescribeConfigs shows it. Promote (`sluice mirror
// promote`) sets promoted: the mirror stops, clients may write, and
// transactions the source left open in the copied records are aborted.
//
// # How records are copied
//
// The mirror fetches each partition from its source leader with
// isolation read_uncommitted, as a follower does, and sends the fetched
// batches untouched to the mirror topic's leader in a Produce request that
// carries Sluice's tagged field config.MirrorAppendTag. That leader appends
// them at their own offsets (replica.Partition.AppendMirrored, the
// follower's append with this cluster's leader epoch stamped in): gaps
// left by compaction or transaction markers stay gaps, and timestamps,
// keys, headers, producer IDs, sequence numbers and markers are the
// source's. The target replicates them to its followers as any write and
// answers once acks=all holds. The partitions led by one source broker are
// shared by Config.CopyStreams copy loops, each with its own pair of
// clients (its own connections, since a connection answers in order and
// one loop's fetch waiting for new records would hold back another's),
// each with one fetch and one append in flight; a partition belongs to one
// loop, so its appends go out one at a time, in order. The source's log
// start offset travels with the copies (config.MirrorLogStartTag, alone
// when a partition has nothing new): the mirror topic's leader moves its
// own log start up to it, so records that retention or DeleteRecords
// removed on the source are removed here too (as far as the target's high
// watermark). Before appending, the leader reserves the largest producer
// ID it copies (cluster.ReserveProducerIDs), so after promotion no
// producer here is given an ID a source producer used: its first write
// would otherwise meet that producer's sequence state.
//
// Inside `sluice serve` (Config.Node) a mirror runs on each node of the
// target that has mirror settings, and copies only the partitions that
// node leads there; only the mirror of the target's controller shapes the
// mirror topics and syncs group offsets. Roles follow leadership: a node
// that gains a partition copies it from its next refresh on, reading the
// resume point from the target as any copy loop does, and while the old
// leader's loop still runs, the conditional appends keep the two from
// writing a record twice.
//
// Why a Produce request, and not a mirror running inside each target
// leader: the mirror then needs nothing on the target but a client
// connection, the same process runs standalone (`sluice mirror`) or inside
// `sluice serve`, the source's credentials stay with the mirror rather
// than in the target's metadata, and the target's partition leaders keep
// no per-link fetch state. The appends are conditional on offsets, which
// makes them safe to retry and safe even with two mirrors running.
//
// # Guarantees
//
// Exactly once, in offset-preserving mode: the resume point is the
// target's end offset (its high watermark), read whenever a copy loop
// starts; an append is acknowledged only when replicated and fsynced on
// the target; a batch the target already holds (an append retried after a
// lost answer) is skipped by offset. So a crash of the mirror, of a source
// broker or of a target broker neither loses nor repeats a record.
//
// Topic shape follows the source: partition count (partitions added on the
// source are added to the mirror; fewer partitions on the source is
// refused, since Kafka never shrinks a topic: the source topic was deleted
// and created again), and the configs in SyncedConfigs that the source
// topic sets. A target topic that is not this source topic's mirror (it
// holds records of its own, or mirrors another source, or an earlier topic
// of the same name) is refused unless Config.Force, which deletes and
// recreates it; an empty topic is adopted. A source topic deleted while
// mirrored leaves its mirror read-only with its records, for the operator
// to promote or delete. A source that cannot be reached is retried and
// reported; nothing is written meanwhile. Records that retention deleted
// on the source before they were copied leave a gap, with a warning; a
// source that ends below what the mirror holds (it lost acknowledged
// records) stops that partition.
//
// # Consumer group offsets
//
// Committed offsets of the groups matching Config.Groups are committed on
// the target under the mirror topic's name, unchanged (offsets are the
// same on both sides), only for groups with no members on the target,
// never backwards and never past the mirror topic's end: after the first
// refresh, every SyncGroupOffsetsInterval, and once more when Run's
// context ends, after the copy loops stopped (within a few seconds), so a
// planned switch (stop the consumers, stop the mirror, promote) carries
// the groups' last commits.
//
// # What this package never does
//
// It never writes to the source, never writes to a target topic that is
// not its mirror (except with Force, by replacing it), and never moves a
// mirror topic's offsets.
//
// # A target that is not Sluice
//
// Offsets cannot be kept on a target that does not know mirror topics
// (found out from its broker configs: Sluice's include sluice.*). The
// mirror then works as MirrorMaker 2 does (translate.go): it consumes
// committed records and produces them with an idempotent producer to the
// same partition, writes offset syncs (source offset, target offset) to a
// compacted topic on the target, resumes after the last sync (at least
// once: a few records may be copied twice after a crash; a stopping
// mirror flushes and writes its last syncs, each within a few seconds),
// and translates group offsets through the syncs, never past a record not
// yet copied. Only a partition's acknowledged prefix of copied records is
// ever synced, so no sync passes a record that failed. A record the target
// refuses for good (too large for the target topic, invalid there) stops
// its partition until the mirror restarts, reported in Status; other
// failures restart the copy with a backoff. A claim record in the
// offset-sync topic, written before the mirror first copies into a
// target topic it created or adopted, marks that topic as the mirror's
// own even before its first sync. The
// translated offsets of the groups it syncs are also written, when they
// move, to the compacted checkpoint topic CheckpointTopic (named as
// MirrorMaker 2 names it, "<alias>.checkpoints.internal"; JSON records,
// not MirrorMaker 2's binary ones).
package mirror
