package cluster

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sluice-io/sluice/internal/pmap"
)

// noController is the ControllerID while no leader is known, as in Kafka's
// Metadata response.
const noController = -1

// emptyImage is the state of a cluster before its first command. Every Go
// map of an image is non-nil, and so is every topic's Configs.
func emptyImage() *Image {
	return &Image{
		ControllerID:     noController,
		Brokers:          map[int32]Broker{},
		BrokerConfigs:    map[string]map[string]string{},
		ProducerIDBlocks: map[int32]int64{},
	}
}

// imageBuilder makes the next image from an immutable previous one,
// copy-on-write: the topic maps are persistent (pmap), so a change copies
// one shard of them, and a Go map is cloned the first time it changes;
// everything that does not change (other topics, their partitions and
// configs) is shared with the previous image. Nothing reachable from prev
// is modified.
type imageBuilder struct {
	next Image
	// topics and topicsByID hold the topics as this command has them; the
	// topic maps of next are stale until build.
	topics                              *pmap.Builder[string, *Topic]
	topicsByID                          *pmap.Builder[TopicID, *Topic]
	brokersCopied, bcCopied, loadCopied bool
	// inherited: the maps marked copied above, and the owned topics, were
	// handed over by the previous builder of a batch
	// (newImageBuilderAfter), so the images built earlier in the batch
	// share them; mutated: one of them was written.
	inherited, mutated bool
	// owned are topics this builder (or an earlier one of its batch) made
	// with their own copy of Partitions: a later change of one of their
	// partitions writes in place instead of copying every partition of
	// the topic again (putPartition).
	owned map[*Topic]struct{}
	// delta records what changed, for the new image's Delta.
	delta Delta
	// result, if set, is what Apply returns instead of nil (ElectLeaders'
	// per-partition results).
	result any
	// version is the payload version of the command being applied, for
	// the apply functions whose semantics changed with it (commands.go).
	version uint8
}

// maxDeltaChain bounds how many Deltas an image links back through. The
// chain slides: once it is that long, the next image links to a copy of
// the newest maxDeltaChain/2, so a reader up to maxDeltaChain/2 images
// behind always learns what changed; one further behind may compare whole
// images.
const maxDeltaChain = 64

func newImageBuilder(prev *Image) *imageBuilder {
	b := &imageBuilder{next: *prev, topics: prev.Topics.Builder(), topicsByID: prev.TopicsByID.Builder()}
	b.delta.Prev = prev.Index
	if d := prev.Delta; d != nil {
		if d.depth+1 >= maxDeltaChain {
			d = d.newest(maxDeltaChain / 2)
		}
		b.delta.older, b.delta.depth = d, d.depth+1
	}
	return b
}

// newest returns a copy of the newest n Deltas of the chain from d, linked
// to each other and to nothing older. Images already built keep their own
// chains; the Deltas' topic sets are shared, as they never change.
func (d *Delta) newest(n int) *Delta {
	links := make([]*Delta, 0, n)
	for x := d; x != nil && len(links) < n; x = x.older {
		links = append(links, x)
	}
	var older *Delta
	for i := len(links) - 1; i >= 0; i-- {
		c := *links[i]
		c.older, c.depth = older, 0
		if older != nil {
			c.depth = older.depth + 1
		}
		older = &c
	}
	return older
}

// newImageBuilderAfter is newImageBuilder for the command after the one
// last built prev, in one batch of commands (fsm.ApplyBatch): prev is not
// published, so the Go maps last copied and the topics last owned are
// private to the batch and this builder writes into them instead of
// copying them again. (The topic maps need no such sharing: a change
// copies one shard of them.)
func newImageBuilderAfter(prev *Image, last *imageBuilder) *imageBuilder {
	b := newImageBuilder(prev)
	if last != nil {
		b.brokersCopied, b.bcCopied, b.loadCopied = last.brokersCopied, last.bcCopied, last.loadCopied
		b.owned = last.owned
		b.inherited = true
	}
	return b
}

func (b *imageBuilder) topicChanged(name string) {
	if b.delta.Topics == nil {
		b.delta.Topics = map[string]struct{}{}
	}
	b.delta.Topics[name] = struct{}{}
}

func (b *imageBuilder) topic(name string) (*Topic, bool) {
	return b.topics.Get(name)
}

func (b *imageBuilder) topicByID(id TopicID) (*Topic, bool) {
	return b.topicsByID.Get(id)
}

// topicNames returns the names of the topics as this command has them,
// sorted.
func (b *imageBuilder) topicNames() []string {
	return slices.Sorted(b.topics.Keys())
}

