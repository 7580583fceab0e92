package test

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestAlterReplicaLogDirsIsPacedByTheAlterLogDirsRate moves a partition of
// 6 MiB between two log directories under
// replica.alter.log.dirs.io.max.bytes.per.second = 1 MiB/s (Kafka's
// AlterLogDirs quota): the move takes at least half of size/rate, and the
// sluice_replication_throttle_* series of alter_log_dirs show its bound and
// the bytes copied. Moved back under a bound of 64 KiB/s (about a minute
// and a half), the move is held back and finishes at once when the bound
// is deleted.
func TestAlterReplicaLogDirsIsPacedByTheAlterLogDirsRate(t *testing.T) {
	t.Parallel()
	const size, rate = 6 << 20, 1 << 20
	a, b := t.TempDir(), t.TempDir()
	br := startBroker(t, map[string]string{
		"log.dirs":           a + "," + b,
		"sluice.http.listen": "127.0.0.1:0",
		// Two samples of a second: the first burst the rate allows is
		// one second's worth, not ten.
		"replication.quota.window.num": "2",
	})
	httpAddr := br.node.HTTPAddr()
	br.createTopic("paced", 1, nil)
	cl := br.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("paced"),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20))
	var recs []*kgo.Record
	for range size / (64 << 10) {
		value := make([]byte, 64<<10)
		rand.Read(value)
		recs = append(recs, &kgo.Record{Value: value})
	}
	if err := cl.ProduceSync(testContext(t, 30*time.Second), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	s := scrapeMetrics(t, httpAddr)
	for _, q := range []string{"leader", "follower", "alter_log_dirs"} {
		for _, name := range []string{"sluice_replication_throttle_bytes_total", "sluice_replication_throttle_rate_bytes_per_second",
			"sluice_replication_throttle_exceeded"} {
			s.must(t, name, "throttle", q)
		}
		if v, ok := s.value("sluice_replication_throttle_limit_bytes_per_second", "throttle", q); ok {
			t.Fatalf("%s throttle reports a limit of %v with none set", q, v)
		}
	}

	adm := br.admin()
	const name = "replica.alter.log.dirs.io.max.bytes.per.second"
	setBound := func(v int) {
		t.Helper()
		alterBroker(t, adm, 1, name, strconv.Itoa(v))
		waitForErr(t, 10*time.Second, "the bound in the metrics", func() error {
			if got, _ := scrapeMetrics(t, httpAddr).value("sluice_replication_throttle_limit_bytes_per_second", "throttle", "alter_log_dirs"); got != float64(v) {
				return fmt.Errorf("limit %v, want %d", got, v)
			}
			return nil
		})
	}
	setBound(rate)
	from := describeReplica(t, adm, "paced", 0).current
	to := map[string]string{a: b, b: a}[from]
	start := time.Now()
	if err := alterLogDir(t, adm, to, "paced", 0); err != nil {
		t.Fatalf("move to %s: %v", to, err)
	}
	waitFor(t, time.Minute, "the paced move to finish", func() bool {
		d := describeReplica(t, adm, "paced", 0)
		return d.current == to && d.future == ""
	})
	took := time.Since(start)
	if want := time.Duration(size / rate / 2 * int(time.Second)); took < want {
		t.Fatalf("a move of %d bytes at %d bytes/s took %v, want at least %v", size, rate, took, want)
	}
	if got := scrapeMetrics(t, httpAddr).must(t, "sluice_replication_throttle_bytes_total", "throttle", "alter_log_dirs"); got < size {
		t.Fatalf("alter_log_dirs throttle recorded %v bytes of a %d-byte move", got, size)
	}
	t.Logf("%d bytes moved in %v at a bound of %d bytes/s", size, took.Round(time.Millisecond), rate)

	// Back, under a bound that would take about 96 s.
	setBound(64 << 10)
	if err := alterLogDir(t, adm, from, "paced", 0); err != nil {
		t.Fatalf("move back to %s: %v", from, err)
	}
	waitForErr(t, 30*time.Second, "the move back to be throttled", func() error {
		if v := scrapeMetrics(t, httpAddr).must(t, "sluice_replication_throttle_exceeded", "throttle", "alter_log_dirs"); v != 1 {
			return fmt.Errorf("exceeded %v", v)
		}
		if d := describeReplica(t, adm, "paced", 0); d.future != from {
			return fmt.Errorf("no future replica in %s: %+v", from, d)
		}
		return nil
	})
	lifted := time.Now()
	deleteBrokerConfig(t, adm, 1, name)
	waitFor(t, 30*time.Second, "the move back to finish once the bound is deleted", func() bool {
		d := describeReplica(t, adm, "paced", 0)
		return d.current == from && d.future == ""
	})
	t.Logf("the move back finished %v after the bound was deleted", time.Since(lifted).Round(time.Millisecond))
	s = scrapeMetrics(t, httpAddr)
	if v, ok := s.value("sluice_replication_throttle_limit_bytes_per_second", "throttle", "alter_log_dirs"); ok {
		t.Fatalf("limit %v after the bound was deleted", v)
	}
	if v := s.must(t, "sluice_replication_throttle_exceeded", "throttle", "alter_log_dirs"); v != 0 {
		t.Fatalf("exceeded %v with no bound", v)
	}
	checkAckedReadBack(t, br.addr, "paced", nil)
}
