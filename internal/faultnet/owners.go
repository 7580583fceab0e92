package faultnet

import (
	"maps"
	"net"
	"slices"
	"sync"
)

// Owners labels connections by the process that opened them, for
// WithSource: a test registers each process it starts under a label (a
// node ID), and Source gives a connection the label of its owner, or ""
// for a process not registered (such as the test's own clients).
type Owners struct {
	mu     sync.Mutex
	labels map[int]string
}

// Set registers pid under label, replacing the process that had it
// (a restarted node).
func (o *Owners) Set(pid int, label string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.labels == nil {
		o.labels = map[int]string{}
	}
	maps.DeleteFunc(o.labels, func(_ int, l string) bool { return l == label })
	o.labels[pid] = label
}

// Source is a SourceFunc.
func (o *Owners) Source(c net.Conn) string {
	o.mu.Lock()
	pids := slices.Collect(maps.Keys(o.labels))
	o.mu.Unlock()
	pid, ok := SocketOwner(c, pids)
	if !ok {
		return ""
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.labels[pid]
}
