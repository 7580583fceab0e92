package txn

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A transaction open longer than its timeout is aborted by Tick at a bumped
// epoch, which fences its producer.
func TestTickAbortsTimedOutTransactionAndFencesProducer(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a") // timeout 10 s
	h.mustAdd("a", pid, epoch, "t", 0)
	h.clock.advance(10 * time.Second)
	h.c.Tick(h.ctx)
	h.wait()
	if len(h.markers.requests()) != 0 {
		t.Fatalf("aborted at exactly its timeout")
	}
	h.clock.advance(time.Millisecond)
	h.c.Tick(h.ctx)
	h.wait()
	want := []MarkerRequest{{ProducerID: pid, ProducerEpoch: epoch + 1, Commit: false, CoordinatorEpoch: testEpoch,
		Partitions: map[string][]int32{"t": {0}}}}
	if got := h.markers.requests(); !equalMarkers(got, want) {
		t.Errorf("markers %+v, want %+v", got, want)
	}
	if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "PrepareAbort@1", "CompleteAbort@1"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	wantCode(t, "AddPartitionsToTxn at the old epoch", h.add(3, "a", pid, epoch, "t", 0)[0], kerr.ProducerFenced.Code)
	wantCode(t, "EndTxn v1 at the old epoch", h.end(1, "a", pid, epoch, true).ErrorCode, kerr.InvalidProducerEpoch.Code)
}

// A fence whose write failed keeps the bumped epoch in memory (the
// producer stays fenced) and is not bumped again by the next try.
func TestFailedFenceIsNotBumpedTwice(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAdd("a", pid, epoch, "t", 0)
	h.clock.advance(time.Minute)
	h.log.fail = []error{kerr.NotEnoughReplicas}
	h.c.Tick(h.ctx)
	wantCode(t, "old producer after a failed fence", h.add(3, "a", pid, epoch, "t", 1)[0], kerr.ProducerFenced.Code)
	h.c.Tick(h.ctx)
	h.wait()
	if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "PrepareAbort@1", "CompleteAbort@1"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
}

// Transactional IDs with no transaction, unused for IDExpiration, are
// removed with a tombstone; one with a transaction open is kept.
func TestTickRemovesExpiredTransactionalIDs(t *testing.T) {
	h := newHarness(t)
	h.begin("idle")
	pid, epoch := h.begin("busy")
	h.c.Tick(h.ctx) // nothing expired yet
	h.clock.advance(time.Minute)
	h.mustAdd("busy", pid, epoch, "t", 0)
	h.clock.advance(time.Hour - time.Minute)
	h.c.Tick(h.ctx)
	h.wait()
	if got, want := h.states("idle"), []string{"Empty@0", "-"}; !slices.Equal(got, want) {
		t.Errorf("idle: records %v, want %v", got, want)
	}
	wantCode(t, "describe idle", h.describe("idle").ErrorCode, kerr.TransactionalIDNotFound.Code)
	if got := h.states("busy"); slices.Contains(got, "-") {
		t.Errorf("busy: records %v", got)
	}
	// A removed ID starts over with a new producer ID.
	if pid2, epoch2 := h.begin("idle"); pid2 == pid || epoch2 != 0 {
		t.Errorf("re-created idle: id %d epoch %d", pid2, epoch2)
	}
}
