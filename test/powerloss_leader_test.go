package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPowerLossOfALeaderKeepsCommittedRecords cuts the power of one
// partition's leader after records written with acks=1 were replicated
// and read by a consumer (committed), and starts it again at once, well
// within the session timeout, so that it rejoins and keeps leading. Had
// the high watermark passed records the leader had not fsynced, its log
// would now lack them, its followers would truncate them, and new records
// would take their offsets. Every committed record stays at its offset.
func TestPowerLossOfALeaderKeepsCommittedRecords(t *testing.T) {
	t.Parallel()
	c := startInProcess(t, 3, map[string]string{
		"broker.session.timeout.ms":    "9000",
		"broker.heartbeat.interval.ms": "300",
		"replica.lag.time.max.ms":      "3000",
		"offsets.topic.num.partitions": "1",
	})
	const topic, n = "powerloss-leader", 40
	createTopicIn(c, topic, 1, 3, nil)
	cl := c.client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(0))
	ctx := testContext(t, 2*time.Minute)
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%03d", i)}).FirstErr(); err != nil {
			t.Fatalf("acks=1 produce %d: %v", i, err)
		}
	}
	adm := kadm.NewClient(cl)
	committed := func() bool {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return false
		}
		o, ok := ends.Lookup(topic, 0)
		return ok && o.Err == nil && o.Offset >= n
	}
	waitFor(t, 30*time.Second, "the high watermark to pass every record", committed)
	before := readAll(t, c.seeds(), topic, false)
	if len(before) != n {
		t.Fatalf("read %d committed records, want %d", len(before), n)
	}

	leader := leaderOf(c, topic, 0, 0)
	c.kill(leader)
	c.start(leader)
	waitISR(c, topic, 0, 3, time.Minute)
	// A restarted leader's high watermark starts from its checkpoint and
	// rises as its followers fetch; records lost would keep it below n.
	waitFor(t, 30*time.Second, "the high watermark to pass the committed records again", committed)
	after := readAll(t, c.seeds(), topic, false)
	if len(after) < n {
		t.Fatalf("%d records after the leader's power cut, want the %d committed", len(after), n)
	}
	for i, r := range before {
		if a := after[i]; a.Offset != r.Offset || string(a.Value) != string(r.Value) {
			t.Fatalf("offset %d held %s, now %d holds %s", r.Offset, r.Value, a.Offset, a.Value)
		}
	}
}
