package replica_test

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/replica"
)

// A partition's directory is in two log directories and no relocation
// marker says which is the log. Settle reports it (the broker refuses to
// start, as Kafka's LogManager does on duplicate log directories) and the
// partition is opened from neither copy, rather than from the first log
// directory in log.dirs, which may hold the stale one.
func TestDuplicatePartitionDirectoriesAreNeverOpened(t *testing.T) {
	e := newReplicationEnv(t)
	var id cluster.TopicID
	rand.Read(id[:])
	e.propose(cluster.CreateTopic{Name: "dup", ID: id, Replicas: [][]int32{{1}}})
	e.waitFor("topic", func() bool { return e.node.Image().Topics.Value("dup") != nil })
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	staleReplica(t, filepath.Join(a, "dup-0"), id)
	staleReplica(t, filepath.Join(b, "dup-0"), id)
	m := replica.NewManager(replica.Config{
		NodeID:       1,
		LogDirs:      []string{a, b},
		BrokerConfig: func(img *cluster.Image) *config.Broker { return broker.EffectiveConfig(e.static, img, 1) },
	})
	defer m.Close()
	if err := m.Settle(); !errors.Is(err, log.ErrDuplicatePartitionDir) {
		t.Fatalf("Settle with dup-0 in %s and %s: %v", a, b, err)
	}
	m.Reconcile(e.node.Image()) // dup-0 fails to open; the error is checked below
	if _, ok := m.Partition("dup", 0); ok {
		t.Fatal("dup-0 opened from one of two unmarked copies")
	}
	for _, root := range []string{a, b} {
		if _, err := os.Stat(filepath.Join(root, "dup-0")); err != nil {
			t.Fatalf("a copy was removed: %v", err)
		}
	}
}
