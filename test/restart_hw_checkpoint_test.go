package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/log"
)

// The high-watermark checkpoint (Kafka's replication-offset-checkpoint,
// issue 15): a restarted leader serves what was committed at once. Here
// one ISR member stays down after a restart of the cluster; without the
// checkpoint the leader's high watermark would sit at the log start until
// that member fetched again or left the ISR (30 s here), so consumers
// would see nothing. With it, the committed records are readable as soon
// as the partition has a leader.
func TestRestartedLeaderServesUpToCheckpointedHighWatermark(t *testing.T) {
	skipUnlessFlakyAllowed(t, "after the restart the partition sometimes has no reachable leader for the whole 20 s wait (LEADER_NOT_AVAILABLE, or the broker that stays down named as leader); not yet explained")
	t.Parallel()
	c := startFSCluster(t, 3, map[string]string{
		"broker.session.timeout.ms":                     "30000",
		"broker.heartbeat.interval.ms":                  "300",
		"replica.lag.time.max.ms":                       "30000",
		"replica.high.watermark.checkpoint.interval.ms": "100",
		"offsets.topic.num.partitions":                  "1",
	}, func(int) log.FS { return nil })
	const topic = "hw-checkpoint"
	c.createTopic(topic, 1, 3, nil)
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	want := produceEach(t, cl, topic, "v", 100)
	leader := c.leaderOf(topic)
	down := int(leader % 3) // a follower's index; it stays down
	var files [3]string
	deadline := time.Now().Add(30 * time.Second)
	for written := false; !written; {
		written = true
		for i := range files {
			b, _ := os.ReadFile(filepath.Join(c.dirs[i], "replication-offset-checkpoint"))
			files[i] = string(b)
			written = written && strings.Contains(files[i], "\n"+topic+" 0 100\n")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the checkpoints do not hold the high watermark after 30 s: %q", files)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.stopAll()
	restarted := time.Now()
	c.startSome(func(int) log.FS { return nil }, map[int]bool{down: true})
	adm := kadm.NewClient(c.client())
	waitFor(t, 20*time.Second, "the committed records readable after the restart", func() bool {
		ends, err := adm.ListEndOffsets(testContext(t, 5*time.Second), topic)
		if err != nil {
			return false
		}
		end, ok := ends.Lookup(topic, 0)
		return ok && end.Err == nil && end.Offset == int64(len(want))
	})
	if took := time.Since(restarted); took >= 30*time.Second {
		t.Fatalf("the high watermark came back after %v, no sooner than the ISR could shrink", took)
	}
	got := consumeFrom(t, c.seeds(), topic, len(want))
	for i, r := range got {
		if string(r.Value) != want[i] {
			t.Fatalf("record %d: %q, want %q", i, r.Value, want[i])
		}
	}
	t.Logf("high watermark %d served %v after the restart, with broker %d still down", len(want), time.Since(restarted).Round(time.Millisecond), down+1)
}
