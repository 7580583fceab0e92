package group

import (
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is Kafka's classic group state machine. KIP-848 consumer
// groups map their own states onto names in consumer.go.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

// String is the state's name as DescribeGroups and ListGroups report it.
func (s groupState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// groupKind tells which protocol a group's members speak. An empty group
// changes kind when a member of the other protocol joins it.
type groupKind int8

const (
	kindClassic  groupKind = iota // JoinGroup/SyncGroup, client-side assignment
	kindConsumer                  // KIP-848 ConsumerGroupHeartbeat
)

type topicPartition struct {
	topic     string
	partition int32
}

// committed is one committed offset, as OffsetCommitValue holds it.
type committed struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64 // wall clock
	expireMs    int64 // from a v1 value only; -1 otherwise
	// at is the log offset of the record that holds it. When a
	// transaction commits, its offset replaces a partition's only if it
	// was written later than the one committed (Kafka's recordOffset).
	at int64
}

// group is one group and its committed offsets. Locks: wmu serializes the
// group's appends to __consumer_offsets so that the log's order is the
// order changes are applied in; it is taken before mu and never while
// holding mu. mu guards everything else; a handler never waits on a
// channel or on the log while holding it.
type group struct {
	id   string
	part int32

	wmu sync.Mutex
	mu  sync.Mutex

	kind     groupKind
	state    groupState
	unloaded bool      // the partition moved away: answer NOT_COORDINATOR
	stateAt  time.Time // wall clock of the last transition; zero if unknown

	// Classic protocol.
	protocolType string // "" until the first member joins (or a simple group)
	protocol     string // the selected protocol; "" when none
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string    // group.instance.id -> member ID (KIP-345)
	pending      map[string]time.Time // KIP-394 member IDs handed out, to their expiry
	// subscribed is the union of the consumer members' topics, nil when
	// it is unknown (not a "consumer" protocol, or metadata did not parse).
	subscribed map[string]bool

	newMemberAdded bool          // a member joined during the initial delay
	initialDelay   bool          // the join phase is group.initial.rebalance.delay.ms
	joinRemaining  time.Duration // what is left of the rebalance timeout for delay extensions
	joinDeadline   time.Time
	pendingSync    map[string]bool // members that have yet to SyncGroup this generation
	syncDeadline   time.Time

	// KIP-848 state, for kindConsumer.
	cons *consumerGroup
	// cimg is what the log holds of the KIP-848 records; cq queues the
	// records not appended yet, cqSeq counts the records ever queued and
	// cqDone those durable (consumer_storage.go).
	cimg          cgImage
	cq            []kv
	cqSeq, cqDone uint64

	offsets map[topicPartition]committed
	// txnOffsets are offsets written inside transactions not ended yet,
	// by producer ID (KIP-98): invisible to OffsetFetch until the
	// producer's COMMIT marker makes them offsets (txn_offsets.go).
	txnOffsets map[int64]map[topicPartition]committed

	// scheduled is the earliest deadline queued for this group in the
	// coordinator's timer heap; zero when none is queued.
	scheduled time.Time
	// seq numbers group-metadata snapshots as they are built; written is the
	// highest that reached the log. An older snapshot is never written after
	// a newer one.
	seq, written uint64
}

// member is a classic-protocol member.
type member struct {
	id         string
	instanceID *string
	clientID   string
	clientHost string

	protocolType string
	protocols    []protocol // in the member's order of preference
	rebalance    time.Duration
	session      time.Duration
	assignment   []byte

	isNew         bool      // has not completed a join yet
	joinedAt      time.Time // monotonic, when it first joined
	lastHeartbeat time.Time // monotonic

	// join is set while the member waits in JoinGroup, sync while it waits
	// in SyncGroup; both are buffered so that completing never blocks, and
	// a waiter that gave up (its ctx ended) still counts, as in Kafka.
	join        chan *kmsg.JoinGroupResponse
	joinVersion int16
	sync        chan syncResult
}

type protocol struct {
	name     string
	metadata []byte
}

type syncResult struct {
	code       int16
	assignment []byte
}

func newGroup(id string, part int32) *group {
	return &group{
		id:         id,
		part:       part,
		members:    make(map[string]*member),
		static:     make(map[string]string),
		pending:    make(map[string]time.Time),
		offsets:    make(map[topicPartition]committed),
		txnOffsets: make(map[int64]map[topicPartition]committed),
		subscribed: nil,
	}
}

// isEmpty reports whether the group has no members of either protocol.
func (g *group) isEmpty() bool {
	if g.kind == kindConsumer {
		return g.cons == nil || len(g.cons.members) == 0
	}
	return len(g.members) == 0
}

// stateName is the state as DescribeGroups and ListGroups report it.
func (g *group) stateName() string {
	if g.kind == kindConsumer && g.state != stateDead {
		return g.cons.stateName()
	}
	return g.state.String()
}

// typeName is the group type of ListGroups v5 (KIP-848).
func (g *group) typeName() string {
	if g.kind == kindConsumer {
		return "consumer"
	}
	return "classic"
}

func (g *group) transition(s groupState, wall time.Time) {
	g.state = s
	g.stateAt = wall
}

// sortedMembers returns the classic members ordered by member ID, so that
// responses are deterministic.
func (g *group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return ms
}

func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

func (m *member) supports(name string) bool {
	for _, p := range m.protocols {
		if p.name == name {
			return true
		}
	}
	return false
}

// matches reports whether a rejoin carries the same protocols and metadata,
// in which case Kafka answers it without a new rebalance.
func (m *member) matches(ps []kmsg.JoinGroupRequestProtocol) bool {
	if len(ps) != len(m.protocols) {
		return false
	}
	for i, p := range ps {
		if p.Name != m.protocols[i].name || string(p.Metadata) != string(m.protocols[i].metadata) {
			return false
		}
	}
	return true
}

// expiry is when the member's session runs out, and whether it can. A
// member waiting in JoinGroup is kept alive (the rebalance timeout bounds
// it) unless it is new and has waited longer than newMemberJoinTimeout; a
// member waiting in SyncGroup is bounded by the sync deadline instead.
func (m *member) expiry() (time.Time, bool) {
	switch {
	case m.join != nil:
		if m.isNew {
			return m.joinedAt.Add(newMemberJoinTimeout), true
		}
		return time.Time{}, false
	case m.sync != nil:
		return time.Time{}, false
	}
	return m.lastHeartbeat.Add(m.session), true
}

func toProtocols(ps []kmsg.JoinGroupRequestProtocol) []protocol {
	out := make([]protocol, len(ps))
	for i, p := range ps {
		out[i] = protocol{name: p.Name, metadata: slices.Clone(p.Metadata)}
	}
	return out
}

// nextDeadline is the earliest instant at which a timer of the group must
// fire. The caller holds g.mu.
func (g *group) nextDeadline() (time.Time, bool) {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if g.unloaded || g.state == stateDead {
		return next, false
	}
	for _, t := range g.pending {
		consider(t)
	}
	for _, m := range g.members {
		if t, ok := m.expiry(); ok {
			consider(t)
		}
	}
	if g.state == statePreparingRebalance {
		consider(g.joinDeadline)
	}
	if len(g.pendingSync) > 0 && (g.state == stateCompletingRebalance || g.state == stateStable) {
		consider(g.syncDeadline)
	}
	if g.cons != nil {
		g.cons.deadlines(consider)
	}
	return next, !next.IsZero()
}
