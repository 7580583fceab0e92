package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testConfig(t *testing.T, dir string) Config {
	return Config{NodeID: 1, Dir: dir, Host: "127.0.0.1", Port: 9092, Rack: "r1", Logger: testLogger(t)}
}

// openTest opens a node that the test closes at the end (a second Close is
// harmless, so tests may close earlier).
func openTest(t *testing.T, cfg Config, tune func(*raft.Config)) *Node {
	t.Helper()
	n, err := open(testCtx(t), cfg, tune)
	if err != nil {
		t.Fatalf("open %s: %v", cfg.Dir, err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return n
}

func mustPropose(t *testing.T, n *Node, cmds ...Command) {
	t.Helper()
	for _, c := range cmds {
		if err := n.Propose(testCtx(t), c); err != nil {
			t.Fatalf("propose %#v: %v", c, err)
		}
	}
}

// waitFor polls cond until it holds, for what Raft does in the background
// without a notification (threshold snapshots).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := testCtx(t)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

func tid(b byte) TopicID { return TopicID{0: 0xab, 15: b} }

func str(s string) *string { return &s }

// checkImage fails unless img holds exactly the given topics (by name, with
// TopicsByID consistent with Topics) and broker configs.
func checkImage(t *testing.T, img *Image, topics []Topic, brokerConfigs map[string]map[string]string) {
	t.Helper()
	if img.Topics.Len() != img.TopicsByID.Len() {
		t.Errorf("%d topics by name, %d by ID", img.Topics.Len(), img.TopicsByID.Len())
	}
	for name, tp := range img.Topics.All() {
		if name != tp.Name || img.TopicsByID.Value(tp.ID) != tp {
			t.Errorf("topic %q: indexes disagree: by ID %v -> %+v", name, tp.ID, img.TopicsByID.Value(tp.ID))
		}
	}
	got := map[string]Topic{}
	for name, tp := range img.Topics.All() {
		got[name] = *tp
	}
	want := map[string]Topic{}
	for _, tp := range topics {
		want[tp.Name] = tp
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("topics:\n got %+v\nwant %+v", got, want)
	}
	if brokerConfigs == nil {
		brokerConfigs = map[string]map[string]string{}
	}
	if !reflect.DeepEqual(img.BrokerConfigs, brokerConfigs) {
		t.Errorf("broker configs: got %v, want %v", img.BrokerConfigs, brokerConfigs)
	}
}

func TestOpenLeadsRegistersBrokerAndSetsClusterID(t *testing.T) {
	t.Parallel()
	start := time.Now()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	t.Logf("Open led and was ready after %v", time.Since(start))

	img := n.Image()
	if img.ControllerID != 1 {
		t.Errorf("ControllerID = %d, want 1", img.ControllerID)
	}
	// The broker epoch is random (Broker.Epoch), never zero.
	epoch := img.Brokers[1].Epoch
	if epoch == 0 || epoch != n.epoch.Load() {
		t.Errorf("broker epoch %d, heartbeats carry %d", epoch, n.epoch.Load())
	}
	want := map[int32]Broker{1: {ID: 1, Host: "127.0.0.1", Port: 9092, Rack: "r1", Epoch: epoch, Level: commandLevel}}
	if !reflect.DeepEqual(img.Brokers, want) {
		t.Errorf("Brokers = %v, want %v", img.Brokers, want)
	}
	// Kafka's cluster IDs are unpadded base64url of a 16-byte UUID.
	if raw, err := base64.RawURLEncoding.DecodeString(img.ClusterID); err != nil || len(raw) != 16 || raw[6]>>4 != 4 {
		t.Errorf("ClusterID %q is not a base64url version 4 UUID (%v)", img.ClusterID, err)
	}
	checkImage(t, img, nil, nil)
}

func TestOpenHonoursContext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Open(ctx, testConfig(t, dir)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a cancelled context: %v, want context.Canceled", err)
	}
	// Too short to win an election: Open gives up and releases the stores.
	ctx, cancel = context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	if _, err := Open(ctx, testConfig(t, dir)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open with a 1ms deadline: %v, want context.DeadlineExceeded", err)
	}
	openTest(t, testConfig(t, dir), nil)
}

func TestOpenRefusesDirectoryInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openTest(t, testConfig(t, dir), nil)
	if n, err := Open(testCtx(t), testConfig(t, dir)); err == nil {
		n.Close()
		t.Fatal("second Open of a directory in use succeeded")
	}
}

