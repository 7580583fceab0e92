package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The high-watermark checkpoint (Kafka's replication-offset-checkpoint,
// issue 15): a restarted leader serves what was committed at once. Here
// the whole cluster, of processes or of in-process brokers, is killed
// (no controlled shutdown, so every broker stays in the ISR) and comes
// back without one follower. The leader
// rejoins with its ISR intact; without the checkpoint its high watermark
// would sit at the log start until the missing follower fetched again or
// left the ISR (its session, and replica.lag.time.max.ms, are 30 s here),
// so consumers would see nothing. With it, the committed records are
// readable as soon as the leader is back.
//
// A controlled shutdown of every broker would not show this: each one
// leaves the ISRs as it stops, and the last to stop is left the only ISR
// member, so the partition rightly has no leader until that broker is
// back (covered in cluster_restart_test.go).
func TestRestartedLeaderServesUpToCheckpointedHighWatermark(t *testing.T) {
	t.Parallel()
	forEachKind(t, 3, map[string]string{
		"broker.session.timeout.ms":                     "30000",
		"broker.heartbeat.interval.ms":                  "300",
		"replica.lag.time.max.ms":                       "30000",
		"replica.high.watermark.checkpoint.interval.ms": "100",
		"offsets.topic.num.partitions":                  "1",
	}, func(t *testing.T, c cluster) {
		const topic = "hw-checkpoint"
		td := createTopicIn(c, topic, 1, 3, nil)
		cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
		want := produceEach(t, cl, topic, "v", 100)
		cl.Close()
		leader := td.Partitions[0].Leader
		down := leader%3 + 1 // a follower; it stays down
		waitForErr(t, 30*time.Second, "every broker's checkpoint to hold the high watermark", func() error {
			for _, id := range c.ids() {
				b, err := c.readFile(id, "replication-offset-checkpoint")
				if !strings.Contains(string(b), "\n"+topic+" 0 100\n") {
					return fmt.Errorf("broker %d: %q %v", id, b, err)
				}
			}
			return nil
		})
		c.killAll()
		restarted := time.Now()
		c.startTogether(others(c, down)...)
		adm := c.admin()
		waitForErr(t, 20*time.Second, "the committed records readable after the restart", func() error {
			ends, err := adm.ListEndOffsets(testContext(t, 5*time.Second), topic)
			if err != nil {
				return err
			}
			if end, ok := ends.Lookup(topic, 0); !ok || end.Err != nil || end.Offset != int64(len(want)) {
				return fmt.Errorf("end offset %+v", end)
			}
			return nil
		})
		took := time.Since(restarted)
		if took >= 30*time.Second {
			t.Fatalf("the high watermark came back after %v, no sooner than the ISR could shrink", took)
		}
		md, err := metadataAt(testContext(t, 10*time.Second), c, leader, topic)
		if err != nil {
			t.Fatal(err)
		}
		if p := md.Topics[topic].Partitions[0]; p.Leader != leader || len(p.ISR) != 3 {
			t.Fatalf("after the restart: %s; want broker %d leading with the whole ISR, the missing follower not yet fenced", describePartitions(md.Topics[topic]), leader)
		}
		got := consumeFrom(t, c.seeds(), topic, len(want))
		for i, r := range got {
			if string(r.Value) != want[i] {
				t.Fatalf("record %d: %q, want %q", i, r.Value, want[i])
			}
		}
		t.Logf("high watermark %d served %v after the restart, with broker %d still down", len(want), took.Round(time.Millisecond), down)
	})
}
