package test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Replication throttles (KIP-73), as kafka-reassign-partitions.sh
// --throttle sets them: the topic lists the throttled replicas, the
// brokers a rate in bytes a second. The rates are measured over two 1 s
// samples here (replication.quota.window.num), so the burst before a
// throttle bites is about one second's worth rather than Kafka's ten, and
// followers fetch at most 256 KiB of a partition at a time
// (replica.fetch.max.bytes), the most a fetch can overshoot the rate by.
var throttleSettings = clusterSettings(map[string]string{
	"replication.quota.window.num": "2",
	"replica.fetch.max.bytes":      strconv.Itoa(throttleBatch),
})

const (
	throttleRate   = 1 << 20 // bytes a second
	throttleRecord = 64 << 10
	throttleBatch  = 256 << 10 // producer batches fit in one follower fetch
	throttleData   = 8 << 20   // bytes written before the reassignment
)

// TestReplicationThrottleLeaderBoundsReassignment throttles the leader's
// replica (leader.replication.throttled.replicas, and
// leader.replication.throttled.rate on the leader): a replica added by a
// reassignment catches up no faster than the rate allows, and completes
// once the rate is removed.
func TestReplicationThrottleLeaderBoundsReassignment(t *testing.T) {
	t.Parallel()
	throttledReassignment(t, "leader")
}

// TestReplicationThrottleFollowerBoundsReassignment is the same with the
// new replica throttled on the follower side
// (follower.replication.throttled.replicas, and
// follower.replication.throttled.rate on the new replica's broker).
func TestReplicationThrottleFollowerBoundsReassignment(t *testing.T) {
	t.Parallel()
	throttledReassignment(t, "follower")
}

func throttledReassignment(t *testing.T, side string) {
	c := startInProcess(t, 3, throttleSettings)
	const topic = "throttled"
	td := createTopicIn(c, topic, 1, 1, nil)
	leader := td.Partitions[0].Leader
	target := leader%3 + 1
	ctx := testContext(t, time.Minute)
	produceBytes(t, c, topic, throttleData)

	throttled, broker := leader, leader
	if side == "follower" {
		throttled, broker = target, target
	}
	adm := c.admin()
	alterTopic(t, adm, topic, side+".replication.throttled.replicas", fmt.Sprintf("0:%d", throttled))
	rateName := side + ".replication.throttled.rate"
	alterBroker(t, adm, broker, rateName, strconv.Itoa(throttleRate))
	waitBrokerConfig(t, adm, broker, rateName, strconv.Itoa(throttleRate))

	start := time.Now()
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{leader, target})
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Each(func(r kadm.AlterPartitionAssignmentsResponse) {
		if r.Err != nil {
			t.Fatalf("reassign %s-%d: %v", r.Topic, r.Partition, r.Err)
		}
	})
	// For half the time the whole copy takes at the rate, the new
	// replica holds no more than the rate allows, with three seconds'
	// worth of slack: the rate is a sum over two 1 s samples, so a new
	// sample can let up to two seconds' worth through at once, and a
	// fetch passes whenever the rate is under the bound, going over it by
	// up to one fetch.
	var size int64
	for time.Since(start) < time.Duration(throttleData/throttleRate)*time.Second/2 {
		size = replicaSize(ctx, t, adm, target, topic)
		elapsed := time.Since(start)
		if allowed := int64((elapsed.Seconds() + 3) * throttleRate); size > allowed {
			t.Fatalf("%s throttle of %d B/s: the new replica holds %d bytes after %v, more than %d", side, throttleRate, size, elapsed, allowed)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%s throttle of %d B/s: the new replica copied %d of %d bytes in %v", side, throttleRate, size, throttleData, time.Since(start))
	if size == 0 {
		t.Fatalf("the throttled replica copied nothing")
	}
	if isr := waitISR(c, topic, leader, 1, 5*time.Second).Partitions[0].ISR; len(isr) != 1 {
		t.Fatalf("the throttled replica joined the ISR %v early", isr)
	}

	// Without the rate the copy completes.
	deleteBrokerConfig(t, adm, broker, rateName)
	waitISR(c, topic, leader, 2, 20*time.Second)
	t.Logf("in sync %v after the reassignment began", time.Since(start))
}

// TestReplicationThrottleNeverSlowsInSyncReplicas throttles every replica
// of a topic on both sides at a byte a second: in-sync replicas are never
// throttled (Kafka's shouldLeaderThrottle and shouldFollowerThrottle), so
// acks=all writes go on and the ISR stays whole.
func TestReplicationThrottleNeverSlowsInSyncReplicas(t *testing.T) {
	t.Parallel()
	c := startInProcess(t, 3, throttleSettings)
	const topic = "insync"
	createTopicIn(c, topic, 1, 3, minISR2)
	adm := c.admin()
	alterTopic(t, adm, topic, "leader.replication.throttled.replicas", "*")
	alterTopic(t, adm, topic, "follower.replication.throttled.replicas", "*")
	for _, id := range c.ids() {
		alterBroker(t, adm, id, "leader.replication.throttled.rate", "1")
		alterBroker(t, adm, id, "follower.replication.throttled.rate", "1")
	}
	for _, id := range c.ids() {
		waitBrokerConfig(t, adm, id, "follower.replication.throttled.rate", "1")
	}
	start := time.Now()
	produceBytes(t, c, topic, 4<<20)
	took := time.Since(start)
	t.Logf("4 MiB written with acks=all in %v under a throttle of 1 B/s", took)
	// Unthrottled this takes about a second on a loaded machine;
	// throttled in-sync followers would hold it until they left the ISR
	// (replica.lag.time.max.ms) and caught up again, about 20 s.
	if took > 10*time.Second {
		t.Fatalf("4 MiB took %v with acks=all: in-sync replicas were throttled", took)
	}
	if isr := waitISR(c, topic, 0, 3, 5*time.Second).Partitions[0].ISR; len(isr) != 3 {
		t.Fatalf("ISR %v", isr)
	}
}

// produceBytes writes n bytes to partition 0 of topic in records of
// throttleRecord bytes, acks=all.
func produceBytes(t *testing.T, c cluster, topic string, n int) {
	t.Helper()
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(throttleBatch))
	ctx := testContext(t, 30*time.Second)
	var recs []*kgo.Record
	for range n / throttleRecord {
		value := make([]byte, throttleRecord) // random: the bytes stored are the bytes written
		rand.Read(value)
		recs = append(recs, &kgo.Record{Value: value})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d bytes to %s: %v", n, topic, err)
	}
}