func TestPropose(t *testing.T) {
	t.Parallel()
	a := CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1}, {1}}, Configs: map[string]string{"retention.ms": "1000"}}
	aTopic := Topic{Name: "a", ID: tid(1), Configs: map[string]string{"retention.ms": "1000"}, Partitions: []Partition{
		{Index: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}},
		{Index: 1, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}},
	}}
	withConfigs := func(tp Topic, m map[string]string) Topic { tp.Configs = m; return tp }

	tests := []struct {
		name          string
		setup         []Command
		cmd           Command
		wantErr       error
		topics        []Topic
		brokerConfigs map[string]map[string]string
	}{{
		name:   "create topic",
		cmd:    a,
		topics: []Topic{aTopic},
	}, {
		name:  "create topic: first replica leads, all in sync",
		setup: []Command{RegisterBroker{Broker: Broker{Level: commandLevel, ID: 2}}, RegisterBroker{Broker: Broker{Level: commandLevel, ID: 3}}},
		cmd:   CreateTopic{Name: "b", ID: tid(2), Replicas: [][]int32{{2, 1, 3}, {3, 2, 1}}},
		topics: []Topic{{Name: "b", ID: tid(2), Configs: map[string]string{}, Partitions: []Partition{
			{Index: 0, Leader: 2, Replicas: []int32{2, 1, 3}, ISR: []int32{2, 1, 3}},
			{Index: 1, Leader: 3, Replicas: []int32{3, 2, 1}, ISR: []int32{3, 2, 1}},
		}}},
	}, {
		// Kafka's ReplicationControlManager: the ISR of a new partition
		// is its live replicas, and the first of them leads.
		name:  "create topic: fenced and unregistered replicas start out of sync",
		setup: []Command{RegisterBroker{Broker: Broker{Level: commandLevel, ID: 3, Fenced: true}}},
		cmd:   CreateTopic{Name: "b", ID: tid(2), Replicas: [][]int32{{3, 2, 1}, {1, 3}}},
		topics: []Topic{{Name: "b", ID: tid(2), Configs: map[string]string{}, Partitions: []Partition{
			{Index: 0, Leader: 1, Replicas: []int32{3, 2, 1}, ISR: []int32{1}},
			{Index: 1, Leader: 1, Replicas: []int32{1, 3}, ISR: []int32{1}},
		}}},
	}, {
		name:    "create topic: no live replica",
		setup:   []Command{RegisterBroker{Broker: Broker{Level: commandLevel, ID: 3, Fenced: true}}, RegisterBroker{Broker: Broker{Level: commandLevel, ID: 4, ShuttingDown: true}}},
		cmd:     CreateTopic{Name: "b", ID: tid(2), Replicas: [][]int32{{1}, {3, 4, 5}}},
		wantErr: ErrNoLiveReplica,
	}, {
		name:    "create topic: name exists",
		setup:   []Command{a},
		cmd:     CreateTopic{Name: "a", ID: tid(9), Replicas: [][]int32{{1}}},
		wantErr: ErrTopicExists,
		topics:  []Topic{aTopic},
	}, {
		name:    "create topic: ID exists",
		setup:   []Command{a},
		cmd:     CreateTopic{Name: "other", ID: tid(1), Replicas: [][]int32{{1}}},
		wantErr: ErrTopicExists,
		topics:  []Topic{aTopic},
	}, {
		name:    "create topic: no partitions",
		cmd:     CreateTopic{Name: "a", ID: tid(1)},
		wantErr: ErrInvalidPartitions,
	}, {
		name:    "create topic: partition without replicas",
		cmd:     CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1}, {}}},
		wantErr: ErrInvalidReplication,
	}, {
		name:    "create topic: replica twice",
		cmd:     CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1, 2, 1}}},
		wantErr: ErrInvalidReplication,
	}, {
		name:   "delete topic",
		setup:  []Command{a, CreateTopic{Name: "b", ID: tid(2), Replicas: [][]int32{{1}}}},
		cmd:    DeleteTopic{ID: tid(2)},
		topics: []Topic{aTopic},
	}, {
		name:    "delete topic: unknown ID",
		setup:   []Command{a},
		cmd:     DeleteTopic{ID: tid(2)},
		wantErr: ErrUnknownTopic,
		topics:  []Topic{aTopic},
	}, {
		name:  "create partitions appends",
		setup: []Command{a},
		cmd:   CreatePartitions{ID: tid(1), Replicas: [][]int32{{2, 1}, {1}}},
		topics: []Topic{{Name: "a", ID: tid(1), Configs: aTopic.Configs, Partitions: []Partition{
			{Index: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}},
			{Index: 1, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}},
			// Broker 2 is not registered: it starts out of sync.
			{Index: 2, Leader: 1, Replicas: []int32{2, 1}, ISR: []int32{1}},
			{Index: 3, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}},
		}}},
	}, {
		name:    "create partitions: no live replica",
		setup:   []Command{a, RegisterBroker{Broker: Broker{Level: commandLevel, ID: 2, Fenced: true}}},
		cmd:     CreatePartitions{ID: tid(1), Replicas: [][]int32{{1}, {2}}},
		wantErr: ErrNoLiveReplica,
		topics:  []Topic{aTopic},
	}, {
		name:    "create partitions: count must grow",
		setup:   []Command{a},
		cmd:     CreatePartitions{ID: tid(1)},
		wantErr: ErrInvalidPartitions,
		topics:  []Topic{aTopic},
	}, {
		name:    "create partitions: unknown topic",
		cmd:     CreatePartitions{ID: tid(1), Replicas: [][]int32{{1}}},
		wantErr: ErrUnknownTopic,
	}, {
		name:   "alter topic configs: set and delete",
		setup:  []Command{a},
		cmd:    AlterConfigs{ResourceType: 2, Name: "a", Set: map[string]*string{"retention.ms": nil, "cleanup.policy": str("compact")}},
		topics: []Topic{withConfigs(aTopic, map[string]string{"cleanup.policy": "compact"})},
	}, {
		name: "alter topic configs: replace",
		setup: []Command{a, AlterConfigs{ResourceType: 2, Name: "a", Set: map[string]*string{
			"cleanup.policy": str("compact"), "segment.bytes": str("1024")}}},
		cmd:    AlterConfigs{ResourceType: 2, Name: "a", Replace: true, Set: map[string]*string{"segment.bytes": str("2048"), "x": nil}},
		topics: []Topic{withConfigs(aTopic, map[string]string{"segment.bytes": "2048"})},
	}, {
		name:    "alter topic configs: unknown topic",
		cmd:     AlterConfigs{ResourceType: 2, Name: "nope", Set: map[string]*string{"retention.ms": str("1")}},
		wantErr: ErrUnknownTopic,
	}, {
		name:  "alter broker configs: cluster default and one broker",
		setup: []Command{AlterConfigs{ResourceType: 4, Name: "", Set: map[string]*string{"log.retention.ms": str("5")}}},
		cmd:   AlterConfigs{ResourceType: 4, Name: "1", Set: map[string]*string{"log.cleaner.threads": str("2")}},
		brokerConfigs: map[string]map[string]string{
			"":  {"log.retention.ms": "5"},
			"1": {"log.cleaner.threads": "2"},
		},
	}, {
		name:          "alter broker configs: deleting the last key removes the resource",
		setup:         []Command{AlterConfigs{ResourceType: 4, Name: "1", Set: map[string]*string{"a": str("1"), "b": str("2")}}},
		cmd:           AlterConfigs{ResourceType: 4, Name: "1", Set: map[string]*string{"a": nil, "b": nil}},
		brokerConfigs: map[string]map[string]string{},
	}, {
		name:    "alter broker configs: name is not a broker ID",
		cmd:     AlterConfigs{ResourceType: 4, Name: "broker-1", Set: map[string]*string{"a": str("1")}},
		wantErr: ErrInvalidResource,
	}, {
		name:    "alter configs: unsupported resource type",
		cmd:     AlterConfigs{ResourceType: 3, Name: "group", Set: map[string]*string{"a": str("1")}},
		wantErr: ErrInvalidResource,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := openTest(t, testConfig(t, t.TempDir()), nil)
			mustPropose(t, n, tt.setup...)
			before := n.Image()
			err := n.Propose(testCtx(t), tt.cmd)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Propose: %v, want %v", err, tt.wantErr)
			}
			img := n.Image()
			if err != nil && img.Index != before.Index {
				t.Errorf("failed command moved the image from index %d to %d", before.Index, img.Index)
			}
			if err == nil && img.Index <= before.Index {
				t.Errorf("applied command left the image at index %d (was %d)", img.Index, before.Index)
			}
			checkImage(t, img, tt.topics, tt.brokerConfigs)
		})
	}
}

