package group

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
)

// txnCommitReq is a v3 TxnOffsetCommit of one topic, as a simple consumer
// (generation -1, no member) unless changed.
func txnCommitReq(groupID string, producer int64, topic string, offsets map[int32]int64) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version = 3
	req.TransactionalID = "tx"
	req.Group, req.ProducerID, req.ProducerEpoch = groupID, producer, 2
	t := kmsg.NewTxnOffsetCommitRequestTopic()
	t.Topic = topic
	for _, p := range slices.Sorted(maps.Keys(offsets)) {
		pp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		pp.Partition, pp.Offset, pp.LeaderEpoch = p, offsets[p], 9
		pp.Metadata = new(fmt.Sprintf("txn-%d", p))
		t.Partitions = append(t.Partitions, pp)
	}
	req.Topics = []kmsg.TxnOffsetCommitRequestTopic{t}
	return req
}

// txnCommit sends req and returns the one code all partitions answered.
func (h *harness) txnCommit(req *kmsg.TxnOffsetCommitRequest) int16 {
	h.t.Helper()
	resp := h.c.TxnOffsetCommit(context.Background(), req)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) == 0 {
		h.t.Fatalf("TxnOffsetCommit response %+v", resp)
	}
	code := resp.Topics[0].Partitions[0].ErrorCode
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != code {
			h.t.Fatalf("partitions answered different codes: %+v", resp.Topics[0].Partitions)
		}
	}
	return code
}

// marker writes the producer's transaction marker to the group's
// partition and, as the broker does once it is durable, calls
// CompleteTxn; with apply unset it only writes it (a replay finds it).
func (h *harness) marker(groupID string, producer int64, commit, apply bool) {
	h.t.Helper()
	p := h.c.PartitionFor(groupID)
	typ := record.ControlAbort
	if commit {
		typ = record.ControlCommit
	}
	batch, err := record.Build(record.BuildOptions{
		BaseTimestamp: h.wall.Now().UnixMilli(),
		Transactional: true,
		Control:       true,
		Producer:      &record.Producer{ID: producer, Epoch: 2, BaseSequence: -1},
	}, []record.Record{{Key: record.ControlKey(typ), Value: []byte{0, 0, 0, 0, 0, 0}}})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.log.Append(context.Background(), p, batch); err != nil {
		h.t.Fatal(err)
	}
	if apply {
		h.c.CompleteTxn(p, producer, commit, 2)
	}
}

// stableFetch is an OffsetFetch v8 with require_stable of the given
// partitions of topic t: "p" -> "offset/epoch/metadata" or the code's name.
func (h *harness) stableFetch(groupID string, partitions ...int32) map[int32]string {
	h.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	req.RequireStable = true
	req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: groupID, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: partitions}}}}
	g := h.c.OffsetFetch(context.Background(), req).Groups[0]
	wantCode(h.t, "stable fetch", g.ErrorCode, 0)
	out := make(map[int32]string)
	for _, p := range g.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			out[p.Partition] = codeName(p.ErrorCode)
			continue
		}
		out[p.Partition] = fmt.Sprintf("%d/%d/%s", p.Offset, p.LeaderEpoch, deref(p.Metadata))
	}
	return out
}

func wantOffsets(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Fatalf("%s: offsets %v, want %v", what, got, want)
	}
}

var unstable = codeName(kerr.UnstableOffsetCommit.Code)

