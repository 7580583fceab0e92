package txn

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fencing a transaction-version-2 producer (KIP-890 part 2): the fence
// bumps the epoch and the abort bumps it again, as every version-2 EndTxn
// does, so the fenced producer's EndTxn at its old epoch is two below the
// current one and is fenced instead of being taken for a retry.

// addV5 sends AddPartitionsToTxn v5 (a transaction-version-2 producer) and
// returns the code of each partition.
func (h *harness) addV5(id string, pid int64, epoch int16, topic string, partitions ...int32) []int16 {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 5
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = topic, partitions
	tx.Topics = append(tx.Topics, rt)
	req.Transactions = append(req.Transactions, tx)
	var codes []int16
	for _, tx := range h.c.AddPartitionsToTxn(h.ctx, req).Transactions {
		for _, t := range tx.Topics {
			for _, p := range t.Partitions {
				codes = append(codes, p.ErrorCode)
			}
		}
	}
	return codes
}

func (h *harness) mustAddV5(id string, pid int64, epoch int16, topic string, partitions ...int32) {
	h.t.Helper()
	for _, code := range h.addV5(id, pid, epoch, topic, partitions...) {
		if code != 0 {
			h.t.Fatalf("AddPartitionsToTxn v5 %s: %v", id, kerr.ErrorForCode(code))
		}
	}
}

// wantZombieFenced checks that the producer at (pid, epoch) can neither
// end a transaction nor start one.
func wantZombieFenced(t *testing.T, h *harness, pid int64, epoch int16) {
	t.Helper()
	abort := h.end(5, "a", pid, epoch, false)
	wantCode(t, "zombie EndTxn v5 abort", abort.ErrorCode, kerr.ProducerFenced.Code)
	if abort.ProducerID != -1 || abort.ProducerEpoch != -1 {
		t.Errorf("zombie EndTxn v5 abort handed out producer %d epoch %d", abort.ProducerID, abort.ProducerEpoch)
	}
	wantCode(t, "zombie EndTxn v5 commit", h.end(5, "a", pid, epoch, true).ErrorCode, kerr.ProducerFenced.Code)
	wantCode(t, "zombie AddPartitionsToTxn v5", h.addV5("a", pid, epoch, "t", 1)[0], kerr.ProducerFenced.Code)
}

