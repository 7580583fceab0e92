package txn

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// KIP-98: EndTxn writes PrepareCommit/PrepareAbort, answers, then the
// markers go to every partition at the transaction's epoch and the
// Complete* state is written with no partitions left.
func TestEndTxnCommitAndAbortWriteMarkersThenComplete(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprint("commit=", commit), func(t *testing.T) {
			h := newHarness(t)
			pid, epoch := h.begin("a")
			h.mustAdd("a", pid, epoch, "t", 2, 0)
			h.mustAdd("a", pid, epoch, "u", 1)
			resp := h.end(3, "a", pid, epoch, commit)
			wantCode(t, "EndTxn", resp.ErrorCode, 0)
			h.wait()
			want := []MarkerRequest{{ProducerID: pid, ProducerEpoch: epoch, Commit: commit, CoordinatorEpoch: testEpoch,
				Partitions: map[string][]int32{"t": {0, 2}, "u": {1}}}}
			if got := h.markers.requests(); !equalMarkers(got, want) {
				t.Errorf("markers %+v, want %+v", got, want)
			}
			prepare, complete := "PrepareAbort@0", "CompleteAbort@0"
			if commit {
				prepare, complete = "PrepareCommit@0", "CompleteCommit@0"
			}
			if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "Ongoing@0", prepare, complete}; !slices.Equal(got, want) {
				t.Errorf("records %v, want %v", got, want)
			}
			if d := h.describe("a"); len(d.Topics) != 0 || d.State != complete[:len(complete)-2] {
				t.Errorf("describe %+v", d)
			}
			// A retry of the same EndTxn succeeds; the other outcome is invalid.
			wantCode(t, "retry", h.end(3, "a", pid, epoch, commit).ErrorCode, 0)
			wantCode(t, "other outcome", h.end(3, "a", pid, epoch, !commit).ErrorCode, kerr.InvalidTxnState.Code)
		})
	}
}

func TestEndTxnErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version int16
		id      string
		pid     int64 // 0: the right one
		epoch   int16 // -2: the right one
		ongoing bool
		commit  bool
		want    int16
	}{
		{"commit with no transaction", 3, "a", 0, -2, false, true, kerr.InvalidTxnState.Code},
		{"abort with no transaction", 3, "a", 0, -2, false, false, kerr.InvalidTxnState.Code},
		{"unknown transactional id", 3, "b", 0, -2, true, true, kerr.InvalidProducerIDMapping.Code},
		{"other producer id", 3, "a", 5, -2, true, true, kerr.InvalidProducerIDMapping.Code},
		{"stale epoch", 3, "a", 0, 3, true, true, kerr.ProducerFenced.Code},
		{"stale epoch before v2", 1, "a", 0, 3, true, true, kerr.InvalidProducerEpoch.Code},
		{"empty transactional id", 3, "", 0, -2, true, true, kerr.InvalidRequest.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			pid, epoch := h.begin("a")
			if tc.ongoing {
				h.mustAdd("a", pid, epoch, "t", 0)
			}
			if tc.pid != 0 {
				pid = tc.pid
			}
			if tc.epoch != -2 {
				epoch = tc.epoch
			}
			wantCode(t, "EndTxn", h.end(tc.version, tc.id, pid, epoch, tc.commit).ErrorCode, tc.want)
			h.wait()
			if len(h.markers.requests()) != 0 {
				t.Errorf("markers written: %+v", h.markers.requests())
			}
		})
	}
}

// Markers that fail are retried until they are written; only then is the
// transaction complete.
func TestMarkerFailuresAreRetried(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAdd("a", pid, epoch, "t", 0)
	h.markers.failures = 3
	wantCode(t, "EndTxn", h.end(3, "a", pid, epoch, true).ErrorCode, 0)
	h.wait()
	if got := len(h.markers.requests()); got != 4 {
		t.Errorf("%d marker requests, want 4", got)
	}
	if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "PrepareCommit@0", "CompleteCommit@0"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
}

// A failed write answers Kafka's code (TransactionStateManager) and leaves
// the state as it was.
func TestFailedWritesMapToKafkaCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int16
	}{
		{kerr.NotLeaderForPartition, kerr.NotCoordinator.Code},
		{kerr.KafkaStorageError, kerr.NotCoordinator.Code},
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable.Code},
		{kerr.NotEnoughReplicasAfterAppend, kerr.CoordinatorNotAvailable.Code},
		{kerr.RequestTimedOut, kerr.CoordinatorNotAvailable.Code},
		{kerr.UnknownTopicOrPartition, kerr.CoordinatorNotAvailable.Code},
		{kerr.MessageTooLarge, kerr.UnknownServerError.Code},
		{errors.New("disk on fire"), kerr.UnknownServerError.Code},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			h := newHarness(t)
			pid, epoch := h.begin("a")
			wrap := fmt.Errorf("replica: %w", tc.err)
			h.log.fail = []error{wrap}
			wantCode(t, "AddPartitionsToTxn", h.add(3, "a", pid, epoch, "t", 0)[0], tc.want)
			if d := h.describe("a"); d.State != "Empty" || len(d.Topics) != 0 {
				t.Errorf("after a failed write: %+v", d)
			}
			h.mustAdd("a", pid, epoch, "t", 0)
			h.log.fail = []error{wrap}
			wantCode(t, "EndTxn", h.end(3, "a", pid, epoch, true).ErrorCode, tc.want)
			if d := h.describe("a"); d.State != "Ongoing" {
				t.Errorf("after a failed prepare: %s", d.State)
			}
			h.log.fail = []error{wrap}
			wantCode(t, "InitProducerId", h.init("b", 4, -1, -1).ErrorCode, tc.want)
		})
	}
}

