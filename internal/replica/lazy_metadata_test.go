package replica_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/cluster"
)

// A new partition has no directory, and so no partition.metadata, until
// its first record: the leader writes both before its first append, a
// follower before the first batch it copies, each with the topic's ID; a
// partition that gets no record never has either.
func TestPartitionMetadataWrittenBeforeFirstAppend(t *testing.T) {
	e := newReplicationEnv(t)
	e.propose(cluster.RegisterBroker{Broker: cluster.Broker{ID: 2, Host: "127.0.0.1", Port: 1}})
	var id cluster.TopicID
	rand.Read(id[:])
	e.propose(cluster.CreateTopic{Name: "r", ID: id, Replicas: [][]int32{{1, 2}, {1, 2}}})
	e.waitFor("the leader to lead both partitions", func() bool {
		p0, ok0 := e.leader.Partition("r", 0)
		p1, ok1 := e.leader.Partition("r", 1)
		return ok0 && ok1 && p0.IsLeader() && p1.IsLeader()
	})
	lp0, _ := e.leader.Partition("r", 0)
	lp1, _ := e.leader.Partition("r", 1)
	metadata := func(dir string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, "partition.metadata"))
		return string(b), err
	}
	partDir := func(root string, i int) string { return filepath.Join(root, "r-"+string(rune('0'+i))) }
	for _, p := range []string{partDir(lp0.Dir(), 0), partDir(lp1.Dir(), 1)} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: partition directory before any record: %v", p, err)
		}
	}

	fm, stop := e.follower(2, filepath.Join(t.TempDir(), "follower"))
	defer stop()
	if err := e.produce(e.client(), "first"); err != nil {
		t.Fatalf("produce: %v", err)
	}
	// The record went to one of the two partitions: w got it, q did not.
	w, q := 0, 1
	if lp0.LogEndOffset() == 0 {
		w, q = 1, 0
	}
	lw, _ := e.leader.Partition("r", int32(w))
	if lw.LogEndOffset() != 1 {
		t.Fatalf("log end offsets %d and %d after one record", lp0.LogEndOffset(), lp1.LogEndOffset())
	}
	want := "topic_id: " + base64.RawURLEncoding.EncodeToString(id[:])
	if got, err := metadata(partDir(lw.Dir(), w)); err != nil || !strings.Contains(got, want) {
		t.Fatalf("leader's partition.metadata after the first record: %q, %v; want %q", got, err, want)
	}
	fw, ok := fm.Partition("r", int32(w))
	if !ok {
		t.Fatalf("follower does not host r-%d", w)
	}
	e.waitFor("the follower to copy the record", func() bool { return fw.LogEndOffset() == 1 })
	if got, err := metadata(partDir(fw.Dir(), w)); err != nil || !strings.Contains(got, want) {
		t.Fatalf("follower's partition.metadata after copying a record: %q, %v", got, err)
	}
	if _, err := metadata(lw.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("partition.metadata in the log directory itself: %v", err)
	}
	lq, _ := e.leader.Partition("r", int32(q))
	fq, _ := fm.Partition("r", int32(q))
	for _, dir := range []string{partDir(lq.Dir(), q), partDir(fq.Dir(), q)} {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: directory of a partition without records: %v", dir, err)
		}
	}
}

// RemoveOrphans removes the empty directory of a partition whose topic
// was deleted while the broker was down before it got a record (so before
// it had a partition.metadata), and leaves alone a directory that is not
// empty and has neither partition.metadata nor segments (not a partition
// of Sluice's), and the directories of topics that exist.
func TestRemoveOrphansRemovesEmptyPartitionDirectories(t *testing.T) {
	e := newReplicationEnv(t)
	var id cluster.TopicID
	rand.Read(id[:])
	e.propose(cluster.CreateTopic{Name: "kept", ID: id, Replicas: [][]int32{{1}}})
	e.waitFor("the leader to host kept-0", func() bool { _, ok := e.leader.Partition("kept", 0); return ok })
	root := e.leader.LogDirs()[0]
	for _, d := range []string{"gone-0", "other-1", "kept-0"} { // kept-0 as a crash before its first record leaves it
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "other-1", "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.leader.RemoveOrphans(e.node.Image()); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{"gone-0": false, "other-1": true, "kept-0": true} {
		_, err := os.Stat(filepath.Join(root, dir))
		if got := err == nil; got != want {
			t.Errorf("%s: exists %v, want %v (%v)", dir, got, want, err)
		}
	}
}
