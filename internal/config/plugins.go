package config

// Values of authorizer.class.name that turn authorization on. Kafka's
// class names are accepted so that a Kafka server.properties works as it is.
const (
	AuthorizerStandard = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	AuthorizerACL      = "kafka.security.authorizer.AclAuthorizer"
	AuthorizerShort    = "acl"
)

// AuthorizerEnabled reports whether authorizer.class.name names an
// authorizer.
func (b *Broker) AuthorizerEnabled() bool { return b.String("authorizer.class.name") != "" }

// Values of replica.selector.class that let consumers read from the
// follower in their rack (KIP-392).
const (
	ReplicaSelectorRackAware = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
	ReplicaSelectorShort     = "rack"
)

// RackAwareReads reports whether replica.selector.class sends consumers
// to a follower in their rack.
func (b *Broker) RackAwareReads() bool { return b.String("replica.selector.class") != "" }
