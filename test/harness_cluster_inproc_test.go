package test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluice-io/sluice/internal/faultfs"
	"github.com/sluice-io/sluice/internal/log"
)

// inprocCluster is the cluster interface over brokers in the test's own
// process (an fsCluster), each with its partition logs on a filesystem
// in memory of its own that can lose power (faultfs.Mem), so that kill
// loses what a power cut loses. Their metadata (Raft) stays on the real
// disk. They start in a fraction of a process's time and fail inside the
// test's stack traces.
//
// All of them share one process, so none can be paused alone (pause
// freezes a process) and the fault proxies cannot tell their connections
// apart (they label connections by the process that opened them): pause,
// resume, isolate and partition return errUnsupported.
type inprocCluster struct {
	*fsCluster

	fsMu sync.Mutex
	mems []*faultfs.Mem
}

// startInProcess starts n in-process brokers, each on a filesystem in
// memory of its own.
func startInProcess(t testing.TB, n int, settings map[string]string, opts ...clusterOpt) *inprocCluster {
	t.Helper()
	c := &inprocCluster{mems: make([]*faultfs.Mem, n)}
	for i := range c.mems {
		c.mems[i] = faultfs.NewMem()
	}
	c.fsCluster = startFSCluster(t, n, settings, c.fsOf, opts...)
	return c
}

var _ cluster = (*inprocCluster)(nil)

// asCluster is c behind the cluster interface, on the filesystems the
// test gave it: kill closes a broker as abruptly, but its filesystem keeps
// what it had (the test cuts the power itself if it wants to).
func (c *fsCluster) asCluster() *inprocCluster { return &inprocCluster{fsCluster: c} }

// fsOf is broker i's (0-based) filesystem as it is now.
func (c *inprocCluster) fsOf(i int) log.FS {
	c.fsMu.Lock()
	defer c.fsMu.Unlock()
	return c.mems[i]
}

// filesystems gives the brokers that start next their filesystems.
func (c *inprocCluster) filesystems() func(i int) log.FS {
	if c.mems != nil {
		return c.fsOf
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fsFor
}

func (c *inprocCluster) tb() testing.TB { return c.t }
func (c *inprocCluster) kind() string   { return "in-process" }

func (c *inprocCluster) ids() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int32, len(c.listens))
	for i := range out {
		out[i] = int32(i + 1)
	}
	return out
}

func (c *inprocCluster) addr(id int32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listens[id-1]
}

func (c *inprocCluster) up(id int32) bool    { return c.node(int(id-1)) != nil }
func (c *inprocCluster) admin() *kadm.Client { return kadm.NewClient(c.client()) }

// controllerAddr is broker id's entry in controller.quorum.voters, or
// the controller address it was added with.
func (c *inprocCluster) controllerAddr(id int32) string {
	c.t.Helper()
	if addr := c.controllerListen(int(id - 1)); addr != "" {
		return addr
	}
	addr, ok := voterAddr(c.settings["controller.quorum.voters"], id)
	if !ok {
		c.t.Fatalf("broker %d is not a voter (a lone broker has no quorum)", id)
	}
	return addr
}

func (c *inprocCluster) listener(id int32, name string) string {
	c.t.Helper()
	addr := listenerIn(c.brokerSettings[id-1], name)
	if addr == "" {
		c.t.Fatalf("broker %d has no listener %s", id, name)
	}
	return addr
}

func (c *inprocCluster) httpAddr(id int32) string {
	c.t.Helper()
	n := c.node(int(id - 1))
	if n == nil || n.HTTPAddr() == "" {
		c.t.Fatalf("broker %d: no HTTP listener (down, or no sluice.http.listen)", id)
	}
	return n.HTTPAddr()
}

func (c *inprocCluster) registryURL(id int32) string {
	c.t.Helper()
	addr := c.registryListen(int(id - 1))
	if addr == "" {
		c.t.Fatalf("broker %d has no schema registry (start the cluster withSchemaRegistry)", id)
	}
	return "http://" + addr
}

