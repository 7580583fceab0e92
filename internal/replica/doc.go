// Package replica owns the partitions this broker hosts. The Manager
// reconciles local logs toward the cluster metadata image: it opens a log for
// every partition placed on this node, applies config changes, deletes the
// logs of deleted topics, and gives each partition the role the image says.
//
// Replication is Kafka's. A leader appends, tracks what each follower has
// fetched (isr.go), keeps the high watermark at the smallest log end offset
// over the ISR, and proposes ISR changes to the controller (AlterPartition,
// KIP-497). A follower truncates to the leader's log with
// OffsetForLeaderEpoch (epoch.go, KIP-101/KIP-279) and then fetches; one
// fetcher per leader broker fetches every partition followed from it in one
// request (fetcher.go). With a single replica the high watermark is the log
// end offset after every append.
package replica
