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
