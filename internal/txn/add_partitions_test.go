package txn

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Adding partitions starts the transaction (Ongoing, started now); adding
// partitions already in it answers at once without a write.
func TestAddPartitionsStartsTransactionAndSkipsKnownPartitions(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAdd("a", pid, epoch, "t", 0)
	h.clock.advance(5000)
	h.mustAdd("a", pid, epoch, "t", 1, 0)
	h.mustAdd("a", pid, epoch, "t", 1)
	if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "Ongoing@0"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	d := h.describe("a")
	if d.State != "Ongoing" || d.StartTimestamp != 1_700_000_000_000 || len(d.Topics) != 1 || !slices.Equal(d.Topics[0].Partitions, []int32{0, 1}) {
		t.Errorf("describe %+v", d)
	}
}

func TestAddPartitionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version int16
		id      string
		pid     int64 // 0: the right one
		epoch   int16 // -2: the right one
		topic   string
		want    []int16
	}{
		{"unknown transactional id", 3, "nobody", 0, -2, "t", []int16{kerr.InvalidProducerIDMapping.Code, kerr.InvalidProducerIDMapping.Code}},
		{"other producer id", 3, "a", 99, -2, "t", []int16{kerr.InvalidProducerIDMapping.Code, kerr.InvalidProducerIDMapping.Code}},
		{"stale epoch", 3, "a", 0, 5, "t", []int16{kerr.ProducerFenced.Code, kerr.ProducerFenced.Code}},
		{"stale epoch before v2", 1, "a", 0, 5, "t", []int16{kerr.InvalidProducerEpoch.Code, kerr.InvalidProducerEpoch.Code}},
		{"empty transactional id", 3, "", 0, -2, "t", []int16{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}},
		{"partition of no topic", 3, "a", 0, -2, "missing", []int16{kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicOrPartition.Code}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			pid, epoch := h.begin("a")
			if tc.pid != 0 {
				pid = tc.pid
			}
			if tc.epoch != -2 {
				epoch = tc.epoch
			}
			got := h.add(tc.version, tc.id, pid, epoch, tc.topic, 0, 1)
			if !slices.Equal(got, tc.want) {
				t.Errorf("codes %v, want %v", got, tc.want)
			}
		})
	}
}

// A batch naming a missing partition is not attempted for the others.
func TestAddPartitionsUnknownPartitionFailsTheOthersAsNotAttempted(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = "a", pid, epoch
	for _, topic := range []string{"t", "missing"} {
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
	}
	resp := h.c.AddPartitionsToTxn(h.ctx, req)
	wantCode(t, "t-0", resp.Topics[0].Partitions[0].ErrorCode, kerr.OperationNotAttempted.Code)
	wantCode(t, "missing-0", resp.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition.Code)
	if d := h.describe("a"); d.State != "Empty" {
		t.Errorf("state %s, want Empty", d.State)
	}
}

// While a transaction is being prepared or completed, AddPartitionsToTxn
// and InitProducerId get CONCURRENT_TRANSACTIONS.
func TestRequestsDuringCompletionGetConcurrentTransactions(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAdd("a", pid, epoch, "t", 0)
	h.markers.block = make(chan struct{})
	wantCode(t, "EndTxn", h.end(3, "a", pid, epoch, true).ErrorCode, 0)
	wantCode(t, "AddPartitionsToTxn", h.add(3, "a", pid, epoch, "t", 1)[0], kerr.ConcurrentTransactions.Code)
	wantCode(t, "InitProducerId", h.init("a", 4, -1, -1).ErrorCode, kerr.ConcurrentTransactions.Code)
	wantCode(t, "EndTxn commit retry", h.end(3, "a", pid, epoch, true).ErrorCode, kerr.ConcurrentTransactions.Code)
	wantCode(t, "EndTxn abort", h.end(3, "a", pid, epoch, false).ErrorCode, kerr.ConcurrentTransactions.Code)
	close(h.markers.block)
	h.wait()
	wantCode(t, "EndTxn commit retry after completion", h.end(3, "a", pid, epoch, true).ErrorCode, 0)
}

// KIP-890 part 1: VerifyOnly answers per partition whether it is already in
// the ongoing transaction, and writes nothing.
func TestAddPartitionsVerifyOnly(t *testing.T) {
	for _, tc := range []struct {
		version     int16
		wantMissing int16
	}{
		{4, kerr.InvalidTxnState.Code},
		{5, kerr.TransactionAbortable.Code},
	} {
		h := newHarness(t)
		pid, epoch := h.begin("a")
		h.mustAdd("a", pid, epoch, "t", 0)
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version = tc.version
		for _, e := range []struct {
			id    string
			pid   int64
			epoch int16
		}{{"a", pid, epoch}, {"a", pid, epoch + 1}, {"nobody", 1, 0}} {
			tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
			tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = e.id, e.pid, e.epoch, true
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic, rt.Partitions = "t", []int32{0, 1}
			tx.Topics = append(tx.Topics, rt)
			req.Transactions = append(req.Transactions, tx)
		}
		resp := h.c.AddPartitionsToTxn(h.ctx, req)
		var got [][]int16
		for _, tx := range resp.Transactions {
			var codes []int16
			for _, p := range tx.Topics[0].Partitions {
				codes = append(codes, p.ErrorCode)
			}
			got = append(got, codes)
		}
		want := [][]int16{
			{0, tc.wantMissing},
			{kerr.ProducerFenced.Code, kerr.ProducerFenced.Code},
			{kerr.InvalidProducerIDMapping.Code, kerr.InvalidProducerIDMapping.Code},
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("v%d: codes %v, want %v", tc.version, got, want)
		}
		if got := h.states("a"); len(got) != 2 {
			t.Errorf("v%d: verification wrote records: %v", tc.version, got)
		}
	}
}

// KIP-98: AddOffsetsToTxn adds the group's __consumer_offsets partition.
func TestAddOffsetsAddsTheGroupsOffsetsPartition(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = "a", pid, epoch, "g"
	wantCode(t, "AddOffsetsToTxn", h.c.AddOffsetsToTxn(h.ctx, req).ErrorCode, 0)
	d := h.describe("a")
	if len(d.Topics) != 1 || d.Topics[0].Topic != "__consumer_offsets" || !slices.Equal(d.Topics[0].Partitions, []int32{groupPartition}) {
		t.Errorf("topics %+v", d.Topics)
	}
	req.Version, req.ProducerEpoch = 1, epoch+1
	wantCode(t, "AddOffsetsToTxn v1 stale epoch", h.c.AddOffsetsToTxn(h.ctx, req).ErrorCode, kerr.InvalidProducerEpoch.Code)
}
