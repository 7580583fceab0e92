package test

// KIP-848 groups as franz-go sees them: a static member that leaves with
// epoch -2 is at epoch -2 until its instance returns, and OffsetCommit v9+
// to a group that does not exist is GROUP_ID_NOT_FOUND, as in Kafka.

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// A franz-go consumer with group.protocol=consumer and an instance ID
// leaves with epoch -2 when closed. ConsumerGroupDescribe then reports
// epoch -2, and the epoch it left at is STALE_MEMBER_EPOCH to OffsetCommit
// and OffsetFetch (Kafka's ConsumerGroup.validateOffsetCommit and
// validateOffsetFetch). The instance, restarted, gets its partitions back.
func TestGroupsStaticKIP848MemberAwayIsAtEpochMinusTwo(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	const topic, group = "rv-848-static", "grp-rv-848-static"
	b.createTopic(topic, 4, nil)
	prod := b.client()
	for p := range int32(4) {
		r := &kgo.Record{Topic: topic, Partition: p, Value: []byte("v")}
		if err := prod.ProduceSync(testContext(t, 10*time.Second), r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	consume := func() (*kgo.Client, string, int32) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
			kgo.ServerSideBalancer(), kgo.InstanceID("inst-1"), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatalf("new client: %v", err)
		}
		got := 0
		ctx := testContext(t, 30*time.Second)
		for got < 4 {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("consumed %d of 4 records: %v", got, err)
			}
			got += fs.NumRecords()
		}
		id, epoch := cl.GroupMetadata()
		return cl, id, epoch
	}
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

	cl, id, epoch := consume()
	if err := cl.CommitUncommittedOffsets(testContext(t, 10*time.Second)); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cl.Close() // a static member leaves with epoch -2
	g := describe()
	if len(g.Members) != 1 || g.Members[0].MemberID != id || g.Members[0].MemberEpoch != -2 {
		t.Fatalf("ConsumerGroupDescribe after the static member left: %+v; want %s at epoch -2", g.Members, id)
	}

	admin := b.client()
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.MemberID, commit.Generation = group, id, epoch
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = topic
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset = 0, 0
	ct.Partitions = []kmsg.OffsetCommitRequestTopicPartition{cp}
	commit.Topics = []kmsg.OffsetCommitRequestTopic{ct}
	cresp, err := commit.RequestWith(testContext(t, 10*time.Second), admin)
	if err != nil {
		t.Fatalf("OffsetCommit: %v", err)
	}
	if code := cresp.Topics[0].Partitions[0].ErrorCode; code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("OffsetCommit at the epoch the member left at: %v, want STALE_MEMBER_EPOCH", kerr.ErrorForCode(code))
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, MemberID: new(id), MemberEpoch: epoch}}
	fresp, err := fetch.RequestWith(testContext(t, 10*time.Second), admin)
	if err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	if code := fresp.Groups[0].ErrorCode; code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("OffsetFetch at the epoch the member left at: %v, want STALE_MEMBER_EPOCH", kerr.ErrorForCode(code))
	}

	// The instance comes back as a new client: it takes over the member
	// and consumes from the committed offsets (nothing is left to read).
	cl2, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
		kgo.ServerSideBalancer(), kgo.InstanceID("inst-1"), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	defer cl2.Close()
	waitFor(t, 30*time.Second, "the restarted instance to own all four partitions", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if n := cl2.PollFetches(ctx).NumRecords(); n != 0 {
			t.Fatalf("the restarted instance read %d records past the committed offsets", n)
		}
		g := describe()
		if len(g.Members) != 1 || g.Members[0].MemberEpoch < 1 {
			return false
		}
		n := 0
		for _, tp := range g.Members[0].Assignment.TopicPartitions {
			n += len(tp.Partitions)
		}
		return n == 4
	})
}

// OffsetMetadataManager.validateOffsetCommit: from OffsetCommit v9 a
// member's commit to a group that does not exist is GROUP_ID_NOT_FOUND;
// older versions keep ILLEGAL_GENERATION.
func TestGroupsOffsetCommitToMissingGroup(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	const topic = "rv-missing-group"
	b.createTopic(topic, 1, nil)
	for _, tc := range []struct {
		maxVersion int16
		want       *kerr.Error
	}{
		{9, kerr.GroupIDNotFound},
		{8, kerr.IllegalGeneration},
	} {
		versions := kversion.Stable()
		versions.SetMaxKeyVersion(int16(kmsg.OffsetCommit), tc.maxVersion)
		cl := b.client(kgo.MaxVersions(versions))
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = "grp-rv-missing", "member-1", 3
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 1
		rt.Partitions = []kmsg.OffsetCommitRequestTopicPartition{rp}
		req.Topics = []kmsg.OffsetCommitRequestTopic{rt}
		resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
		if err != nil {
			t.Fatalf("OffsetCommit v%d: %v", tc.maxVersion, err)
		}
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != tc.want.Code {
			t.Fatalf("OffsetCommit v%d to a group that does not exist: %v, want %v", resp.Version, kerr.ErrorForCode(code), tc.want)
		}
	}
}
