package test

// Authorization fixes seen by real clients (franz-go) against an
// in-process broker: KIP-679 idempotent producers under
// allow.everyone.if.no.acl.found, and KAFKA-18813's topic check in
// ConsumerGroupDescribe.

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// allowEveryoneSettings runs the StandardAuthorizer with
// allow.everyone.if.no.acl.found: a resource no ACL covers is open.
func allowEveryoneSettings() map[string]string {
	s := groupSettings()
	s["authorizer.class.name"] = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	s["allow.everyone.if.no.acl.found"] = "true"
	return s
}

func createACLs(t *testing.T, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	results, err := adm.CreateACLs(testContext(t, 10*time.Second), b)
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Fatalf("create ACL %+v: %v", r, r.Err)
		}
	}
}

// TestSecurityIdempotentProducerAllowEveryone: with
// allow.everyone.if.no.acl.found, an ACL on the cluster (for someone
// else) and topic ACLs on another topic only, an idempotent producer may
// still write a topic no ACL covers: Kafka's authorizeByResourceType
// allows WRITE on "any topic" when a topic without ACLs would be allowed.
func TestSecurityIdempotentProducerAllowEveryone(t *testing.T) {
	t.Parallel()
	b := startBroker(t, allowEveryoneSettings())
	b.createTopic("sr-free", 1, nil)
	b.createTopic("sr-secret", 1, nil)
	createACLs(t, b.admin(), kadm.NewACLs().Allow("User:ops").AllowHosts().Clusters().Operations(kadm.OpAlter).
		Topics("sr-secret").Operations(kadm.OpRead))

	ctx := testContext(t, 30*time.Second)
	prod := b.client(kgo.RecordRetries(2)) // idempotent by default
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "sr-free", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("idempotent produce to a topic without ACLs: %v", err)
	}
	resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, b.client())
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("idempotent InitProducerId: %v, code %d", err, resp.ErrorCode)
	}
}

// TestSecurityConsumerGroupDescribeHidesDeniedTopics: KAFKA-18813.
// Once the caller may not DESCRIBE a topic a KIP-848 group is assigned,
// ConsumerGroupDescribe answers that group TOPIC_AUTHORIZATION_FAILED with
// no members, states or topic names.
func TestSecurityConsumerGroupDescribeHidesDeniedTopics(t *testing.T) {
	t.Parallel()
	b := startBroker(t, allowEveryoneSettings())
	const topic, group = "sr-848-topic", "sr-848-group"
	b.createTopic(topic, 2, nil)
	cons := b.client(kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group), kgo.ServerSideBalancer())
	describe := func() kmsg.ConsumerGroupDescribeResponseGroup {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{group}
		resp, err := req.RequestWith(testContext(t, 10*time.Second), b.client())
		if err != nil || len(resp.Groups) != 1 {
			t.Fatalf("ConsumerGroupDescribe: %v %+v", err, resp)
		}
		return resp.Groups[0]
	}
	assigned := func(g kmsg.ConsumerGroupDescribeResponseGroup) bool {
		for _, m := range g.Members {
			for _, tp := range append(m.Assignment.TopicPartitions, m.TargetAssignment.TopicPartitions...) {
				if tp.Topic == topic {
					return true
				}
			}
		}
		return false
	}
	ctx := testContext(t, 30*time.Second)
	go cons.PollFetches(ctx)
	waitFor(t, 20*time.Second, "the member's assignment", func() bool { g := describe(); return g.ErrorCode == 0 && assigned(g) })

	createACLs(t, b.admin(), kadm.NewACLs().Deny("User:ANONYMOUS").DenyHosts().Topics(topic).Operations(kadm.OpDescribe))
	var g kmsg.ConsumerGroupDescribeResponseGroup
	waitFor(t, 20*time.Second, "TOPIC_AUTHORIZATION_FAILED", func() bool { g = describe(); return g.ErrorCode != 0 })
	if g.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(g.Members) != 0 || g.State != "" || g.Group != group ||
		g.ErrorMessage == nil || *g.ErrorMessage != "The described group uses topics that the client is not authorized to describe." {
		t.Fatalf("group using a denied topic described as %+v", g)
	}
}

