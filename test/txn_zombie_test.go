package test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Zombie producers: requests of a producer whose transaction was fenced or
// that ended must not reach the logs (KIP-98 fencing, KIP-890).

// zombieRequest sends a raw request through cl (routed to the right
// coordinator by franz-go) and fails the test on a transport error.
func zombieRequest[R kmsg.Response](t *testing.T, ctx context.Context, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return resp.(R)
}

// zombieInit sends InitProducerId for a transactional ID and returns the
// producer ID and epoch, retrying while the coordinator is busy.
func zombieInit(t *testing.T, ctx context.Context, cl *kgo.Client, id string) (int64, int16) {
	t.Helper()
	var pid int64
	var epoch int16
	txnWaitFor(t, 20*time.Second, "InitProducerId "+id, func() (bool, string) {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = 60_000
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp := zombieRequest[*kmsg.InitProducerIDResponse](t, ctx, cl, req)
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
		return resp.ErrorCode == 0, fmt.Sprint(kerr.ErrorForCode(resp.ErrorCode))
	})
	return pid, epoch
}

// zombieOffsetCommit sends TxnOffsetCommit, as an anonymous member
// (generation -1), of offset 5 of topic's partition 0 and returns the
// partition's code.
func zombieOffsetCommit(t *testing.T, ctx context.Context, cl *kgo.Client, id, group, topic string, pid int64, epoch int16) int16 {
	t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = id, group, pid, epoch
	req.Generation = -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 5, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := zombieRequest[*kmsg.TxnOffsetCommitResponse](t, ctx, cl, req)
	return resp.Topics[0].Partitions[0].ErrorCode
}

// zombieEnd sends EndTxn at the client's highest version.
func zombieEnd(t *testing.T, ctx context.Context, cl *kgo.Client, id string, pid int64, epoch int16, commit bool) *kmsg.EndTxnResponse {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	return zombieRequest[*kmsg.EndTxnResponse](t, ctx, cl, req)
}

// wantErrCode fails the test unless got is want's code (nil: no error).
func wantErrCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	var code int16
	if want != nil {
		code = want.Code
	}
	if got != code {
		t.Fatalf("%s: %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(code))
	}
}

// A new instance fences a transaction-version-2 producer (KIP-890 part 2)
// that has a transaction open: the old producer's EndTxn v5 at its epoch
// is PRODUCER_FENCED, not taken for a retry that hands it the next epoch,
// so it cannot go on to commit another transaction.
func TestTxnV2ZombieEndTxnAfterTakeoverIsFenced(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	const topic, id, group = "txn-zombie-v2", "zombie-v2", "zombie-v2-group"
	ctx := testContext(t, 50*time.Second)
	cl := txnClient(t, []string{b.addr})
	txnCreateTopic(t, cl, topic, 1, 1, nil)

	pid, epoch := zombieInit(t, ctx, cl, id)
	// TxnOffsetCommit v5 adds the group's partition to the transaction.
	wantErrCode(t, "TxnOffsetCommit v5", zombieOffsetCommit(t, ctx, cl, id, group, topic, pid, epoch), nil)

	// The new instance's first InitProducerId aborts the open transaction
	// and asks it to retry; the old producer ends its transaction first.
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(id), 60_000
	req.ProducerID, req.ProducerEpoch = -1, -1
	init := zombieRequest[*kmsg.InitProducerIDResponse](t, ctx, cl, req)
	wantErrCode(t, "InitProducerId of the new instance", init.ErrorCode, kerr.ConcurrentTransactions)
	txnWaitState(t, cl, id, "CompleteAbort")

	abort := zombieEnd(t, ctx, cl, id, pid, epoch, false)
	if abort.Version < 5 {
		t.Fatalf("EndTxn sent at v%d, want v5", abort.Version)
	}
	wantErrCode(t, "the zombie's EndTxn v5 abort", abort.ErrorCode, kerr.ProducerFenced)
	wantErrCode(t, "the zombie's EndTxn v5 commit", zombieEnd(t, ctx, cl, id, pid, epoch, true).ErrorCode, kerr.ProducerFenced)
	for _, e := range []int16{epoch, epoch + 1} {
		code := zombieOffsetCommit(t, ctx, cl, id, group, topic, pid, e)
		if !txnIsFenced(kerr.ErrorForCode(code)) {
			t.Fatalf("the zombie's TxnOffsetCommit v5 at epoch %d: %v, want fenced", e, kerr.ErrorForCode(code))
		}
	}
	d := txnDescribe(t, cl, id)
	if d.State != "CompleteAbort" || d.ProducerID != pid || d.ProducerEpoch != epoch+2 || len(d.Topics) != 0 {
		t.Fatalf("after the zombie: %+v, want CompleteAbort of producer %d at epoch %d", d, pid, epoch+2)
	}
	if pid2, epoch2 := zombieInit(t, ctx, cl, id); pid2 != pid || epoch2 != epoch+3 {
		t.Fatalf("the new instance got producer %d epoch %d, want %d epoch %d", pid2, epoch2, pid, epoch+3)
	}
}

