// Package replica owns the partitions this broker hosts. The Manager
// reconciles local logs toward the cluster metadata image: it opens a log for
// every partition placed on this node, applies config changes, and deletes
// the logs of deleted topics. A Partition wraps one log with what serving it
// needs: the high watermark, and a notification that wakes long-polling
// fetches when records arrive.
//
// On a single node the high watermark is the log end offset. The replicated
// cluster will move it to the minimum over the ISR without changing callers.
package replica