// putTopic adds t or replaces the topic of the same name and ID. t must be
// new (not reachable from any published image).
func (b *imageBuilder) putTopic(t *Topic) {
	old, _ := b.topic(t.Name)
	b.adjustLoad(old, t)
	b.topicChanged(t.Name)
	b.topics.Set(t.Name, t)
	b.topicsByID.Set(t.ID, t)
}

func (b *imageBuilder) deleteTopic(t *Topic) {
	b.adjustLoad(t, nil)
	b.topicChanged(t.Name)
	b.topics.Delete(t.Name)
	b.topicsByID.Delete(t.ID)
}

// own marks t, put in the image by this builder with Partitions of its
// own, as writable in place.
func (b *imageBuilder) own(t *Topic) {
	if b.owned == nil {
		b.owned = map[*Topic]struct{}{}
	}
	b.owned[t] = struct{}{}
}

// ownedTopic reports whether t's partitions may be written in place.
func (b *imageBuilder) ownedTopic(t *Topic) bool {
	_, ok := b.owned[t]
	if !ok {
		return false
	}
	cur, _ := b.topic(t.Name)
	return cur == t
}

// replicaLoad counts, per broker, the partitions it is the preferred
// leader (first replica) of and those it holds a replica of, over every
// topic of an image, so that placing a topic does not walk every
// partition of the cluster. Immutable once its image is published.
type replicaLoad struct {
	leaders, replicas map[int32]int
}

func computeLoad(topics pmap.Map[string, *Topic]) *replicaLoad {
	l := &replicaLoad{leaders: map[int32]int{}, replicas: map[int32]int{}}
	for _, t := range topics.All() {
		l.add(t, 1)
	}
	return l
}

// add counts t's partitions in (sign 1) or out (sign -1).
func (l *replicaLoad) add(t *Topic, sign int) {
	for _, p := range t.Partitions {
		l.addReplicas(p.Replicas, sign)
	}
}

// addReplicas counts one partition's replicas in or out.
func (l *replicaLoad) addReplicas(rs []int32, sign int) {
	if len(rs) == 0 {
		return
	}
	l.leaders[rs[0]] += sign
	for _, r := range rs {
		l.replicas[r] += sign
	}
}

// move counts old out and t in, touching the counts only for partitions
// whose replicas differ: a command that changes one partition's ISR or
// leader (most of them) costs a comparison per partition of its topic.
func (l *replicaLoad) move(old, t *Topic) {
	var op, np []Partition
	if old != nil {
		op = old.Partitions
	}
	if t != nil {
		np = t.Partitions
	}
	n := min(len(op), len(np))
	for i := range n {
		if !slices.Equal(op[i].Replicas, np[i].Replicas) {
			l.addReplicas(op[i].Replicas, -1)
			l.addReplicas(np[i].Replicas, 1)
		}
	}
	for _, p := range op[n:] {
		l.addReplicas(p.Replicas, -1)
	}
	for _, p := range np[n:] {
		l.addReplicas(p.Replicas, 1)
	}
}

// replicaLoad is the image's load, computed from its topics when no
// builder kept it (an image restored from a snapshot, or built by hand).
func (img *Image) replicaLoad() *replicaLoad {
	if img.load != nil {
		return img.load
	}
	return computeLoad(img.Topics)
}

// adjustLoad moves the load from old to t (either may be nil), copying
// the previous image's counts first: O(brokers) per command, where
// counting from scratch would be O(partitions). The caller has not
// changed the topic maps yet.
func (b *imageBuilder) adjustLoad(old, t *Topic) {
	b.mutated = true
	b.copyLoad()
	b.next.load.move(old, t)
}

func (b *imageBuilder) copyLoad() {
	if !b.loadCopied {
		prev := b.next.replicaLoad()
		b.next.load = &replicaLoad{leaders: maps.Clone(prev.leaders), replicas: maps.Clone(prev.replicas)}
		b.loadCopied = true
	}
}

func (b *imageBuilder) putBroker(br Broker) {
	b.copyBrokers()
	b.next.Brokers[br.ID] = br
}

// copyBrokers makes the builder's broker map its own before a change.
func (b *imageBuilder) copyBrokers() {
	b.mutated = true
	if !b.brokersCopied {
		b.next.Brokers = maps.Clone(b.next.Brokers)
		b.brokersCopied = true
	}
	b.delta.Brokers = true
}

func (b *imageBuilder) brokerConfigs(key string) map[string]string {
	return b.next.BrokerConfigs[key]
}