// KIP-98: offsets committed in a transaction are written at once, in a
// transactional batch of the producer, and become visible only when the
// producer's COMMIT marker is applied, with the timestamp they were
// written with.
func TestTxnOffsetCommitVisibleOnlyAfterCommitMarker(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	wantCode(t, "plain commit", h.commit("g", "", -1, "t", map[int32]int64{0: 5}), 0)
	written := h.wall.Now().UnixMilli()
	wantCode(t, "txn commit", h.txnCommit(txnCommitReq("g", 7, "t", map[int32]int64{0: 10, 1: 11})), 0)

	p := h.c.PartitionFor("g")
	h.log.mu.Lock()
	last := h.log.batches[p][len(h.log.batches[p])-1]
	h.log.mu.Unlock()
	hdr, _ := record.ParseHeader(last)
	if !hdr.IsTransactional() || hdr.IsControl() || hdr.ProducerID != 7 || hdr.ProducerEpoch != 2 || hdr.BaseSequence != -1 || hdr.RecordCount != 2 {
		t.Fatalf("txn offsets written as %+v, want one transactional batch of producer 7 epoch 2, no sequence", hdr)
	}

	wantOffsets(t, "while pending", h.fetchAll("g"), map[string]string{"t/0": "5/7/meta-0"})
	h.wall.Advance(time.Minute)
	h.marker("g", 7, true, true)
	wantOffsets(t, "after commit", h.fetchAll("g"), map[string]string{"t/0": "10/9/txn-0", "t/1": "11/9/txn-1"})
	g, _ := h.c.lookup("g", false)
	g.mu.Lock()
	commitMs := g.offsets[topicPartition{"t", 1}].commitMs
	pending := len(g.txnOffsets)
	g.mu.Unlock()
	if commitMs != written || pending != 0 {
		t.Fatalf("commit timestamp %d (want %d, as written), %d transactions still pending", commitMs, written, pending)
	}
	// A marker with nothing pending changes nothing.
	h.marker("g", 7, false, true)
	wantOffsets(t, "after a second marker", h.fetchAll("g"), map[string]string{"t/0": "10/9/txn-0", "t/1": "11/9/txn-1"})
}

func TestTxnOffsetCommitAbortDropsOffsets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	wantCode(t, "plain commit", h.commit("g", "", -1, "t", map[int32]int64{0: 5}), 0)
	wantCode(t, "txn commit", h.txnCommit(txnCommitReq("g", 7, "t", map[int32]int64{0: 10, 1: 11})), 0)
	h.marker("g", 7, false, true)
	wantOffsets(t, "after abort", h.fetchAll("g"), map[string]string{"t/0": "5/7/meta-0"})
	if got := h.stableFetch("g", 0, 1); !maps.Equal(got, map[int32]string{0: "5/7/meta-0", 1: "-1/-1/"}) {
		t.Fatalf("stable fetch after abort %v", got)
	}
}

// KIP-447: with require_stable, a partition with a pending transactional
// offset is UNSTABLE_OFFSET_COMMIT, each partition on its own, in the
// batched (v8+) and the single-group (v7) forms; without it the committed
// offset is answered.
func TestTxnOffsetCommitRequireStable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	wantCode(t, "plain commit", h.commit("g", "", -1, "t", map[int32]int64{0: 5, 2: 6}), 0)
	wantCode(t, "txn commit", h.txnCommit(txnCommitReq("g", 7, "t", map[int32]int64{0: 10, 1: 11})), 0)
	want := map[int32]string{0: unstable, 1: unstable, 2: "6/7/meta-2", 3: "-1/-1/"}
	if got := h.stableFetch("g", 0, 1, 2, 3); !maps.Equal(got, want) {
		t.Fatalf("stable fetch %v, want %v", got, want)
	}

	all := kmsg.NewPtrOffsetFetchRequest()
	all.Version = 8
	all.RequireStable = true
	all.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g"}}
	got := map[int32]int16{}
	for _, p := range h.c.OffsetFetch(context.Background(), all).Groups[0].Topics[0].Partitions {
		got[p.Partition] = p.ErrorCode
	}
	if !maps.Equal(got, map[int32]int16{0: kerr.UnstableOffsetCommit.Code, 2: 0}) {
		t.Fatalf("stable fetch of all offsets: codes %v", got)
	}

	v7 := kmsg.NewPtrOffsetFetchRequest()
	v7.Version = 7
	v7.Group = "g"
	v7.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 2}}}
	for _, stable := range []bool{true, false} {
		v7.RequireStable = stable
		ps := h.c.OffsetFetch(context.Background(), v7).Topics[0].Partitions
		want0 := kmsg.OffsetFetchResponseTopicPartition{Partition: 0, Offset: 5, LeaderEpoch: 7, Metadata: new("meta-0")}
		if stable {
			want0 = kmsg.OffsetFetchResponseTopicPartition{Partition: 0, Offset: -1, Metadata: new(""), ErrorCode: kerr.UnstableOffsetCommit.Code}
		}
		if p := ps[0]; p.ErrorCode != want0.ErrorCode || p.Offset != want0.Offset || deref(p.Metadata) != deref(want0.Metadata) {
			t.Fatalf("v7 require_stable=%v: partition 0 %+v, want %+v", stable, p, want0)
		}
		if p := ps[1]; p.ErrorCode != 0 || p.Offset != 6 {
			t.Fatalf("v7 require_stable=%v: partition 2 %+v", stable, p)
		}
	}

	h.marker("g", 7, true, true)
	if got := h.stableFetch("g", 0, 1); !maps.Equal(got, map[int32]string{0: "10/9/txn-0", 1: "11/9/txn-1"}) {
		t.Fatalf("stable fetch after commit %v", got)
	}
}

