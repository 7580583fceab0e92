package test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Mirror settings on every node of a 3-broker target: each node's mirror
// copies only the partitions that node leads (its /metrics shows just
// those), so each partition is copied once, and only the controller's
// mirror creates mirror topics. Killing the controller (kill -9) moves
// both roles: its partitions are copied by their new leaders, and a
// source topic created afterwards is created on the target by the new
// controller's mirror. Every record ends up at its source offset.
// (Processes: the mirror settings are sluice serve's.)
func TestServeMirrorRunsWhereThePartitionIsLed(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	src.createTopic("spread", 6, nil)
	dst := startCluster(t, 3, clusterSettings(map[string]string{
		"default.replication.factor":             "3",
		"sluice.http.listen":                     "127.0.0.1:0",
		"sluice.mirror.source.bootstrap.servers": src.addr,
		"sluice.mirror.topics":                   "^spread",
		"sluice.mirror.refresh.interval.ms":      "300",
	})).asCluster()
	cl := src.client()
	produceN := func(topic string, from, n int) {
		t.Helper()
		var rs []*kgo.Record
		for i := from; i < from+n; i++ {
			rs = append(rs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: fmt.Appendf(nil, "%s-%d", topic, i)})
		}
		produceSync(t, cl, rs...)
	}
	produceN("spread", 0, 300)

	srcAdm, dstAdm := src.admin(), dst.admin()
	same := func(s string) string { return s }
	waitCaughtUp(t, srcAdm, dstAdm, same, "spread")
	sameRecords(t, "spread", readAll(t, dst.seeds(), "spread", false), readAll(t, []string{src.addr}, "spread", false))

	// Each partition's lag is exported by its leader's mirror alone.
	td := waitISR(dst, "spread", 0, 3, time.Minute)
	waitState(t, 30*time.Second, "each partition mirrored by its leader only", func() (bool, string) {
		seen := ""
		ok := true
		for _, id := range dst.ids() {
			s := scrapeMetrics(t, dst.httpAddr(id))
			for _, p := range td.Partitions.Sorted() {
				_, has := s.value("sluice_mirror_lag_records", "topic", "spread", "partition", strconv.Itoa(int(p.Partition)))
				if has != (p.Leader == id) {
					ok = false
				}
				if has {
					seen += fmt.Sprintf(" p%d@node%d", p.Partition, id)
				}
			}
		}
		return ok, "mirrored:" + seen + "; leaders: " + describePartitions(td)
	})

	// kill -9 the controller: the partitions it led move, and so does
	// the creation of mirror topics.
	victim := controllerOf(dst, liveBroker(dst))
	if victim < 1 {
		t.Fatal("the target names no controller")
	}
	t.Logf("kill -9 node %d, the target's controller (%s)", victim, describePartitions(td))
	dst.kill(victim)
	produceN("spread", 300, 300)
	src.createTopic("spread-late", 2, nil)
	produceN("spread-late", 0, 100)
	waitCaughtUp(t, srcAdm, dstAdm, same, "spread", "spread-late")
	dst.start(victim)
	produceN("spread", 600, 100)
	waitCaughtUp(t, srcAdm, dstAdm, same, "spread", "spread-late")
	for _, topic := range []string{"spread", "spread-late"} {
		sameRecords(t, topic, readAll(t, dst.seeds(), topic, false), readAll(t, []string{src.addr}, topic, false))
	}
}
