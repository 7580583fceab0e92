package test

// The ACL matrix with two real principals (issue 12, item 4): scram256 and
// scram512 log in with SASL/SCRAM over SASL_SSL; admin, a super user,
// creates the ACLs with kadm. For each API family one principal is allowed
// and the other denied, with Kafka's error codes.

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func TestACLMatrixSASL(t *testing.T) {
	t.Parallel()
	const alice, bob = "User:" + sec256, "User:" + sec512
	s := startSecured(t, map[string]string{
		"authorizer.class.name": "acl",
		// The PLAINTEXT listener is the brokers' own (inter-broker) and
		// the harness's setup path.
		"super.users": "User:" + secAdmin + ";User:ANONYMOUS",
	})
	for _, topic := range []string{"orders", "shared", "logs-app"} {
		s.createSecTopic(t, topic)
	}
	ctx := testContext(t, 30*time.Second)
	admin := kadm.NewClient(newClient(t, s.saslSSL, s.admin...))
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow(alice).AllowHosts().Topics("orders").Operations(kadm.OpWrite, kadm.OpRead),
		kadm.NewACLs().Allow(alice).AllowHosts().Groups("billing").Operations(kadm.OpRead),
		kadm.NewACLs().Allow(alice).AllowHosts().TransactionalIDs("orders-tx").Operations(kadm.OpWrite),
		kadm.NewACLs().Allow(alice).AllowHosts().Clusters().Operations(kadm.OpCreate, kadm.OpDescribe),
		kadm.NewACLs().Allow(alice).AllowHosts().Topics("logs-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead),
		// Everyone may read "shared", except bob: deny overrides allow.
		kadm.NewACLs().Allow("User:*").AllowHosts().Topics("shared").Operations(kadm.OpRead),
		kadm.NewACLs().Deny(bob).DenyHosts().Topics("shared").Operations(kadm.OpRead),
	} {
		res, err := admin.CreateACLs(ctx, b)
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			t.Fatalf("create ACLs: %v", err)
		}
	}
	login := func(user, pass string, sha512 bool, opts ...kgo.Opt) *kgo.Client {
		m := scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
		if sha512 {
			m = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
		}
		return newClient(t, s.saslSSL, append([]kgo.Opt{kgo.DialTLSConfig(s.clientTLS(t, false)), kgo.SASL(m),
			kgo.RecordRetries(1), kgo.UnknownTopicRetries(0)}, opts...)...)
	}
	as := map[string]*kgo.Client{alice: login(sec256, sec256Pass, false), bob: login(sec512, sec512Pass, true)}

	type check struct {
		name string
		run  func(cl *kgo.Client) error
		// want is the error per principal; nil is success.
		want map[string]*kerr.Error
	}
	deniedBob := func(e *kerr.Error) map[string]*kerr.Error { return map[string]*kerr.Error{alice: nil, bob: e} }
	checks := []check{
		{"produce", func(cl *kgo.Client) error {
			return cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("o")}).FirstErr()
		}, deniedBob(kerr.TopicAuthorizationFailed)},
		{"fetch (deny overrides allow)", func(cl *kgo.Client) error {
			return fetchOne(ctx, cl, "shared")
		}, deniedBob(kerr.TopicAuthorizationFailed)},
		{"fetch (prefixed)", func(cl *kgo.Client) error {
			return fetchOne(ctx, cl, "logs-app")
		}, deniedBob(kerr.TopicAuthorizationFailed)},
		{"list offsets", func(cl *kgo.Client) error {
			offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, "orders")
			if err == nil {
				err = offs.Error()
			}
			return err
		}, deniedBob(kerr.TopicAuthorizationFailed)},
		{"create topic", func(cl *kgo.Client) error {
			name := "new-" + time.Now().Format("150405.000000000")
			resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, name)
			if err == nil {
				err = resp.Err
			}
			return err
		}, deniedBob(kerr.TopicAuthorizationFailed)},
		{"find coordinator / join group", func(cl *kgo.Client) error {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKeys = []string{"billing"}
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			return kerr.ErrorForCode(resp.Coordinators[0].ErrorCode)
		}, deniedBob(kerr.GroupAuthorizationFailed)},
		{"init transactional producer", func(cl *kgo.Client) error {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr("orders-tx"), 10000
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			return kerr.ErrorForCode(resp.ErrorCode)
		}, deniedBob(kerr.TransactionalIDAuthorizationFailed)},
		{"idempotent producer id (KIP-679: WRITE on any topic)", func(cl *kgo.Client) error {
			resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			return kerr.ErrorForCode(resp.ErrorCode)
		}, deniedBob(kerr.ClusterAuthorizationFailed)},
		{"describe cluster operations", func(cl *kgo.Client) error {
			req := kmsg.NewPtrListPartitionReassignmentsRequest()
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			return kerr.ErrorForCode(resp.ErrorCode)
		}, deniedBob(kerr.ClusterAuthorizationFailed)},
		{"describe ACLs", func(cl *kgo.Client) error {
			_, err := describeACLs(ctx, kadm.NewClient(cl), allACLs())
			return err
		}, deniedBob(kerr.ClusterAuthorizationFailed)},
		{"create ACLs (ALTER on the cluster)", func(cl *kgo.Client) error {
			res, err := kadm.NewClient(cl).CreateACLs(ctx, kadm.NewACLs().Allow(bob).AllowHosts().Topics("orders").Operations(kadm.OpRead))
			if err == nil && len(res) > 0 {
				err = res[0].Err
			}
			return err
		}, map[string]*kerr.Error{alice: kerr.ClusterAuthorizationFailed, bob: kerr.ClusterAuthorizationFailed}},
	}
	for _, c := range checks {
		for who, want := range c.want {
			err := c.run(as[who])
			if want == nil && err != nil || want != nil && !errors.Is(err, want) {
				t.Errorf("%s as %s: %v, want %v", c.name, who, err, want)
			}
		}
	}

	// Metadata shows each principal the topics it may describe: bob's
	// DENY of READ on "shared" does not deny DESCRIBE, which the ALLOW of
	// READ for everyone implies.
	for who, want := range map[string][]string{alice: {"logs-app", "orders", "shared"}, bob: {"shared"}} {
		md, err := kadm.NewClient(as[who]).Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, n := range md.Topics.Names() {
			if !slices.Contains([]string{"__consumer_offsets", "__transaction_state"}, n) && (len(n) < 4 || n[:4] != "new-") {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, want) {
			t.Errorf("metadata as %s lists %v, want %v", who, names, want)
		}
	}

	// A consumer group end to end as alice.
	if err := as[alice].ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("o2")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons := login(sec256, sec256Pass, false, kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollFetches(ctx)
	if errs := fs.Errors(); len(errs) > 0 || fs.NumRecords() == 0 {
		t.Fatalf("alice consuming as group billing: %v, %d records", errs, fs.NumRecords())
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("alice committing for billing: %v", err)
	}
}

// fetchOne fetches partition 0 of topic from the start once and returns
// the partition's error.
func fetchOne(ctx context.Context, cl *kgo.Client, topic string) error {
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		return err
	}
	td := md.Topics[topic]
	if td.Err != nil {
		return td.Err
	}
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, td.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}