// A producer's later commit of a partition in the same transaction
// replaces its earlier one; other producers' transactions are their own.
func TestTxnOffsetCommitLaterCommitOverwrites(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	wantCode(t, "first", h.txnCommit(txnCommitReq("g", 7, "t", map[int32]int64{0: 10, 1: 11})), 0)
	wantCode(t, "second", h.txnCommit(txnCommitReq("g", 7, "t", map[int32]int64{0: 20})), 0)
	wantCode(t, "other producer", h.txnCommit(txnCommitReq("g", 8, "t", map[int32]int64{2: 30})), 0)
	h.marker("g", 7, true, true)
	wantOffsets(t, "after producer 7 commits", h.fetchAll("g"), map[string]string{"t/0": "20/9/txn-0", "t/1": "11/9/txn-1"})
	if got := h.stableFetch("g", 2); got[2] != unstable {
		t.Fatalf("producer 8's partition: %v", got)
	}
	h.marker("g", 8, true, true)
	wantOffsets(t, "after producer 8 commits", h.fetchAll("g"), map[string]string{"t/0": "20/9/txn-0", "t/1": "11/9/txn-1", "t/2": "30/9/txn-2"})
}

// When a transaction commits, a plain commit of the same partition written
// after the transactional one stays; one written before is replaced.
// Replay rebuilds the same.
func TestTxnOffsetCommitPlainCommitWrittenLaterWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	wantCode(t, "plain before", h.commit("g", "", -1, "t", map[int32]int64{0: 1}), 0)
	wantCode(t, "txn", h.txnCommit(txnCommitReq("g", 7, "t", map[int32]int64{0: 10, 1: 11})), 0)
	wantCode(t, "plain after", h.commit("g", "", -1, "t", map[int32]int64{1: 2}), 0)
	h.marker("g", 7, true, true)
	want := map[string]string{"t/0": "10/9/txn-0", "t/1": "2/7/meta-1"}
	wantOffsets(t, "live", h.fetchAll("g"), want)
	h.restart()
	wantOffsets(t, "replayed", h.fetchAll("g"), want)
}