// addInternalPartitionsToTxn adds __consumer_offsets-0 and one partition of
// topic to a new transaction of transactional ID id through
// AddPartitionsToTxn v3, as a client would, and returns the codes by topic.
func addInternalPartitionsToTxn(t *testing.T, cl *kgo.Client, id, topic string) map[string]int16 {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	var pid int64
	var epoch int16
	waitFor(t, 20*time.Second, "InitProducerId", func() bool {
		ip := kmsg.NewPtrInitProducerIDRequest()
		ip.TransactionalID = kmsg.StringPtr(id)
		ip.TransactionTimeoutMillis = 60000
		resp, err := ip.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			return false
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
		return true
	})
	codes := map[string]int16{}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version = 3
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, pid, epoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "__consumer_offsets", Partitions: []int32{0}}, {Topic: topic, Partitions: []int32{0}}}
	resp, err := add.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			codes[rt.Topic] = p.ErrorCode
		}
	}
	return codes
}

// TestSecurityAddPartitionsToTxnRefusesInternalTopics: no client may put a
// partition of an internal topic in a transaction, which would have the
// coordinator write its markers into __consumer_offsets: as Kafka, it is
// TOPIC_AUTHORIZATION_FAILED (the other partitions OPERATION_NOT_ATTEMPTED)
// with no authorizer, and with one that allows everything.
func TestSecurityAddPartitionsToTxnRefusesInternalTopics(t *testing.T) {
	t.Parallel()
	for name, settings := range map[string]map[string]string{"no authorizer": groupSettings(), "allow everyone": allowEveryoneSettings()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, settings)
			b.createTopic("txn-plain", 1, nil)
			codes := addInternalPartitionsToTxn(t, b.client(), "txn-internal", "txn-plain")
			if codes["__consumer_offsets"] != kerr.TopicAuthorizationFailed.Code || codes["txn-plain"] != kerr.OperationNotAttempted.Code {
				t.Fatalf("codes %v, want __consumer_offsets TOPIC_AUTHORIZATION_FAILED and txn-plain OPERATION_NOT_ATTEMPTED", codes)
			}
		})
	}
}

// TestSecurityClusterGrantsFollowerFetchAndDeletes: as Kafka, a principal
// with CLUSTER_ACTION fetches as a follower without READ on the topic,
// and OffsetForLeaderEpoch the same whatever replica ID it names; one
// with DELETE on the cluster deletes any topic.
func TestSecurityClusterGrantsFollowerFetchAndDeletes(t *testing.T) {
	t.Parallel()
	b := startBroker(t, allowEveryoneSettings())
	b.createTopic("rv-ff", 1, nil)
	ctx := testContext(t, 30*time.Second)
	ids, err := b.admin().ListTopics(ctx, "rv-ff")
	if err != nil {
		t.Fatal(err)
	}
	// ACLs on the topic for someone else: ANONYMOUS may not READ,
	// DESCRIBE or DELETE it.
	createACLs(t, b.admin(), kadm.NewACLs().Allow("User:other").AllowHosts().Topics("rv-ff").Operations(kadm.OpRead, kadm.OpDelete))
	createACLs(t, b.admin(), kadm.NewACLs().Allow(anonymous).AllowHosts().Clusters().Operations(kadm.OpClusterAction, kadm.OpDelete))

	fetch := kmsg.NewPtrFetchRequest()
	fetch.ReplicaID, fetch.ReplicaState.ID, fetch.ReplicaState.Epoch = 7, 7, -1
	fetch.MaxWaitMillis, fetch.MaxBytes = 10, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = "rv-ff", ids["rv-ff"].ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	fr, err := fetch.RequestWith(ctx, b.client())
	if err != nil {
		t.Fatal(err)
	}
	if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		t.Fatalf("follower fetch answered %+v", fr)
	}
	if code := fr.Topics[0].Partitions[0].ErrorCode; code == kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("follower fetch with CLUSTER_ACTION: %v", kerr.ErrorForCode(code))
	}

	for _, replica := range []int32{-1, 3} {
		oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
		oe.ReplicaID = replica
		ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
		ot.Topic = "rv-ff"
		ot.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0, LeaderEpoch: 0, CurrentLeaderEpoch: -1}}
		oe.Topics = append(oe.Topics, ot)
		// To the broker itself: the client cannot look the topic up.
		raw, err := b.client().Broker(1).Request(ctx, oe)
		if err != nil {
			t.Fatal(err)
		}
		if code := raw.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("OffsetForLeaderEpoch with CLUSTER_ACTION as replica %d: %v", replica, kerr.ErrorForCode(code))
		}
	}

	resp, err := b.admin().DeleteTopics(ctx, "rv-ff")
	if err != nil {
		t.Fatal(err)
	}
	if err := resp["rv-ff"].Err; err != nil {
		t.Fatalf("DeleteTopics with DELETE on the cluster: %v", err)
	}
}
