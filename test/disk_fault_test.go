package test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/faultfs"
	"github.com/sluice-io/sluice/internal/log"
)

// Disk faults under a broker (issue 15), injected below its partition
// logs (package faultfs): a failed write, a failed fsync, a full disk or a
// short write takes the log directory offline. Producers and consumers of
// its partitions get KAFKA_STORAGE_ERROR, nothing more is acknowledged,
// the broker keeps answering, and after a restart on a healthy disk every
// record acknowledged before the fault is there, in place.
func TestDiskFaultsAnswerKafkaStorageError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rule faultfs.Rule
	}{
		{"fsync EIO", faultfs.Rule{Ops: faultfs.OpAnySync, Err: syscall.EIO}},
		{"write EIO", faultfs.Rule{Ops: faultfs.OpWrite, Path: ".log", Err: syscall.EIO}},
		{"full disk", faultfs.Rule{Ops: faultfs.OpWrite, Path: ".log", Err: syscall.ENOSPC}},
		{"short write", faultfs.Rule{Ops: faultfs.OpWrite, Path: ".log", Short: true, Err: syscall.ENOSPC}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := faultfs.NewInjector(nil)
			c := startFSCluster(t, 1, nil, func(int) log.FS { return in }).asCluster()
			const topic = "faulty"
			createTopicIn(c, topic, 1, 1, nil)
			cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(0), kgo.ProducerLinger(0),
				kgo.RecordDeliveryTimeout(10*time.Second))
			ctx := testContext(t, time.Minute)
			acks := newAckLog()
			for i := range 50 {
				r := &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "before-%03d", i)}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatalf("produce before the fault: %v", err)
				}
				acks.add(r)
			}
			in.Inject(tc.rule)
			err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("doomed")}).FirstErr()
			if !errors.Is(err, kerr.KafkaStorageError) {
				t.Fatalf("produce after the fault: %v, want KAFKA_STORAGE_ERROR", err)
			}
			if in.Hits(tc.rule.Ops) == 0 {
				t.Fatal("the fault never fired")
			}
			// Nothing more is acknowledged, and reads fail too: the
			// directory is offline until a restart.
			err = cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("later")}).FirstErr()
			if !errors.Is(err, kerr.KafkaStorageError) {
				t.Fatalf("produce to the offline directory: %v, want KAFKA_STORAGE_ERROR", err)
			}
			if err := fetchErr(ctx, c.seeds(), topic); !errors.Is(err, kerr.KafkaStorageError) {
				t.Fatalf("fetch from the offline directory: %v, want KAFKA_STORAGE_ERROR", err)
			}
			// The broker still answers what does not need the disk.
			if _, err := c.admin().ListTopics(ctx); err != nil {
				t.Fatalf("metadata with the directory offline: %v", err)
			}

			// The operator replaces the disk and restarts.
			in.SetRules(nil)
			c.restart(1)
			checkAckedAt(t, c.seeds(), topic, acks)
		})
	}
}

// fetchErr sends one Fetch for partition 0 of topic from offset 0 and
// returns the partition's error (franz-go's consumer retries a
// KAFKA_STORAGE_ERROR quietly, so the request is made by hand).
func fetchErr(ctx context.Context, seeds []string, topic string) error {
	return fetchErrAt(ctx, seeds, topic, 0)
}

// fetchErrAt is fetchErr from offset.
func fetchErrAt(ctx context.Context, seeds []string, topic string, offset int64) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 100, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, md.Topics[topic].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return fmt.Errorf("fetch answered %d topics", len(resp.Topics))
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

// In a cluster, an fsync that fails on a partition leader's disk takes
// that broker's log directory offline, and since it was the broker's only
// one, the broker hands its leaderships to in-sync replicas: producers
// with acks=all keep going on the new leader within seconds, and every
// record acknowledged before or after is read back in place.
func TestDiskFaultOnLeaderFailsOverToHealthyReplica(t *testing.T) {
	t.Parallel()
	injectors := []*faultfs.Injector{faultfs.NewInjector(nil), faultfs.NewInjector(nil), faultfs.NewInjector(nil)}
	c := startFSCluster(t, 3, fastFailover, func(i int) log.FS { return injectors[i] }).asCluster()
	const topic = "failover"
	leader := createTopicIn(c, topic, 1, 3, minISR2).Partitions[0].Leader
	ctx := testContext(t, 2*time.Minute)

	acks := newAckLog()
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond),
		kgo.RecordDeliveryTimeout(time.Minute))
	stop := produceLoop(ctx, cl, topic, acks)
	acks.waitFor(t, 500, time.Minute)

	injectors[leader-1].Inject(faultfs.Rule{Ops: faultfs.OpAnySync, Err: syscall.EIO})
	failedAt := time.Now()
	// Acknowledgements already on their way may still arrive; what counts
	// is a new leader, and records acknowledged by it.
	waitLeaderNot(c, topic, 0, 0, leader, 30*time.Second)
	moved := time.Since(failedAt)
	before := acks.len()
	acks.waitFor(t, before+500, time.Minute)
	t.Logf("leader %d's fsync failed; another broker led %v later, and took 500 more records %v after the fault",
		leader, moved.Round(time.Millisecond), time.Since(failedAt).Round(time.Millisecond))
	stop()
	if injectors[leader-1].Hits(faultfs.OpAnySync) == 0 {
		t.Fatal("the leader's fsync never failed")
	}
	checkAckedAt(t, c.seeds(), topic, acks)
}