// Replay applies the markers it reads: COMMIT makes offsets visible, ABORT
// drops them, and a transaction without a marker stays pending until
// CompleteTxn ends it.
func TestTxnOffsetCommitReplayAppliesMarkers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	wantCode(t, "plain", h.commit("g", "", -1, "t", map[int32]int64{0: 1, 1: 1, 2: 1}), 0)
	wantCode(t, "committed txn", h.txnCommit(txnCommitReq("g", 7, "t", map[int32]int64{0: 10})), 0)
	wantCode(t, "aborted txn", h.txnCommit(txnCommitReq("g", 8, "t", map[int32]int64{1: 20})), 0)
	wantCode(t, "open txn", h.txnCommit(txnCommitReq("g", 9, "t", map[int32]int64{2: 30})), 0)
	wantCode(t, "txn of a group with no other offsets", h.txnCommit(txnCommitReq("txn-only", 9, "t", map[int32]int64{0: 40})), 0)
	h.marker("g", 7, true, false)
	h.marker("g", 8, false, false)
	h.restart()

	wantOffsets(t, "replayed", h.fetchAll("g"), map[string]string{"t/0": "10/9/txn-0", "t/1": "1/7/meta-1", "t/2": "1/7/meta-2"})
	if got := h.stableFetch("g", 0, 1, 2); !maps.Equal(got, map[int32]string{0: "10/9/txn-0", 1: "1/7/meta-1", 2: unstable}) {
		t.Fatalf("stable fetch after replay %v", got)
	}
	if got := h.stableFetch("txn-only", 0); got[0] != unstable {
		t.Fatalf("stable fetch of txn-only after replay %v", got)
	}
	h.marker("g", 9, true, true)
	if h.c.PartitionFor("txn-only") != h.c.PartitionFor("g") {
		h.marker("txn-only", 9, true, true)
	}
	wantOffsets(t, "open txn committed", h.fetchAll("g"), map[string]string{"t/0": "10/9/txn-0", "t/1": "1/7/meta-1", "t/2": "30/9/txn-2"})
	wantOffsets(t, "txn-only committed", h.fetchAll("txn-only"), map[string]string{"t/0": "40/9/txn-0"})
	h.restart()
	wantOffsets(t, "replayed again", h.fetchAll("g"), map[string]string{"t/0": "10/9/txn-0", "t/1": "1/7/meta-1", "t/2": "30/9/txn-2"})
}

// A marker written while the partition is still loading is applied before
// the partition serves requests, whether or not the replay read it.
func TestTxnMarkerDuringLoadIsApplied(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	wantCode(t, "txn", h.txnCommit(txnCommitReq("g", 7, "t", map[int32]int64{0: 10})), 0)
	p := h.c.PartitionFor("g")
	c := New(h.cfg)
	h.log.mu.Lock()
	h.log.readGate = make(chan struct{})
	h.log.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- c.Load(context.Background(), p) }()
	waitFor(t, "loading", func() bool {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 8
		req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g"}}
		return c.OffsetFetch(context.Background(), req).Groups[0].ErrorCode == kerr.CoordinatorLoadInProgress.Code
	})
	// Whether or not the replay reads the marker, it is applied once.
	h.marker("g", 7, true, false)
	c.CompleteTxn(p, 7, true, 2)
	h.log.mu.Lock()
	close(h.log.readGate)
	h.log.readGate = nil
	h.log.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.c = c
	wantOffsets(t, "after load", h.fetchAll("g"), map[string]string{"t/0": "10/9/txn-0"})
}

