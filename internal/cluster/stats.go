package cluster

// RaftStats returns hashicorp/raft's statistics of this node's member of
// the metadata quorum (state, term, commit_index, applied_index,
// last_log_index, num_peers, ...), for metrics. Nil once closed.
func (n *Node) RaftStats() map[string]string {
	if n.rs == nil || n.rs.raft == nil {
		return nil
	}
	return n.rs.raft.Stats()
}
