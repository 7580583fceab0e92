// Package txn will hold the transaction coordinator; today it hands out
// producer IDs for idempotent producers. Producer state (sequence numbers per
// producer and partition) is storage state and lives with the log, in
// internal/log.
package txn