// KIP-447: TxnOffsetCommit v3+ carries the consumer's group metadata and is
// checked as Kafka's validateTransactionalOffsetCommit checks it.
func TestTxnOffsetCommitChecksGenerationAndMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids, gen, _ := h.stableGroup("g", 2)
	for _, tc := range []struct {
		name     string
		version  int16
		member   string
		gen      int32
		instance *string
		want     int16
	}{
		{"member at the current generation", 3, ids[0], gen, nil, 0},
		{"stale generation", 3, ids[0], gen - 1, nil, kerr.IllegalGeneration.Code},
		{"future generation", 3, ids[1], gen + 1, nil, kerr.IllegalGeneration.Code},
		{"unknown member", 3, "ghost", gen, nil, kerr.UnknownMemberID.Code},
		{"member without generation", 3, ids[0], -1, nil, kerr.IllegalGeneration.Code},
		{"unknown static instance", 3, ids[0], gen, new("inst"), kerr.UnknownMemberID.Code}, // Kafka's validateCurrentMember
		{"no group metadata, group with members", 3, "", -1, nil, 0},
		{"v2 carries no group metadata", 2, "ghost", gen + 5, nil, 0},
	} {
		req := txnCommitReq("g", 7, "t", map[int32]int64{0: 10})
		req.Version, req.MemberID, req.Generation, req.InstanceID = tc.version, tc.member, tc.gen, tc.instance
		wantCode(t, tc.name, h.txnCommit(req), tc.want)
	}

	member := txnCommitReq("nogroup", 7, "t", map[int32]int64{0: 1})
	member.MemberID, member.Generation = "m", 1
	wantCode(t, "member of a group that does not exist", h.txnCommit(member), kerr.IllegalGeneration.Code)
	wantCode(t, "simple consumer creates the group", h.txnCommit(txnCommitReq("nogroup", 7, "t", map[int32]int64{0: 1})), 0)
	if g, _ := h.c.lookup("nogroup", false); g == nil {
		t.Fatal("no group after a transactional commit to a new group")
	}

	// A static member replaced by a new member ID is fenced.
	sreq := joinReq("s", "")
	sreq.InstanceID = new("inst")
	r := recv(t, h.joinAsync(sreq))
	recv(t, h.syncAsync(syncReq("s", r.MemberID, r.Generation, map[string]string{r.MemberID: "x"})))
	fenced := txnCommitReq("s", 7, "t", map[int32]int64{0: 1})
	fenced.MemberID, fenced.Generation, fenced.InstanceID = "old-id", r.Generation, new("inst")
	wantCode(t, "fenced static member", h.txnCommit(fenced), kerr.FencedInstanceID.Code)

	// No REBALANCE_IN_PROGRESS: a transactional commit at the generation
	// goes through while the group completes a rebalance.
	newcomer := h.memberID("g")
	ch := h.joinAsync(joinReq("g", newcomer))
	waitFor(t, "PreparingRebalance", func() bool { return h.describe("g").State == "PreparingRebalance" })
	c0, c1 := h.joinAsync(joinReq("g", ids[0])), h.joinAsync(joinReq("g", ids[1]))
	recv(t, ch)
	recv(t, c0)
	recv(t, c1)
	waitFor(t, "CompletingRebalance", func() bool { return h.describe("g").State == "CompletingRebalance" })
	during := txnCommitReq("g", 7, "t", map[int32]int64{0: 12})
	during.MemberID, during.Generation = ids[0], gen+1
	wantCode(t, "commit while completing", h.txnCommit(during), 0)
}

// For KIP-848 groups the generation is the member epoch; an older epoch is
// ILLEGAL_GENERATION (TxnOffsetCommit has no STALE_MEMBER_EPOCH). A commit
// without group metadata (TxnOffsetCommit v0-v2, or generation -1 with no
// member or instance: sendOffsetsToTransaction with a group ID) is
// accepted while the group has members, as Kafka 3.8+ accepts it.
func TestTxnOffsetCommitConsumerGroupMemberEpoch(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	wantCode(t, "empty group, no member", h.txnCommit(txnCommitReq("g", 7, "t", map[int32]int64{0: 1})), 0)
	a := h.newCGMember("g", "a")
	a.mustBeat(false)
	for _, tc := range []struct {
		name     string
		version  int16
		member   string
		epoch    int32
		instance *string
		want     int16
	}{
		{"member at its epoch", 3, "a", a.epoch, nil, 0},
		{"older epoch", 3, "a", a.epoch - 1, nil, kerr.IllegalGeneration.Code},
		{"newer epoch", 3, "a", a.epoch + 1, nil, kerr.IllegalGeneration.Code},
		{"unknown member", 3, "zz", a.epoch, nil, kerr.UnknownMemberID.Code},
		{"no group metadata, group with members", 3, "", -1, nil, 0},
		{"v2 carries no group metadata", 2, "zz", a.epoch + 5, nil, 0},
		{"instance without member or epoch", 3, "", -1, new("i"), kerr.UnknownMemberID.Code},
		{"member without epoch", 3, "a", -1, nil, kerr.IllegalGeneration.Code},
	} {
		req := txnCommitReq("g", 7, "t", map[int32]int64{0: 10})
		req.Version, req.MemberID, req.Generation, req.InstanceID = tc.version, tc.member, tc.epoch, tc.instance
		wantCode(t, tc.name, h.txnCommit(req), tc.want)
	}
	h.marker("g", 7, true, true)
	wantOffsets(t, "after commit", h.fetchAll("g"), map[string]string{"t/0": "10/9/txn-0"})
}