// A franz-go producer (transaction version 2) whose transaction timed out
// is fenced: its abort fails as fenced, and its next transaction cannot
// produce or commit; read_committed never shows its records.
func TestTxnV2TimedOutProducerCannotGoOn(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	const topic, id = "txn-zombie-timeout", "zombie-timeout"
	ctx := testContext(t, 50*time.Second)
	seeds := []string{b.addr}
	admin := txnClient(t, seeds)
	txnCreateTopic(t, admin, topic, 1, 1, nil)

	prod := txnProducer(t, seeds, id, kgo.TransactionTimeout(2*time.Second))
	// franz-go opts in to transaction version 2 once it has seen the
	// broker's features, from its first ApiVersions answer: its first
	// transaction is a version-2 one (the epoch checks below fail
	// otherwise).
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("late-0")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	pid, epoch, err := prod.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := txnWaitState(t, admin, id, "CompleteAbort")
	if d.ProducerID != pid || d.ProducerEpoch != epoch+2 {
		t.Fatalf("after the timeout: %+v, want producer %d at epoch %d", d, pid, epoch+2)
	}

	err = prod.EndTransaction(ctx, kgo.TryAbort)
	if !txnIsFenced(err) {
		t.Fatalf("abort of the timed-out transaction: %v, want PRODUCER_FENCED", err)
	}
	// Whatever the client does next, nothing of its commits.
	if err := prod.BeginTransaction(); err == nil {
		perr := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("late-1")}).FirstErr()
		cerr := prod.EndTransaction(ctx, kgo.TryCommit)
		if perr == nil && cerr == nil {
			t.Fatal("the fenced producer committed a new transaction")
		}
	}
	txnExpectEnds(t, admin, topic, map[int32]int64{0: 2}, map[int32]int64{0: 2})
	if rc := txnReadAll(t, seeds, topic, 1, true); !slices.Equal(txnValues(rc[0]), nil) {
		t.Fatalf("read_committed: %v, want [warm-0]", txnValues(rc[0]))
	}
}

// A transaction-version-1 producer's TxnOffsetCommit (below v5) that
// arrives after its transaction was aborted is refused (KIP-890 part 1
// verification): INVALID_TXN_STATE, or TRANSACTION_ABORTABLE from v4. It
// opens no transaction on __consumer_offsets, so the group's offsets stay
// stable. Inside a transaction the same request is accepted.
func TestTxnOffsetCommitAfterAbortIsRefused(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	const topic = "txn-late-offsets"
	ctx := testContext(t, 50*time.Second)
	admin := txnClient(t, []string{b.addr})
	txnCreateTopic(t, admin, topic, 1, 1, nil)

	for _, tc := range []struct {
		version int16
		want    *kerr.Error
	}{
		{3, kerr.InvalidTxnState},
		{4, kerr.TransactionAbortable},
	} {
		t.Run(fmt.Sprint("v", tc.version), func(t *testing.T) {
			id, group := fmt.Sprintf("late-offsets-v%d", tc.version), fmt.Sprintf("late-offsets-v%d-group", tc.version)
			v := kversion.Stable()
			v.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
			v.SetMaxKeyVersion(int16(kmsg.TxnOffsetCommit), tc.version)
			v.SetMaxKeyVersion(int16(kmsg.OffsetFetch), 7) // one group, require_stable
			cl := txnClient(t, []string{b.addr}, kgo.MaxVersions(v))

			pid, epoch := zombieInit(t, ctx, cl, id)
			add := kmsg.NewPtrAddOffsetsToTxnRequest()
			add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = id, pid, epoch, group
			wantErrCode(t, "AddOffsetsToTxn", zombieRequest[*kmsg.AddOffsetsToTxnResponse](t, ctx, cl, add).ErrorCode, nil)
			wantErrCode(t, "EndTxn abort", zombieEnd(t, ctx, cl, id, pid, epoch, false).ErrorCode, nil)

			code := zombieOffsetCommit(t, ctx, cl, id, group, topic, pid, epoch)
			wantErrCode(t, fmt.Sprintf("TxnOffsetCommit v%d after the abort", tc.version), code, tc.want)
			code = zombieOffsetCommit(t, ctx, cl, id, group, topic, pid, epoch+1)
			wantErrCode(t, fmt.Sprintf("TxnOffsetCommit v%d at a newer epoch", tc.version), code, kerr.InvalidProducerEpoch)
			wantStableOffset(t, ctx, cl, group, topic, -1)

			// In a transaction: accepted, and visible once committed.
			wantErrCode(t, "AddOffsetsToTxn", zombieRequest[*kmsg.AddOffsetsToTxnResponse](t, ctx, cl, add).ErrorCode, nil)
			wantErrCode(t, "TxnOffsetCommit in the transaction", zombieOffsetCommit(t, ctx, cl, id, group, topic, pid, epoch), nil)
			wantErrCode(t, "EndTxn commit", zombieEnd(t, ctx, cl, id, pid, epoch, true).ErrorCode, nil)
			wantStableOffset(t, ctx, cl, group, topic, 5)
		})
	}
}