// A new instance's InitProducerId aborts the version-2 transaction of the
// old one at epoch+2; the old producer's EndTxn v5 at its epoch is fenced.
func TestInitProducerIDFencesV2ProducerTwoEpochsUp(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAddV5("a", pid, epoch, "t", 0)

	wantCode(t, "InitProducerId of the new instance", h.init("a", 4, -1, -1).ErrorCode, kerr.ConcurrentTransactions.Code)
	h.wait()
	want := []MarkerRequest{{ProducerID: pid, ProducerEpoch: epoch + 2, Commit: false, CoordinatorEpoch: testEpoch,
		Partitions: map[string][]int32{"t": {0}}}}
	if got := h.markers.requests(); !equalMarkers(got, want) {
		t.Errorf("markers %+v, want %+v", got, want)
	}
	if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "PrepareAbort@2", "CompleteAbort@2"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	wantZombieFenced(t, h, pid, epoch)

	resp := h.init("a", 4, -1, -1)
	if resp.ErrorCode != 0 || resp.ProducerID != pid || resp.ProducerEpoch != epoch+3 {
		t.Fatalf("retry of the new instance: %v id %d epoch %d, want id %d epoch %d", codeName(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch, pid, epoch+3)
	}
	wantZombieFenced(t, h, pid, epoch)
}

// A timed-out version-2 transaction is aborted at epoch+2: its producer's
// EndTxn v5, abort or commit, is fenced (Kafka answers PRODUCER_FENCED for
// an epoch that is neither the current one nor one below it).
func TestTimedOutV2TransactionFencesProducerTwoEpochsUp(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAddV5("a", pid, epoch, "t", 0)
	h.clock.advance(10*time.Second + time.Millisecond)
	h.c.Tick(h.ctx)
	h.wait()
	if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "PrepareAbort@2", "CompleteAbort@2"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	wantZombieFenced(t, h, pid, epoch)
	if d := h.describe("a"); d.State != "CompleteAbort" || d.ProducerEpoch != epoch+2 {
		t.Errorf("describe %+v, want CompleteAbort at epoch %d", d, epoch+2)
	}
}

// A version-2 fence whose write failed keeps its epoch in memory and the
// next fence writes the same one, not a third bump.
func TestFailedV2FenceKeepsItsEpoch(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAddV5("a", pid, epoch, "t", 0)
	h.clock.advance(time.Minute)
	h.log.fail = []error{kerr.NotEnoughReplicas}
	h.c.Tick(h.ctx)
	wantCode(t, "zombie EndTxn v5 after a failed fence", h.end(5, "a", pid, epoch, false).ErrorCode, kerr.ProducerFenced.Code)
	h.c.Tick(h.ctx)
	h.wait()
	if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "PrepareAbort@2", "CompleteAbort@2"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	wantZombieFenced(t, h, pid, epoch)
}

// Near the end of the epochs the fence stops at Short.MaxValue, which no
// client holds: the producer one below it is fenced, not taken for a
// retry, and the next InitProducerId moves the ID to a new producer ID.
func TestV2FenceAtExhaustedEpochStopsAtMax(t *testing.T) {
	for _, start := range []int16{math.MaxInt16 - 2, math.MaxInt16 - 1} {
		log := newFakeLog()
		p := New(Config{Partitions: testPartitions}).PartitionFor("a")
		b, end := buildLog(t, valueRecord("a", txnValue{producerID: 42, producerEpoch: start, timeoutMs: 1000,
			state: stateOngoing, startMs: 5, updateMs: 6, tv: 2, prevProducerID: -1, nextProducerID: -1,
			partitions: partitionSet{{"t", 0}: {}}}))
		log.put(p, b, end)
		h := newHarnessWith(t, log, func(*Config) {})
		h.c.Tick(h.ctx)
		h.wait()
		if d := h.describe("a"); d.State != "CompleteAbort" || d.ProducerID != 42 || d.ProducerEpoch != math.MaxInt16 {
			t.Fatalf("from epoch %d: describe %+v, want CompleteAbort of 42 at %d", start, d, math.MaxInt16)
		}
		wantZombieFenced(t, h, 42, start)
		wantZombieFenced(t, h, 42, math.MaxInt16-1)
		resp := h.init("a", 4, -1, -1)
		if resp.ErrorCode != 0 || resp.ProducerID != 1000 || resp.ProducerEpoch != 0 {
			t.Errorf("from epoch %d: InitProducerId: %v id %d epoch %d, want id 1000 epoch 0", start, codeName(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch)
		}
	}
}

// A transaction-version-1 fence bumps the epoch once; its producer's
// EndTxn must match the epoch exactly, so it is fenced.
func TestV1FenceBumpsOnce(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAdd("a", pid, epoch, "t", 0)
	h.clock.advance(time.Minute)
	h.c.Tick(h.ctx)
	h.wait()
	if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "PrepareAbort@1", "CompleteAbort@1"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	wantCode(t, "zombie EndTxn v4", h.end(4, "a", pid, epoch, true).ErrorCode, kerr.ProducerFenced.Code)
}

// After EndTxn v5 at an exhausted epoch the producer holds its new
// producer ID while the markers are still being written: its next
// AddPartitionsToTxn or AddOffsetsToTxn is answered
// CONCURRENT_TRANSACTIONS, which it retries, and not the fatal
// INVALID_PRODUCER_ID_MAPPING.
func TestAddDuringRotationIsConcurrentTransactions(t *testing.T) {
	log := newFakeLog()
	p := New(Config{Partitions: testPartitions}).PartitionFor("a")
	b, end := buildLog(t, valueRecord("a", txnValue{producerID: 42, producerEpoch: math.MaxInt16 - 1, timeoutMs: 1000,
		state: stateOngoing, startMs: 5, updateMs: 6, tv: 2, prevProducerID: -1, nextProducerID: -1,
		partitions: partitionSet{{"t", 0}: {}}}))
	log.put(p, b, end)
	h := newHarnessWith(t, log, func(*Config) {})
	h.markers.block = make(chan struct{})
	resp := h.end(5, "a", 42, math.MaxInt16-1, true)
	if resp.ErrorCode != 0 || resp.ProducerID != 1000 || resp.ProducerEpoch != 0 {
		t.Fatalf("EndTxn v5: %v id %d epoch %d, want id 1000 epoch 0", codeName(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch)
	}
	wantCode(t, "AddPartitionsToTxn v5 with the new ID", h.addV5("a", 1000, 0, "t", 0)[0], kerr.ConcurrentTransactions.Code)
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.Version = 4
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = "a", 1000, 0, "g"
	wantCode(t, "AddOffsetsToTxn with the new ID", h.c.AddOffsetsToTxn(h.ctx, req).ErrorCode, kerr.ConcurrentTransactions.Code)
	close(h.markers.block)
	h.wait()
	h.mustAddV5("a", 1000, 0, "t", 0)
	wantCode(t, "AddPartitionsToTxn v5 with the old ID", h.addV5("a", 42, math.MaxInt16-1, "t", 0)[0], kerr.InvalidProducerIDMapping.Code)
}

// A marker refused as fenced (a newer producer epoch or coordinator owns
// the transaction) stops the sending, as Kafka's
// TransactionMarkerRequestCompletionHandler does: no endless retries. The
// transaction stays prepared, answering CONCURRENT_TRANSACTIONS, until the
// partition is loaded again, which completes it.
func TestFencedMarkersStopSending(t *testing.T) {
	for _, fenced := range []*kerr.Error{kerr.InvalidProducerEpoch, kerr.ProducerFenced, kerr.TransactionCoordinatorFenced} {
		t.Run(fenced.Message, func(t *testing.T) {
			h := newHarness(t)
			pid, epoch := h.begin("a")
			h.mustAdd("a", pid, epoch, "t", 0)
			h.markers.failures, h.markers.err = -1, fenced
			wantCode(t, "EndTxn", h.end(4, "a", pid, epoch, true).ErrorCode, 0)
			done := make(chan struct{})
			go func() { h.wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("still sending fenced markers after %d tries", len(h.markers.requests()))
			}
			if n := len(h.markers.requests()); n != 1 {
				t.Errorf("%d marker requests, want 1", n)
			}
			if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "PrepareCommit@0"}; !slices.Equal(got, want) {
				t.Errorf("records %v, want %v", got, want)
			}
			wantCode(t, "EndTxn retry", h.end(4, "a", pid, epoch, true).ErrorCode, kerr.ConcurrentTransactions.Code)

			h.markers.mu.Lock()
			h.markers.failures = 0
			h.markers.mu.Unlock()
			p := h.c.PartitionFor("a")
			h.c.Unload(p)
			if err := h.c.Load(h.ctx, p, testEpoch+1); err != nil {
				t.Fatal(err)
			}
			h.wait()
			if d := h.describe("a"); d.State != "CompleteCommit" {
				t.Errorf("after a reload: %+v, want CompleteCommit", d)
			}
		})
	}
}
