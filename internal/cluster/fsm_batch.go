package cluster

import (
	"github.com/hashicorp/raft"
)

// ApplyBatch implements raft.BatchingFSM: Raft hands over the commands
// committed together (up to MaxAppendEntries, as when a restart replays
// the log, or when proposals arrive concurrently). They apply one after
// another exactly as Apply would, with the same results, but share one
// copy of the image's Go maps and of the topics they change
// (newImageBuilderAfter), and only the last image is published (a command
// that fails goes through Apply itself, on the state published just
// before it). The topic maps are persistent: each command copies only the
// shards it changes.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	start, cur := f.state, f.state
	var last *imageBuilder // the builder of cur, whose maps the next may write
	var done []*raft.Log   // commands applied since start
	flush := func() {
		if cur != f.state {
			f.state = cur
			f.pub.publishState(cur)
		}
		if n := len(done); n > 0 {
			f.applied.set(done[n-1].Index)
		}
		last, done = nil, nil
	}
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue // as Apply: nothing to apply
		}
		if f.halt.err() == nil {
			b, img, result, err := f.applyAfter(cur, l.Data, l.Index, last)
			if err == nil {
				cur, last = img, b
				done = append(done, l)
				out[i] = result
				continue
			}
			if b != nil && b.inherited && b.mutated {
				// The failed command wrote into maps the batch's images
				// share: build them again without sharing.
				cur = f.rebuild(start, done)
			}
		}
		// Anything but a command that applied goes through Apply, on the
		// state so far: it decides what the failure means (an error for
		// the proposer, an unknown command skipped or halting the node).
		flush()
		out[i] = f.Apply(l)
		start, cur = f.state, f.state
	}
	flush()
	return out
}

// applyAfter is applyCommandResult with a builder that takes over last's
// maps (nil: copies them as Apply does). It returns the builder also on
// error, so the caller can tell whether it wrote into shared maps.
func (f *fsm) applyAfter(prev *Image, data []byte, index uint64, last *imageBuilder) (*imageBuilder, *Image, any, error) {
	e, err := decodeEnvelope(data)
	if err != nil {
		return nil, nil, nil, err
	}
	fn, ok := f.apply[e.typ]
	if !ok {
		return nil, nil, nil, &unknownCommandError{typ: e.typ, version: e.version, flags: e.flags}
	}
	cmd, err := decodePayload(e)
	if err != nil {
		return nil, nil, nil, err
	}
	b := newImageBuilderAfter(prev, last)
	b.version = e.version
	if err := fn(b, cmd); err != nil {
		return b, nil, nil, err
	}
	return b, b.build(index), b.result, nil
}

// rebuild applies done to start one command at a time, each copying the
// maps it changes (as Apply does). The commands succeeded before, and
// applying is deterministic, so they succeed again.
func (f *fsm) rebuild(start *Image, done []*raft.Log) *Image {
	img := start
	for _, l := range done {
		if next, _, err := f.applyCommandResult(img, l.Data, l.Index); err == nil {
			img = next
		}
	}
	return img
}
