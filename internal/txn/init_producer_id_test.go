package txn

import (
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Java's String.hashCode, abs with MIN_VALUE -> 0, modulo 50.
func TestPartitionForIsJavaHashCodeModuloPartitions(t *testing.T) {
	c := New(Config{Partitions: 50})
	for _, tc := range []struct {
		id   string
		want int32
	}{
		{"", 0}, {"hello", 22}, {"test", 48}, {"polygenelubricants", 0},
		{"txn-1", 10}, {"my-transactional-id", 46}, {"\U0001F600x", 39}, {"zzzzzzzz", 12},
	} {
		if got := c.PartitionFor(tc.id); got != tc.want {
			t.Errorf("PartitionFor(%q) = %d, want %d", tc.id, got, tc.want)
		}
	}
}

func TestInitProducerIDWithoutTransactionalIDGetsFreshIDAtEpochZero(t *testing.T) {
	h := newHarness(t)
	for _, want := range []int64{1000, 1001} {
		resp := h.c.InitProducerID(h.ctx, kmsg.NewPtrInitProducerIDRequest())
		if resp.ErrorCode != 0 || resp.ProducerID != want || resp.ProducerEpoch != 0 {
			t.Fatalf("got %v id %d epoch %d, want id %d epoch 0", codeName(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch, want)
		}
	}
}

// KIP-98: a new transactional ID gets a fresh producer ID at epoch 0; each
// later InitProducerId bumps the epoch, written before the answer.
func TestInitProducerIDNewIDThenEpochBumps(t *testing.T) {
	h := newHarness(t)
	for want := int16(0); want < 3; want++ {
		pid, epoch := h.begin("a")
		if pid != 1000 || epoch != want {
			t.Fatalf("got id %d epoch %d, want 1000 epoch %d", pid, epoch, want)
		}
	}
	if got, want := h.states("a"), []string{"Empty@0", "Empty@1", "Empty@2"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
}

func TestInitProducerIDRejectsBadRequests(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name    string
		id      string
		timeout int32
		pid     int64
		epoch   int16
		want    int16
	}{
		{"empty id", "", 1000, -1, -1, kerr.InvalidRequest.Code},
		{"zero timeout", "a", 0, -1, -1, kerr.InvalidTransactionTimeout.Code},
		{"negative timeout", "a", -5, -1, -1, kerr.InvalidTransactionTimeout.Code},
		{"above max timeout", "a", 60_001, -1, -1, kerr.InvalidTransactionTimeout.Code},
		{"producer id without epoch", "a", 1000, 5, -1, kerr.InvalidRequest.Code},
		{"epoch without producer id", "a", 1000, -1, 5, kerr.InvalidRequest.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.Version = 4
			req.TransactionalID = &tc.id
			req.TransactionTimeoutMillis = tc.timeout
			req.ProducerID, req.ProducerEpoch = tc.pid, tc.epoch
			resp := h.c.InitProducerID(h.ctx, req)
			wantCode(t, "InitProducerId", resp.ErrorCode, tc.want)
			if resp.ProducerID != -1 || resp.ProducerEpoch != -1 {
				t.Errorf("error answer has id %d epoch %d", resp.ProducerID, resp.ProducerEpoch)
			}
		})
	}
}

// KIP-360: a producer giving its current ID and epoch gets a bump; a retry
// at the epoch before the bump gets the same epoch again; anything else is
// fenced (INVALID_PRODUCER_EPOCH before v4, KIP-588).
func TestInitProducerIDWithExpectedEpoch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		version   int16
		pid       int64 // 0: the current one
		epoch     int16
		wantCode  int16
		wantEpoch int16
	}{
		{"current epoch bumps", 4, 0, 1, 0, 2},
		{"retry of the last bump", 4, 0, 0, 0, 1},
		{"older epoch fenced", 4, 0, -2, kerr.ProducerFenced.Code, -1},
		{"newer epoch fenced", 4, 0, 5, kerr.ProducerFenced.Code, -1},
		{"other producer id fenced", 4, 77, 1, kerr.ProducerFenced.Code, -1},
		{"fenced before v4 is invalid epoch", 3, 77, 1, kerr.InvalidProducerEpoch.Code, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			pid, _ := h.begin("a")
			resp := h.init("a", tc.version, pid, 0) // KIP-360 bump 0 -> 1, last epoch 0
			if resp.ErrorCode != 0 || resp.ProducerEpoch != 1 {
				t.Fatalf("bump: %v epoch %d", codeName(resp.ErrorCode), resp.ProducerEpoch)
			}
			if tc.name == "retry of the last bump" {
				resp = h.init("a", tc.version, pid, 0)
			} else {
				ask := pid
				if tc.pid != 0 {
					ask = tc.pid
				}
				epoch := tc.epoch
				if epoch == -2 {
					epoch = 0
					// A plain init forgets the last epoch: 0 is now stale.
					h.init("a", 4, -1, -1)
				}
				resp = h.init("a", tc.version, ask, epoch)
			}
			wantCode(t, "InitProducerId", resp.ErrorCode, tc.wantCode)
			if resp.ProducerEpoch != tc.wantEpoch {
				t.Errorf("epoch %d, want %d", resp.ProducerEpoch, tc.wantEpoch)
			}
		})
	}
}