// readFile reads through the filesystem broker id's logs were last
// started on (after kill, what survived the power cut).
func (c *inprocCluster) readFile(id int32, name string) ([]byte, error) {
	c.mu.Lock()
	dir := c.dirs[id-1]
	c.mu.Unlock()
	f, err := c.filesystems()(int(id-1)).OpenFile(filepath.Join(dir, name), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// writeFile writes through the filesystem broker id's logs were last
// started on, and syncs, so the change survives a later power cut.
func (c *inprocCluster) writeFile(id int32, name string, fn func([]byte) []byte) error {
	c.mu.Lock()
	dir := c.dirs[id-1]
	c.mu.Unlock()
	return rewriteFile(c.filesystems()(int(id-1)), filepath.Join(dir, name), fn)
}

func (c *inprocCluster) start(id int32) {
	c.t.Helper()
	if c.up(id) {
		c.t.Fatalf("start broker %d: it runs", id)
	}
	c.startTogether(id)
}

func (c *inprocCluster) startTogether(ids ...int32) {
	c.t.Helper()
	skip := map[int]bool{}
	for _, id := range c.ids() {
		skip[int(id-1)] = !slices.Contains(ids, id)
	}
	c.startSome(c.filesystems(), skip)
}

// add starts broker id, the next ID, with a controller address and a
// filesystem in memory of its own. A lone broker has no quorum to join,
// and a cluster on the test's filesystems (fsCluster.asCluster) none to
// give it: they refuse.
func (c *inprocCluster) add(id int32) error {
	c.t.Helper()
	if c.mems == nil || c.settings["controller.quorum.voters"] == "" {
		return fmt.Errorf("add broker %d: %w: only a quorum of in-process brokers on filesystems in memory grows", id, errUnsupported)
	}
	if next := int32(len(c.ids()) + 1); id != next {
		c.t.Fatalf("add broker %d: the next ID is %d", id, next)
	}
	c.fsMu.Lock()
	c.mems = append(c.mems, faultfs.NewMem())
	c.fsMu.Unlock()
	listen, dir := freeLoopbackAddr(c.t), c.t.TempDir()
	c.mu.Lock()
	c.dirs = append(c.dirs, dir)
	c.listens = append(c.listens, listen)
	c.brokerSettings = append(c.brokerSettings, c.opts.settingsOf(id, listen, c.settings))
	for len(c.controllerListens) < int(id-1) {
		c.controllerListens = append(c.controllerListens, "")
	}
	c.controllerListens = append(c.controllerListens, freeLoopbackAddr(c.t))
	if c.registries != nil {
		c.registries = append(c.registries, freeLoopbackAddr(c.t))
	}
	c.nodes = append(c.nodes, nil)
	c.mu.Unlock()
	c.start(id)
	return nil
}

func (c *inprocCluster) startStopped() {
	c.t.Helper()
	c.startAll(c.filesystems())
}

func (c *inprocCluster) stop(id int32) { c.fsCluster.stop(int(id - 1)) }

// kill cuts broker id's power: its filesystem keeps only what was
// fsynced, and the broker is shut down with a context already cancelled,
// which skips the controlled shutdown and closes connections with
// requests in flight. (Its Raft store is on the real disk and closes
// cleanly; hashicorp/raft fsyncs every entry it acknowledges anyway.)
func (c *inprocCluster) kill(id int32) { c.killSome([]int32{id}) }

// killAll cuts every broker's power at the same moment, then closes them.
func (c *inprocCluster) killAll() { c.killSome(c.ids()) }

func (c *inprocCluster) killSome(ids []int32) {
	c.fsMu.Lock()
	for _, id := range ids {
		if c.mems != nil {
			c.mems[id-1] = c.mems[id-1].Crash()
		}
	}
	c.fsMu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		c.mu.Lock()
		n := c.nodes[id-1]
		c.nodes[id-1] = nil
		c.mu.Unlock()
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			n.Shutdown(ctx)
			c.ended(int(id-1), fmt.Errorf("broker %d was killed", id))
		}()
	}
	wg.Wait()
}

func (c *inprocCluster) exitErr(id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[id-1] != nil {
		return fmt.Errorf("broker %d runs", id)
	}
	if err := c.exits[int(id-1)]; err != nil {
		return fmt.Errorf("broker %d stopped: %w", id, err)
	}
	return nil
}

func (c *inprocCluster) restart(id int32) {
	c.t.Helper()
	c.stop(id)
	c.start(id)
}

func (c *inprocCluster) unsupported(what string) error {
	return fmt.Errorf("%s: %w: in-process brokers share the test's process, which cannot be frozen for one of them, and fault proxies tell connections apart only by process", what, errUnsupported)
}

func (c *inprocCluster) pause(id int32) error {
	return c.unsupported(fmt.Sprintf("pause broker %d", id))
}

func (c *inprocCluster) resume(id int32) error {
	return c.unsupported(fmt.Sprintf("resume broker %d", id))
}

func (c *inprocCluster) isolate(id int32) error {
	return c.unsupported(fmt.Sprintf("isolate broker %d", id))
}

func (c *inprocCluster) partition(a, b []int32) error {
	return c.unsupported(fmt.Sprintf("partition %v from %v", a, b))
}

// heal has nothing to do: no network fault can be set.
func (c *inprocCluster) heal() error { return nil }
