package test

import (
	"regexp"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/mirror"
)

// A consumer group of KIP-848's protocol with a member on the target
// commits for itself: the mirror's group offset sync leaves it alone
// without an error.
func TestMirrorGroupSyncSkipsActiveKIP848Group(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	dst := startBroker(t, nil)
	const topic, group = "kip848", "g848"
	src.createTopic(topic, 1, nil)
	produceSync(t, src.client(kgo.DefaultProduceTopic(topic)), &kgo.Record{Value: []byte("a")}, &kgo.Record{Value: []byte("b")})
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: topic, Partition: 0, At: 2, LeaderEpoch: -1})
	if _, err := src.admin().CommitOffsets(testContext(t, 10*time.Second), group, o); err != nil {
		t.Fatalf("commit on the source: %v", err)
	}
	m, _ := runMirror(t, []string{src.addr}, []string{dst.addr}, mirror.Config{Groups: regexp.MustCompile(group), SyncGroupOffsetsInterval: time.Hour})
	waitCaughtUp(t, src.admin(), dst.admin(), func(s string) string { return s }, topic)

	cl, err := kgo.NewClient(kgo.SeedBrokers(dst.addr), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
		kgo.ServerSideBalancer(), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testContext(t, 30*time.Second)
	for got := 0; got < 2; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume on the target: %v", err)
		}
		got += fs.NumRecords()
	}
	if err := m.SyncGroupOffsets(testContext(t, 10*time.Second)); err != nil {
		t.Fatalf("sync with an active KIP-848 group on the target: %v", err)
	}
}