// A failed Complete* write is retried like the markers.
func TestFailedCompletionWriteIsRetried(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAdd("a", pid, epoch, "t", 0)
	h.markers.block = make(chan struct{})
	calls := make(chan struct{}, 1)
	h.markers.calls = calls
	wantCode(t, "EndTxn", h.end(3, "a", pid, epoch, false).ErrorCode, 0)
	<-calls
	h.log.mu.Lock()
	h.log.fail = []error{kerr.NotEnoughReplicas, kerr.RequestTimedOut}
	h.log.mu.Unlock()
	close(h.markers.block)
	h.wait()
	if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "PrepareAbort@0", "CompleteAbort@0"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
}

// KIP-890 part 2 (EndTxn v5): every EndTxn bumps the epoch and answers the
// new one; the markers carry it; a retry at the old epoch is answered
// with the new one.
func TestEndTxnV5BumpsEpoch(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAdd("a", pid, epoch, "t", 0)
	resp := h.end(5, "a", pid, epoch, true)
	if resp.ErrorCode != 0 || resp.ProducerID != pid || resp.ProducerEpoch != epoch+1 {
		t.Fatalf("EndTxn v5: %v id %d epoch %d", codeName(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch)
	}
	h.wait()
	want := []MarkerRequest{{ProducerID: pid, ProducerEpoch: epoch + 1, Commit: true, CoordinatorEpoch: testEpoch,
		Partitions: map[string][]int32{"t": {0}}}}
	if got := h.markers.requests(); !equalMarkers(got, want) {
		t.Errorf("markers %+v, want %+v", got, want)
	}
	if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "PrepareCommit@1", "CompleteCommit@1"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	retry := h.end(5, "a", pid, epoch, true)
	if retry.ErrorCode != 0 || retry.ProducerEpoch != epoch+1 {
		t.Errorf("retry: %v epoch %d", codeName(retry.ErrorCode), retry.ProducerEpoch)
	}
	wantCode(t, "abort retry after commit", h.end(5, "a", pid, epoch, false).ErrorCode, kerr.InvalidTxnState.Code)
	wantCode(t, "commit with nothing", h.end(5, "a", pid, epoch+1, true).ErrorCode, kerr.InvalidTxnState.Code)
	// Aborting with no partitions is allowed and bumps the epoch.
	abort := h.end(5, "a", pid, epoch+1, false)
	if abort.ErrorCode != 0 || abort.ProducerEpoch != epoch+2 {
		t.Errorf("empty abort: %v epoch %d", codeName(abort.ErrorCode), abort.ProducerEpoch)
	}
	h.wait()
	if got := len(h.markers.requests()); got != 1 {
		t.Errorf("an abort of no partitions wrote markers (%d requests)", got)
	}
}

// At an exhausted epoch, EndTxn v5 moves the producer to a new ID at epoch
// 0; the markers carry the old ID at Short.MaxValue, and a retry with the
// old ID and epoch is recognised.
func TestEndTxnV5EpochOverflowRotatesProducerID(t *testing.T) {
	log := newFakeLog()
	p := New(Config{Partitions: testPartitions}).PartitionFor("a")
	b, end := buildLog(t, valueRecord("a", txnValue{producerID: 42, producerEpoch: math.MaxInt16 - 1, timeoutMs: 1000,
		state: stateOngoing, startMs: 5, updateMs: 6, tv: 2, prevProducerID: -1, nextProducerID: -1,
		partitions: partitionSet{{"t", 0}: {}}}))
	log.put(p, b, end)
	h := newHarnessWith(t, log, func(*Config) {})
	resp := h.end(5, "a", 42, math.MaxInt16-1, true)
	if resp.ErrorCode != 0 || resp.ProducerID != 1000 || resp.ProducerEpoch != 0 {
		t.Fatalf("EndTxn v5: %v id %d epoch %d, want id 1000 epoch 0", codeName(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch)
	}
	h.wait()
	want := []MarkerRequest{{ProducerID: 42, ProducerEpoch: math.MaxInt16, Commit: true, CoordinatorEpoch: testEpoch,
		Partitions: map[string][]int32{"t": {0}}}}
	if got := h.markers.requests(); !equalMarkers(got, want) {
		t.Errorf("markers %+v, want %+v", got, want)
	}
	if d := h.describe("a"); d.ProducerID != 1000 || d.ProducerEpoch != 0 || d.State != "CompleteCommit" {
		t.Errorf("describe %+v", d)
	}
	retry := h.end(5, "a", 42, math.MaxInt16-1, true)
	if retry.ErrorCode != 0 || retry.ProducerID != 1000 || retry.ProducerEpoch != 0 {
		t.Errorf("retry: %v id %d epoch %d", codeName(retry.ErrorCode), retry.ProducerID, retry.ProducerEpoch)
	}
}
