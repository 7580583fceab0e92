package broker

// Metadata, versions 0-12. Topics are created on demand when the request
// allows it (v4+) and auto.create.topics.enable is set; they are committed
// through the controller before the answer, so the client sees them with
// leaders at once instead of LEADER_NOT_AVAILABLE. v10+ returns topic IDs
// and v12 accepts them in the request.
//
// With an authorizer (authorize.go), a topic the principal may not
// DESCRIBE is left out of an all-topics answer and answered
// TOPIC_AUTHORIZATION_FAILED when asked for by name, whether it exists or
// not; creating a missing topic needs CREATE on the cluster or the topic.
// Authorized operations (KIP-430) are the principal's, or every operation
// without an authorizer, as in Kafka.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/cluster"
)

const authorizedOperationsUnknown = -2147483648

func (b *Broker) metadata(ctx context.Context, c *Client, req *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	img := b.cfg.Cluster.Image()
	req.Topics = uniqueMetadataTopics(req.Topics) // limits.go
	// denied holds the topics asked for by name that the principal may
	// not describe, or may not create while missing.
	var denied map[string]bool
	if b.authz != nil {
		canCreate := b.visible(c, img.ACLs, acl.OpCreate, acl.ResourceCluster, acl.ClusterName)
		for _, rt := range req.Topics {
			if rt.Topic == nil {
				continue
			}
			name := *rt.Topic
			ok := b.allowed(ctx, c, img.ACLs, acl.OpDescribe, acl.ResourceTopic, name)
			if ok && img.Topics.Value(name) == nil && !canCreate && (req.Version < 4 || req.AllowAutoTopicCreation) &&
				b.brokerConfig(img).Bool("auto.create.topics.enable") {
				ok = b.allowed(ctx, c, img.ACLs, acl.OpCreate, acl.ResourceTopic, name)
			}
			if !ok {
				if denied == nil {
					denied = map[string]bool{}
				}
				denied[name] = true
			}
		}
	}

	// Auto-create what is missing first, so one image answers everything.
	// A name that collides with a topic ('.' against '_'), internal ones
	// included, is not created and is answered INVALID_TOPIC_EXCEPTION.
	var collides map[string]bool
	allowCreate := req.Version < 4 || req.AllowAutoTopicCreation
	if allowCreate && b.brokerConfig(img).Bool("auto.create.topics.enable") {
		var missing []string
		for _, rt := range req.Topics {
			if rt.Topic == nil || img.Topics.Value(*rt.Topic) != nil || validTopicName(*rt.Topic) != nil || denied[*rt.Topic] {
				continue
			}
			if collidesWithInternal(*rt.Topic) {
				if !isInternalTopic(*rt.Topic) { // the broker creates those on FindCoordinator
					collides = setOf(collides, *rt.Topic)
				}
				continue
			}
			missing = append(missing, *rt.Topic)
		}
		for _, name := range missing {
			if ctx.Err() != nil {
				return resp // the client left: create nothing more
			}
			if err := b.autoCreateTopic(ctx, c, name); err != nil {
				if errorCode(err) == kerr.InvalidTopicException.Code {
					collides = setOf(collides, name)
				}
				b.logger.Warn("auto-create topic", "topic", name, "err", err)
			}
		}
		if len(missing) > 0 {
			img = b.cfg.Cluster.Image()
		}
	}

	resp.ClusterID = &img.ClusterID
	resp.ControllerID = img.ControllerID
	ids := make([]int32, 0, len(img.Brokers))
	for id := range img.Brokers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		br := img.Brokers[id]
		if br.Fenced {
			continue // Kafka lists only live brokers
		}
		ep, ok := br.Endpoint(c.Listener)
		if !ok {
			continue // as in Kafka: a broker without this listener is not listed
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = br.ID, ep.Host, ep.Port
		if br.Rack != "" {
			rack := br.Rack
			mb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = b.authorizedOperations(c, img.ACLs, acl.ResourceCluster, acl.ClusterName)
	}

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		names := make([]string, 0, img.Topics.Len())
		for name := range img.Topics.All() {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if !b.visible(c, img.ACLs, acl.OpDescribe, acl.ResourceTopic, name) {
				continue
			}
			resp.Topics = append(resp.Topics, b.metadataTopic(c, img, img.Topics.Value(name), req))
		}
		return resp
	}
	for _, rt := range req.Topics {
		if rt.Topic != nil && denied[*rt.Topic] {
			mt := kmsg.NewMetadataResponseTopic()
			// Not even whether it is internal, as Kafka.
			mt.Topic, mt.ErrorCode = rt.Topic, kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		var t *cluster.Topic
		switch {
		case rt.Topic != nil:
			t = img.Topics.Value(*rt.Topic)
		case rt.TopicID != [16]byte{}:
			t = img.TopicsByID.Value(cluster.TopicID(rt.TopicID))
			if t != nil && !b.allowed(ctx, c, img.ACLs, acl.OpDescribe, acl.ResourceTopic, t.Name) {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID, mt.ErrorCode = rt.TopicID, kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		if t != nil {
			resp.Topics = append(resp.Topics, b.metadataTopic(c, img, t, req))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if rt.Topic != nil && (validTopicName(*rt.Topic) != nil || collides[*rt.Topic]) {
			mt.ErrorCode = kerr.InvalidTopicException.Code
		} else if rt.Topic == nil {
			mt.ErrorCode = kerr.UnknownTopicID.Code
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

func (b *Broker) metadataTopic(c *Client, img *cluster.Image, t *cluster.Topic, req *kmsg.MetadataRequest) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic, mt.TopicID, mt.IsInternal = &name, t.ID, isInternalTopic(t.Name)
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = b.authorizedOperations(c, img.ACLs, acl.ResourceTopic, t.Name)
	}
	lapsed := b.sessionLapsed()
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.LeaderEpoch = p.Index, p.Leader, p.LeaderEpoch
		mp.Replicas, mp.ISR = p.Replicas, p.ISR
		for _, r := range p.Replicas {
			if br, ok := img.Brokers[r]; !ok || br.Fenced {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		if p.Leader < 0 || (lapsed && p.Leader == b.cfg.NodeID) {
			// A broker whose session with the controller lapsed may
			// have been replaced as leader without knowing: it names
			// none, so that clients ask again soon, and elsewhere,
			// instead of sending it what only its successor can take.
			mp.Leader, mp.ErrorCode = -1, kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// setOf adds name to set, making the set if it is nil.
func setOf(set map[string]bool, name string) map[string]bool {
	if set == nil {
		set = map[string]bool{}
	}
	set[name] = true
	return set
}

func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}
