package cluster

// This file fixes the contract of the cluster metadata that the rest of
// Sluice codes against: keep these exported names and their documented
// behaviour; the implementation is free.

import (
	"context"
	"errors"
	"log/slog"
)

// Errors from proposals. The broker maps them to Kafka error codes.
var (
	ErrTopicExists        = errors.New("cluster: topic already exists")
	ErrUnknownTopic       = errors.New("cluster: unknown topic")
	ErrNotController      = errors.New("cluster: this node is not the controller")
	ErrInvalidPartitions  = errors.New("cluster: invalid partition count")
	ErrInvalidReplication = errors.New("cluster: invalid replication factor")
	ErrClosed             = errors.New("cluster: closed")
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
}

// Broker is a registered broker as clients see it in Metadata.
type Broker struct {
	ID   int32
	Host string
	Port int32
	Rack string
}

// Partition is one partition's placement and leadership.
type Partition struct {
	Index       int32
	Leader      int32
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
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
	Topics       map[string]*Topic
	TopicsByID   map[TopicID]*Topic
	// BrokerConfigs holds dynamic broker configs: key "" is the cluster-wide
	// default resource, otherwise the broker ID in decimal.
	BrokerConfigs map[string]map[string]string
	// NextProducerID is the first producer ID not yet reserved by any
	// broker; ProducerIDBlocks holds the first ID of each broker's latest
	// block (AllocateProducerIDs).
	NextProducerID   int64
	ProducerIDBlocks map[int32]int64
	// Index is the Raft index this image reflects.
	Index uint64
}

// CreateTopic creates a topic. Replicas holds, per partition, the broker IDs
// of its replicas, the first being the preferred leader.
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
}

// AllocateProducerIDs reserves the next Count producer IDs for a broker;
// after it applies, Image.ProducerIDBlocks[BrokerID] is the first of them.
// IDs are never handed out twice, across restarts and brokers.
type AllocateProducerIDs struct {
	BrokerID int32
	Count    int64
}

// Command is one of the command types above.
type Command interface{ isCommand() }

func (CreateTopic) isCommand()         {}
func (DeleteTopic) isCommand()         {}
func (CreatePartitions) isCommand()    {}
func (AlterConfigs) isCommand()        {}
func (RegisterBroker) isCommand()      {}
func (AllocateProducerIDs) isCommand() {}

// Node is this process's member of the metadata quorum.
type Node struct {
	node // node.go
}

// Open starts the metadata node: it opens the Raft stores in cfg.Dir,
// bootstraps a one-voter cluster on first start, waits until this node
// leads, and registers this broker. It returns once the image reflects
// everything committed before.
func Open(ctx context.Context, cfg Config) (*Node, error) { return open(ctx, cfg, nil) }

// Image returns the current metadata image. It never blocks.
func (n *Node) Image() *Image { return n.pub.image() }

// Changed returns a channel that is closed when the image next changes.
func (n *Node) Changed() <-chan struct{} { return n.pub.changed() }

// Propose commits cmd through Raft and returns after it has been applied to
// the local image, or with the command's error (ErrTopicExists, ...).
func (n *Node) Propose(ctx context.Context, cmd Command) error { return n.propose(ctx, cmd) }

// Close stops Raft and closes the stores.
func (n *Node) Close() error { return n.close() }
