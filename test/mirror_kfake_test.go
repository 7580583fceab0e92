package test

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/mirror"
)

// A source that is not Sluice (franz-go's kfake): the mirror needs only the
// Kafka protocol from it. Records from two producers and a transactional
// one, with headers, land on the Sluice target at their kfake offsets, and
// a group's committed offsets follow under the renamed topic.
func TestMirrorFromKfakeKeepsOffsets(t *testing.T) {
	t.Parallel()
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "clicks"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	seeds := kf.ListenAddrs()
	dst := startBroker(t, nil)

	for i := range 2 {
		cl := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("clicks"))
		for j := range 150 {
			produceSync(t, cl, &kgo.Record{Key: []byte(fmt.Sprintf("user-%d", j%13)), Value: []byte(fmt.Sprintf("click %d-%d", i, j)),
				Headers: []kgo.RecordHeader{{Key: "producer", Value: []byte(fmt.Sprint(i))}}})
		}
	}
	txn := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("clicks"), kgo.TransactionalID("kf-txn"))
	for round := range 3 {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 8 {
			produceSync(t, txn, &kgo.Record{Partition: int32(j % 2), Value: []byte(fmt.Sprintf("txn %d-%d", round, j))})
		}
		if err := txn.EndTransaction(testContext(t, 30*time.Second), kgo.TransactionEndTry(round != 1)); err != nil {
			t.Fatal(err)
		}
	}
	// A group commits on the source.
	srcAdm := kadm.NewClient(newClient(t, seeds[0], kgo.SeedBrokers(seeds...)))
	commits := kadm.Offsets{}
	commits.Add(kadm.Offset{Topic: "clicks", Partition: 0, At: 40, LeaderEpoch: -1})
	commits.Add(kadm.Offset{Topic: "clicks", Partition: 1, At: 7, LeaderEpoch: -1})
	if err := srcAdm.CommitAllOffsets(testContext(t, 10*time.Second), "dashboards", commits); err != nil {
		t.Fatal(err)
	}

	runMirror(t, seeds, []string{dst.addr}, mirror.Config{
		SourceAlias: "kf", RenameFormat: "{source}.{topic}",
		Groups: regexp.MustCompile(`^dashboards$`), SyncGroupOffsetsInterval: 100 * time.Millisecond,
	})
	dstAdm := dst.admin()
	waitCaughtUp(t, srcAdm, dstAdm, func(s string) string { return "kf." + s }, "clicks")
	sameRecords(t, "clicks (read_uncommitted)", readAll(t, []string{dst.addr}, "kf.clicks", false), readAll(t, seeds, "clicks", false))
	committed := readAll(t, []string{dst.addr}, "kf.clicks", true)
	sameRecords(t, "clicks (read_committed)", committed, readAll(t, seeds, "clicks", true))
	if len(committed) != 300+16 {
		t.Fatalf("read_committed on the mirror: %d records, want 316 (the aborted transaction hidden)", len(committed))
	}
	waitGroupAt(t, dstAdm, "dashboards", "kf.clicks", map[int32]int64{0: 40, 1: 7})
}