func TestProposeCreateTopicWithoutIDAssignsOne(t *testing.T) {
	t.Parallel()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	mustPropose(t, n, CreateTopic{Name: "x", Replicas: [][]int32{{1}}}, CreateTopic{Name: "y", Replicas: [][]int32{{1}}})
	x, y := n.Image().Topics.Value("x"), n.Image().Topics.Value("y")
	if x == nil || y == nil || x.ID == (TopicID{}) || x.ID == y.ID {
		t.Fatalf("topics x=%+v y=%+v: want distinct non-zero IDs", x, y)
	}
}

func TestImagesAreNotModified(t *testing.T) {
	t.Parallel()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	mustPropose(t, n, CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1}}, Configs: map[string]string{"k": "v"}},
		AlterConfigs{ResourceType: 4, Name: "", Set: map[string]*string{"k": str("v")}})
	old := n.Image()
	oldA := *old.Topics.Value("a")
	oldA.Partitions = slices.Clone(oldA.Partitions)
	oldA.Configs = maps.Clone(oldA.Configs)
	oldBC := maps.Clone(old.BrokerConfigs[""])
	mustPropose(t, n,
		CreatePartitions{ID: tid(1), Replicas: [][]int32{{1}}},
		AlterConfigs{ResourceType: 2, Name: "a", Set: map[string]*string{"k": str("w")}},
		AlterConfigs{ResourceType: 4, Name: "", Set: map[string]*string{"k": str("w")}},
		CreateTopic{Name: "b", ID: tid(2), Replicas: [][]int32{{1}}},
		DeleteTopic{ID: tid(1)},
	)
	if old.Topics.Len() != 1 || old.TopicsByID.Len() != 1 || !reflect.DeepEqual(*old.Topics.Value("a"), oldA) || !reflect.DeepEqual(old.BrokerConfigs[""], oldBC) {
		t.Fatalf("an earlier image changed: topics %v, a %+v, broker configs %v", slices.Sorted(old.Topics.Keys()), *old.Topics.Value("a"), old.BrokerConfigs)
	}
}

