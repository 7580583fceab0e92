package node

import (
	"context"

	"github.com/sluice-io/sluice/internal/cluster"
)

// watchDeletedTopics tells the group coordinator of every topic that
// leaves the metadata, or is replaced by a new topic of the same name, so
// that the groups loaded here drop their offsets of it (Kafka's
// onPartitionsDeleted). It reads each image's delta: the work is in
// proportion to the topics that changed.
func (n *Node) watchDeletedTopics(ctx context.Context) {
	n.watchImages(ctx, n.cluster.Image(), func(prev, img *cluster.Image) {
		if gone := deletedTopics(prev, img); len(gone) > 0 {
			n.groups.TopicsDeleted(ctx, gone)
		}
	})
}

// watchImages calls fn with each metadata image that replaces the last
// one it saw (first) and that last one, until ctx ends. Images published
// while fn runs are seen together, as one change.
func (n *Node) watchImages(ctx context.Context, first *cluster.Image, fn func(prev, img *cluster.Image)) {
	last := first
	for {
		// Changed before Image: an image published after this read
		// closes changed, so none is missed.
		changed := n.cluster.Changed()
		if img := n.cluster.Image(); img != last {
			fn(last, img)
			last = img
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// deletedTopics names the topics of prev that img no longer has under the
// same topic ID.
func deletedTopics(prev, img *cluster.Image) map[string]bool {
	gone := map[string]bool{}
	check := func(name string) {
		pt := prev.Topics.Value(name)
		if pt == nil {
			return
		}
		if nt := img.Topics.Value(name); nt == nil || nt.ID != pt.ID {
			gone[name] = true
		}
	}
	if changes, ok := img.ChangesSince(prev.Index); ok {
		for name := range changes.Topics {
			check(name)
		}
		return gone
	}
	for name := range prev.Topics.Keys() {
		check(name)
	}
	return gone
}
