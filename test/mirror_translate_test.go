package test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/mirror"
)

// waitGroupAt waits until group's committed offsets of topic on adm are
// want, by partition.
func waitGroupAt(t *testing.T, adm *kadm.Client, group, topic string, want map[int32]int64) {
	t.Helper()
	waitState(t, 30*time.Second, "group "+group+" at its offsets", func() (bool, string) {
		o, err := adm.FetchOffsets(testContext(t, 10*time.Second), group)
		if err != nil {
			return false, err.Error()
		}
		got := map[int32]int64{}
		for p := range want {
			at, _ := o.Lookup(topic, p)
			got[p] = at.At
		}
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("committed %v, want %v", got, want)
	})
}

// A target that is not Sluice (kfake) cannot keep offsets: the mirror
// copies records at least once with their keys, values, headers and
// timestamps, in order per partition, writes offset syncs, translates a
// group's committed offsets through them and writes them as checkpoints. Stopped and started again, it
// resumes after its last sync without losing a record, and translates
// through the syncs it wrote before the restart.
func TestMirrorToANonSluiceTargetTranslatesOffsets(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	src.createTopic("orders", 2, nil)
	kf, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	dseeds := kf.ListenAddrs()

	cl := src.client(kgo.DefaultProduceTopic("orders"))
	produce := func(from, n int) {
		for i := from; i < from+n; i++ {
			produceSync(t, cl, &kgo.Record{Key: []byte(fmt.Sprint(i % 17)), Value: []byte(fmt.Sprintf("order-%04d", i)),
				Headers: []kgo.RecordHeader{{Key: "n", Value: []byte(fmt.Sprint(i))}}})
		}
	}
	produce(0, 200)
	srcAdm := src.admin()
	commits := kadm.Offsets{}
	commits.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 50, LeaderEpoch: -1})
	commits.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 30, LeaderEpoch: -1})
	if err := srcAdm.CommitAllOffsets(testContext(t, 10*time.Second), "billing", commits); err != nil {
		t.Fatal(err)
	}

	cfg := mirror.Config{Groups: regexp.MustCompile(`^billing$`), SyncGroupOffsetsInterval: 100 * time.Millisecond}
	_, stop := runMirror(t, []string{src.addr}, dseeds, cfg)
	dstAdm := kadm.NewClient(newClient(t, dseeds[0], kgo.SeedBrokers(dseeds...)))
	same := func(s string) string { return s }
	waitCaughtUp(t, srcAdm, dstAdm, same, "orders")
	want := readAll(t, []string{src.addr}, "orders", false)
	got := readAll(t, dseeds, "orders", false)
	// A dense source: the offsets match here too. The producer IDs are
	// the mirror's own.
	for _, r := range append(got, want...) {
		r.ProducerID, r.ProducerEpoch = 0, 0
	}
	sameRecords(t, "orders copied to kfake", got, want)
	waitGroupAt(t, dstAdm, "billing", "orders", map[int32]int64{0: 50, 1: 30})
	// The translated offsets are also checkpoints, as MirrorMaker 2
	// writes them: the last record per group partition wins.
	waitState(t, 30*time.Second, "checkpoints written", func() (bool, string) {
		cps := map[string]string{}
		for _, r := range readAll(t, dseeds, mirror.CheckpointTopic("source"), false) {
			var k struct {
				Group     string `json:"group"`
				Topic     string `json:"topic"`
				Partition int32  `json:"partition"`
			}
			var v struct {
				TargetTopic string `json:"target_topic"`
				Upstream    int64  `json:"upstream"`
				Downstream  int64  `json:"downstream"`
			}
			if err := json.Unmarshal(r.Key, &k); err != nil {
				return false, fmt.Sprintf("checkpoint key %q: %v", r.Key, err)
			}
			if err := json.Unmarshal(r.Value, &v); err != nil {
				return false, fmt.Sprintf("checkpoint value %q: %v", r.Value, err)
			}
			cps[fmt.Sprintf("%s %s/%d", k.Group, k.Topic, k.Partition)] = fmt.Sprintf("%s %d->%d", v.TargetTopic, v.Upstream, v.Downstream)
		}
		want := map[string]string{"billing orders/0": "orders 50->50", "billing orders/1": "orders 30->30"}
		return fmt.Sprint(cps) == fmt.Sprint(want), fmt.Sprintf("checkpoints %v", cps)
	})
	// syncedUpTo waits until the offset syncs reach the last records of
	// the source, and returns them per partition.
	syncedUpTo := func(what string) map[int32]int64 {
		t.Helper()
		last := map[int32]int64{}
		for _, r := range readAll(t, []string{src.addr}, "orders", false) {
			last[r.Partition] = r.Offset
		}
		waitState(t, 30*time.Second, what, func() (bool, string) {
			synced := map[int32]int64{}
			for _, r := range readAll(t, dseeds, mirror.OffsetSyncTopic("source"), false) {
				var k struct {
					Partition int32 `json:"partition"`
				}
				var v struct {
					Source int64 `json:"source"`
				}
				if json.Unmarshal(r.Key, &k) == nil && json.Unmarshal(r.Value, &v) == nil {
					synced[k.Partition] = max(synced[k.Partition], v.Source)
				}
			}
			return fmt.Sprint(synced) == fmt.Sprint(last), fmt.Sprintf("synced %v, last %v", synced, last)
		})
		return last
	}
	first := syncedUpTo("offset syncs up to the first records")
	produce(200, 100)
	syncedUpTo("offset syncs up to the later records")
	// Stopped and started again, the mirror still translates through the
	// syncs it wrote before (the history survives in the offset-sync
	// topic): a group committed just after the first records maps
	// exactly, though later syncs exist.
	stop()
	audit := kadm.Offsets{}
	for p, o := range first {
		audit.Add(kadm.Offset{Topic: "orders", Partition: p, At: o + 1, LeaderEpoch: -1})
	}
	if err := srcAdm.CommitAllOffsets(testContext(t, 10*time.Second), "audit", audit); err != nil {
		t.Fatal(err)
	}
	cfg.Groups = regexp.MustCompile(`^(billing|audit)$`)
	produce(300, 50)
	runMirror(t, []string{src.addr}, dseeds, cfg)
	waitGroupAt(t, dstAdm, "audit", "orders", map[int32]int64{0: first[0] + 1, 1: first[1] + 1})
	want = readAll(t, []string{src.addr}, "orders", false)
	waitState(t, 60*time.Second, "the restarted mirror copies the rest", func() (bool, string) {
		n := targetTotal(testContext(t, 10*time.Second), dstAdm, "orders")
		return n >= int64(len(want)), fmt.Sprintf("%d of %d", n, len(want))
	})
	got = readAll(t, dseeds, "orders", false)
	// At least once, in order per partition: the target's values, with
	// repeats dropped, are the source's.
	byPart := func(rs []*kgo.Record) map[int32][]string {
		out := map[int32][]string{}
		for _, r := range rs {
			l := out[r.Partition]
			if n := len(l); n > 0 && l[n-1] >= string(r.Value) {
				continue // a record copied again after the restart
			}
			out[r.Partition] = append(l, string(r.Value))
		}
		return out
	}
	w, g := byPart(want), byPart(got)
	for p, vs := range w {
		if fmt.Sprint(g[p]) != fmt.Sprint(vs) {
			t.Fatalf("partition %d: target holds %d distinct records in order, source %d", p, len(g[p]), len(vs))
		}
	}
}