func TestChangedIsClosedOnEveryChange(t *testing.T) {
	t.Parallel()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	for i, cmd := range []Command{
		CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1}}},
		AlterConfigs{ResourceType: 2, Name: "a", Set: map[string]*string{"k": str("v")}},
		DeleteTopic{ID: tid(1)},
	} {
		changed := n.Changed()
		select {
		case <-changed:
			t.Fatalf("step %d: Changed() closed before any change", i)
		default:
		}
		mustPropose(t, n, cmd)
		select {
		case <-changed:
		case <-testCtx(t).Done():
			t.Fatalf("step %d: Changed() not closed after %T", i, cmd)
		}
	}
	changed := n.Changed()
	n.Close()
	select {
	case <-changed:
		if got := n.Image().ControllerID; got != noController {
			t.Errorf("after Close, ControllerID = %d, want %d", got, noController)
		}
	case <-testCtx(t).Done():
		t.Fatal("Changed() not closed when Close dropped the controller")
	}
}

func TestProposeAfterCloseFails(t *testing.T) {
	t.Parallel()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	err := n.Propose(testCtx(t), CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1}}})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Propose after Close: %v, want ErrClosed", err)
	}
}

func TestProposeHonoursContext(t *testing.T) {
	t.Parallel()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// The command may or may not commit; the caller learns only that it
	// stopped waiting.
	if err := n.Propose(ctx, CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1}}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Propose with a cancelled context: %v", err)
	}
}