func alterTopic(t *testing.T, adm *kadm.Client, topic, name, value string) {
	t.Helper()
	resp, err := adm.AlterTopicConfigs(testContext(t, 10*time.Second), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: &value}}, topic)
	if err == nil {
		_, err = resp.On(topic, nil)
	}
	if err != nil {
		t.Fatalf("set %s=%s on topic %s: %v", name, value, topic, err)
	}
}

func alterBroker(t *testing.T, adm *kadm.Client, id int32, name, value string) {
	t.Helper()
	alterBrokerConfig(t, adm, id, kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: &value})
}

func deleteBrokerConfig(t *testing.T, adm *kadm.Client, id int32, name string) {
	t.Helper()
	alterBrokerConfig(t, adm, id, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: name})
}

func alterBrokerConfig(t *testing.T, adm *kadm.Client, id int32, ac kadm.AlterConfig) {
	t.Helper()
	resp, err := adm.AlterBrokerConfigs(testContext(t, 10*time.Second), []kadm.AlterConfig{ac}, id)
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
			}
		}
	}
	if err != nil {
		t.Fatalf("alter %s on broker %d: %v", ac.Name, id, err)
	}
}

// waitBrokerConfig waits until broker id describes its config name as
// value: it has applied the metadata that set it, and the topic configs
// set before.
func waitBrokerConfig(t *testing.T, adm *kadm.Client, id int32, name, value string) {
	t.Helper()
	waitForErr(t, 10*time.Second, fmt.Sprintf("broker %d to apply %s=%s", id, name, value), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rcs, err := adm.DescribeBrokerConfigs(ctx, id)
		if err != nil {
			return err
		}
		for _, rc := range rcs {
			for _, cfg := range rc.Configs {
				if cfg.Key == name && cfg.Value != nil && *cfg.Value == value {
					return nil
				}
			}
		}
		return fmt.Errorf("%s not %s yet", name, value)
	})
}

// replicaSize is the size of broker id's replica of partition 0 of topic,
// as its DescribeLogDirs reports it (0 before it has one).
func replicaSize(ctx context.Context, t *testing.T, adm *kadm.Client, id int32, topic string) int64 {
	t.Helper()
	dirs, err := adm.DescribeBrokerLogDirs(ctx, id, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("describe log dirs of broker %d: %v", id, err)
	}
	var size int64
	for _, d := range dirs {
		if p, ok := d.Topics[topic][0]; ok {
			size += p.Size
		}
	}
	return size
}
