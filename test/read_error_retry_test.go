package test

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/faultfs"
	"github.com/sluice-io/sluice/internal/log"
)

// TestCoordinatorLoadIsTriedAgainAfterAReadError starts a broker whose
// __consumer_offsets reads fail for a while: the group coordinator's load
// fails, and is tried again, so the group's committed offsets come back
// once the disk reads again, without a leader change (a single broker has
// none to give).
func TestCoordinatorLoadIsTriedAgainAfterAReadError(t *testing.T) {
	t.Parallel()
	in := faultfs.NewInjector(nil)
	c := startFSCluster(t, 1, map[string]string{"offsets.topic.num.partitions": "1"}, func(int) log.FS { return in }).asCluster()
	const topic, group = "load-retry", "load-retry-group"
	createTopicIn(c, topic, 1, 1, nil)
	adm := kadm.NewClient(c.client())
	ctx := testContext(t, time.Minute)
	offsets := kadm.Offsets{}
	offsets.AddOffset(topic, 0, 7, -1)
	if resp, err := adm.CommitOffsets(ctx, group, offsets); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	adm.Close()

	c.stop(1)
	// The first read of the segment is the open's check of where its
	// recovery point lets the scan start; the coordinator's replay reads
	// next, and fails.
	remove := in.Inject(faultfs.Rule{Ops: faultfs.OpRead, Path: "__consumer_offsets-0/00000000000000000000.log", Err: syscall.EIO, After: 1})
	c.start(1)
	waitFor(t, 20*time.Second, "a faulted read of __consumer_offsets", func() bool { return in.Hits(faultfs.OpRead) > 0 })
	time.Sleep(200 * time.Millisecond) // the load fails meanwhile
	remove()

	adm = kadm.NewClient(c.client())
	defer adm.Close()
	waitForErr(t, 30*time.Second, "the committed offset back", func() error {
		fetched, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return err
		}
		if err := fetched.Error(); err != nil {
			return err
		}
		o, ok := fetched.Lookup(topic, 0)
		if !ok || o.At != 7 {
			return errors.New("offset 7 not fetched")
		}
		return nil
	})
}

// TestPartitionOpenIsTriedAgainAfterAReadError starts a broker whose
// reads of one partition's segment fail for a while, so that the
// partition cannot open: it is tried again without any metadata change,
// and serves its records once the disk reads again.
func TestPartitionOpenIsTriedAgainAfterAReadError(t *testing.T) {
	t.Parallel()
	in := faultfs.NewInjector(nil)
	c := startFSCluster(t, 1, nil, func(int) log.FS { return in }).asCluster()
	const topic = "open-retry"
	createTopicIn(c, topic, 1, 1, nil)
	cl := c.client(kgo.ProducerLinger(0))
	ctx := testContext(t, time.Minute)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("kept")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cl.Close()

	c.stop(1)
	remove := in.Inject(faultfs.Rule{Ops: faultfs.OpRead, Path: topic + "-0/00000000000000000000.log", Err: syscall.EIO})
	c.start(1)
	waitFor(t, 20*time.Second, "a faulted read of the segment", func() bool { return in.Hits(faultfs.OpRead) > 0 })
	time.Sleep(200 * time.Millisecond) // the open fails meanwhile
	remove()

	recs := consumeAll(t, c.seeds()[0], topic, 1)
	if string(recs[0].Value) != "kept" {
		t.Fatalf("read %q, want kept", recs[0].Value)
	}
}