// TestRestartRecovers closes a node and opens its directory again: the
// image must be the same, with entries replayed from the log, restored
// from a snapshot, or both.
func TestRestartRecovers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		tune      func(*raft.Config)
		snapshot  bool
		compacted bool // the log keeps nothing the snapshot covers
	}{
		{name: "from the log"},
		{name: "from a snapshot", snapshot: true, compacted: true, tune: func(c *raft.Config) { c.TrailingLogs = 0 }},
		{name: "from a snapshot and the log after it", snapshot: true},
		{name: "from threshold snapshots", tune: func(c *raft.Config) {
			c.SnapshotThreshold, c.SnapshotInterval, c.TrailingLogs = 2, 5*time.Millisecond, 1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, t.TempDir())
			n := openTest(t, cfg, tt.tune)
			mustPropose(t, n,
				CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1}, {1}}, Configs: map[string]string{"retention.ms": "1"}},
				CreateTopic{Name: "b", ID: tid(2), Replicas: [][]int32{{1}}},
				CreatePartitions{ID: tid(2), Replicas: [][]int32{{1}}},
				AlterConfigs{ResourceType: 4, Name: "", Set: map[string]*string{"log.retention.ms": str("7")}},
				CreateTopic{Name: "c", ID: tid(3), Replicas: [][]int32{{1}}},
				DeleteTopic{ID: tid(3)},
			)
			if tt.snapshot {
				if err := n.rs.raft.Snapshot().Error(); err != nil {
					t.Fatalf("snapshot: %v", err)
				}
				if first, _ := n.rs.store.FirstIndex(); tt.compacted && first != 0 && first <= n.Image().Index {
					t.Fatalf("log still starts at %d after a snapshot at %d", first, n.Image().Index)
				}
			}
			mustPropose(t, n, AlterConfigs{ResourceType: 2, Name: "a", Set: map[string]*string{"cleanup.policy": str("compact")}})
			if tt.tune != nil && !tt.snapshot {
				waitFor(t, "a threshold snapshot past the last topic", func() bool {
					idx, _ := strconv.ParseUint(n.rs.raft.Stats()["last_snapshot_index"], 10, 64)
					return idx >= n.Image().Index-2
				})
			}
			want := n.Image()
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			if tt.snapshot || tt.tune != nil {
				snaps, err := filepath.Glob(filepath.Join(cfg.Dir, "snapshots", "*", "state.bin"))
				if err != nil || len(snaps) == 0 || len(snaps) > snapshotsRetained {
					t.Fatalf("snapshots on disk: %v (%v), want 1..%d", snaps, err, snapshotsRetained)
				}
			}

			n2 := openTest(t, cfg, tt.tune)
			got := n2.Image()
			if got.Index != want.Index {
				// Nothing new to propose: the broker is registered and the
				// cluster has its ID.
				t.Errorf("reopened image at index %d, want %d", got.Index, want.Index)
			}
			if got.ClusterID != want.ClusterID || got.ControllerID != 1 || !reflect.DeepEqual(got.Brokers, want.Brokers) {
				t.Errorf("reopened: cluster %q controller %d brokers %v; want %q 1 %v",
					got.ClusterID, got.ControllerID, got.Brokers, want.ClusterID, want.Brokers)
			}
			checkImage(t, got, []Topic{
				{Name: "a", ID: tid(1), Configs: map[string]string{"retention.ms": "1", "cleanup.policy": "compact"}, Partitions: []Partition{
					{Index: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}},
					{Index: 1, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}},
				}},
				{Name: "b", ID: tid(2), Configs: map[string]string{}, Partitions: []Partition{
					{Index: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}},
					{Index: 1, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}},
				}},
			}, map[string]map[string]string{"": {"log.retention.ms": "7"}})

			// The recovered node keeps working, and survives another restart.
			mustPropose(t, n2, DeleteTopic{ID: tid(1)})
			if err := n2.Close(); err != nil {
				t.Fatal(err)
			}
			n3 := openTest(t, cfg, tt.tune)
			if _, ok := n3.Image().Topics.Get("a"); ok || n3.Image().Topics.Len() != 1 || n3.Image().ClusterID != want.ClusterID {
				t.Errorf("after a second restart: topics %v, cluster %q", n3.Image().Topics, n3.Image().ClusterID)
			}
		})
	}
}