// Per-partition checks are OffsetCommit's; a producer whose epoch the log
// refuses gets the log's code, and nothing stays pending.
func TestTxnOffsetCommitErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) {
		c.Topics = func() []TopicInfo { return []TopicInfo{{Name: "t", ID: [16]byte{1}, Partitions: 2}} }
	})
	req := txnCommitReq("g", 7, "t", map[int32]int64{0: 1, 5: 2})
	big := string(make([]byte, defaultOffsetMetadataMaxSize+1))
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, kmsg.TxnOffsetCommitRequestTopicPartition{Partition: 1, Offset: 3, Metadata: &big})
	resp := h.c.TxnOffsetCommit(context.Background(), req)
	got := map[int32]int16{}
	for _, p := range resp.Topics[0].Partitions {
		got[p.Partition] = p.ErrorCode
	}
	if want := map[int32]int16{0: 0, 5: kerr.UnknownTopicOrPartition.Code, 1: kerr.OffsetMetadataTooLarge.Code}; !maps.Equal(got, want) {
		t.Fatalf("codes %v, want %v", got, want)
	}

	for _, tc := range []struct {
		err  error
		want int16
	}{
		{fmt.Errorf("%w: producer epoch 2 is older than 3", kerr.InvalidProducerEpoch), kerr.InvalidProducerEpoch.Code},
		{kerr.ProducerFenced, kerr.ProducerFenced.Code},
		{kerr.NotLeaderForPartition, kerr.NotCoordinator.Code},
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable.Code},
	} {
		h.log.mu.Lock()
		h.log.failAppend = func(int32) error { return tc.err }
		h.log.mu.Unlock()
		wantCode(t, tc.err.Error(), h.txnCommit(txnCommitReq("f", 8, "t", map[int32]int64{1: 9})), tc.want)
	}
	h.log.mu.Lock()
	h.log.failAppend = nil
	h.log.mu.Unlock()
	if got := h.stableFetch("f", 1); got[1] != "-1/-1/" {
		t.Fatalf("a refused commit left %v", got)
	}
}

// Expiry keeps what an open transaction is about to replace: the
// partition's offset, and the group itself (Kafka's cleanupExpiredOffsets).
func TestTxnOffsetsOutliveExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	wantCode(t, "plain", h.commit("g", "", -1, "t", map[int32]int64{0: 1, 1: 1}), 0)
	wantCode(t, "txn", h.txnCommit(txnCommitReq("g", 7, "t", map[int32]int64{0: 10})), 0)
	wantCode(t, "txn only", h.txnCommit(txnCommitReq("pending-only", 7, "t", map[int32]int64{0: 10})), 0)
	h.wall.Advance(h.cfg.OffsetsRetention + time.Hour)
	h.c.expireOffsets(context.Background())
	wantOffsets(t, "after expiry", h.fetchAll("g"), map[string]string{"t/0": "1/7/meta-0"})
	if g, _ := h.c.lookup("pending-only", false); g == nil {
		t.Fatal("expiry removed a group with a pending transaction")
	}
	h.marker("g", 7, false, true)
	if h.c.PartitionFor("pending-only") != h.c.PartitionFor("g") {
		h.marker("pending-only", 7, false, true)
	}
	h.c.expireOffsets(context.Background())
	wantOffsets(t, "after abort and expiry", h.fetchAll("g"), map[string]string{})
	if g, _ := h.c.lookup("pending-only", false); g != nil {
		t.Fatal("a group with nothing left survived expiry")
	}
}

