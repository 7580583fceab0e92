package test

// Authorization (issue 12, items 4 and 5) against a real broker over real
// sockets, with franz-go. Until clients authenticate, the connections are
// User:ANONYMOUS: the broker first runs with super.users=User:ANONYMOUS to
// create the ACLs with kadm, then restarts without it, so the ACLs also
// come back from the metadata log. The matrix then asks each API family
// for a resource the ACLs allow and one they do not, and checks Kafka's
// error codes.

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
)

const anonymous = "User:ANONYMOUS"

// aclBroker starts a broker with the StandardAuthorizer, creates acls as
// a super user, and restarts it with no super user.
func aclBroker(t *testing.T, acls *kadm.ACLBuilder, topics ...string) *broker {
	t.Helper()
	settings := map[string]string{
		"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":           anonymous,
	}
	b := startBroker(t, settings)
	for _, name := range topics {
		b.createTopic(name, 1, nil)
	}
	ctx := testContext(t, 10*time.Second)
	adm := b.admin()
	results, err := adm.CreateACLs(ctx, acls)
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Fatalf("create ACL %+v: %v", r, r.Err)
		}
	}
	b.cfg.Settings = map[string]string{"authorizer.class.name": settings["authorizer.class.name"]}
	b.restart()
	return b
}

func kerrCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return -999
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	if got != want.Code {
		t.Errorf("%s: error code %d (%v), want %s", what, got, kerr.ErrorForCode(got), want.Message)
	}
}

