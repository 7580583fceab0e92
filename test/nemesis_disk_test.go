package test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// nemesisBrokers are the brokers of TestNemesis as the scheduler drives
// them: each runs the faultfs build with a control file of its own (disk
// faults, package faultfs) and an HTTP listener (GET /v1/replicas, where
// each replica's own high watermark is read).
type nemesisBrokers struct {
	c    cluster
	ctl  map[int32]string // the control file of each broker
	http map[int32]string // the HTTP admin address of each broker

	mu  sync.Mutex
	gen map[int32]int // bumped when a broker's process is killed and started again
}

// nemesisDiskRules are the disk faults the scheduler writes into a
// broker's control file: each takes the broker's log directory offline
// (KIP-112), which moves its leaderships to in-sync replicas, until a
// restart on a healthy disk.
var nemesisDiskRules = map[string]string{
	"disk-fsync-eio":    "sync EIO",
	"disk-full":         "write ENOSPC",
	"disk-short-writes": "write short",
}

// nemesisSlowDisk is a disk that stalls every fsync, held and then
// lifted without a restart: a broker on it stays in its ISRs if its
// stalls are shorter than replica.lag.time.max.ms.
const nemesisSlowDisk = "sync delay=400ms"

// onFaultBuild starts every broker of nc again, one at a time so that the
// metadata quorum keeps a majority, on a binary built with the faultfs tag,
// each with its control file and an HTTP listener, and returns them behind
// the cluster interface. The cluster is fresh: nothing but metadata is
// lost to the kill.
func onFaultBuild(t *testing.T, nc *netCluster) *nemesisBrokers {
	t.Helper()
	bin, err := faultBinary()
	if err != nil {
		t.Fatal(err)
	}
	c := nc.asCluster()
	b := &nemesisBrokers{c: c, ctl: map[int32]string{}, http: map[int32]string{}, gen: map[int32]int{}}
	dir := t.TempDir()
	for _, id := range c.ids() {
		b.ctl[id] = filepath.Join(dir, fmt.Sprintf("faults-%d", id))
		b.http[id] = freeLoopbackAddr(t)
		c.kill(id)
		p := nc.node(id)
		p.bin = bin
		p.env = []string{"SLUICE_FAULTFS=" + b.ctl[id]}
		p.args = append(p.args, "--http-listen", b.http[id])
		c.start(id)
	}
	return b
}

// setDisk replaces broker id's disk faults with rule ("" for none). The
// file is renamed into place so that the broker never reads half of it.
func (b *nemesisBrokers) setDisk(id int32, rule string) error {
	tmp := b.ctl[id] + ".tmp"
	if err := os.WriteFile(tmp, []byte(rule+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, b.ctl[id])
}

// restartHealthy kills broker id, takes its disk faults away and starts
// it again: an operator replacing a failed disk.
func (b *nemesisBrokers) restartHealthy(id int32) error {
	b.kill9(id)
	if err := b.setDisk(id, ""); err != nil {
		return err
	}
	b.start(id)
	return nil
}

// kill9 kills broker id with SIGKILL; start starts it again. The
// generation moves on both before the kill and once the process is gone,
// so that an answer of the old process read while it was dying is never
// taken for one of the next.
func (b *nemesisBrokers) kill9(id int32) {
	b.bump(id)
	b.c.kill(id)
	b.bump(id)
}

func (b *nemesisBrokers) start(id int32) {
	b.c.start(id)
	b.bump(id)
}

func (b *nemesisBrokers) bump(id int32) {
	b.mu.Lock()
	b.gen[id]++
	b.mu.Unlock()
}

// generation says which life of broker id's process an observation
// belongs to: a restarted replica starts again from its checkpointed
// high watermark, which may be older than the last one it had.
func (b *nemesisBrokers) generation(id int32) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gen[id]
}
