package test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestNetfaultNoFalseFencingUnderLoad runs a three-broker cluster with the
// default session timeout (3 s) and heartbeat interval (500 ms) under a
// steady acks=all load (each write fsynced on three brokers) and checks
// that no healthy broker is fenced: every Metadata answer, polled every
// 100 ms, lists all three brokers and the partitions keep full ISRs.
func TestNetfaultNoFalseFencingUnderLoad(t *testing.T) {
	c := startNetCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "1"})
	const topic = "fencing"
	ctx := testContext(t, 2*time.Minute)
	adm := kadm.NewClient(c.client(kgo.SeedBrokers(c.clientSeeds()...)))
	if _, err := adm.CreateTopic(ctx, 6, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	c.waitHealthy(topic, 1, 3, time.Minute)
	acks := newAckLog()
	stop := produceLoop(ctx, c.client(kgo.SeedBrokers(c.clientSeeds()...), kgo.MaxBufferedRecords(2000)), topic, acks)
	const watch = 20 * time.Second
	end := time.Now().Add(watch)
	polls, short := 0, 0
	var lastShort string
	for time.Now().Before(end) {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		md, err := c.metadata(rctx, int32(polls%3+1), topic)
		cancel()
		if err == nil {
			polls++
			if len(md.Brokers) < 3 {
				short++
				lastShort = describePartitions(md.Topics[topic])
			}
		}
		time.Sleep(100 * time.Millisecond) // the polling period
	}
	stop()
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("%d records acknowledged in %v; %d Metadata answers, %d with a broker missing; load average %s",
		acks.len(), watch, polls, short, strings.Fields(string(load) + " ?")[0])
	if short > 0 {
		t.Fatalf("a healthy broker was fenced under load (%d of %d answers; last %s)", short, polls, lastShort)
	}
	c.checkAckedAt(topic, acks)
}

func (c *netCluster) checkAckedAt(topic string, acks *ackLog) {
	c.t.Helper()
	checkAckedAt(c.t, c.clientSeeds(), topic, acks)
}
