package txn

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
)

// Replay keeps the last record of each ID and drops IDs whose last record
// is a tombstone; a transaction found prepared is completed: markers at the
// new coordinator epoch, then its Complete* state.
func TestLoadReplaysAndCompletesPreparedTransactions(t *testing.T) {
	log := newFakeLog()
	const part = 0 // one partition holds every ID
	ongoing := partitionSet{{"t", 1}: {}, {"t", 0}: {}, {"u", 3}: {}}
	b, end := buildLog(t,
		valueRecord("gone", txnValue{producerID: 1, producerEpoch: 0, timeoutMs: 1000, state: stateEmpty, startMs: -1}),
		valueRecord("later", txnValue{producerID: 2, producerEpoch: 0, timeoutMs: 1000, state: stateEmpty, startMs: -1}),
		valueRecord("crashed", txnValue{producerID: 3, producerEpoch: 4, timeoutMs: 1000, state: stateOngoing, partitions: ongoing, startMs: 10}),
		record.Record{Key: txnKey("gone")},
		valueRecord("later", txnValue{producerID: 2, producerEpoch: 1, timeoutMs: 2000, state: stateCompleteAbort, startMs: 20}),
		valueRecord("crashed", txnValue{producerID: 3, producerEpoch: 4, timeoutMs: 1000, state: statePrepareCommit, partitions: ongoing, startMs: 10}),
	)
	log.put(part, b, end)
	h := newHarnessWith(t, log, func(cfg *Config) { cfg.Partitions = 1 })

	want := []MarkerRequest{{ProducerID: 3, ProducerEpoch: 4, Commit: true, CoordinatorEpoch: testEpoch,
		Partitions: map[string][]int32{"t": {0, 1}, "u": {3}}}}
	if got := h.markers.requests(); !equalMarkers(got, want) {
		t.Errorf("markers %+v, want %+v", got, want)
	}
	if got, want := h.states("crashed"), []string{"Ongoing@4", "PrepareCommit@4", "CompleteCommit@4"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	wantCode(t, "describe gone", h.describe("gone").ErrorCode, kerr.TransactionalIDNotFound.Code)
	if d := h.describe("later"); d.State != "CompleteAbort" || d.ProducerEpoch != 1 || d.TimeoutMillis != 2000 {
		t.Errorf("later: %+v", d)
	}
	if d := h.describe("crashed"); d.State != "CompleteCommit" || len(d.Topics) != 0 {
		t.Errorf("crashed: %+v", d)
	}
}

// Unload ends the partition's marker retries, and its IDs are no longer
// served here.
func TestUnloadStopsMarkerRetries(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAdd("a", pid, epoch, "t", 0)
	h.markers.failures = -1 // never succeeds
	calls := make(chan struct{}, 1)
	h.markers.calls = calls
	wantCode(t, "EndTxn", h.end(3, "a", pid, epoch, true).ErrorCode, 0)
	<-calls
	h.c.Unload(h.c.PartitionFor("a"))
	h.wait() // returns only once the retries ended
	wantCode(t, "describe", h.describe("a").ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "EndTxn", h.end(3, "a", pid, epoch, true).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "InitProducerId", h.init("a", 4, -1, -1).ErrorCode, kerr.NotCoordinator.Code)
}

// Until a partition's replay ends its IDs get COORDINATOR_LOAD_IN_PROGRESS,
// and ListTransactions says so too.
func TestRequestsWhileLoadingGetLoadInProgress(t *testing.T) {
	h := newHarness(t)
	h.begin("a")
	part := h.c.PartitionFor("a")
	h.c.Unload(part)
	h.log.mu.Lock()
	h.log.readGate, h.log.reading = make(chan struct{}), make(chan struct{})
	gate, reading := h.log.readGate, h.log.reading
	h.log.mu.Unlock()
	done := make(chan error)
	go func() { done <- h.c.Load(context.Background(), part, testEpoch+1) }()
	<-reading
	wantCode(t, "InitProducerId", h.init("a", 4, -1, -1).ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	wantCode(t, "ListTransactions", h.c.ListTransactions(h.ctx, kmsg.NewPtrListTransactionsRequest()).ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if resp := h.init("a", 4, -1, -1); resp.ErrorCode != 0 || resp.ProducerEpoch != 1 {
		t.Errorf("after load: %v epoch %d", codeName(resp.ErrorCode), resp.ProducerEpoch)
	}
}

// Replaying arbitrary bytes as a partition never panics.
func FuzzReplay(f *testing.F) {
	b, _ := buildLog(f,
		valueRecord("a", txnValue{producerID: 3, producerEpoch: 4, timeoutMs: 1000, state: statePrepareCommit,
			partitions: partitionSet{{"t", 0}: {}}, startMs: 10}),
		record.Record{Key: txnKey("b")},
		valueRecord("c", txnValue{producerID: 5, producerEpoch: 1, state: stateOngoing, tv: 2, partitions: partitionSet{}}),
	)
	f.Add(b, int64(3))
	f.Add([]byte{}, int64(1))
	f.Add(b[:len(b)/2], int64(3))
	f.Fuzz(func(t *testing.T, data []byte, end int64) {
		log := newFakeLog()
		log.put(0, data, end)
		c := New(Config{Partitions: 1, Log: log, Markers: &fakeMarkers{}})
		defer c.c.stop()
		if err := c.Load(context.Background(), 0, 1); err != nil {
			return
		}
		req := kmsg.NewPtrListTransactionsRequest()
		c.ListTransactions(context.Background(), req)
	})
}

// A load at an older coordinator epoch than the one loaded (a leadership
// whose load started late) leaves the newer one in place: markers keep
// the newer coordinator epoch.
func TestLateLoadOfOlderEpochChangesNothing(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAdd("a", pid, epoch, "t", 0)
	part := h.c.PartitionFor("a")
	if err := h.c.Load(context.Background(), part, testEpoch+1); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Load(context.Background(), part, testEpoch); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "EndTxn", h.end(3, "a", pid, epoch, true).ErrorCode, 0)
	h.wait()
	reqs := h.markers.requests()
	if len(reqs) == 0 {
		t.Fatal("no markers written")
	}
	if got := reqs[len(reqs)-1].CoordinatorEpoch; got != testEpoch+1 {
		t.Fatalf("markers written at coordinator epoch %d, want %d", got, testEpoch+1)
	}
}
