package test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Power loss (issue 15): every broker's partition logs live on a
// filesystem in memory (inprocCluster); the test produces with acks=all
// from an idempotent producer, cuts the power of every broker at once mid-stream
// (only what was fsynced survives, data and directory entries alike),
// starts the brokers again on what survived, and checks that every
// acknowledged record is there exactly once, at the offset it was
// acknowledged with, in a dense log. With fsync before acknowledging
// (the default), a power cut may lose only what was never acknowledged.

// TestPowerLossSingleNodeKeepsAcknowledged cuts the power of one broker.
func TestPowerLossSingleNodeKeepsAcknowledged(t *testing.T) {
	t.Parallel()
	powerLossRun(t, 1, nil)
}

// TestPowerLossWholeClusterKeepsAcknowledged cuts the power of all three
// brokers of a cluster at once, with the topic replicated to all three
// and min.insync.replicas=2.
func TestPowerLossWholeClusterKeepsAcknowledged(t *testing.T) {
	t.Parallel()
	powerLossRun(t, 3, map[string]string{
		"broker.session.timeout.ms":    "3000",
		"broker.heartbeat.interval.ms": "300",
		"replica.lag.time.max.ms":      "3000",
		"offsets.topic.num.partitions": "3",
	})
}

func powerLossRun(t *testing.T, brokers int, settings map[string]string) {
	c := startInProcess(t, brokers, settings)
	minISR := "1"
	if brokers > 1 {
		minISR = "2"
	}
	// One topic per round (values are unique within a topic); after each
	// cut, the topics of every earlier round are checked again.
	topics := []string{"powerloss-a", "powerloss-b"}
	for _, topic := range topics {
		createTopicIn(c, topic, 3, int16(brokers), map[string]*string{"min.insync.replicas": &minISR})
	}
	var acked []*ackLog
	for round, topic := range topics {
		acks := newAckLog()
		acked = append(acked, acks)
		cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond),
			kgo.RecordDeliveryTimeout(20*time.Second))
		stop := produceLoop(testContext(t, 2*time.Minute), cl, topic, acks)
		acks.waitFor(t, 3000, time.Minute)

		// Cut the power of every broker at once: what they do from
		// now on fails, and only what was fsynced survives.
		cut := acks.len()
		c.killAll()
		cl.Close() // in-flight records fail
		stop()
		if late := acks.len() - cut; late > 0 {
			// Answers on their way when the power went out.
			t.Logf("%d acknowledgements arrived while the power was cut", late)
		}
		c.startStopped()
		for i := range round + 1 {
			waitISR(c, topics[i], 0, brokers, time.Minute)
			checkAckedAt(t, c.seeds(), topics[i], acked[i])
		}
		t.Logf("round %d: %d records acknowledged before the power cut, all kept", round, acks.len())
	}
}
