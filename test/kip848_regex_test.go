package test

// KIP-848 regex subscriptions are resolved by the broker against every
// topic, internal ones included, as Kafka does: a franz-go consumer with
// group.protocol=consumer subscribed to ".*" is assigned __consumer_offsets
// and __transaction_state and reads them.

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestKIP848RegexAssignsInternalTopics(t *testing.T) {
	t.Parallel()
	settings := groupSettings()
	settings["transaction.state.log.num.partitions"] = "2"
	b := startBroker(t, settings)
	ctx := testContext(t, 60*time.Second)
	createTopicWith(t, b.client(), "regex-plain", 2)
	// A committed transaction creates __transaction_state.
	txn := newClient(t, b.addr, kgo.TransactionalID("regex-txn"), kgo.DefaultProduceTopic("regex-plain"))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, kgo.StringRecord("in a transaction")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	const group = "grp-848-regex"
	cl := newClient(t, b.addr, kgo.ConsumerGroup(group), kgo.ServerSideBalancer(), kgo.ConsumeRegex(), kgo.ConsumeTopics(".*"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	// The member reads every topic the broker assigned it, internal ones
	// included (the group's own state is in __consumer_offsets).
	seen := map[string]bool{}
	waitFor(t, 30*time.Second, "records from regex-plain, __consumer_offsets and __transaction_state", func() bool {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) { seen[r.Topic] = true })
		return seen["regex-plain"] && seen["__consumer_offsets"] && seen["__transaction_state"]
	})

	topics, err := b.admin().ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[[16]byte]string{}
	for _, name := range []string{"regex-plain", "__consumer_offsets", "__transaction_state"} {
		want[topics[name].ID] = name
	}
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, b.client())
	if err != nil || len(resp.Groups) != 1 || len(resp.Groups[0].Members) != 1 {
		t.Fatalf("ConsumerGroupDescribe: %v %+v", err, resp)
	}
	m := resp.Groups[0].Members[0]
	if m.SubscribedTopicRegex == nil || *m.SubscribedTopicRegex == "" {
		t.Fatalf("the member did not subscribe by regex: %+v", m)
	}
	assigned := map[string]int{}
	for _, tp := range m.Assignment.TopicPartitions {
		assigned[want[tp.TopicID]] += len(tp.Partitions)
	}
	t.Logf("regex %q assigned %v", *m.SubscribedTopicRegex, assigned)
	for name, n := range map[string]int{"regex-plain": 2, "__consumer_offsets": 4, "__transaction_state": 2} {
		if assigned[name] != n {
			t.Errorf("topic %s: %d partitions assigned, want all %d", name, assigned[name], n)
		}
	}
}

// TestKIP848RegexAssignsOnlyDescribableTopics: with ACLs, a regex
// subscription resolves only to topics the member's principal may
// DESCRIBE, as Kafka filters resolved regular expressions; a topic the
// principal is later allowed to describe joins the assignment at a later
// heartbeat, under the ACLs current then.
func TestKIP848RegexAssignsOnlyDescribableTopics(t *testing.T) {
	t.Parallel()
	settings := groupSettings()
	settings["authorizer.class.name"] = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	settings["super.users"] = anonymous
	b := startBroker(t, settings)
	ctx := testContext(t, 90*time.Second)
	for _, name := range []string{"rx-open-a", "rx-open-b", "rx-secret"} {
		b.createTopic(name, 1, nil)
	}
	topics, err := b.admin().ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[[16]byte]string{}
	for _, td := range topics {
		names[td.ID] = td.Topic
	}
	const group = "grp-848-regex-acl"
	if res, err := b.admin().CreateACLs(ctx, kadm.NewACLs().Allow(anonymous).AllowHosts().
		Topics("rx-open-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Groups(group).Clusters().Operations(kadm.OpAll)); err != nil || res[0].Err != nil {
		t.Fatalf("create ACLs: %v %v", err, res)
	}
	delete(b.cfg.Settings, "super.users")
	b.restart()

	cl := newClient(t, b.addr, kgo.ConsumerGroup(group), kgo.ServerSideBalancer(), kgo.ConsumeRegex(), kgo.ConsumeTopics("rx-.*"))
	assigned := func() map[string]bool {
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{group}
		resp, err := req.RequestWith(ctx, b.client())
		if err != nil || len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 || len(resp.Groups[0].Members) != 1 {
			return nil
		}
		got := map[string]bool{}
		for _, tp := range resp.Groups[0].Members[0].Assignment.TopicPartitions {
			got[names[tp.TopicID]] = true
		}
		return got
	}
	poll := func() {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		cl.PollFetches(pctx)
	}
	var got map[string]bool
	waitFor(t, 30*time.Second, "the regex member assigned rx-open-a and rx-open-b", func() bool {
		poll()
		got = assigned()
		return got["rx-open-a"] && got["rx-open-b"]
	})
	if got["rx-secret"] || len(got) != 2 {
		t.Fatalf("assigned %v; rx-secret may not be described by the member's principal", got)
	}

	// The principal may now describe (and read) rx-secret.
	if res, err := b.admin().CreateACLs(ctx, kadm.NewACLs().Allow(anonymous).AllowHosts().
		Topics("rx-secret").Operations(kadm.OpDescribe, kadm.OpRead)); err != nil || res[0].Err != nil {
		t.Fatalf("create ACL: %v %v", err, res)
	}
	waitFor(t, 30*time.Second, "rx-secret assigned once it may be described", func() bool {
		poll()
		got = assigned()
		return got["rx-secret"]
	})
}