// DeleteGroups and OffsetDelete write tombstones for pending transactional
// offsets too; a later COMMIT marker, live or replayed, brings none back.
func TestTxnOffsetsDroppedByDeletes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	wantCode(t, "txn g", h.txnCommit(txnCommitReq("g", 7, "t", map[int32]int64{0: 10, 1: 11})), 0)
	wantCode(t, "txn h", h.txnCommit(txnCommitReq("h", 7, "t", map[int32]int64{0: 10, 1: 11})), 0)

	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g"}
	wantCode(t, "delete group", h.c.DeleteGroups(context.Background(), del).Groups[0].ErrorCode, 0)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "h"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	odr := h.c.OffsetDelete(context.Background(), od)
	wantCode(t, "offset delete", odr.ErrorCode, 0)
	wantCode(t, "offset delete partition", odr.Topics[0].Partitions[0].ErrorCode, 0)

	h.marker("g", 7, true, true)
	if h.c.PartitionFor("h") != h.c.PartitionFor("g") {
		h.marker("h", 7, true, true)
	}
	want := map[string]string{"t/1": "11/9/txn-1"}
	wantOffsets(t, "deleted group", h.fetchAll("g"), map[string]string{})
	wantOffsets(t, "deleted partition", h.fetchAll("h"), want)
	h.restart()
	wantOffsets(t, "deleted group, replayed", h.fetchAll("g"), map[string]string{})
	wantOffsets(t, "deleted partition, replayed", h.fetchAll("h"), want)
}

// verify takes the producer's verification guard for a transaction
// version 1 write at epoch 2 (txnCommitReq's).
func (h *harness) verify(groupID string, producer int64) *VerificationGuard {
	guard, _ := h.c.StartTxnVerification(groupID, producer, 2, false)
	return guard
}

// guardedTxnCommit is txnCommit of a write verified under guard.
func (h *harness) guardedTxnCommit(guard *VerificationGuard, req *kmsg.TxnOffsetCommitRequest) int16 {
	h.t.Helper()
	resp := h.c.TxnOffsetCommit(WithVerificationGuard(context.Background(), guard), req)
	return resp.Topics[0].Partitions[0].ErrorCode
}

// KIP-890's VerificationGuard: a TxnOffsetCommit verified before its
// transaction ended (an abort whose marker reached the group's partition
// between the verification and the write) is INVALID_TXN_STATE, as
// Kafka's log answers a guard that no longer matches, and writes nothing.
// A guard taken after the marker, for the next transaction, does not
// let the stale write through.
func TestTxnOffsetCommitVerifiedBeforeItsTransactionEndedIsRefused(t *testing.T) {
	t.Parallel()
	for _, ending := range []string{"CompleteTxn", "TxnEnding"} {
		t.Run(ending, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			p := h.c.PartitionFor("g")
			stale := h.verify("g", 7)
			if again := h.verify("g", 7); again != stale {
				t.Fatal("a second verification of the producer took another guard")
			}
			if ending == "TxnEnding" {
				h.c.TxnEnding(p, 7, 2)
			} else {
				h.marker("g", 7, false, true)
			}
			wantCode(t, "write after the transaction ended", h.guardedTxnCommit(stale, txnCommitReq("g", 7, "t", map[int32]int64{0: 10})), kerr.InvalidTxnState.Code)

			next := h.verify("g", 7)
			if next == stale {
				t.Fatal("the ended transaction's guard was handed out again")
			}
			wantCode(t, "stale write after the next verification", h.guardedTxnCommit(stale, txnCommitReq("g", 7, "t", map[int32]int64{0: 10})), kerr.InvalidTxnState.Code)
			if got := h.stableFetch("g", 0); got[0] != "-1/-1/" {
				t.Fatalf("refused write left offsets: %v", got)
			}
			for _, r := range h.log.records(t, p) {
				if r.Value != nil && len(r.Key) > 0 && r.Key[1] == 1 {
					t.Fatalf("refused write reached the log: key %x", r.Key)
				}
			}

			wantCode(t, "write of the next transaction", h.guardedTxnCommit(next, txnCommitReq("g", 7, "t", map[int32]int64{0: 11})), 0)
			h.marker("g", 7, true, true)
			if got := h.stableFetch("g", 0); got[0] != "11/9/txn-0" {
				t.Fatalf("committed offsets: %v", got)
			}
		})
	}
}

