package broker

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/quota"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/txn"
)

// Client is what the broker knows about the connection a request came on.
type Client struct {
	// ID is the client.id from the latest request header.
	ID string
	// Addr is the remote address.
	Addr string
	// Host is the client's IP address, as ACLs match it.
	Host string
	// Listener is the name of the listener the connection came in on
	// (PLAINTEXT when only --listen is given).
	Listener string
	// Principal is who the connection authenticated as, "User:alice";
	// "User:ANONYMOUS" on a listener that authenticates nobody.
	Principal string
	// SoftwareName and SoftwareVersion are what the client said it is in
	// its latest ApiVersions v3+ (KIP-511: "apache-kafka-java", "3.9.0");
	// empty for older clients.
	SoftwareName, SoftwareVersion string
}

// Anonymous is the principal of a connection that did not authenticate.
const Anonymous = "User:ANONYMOUS"

// Reply is a handler's answer. Exactly one of its fields matters:
// Response is sent as it is; Wait, when set, is called off the connection's
// read loop, in request order, and its result is sent; Fatal closes the
// connection. A Reply with all fields zero sends nothing (Produce acks=0).
type Reply struct {
	Response kmsg.Response
	Wait     func(ctx context.Context) kmsg.Response
	Fatal    error
	// Release, when set, is called once the response has been encoded
	// (or will never be): the handler may then reuse memory it references.
	Release func()
	// Holds is about how many bytes of memory the reply holds until
	// Release (a fetch's read buffers). The server reads no more requests
	// of a connection while the replies it has not written yet hold more
	// than a bound, so a client that does not read its answers cannot pile
	// them up.
	Holds int64
	// Throttle, when positive, is how long the connection must not be
	// read after this request: the client went over a quota (quotas.go).
	Throttle time.Duration
	// Sent, when set, is told how long encoding and writing the response
	// took, which request_percentage quotas count (quotas.go).
	Sent func(time.Duration)
}

// Config wires a broker to the rest of the node.
type Config struct {
	NodeID int32
	// Static is the broker config from flags; dynamic values from the
	// cluster metadata are layered on per request.
	Static    *config.Broker
	Cluster   *cluster.Node
	Replicas  *replica.Manager
	Producers *txn.ProducerIDs
	Groups    *group.Coordinator
	Txns      *txn.Coordinator
	Logger    *slog.Logger
	// PeerOpts are the kgo options of connections to other brokers: the
	// inter-broker listener's TLS and SASL.
	PeerOpts []kgo.Opt
	// Now is the wall clock; nil is time.Now.
	Now func() time.Time
	// Audit receives authorization denials; nil makes one on Logger.
	Audit *auth.Audit
	// Decompression is the budget produced batches decompress on
	// (sluice.decompression.max.bytes, decompression.go); nil is none.
	Decompression *quota.Budget
	// SchemaIDs are the registered schema IDs that topics with broker-side
	// schema validation accept (schema_validation.go); nil checks only
	// the framing.
	SchemaIDs SchemaIDs
}

// Broker serves Kafka requests.
type Broker struct {
	cfg    Config
	logger *slog.Logger
	apis   map[int16]api
	codecs *record.Codecs
	// readBufs holds fetch read chunks (fetch.go).
	readBufs chunkPool
	// configs caches the effective configs of the latest image.
	configs atomic.Pointer[imageConfigs]
	// alterSem serializes this broker's config changes, each a read of
	// the current values, a check of the result and a commit (configs.go):
	// a one-slot semaphore, so a change waiting for it gives up when its
	// request does.
	alterSem chan struct{}
	// peers are the clients to other brokers (markers, verification).
	peers peers
	// sessions caches fetch sessions (KIP-227, fetch_session.go).
	sessions fetchSessions
	// authz is nil without authorizer.class.name (authorize.go).
	authz *authz
	// quotas measures clients against client quotas (quotas.go).
	quotas quotas
	// waiting counts the requests in purgatory (purgatory.go).
	waiting purgatory
}

// New returns a broker serving requests with cfg's collaborators.
func New(cfg Config) *Broker {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Broker{cfg: cfg, logger: cfg.Logger, codecs: record.NewCodecs(), peers: peers{nodeID: cfg.NodeID, opts: cfg.PeerOpts},
		alterSem: make(chan struct{}, 1)}
	b.apis = b.buildAPIs()
	if cfg.Audit == nil {
		cfg.Audit = auth.NewAudit(cfg.Logger.With("component", "audit"), 0)
	}
	b.authz = newAuthz(cfg.Static, cfg.Audit)
	num, window := int64(11), int64(1)
	if cfg.Static != nil {
		num, window = cfg.Static.Int64("quota.window.num"), cfg.Static.Int64("quota.window.size.seconds")
	}
	b.quotas.m = quota.NewManager(int(num), time.Duration(window)*time.Second)
	cnum, cwindow := int64(11), int64(1)
	if cfg.Static != nil {
		cnum, cwindow = cfg.Static.Int64("controller.quota.window.num"), cfg.Static.Int64("controller.quota.window.size.seconds")
	}
	b.quotas.mutations = quota.NewMutations(int(cnum), time.Duration(cwindow)*time.Second)
	return b
}

// Close closes the broker's connections to other brokers. Call it once
// no request is being handled.
func (b *Broker) Close() { b.peers.close() }

// brokerConfig is the effective broker config for an image.
func (b *Broker) brokerConfig(img *cluster.Image) *config.Broker {
	return b.configsFor(img).broker
}

// EffectiveConfig layers the dynamic broker configs of img over static.
func EffectiveConfig(static *config.Broker, img *cluster.Image, nodeID int32) *config.Broker {
	return static.WithDynamic(img.BrokerConfigs[""], img.BrokerConfigs[itoa(nodeID)])
}