func TestRestartReregistersChangedEndpoint(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	n := openTest(t, cfg, nil)
	epoch := n.Image().Brokers[1].Epoch
	n.Close()
	cfg.Host, cfg.Port, cfg.Rack = "10.0.0.7", 19092, ""
	n2 := openTest(t, cfg, nil)
	// A one-voter cluster's broker keeps its epoch: nothing else counts
	// its heartbeats.
	want := map[int32]Broker{1: {ID: 1, Host: "10.0.0.7", Port: 19092, Epoch: epoch, Level: commandLevel}}
	if got := n2.Image().Brokers; !reflect.DeepEqual(got, want) {
		t.Fatalf("Brokers after restart with a new endpoint = %v, want %v", got, want)
	}
}

func TestConcurrentProposalsAndReads(t *testing.T) {
	t.Parallel()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	const writers = 16
	errs := make(chan error, writers)
	done := make(chan struct{})
	go func() { // a reader walking every image it is told about
		defer close(done)
		for {
			changed := n.Changed()
			img := n.Image()
			for _, tp := range img.Topics.All() {
				_ = img.TopicsByID.Value(tp.ID).Partitions[0].Leader
			}
			if img.Topics.Len() == writers {
				return
			}
			select {
			case <-changed:
			case <-testCtx(t).Done():
				return
			}
		}
	}()
	for i := range writers {
		go func() {
			errs <- n.Propose(testCtx(t), CreateTopic{Name: fmt.Sprintf("t%d", i), Replicas: [][]int32{{1}}})
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if got := n.Image().Topics.Len(); got != writers {
		t.Fatalf("%d topics, want %d", got, writers)
	}
}

// Producer IDs are reserved in blocks through the log, so no ID is handed
// out twice, across brokers, snapshots and restarts (Kafka's
// AllocateProducerIds, KIP-730).
func TestAllocateProducerIDsNeverRepeats(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	n := openTest(t, cfg, nil)
	block := func(n *Node, broker int32, count int64) int64 {
		t.Helper()
		mustPropose(t, n, AllocateProducerIDs{BrokerID: broker, Count: count})
		return n.Image().ProducerIDBlocks[broker]
	}
	if got := block(n, 1, 1000); got != 0 {
		t.Fatalf("first block starts at %d, want 0", got)
	}
	if got := block(n, 2, 1000); got != 1000 {
		t.Fatalf("second broker's block starts at %d, want 1000", got)
	}
	if got := block(n, 1, 500); got != 2000 {
		t.Fatalf("third block starts at %d, want 2000", got)
	}
	if err := n.Propose(testCtx(t), AllocateProducerIDs{BrokerID: 1, Count: 0}); err == nil {
		t.Fatal("a block of 0 IDs was accepted")
	}
	if err := n.rs.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := openTest(t, cfg, nil)
	if img := n2.Image(); img.NextProducerID != 2500 || img.ProducerIDBlocks[2] != 1000 {
		t.Fatalf("after restart: next %d, blocks %v", img.NextProducerID, img.ProducerIDBlocks)
	}
	if got := block(n2, 1, 1000); got != 2500 {
		t.Fatalf("block after restart starts at %d, want 2500", got)
	}
}

// TestProposeCreateTopicRetryIsIdempotent: a CreateTopic retried after it
// committed (a leader change mid-proposal) finds its own topic, by ID, and
// succeeds; another topic of the same name is still ErrTopicExists.
func TestProposeCreateTopicRetryIsIdempotent(t *testing.T) {
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	create := CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{1}}}
	mustPropose(t, n, create)
	if err := n.Propose(testCtx(t), create); err != nil {
		t.Fatalf("retried create: %v", err)
	}
	other := CreateTopic{Name: "t", ID: tid(2), Replicas: [][]int32{{1}}}
	if err := n.Propose(testCtx(t), other); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("create of another topic named t: %v, want ErrTopicExists", err)
	}
}

