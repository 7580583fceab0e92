package test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/mirror"
)

// kfakePair starts a source and a target kfake cluster (neither is Sluice,
// so the mirror translates offsets) with the source topics given, each of
// the given partitions and configs.
func kfakePair(t *testing.T, partitions int32, configs map[string]*string, topics ...string) (sseeds, dseeds []string, dst *kfake.Cluster) {
	t.Helper()
	src, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	dst, err = kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dst.Close)
	sseeds, dseeds = src.ListenAddrs(), dst.ListenAddrs()
	adm := kadm.NewClient(newClient(t, sseeds[0], kgo.SeedBrokers(sseeds...)))
	for _, topic := range topics {
		if _, err := adm.CreateTopic(testContext(t, 10*time.Second), partitions, -1, configs, topic); err != nil {
			t.Fatal(err)
		}
	}
	return sseeds, dseeds, dst
}

// offsetSyncs reads the offset syncs on the target, per source partition
// in the order written.
func offsetSyncs(t *testing.T, dseeds []string) map[int32][]int64 {
	t.Helper()
	out := map[int32][]int64{}
	for _, r := range readAll(t, dseeds, mirror.OffsetSyncTopic("source"), false) {
		var k struct {
			Partition int32 `json:"partition"`
			Claim     bool  `json:"claim"`
		}
		var v struct {
			Source int64 `json:"source"`
		}
		if json.Unmarshal(r.Key, &k) == nil && !k.Claim && json.Unmarshal(r.Value, &v) == nil {
			out[k.Partition] = append(out[k.Partition], v.Source)
		}
	}
	return out
}

