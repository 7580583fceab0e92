package node

import "context"

// logDirFailed is told when a log directory goes offline after an I/O
// error (its partitions answer KAFKA_STORAGE_ERROR until a restart). Once
// every log directory of the broker is offline, Kafka stops the broker so
// that its partitions fail over; Sluice keeps the process up (it still
// answers metadata and explains the error) but, in a cluster, hands every
// leadership it holds to an in-sync replica elsewhere with a controlled
// shutdown, so the partitions are writable again within a metadata round
// trip. A broker alone keeps answering KAFKA_STORAGE_ERROR. While another
// directory is online the replica manager reports the failed directory's
// replicas offline instead (cluster.OfflineReplicas), which moves only
// their leaderships.
func (n *Node) logDirFailed(ctx context.Context, dir string) {
	for _, d := range n.replicas.LogDirs() {
		if n.replicas.LogDirOffline(d) == nil {
			return
		}
	}
	n.logger.Error("every log directory is offline: handing this broker's leaderships to other replicas", "dir", dir)
	if ctx.Err() != nil {
		return // stopping: Shutdown hands them over itself
	}
	// The node's goroutines (watchMetadata, ...) hold wg above zero until
	// ctx ends, so this Add never races Shutdown's Wait from zero.
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.controlledShutdown(ctx)
	}()
}
