// Package group is the group coordinator: consumer groups of both
// protocols and their committed offsets, kept in the compacted internal
// topic __consumer_offsets in Kafka's own record formats.
//
// # What it owns
//
// The groups whose ID hashes (Kafka's abs(String.hashCode) % partitions)
// to a __consumer_offsets partition this broker leads. The broker calls
// Load when it becomes leader of such a partition and Unload when it stops;
// requests for groups of other partitions get NOT_COORDINATOR, and those of
// a partition still replaying get COORDINATOR_LOAD_IN_PROGRESS. It never
// decides leadership, never creates the topic, and reaches the log only
// through the Log interface.
//
// Files by concept:
//
//	coordinator.go  partitions, Load/Unload, lookups, append error mapping
//	timers.go       Run and Tick: one deadline heap for every timeout
//	storage.go      the records in __consumer_offsets, and replay
//	kip848_records.go  Kafka's KIP-848 record formats (kmsg has none)
//	consumer_storage.go KIP-848 group state: records written, and restored
//	classic.go      JoinGroup, SyncGroup, Heartbeat, LeaveGroup (KIP-345, KIP-394)
//	offsets.go      OffsetCommit, OffsetFetch, OffsetDelete (KIP-496), expiry (KIP-211)
//	txn_offsets.go  TxnOffsetCommit and transaction markers (KIP-98, KIP-447)
//	admin.go        DescribeGroups, ListGroups, DeleteGroups
//	consumer.go     KIP-848 ConsumerGroupHeartbeat and ConsumerGroupDescribe
//	assignor.go     KIP-848 server-side assignors: uniform and range
//
// # What it guarantees
//
// Every change Kafka persists is appended and durable (Log.Append returned)
// before it is answered: a leader's SyncGroup (the generation's
// assignment), a static member replacing its old member ID, offset
// commits, OffsetDelete, DeleteGroups and offset expiry. A group that
// becomes empty is stored in the background, as Kafka does, with nobody
// waiting. Appends of one group are serialized (group.wmu) so the log's
// order is the order changes were applied in, and a replay rebuilds the
// same groups and offsets: the last record per key wins, so compaction
// does not change the result.
//
// Offsets committed in a transaction (TxnOffsetCommit) are durable when
// answered, invisible to OffsetFetch until the producer's COMMIT marker is
// applied, and rebuilt by a replay: pending while no marker follows them,
// committed or dropped by the marker that does.
//
// Records (see storage.go): OffsetCommitKey v1 / OffsetCommitValue v3 and
// GroupMetadataKey v2 / GroupMetadataValue v3; a nil value is a tombstone.
// KIP-848 groups use Kafka's consumer-group records, keys 3 to 8 (group
// epoch, subscribed topics, member subscriptions, target assignment and
// its epoch, current member assignments), written as their state changes
// and answered once durable; a replay rebuilds members, epochs and
// assignments, so members keep heartbeating across a failover. A
// malformed KIP-848 record is logged and skipped. Replay also reads
// Kafka's other versions and skips key versions it does not know.
//
// # Where it differs from Kafka
//
//   - Config.MaxMetadataBytes (Sluice's own limit): a JoinGroup whose
//     protocol metadata exceeds it gets INVALID_REQUEST and the member is
//     not added; a leader's SyncGroup with an oversized assignment gets
//     INVALID_REQUEST, the leader is removed and the others rebalance.
//   - OffsetCommit v2-v4's retention time is ignored: offsets expire by
//     offsets.retention.minutes (KIP-211 semantics).
//   - Transactional offset commits are written as a transactional batch
//     with no sequence (BaseSequence -1) and stay pending until the
//     broker, after writing the producer's marker to __consumer_offsets,
//     calls CompleteTxn (a replay applies the markers it reads). The
//     broker verifies the transaction with the transaction coordinator
//     before writing (KIP-890); Kafka's VerificationGuard lives in the
//     log's producer state, Sluice's in the coordinator
//     (StartTxnVerification, TxnEnding: see txn_offsets.go).
//   - KIP-848 records: ConsumerGroupPartitionMetadata is written with
//     empty rack lists, and the tagged MetadataHash, AssignmentTimestamp
//     and AssignmentEpochs fields are not written (they are skipped when
//     read). Sessions and revocation timeouts restart at load.
//   - OffsetCommit checks topics against Config.Topics when it is set
//     (UNKNOWN_TOPIC_OR_PARTITION), as Kafka's broker does.
//
// # Concurrency
//
// Lock order: group.wmu, then group.mu, then Coordinator.mu, then
// partition.mu; timers.mu after group.mu. Nothing takes a group lock while
// holding Coordinator.mu or partition.mu. A handler holds group.mu only
// for in-memory work: JoinGroup and SyncGroup wait on channels with their
// ctx, and appends run with group.wmu held and group.mu released (so a
// transaction marker, which takes group.wmu, is applied after a
// TxnOffsetCommit still being written). Time is read at the edges
// (Config.Now for persisted wall-clock time, Config.Mono for timeouts) and
// passed into the state machine; timeouts fire in Tick, which Run calls
// as deadlines come and tests call after advancing a fake Config.Mono.
// There is no package-level mutable state.
package group
