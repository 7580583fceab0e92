package cluster

// This file fixes the contract of the cluster metadata that the rest of
// Sluice codes against: keep these exported names and their documented
// behaviour; the implementation is free.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/pmap"
)

// Errors from proposals. The broker maps them to Kafka error codes.
var (
	ErrTopicExists        = errors.New("cluster: topic already exists")
	ErrUnknownTopic       = errors.New("cluster: unknown topic")
	ErrNotController      = errors.New("cluster: this node is not the controller")
	ErrInvalidPartitions  = errors.New("cluster: invalid partition count")
	ErrInvalidReplication = errors.New("cluster: invalid replication factor")
	ErrClosed             = errors.New("cluster: closed")
	// AlterPartition refusals, as Kafka's AlterPartition errors.
	ErrFencedLeaderEpoch    = errors.New("cluster: stale leader epoch")             // FENCED_LEADER_EPOCH
	ErrInvalidUpdateVersion = errors.New("cluster: stale partition epoch")          // INVALID_UPDATE_VERSION
	ErrIneligibleReplica    = errors.New("cluster: replica cannot join the ISR")    // INELIGIBLE_REPLICA
	ErrUnknownPartition     = errors.New("cluster: unknown partition")              // UNKNOWN_TOPIC_OR_PARTITION
	ErrNoReassignment       = errors.New("cluster: no reassignment in progress")    // NO_REASSIGNMENT_IN_PROGRESS
	ErrNotEligibleLeader    = errors.New("cluster: preferred leader not available") // PREFERRED_LEADER_NOT_AVAILABLE
	ErrElectionNotNeeded    = errors.New("cluster: leader already preferred")       // ELECTION_NOT_NEEDED
	// ErrNoLiveReplica refuses a new partition none of whose replicas is
	// live (Kafka's INVALID_REPLICA_ASSIGNMENT for a create).
	ErrNoLiveReplica = errors.New("cluster: no live replica")
	// ErrStaleBrokerEpoch refuses a heartbeat or an unfencing of a broker
	// that has registered again since (Kafka's STALE_BROKER_EPOCH).
	ErrStaleBrokerEpoch = errors.New("cluster: stale broker epoch")
)

// TopicID is a topic's UUID (KIP-516).
type TopicID [16]byte

// Config configures a metadata node.
type Config struct {
	NodeID int32
	// Dir holds the Raft log, stable store and snapshots.
	Dir string
	// Host, Port and Rack are what this broker advertises to clients.
	Host   string
	Port   int32
	Rack   string
	Logger *slog.Logger
	// Endpoints are all the listeners this broker advertises; Host and
	// Port are the inter-broker one's.
	Endpoints []Endpoint

	// Voters are the metadata quorum's voters (--controller-voters). Empty
	// means a one-voter cluster of this node alone, which needs no network
	// (the laptop default). When set, RaftAddr is required: this node's
	// Raft and control-RPC address, bound and advertised. A node listed in
	// Voters bootstraps with exactly that voter set on first start; a node
	// not listed joins the running cluster as a non-voter through any
	// reachable voter.
	Voters   []Voter
	RaftAddr string
	// ServerTLS and ClientTLS, when set, put the Raft and control
	// connections under mutual TLS: ServerTLS (which should require and
	// verify client certificates) serves accepted connections, ClientTLS
	// (presenting this node's certificate) dials peers; a dial without a
	// ServerName checks the certificate against the host dialled.
	ServerTLS *tls.Config
	ClientTLS *tls.Config
	// SessionTimeout is broker.session.timeout.ms: a broker whose heartbeats
	// stop for this long is fenced. HeartbeatInterval is
	// broker.heartbeat.interval.ms. Zero means Kafka's defaults (9s, 2s).
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	// LeaderImbalanceCheck is leader.imbalance.check.interval.seconds; zero
	// disables automatic preferred-leader rebalancing.
	LeaderImbalanceCheck time.Duration
	// NewLogDirs is set when a log directory carries no mark of an earlier
	// start of this broker (it was wiped or replaced): its partitions'
	// data may be gone, so the broker does not rejoin its ISRs
	// (RegisterBroker.Rejoin) and catches up like any new replica.
	NewLogDirs bool
	// LostLogs is set when no log directory carries the mark: the broker
	// holds no data of any partition. A broker the cluster knows registers
	// so (RegisterBroker.LostLogs), and the partitions whose only in-sync
	// replica it was stay without a leader, for an unclean election to
	// settle, instead of being led by its empty replica.
	LostLogs bool
	// UncleanLeaderElection is this broker's static
	// unclean.leader.election.enable: the default below a topic's own
	// setting and the cluster-wide dynamic one. Elections the metadata
	// log decides read only replicated settings; the controller applies
	// this one by proposing unclean elections (electUnclean).
	UncleanLeaderElection bool
}

