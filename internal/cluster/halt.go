package cluster

import (
	"context"
	"errors"
	"sync"
)

// ErrHalted is the error of a node whose metadata log holds a command it
// does not understand and may not skip (no ignore-if-unknown flag): a newer
// node proposed it during a rolling upgrade, or the log is damaged. The
// node applies nothing after it, never snapshots past it, and reports it
// through Halted and Err so that its owner stops the process; after an
// upgrade the node replays the command from its log.
var ErrHalted = errors.New("cluster: metadata state machine halted")

// halt records the first fatal apply error and closes done once.
type halt struct {
	mu    sync.Mutex
	cause error
	done  chan struct{}
}

func newHalt() *halt { return &halt{done: make(chan struct{})} }

func (h *halt) set(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cause == nil {
		h.cause = err
		close(h.done)
	}
}

func (h *halt) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cause
}

// Halted returns a channel closed when the metadata state machine stops on
// a command it cannot apply (ErrHalted); Err then says why. The node's
// image no longer follows the cluster: its owner must stop it.
func (n *Node) Halted() <-chan struct{} { return n.fsm.halt.done }

// Err returns the error that halted the metadata state machine, wrapping
// ErrHalted, or nil.
func (n *Node) Err() error { return n.fsm.halt.err() }

// joinUnlessHalted is join, given up with the halt error as soon as the
// replay of the log reaches a command this node cannot apply (catching up
// would otherwise wait for an index it never reaches).
func (n *node) joinUnlessHalted(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-n.fsm.halt.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := n.join(ctx)
	if herr := n.fsm.halt.err(); herr != nil {
		return herr
	}
	return err
}
