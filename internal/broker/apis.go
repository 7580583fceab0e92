package broker

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one row of the handler table.
type api struct {
	min, max int16
	handle   func(ctx context.Context, c *Client, req kmsg.Request) Reply
}

// typed adapts a handler of one request type to the table.
func typed[Req kmsg.Request, Resp kmsg.Response](f func(context.Context, *Client, Req) Resp) func(context.Context, *Client, kmsg.Request) Reply {
	return func(ctx context.Context, c *Client, r kmsg.Request) Reply {
		return Reply{Response: f(ctx, c, r.(Req))}
	}
}

// buildAPIs is the handler table: every API Sluice serves, with the
// versions it implements. ApiVersions answers from it.
func (b *Broker) buildAPIs() map[int16]api {
	return map[int16]api{
		0:  {3, 12, b.produce},
		1:  {4, 16, b.fetch},
		2:  {1, 8, typed(b.listOffsets)},
		3:  {0, 12, typed(b.metadata)},
		8:  {0, 9, typed(b.offsetCommit)},
		9:  {0, 9, typed(b.offsetFetch)},
		10: {0, 5, typed(b.findCoordinator)},
		11: {0, 9, typed(b.joinGroup)},
		12: {0, 4, typed(b.heartbeat)},
		13: {0, 5, typed(b.leaveGroup)},
		14: {0, 5, typed(b.syncGroup)},
		15: {0, 5, typed(b.describeGroups)},
		16: {0, 5, typed(b.listGroups)},
		17: {0, 1, typed(b.saslHandshake)},
		18: {0, 4, typed(b.apiVersions)},
		19: {2, 7, typed(b.createTopics)},
		20: {1, 6, typed(b.deleteTopics)},
		21: {0, 2, b.deleteRecords},
		22: {0, 5, typed(b.initProducerID)},
		23: {2, 4, typed(b.offsetForLeaderEpoch)},
		24: {0, 5, typed(b.addPartitionsToTxn)},
		25: {0, 4, typed(b.addOffsetsToTxn)},
		26: {0, 5, typed(b.endTxn)},
		27: {0, 1, typed(b.writeTxnMarkers)},
		28: {0, 5, typed(b.txnOffsetCommit)},
		29: {0, 3, typed(b.describeAcls)},
		30: {0, 3, typed(b.createAcls)},
		31: {0, 3, typed(b.deleteAcls)},
		32: {1, 4, typed(b.describeConfigs)},
		33: {0, 2, typed(b.alterConfigs)},
		34: {0, 2, typed(b.alterReplicaLogDirs)},
		35: {0, 4, typed(b.describeLogDirs)},
		36: {0, 2, typed(b.saslAuthenticate)},
		37: {0, 3, typed(b.createPartitions)},
		42: {0, 2, typed(b.deleteGroups)},
		43: {0, 2, typed(b.electLeaders)},
		44: {0, 1, typed(b.incrementalAlterConfigs)},
		45: {0, 1, typed(b.alterPartitionReassignments)},
		46: {0, 0, typed(b.listPartitionReassignments)},
		47: {0, 0, typed(b.offsetDelete)},
		48: {0, 1, typed(b.describeClientQuotas)},
		49: {0, 1, typed(b.alterClientQuotas)},
		50: {0, 0, typed(b.describeUserScramCredentials)},
		51: {0, 0, typed(b.alterUserScramCredentials)},
		55: {0, 2, typed(b.describeQuorum)},
		60: {0, 1, typed(b.describeCluster)},
		61: {0, 0, typed(b.describeProducers)},
		64: {0, 0, typed(b.unregisterBroker)},
		65: {0, 0, typed(b.describeTransactions)},
		66: {0, 2, typed(b.listTransactions)},
		68: {0, 1, typed(b.consumerGroupHeartbeat)},
		69: {0, 1, typed(b.consumerGroupDescribe)},
		80: {0, 1, typed(b.addRaftVoter)},
		81: {0, 0, typed(b.removeRaftVoter)},
	}
}

// Supports reports whether key is implemented at version.
func (b *Broker) Supports(key, version int16) bool {
	a, ok := b.apis[key]
	return ok && version >= a.min && version <= a.max
}

// Handle serves one request. The server calls it only for supported
// versions, except ApiVersions, which answers any version (KIP-511).
func (b *Broker) Handle(ctx context.Context, c *Client, req kmsg.Request) Reply {
	if img := b.cfg.Cluster.Image(); img.HasClientQuotas() {
		return b.handleWithQuotas(ctx, img, c, req) // quotas.go
	}
	return b.handle(ctx, c, req)
}

func (b *Broker) handle(ctx context.Context, c *Client, req kmsg.Request) Reply {
	a, ok := b.apis[req.Key()]
	if !ok {
		return Reply{Fatal: kerr.UnsupportedVersion}
	}
	if b.authz != nil {
		deny, next, merge := b.authorizeRequest(ctx, c, req) // authorize.go
		if deny != nil {
			return Reply{Response: deny}
		}
		reply := a.handle(ctx, c, next)
		if merge != nil && reply.Response != nil {
			merge(reply.Response)
		}
		return reply
	}
	return a.handle(ctx, c, req)
}

// apiVersions answers ApiVersions v0-v4. A version newer than Sluice knows
// is answered at v0 with UNSUPPORTED_VERSION and, as Kafka does (KIP-511),
// only ApiVersions' own versions: the client asks again at the highest of
// them and learns everything else, the finalized features included, from
// that answer (one without them would leave a client on transaction
// version 1).
func (b *Broker) apiVersions(_ context.Context, c *Client, req *kmsg.ApiVersionsRequest) *kmsg.ApiVersionsResponse {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 { // KIP-511: the client names its software
		c.SoftwareName, c.SoftwareVersion = req.ClientSoftwareName, req.ClientSoftwareVersion
	}
	if a := b.apis[18]; req.Version > a.max || req.Version < a.min {
		resp.Version = 0
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: 18, MinVersion: a.min, MaxVersion: a.max}}
		return resp
	}
	for key := int16(0); key <= kmsg.MaxKey; key++ {
		a, ok := b.apis[key]
		if !ok {
			continue
		}
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: key, MinVersion: a.min, MaxVersion: a.max})
	}
	if resp.Version >= 3 {
		// Kafka's transaction.version feature, finalized at 2 as a new
		// Kafka 4 cluster has it: clients that know transaction protocol
		// version 2 (KIP-890 part 2) use it, older ones keep version 1.
		resp.SupportedFeatures = []kmsg.ApiVersionsResponseSupportedFeature{{Name: "transaction.version", MinVersion: 0, MaxVersion: transactionVersion}}
		resp.FinalizedFeaturesEpoch = 0
		resp.FinalizedFeatures = []kmsg.ApiVersionsResponseFinalizedFeature{{Name: "transaction.version", MinVersionLevel: transactionVersion, MaxVersionLevel: transactionVersion}}
	}
	return resp
}

// transactionVersion is the transaction protocol version Sluice serves.
const transactionVersion = 2

func itoa(n int32) string { return strconv.Itoa(int(n)) }
