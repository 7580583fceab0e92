package test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestNetfaultNoFalseFencingUnderLoad runs a three-broker cluster with the
// default session timeout (3 s) and heartbeat interval (500 ms) under a
// steady acks=all load (each write fsynced on three brokers) and checks
// that no healthy broker is fenced: every Metadata answer, sampled every
// 100 ms from each broker in turn, lists all three brokers; then that
// every acknowledged record is in place.
func TestNetfaultNoFalseFencingUnderLoad(t *testing.T) {
	c := startNetCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "1"}).asCluster()
	const topic = "fencing"
	ctx := testContext(t, 2*time.Minute)
	createTopicIn(c, topic, 6, 3, minISR2)
	acks := newAckLog()
	stop := produceLoop(ctx, c.client(kgo.MaxBufferedRecords(2000)), topic, acks)
	const watch = 20 * time.Second
	sample := time.NewTicker(100 * time.Millisecond)
	defer sample.Stop()
	end := time.After(watch)
	polls, short := 0, 0
	var lastShort string
	for watching := true; watching; {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		md, err := metadataAt(rctx, c, c.ids()[polls%3], topic)
		cancel()
		if err == nil {
			polls++
			if len(md.Brokers) < 3 {
				short++
				lastShort = describePartitions(md.Topics[topic])
			}
		}
		select {
		case <-sample.C:
		case <-end:
			watching = false
		}
	}
	stop()
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("%d records acknowledged in %v; %d Metadata answers, %d with a broker missing; load average %s",
		acks.len(), watch, polls, short, strings.Fields(string(load) + " ?")[0])
	if short > 0 {
		t.Fatalf("a healthy broker was fenced under load (%d of %d answers; last %s)", short, polls, lastShort)
	}
	checkAckedAt(t, c.seeds(), topic, acks)
}