// Voter is one member of the metadata quorum.
type Voter struct {
	ID   int32
	Addr string // host:port of its RaftAddr
}

// Broker is a registered broker as clients see it in Metadata.
type Broker struct {
	ID   int32
	Host string
	Port int32
	Rack string
	// Fenced brokers are registered but not alive (no heartbeat within the
	// session timeout, or not yet unfenced after start). They lead nothing,
	// are left out of ISRs, and Metadata does not list them; except that a
	// broker rejoining after it stopped without a controlled shutdown keeps
	// its ISR places and leaderships until its first heartbeat
	// (RegisterBroker.Rejoin).
	Fenced bool
	// ShuttingDown is set by ControlledShutdown: the broker leads nothing
	// and joins no ISR until it registers again.
	ShuttingDown bool
	// Endpoints are the broker's advertised listeners; Host and Port are
	// the inter-broker listener's. Empty for a broker registered before
	// named listeners existed (its one listener is Host:Port, PLAINTEXT).
	Endpoints []Endpoint
	// Epoch tells one start of the broker from another (Kafka's broker
	// epoch, and its incarnation ID): each start of a broker registers
	// with a new random one. Its heartbeats carry it, and the controller
	// counts only those of the epoch registered last, so the heartbeats
	// of a process that has since restarted unfence nothing; an
	// AlterPartition names the epochs of its ISR (KIP-903). Zero for a
	// broker registered before Sluice kept epochs: nothing is checked
	// against it.
	Epoch int64
	// Level is the newest metadata command versions the broker's software
	// applies (commandLevel); zero, for a broker registered before levels,
	// is level 1. Commands are written at the lowest level of the
	// registered brokers, so that one not yet upgraded in a rolling upgrade
	// can apply every command, as Kafka's metadata.version waits for every
	// broker to support a level before it is used.
	Level uint8
}

