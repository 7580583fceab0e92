package replica_test

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/replica"
)

// A follower whose log is empty at an offset past the leader's log end
// (it restarted at an old leader's log start; the leader now is an unclean
// one with a shorter log): OFFSET_OUT_OF_RANGE past the end sends it back
// to truncation, which cuts nothing from an empty log, and it would fetch the
// same offset again. It starts over at the leader's log start instead.
func TestEmptyFollowerPastTheLeadersEndCatchesUp(t *testing.T) {
	e := newReplicationEnv(t)
	e.propose(cluster.RegisterBroker{Broker: cluster.Broker{ID: 2, Host: "127.0.0.1", Port: 1}})
	var id cluster.TopicID
	rand.Read(id[:])
	e.propose(cluster.CreateTopic{Name: "r", ID: id, Replicas: [][]int32{{1, 2}}})
	e.waitFor("the leader to lead", func() bool {
		p, ok := e.leader.Partition("r", 0)
		return ok && p.IsLeader()
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 5 {
		if err := cl.ProduceSync(e.ctx, &kgo.Record{Topic: "r", Partition: 0, Value: []byte("v" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// The follower's replica on disk: empty, starting at 10.
	root := filepath.Join(t.TempDir(), "follower")
	dir := filepath.Join(root, "r-0")
	tcfg, _ := config.ResolveTopic(mustBroker(t), nil)
	l, err := log.Open(dir, replica.LogConfig(tcfg), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateFullyAndStartAt(10); err != nil {
		t.Fatal(err)
	}
	l.Close()
	meta := "version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n"
	os.WriteFile(filepath.Join(dir, "partition.metadata"), []byte(meta), 0o644)

	fm, stop := e.follower(2, root)
	defer stop()
	fp, _ := fm.Partition("r", 0)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && fp.LogEndOffset() != 5 {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("follower: start %d end %d hw %d; leader end 5", fp.LogStartOffset(), fp.LogEndOffset(), fp.HighWatermark())
	if fp.LogEndOffset() != 5 {
		t.Fatalf("follower never truncated to the leader's end: log end %d", fp.LogEndOffset())
	}
}
