package test

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 17's faults on replicated clusters: a source and a target of
// three brokers each, topics of replication factor 3 with
// min.insync.replicas 2 on both sides. While a producer writes to the
// source with acks=all, the mirror process is killed with SIGKILL, then
// the source leader of a partition, then the target leader of a
// partition (each restarted after the copy has moved on without it).
// Every record the source acknowledged is on the target exactly once, at
// its source offset, and both logs hold the same records. Both clusters
// are processes (their brokers killed with SIGKILL), or both in-process
// brokers (whose kill is a power cut).
func TestMirrorClusterSurvivesKill9OfMirrorAndLeaders(t *testing.T) {
	t.Parallel()
	settings := clusterSettings(map[string]string{"default.replication.factor": "3", "min.insync.replicas": "2"})
	for _, k := range clusterKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			mirrorClusterFaults(t, k.start(t, 3, settings), k.start(t, 3, settings))
		})
	}
}

func mirrorClusterFaults(t *testing.T, src, dst cluster) {
	const topic = "replicated"
	createTopicIn(src, topic, 3, 3, nil)

	acks := newAckLog()
	ctx := testContext(t, 6*time.Minute)
	stopProducing := produceLoop(ctx, acksAllProducer(src), topic, acks)
	defer stopProducing()
	mp := startMirrorProcess(t, "--source", strings.Join(src.seeds(), ","), "--target", strings.Join(dst.seeds(), ","),
		"--refresh-interval", "300ms")

	dstAdm := dst.admin()
	// progress waits until the target holds n more records than now.
	progress := func(what string, n int64) {
		t.Helper()
		start := max(targetTotal(ctx, dstAdm, topic), 0)
		waitState(t, 2*time.Minute, what, func() (bool, string) {
			got := targetTotal(ctx, dstAdm, topic)
			return got >= start+n, "target holds " + strconv.FormatInt(got, 10) + "; mirror output:\n" + tail(mp.logs(), 3000)
		})
	}
	// partProgress waits until the target's partition part holds n more
	// records than now: the copy of that very partition moved on.
	partProgress := func(what string, part int32, n int64) {
		t.Helper()
		end := func() int64 {
			ends, err := dstAdm.ListEndOffsets(ctx, topic)
			if err != nil {
				return -1
			}
			o, ok := ends.Lookup(topic, part)
			if !ok || o.Err != nil {
				return -1
			}
			return o.Offset
		}
		start := max(end(), 0)
		waitState(t, 2*time.Minute, what, func() (bool, string) {
			got := end()
			return got >= start+n, "partition " + strconv.Itoa(int(part)) + " holds " + strconv.FormatInt(got, 10) + "; mirror output:\n" + tail(mp.logs(), 3000)
		})
	}
	progress("first records mirrored", 2000)
	waitISR(dst, topic, 0, 3, time.Minute)

	mp.kill(syscall.SIGKILL)
	acks.waitFor(t, acks.len()+2000, time.Minute)
	mp.start()
	progress("mirroring after the mirror's kill -9", 2000)

	// The source leader of partition 0: the producer and the mirror both
	// move to the new leader; the mirror must neither skip nor repeat
	// what the old leader had committed.
	victim := waitISR(src, topic, 0, 3, time.Minute).Partitions[0].Leader
	t.Logf("kill source broker %d, leader of %s/0", victim, topic)
	src.kill(victim)
	partProgress("mirroring partition 0 from the new source leader", 0, 1000)
	src.start(victim)
	waitISR(src, topic, victim, 3, time.Minute)

	// The target leader of partition 1: appends in flight to it are
	// retried on its successor, which may already hold them.
	victim = waitISR(dst, topic, 0, 3, time.Minute).Partitions[1].Leader
	t.Logf("kill target broker %d, leader of %s/1", victim, topic)
	dst.kill(victim)
	partProgress("mirroring partition 1 to the new target leader", 1, 1000)
	dst.start(victim)
	waitISR(dst, topic, victim, 3, time.Minute)
	progress("mirroring after the target leader's restart", 1000)

	stopProducing()
	waitCaughtUp(t, src.admin(), dstAdm, func(s string) string { return s }, topic)
	checkAckedAt(t, dst.seeds(), topic, acks)
	sameRecords(t, topic, readAll(t, dst.seeds(), topic, false), readAll(t, src.seeds(), topic, false))
	if logs := mp.logs(); strings.Contains(logs, "stopped mirroring partition") {
		t.Fatalf("the mirror stopped a partition:\n%s", tail(logs, 3000))
	}
}
