// Package txn is the transaction coordinator (KIP-98, KIP-360, KIP-447,
// KIP-664, KIP-890) and the source of producer IDs.
//
// The coordinator of a transactional ID is the leader of the
// __transaction_state partition the ID hashes to. It keeps every ID's
// state in memory, rebuilt at Load by replaying the partition, and writes
// one record per state transition (acks=all) before it answers or acts on
// it. The states and their records are Kafka's (state.go), so the topic
// reads the same to Kafka's tools.
//
// Files by role: state.go (states, records), coordinator.go (ownership,
// writes and their error codes), one file per request family
// (init_producer_id.go, add_partitions.go, end_txn.go, describe.go),
// markers.go (completing a prepared transaction), load.go (Load, Unload,
// replay) and timers.go (Tick: timed-out transactions, expired IDs).
//
// Guarantees: a client is answered only after its transition is durable;
// a prepared transaction's markers are written, then its completion, and
// both are retried until they succeed or the partition moves away. Time
// comes from Config.Now only; every goroutine is started under Run's
// context and waited for by Run.
//
// The package never writes to the log of a partition it does not lead,
// and producer state (sequence numbers per producer and partition) is not
// its business: it lives with the log, in internal/log.
package txn