// TxnEnding returns only once a guarded write that passed its check is
// durable, so the write precedes the marker in the log.
func TestTxnEndingWaitsForAWriteUnderWay(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	p := h.c.PartitionFor("g")
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.log.mu.Lock()
	h.log.failAppend = func(int32) error {
		once.Do(func() { close(entered); <-release })
		return nil
	}
	h.log.mu.Unlock()

	guard := h.verify("g", 7)
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	wrote := make(chan int16)
	go func() {
		code := h.guardedTxnCommit(guard, txnCommitReq("g", 7, "t", map[int32]int64{0: 10}))
		note("write")
		wrote <- code
	}()
	<-entered
	ended := make(chan struct{})
	go func() {
		h.c.TxnEnding(p, 7, 2)
		note("ending")
		close(ended)
	}()
	close(release)
	wantCode(t, "write under way", <-wrote, 0)
	<-ended
	if !slices.Equal(order, []string{"write", "ending"}) {
		t.Fatalf("order %v: TxnEnding returned before the write was durable", order)
	}
	wantCode(t, "write after TxnEnding", h.guardedTxnCommit(guard, txnCommitReq("g", 7, "t", map[int32]int64{1: 10})), kerr.InvalidTxnState.Code)
}

// A write verified before its partition was loaded here (the coordinator
// moved in between) is NOT_COORDINATOR, which the client retries, not
// INVALID_TXN_STATE: no marker ended its transaction.
func TestTxnOffsetCommitGuardFromBeforeALoadIsNotCoordinator(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	p := h.c.PartitionFor("g")
	guard := h.verify("g", 7)
	h.c.Unload(p)
	if g := h.verify("g", 7); g != nil {
		t.Fatalf("guard taken on a partition not served here: %+v", g)
	}
	wantCode(t, "write while unloaded", h.guardedTxnCommit(guard, txnCommitReq("g", 7, "t", map[int32]int64{0: 10})), kerr.NotCoordinator.Code)
	if err := h.c.Load(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "write after the load", h.guardedTxnCommit(guard, txnCommitReq("g", 7, "t", map[int32]int64{0: 10})), kerr.NotCoordinator.Code)
	wantCode(t, "write verified again", h.guardedTxnCommit(h.verify("g", 7), txnCommitReq("g", 7, "t", map[int32]int64{0: 10})), 0)
}

// Transaction version 2: the next transaction, at the epoch its
// predecessor's markers carry, may be verified while those markers are
// still being written; its guard outlives them (Kafka keeps a verification
// entry whose epoch is the marker's), while its own abort, at the next
// epoch, drops it. A guard of a failed verification is dropped.
func TestTxnOffsetCommitNextTransactionVerifiedDuringMarkers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	p := h.c.PartitionFor("g")
	req := func(epoch int16, offset int64) *kmsg.TxnOffsetCommitRequest {
		r := txnCommitReq("g", 7, "t", map[int32]int64{0: offset})
		r.Version, r.ProducerEpoch = 5, epoch
		return r
	}
	// The first transaction ran at epoch 2; its markers carry epoch 3,
	// the epoch of the next.
	next, created := h.c.StartTxnVerification("g", 7, 3, true)
	if !created {
		t.Fatal("no guard was held, yet none was created")
	}
	h.c.TxnEnding(p, 7, 3)
	h.c.CompleteTxn(p, 7, true, 3)
	wantCode(t, "next transaction's write after its predecessor's markers", h.guardedTxnCommit(next, req(3, 10)), 0)

	// Its abort carries epoch 4: a write verified before it is refused,
	// abortable for a version 4+ client.
	h.c.TxnEnding(p, 7, 4)
	h.c.CompleteTxn(p, 7, false, 4)
	wantCode(t, "write after the abort", h.guardedTxnCommit(next, req(3, 11)), kerr.TransactionAbortable.Code)

	// A verification that fails leaves no guard behind.
	failed, created := h.c.StartTxnVerification("g", 8, 0, true)
	if !created {
		t.Fatal("a new producer's guard was not created")
	}
	h.c.EndTxnVerification(8, failed, 0)
	if again, created := h.c.StartTxnVerification("g", 8, 0, true); !created || again == failed {
		t.Fatal("the failed verification's guard is still held")
	}
}
