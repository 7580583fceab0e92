package quota

// Kafka's client quota keys (KIP-13, KIP-55, KIP-124, KIP-599, KIP-612).
const (
	ProducerByteRate       = "producer_byte_rate"
	ConsumerByteRate       = "consumer_byte_rate"
	RequestPercentage      = "request_percentage"
	ControllerMutationRate = "controller_mutation_rate"
	ConnectionCreationRate = "connection_creation_rate"
)

// Kind is what a client quota bounds.
type Kind uint8

const (
	Produce  Kind = iota // producer_byte_rate: bytes produced per second
	Fetch                // consumer_byte_rate: bytes fetched per second
	Request              // request_percentage: time the broker spends on requests, 100 = one thread
	Mutation             // controller_mutation_rate: partitions created or deleted per second (KIP-599)
	numKinds
)

// Key is the quota config key of k.
func (k Kind) Key() string {
	return [...]string{ProducerByteRate, ConsumerByteRate, RequestPercentage, ControllerMutationRate}[k]
}

// Part is one component of a quota entity: a named user or client ID, or
// the default one (Kafka's <default>, a null name on the wire).
type Part struct {
	Set     bool // the entity has this component
	Default bool // the default user or client ID; Name is empty
	Name    string
}

// Named is the Part of a given name.
func Named(name string) Part { return Part{Set: true, Name: name} }

// DefaultPart is the Part standing for every user or client ID without a
// quota of its own.
var DefaultPart = Part{Set: true, Default: true}

// Entity is what a quota is configured for: a user, a client ID, or both,
// each named or the default. (Kafka's "ip" entities are connection
// quotas, see Entity.IP.)
type Entity struct {
	User     Part
	ClientID Part
	IP       Part
}

// Lookup returns the quotas configured for exactly entity.
type Lookup func(Entity) (map[string]float64, bool)

// Resolve finds the quota of key for a client, in Kafka's order of
// precedence (the most specific entity first):
//
//	user and client ID, user and default client ID, user,
//	default user and client ID, default user and default client ID,
//	default user, client ID, default client ID.
//
// It returns the bound and the sensor key: clients that match the same
// entity share one measured rate, a user-level quota is shared by every
// client ID of the user, a default one is measured per user or client ID.
func Resolve(lookup Lookup, key, user, clientID string) (float64, SensorKey, bool) {
	u, c := Named(user), Named(clientID)
	none := Part{}
	for _, e := range [...]Entity{
		{User: u, ClientID: c}, {User: u, ClientID: DefaultPart}, {User: u},
		{User: DefaultPart, ClientID: c}, {User: DefaultPart, ClientID: DefaultPart}, {User: DefaultPart},
		{ClientID: c}, {ClientID: DefaultPart},
	} {
		q, ok := lookup(e)
		if !ok {
			continue
		}
		v, ok := q[key]
		if !ok {
			continue
		}
		sk := SensorKey{}
		if e.User != none {
			sk.User = user
		}
		if e.ClientID != none {
			sk.ClientID = clientID
		}
		return v, sk, true
	}
	return 0, SensorKey{}, false
}

// SensorKey names one measured rate: the user and client ID the matched
// quota entity distinguishes (empty when it does not).
type SensorKey struct {
	User, ClientID string
}