// wantStableOffset waits until OffsetFetch v7 with require_stable answers
// the group's offset of topic's partition 0 without
// UNSTABLE_OFFSET_COMMIT, and checks it.
func wantStableOffset(t *testing.T, ctx context.Context, cl *kgo.Client, group, topic string, want int64) {
	t.Helper()
	var got int64
	var code int16
	txnWaitFor(t, 15*time.Second, "a stable offset of "+group, func() (bool, string) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group, req.RequireStable = group, true
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		resp := zombieRequest[*kmsg.OffsetFetchResponse](t, ctx, cl, req)
		code = resp.ErrorCode
		if code == 0 && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
			p := resp.Topics[0].Partitions[0]
			code, got = p.ErrorCode, p.Offset
		}
		return code == 0, fmt.Sprintf("%v offset %d", kerr.ErrorForCode(code), got)
	})
	if errors.Is(kerr.ErrorForCode(code), kerr.UnstableOffsetCommit) || got != want {
		t.Fatalf("OffsetFetch require_stable of %s: %v offset %d, want offset %d", group, kerr.ErrorForCode(code), got, want)
	}
}

// A transactional batch for a partition its transaction does not hold
// (KIP-890 part 1 verification) is refused as Kafka refuses it:
// INVALID_TXN_STATE to a Produce below v11, which does not know
// TRANSACTION_ABORTABLE, and TRANSACTION_ABORTABLE from v11. Nothing is
// written.
func TestTxnProduceOutsideItsTransactionByVersion(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	const topic = "txn-unverified"
	ctx := testContext(t, 50*time.Second)
	admin := txnClient(t, []string{b.addr})
	txnCreateTopic(t, admin, topic, 1, 1, nil)
	for _, tc := range []struct {
		version int16
		want    *kerr.Error
	}{
		{10, kerr.InvalidTxnState},
		{11, kerr.TransactionAbortable},
	} {
		id := fmt.Sprintf("unverified-v%d", tc.version)
		v := kversion.Stable()
		v.SetMaxKeyVersion(int16(kmsg.Produce), tc.version)
		cl := txnClient(t, []string{b.addr}, kgo.MaxVersions(v))
		pid, epoch := zombieInit(t, ctx, cl, id)

		batch := idempotentBatch(pid, epoch, 0, 1)
		batch[22] |= 0x10 // transactional
		binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))
		req := kmsg.NewPtrProduceRequest()
		req.TransactionID, req.Acks, req.TimeoutMillis = &id, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = 0, batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := zombieRequest[*kmsg.ProduceResponse](t, ctx, cl, req)
		wantErrCode(t, fmt.Sprintf("Produce v%d outside the transaction", tc.version), resp.Topics[0].Partitions[0].ErrorCode, tc.want)
	}
	txnExpectEnds(t, admin, topic, map[int32]int64{0: 0}, map[int32]int64{0: 0})
}