// setBrokerConfigs replaces one broker resource's configs; an empty map
// removes the resource. m must be new.
func (b *imageBuilder) setBrokerConfigs(key string, m map[string]string) {
	b.mutated = true
	if !b.bcCopied {
		b.next.BrokerConfigs = maps.Clone(b.next.BrokerConfigs)
		b.bcCopied = true
	}
	b.delta.BrokerConfigs = true
	if len(m) == 0 {
		delete(b.next.BrokerConfigs, key)
		return
	}
	b.next.BrokerConfigs[key] = m
}

func (b *imageBuilder) setClusterID(id string) { b.next.ClusterID = id }

func (b *imageBuilder) allocateProducerIDs(broker int32, count int64) {
	blocks := maps.Clone(b.next.ProducerIDBlocks)
	if blocks == nil {
		blocks = map[int32]int64{}
	}
	blocks[broker] = b.next.NextProducerID
	b.next.ProducerIDBlocks = blocks
	b.next.NextProducerID += count
}

// reserveProducerIDs keeps every ID up to above from being handed out:
// it raises the floor and NextProducerID, never lowers them.
func (b *imageBuilder) reserveProducerIDs(above int64) {
	if above >= b.next.ProducerIDFloor {
		b.next.ProducerIDFloor = above + 1
	}
	if b.next.NextProducerID <= above {
		b.next.NextProducerID = above + 1
	}
}

// build returns the new image; the builder must not be used afterwards.
func (b *imageBuilder) build(index uint64) *Image {
	img := b.next
	img.Topics, img.TopicsByID = b.topics.Map(), b.topicsByID.Map()
	img.Index = index
	d := b.delta
	img.Delta = &d
	return &img
}

// publisher holds the image readers see. Two writers feed it: the FSM with
// the replicated state after each apply or restore, and the leader watcher
// with the controller ID, which Raft elects and does not replicate. Each
// change publishes a new Image and closes the previous Changed channel.
type publisher struct {
	mu         sync.Mutex // serializes writers; readers never take it
	state      *Image     // guarded by mu: last image from the FSM
	controller int32      // guarded by mu

	cur atomic.Pointer[published]
}

// published pairs an image with the channel closed when it is replaced, so
// that a reader calling Changed() before Image() never misses a change.
type published struct {
	img     *Image
	changed chan struct{}
}

func newPublisher() *publisher {
	p := &publisher{state: emptyImage(), controller: noController}
	p.cur.Store(&published{img: p.state, changed: make(chan struct{})})
	return p
}

func (p *publisher) image() *Image            { return p.cur.Load().img }
func (p *publisher) changed() <-chan struct{} { return p.cur.Load().changed }

func (p *publisher) publishState(img *Image) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = img
	p.publishLocked()
}

// setController publishes a new controller ID and reports whether it
// changed.
func (p *publisher) setController(id int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.controller == id {
		return false
	}
	p.controller = id
	p.publishLocked()
	return true
}

func (p *publisher) publishLocked() {
	img := *p.state // shallow: the maps are immutable and shared
	img.ControllerID = p.controller
	old := p.cur.Swap(&published{img: &img, changed: make(chan struct{})})
	close(old.changed)
}

// appliedIndex is the Raft index of the last command the FSM applied, with
// a way to wait for it to reach an index.
type appliedIndex struct {
	mu      sync.Mutex
	index   uint64
	changed chan struct{} // closed when index grows
}

func newAppliedIndex() *appliedIndex { return &appliedIndex{changed: make(chan struct{})} }

func (a *appliedIndex) get() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.index
}

// set advances the index; it never moves back.
func (a *appliedIndex) set(i uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i > a.index {
		a.index = i
		close(a.changed)
		a.changed = make(chan struct{})
	}
}

// reset sets the index after a snapshot restore, which replaces the state.
func (a *appliedIndex) reset(i uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.index = i
	close(a.changed)
	a.changed = make(chan struct{})
}

// wait returns once the index is at least i, or when done is closed or ctx
// ends.
func (a *appliedIndex) wait(ctx context.Context, done <-chan struct{}, i uint64) error {
	for {
		a.mu.Lock()
		cur, ch := a.index, a.changed
		a.mu.Unlock()
		if cur >= i {
			return nil
		}
		select {
		case <-ch:
		case <-done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CommandLevel is the level commands are proposed at (commandLevel): the
// lowest of the registered brokers', a broker registered without one
// counting as level 1. An image with no broker is at this software's.
func (img *Image) CommandLevel() uint8 { return img.commandLevelAs(-1) }

// commandLevelAs is CommandLevel with broker id counted at this
// software's level: the level of the cluster once id registers with it.
func (img *Image) commandLevelAs(id int32) uint8 {
	level := commandLevel
	for _, b := range img.Brokers {
		if b.ID != id {
			level = min(level, max(b.Level, 1))
		}
	}
	return level
}
