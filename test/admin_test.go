package test

// Topic administration through franz-go's kadm and raw kmsg requests:
// CreateTopics, DeleteTopics (by name and, v6+, by topic ID),
// CreatePartitions, DescribeConfigs, IncrementalAlterConfigs (KIP-339),
// AlterConfigs, ListOffsets by timestamp (KIP-79, and KIP-734's -3), and
// topic auto-creation through Metadata.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataTopics asks for topics by name with a raw Metadata request and
// returns the answer for each.
func metadataTopics(t testing.TB, cl *kgo.Client, allowAutoCreate bool, topics ...string) map[string]kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = allowAutoCreate
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	out := make(map[string]kmsg.MetadataResponseTopic)
	for _, mt := range resp.Topics {
		if mt.Topic == nil {
			t.Fatalf("metadata answered a topic without a name")
		}
		out[*mt.Topic] = mt
	}
	for _, name := range topics {
		if _, ok := out[name]; !ok {
			t.Fatalf("metadata response is missing topic %q", name)
		}
	}
	return out
}

// expectNoTopic asserts that the broker does not know topic.
func expectNoTopic(t testing.TB, cl *kgo.Client, topic string) {
	t.Helper()
	mt := metadataTopics(t, cl, false, topic)[topic]
	if mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("metadata for %q: %v with %d partitions, want UNKNOWN_TOPIC_OR_PARTITION",
			topic, kerr.ErrorForCode(mt.ErrorCode), len(mt.Partitions))
	}
}

// expectPartitions asserts that topic exists with n partitions, each led
// by broker 1.
func expectPartitions(t testing.TB, cl *kgo.Client, topic string, n int) kmsg.MetadataResponseTopic {
	t.Helper()
	mt := metadataTopics(t, cl, false, topic)[topic]
	if mt.ErrorCode != 0 {
		t.Fatalf("metadata for %q: %v", topic, kerr.ErrorForCode(mt.ErrorCode))
	}
	if len(mt.Partitions) != n {
		t.Fatalf("topic %q has %d partitions, want %d", topic, len(mt.Partitions), n)
	}
	seen := make(map[int32]bool)
	for _, p := range mt.Partitions {
		if p.ErrorCode != 0 || p.Leader != 1 || p.Partition < 0 || int(p.Partition) >= n || seen[p.Partition] {
			t.Fatalf("topic %q partition %d: error %v, leader %d", topic, p.Partition, kerr.ErrorForCode(p.ErrorCode), p.Leader)
		}
		seen[p.Partition] = true
	}
	return mt
}

// configOf finds one config of a described resource.
func configOf(t testing.TB, rcs kadm.ResourceConfigs, resource, name string) kadm.Config {
	t.Helper()
	rc, err := rcs.On(resource, nil)
	if err != nil {
		t.Fatalf("describe %q: not in the response", resource)
	}
	if rc.Err != nil {
		t.Fatalf("describe %q: %v %s", resource, rc.Err, rc.ErrMessage)
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c
		}
	}
	t.Fatalf("describe %q: config %q missing", resource, name)
	return kadm.Config{}
}

// expectTopicConfigs describes a topic and checks name -> value, source.
func expectTopicConfigs(t testing.TB, adm *kadm.Client, topic string, want map[string]configWant) {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testContext(t, 15*time.Second), topic)
	if err != nil {
		t.Fatalf("describe topic configs: %v", err)
	}
	for name, w := range want {
		c := configOf(t, rcs, topic, name)
		if c.MaybeValue() != w.value || c.Source != w.source {
			t.Errorf("topic %s: %s = %q (%v), want %q (%v)", topic, name, c.MaybeValue(), c.Source, w.value, w.source)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

type configWant struct {
	value  string
	source kmsg.ConfigSource
}

func dynamicTopic(v string) configWant  { return configWant{v, kmsg.ConfigSourceDynamicTopicConfig} }
func defaultConfig(v string) configWant { return configWant{v, kmsg.ConfigSourceDefaultConfig} }
func staticBroker(v string) configWant  { return configWant{v, kmsg.ConfigSourceStaticBrokerConfig} }

// partitionDirs lists the data directories of topic's partitions, named
// <topic>-<partition>.
func partitionDirs(t testing.TB, dataDir, topic string) []string {
	t.Helper()
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatalf("read data dir: %v", err)
	}
	var out []string
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), topic+"-")
		if !ok || !e.IsDir() {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil && strconv.Itoa(n) == rest {
			out = append(out, e.Name())
		}
	}
	return out
}