// A broker with two log directories, one of which fails: its replicas
// there are reported offline (KIP-112), so the partitions it led from that
// directory move to another in-sync replica and it leaves their ISRs within
// seconds (the ISR would drop it only after replica.lag.time.max.ms, 30 s
// here, and leadership would never move), while its partitions in the
// other directory keep their leader and ISR. Producers with acks=all keep
// going and every acknowledged record is read back in place.
func TestDiskFaultInOneLogDirMovesOnlyItsReplicas(t *testing.T) {
	t.Parallel()
	injectors := []*faultfs.Injector{faultfs.NewInjector(nil), faultfs.NewInjector(nil), faultfs.NewInjector(nil)}
	dirs := []string{t.TempDir(), t.TempDir()}
	settings := map[string]string{
		"broker.session.timeout.ms":    "3000",
		"broker.heartbeat.interval.ms": "300",
		"replica.lag.time.max.ms":      "30000",
		"offsets.topic.num.partitions": "1",
	}
	c := startFSCluster(t, 3, settings, func(i int) log.FS { return injectors[i] },
		withBrokerSettings(func(id int32, _ string) map[string]string {
			if id != 1 {
				return nil
			}
			return map[string]string{"log.dirs": dirs[0] + "," + dirs[1]}
		})).asCluster()
	const topic = "one-dir-fails"
	createTopicIn(c, topic, 6, 3, minISR2)
	ctx := testContext(t, 2*time.Minute)

	// Where broker 1 keeps each partition, and which it leads.
	described, err := c.admin().DescribeBrokerLogDirs(ctx, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirOf := map[int32]string{}
	for dir, d := range described {
		for p := range d.Topics[topic] {
			dirOf[p] = dir
		}
	}
	md, err := metadataAt(ctx, c, 1, topic)
	if err != nil {
		t.Fatal(err)
	}
	failing := ""
	for p, pd := range md.Topics[topic].Partitions {
		if pd.Leader == 1 {
			failing = dirOf[p]
		}
	}
	if failing == "" || len(dirOf) != 6 {
		t.Fatalf("broker 1 leads no partition of %s, or holds %d of 6 (dirs %v)", topic, len(dirOf), dirOf)
	}
	var inFailing, inOther []int32
	for p, dir := range dirOf {
		if dir == failing {
			inFailing = append(inFailing, p)
		} else {
			inOther = append(inOther, p)
		}
	}
	t.Logf("broker 1 keeps partitions %v in %s (failing) and %v in the other directory", inFailing, failing, inOther)

	acks := newAckLog()
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond), kgo.RecordDeliveryTimeout(time.Minute))
	stop := produceLoop(ctx, cl, topic, acks)
	defer stop()
	acks.waitFor(t, 300, time.Minute)

	injectors[0].Inject(faultfs.Rule{Ops: faultfs.OpAnySync, Path: failing + "/", Err: syscall.EIO})
	failedAt := time.Now()
	waitFor(t, 20*time.Second, "broker 1 out of the ISR and leadership of its replicas in the failed directory", func() bool {
		md, err := metadataAt(ctx, c, 2, topic)
		if err != nil {
			return false
		}
		for _, p := range inFailing {
			pd := md.Topics[topic].Partitions[p]
			if pd.Leader == 1 || pd.Leader < 0 || slices.Contains(pd.ISR, 1) {
				return false
			}
		}
		return true
	})
	t.Logf("broker 1's replicas in the failed directory were out of their ISRs and leaderships %v after the fault",
		time.Since(failedAt).Round(time.Millisecond))
	before := acks.len()
	acks.waitFor(t, before+300, time.Minute)
	stop()
	if injectors[0].Hits(faultfs.OpAnySync) == 0 {
		t.Fatal("no fsync in the failing directory failed")
	}

	// Broker 1 is live, and its replicas in the other directory are where
	// they were: in the ISR, and leading what they led.
	md2, err := metadataAt(ctx, c, 2, topic)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(md2.Brokers, func(b kadm.BrokerDetail) bool { return b.NodeID == 1 }) {
		t.Fatal("broker 1 left the cluster")
	}
	for _, p := range inOther {
		was, now := md.Topics[topic].Partitions[p], md2.Topics[topic].Partitions[p]
		if now.Leader != was.Leader || !slices.Contains(now.ISR, 1) {
			t.Errorf("partition %d in the healthy directory: leader %d ISR %v, was leader %d ISR %v", p, now.Leader, now.ISR, was.Leader, was.ISR)
		}
	}
	checkAckedAt(t, c.seeds(), topic, acks)
}
