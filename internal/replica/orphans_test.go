package replica_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
)

// staleReplica leaves in dir a partition directory holding one record,
// whose partition.metadata names topic id (a topic of the same name
// deleted while the broker was down).
func staleReplica(t *testing.T, dir string, id cluster.TopicID) {
	t.Helper()
	tcfg, err := config.ResolveTopic(mustBroker(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := log.Open(dir, replica.LogConfig(tcfg), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := record.Build(record.BuildOptions{}, []record.Record{{Value: []byte("stale")}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := record.Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(b, h, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	meta := "version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "partition.metadata"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustBroker(t *testing.T) *config.Broker {
	t.Helper()
	b, err := config.NewBroker(map[string]string{"node.id": "1"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The data of a topic deleted while the broker was down and created again
// under the same name goes: RemoveOrphans leaves a partition the image
// places on this broker to its opening, which finds the other topic ID
// and starts it empty, and removes one placed elsewhere (here, a
// partition the new topic does not have) itself.
func TestStaleDataOfARecreatedTopicIsRemoved(t *testing.T) {
	e := newReplicationEnv(t)
	var id, old cluster.TopicID
	rand.Read(id[:])
	rand.Read(old[:])
	e.propose(cluster.CreateTopic{Name: "again", ID: id, Replicas: [][]int32{{1}}})
	e.waitFor("the leader to host again-0", func() bool { _, ok := e.leader.Partition("again", 0); return ok })

	root := filepath.Join(t.TempDir(), "data")
	staleReplica(t, filepath.Join(root, "again-0"), old)
	staleReplica(t, filepath.Join(root, "again-3"), old)
	m := replica.NewManager(replica.Config{
		NodeID:       1,
		LogDirs:      []string{root},
		BrokerConfig: func(img *cluster.Image) *config.Broker { return broker.EffectiveConfig(e.static, img, 1) },
	})
	defer m.Close()
	img := e.node.Image()
	if err := m.RemoveOrphans(img); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "again-3")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("again-3, placed nowhere, after RemoveOrphans: %v", err)
	}
	if err := m.Reconcile(img); err != nil {
		t.Fatal(err)
	}
	p, ok := m.Partition("again", 0)
	if !ok {
		t.Fatal("again-0 not hosted after Reconcile")
	}
	if p.LogEndOffset() != 0 {
		t.Fatalf("again-0 opened with the old topic's data: log end %d", p.LogEndOffset())
	}
}