// TestACLMatrix: one allowed and one denied resource per API family, with
// Kafka's error codes; prefixed ACLs, deny overriding allow, Metadata
// filtering, and authorization before existence.
func TestACLMatrix(t *testing.T) {
	t.Parallel()
	acls := kadm.NewACLs().Allow(anonymous).AllowHosts().
		Topics("ok").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAll)
	b := aclBroker(t, acls, "ok", "pre-a", "pre-secret-1", "no")
	ctx := testContext(t, 30*time.Second)
	more := []*kadm.ACLBuilder{
		kadm.NewACLs().Allow(anonymous).AllowHosts().Topics("pre-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead, kadm.OpWrite),
		kadm.NewACLs().Deny(anonymous).DenyHosts().Topics("pre-secret").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite),
		kadm.NewACLs().Allow(anonymous).AllowHosts().Topics("new-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpCreate),
		kadm.NewACLs().Allow(anonymous).AllowHosts().Groups("g-ok").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead),
		kadm.NewACLs().Allow(anonymous).AllowHosts().TransactionalIDs("tx-ok").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite),
		kadm.NewACLs().Allow(anonymous).AllowHosts().Clusters().Operations(kadm.OpDescribe),
	}
	// The restarted broker refuses ALTER on the cluster: create the rest
	// through a super user again.
	b.cfg.Settings["super.users"] = anonymous
	b.restart()
	for _, a := range more {
		if res, err := b.admin().CreateACLs(ctx, a); err != nil || res[0].Err != nil {
			t.Fatalf("create ACL: %v %v", err, res)
		}
	}
	// Topic IDs, looked up while the principal may still see every topic.
	ids, err := b.admin().ListTopics(ctx, "ok", "no")
	if err != nil {
		t.Fatal(err)
	}
	okID, noID := ids["ok"].ID, ids["no"].ID
	delete(b.cfg.Settings, "super.users")
	b.restart()

	cl := b.client(kgo.RecordRetries(1), kgo.UnknownTopicRetries(0))
	adm := kadm.NewClient(cl)

	t.Run("produce", func(t *testing.T) {
		for topic, want := range map[string]*kerr.Error{
			"ok": nil, "pre-a": nil,
			"pre-secret-1": kerr.TopicAuthorizationFailed, // a longer prefixed DENY overrides the ALLOW
			"no":           kerr.TopicAuthorizationFailed,
			"no-such":      kerr.TopicAuthorizationFailed, // authorization before existence
		} {
			err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
			if want == nil && err != nil || want != nil && !errors.Is(err, want) {
				t.Errorf("produce to %s: %v, want %v", topic, err, want)
			}
		}
	})

	t.Run("fetch", func(t *testing.T) {
		// Fetch v13+ names topics by ID: an unknown ID answers
		// UNKNOWN_TOPIC_ID (nothing to authorize), a known one the
		// principal may not READ TOPIC_AUTHORIZATION_FAILED.
		unknown := [16]byte{1, 2, 3}
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
		for _, id := range [][16]byte{okID, noID, unknown} {
			rt := kmsg.NewFetchRequestTopic()
			rt.TopicID = id
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := map[[16]byte]int16{}
		for _, rt := range resp.Topics {
			got[rt.TopicID] = rt.Partitions[0].ErrorCode
		}
		wantCode(t, "fetch ok", got[okID], &kerr.Error{Code: 0})
		wantCode(t, "fetch no", got[noID], kerr.TopicAuthorizationFailed)
		wantCode(t, "fetch unknown topic ID", got[unknown], kerr.UnknownTopicID)
	})

	t.Run("delete records", func(t *testing.T) {
		// DELETE on the topic: "pre-a" allows READ and WRITE only.
		var offsets kadm.Offsets
		for _, topic := range []string{"ok", "pre-a"} {
			offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: -1})
		}
		resp, err := adm.DeleteRecords(ctx, offsets)
		if err != nil {
			t.Fatal(err)
		}
		for topic, want := range map[string]*kerr.Error{"ok": nil, "pre-a": kerr.TopicAuthorizationFailed} {
			r, ok := resp.Lookup(topic, 0)
			if !ok || want == nil && r.Err != nil || want != nil && !errors.Is(r.Err, want) {
				t.Errorf("delete records of %s: %+v, want %v", topic, r, want)
			}
		}
	})

	t.Run("metadata filtering", func(t *testing.T) {
		md, err := adm.Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names := md.Topics.Names()
		slices.Sort(names)
		if want := []string{"ok", "pre-a", "pre-secret-1"}; !slices.Equal(names, want) {
			t.Errorf("all-topics metadata lists %v, want %v", names, want)
		}
		req := kmsg.NewPtrMetadataRequest()
		for _, name := range []string{"ok", "no", "no-such"} {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
		req.IncludeClusterAuthorizedOperations, req.IncludeTopicAuthorizedOperations = true, true
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]kmsg.MetadataResponseTopic{}
		for _, rt := range resp.Topics {
			got[*rt.Topic] = rt
		}
		wantCode(t, "metadata ok", got["ok"].ErrorCode, &kerr.Error{Code: 0})
		wantCode(t, "metadata no", got["no"].ErrorCode, kerr.TopicAuthorizationFailed)
		wantCode(t, "metadata no-such (no auto-create without CREATE)", got["no-such"].ErrorCode, kerr.TopicAuthorizationFailed)
		if ops := got["ok"].AuthorizedOperations; ops != 0b1101_1111_1000 {
			t.Errorf("topic ok authorized operations %b, want every topic operation", ops)
		}
		dc := kmsg.NewPtrDescribeClusterRequest()
		dc.IncludeClusterAuthorizedOperations = true
		dcr, err := dc.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if dcr.ClusterAuthorizedOperations != 1<<8 {
			t.Errorf("cluster authorized operations %b, want DESCRIBE only", dcr.ClusterAuthorizedOperations)
		}
	})

	t.Run("create and delete topics", func(t *testing.T) {
		created, err := adm.CreateTopics(ctx, 1, 1, nil, "new-1", "other")
		if err != nil {
			t.Fatal(err)
		}
		if err := created["new-1"].Err; err != nil {
			t.Errorf("create new-1 (CREATE on prefix new-): %v", err)
		}
		if n := len(created["new-1"].Configs); n != 0 {
			t.Errorf("create new-1 answered %d configs without DESCRIBE_CONFIGS on it", n)
		}

		wantCode(t, "create other", kerrCode(created["other"].Err), kerr.TopicAuthorizationFailed)
		deleted, err := adm.DeleteTopics(ctx, "no", "ok")
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, "delete no", kerrCode(deleted["no"].Err), kerr.TopicAuthorizationFailed)
		if err := deleted["ok"].Err; err != nil {
			t.Errorf("delete ok (ALL): %v", err)
		}
		b.createTopicAs(t, cl, "ok")
	})

	t.Run("configs", func(t *testing.T) {
		req := kmsg.NewPtrDescribeConfigsRequest()
		for _, name := range []string{"ok", "no"} {
			r := kmsg.NewDescribeConfigsRequestResource()
			r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, name
			req.Resources = append(req.Resources, r)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int16{}
		for _, r := range resp.Resources {
			got[r.ResourceName] = r.ErrorCode
		}
		wantCode(t, "describe configs of ok", got["ok"], &kerr.Error{Code: 0})
		wantCode(t, "describe configs of no", got["no"], kerr.TopicAuthorizationFailed)
		_, err = adm.DescribeBrokerConfigs(ctx, 1)
		wantCode(t, "describe broker configs", kerrCode(err), kerr.ClusterAuthorizationFailed)
	})

	t.Run("groups", func(t *testing.T) {
		for group, want := range map[string]*kerr.Error{"g-ok": {Code: 0}, "g-no": kerr.GroupAuthorizationFailed} {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKeys = []string{group}
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			wantCode(t, "find coordinator "+group, resp.Coordinators[0].ErrorCode, want)
		}
		// A consumer group on g-ok reads and commits; committing for
		// topic "no" is refused.
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "ok", Value: []byte("for-group")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		cons := b.client(kgo.ConsumerGroup("g-ok"), kgo.ConsumeTopics("ok"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		fs := cons.PollFetches(ctx)
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("consume as g-ok: %v", errs)
		}
		if fs.NumRecords() == 0 {
			t.Fatal("consume as g-ok: no records")
		}
		if err := cons.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit as g-ok: %v", err)
		}
		commit := func(group string) map[string]int16 {
			req := kmsg.NewPtrOffsetCommitRequest()
			req.Group, req.Generation = group, -1
			for _, topic := range []string{"ok", "no"} {
				rt := kmsg.NewOffsetCommitRequestTopic()
				rt.Topic = topic
				rp := kmsg.NewOffsetCommitRequestTopicPartition()
				rp.Offset = 1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
			}
			resp, err := req.RequestWith(ctx, cl)
			out := map[string]int16{}
			if err != nil {
				out["error"] = kerrCode(err)
				return out
			}
			for _, rt := range resp.Topics {
				out[rt.Topic] = rt.Partitions[0].ErrorCode
			}
			return out
		}
		cons.Close() // leave the group: a commit from outside it is then accepted
		got := commit("g-ok")
		wantCode(t, "commit for topic no", got["no"], kerr.TopicAuthorizationFailed)
		wantCode(t, "commit for topic ok", got["ok"], &kerr.Error{Code: 0})
		wantCode(t, "commit as g-no", commit("g-no")["error"], kerr.GroupAuthorizationFailed)

		listed, err := adm.ListGroups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if groups := listed.Groups(); !slices.Equal(groups, []string{"g-ok"}) {
			t.Errorf("listed groups %v, want [g-ok]", groups)
		}
	})

	t.Run("transactions", func(t *testing.T) {
		for id, want := range map[string]*kerr.Error{"tx-ok": {Code: 0}, "tx-no": kerr.TransactionalIDAuthorizationFailed} {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionalID = kmsg.StringPtr(id)
			req.TransactionTimeoutMillis = 10000
			resp, err := req.RequestWith(ctx, cl)
			code := kerrCode(err) // FindCoordinator refuses tx-no first
			if err == nil {
				code = resp.ErrorCode
			}
			wantCode(t, "init producer id "+id, code, want)
		}
		txn := b.client(kgo.TransactionalID("tx-ok"), kgo.DefaultProduceTopic("ok"))
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := txn.ProduceSync(ctx, kgo.StringRecord("in-txn")).FirstErr(); err != nil {
			t.Fatalf("transactional produce as tx-ok: %v", err)
		}
		if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit tx-ok: %v", err)
		}
	})

	t.Run("cluster", func(t *testing.T) {
		_, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"ok": {0: {}}})
		wantCode(t, "elect leaders", kerrCode(err), kerr.ClusterAuthorizationFailed)
		ldr, err := cl.Broker(1).Request(ctx, kmsg.NewPtrDescribeLogDirsRequest())
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, "describe log dirs (DESCRIBE on the cluster)", ldr.(*kmsg.DescribeLogDirsResponse).ErrorCode, &kerr.Error{Code: 0})
		ar := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		art := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		art.Topic = "ok"
		arp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		arp.Replicas = []int32{1}
		art.Partitions = append(art.Partitions, arp)
		ar.Topics = append(ar.Topics, art)
		arr, err := ar.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, "alter partition assignments", arr.ErrorCode, kerr.ClusterAuthorizationFailed)
		res, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow(anonymous).AllowHosts().Topics("x").Operations(kadm.OpRead))
		if err == nil && len(res) > 0 {
			err = res[0].Err
		}
		wantCode(t, "create ACLs", kerrCode(err), kerr.ClusterAuthorizationFailed)
		described, err := describeACLs(ctx, adm, allACLs())
		if err != nil {
			t.Fatalf("describe ACLs (DESCRIBE on the cluster): %v", err)
		}
		if n := len(described); n != 8 {
			t.Errorf("described %d ACLs, want 8", n)
		}
	})
}