// An epoch at Short.MaxValue-1 is exhausted: the next InitProducerId gets a
// new producer ID at epoch 0, and a retry with the old ID and epoch gets it
// too (it is the previous ID, with an exhausted epoch).
func TestInitProducerIDEpochExhaustionRotatesProducerID(t *testing.T) {
	log := newFakeLog()
	p := New(Config{Partitions: testPartitions}).PartitionFor("a")
	b, end := buildLog(t, valueRecord("a", txnValue{producerID: 42, producerEpoch: math.MaxInt16 - 1,
		timeoutMs: 1000, state: stateCompleteCommit, startMs: 5, updateMs: 6}))
	log.put(p, b, end)
	h := newHarnessWith(t, log, func(*Config) {})

	resp := h.init("a", 4, 42, math.MaxInt16-1)
	if resp.ErrorCode != 0 || resp.ProducerID != 1000 || resp.ProducerEpoch != 0 {
		t.Fatalf("got %v id %d epoch %d, want id 1000 epoch 0", codeName(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch)
	}
	recs := h.log.records(t, p)
	if last := recs[len(recs)-1].value; last.ProducerID != 1000 || last.ProducerEpoch != 0 || last.State != stateEmpty {
		t.Errorf("record %+v", last)
	}
	// The retry of the rotation: the previous ID at its exhausted epoch.
	resp = h.init("a", 4, 42, math.MaxInt16-1)
	if resp.ErrorCode != 0 || resp.ProducerID != 1000 || resp.ProducerEpoch != 0 {
		t.Errorf("retry: got %v id %d epoch %d, want id 1000 epoch 0", codeName(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch)
	}
}

// An ongoing transaction is aborted at a bumped epoch first (never handed
// out): the client gets CONCURRENT_TRANSACTIONS, retries, and gets the
// epoch after it; the old producer is fenced.
func TestInitProducerIDAbortsOngoingTransactionFirst(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.begin("a")
	h.mustAdd("a", pid, epoch, "t", 0, 1)

	resp := h.init("a", 4, -1, -1)
	wantCode(t, "InitProducerId during a transaction", resp.ErrorCode, kerr.ConcurrentTransactions.Code)
	h.wait()
	want := []MarkerRequest{{ProducerID: pid, ProducerEpoch: 1, Commit: false, CoordinatorEpoch: testEpoch,
		Partitions: map[string][]int32{"t": {0, 1}}}}
	if got := h.markers.requests(); !equalMarkers(got, want) {
		t.Errorf("markers %+v, want %+v", got, want)
	}
	if got, want := h.states("a"), []string{"Empty@0", "Ongoing@0", "PrepareAbort@1", "CompleteAbort@1"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	resp = h.init("a", 4, -1, -1)
	if resp.ErrorCode != 0 || resp.ProducerEpoch != 2 {
		t.Errorf("retry: %v epoch %d, want epoch 2", codeName(resp.ErrorCode), resp.ProducerEpoch)
	}
	wantCode(t, "EndTxn of the fenced producer", h.end(3, "a", pid, epoch, true).ErrorCode, kerr.ProducerFenced.Code)
}

func equalMarkers(a, b []MarkerRequest) bool {
	return slices.EqualFunc(a, b, func(x, y MarkerRequest) bool {
		if x.ProducerID != y.ProducerID || x.ProducerEpoch != y.ProducerEpoch || x.Commit != y.Commit ||
			x.CoordinatorEpoch != y.CoordinatorEpoch || len(x.Partitions) != len(y.Partitions) {
			return false
		}
		for topic, ps := range x.Partitions {
			if !slices.Equal(ps, y.Partitions[topic]) {
				return false
			}
		}
		return true
	})
}