// Endpoint is one advertised listener of a broker. Its JSON form is part
// of the metadata log's RegisterBroker payload.
type Endpoint struct {
	Name     string `json:"name"`
	Host     string `json:"host"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
}

// Endpoint returns the broker's endpoint of the named listener. A broker
// without endpoints has only Host:Port, which stands for every listener.
func (b Broker) Endpoint(listener string) (Endpoint, bool) {
	if len(b.Endpoints) == 0 {
		return Endpoint{Name: listener, Host: b.Host, Port: b.Port}, true
	}
	for _, e := range b.Endpoints {
		if e.Name == listener {
			return e, true
		}
	}
	return Endpoint{}, false
}

// Partition is one partition's placement and leadership.
type Partition struct {
	Index       int32
	Leader      int32
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
	// PartitionEpoch increases with every change of this partition's
	// leader, ISR or replicas (Kafka's partition epoch); AlterPartition is
	// refused unless it names the current one.
	PartitionEpoch int32
	// During a reassignment Replicas is the union of the old and the target
	// replicas; AddingReplicas are target replicas not yet in the old set and
	// RemovingReplicas old ones not in the target. Both empty otherwise.
	AddingReplicas   []int32
	RemovingReplicas []int32
	// OfflineReplicas are replicas reported offline (OfflineReplicas,
	// KIP-112) whose broker has not registered again since: they lead
	// nothing, not even by unclean election, and do not rejoin the ISR.
	// A replica leaves the list when its broker registers (a new start,
	// which reports its directory again if it is still offline) or a
	// reassignment removes it.
	OfflineReplicas []int32
}

// Topic is a topic as the metadata image knows it. Configs holds only the
// values set on the topic; defaults are resolved by internal/config.
type Topic struct {
	Name       string
	ID         TopicID
	Partitions []Partition
	Configs    map[string]string
}

// Image is an immutable view of the cluster metadata at one applied Raft
// index. Callers must not modify anything reachable from it.
type Image struct {
	ClusterID    string
	ControllerID int32
	Brokers      map[int32]Broker
	// Topics and TopicsByID are persistent maps: the next image shares
	// all but what its command changed, so applying a command costs in
	// proportion to what it changes, not to the number of topics.
	Topics     pmap.Map[string, *Topic]
	TopicsByID pmap.Map[TopicID, *Topic]
	// BrokerConfigs holds dynamic broker configs: key "" is the cluster-wide
	// default resource, otherwise the broker ID in decimal.
	BrokerConfigs map[string]map[string]string
	// NextProducerID is the first producer ID not yet reserved by any
	// broker; ProducerIDBlocks holds the first ID of each broker's latest
	// block (AllocateProducerIDs).
	NextProducerID   int64
	ProducerIDBlocks map[int32]int64
	// ProducerIDFloor is one past the largest producer ID reserved by
	// ReserveProducerIDs: no ID below it is handed out, even from a block
	// reserved before it.
	ProducerIDFloor int64
	// ACLs are the cluster's ACLs (CreateAcls, DeleteAcls); nil is none.
	ACLs *acl.Set
	// scram holds SCRAM credentials (scram.go); nil is none.
	scram *scramCredentials
	// quotas holds client quotas (quotas.go); nil is none.
	quotas *clientQuotas
	// Index is the Raft index this image reflects.
	Index uint64
	// Delta is what changed from the image the FSM built this one from
	// (see ChangesSince); nil when unknown, as after a snapshot restore.
	Delta *Delta
	// load counts replicas per broker for placement (image.go); nil
	// until a builder computes it.
	load *replicaLoad
}

// Delta is what one metadata command changed in the image, so that
// readers can apply changes instead of walking every topic. It tracks what
// partitions depend on: topics, brokers and broker configs (not the
// cluster ID, producer IDs or the controller).
type Delta struct {
	// Prev is the Index of the image this one was built from.
	Prev uint64
	// Topics names every topic created, deleted or changed (partitions,
	// configs), by name.
	Topics map[string]struct{}
	// Brokers is set when a broker registered or changed (endpoint,
	// fencing, shutting down).
	Brokers bool
	// BrokerConfigs is set when a dynamic broker config changed.
	BrokerConfigs bool

	older *Delta // the Delta of the image at Prev; a bounded chain
	depth int
}

// Changes is what changed between two images: the union of their Deltas.
type Changes struct {
	Topics        map[string]struct{}
	Brokers       bool
	BrokerConfigs bool
}

// ChangesSince returns what changed from the image at index to img. It
// reports false when that is not known (index is not an earlier image of
// img's history, or too far back): the reader then compares the whole
// image. An image with the same Index (only the controller changed) has
// no changes.
func (img *Image) ChangesSince(index uint64) (Changes, bool) {
	var c Changes
	if index == img.Index {
		return c, true
	}
	for d := img.Delta; d != nil; d = d.older {
		for name := range d.Topics {
			if c.Topics == nil {
				c.Topics = make(map[string]struct{}, len(d.Topics))
			}
			c.Topics[name] = struct{}{}
		}
		c.Brokers = c.Brokers || d.Brokers
		c.BrokerConfigs = c.BrokerConfigs || d.BrokerConfigs
		switch {
		case d.Prev == index:
			return c, true
		case d.Prev < index:
			return Changes{}, false
		}
	}
	return Changes{}, false
}

// CreateTopic creates a topic. Replicas holds, per partition, the broker IDs
// of its replicas, the first being the preferred leader. A new partition's
// ISR is its live replicas (registered, unfenced, not shutting down) and
// the first of them leads; a partition with none is refused
// (ErrIneligibleReplica), as Kafka refuses it. CreatePartitions likewise.
type CreateTopic struct {
	Name     string
	ID       TopicID
	Replicas [][]int32
	Configs  map[string]string
}

// DeleteTopic deletes a topic by ID.
type DeleteTopic struct {
	ID TopicID
}

// CreatePartitions appends partitions to a topic.
type CreatePartitions struct {
	ID       TopicID
	Replicas [][]int32 // one entry per new partition
	// From, when set, is the partition count the new partitions follow:
	// the command is refused (ErrInvalidPartitions) if the topic has
	// another count by the time it applies, so that two requests that
	// read the same count, or one proposal retried after it committed,
	// do not both add partitions. Zero checks nothing (version 2).
	From int32
}

// AlterConfigs changes configs of a topic (ResourceType 2) or a broker
// (ResourceType 4, Name "" for the cluster default). A nil value deletes the
// key. With Replace set the given map replaces all existing values.
type AlterConfigs struct {
	ResourceType int8
	Name         string
	Set          map[string]*string
	Replace      bool
}

// RegisterBroker registers or updates a broker's endpoint.
type RegisterBroker struct {
	Broker Broker
	// Rejoin is set by a broker registering (Fenced) as it starts again.
	// If the image still shows it live, it stopped without a controlled
	// shutdown: it keeps its ISR places and its leaderships, with their
	// leader epochs bumped, until its first heartbeat unfences it or the
	// controller fences it for silence (election.go).
	Rejoin bool
	// LostLogs is set by a broker registering (Fenced) with none of its
	// log directories' data (Config.LostLogs). Where it is the only ISR
	// member of a partition with other replicas, it leaves the ISR, which
	// is then empty: no clean election names it, and an unclean one (if
	// allowed, or asked for) picks a live replica, which may hold what
	// this broker lost. Version 3 of RegisterBroker; never with Rejoin.
	LostLogs bool
}

// AllocateProducerIDs reserves the next Count producer IDs for a broker;
// after it applies, Image.ProducerIDBlocks[BrokerID] is the first of them.
// IDs are never handed out twice, across restarts and brokers.
type AllocateProducerIDs struct {
	BrokerID int32
	Count    int64
}

// ReserveProducerIDs keeps producer IDs up to Above from ever being handed
// out: a mirror topic holds batches with another cluster's producer IDs,
// and a producer here given one of them would collide with that state.
// It raises NextProducerID and Image.ProducerIDFloor to at least Above+1;
// it never lowers either. A broker whose block's next ID is below the
// floor drops the rest of the block and reserves a new one.
type ReserveProducerIDs struct {
	Above int64
}

// MaxReservableProducerID is the largest ID ReserveProducerIDs reserves;
// above it the command changes nothing. Blocks are handed out only while
// NextProducerID is at most 1<<62, so IDs far above it (a source that
// picks producer IDs at random over the whole int64 range) are never
// handed out here, and reserving them would exhaust the ID space.
const MaxReservableProducerID = 1 << 62

// AlterPartition is sent by a partition's leader to change its ISR (Kafka's
// AlterPartition). It applies only if LeaderEpoch and PartitionEpoch are the
// partition's current ones (else ErrFencedLeaderEpoch /
// ErrInvalidUpdateVersion), and every ISR member is an unfenced replica not
// shutting down (else ErrIneligibleReplica). It bumps PartitionEpoch, and
// completes a reassignment whose target replicas are all in the new ISR.
type AlterPartition struct {
	Topic          TopicID
	Partition      int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
	// BrokerEpochs, when set, holds the broker epoch (Broker.Epoch) of
	// each ISR member, in ISR order, as the leader knows it: the epoch of
	// the follower's fetches (KIP-903), zero where not known. The change
	// is refused (ErrIneligibleReplica) if a member's broker has
	// registered again since, or if a member the ISR gains has no epoch
	// given while its broker has one: a broker that restarted may have
	// lost what it fetched before. Empty means a leader that sends no
	// epochs, and nothing is checked.
	BrokerEpochs []int64
}

// CreateTopics creates many topics in one metadata command (one Raft
// entry), as Kafka's controller commits the topics of one CreateTopics
// request together. Each topic is created or refused on its own, exactly
// as CreateTopic would be: Propose returns nil when every topic was
// created, else an *ItemErrors with one entry per topic. A zero ID is
// replaced by a new one.
type CreateTopics struct {
	Topics []CreateTopic
}

// AlterPartitions is many AlterPartition changes in one metadata command,
// as Kafka's AlterPartition request carries every partition a leader
// wants to change: each applies or is refused on its own, exactly as an
// AlterPartition would be. Propose returns nil when every change applied,
// else an *ItemErrors with one entry per change.
type AlterPartitions struct {
	Items []AlterPartition
}

// ItemErrors is what Propose returns for a command of many items
// (CreateTopics, AlterPartitions) when some failed: Errs[i] is item i's
// error (ErrTopicExists, ErrFencedLeaderEpoch, ...), nil for one that
// applied.
type ItemErrors struct {
	Errs []error
}

func (e *ItemErrors) Error() string {
	failed, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	return fmt.Sprintf("cluster: %d of %d items failed, the first: %v", failed, len(e.Errs), first)
}

// ItemErrorsOf returns, for the error of a command of n items, each
// item's error: all nil when err is nil, err itself for every item when
// it is not an *ItemErrors (the command as a whole failed).
func ItemErrorsOf(err error, n int) []error {
	out := make([]error, n)
	var ie *ItemErrors
	switch {
	case err == nil:
	case errors.As(err, &ie) && len(ie.Errs) == n:
		copy(out, ie.Errs)
	default:
		for i := range out {
			out[i] = err
		}
	}
	return out
}

// TopicPartitionID names a partition by topic ID.
type TopicPartitionID struct {
	Topic     TopicID
	Partition int32
}

// ElectLeaders runs a leader election for each partition (Kafka's
// ElectLeaders): Preferred moves leadership to the first replica when it is
// alive and in the ISR; Unclean picks any live replica when the ISR has
// none. Results holds one entry per partition after apply (nil = elected).
type ElectLeaders struct {
	Partitions []TopicPartitionID
	Unclean    bool
}

// Reassign starts (Target non-nil) or cancels (Target nil) a reassignment
// of one partition to the Target replicas, the first being the preferred
// leader. The controller completes it once every target replica is in the
// ISR.
type Reassign struct {
	Topic     TopicID
	Partition int32
	Target    []int32
}

// Command is one of the command types above.
type Command interface{ isCommand() }

func (CreateTopic) isCommand()         {}
func (DeleteTopic) isCommand()         {}
func (CreatePartitions) isCommand()    {}
func (AlterConfigs) isCommand()        {}
func (RegisterBroker) isCommand()      {}
func (AllocateProducerIDs) isCommand() {}
func (ReserveProducerIDs) isCommand()  {}
func (AlterPartition) isCommand()      {}
func (ElectLeaders) isCommand()        {}
func (Reassign) isCommand()            {}
func (CreateTopics) isCommand()        {}
func (AlterPartitions) isCommand()     {}

// Node is this process's member of the metadata quorum.
type Node struct {
	node // node.go
}

// BrokerEpoch is this start's Broker.Epoch: what its heartbeats carry, and
// its follower fetches, so that leaders name it in AlterPartition
// (KIP-903). Zero until the broker has registered.
func (n *Node) BrokerEpoch() int64 { return n.epoch.Load() }

// Open starts the metadata node: it opens the Raft stores in cfg.Dir and
// bootstraps on first start (a one-voter cluster without cfg.Voters, else
// the voter set, on a voter). Without Voters it waits until this node
// leads; with Voters a non-voter asks a voter to be added, and every node
// waits until it has caught up with the leader's committed log. It then
// registers this broker (with Voters: fenced, and waits for its first
// heartbeat to unfence it, KIP-631). It returns once the image reflects
// everything committed before.
func Open(ctx context.Context, cfg Config) (*Node, error) { return open(ctx, cfg, nil) }

// Image returns the current metadata image. It never blocks.
func (n *Node) Image() *Image { return n.pub.image() }

// Changed returns a channel that is closed when the image next changes.
func (n *Node) Changed() <-chan struct{} { return n.pub.changed() }

// Propose commits cmd through Raft and returns after it has been applied to
// the local image, or with the command's error (ErrTopicExists, ...). On a
// node that is not the controller it is forwarded to the controller,
// across leader changes, until ctx ends.
func (n *Node) Propose(ctx context.Context, cmd Command) error { return n.propose(ctx, cmd) }

// Sync waits until the local image holds everything the controller had
// applied when Sync was called: a read barrier for decisions that must not
// rest on a lagging view of the metadata.
func (n *Node) Sync(ctx context.Context) error { return n.sync(ctx) }

// ID is this node's broker ID.
func (n *Node) ID() int32 { return n.cfg.NodeID }

// ElectLeaders proposes an election and returns, per partition, nil or why
// it was not elected (ErrElectionNotNeeded, ErrNotEligibleLeader,
// ErrUnknownPartition).
func (n *Node) ElectLeaders(ctx context.Context, cmd ElectLeaders) (map[TopicPartitionID]error, error) {
	return n.electLeaders(ctx, cmd)
}

// ControlledShutdown moves leadership of every partition this broker leads
// to another ISR member and takes this broker out of every ISR, then
// returns; the broker may then stop without a leaderless window. It gives
// up when ctx ends.
func (n *Node) ControlledShutdown(ctx context.Context) error { return n.controlledShutdown(ctx) }

// SessionExpiry is when this broker's session with the controller may
// end unless another heartbeat gets through: the sending time of its last
// heartbeat a controller recorded, and confirmed through Raft that it
// still led after it arrived, plus broker.session.timeout.ms. A controller
// counts a session from a heartbeat's arrival, and a new controller from
// its last contact with the old one, which came after that confirmation:
// no controller can have fenced this broker, and moved its leaderships,
// before then (a controller cut off from the other voters, still leading
// for a Raft lease, confirms nothing, its own heartbeats included); after
// then the image may name this broker leader of partitions that others
// lead (it is cut off from the controller, or was frozen). The zero time
// means no heartbeat was recorded yet. bounded is false in a one-voter
// cluster, where a broker has no session to lose.
func (n *Node) SessionExpiry() (expiry time.Time, bounded bool) { return n.sessionExpiry() }

// Quorum describes the metadata quorum: voters and non-voters with their
// Raft addresses, and the leader.
func (n *Node) Quorum() QuorumInfo { return n.quorum() }

// QuorumInfo is what Quorum returns.
type QuorumInfo struct {
	Leader    int32
	Voters    []Voter
	NonVoters []Voter
}

// Close stops Raft and closes the stores.
func (n *Node) Close() error { return n.close() }