// createTopicAs creates a topic through cl and fails the test on an error.
func (b *broker) createTopicAs(t *testing.T, cl *kgo.Client, name string) {
	t.Helper()
	createTopicWith(t, cl, name, 1)
}

// TestACLAdminRoundTrip: kadm CreateACLs, DescribeACLs with each filter
// kind, DeleteACLs answering what it removed; and SECURITY_DISABLED
// without an authorizer.
func TestACLAdminRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 20*time.Second)
	off := startBroker(t, nil)
	_, err := describeACLs(ctx, off.admin(), allACLs())
	wantCode(t, "describe ACLs without an authorizer", kerrCode(err), kerr.SecurityDisabled)

	b := startBroker(t, map[string]string{"authorizer.class.name": "acl", "super.users": anonymous})
	adm := b.admin()
	created, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().
		Topics("orders").Groups("billing").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead, kadm.OpDescribe))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range created {
		if c.Err != nil {
			t.Fatalf("create %+v: %v", c, c.Err)
		}
	}
	pre, err := adm.CreateACLs(ctx, kadm.NewACLs().Deny("User:bob").DenyHosts("10.0.0.1").Topics("logs-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite))
	if err != nil || pre[0].Err != nil {
		t.Fatalf("create prefixed deny: %v %v", err, pre)
	}
	bad, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("alice").AllowHosts().Topics("t").Operations(kadm.OpRead))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "create ACL with a principal without a type", kerrCode(bad[0].Err), kerr.InvalidRequest)

	d, err := describeACLs(ctx, adm, kadm.NewACLs().Allow().AllowHosts().Deny().DenyHosts().Topics("logs-app").ResourcePatternType(kadm.ACLPatternMatch).Operations(kadm.OpAny))
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 1 || d[0].Principal != "User:bob" || d[0].Host != "10.0.0.1" || d[0].Pattern != kadm.ACLPatternPrefixed || d[0].Permission != kmsg.ACLPermissionTypeDeny {
		t.Errorf("MATCH logs-app described %+v", d)
	}
	all, err := describeACLs(ctx, adm, allACLs())
	if err != nil || len(all) != 5 {
		t.Fatalf("describe all: %v, %d ACLs (want 5)", err, len(all))
	}
	deleted, err := adm.DeleteACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpRead))
	if err != nil || len(deleted) != 1 || deleted[0].Err != nil {
		t.Fatalf("delete: %v %+v", err, deleted)
	}
	var gone []string
	for _, d := range deleted[0].Deleted {
		gone = append(gone, d.Name)
	}
	slices.Sort(gone)
	if !slices.Equal(gone, []string{"billing", "orders"}) {
		t.Errorf("deleted ACLs on %v, want billing and orders", gone)
	}
	b.restart()
	all, err = describeACLs(ctx, b.admin(), allACLs())
	if err != nil || len(all) != 3 {
		t.Fatalf("after restart: %v, %d ACLs (want 3)", err, len(all))
	}
}

