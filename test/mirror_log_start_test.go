package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/mirror"
)

// The source's log start offset is mirrored: when retention deletes the
// oldest records on the source of an idle partition, the mirror topic's
// log start moves to the same offset, so the target holds exactly the
// source's records and a consumer from the start begins at the same
// offset on both. The target keeps its records in one segment, so its
// own retention could not have moved its log start.
func TestMirrorFollowsSourceLogStart(t *testing.T) {
	t.Parallel()
	src := startBroker(t, map[string]string{"log.retention.check.interval.ms": "100", "log.segment.bytes": "16384",
		"log.segment.delete.delay.ms": "0"})
	dst := startBroker(t, nil)
	const topic = "expiring"
	src.createTopic(topic, 1, nil)
	cl := src.client(kgo.ProducerBatchMaxBytes(4096), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	var recs []*kgo.Record
	for i := range 600 {
		recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%0200d", i)})
	}
	produceSync(t, cl, recs...)
	runMirror(t, []string{src.addr}, []string{dst.addr}, mirror.Config{})
	srcAdm, dstAdm := src.admin(), dst.admin()
	same := func(s string) string { return s }
	waitCaughtUp(t, srcAdm, dstAdm, same, topic)
	if got := logStartOffset(t, dstAdm, topic, 0); got != 0 {
		t.Fatalf("mirror topic starts at %d before any deletion", got)
	}

	// Retention deletes the oldest segments on the source; nothing new
	// is written.
	resps, err := srcAdm.AlterTopicConfigs(testContext(t, 10*time.Second),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: kadm.StringPtr("40000")}}, topic)
	if err != nil || resps[0].Err != nil {
		t.Fatalf("set retention.bytes on the source: %v %v", err, resps)
	}
	var start int64
	waitFor(t, 30*time.Second, "retention on the source", func() bool {
		start = logStartOffset(t, srcAdm, topic, 0)
		return start > 0
	})
	waitState(t, 30*time.Second, "the mirror topic's log start follows the source's", func() (bool, string) {
		start = logStartOffset(t, srcAdm, topic, 0)
		got := logStartOffset(t, dstAdm, topic, 0)
		return got == start, fmt.Sprintf("source starts at %d, target at %d", start, got)
	})
	got, want := readAll(t, []string{dst.addr}, topic, false), readAll(t, []string{src.addr}, topic, false)
	if len(want) == 0 || want[0].Offset != start {
		t.Fatalf("the source's first record is at %v, its log start %d", want, start)
	}
	sameRecords(t, topic, got, want)
}