// waitFor waits until cond holds or d passes (polling as waitForErr).
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	waitForErr(t, d, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// errNotYet is what waitFor reports of a condition that never held.
var errNotYet = errors.New("the condition never held")

// produceTo produces values to one partition and returns their offsets.
func produceTo(t testing.TB, cl *kgo.Client, topic string, partition int32, values ...string) []int64 {
	t.Helper()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: partition, Value: []byte(v)})
	}
	res := cl.ProduceSync(testContext(t, 15*time.Second), recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce to %s/%d: %v", topic, partition, err)
	}
	out := make([]int64, len(res))
	for i, r := range res {
		if r.Record.Partition != partition {
			t.Fatalf("record went to partition %d, want %d", r.Record.Partition, partition)
		}
		out[i] = r.Record.Offset
	}
	return out
}

func manualClient(b *broker) *kgo.Client {
	return b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

func TestTopicLifecycle(t *testing.T) {
	t.Parallel()
	// A static log.retention.bytes shows as the topics' default with the
	// source STATIC_BROKER_CONFIG.
	b := startBroker(t, map[string]string{"log.retention.bytes": "1073741824"})
	adm := b.admin()
	cl := b.client()
	ctx := testContext(t, 2*time.Minute)

	created, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{
		"retention.ms":      ptr("3600000"),
		"cleanup.policy":    ptr("delete"),
		"max.message.bytes": ptr("500000"),
	}, "life")
	if err != nil {
		t.Fatalf("create: %v %s", err, created.ErrMessage)
	}
	if created.NumPartitions != 2 || created.ReplicationFactor != 1 || created.ID == (kadm.TopicID{}) {
		t.Fatalf("create answered %d partitions, replication factor %d, ID %v", created.NumPartitions, created.ReplicationFactor, created.ID)
	}
	if c := created.Configs["retention.ms"]; c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("create response: retention.ms = %q (%v)", c.MaybeValue(), c.Source)
	}
	mt := expectPartitions(t, cl, "life", 2)
	if mt.TopicID != [16]byte(created.ID) {
		t.Fatalf("metadata topic ID %v, create said %v", mt.TopicID, created.ID)
	}
	// A partition's directory is made by its first record.
	for p := 0; p < 2; p++ {
		if _, err := os.Stat(filepath.Join(b.dataDir, fmt.Sprintf("life-%d", p))); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("partition directory before any record: %v", err)
		}
	}

	t.Run("create errors", func(t *testing.T) {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, "life"); !errors.Is(err, kerr.TopicAlreadyExists) {
			t.Errorf("create again: %v, want TOPIC_ALREADY_EXISTS", err)
		}
		for _, name := range []string{"a/b", "..", ".", "", "sp ace", "ünï", strings.Repeat("x", 250)} {
			if _, err := adm.CreateTopic(ctx, 1, 1, nil, name); !errors.Is(err, kerr.InvalidTopicException) {
				t.Errorf("create %.20q: %v, want INVALID_TOPIC_EXCEPTION", name, err)
			}
		}
		for _, bad := range []map[string]*string{
			{"retention.ms": ptr("abc")},
			{"cleanup.policy": ptr("shred")},
			{"no.such.config": ptr("1")},
		} {
			if _, err := adm.CreateTopic(ctx, 1, 1, bad, "bad-config"); !errors.Is(err, kerr.InvalidConfig) {
				t.Errorf("create with %v: %v, want INVALID_CONFIG", bad, err)
			}
		}
		if _, err := adm.CreateTopic(ctx, 0, 1, nil, "zero-partitions"); !errors.Is(err, kerr.InvalidPartitions) {
			t.Errorf("create with 0 partitions: %v, want INVALID_PARTITIONS", err)
		}
		if _, err := adm.CreateTopic(ctx, 1, 3, nil, "rf-three"); !errors.Is(err, kerr.InvalidReplicationFactor) {
			t.Errorf("create with replication factor 3 on one broker: %v, want INVALID_REPLICATION_FACTOR", err)
		}
		// Validate-only answers as a create would and creates nothing,
		// including for the longest legal name.
		long := strings.Repeat("y", 249)
		dry, err := adm.ValidateCreateTopics(ctx, 3, 1, nil, "dry-run", long)
		if err != nil {
			t.Fatalf("validate create: %v", err)
		}
		for _, name := range []string{"dry-run", long} {
			r := dry[name]
			if r.Err != nil || r.NumPartitions != 3 || r.ReplicationFactor != 1 {
				t.Errorf("validate %.20q: %v, %d partitions, rf %d", name, r.Err, r.NumPartitions, r.ReplicationFactor)
			}
		}
		for _, name := range []string{"dry-run", long, "bad-config", "zero-partitions", "rf-three"} {
			expectNoTopic(t, cl, name)
			if dirs := partitionDirs(t, b.dataDir, name); len(dirs) != 0 {
				t.Errorf("topic %.20q was not created but has directories %v", name, dirs)
			}
		}
	})

	t.Run("describe configs", func(t *testing.T) {
		expectTopicConfigs(t, adm, "life", map[string]configWant{
			"retention.ms":        dynamicTopic("3600000"),
			"cleanup.policy":      dynamicTopic("delete"),
			"max.message.bytes":   dynamicTopic("500000"),
			"segment.bytes":       defaultConfig("1073741824"),
			"min.insync.replicas": defaultConfig("1"),
			"retention.bytes":     staticBroker("1073741824"),
		})
		rcs, err := adm.DescribeBrokerConfigs(ctx, 1)
		if err != nil {
			t.Fatalf("describe broker: %v", err)
		}
		for name, w := range map[string]configWant{
			"log.retention.bytes": staticBroker("1073741824"),
			"num.partitions":      defaultConfig("1"),
			"log.segment.bytes":   defaultConfig("1073741824"),
		} {
			if c := configOf(t, rcs, "1", name); c.MaybeValue() != w.value || c.Source != w.source {
				t.Errorf("broker 1: %s = %q (%v), want %q (%v)", name, c.MaybeValue(), c.Source, w.value, w.source)
			}
		}
		rcs, err = adm.DescribeTopicConfigs(ctx, "no-such-topic")
		if err == nil {
			_, err = rcs.On("no-such-topic", func(rc *kadm.ResourceConfig) error { return rc.Err })
		}
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Errorf("describe a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
	})

	t.Run("incremental alter", func(t *testing.T) {
		res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("7200000")},
			{Op: kadm.DeleteConfig, Name: "max.message.bytes"},
			{Op: kadm.SetConfig, Name: "segment.bytes", Value: ptr("1048576")},
		}, "life")
		if err == nil {
			_, err = res.On("life", func(r *kadm.AlterConfigsResponse) error { return r.Err })
		}
		if err != nil {
			t.Fatalf("incremental alter: %v", err)
		}
		expectTopicConfigs(t, adm, "life", map[string]configWant{
			"retention.ms":      dynamicTopic("7200000"),
			"cleanup.policy":    dynamicTopic("delete"),
			"max.message.bytes": defaultConfig("1048588"),
			"segment.bytes":     dynamicTopic("1048576"),
		})
		// A bad value is refused and changes nothing, not even the good
		// change next to it.
		res, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "segment.bytes", Value: ptr("2097152")},
			{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("soon")},
		}, "life")
		if err == nil {
			_, err = res.On("life", func(r *kadm.AlterConfigsResponse) error { return r.Err })
		}
		if !errors.Is(err, kerr.InvalidConfig) {
			t.Fatalf("alter with a bad value: %v, want INVALID_CONFIG", err)
		}
		expectTopicConfigs(t, adm, "life", map[string]configWant{
			"retention.ms":  dynamicTopic("7200000"),
			"segment.bytes": dynamicTopic("1048576"),
		})
	})

	t.Run("legacy alter replaces", func(t *testing.T) {
		res, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{
			{Name: "retention.ms", Value: ptr("1000000")},
		}, "life")
		if err == nil {
			_, err = res.On("life", func(r *kadm.AlterConfigsResponse) error { return r.Err })
		}
		if err != nil {
			t.Fatalf("alter configs: %v", err)
		}
		expectTopicConfigs(t, adm, "life", map[string]configWant{
			"retention.ms":      dynamicTopic("1000000"),
			"cleanup.policy":    defaultConfig("delete"),
			"segment.bytes":     defaultConfig("1073741824"),
			"max.message.bytes": defaultConfig("1048588"),
		})
	})

	t.Run("create partitions", func(t *testing.T) {
		res, err := adm.UpdatePartitions(ctx, 5, "life")
		if err != nil || res["life"].Err != nil {
			t.Fatalf("grow to 5 partitions: %v %v", err, res["life"].Err)
		}
		expectPartitions(t, cl, "life", 5)
		if offs := produceTo(t, manualClient(b), "life", 4, "p4-a", "p4-b"); offs[0] != 0 || offs[1] != 1 {
			t.Fatalf("new partition 4 gave offsets %v, want [0 1]", offs)
		}
		for p := 2; p < 5; p++ {
			_, err := os.Stat(filepath.Join(b.dataDir, fmt.Sprintf("life-%d", p)))
			if got, want := err == nil, p == 4; got != want { // only 4 got records
				t.Fatalf("new partition %d: directory exists %v, want %v (%v)", p, got, want, err)
			}
		}
		for _, n := range []int{3, 5} {
			res, err := adm.UpdatePartitions(ctx, n, "life")
			if err != nil {
				t.Fatalf("set %d partitions: %v", n, err)
			}
			if !errors.Is(res["life"].Err, kerr.InvalidPartitions) {
				t.Errorf("set %d partitions of 5: %v, want INVALID_PARTITIONS", n, res["life"].Err)
			}
		}
		res, err = adm.UpdatePartitions(ctx, 3, "no-such-topic")
		if err != nil || !errors.Is(res["no-such-topic"].Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("grow a missing topic: %v %v, want UNKNOWN_TOPIC_OR_PARTITION", err, res["no-such-topic"].Err)
		}
		expectPartitions(t, cl, "life", 5)
	})

	t.Run("delete by name", func(t *testing.T) {
		if offs := produceTo(t, manualClient(b), "life", 0, "old-0", "old-1", "old-2"); offs[2] != 2 {
			t.Fatalf("offsets %v before delete", offs)
		}
		if _, err := os.Stat(filepath.Join(b.dataDir, "life-0")); err != nil {
			t.Fatalf("partition directory after its first records: %v", err)
		}
		if _, err := adm.DeleteTopic(ctx, "life"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		expectNoTopic(t, cl, "life")
		waitFor(t, 15*time.Second, "the partition directories of life to go", func() bool {
			return len(partitionDirs(t, b.dataDir, "life")) == 0
		})
		if _, err := adm.DeleteTopic(ctx, "life"); !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Errorf("delete twice: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
		rcs, err := adm.DescribeTopicConfigs(ctx, "life")
		if err == nil {
			_, err = rcs.On("life", func(rc *kadm.ResourceConfig) error { return rc.Err })
		}
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Errorf("describe a deleted topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
	})

	t.Run("delete by topic ID", func(t *testing.T) {
		byID, err := adm.CreateTopic(ctx, 3, 1, nil, "by-id")
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		produceTo(t, manualClient(b), "by-id", 1, "x")
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis = 15000
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = [16]byte(byID.ID)
		req.Topics = append(req.Topics, rt)
		unknown := kmsg.NewDeleteTopicsRequestTopic()
		unknown.TopicID = [16]byte{1, 2, 3}
		req.Topics = append(req.Topics, unknown)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("delete by ID: %v", err)
		}
		if resp.Version < 6 {
			t.Fatalf("DeleteTopics answered at v%d; topic IDs need v6", resp.Version)
		}
		if len(resp.Topics) != 2 {
			t.Fatalf("delete by ID answered %d topics, want 2", len(resp.Topics))
		}
		got := resp.Topics[0]
		if got.ErrorCode != 0 || got.TopicID != [16]byte(byID.ID) || got.Topic == nil || *got.Topic != "by-id" {
			t.Fatalf("delete by ID: %v, topic %v, ID %v", kerr.ErrorForCode(got.ErrorCode), got.Topic, got.TopicID)
		}
		if resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code {
			t.Errorf("delete an unknown ID: %v, want UNKNOWN_TOPIC_ID", kerr.ErrorForCode(resp.Topics[1].ErrorCode))
		}
		expectNoTopic(t, cl, "by-id")
		waitFor(t, 15*time.Second, "the partition directories of by-id to go", func() bool {
			return len(partitionDirs(t, b.dataDir, "by-id")) == 0
		})
	})

	t.Run("recreate starts empty", func(t *testing.T) {
		again, err := adm.CreateTopic(ctx, 2, 1, nil, "life")
		if err != nil {
			t.Fatalf("re-create: %v", err)
		}
		if again.ID == created.ID {
			t.Fatalf("re-created topic reuses the old ID %v", again.ID)
		}
		expectPartitions(t, cl, "life", 2)
		expectTopicConfigs(t, adm, "life", map[string]configWant{
			"retention.ms": defaultConfig("604800000"),
		})
		fresh := manualClient(b)
		if offs := produceTo(t, fresh, "life", 0, "new-0"); offs[0] != 0 {
			t.Fatalf("first record of the re-created topic at offset %d, want 0", offs[0])
		}
		end := endOffsets(t, fresh, "life")
		if len(end) != 2 || end[0] != 1 || end[1] != 0 {
			t.Fatalf("end offsets of the re-created topic %v, want map[0:1 1:0]", end)
		}
		got := consumeAll(t, b.addr, "life", 1)
		if len(got) != 1 || string(got[0].Value) != "new-0" || got[0].Offset != 0 || got[0].Partition != 0 {
			t.Fatalf("re-created topic holds %d records, first %q at %d/%d", len(got), got[0].Value, got[0].Partition, got[0].Offset)
		}
	})
}

// listOffsetRaw sends ListOffsets for one partition and timestamp.
func listOffsetRaw(t testing.TB, cl *kgo.Client, topic string, partition int32, ts int64) (offset, timestamp int64) {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = partition, ts, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	if resp.Version < 7 {
		t.Fatalf("ListOffsets answered at v%d; the max timestamp (-3) needs v7", resp.Version)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("list offsets answered %d topics", len(resp.Topics))
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		t.Fatalf("list offsets %s/%d at %d: %v", topic, partition, ts, kerr.ErrorForCode(sp.ErrorCode))
	}
	return sp.Offset, sp.Timestamp
}

func TestListOffsetsByTimestamp(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("times", 3, nil)
	cl := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

	// Partition 0: 100 records, record i at t0 + 10ms*i.
	var recs []*kgo.Record
	for i := 0; i < 100; i++ {
		recs = append(recs, &kgo.Record{Topic: "times", Partition: 0, Value: []byte(fmt.Sprint(i)), Timestamp: t0.Add(time.Duration(i) * 10 * time.Millisecond)})
	}
	// Partition 1: 20 records at t0 + 10ms*i, except record 7, which is
	// an hour later than the rest and so has the largest timestamp.
	for i := 0; i < 20; i++ {
		ts := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		if i == 7 {
			ts = t0.Add(time.Hour)
		}
		recs = append(recs, &kgo.Record{Topic: "times", Partition: 1, Value: []byte(fmt.Sprint(i)), Timestamp: ts})
	}
	// Partition 2 stays empty.
	produceAll(t, cl, recs)
	for i, r := range recs[:100] {
		if r.Offset != int64(i) {
			t.Fatalf("partition 0 record %d at offset %d", i, r.Offset)
		}
	}

	tests := []struct {
		name      string
		partition int32
		ts        int64
		offset    int64
		timestamp int64
	}{
		{"before the first", 0, ms(-time.Second), 0, ms(0)},
		{"exactly the first", 0, ms(0), 0, ms(0)},
		{"between records", 0, ms(55 * time.Millisecond), 6, ms(60 * time.Millisecond)},
		{"exactly a record", 0, ms(500 * time.Millisecond), 50, ms(500 * time.Millisecond)},
		{"just after a record", 0, ms(501 * time.Millisecond), 51, ms(510 * time.Millisecond)},
		{"exactly the last", 0, ms(990 * time.Millisecond), 99, ms(990 * time.Millisecond)},
		{"after the last", 0, ms(991 * time.Millisecond), -1, -1},
		{"earliest", 0, -2, 0, -1},
		{"latest", 0, -1, 100, -1},
		{"max timestamp", 0, -3, 99, ms(990 * time.Millisecond)},

		// The first record in offset order at or after the timestamp.
		{"before the outlier", 1, ms(65 * time.Millisecond), 7, ms(time.Hour)},
		{"before all", 1, ms(0), 0, ms(0)},
		{"after the outlier", 1, ms(time.Hour + time.Millisecond), -1, -1},
		{"max timestamp mid-log", 1, -3, 7, ms(time.Hour)},
		{"latest", 1, -1, 20, -1},

		{"empty: by time", 2, ms(0), -1, -1},
		{"empty: earliest", 2, -2, 0, -1},
		{"empty: latest", 2, -1, 0, -1},
		{"empty: max timestamp", 2, -3, -1, -1},
	}
	for _, tt := range tests {
		off, ts := listOffsetRaw(t, cl, "times", tt.partition, tt.ts)
		if off != tt.offset || ts != tt.timestamp {
			t.Errorf("partition %d, %s (%d): offset %d timestamp %d, want offset %d timestamp %d",
				tt.partition, tt.name, tt.ts, off, ts, tt.offset, tt.timestamp)
		}
	}
	// kadm's listing by time agrees.
	listed, err := b.admin().ListOffsetsAfterMilli(testContext(t, 15*time.Second), ms(55*time.Millisecond), "times")
	if err != nil {
		t.Fatalf("list offsets after milli: %v", err)
	}
	if o, ok := listed.Lookup("times", 0); !ok || o.Err != nil || o.Offset != 6 {
		t.Errorf("kadm ListOffsetsAfterMilli: %+v, want offset 6", o)
	}
}

func TestMetadataAutoCreate(t *testing.T) {
	t.Parallel()
	t.Run("enabled", func(t *testing.T) {
		t.Parallel()
		b := startBroker(t, map[string]string{"num.partitions": "3"})
		cl := b.client(kgo.AllowAutoTopicCreation(), kgo.RecordDeliveryTimeout(15*time.Second))
		ctx := testContext(t, 30*time.Second)
		var recs []*kgo.Record
		for i := 0; i < 30; i++ {
			recs = append(recs, &kgo.Record{Topic: "made-on-produce", Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce to a new topic: %v", err)
		}
		other := b.client()
		expectPartitions(t, other, "made-on-produce", 3)
		var total int64
		for _, o := range endOffsets(t, other, "made-on-produce") {
			total += o
		}
		if total != 30 {
			t.Fatalf("auto-created topic holds %d records, want 30", total)
		}
		rcs, err := b.admin().DescribeTopicConfigs(ctx, "made-on-produce")
		if err != nil {
			t.Fatalf("describe: %v", err)
		}
		if c := configOf(t, rcs, "made-on-produce", "retention.ms"); c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("auto-created topic has retention.ms from %v, want DEFAULT_CONFIG", c.Source)
		}

		// A Metadata request that allows creation gets the topic, with
		// leaders, in the same answer.
		mt := metadataTopics(t, other, true, "made-on-metadata")["made-on-metadata"]
		if mt.ErrorCode != 0 || len(mt.Partitions) != 3 {
			t.Fatalf("metadata with auto-create: %v with %d partitions, want 3", kerr.ErrorForCode(mt.ErrorCode), len(mt.Partitions))
		}
		// One that does not allow it creates nothing; nor does a bad name.
		expectNoTopic(t, other, "not-allowed")
		bad := metadataTopics(t, other, true, "bad/name")["bad/name"]
		if bad.ErrorCode != kerr.InvalidTopicException.Code {
			t.Errorf("metadata for bad/name: %v, want INVALID_TOPIC_EXCEPTION", kerr.ErrorForCode(bad.ErrorCode))
		}
		topics, err := b.admin().ListTopics(ctx)
		if err != nil {
			t.Fatalf("list topics: %v", err)
		}
		if names := topics.Names(); len(names) != 2 || names[0] != "made-on-metadata" || names[1] != "made-on-produce" {
			t.Fatalf("topics %v, want [made-on-metadata made-on-produce]", names)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		b := startBroker(t, map[string]string{"auto.create.topics.enable": "false", "num.partitions": "3"})
		cl := b.client(kgo.AllowAutoTopicCreation(), kgo.RecordDeliveryTimeout(5*time.Second), kgo.UnknownTopicRetries(2))
		ctx := testContext(t, 30*time.Second)
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "never-made", Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("produce to a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
		other := b.client()
		mt := metadataTopics(t, other, true, "never-made")["never-made"]
		if mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("metadata allowing creation, with auto-create off: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(mt.ErrorCode))
		}
		topics, err := b.admin().ListTopics(ctx)
		if err != nil {
			t.Fatalf("list topics: %v", err)
		}
		if len(topics) != 0 {
			t.Fatalf("topics %v exist, want none", topics.Names())
		}
		if dirs := partitionDirs(t, b.dataDir, "never-made"); len(dirs) != 0 {
			t.Fatalf("directories %v for a topic never created", dirs)
		}
	})
}