// Producer IDs a mirror copied from another cluster are reserved: the next
// block starts past them, the reservation never lowers anything, and it
// survives a snapshot and a restart.
func TestReserveProducerIDsRaisesTheNextBlock(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	n := openTest(t, cfg, nil)
	mustPropose(t, n, AllocateProducerIDs{BrokerID: 1, Count: 1000})
	mustPropose(t, n, ReserveProducerIDs{Above: 4999})
	if img := n.Image(); img.NextProducerID != 5000 || img.ProducerIDFloor != 5000 || img.ProducerIDBlocks[1] != 0 {
		t.Fatalf("after reserving up to 4999: next %d, floor %d, blocks %v", img.NextProducerID, img.ProducerIDFloor, img.ProducerIDBlocks)
	}
	// A lower reservation changes nothing; one below NextProducerID
	// raises only the floor.
	mustPropose(t, n, ReserveProducerIDs{Above: 10})
	if img := n.Image(); img.NextProducerID != 5000 || img.ProducerIDFloor != 5000 {
		t.Fatalf("a lower reservation moved next %d, floor %d", img.NextProducerID, img.ProducerIDFloor)
	}
	mustPropose(t, n, AllocateProducerIDs{BrokerID: 2, Count: 1000})
	mustPropose(t, n, ReserveProducerIDs{Above: 5500})
	if img := n.Image(); img.NextProducerID != 6000 || img.ProducerIDFloor != 5501 || img.ProducerIDBlocks[2] != 5000 {
		t.Fatalf("reservation inside a block: next %d, floor %d, blocks %v", img.NextProducerID, img.ProducerIDFloor, img.ProducerIDBlocks)
	}
	if err := n.Propose(testCtx(t), ReserveProducerIDs{Above: -1}); err == nil {
		t.Fatal("reserving up to -1 was accepted")
	}
	// IDs past the allocatable space are never handed out: nothing to do.
	mustPropose(t, n, ReserveProducerIDs{Above: MaxReservableProducerID + 1})
	if img := n.Image(); img.NextProducerID != 6000 || img.ProducerIDFloor != 5501 {
		t.Fatalf("reserving past the ID space moved next %d, floor %d", img.NextProducerID, img.ProducerIDFloor)
	}
	if err := n.rs.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := openTest(t, cfg, nil)
	if img := n2.Image(); img.NextProducerID != 6000 || img.ProducerIDFloor != 5501 {
		t.Fatalf("after restart: next %d, floor %d", img.NextProducerID, img.ProducerIDFloor)
	}
}