// values are the records' values by partition, a large one shown by its
// size.
func values(rs []*kgo.Record) map[int32][]string {
	out := map[int32][]string{}
	for _, r := range rs {
		v := string(r.Value)
		if len(v) > 16 {
			v = fmt.Sprintf("<%d bytes>", len(v))
		}
		out[r.Partition] = append(out[r.Partition], v)
	}
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// A source topic that takes records above a megabyte (max.message.bytes
// 4 MiB) is created on the target with the same limit, and the mirror's
// producer batches up to the target topic's limit: a 1.5 MB record is
// copied once, in its place, not failed by a producer default of 1 MB.
func TestTranslatingMirrorCopiesARecordAboveOneMegabyte(t *testing.T) {
	t.Parallel()
	sseeds, dseeds, _ := kfakePair(t, 1, map[string]*string{"max.message.bytes": kadm.StringPtr(fmt.Sprint(4 << 20))}, "big")
	cl := newClient(t, sseeds[0], kgo.SeedBrokers(sseeds...), kgo.DefaultProduceTopic("big"), kgo.ProducerBatchMaxBytes(4<<20))
	for i := range 10 {
		produceSync(t, cl, &kgo.Record{Value: []byte(fmt.Sprintf("v%d", i))})
	}
	big := randomBytes(1500 << 10) // incompressible
	produceSync(t, cl, &kgo.Record{Value: big})
	produceSync(t, cl, &kgo.Record{Value: []byte("c")}, &kgo.Record{Value: []byte("d")})
	runMirror(t, sseeds, dseeds, mirror.Config{})
	waitState(t, 30*time.Second, "offset syncs up to the last record", func() (bool, string) {
		s := offsetSyncs(t, dseeds)[0]
		return len(s) > 0 && s[len(s)-1] == 12, fmt.Sprint(s)
	})
	got := values(readAll(t, dseeds, "big", false))[0]
	want := []string{"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "<1536000 bytes>", "c", "d"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("target holds %v, want %v", got, want)
	}
}

// A record the target topic refuses (larger than its max.message.bytes)
// stops its partition, reported in Status with the reason: no offset
// sync is written at or past it (a restarted mirror would skip it), the
// records after it are not copied again and again, and the other
// partitions keep copying.
func TestTranslatingMirrorStopsAPartitionWhoseRecordTheTargetRefuses(t *testing.T) {
	t.Parallel()
	sseeds, dseeds, _ := kfakePair(t, 2, map[string]*string{"max.message.bytes": kadm.StringPtr(fmt.Sprint(4 << 20))}, "big")
	// The target topic exists, empty, with a 64 KiB limit: adopted.
	dstAdm := kadm.NewClient(newClient(t, dseeds[0], kgo.SeedBrokers(dseeds...)))
	if _, err := dstAdm.CreateTopic(testContext(t, 10*time.Second), 2, -1, map[string]*string{"max.message.bytes": kadm.StringPtr(fmt.Sprint(64 << 10))}, "big"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, sseeds[0], kgo.SeedBrokers(sseeds...), kgo.DefaultProduceTopic("big"),
		kgo.ProducerBatchMaxBytes(4<<20), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 10 {
		produceSync(t, cl, &kgo.Record{Value: []byte(fmt.Sprintf("v%d", i))})
	}
	m, _ := runMirror(t, sseeds, dseeds, mirror.Config{})
	waitState(t, 30*time.Second, "offset syncs up to offset 9", func() (bool, string) {
		s := offsetSyncs(t, dseeds)[0]
		return len(s) > 0 && s[len(s)-1] == 9, fmt.Sprint(s)
	})
	// Offsets 10, 11 and 12 of partition 0, in one batch.
	produceSync(t, cl, &kgo.Record{Value: randomBytes(200 << 10)}, &kgo.Record{Value: []byte("c")}, &kgo.Record{Value: []byte("d")})
	waitState(t, 30*time.Second, "partition 0 stopped", func() (bool, string) {
		_, parts := m.Status()
		for _, p := range parts {
			if p.SourceTopic == "big" && p.Partition == 0 && p.State == "stopped" && strings.Contains(p.Error, "source offset 10") && strings.Contains(p.Error, "MESSAGE_TOO_LARGE") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", parts)
	})
	produceSync(t, cl, &kgo.Record{Partition: 1, Value: []byte("e")})
	waitState(t, 30*time.Second, "partition 1 copied", func() (bool, string) {
		got := values(readAll(t, dseeds, "big", false))[1]
		return fmt.Sprint(got) == "[e]", fmt.Sprint(got)
	})
	// A mirror that restarted its copy every second would copy c and d
	// again within this window.
	time.Sleep(3 * time.Second)
	got := values(readAll(t, dseeds, "big", false))[0]
	if len(got) < 10 || fmt.Sprint(got[:10]) != "[v0 v1 v2 v3 v4 v5 v6 v7 v8 v9]" || len(got) > 12 {
		t.Errorf("partition 0 on the target holds %v, want v0..v9 and at most c and d once", got)
	}
	for p, s := range offsetSyncs(t, dseeds) {
		for _, o := range s {
			if p == 0 && o >= 10 {
				t.Errorf("offset syncs of partition 0 %v reach the refused record's offset 10", s)
			}
		}
	}
}

// A mirror claims the target topics it creates or adopts before copying
// into them, so that restarted before any offset sync (here: the only
// partition stopped at its first record, which the target refuses, while
// the record after it landed), it still knows the topic as its own and
// does not refuse it as holding records of its own.
func TestTranslatingMirrorRestartedBeforeItsFirstSyncKeepsItsTopic(t *testing.T) {
	t.Parallel()
	sseeds, dseeds, _ := kfakePair(t, 1, map[string]*string{"max.message.bytes": kadm.StringPtr(fmt.Sprint(4 << 20))}, "orders")
	dstAdm := kadm.NewClient(newClient(t, dseeds[0], kgo.SeedBrokers(dseeds...)))
	if _, err := dstAdm.CreateTopic(testContext(t, 10*time.Second), 1, -1, map[string]*string{"max.message.bytes": kadm.StringPtr(fmt.Sprint(64 << 10))}, "orders"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, sseeds[0], kgo.SeedBrokers(sseeds...), kgo.DefaultProduceTopic("orders"), kgo.ProducerBatchMaxBytes(4<<20))
	produceSync(t, cl, &kgo.Record{Value: randomBytes(200 << 10)}, &kgo.Record{Value: []byte("a")})
	stoppedAt0 := func(m *mirror.Mirror) func() (bool, string) {
		return func() (bool, string) {
			topics, parts := m.Status()
			for _, p := range parts {
				if p.State == "stopped" && strings.Contains(p.Error, "source offset 0") {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v %+v", topics, parts)
		}
	}
	m, stop := runMirror(t, sseeds, dseeds, mirror.Config{})
	waitState(t, 30*time.Second, "partition stopped", stoppedAt0(m))
	waitState(t, 30*time.Second, "the record after the refused one on the target", func() (bool, string) {
		n := targetTotal(testContext(t, 5*time.Second), dstAdm, "orders")
		return n == 1, fmt.Sprint(n)
	})
	stop()
	m, _ = runMirror(t, sseeds, dseeds, mirror.Config{})
	waitState(t, 30*time.Second, "partition stopped again", stoppedAt0(m))
	topics, _ := m.Status()
	if len(topics) != 1 || topics[0].State != mirror.StateMirroring {
		t.Fatalf("after the restart the topics are %+v, want orders mirroring", topics)
	}
}

// A planned stop writes the offset syncs of everything copied: started
// again, the mirror copies only what came after, not the last records
// again. The last record is copied just before the stop, sooner than a
// periodic sync would write it.
func TestTranslatingMirrorStoppedWritesItsLastSyncs(t *testing.T) {
	t.Parallel()
	sseeds, dseeds, _ := kfakePair(t, 1, nil, "orders")
	cl := newClient(t, sseeds[0], kgo.SeedBrokers(sseeds...), kgo.DefaultProduceTopic("orders"))
	for i := range 50 {
		produceSync(t, cl, &kgo.Record{Value: []byte(fmt.Sprintf("v%03d", i))})
	}
	dstAdm := kadm.NewClient(newClient(t, dseeds[0], kgo.SeedBrokers(dseeds...)))
	_, stop := runMirror(t, sseeds, dseeds, mirror.Config{})
	waitState(t, 30*time.Second, "synced to 49", func() (bool, string) {
		s := offsetSyncs(t, dseeds)[0]
		return len(s) > 0 && s[len(s)-1] == 49, fmt.Sprint(s)
	})
	produceSync(t, cl, &kgo.Record{Value: []byte("v050")})
	ctx := testContext(t, 30*time.Second)
	for targetTotal(ctx, dstAdm, "orders") != 51 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if s := offsetSyncs(t, dseeds)[0]; len(s) == 0 || s[len(s)-1] != 50 {
		t.Fatalf("after the stop the offset syncs are %v, want the last at 50", s)
	}
	for i := 51; i < 60; i++ {
		produceSync(t, cl, &kgo.Record{Value: []byte(fmt.Sprintf("v%03d", i))})
	}
	runMirror(t, sseeds, dseeds, mirror.Config{})
	waitState(t, 30*time.Second, "synced to 59", func() (bool, string) {
		s := offsetSyncs(t, dseeds)[0]
		return len(s) > 0 && s[len(s)-1] == 59, fmt.Sprint(s)
	})
	if n := targetTotal(testContext(t, 5*time.Second), dstAdm, "orders"); n != 60 {
		t.Fatalf("the target holds %d records, want 60 (none copied twice)", n)
	}
}

// Run returns soon after its context ends even when the target went away
// with copied records still unacknowledged: the round's last flush is
// bounded.
func TestTranslatingMirrorStopsWithTheTargetDown(t *testing.T) {
	t.Parallel()
	sseeds, dseeds, dstKf := kfakePair(t, 1, nil, "orders")
	cl := newClient(t, sseeds[0], kgo.SeedBrokers(sseeds...), kgo.DefaultProduceTopic("orders"))
	for i := range 20 {
		produceSync(t, cl, &kgo.Record{Value: []byte(fmt.Sprintf("v%03d", i))})
	}
	m, err := mirror.New(mirror.Config{Source: []kgo.Opt{kgo.SeedBrokers(sseeds...)}, Target: []kgo.Opt{kgo.SeedBrokers(dseeds...)},
		RefreshInterval: 300 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	dstAdm := kadm.NewClient(newClient(t, dseeds[0], kgo.SeedBrokers(dseeds...)))
	waitState(t, 30*time.Second, "copied", func() (bool, string) {
		n := targetTotal(testContext(t, 5*time.Second), dstAdm, "orders")
		return n == 20, fmt.Sprint(n)
	})
	dstKf.Close()
	for i := 20; i < 40; i++ {
		produceSync(t, cl, &kgo.Record{Value: []byte(fmt.Sprintf("v%03d", i))})
	}
	// The new records are fetched and handed to the producer, which
	// cannot deliver them.
	time.Sleep(time.Second)
	cancel()
	start := time.Now()
	select {
	case <-done:
		t.Logf("Run returned %v after its context ended", time.Since(start).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return 20s after its context ended (target down)")
	}
}

// A planned switch (the consumers stop, then the mirror, then promote)
// carries the groups' last commits, however recent: the mirror syncs group
// offsets once more when it stops, after its copying stopped, and once
// when it starts. Both into Sluice (offsets kept) and into another Kafka
// (offsets translated).
func TestMirrorStoppedSyncsTheGroupsLastCommits(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"sluice", "kfake"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(kf.Close)
			seeds := kf.ListenAddrs()
			var dseeds []string
			if target == "sluice" {
				dseeds = []string{startBroker(t, nil).addr}
			} else {
				dkf, err := kfake.NewCluster(kfake.NumBrokers(1))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(dkf.Close)
				dseeds = dkf.ListenAddrs()
			}
			cl := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("orders"))
			for i := range 30 {
				produceSync(t, cl, &kgo.Record{Value: []byte(fmt.Sprintf("v%d", i))})
			}
			srcAdm := kadm.NewClient(newClient(t, seeds[0], kgo.SeedBrokers(seeds...)))
			dstAdm := kadm.NewClient(newClient(t, dseeds[0], kgo.SeedBrokers(dseeds...)))
			commit := func(at int64) {
				c := kadm.Offsets{}
				c.Add(kadm.Offset{Topic: "orders", Partition: 0, At: at, LeaderEpoch: -1})
				if err := srcAdm.CommitAllOffsets(testContext(t, 10*time.Second), "billing", c); err != nil {
					t.Fatal(err)
				}
			}
			// An interval far longer than the test: only the syncs at
			// the start and at the stop copy the offsets.
			cfg := mirror.Config{Groups: regexp.MustCompile(`^billing$`), SyncGroupOffsetsInterval: time.Hour}
			_, stop := runMirror(t, seeds, dseeds, cfg)
			waitCaughtUp(t, srcAdm, dstAdm, func(s string) string { return s }, "orders")
			commit(20) // the consumers' last commit, then they stop
			stop()
			o, err := dstAdm.FetchOffsets(testContext(t, 10*time.Second), "billing")
			if err != nil {
				t.Fatal(err)
			}
			if at, ok := o.Lookup("orders", 0); !ok || at.At != 20 {
				t.Fatalf("after the mirror stopped, group billing is at %d on the target (found %v), want 20 where it stopped", at.At, ok)
			}
			// Started again, the mirror syncs at once.
			commit(30)
			runMirror(t, seeds, dseeds, cfg)
			waitGroupAt(t, dstAdm, "billing", "orders", map[int32]int64{0: 30})
		})
	}
}