// TestInternalTopicsBelongToTheBroker: no client creates __consumer_offsets
// (or a colliding name) before any group exists, nor produces to it or
// deletes it; groups then work (issue 12, item 5). No authorizer: this
// holds regardless.
func TestInternalTopicsBelongToTheBroker(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	ctx := testContext(t, 20*time.Second)
	adm := b.admin()
	for _, name := range []string{"__consumer_offsets", "__consumer.offsets", "__transaction_state", "__transaction.state"} {
		resp, err := adm.CreateTopics(ctx, 1, 1, nil, name)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, "create "+name, kerrCode(resp[name].Err), kerr.InvalidTopicException)
	}
	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Topics) != 0 {
		t.Fatalf("topics after refused creations: %v", md.Topics.Names())
	}

	b.createTopic("events", 1, nil)
	cl := b.client()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "events", Value: []byte("e1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons := b.client(kgo.ConsumerGroup("g"), kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollFetches(ctx)
	if errs := fs.Errors(); len(errs) > 0 || fs.NumRecords() != 1 {
		t.Fatalf("consume in a group: %v, %d records", errs, fs.NumRecords())
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	committed, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := committed.Lookup("events", 0); !ok || o.At != 1 {
		t.Fatalf("committed offset %+v, want 1", o)
	}

	// The broker made __consumer_offsets with its own settings; clients may
	// neither write to it, nor delete it, nor add partitions.
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Value: []byte("x")}).FirstErr()
	wantCode(t, "produce to __consumer_offsets", kerrCode(err), kerr.InvalidTopicException)
	del, err := adm.DeleteTopics(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "delete __consumer_offsets", kerrCode(del["__consumer_offsets"].Err), kerr.TopicAuthorizationFailed)
	parts, err := adm.CreatePartitions(ctx, 1, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "add partitions to __consumer_offsets", kerrCode(parts["__consumer_offsets"].Err), kerr.InvalidRequest)
	cfgs, err := adm.DescribeTopicConfigs(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := cfgs.On("__consumer_offsets", nil); err != nil || configValue(v, "cleanup.policy") != "compact" {
		t.Fatalf("__consumer_offsets cleanup.policy %q (%v), want compact", configValue(v, "cleanup.policy"), err)
	}
}

// allACLs is a filter matching every ACL.
func allACLs() *kadm.ACLBuilder {
	return kadm.NewACLs().Allow().AllowHosts().Deny().DenyHosts().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny)
}

// describeACLs returns every ACL the builder's filters match, or the first
// error.
func describeACLs(ctx context.Context, adm *kadm.Client, b *kadm.ACLBuilder) ([]kadm.DescribedACL, error) {
	res, err := adm.DescribeACLs(ctx, b)
	if err != nil {
		return nil, err
	}
	var out []kadm.DescribedACL
	for _, r := range res {
		if r.Err != nil {
			return nil, r.Err
		}
		out = append(out, r.Described...)
	}
	return out, nil
}

func configValue(rc kadm.ResourceConfig, name string) string {
	for _, c := range rc.Configs {
		if c.Key == name && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}
