package cluster

// PauseHeartbeats stops (true) or resumes (false) this broker's heartbeats
// to the controller, which fences it after broker.session.timeout.ms and
// unfences it once they resume: for tests of what a fenced broker does
// while it keeps running.
func (n *Node) PauseHeartbeats(paused bool) { n.pauseHeartbeats.Store(paused) }
