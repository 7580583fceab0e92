package test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/log"
)

// procCluster is the cluster interface over `sluice serve` processes: a
// testCluster, and, when it was started behind fault proxies, the
// netCluster around it, through which clients dial and network faults
// go. Without proxies, isolate, partition and heal are unsupported.
type procCluster struct {
	*testCluster
	net *netCluster // nil: no proxies

	pmu    sync.Mutex
	paused map[int32]bool
}

// asCluster is c behind the cluster interface.
func (c *testCluster) asCluster() *procCluster {
	return &procCluster{testCluster: c, paused: map[int32]bool{}}
}

// asCluster is c behind the cluster interface; clients dial the proxies.
func (c *netCluster) asCluster() *procCluster {
	return &procCluster{testCluster: c.testCluster, net: c, paused: map[int32]bool{}}
}

var _ cluster = (*procCluster)(nil)

func (c *procCluster) tb() testing.TB { return c.t }

func (c *procCluster) kind() string {
	if c.net != nil {
		return "processes behind fault proxies"
	}
	return "processes"
}

func (c *procCluster) ids() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.nodes))
}

func (c *procCluster) addr(id int32) string {
	if c.net != nil {
		return c.net.kafka[id].Addr()
	}
	return c.node(id).addr
}

func (c *procCluster) seeds() []string {
	var out []string
	for _, id := range c.ids() {
		out = append(out, c.addr(id))
	}
	return out
}

func (c *procCluster) up(id int32) bool {
	select {
	case <-c.node(id).done:
		return false
	default:
		return true
	}
}

// controllerAddr is broker id's entry in the voter list, or, for a
// broker added later, the --controller-listen it was started with.
func (c *procCluster) controllerAddr(id int32) string {
	c.t.Helper()
	if args := c.node(id).args; slices.Contains(args, "--controller-listen") {
		return args[slices.Index(args, "--controller-listen")+1]
	}
	addr, ok := voterAddr(c.voters, id)
	if !ok {
		c.t.Fatalf("broker %d is not in %s", id, c.voters)
	}
	return addr
}

// listener reads broker id's listeners from the settings it was started
// with.
func (c *procCluster) listener(id int32, name string) string {
	c.t.Helper()
	args := c.node(id).args
	for i := 1; i < len(args); i++ {
		if v, ok := strings.CutPrefix(args[i], "listeners="); ok && args[i-1] == "-c" {
			if addr := listenerIn(map[string]string{"listeners": v}, name); addr != "" {
				return addr
			}
		}
	}
	c.t.Fatalf("broker %d has no listener %s", id, name)
	return ""
}

func (c *procCluster) httpAddr(id int32) string {
	c.t.Helper()
	return httpAddrOf(c.t, c.node(id))
}

func (c *procCluster) registryURL(id int32) string {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	addr, ok := c.registries[id]
	if !ok {
		c.t.Fatalf("broker %d has no schema registry (start the cluster withSchemaRegistry)", id)
	}
	return "http://" + addr
}

func (c *procCluster) readFile(id int32, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(c.node(id).dataDir, name))
}

func (c *procCluster) writeFile(id int32, name string, fn func([]byte) []byte) error {
	return rewriteFile(log.OSFS{}, filepath.Join(c.node(id).dataDir, name), fn)
}

func (c *procCluster) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	return newClient(c.t, c.seeds()[0], append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...)}, opts...)...)
}

func (c *procCluster) admin() *kadm.Client { return kadm.NewClient(c.client()) }

func (c *procCluster) start(id int32) {
	c.t.Helper()
	c.launch(id)
	c.node(id).waitReady()
}

// launch starts broker id's process without waiting for it to serve,
// registering it with the fault proxies before it can dial anyone.
func (c *procCluster) launch(id int32) {
	c.t.Helper()
	p := c.node(id)
	if c.up(id) {
		c.t.Fatalf("start broker %d: it runs", id)
	}
	c.setPaused(id, false)
	p.launch(p.addr)
	if c.net != nil {
		c.net.track(id, p)
	}
}

func (c *procCluster) startStopped() {
	c.t.Helper()
	var started []int32
	for _, id := range c.ids() {
		if !c.up(id) {
			c.launch(id)
			started = append(started, id)
		}
	}
	for _, id := range started {
		c.node(id).waitReady()
	}
}

func (c *procCluster) startTogether(ids ...int32) {
	c.t.Helper()
	for _, id := range ids {
		c.launch(id)
	}
	for _, id := range ids {
		c.node(id).waitReady()
	}
}

// add starts a broker with a controller address of its own; behind fault
// proxies it would have none, so it is refused there.
func (c *procCluster) add(id int32) error {
	c.t.Helper()
	if c.net != nil {
		return fmt.Errorf("add broker %d: %w: no fault proxy stands in front of a broker added later", id, errUnsupported)
	}
	c.addBroker(id)
	return nil
}

func (c *procCluster) stop(id int32) {
	p := c.node(id)
	p.signal(syscall.SIGTERM)
	if c.setPaused(id, false) {
		p.signal(syscall.SIGCONT) // to act on the SIGTERM
	}
	p.kill(syscall.SIGTERM)
}

func (c *procCluster) kill(id int32) {
	c.node(id).kill(syscall.SIGKILL)
	c.setPaused(id, false)
}

func (c *procCluster) killAll() {
	var wg sync.WaitGroup
	for _, id := range c.ids() {
		wg.Add(1)
		go func() { defer wg.Done(); c.kill(id) }()
	}
	wg.Wait()
}

func (c *procCluster) exitErr(id int32) error {
	if c.up(id) {
		return fmt.Errorf("broker %d runs", id)
	}
	if code := c.node(id).cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("broker %d exited with %d:\n%s", id, code, c.node(id).logs())
	}
	return nil
}

func (c *procCluster) restart(id int32) {
	c.t.Helper()
	c.stop(id)
	c.start(id)
}

func (c *procCluster) pause(id int32) error {
	if !c.up(id) {
		return fmt.Errorf("pause broker %d: it does not run", id)
	}
	c.setPaused(id, true)
	c.node(id).signal(syscall.SIGSTOP)
	return nil
}

func (c *procCluster) resume(id int32) error {
	if !c.setPaused(id, false) {
		return fmt.Errorf("resume broker %d: it is not paused", id)
	}
	c.node(id).signal(syscall.SIGCONT)
	return nil
}

// setPaused notes whether broker id is paused and says whether it was.
func (c *procCluster) setPaused(id int32, paused bool) (was bool) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	was = c.paused[id]
	c.paused[id] = paused
	return was
}

func (c *procCluster) noProxies(what string) error {
	return fmt.Errorf("%s: %w: these processes have no fault proxies in front of them (start them with startNetCluster)", what, errUnsupported)
}

func (c *procCluster) isolate(id int32) error {
	if c.net == nil {
		return c.noProxies(fmt.Sprintf("isolate broker %d", id))
	}
	c.net.isolate(id)
	return nil
}

func (c *procCluster) partition(a, b []int32) error {
	if c.net == nil {
		return c.noProxies(fmt.Sprintf("partition %v from %v", a, b))
	}
	c.net.split(a, b)
	return nil
}

// heal has nothing to do without proxies: no network fault was set.
func (c *procCluster) heal() error {
	if c.net != nil {
		c.net.heal()
	}
	return nil
}
