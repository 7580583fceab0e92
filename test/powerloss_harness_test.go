package test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/node"
)

// fsCluster is one or more in-process brokers whose partition logs live on
// a filesystem the test supplies (package faultfs: an injector, or a
// filesystem in memory that loses power), so disk faults and power cuts
// reach every broker at once. The cluster metadata (Raft) stays on the
// real disk, in each broker's data directory. Each broker keeps its Kafka
// address across restarts. One broker runs alone (no controller quorum
// settings); more form a quorum of voters.
type fsCluster struct {
	t        testing.TB
	settings map[string]string
	dirs     []string
	listens  []string
	fsFor    func(i int) log.FS // the filesystems of the last start
	opts     clusterOpts
	// brokerSettings are each broker's settings, the shared ones and its
	// own, fixed when the cluster starts.
	brokerSettings []map[string]string
	// registries are the schema registry addresses (withSchemaRegistry).
	registries []string
	// exits are how each broker's last run ended, by index (stop, and
	// inprocCluster's kill).
	exits map[int]error
	// controllerListens are the controller addresses of brokers added
	// after the voters (inprocCluster.add); a voter has none here.
	controllerListens []string

	mu    sync.Mutex
	nodes []*node.Node
}

// startFSCluster starts n brokers; fsFor gives broker i (0-based) its
// filesystem.
func startFSCluster(t testing.TB, n int, settings map[string]string, fsFor func(i int) log.FS, opts ...clusterOpt) *fsCluster {
	t.Helper()
	c := &fsCluster{t: t, settings: map[string]string{}, nodes: make([]*node.Node, n), opts: newClusterOpts(opts)}
	for k, v := range settings {
		c.settings[k] = v
	}
	if n > 1 {
		var voters []string
		for i := range n {
			voters = append(voters, fmt.Sprintf("%d@%s", i+1, freeLoopbackAddr(t)))
		}
		c.settings["controller.quorum.voters"] = strings.Join(voters, ",")
	}
	for i := range n {
		c.dirs = append(c.dirs, t.TempDir())
		c.listens = append(c.listens, freeLoopbackAddr(t))
		c.brokerSettings = append(c.brokerSettings, c.opts.settingsOf(int32(i+1), c.listens[i], c.settings))
		if c.opts.schemaRegistry {
			c.registries = append(c.registries, freeLoopbackAddr(t))
		}
	}
	t.Cleanup(func() { c.stopAll() })
	c.startAll(fsFor)
	return c
}

// startAll starts every broker that is not running, side by side (none
// is ready before the quorum has formed).
func (c *fsCluster) startAll(fsFor func(i int) log.FS) { c.startSome(fsFor, nil) }

// startSome starts the brokers not running, leaving out those in skip.
func (c *fsCluster) startSome(fsFor func(i int) log.FS, skip map[int]bool) {
	c.t.Helper()
	c.mu.Lock()
	c.fsFor = fsFor
	c.mu.Unlock()
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i := range c.nodes {
		if c.node(i) != nil || skip[i] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			start := func() (*node.Node, error) {
				return node.Start(ctx, node.Config{
					NodeID: int32(i + 1), Listen: c.listens[i], DataDir: c.dirs[i], Settings: c.brokerSettings[i],
					BootstrapAdmin: c.opts.bootstrapAdmin, Logger: testLogger(c.t), LogFS: fsFor(i),
					SchemaRegistryListen: c.registryListen(i), ControllerListen: c.controllerListen(i),
				})
			}
			n, err := start()
			// The brokers' addresses are fixed when the cluster is made
			// (the voters know each other's): a port that something took
			// for a moment since freeLoopbackAddr saw it free (it happened
			// once in a full run, holder unknown) is tried again.
			for try := 0; err != nil && addrInUse(err) && try < 10; try++ {
				time.Sleep(200 * time.Millisecond)
				n, err = start()
			}
			errs[i] = err
			c.mu.Lock()
			c.nodes[i] = n
			c.mu.Unlock()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			c.t.Fatalf("start broker %d: %v", i+1, err)
		}
	}
}

// registryListen is broker i's schema registry address; empty (none)
// unless the cluster was started withSchemaRegistry.
func (c *fsCluster) registryListen(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.registries == nil {
		return ""
	}
	return c.registries[i]
}

// controllerListen is broker i's controller address when it was added
// after the voters; empty for a voter (its entry in the voter list).
func (c *fsCluster) controllerListen(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < len(c.controllerListens) {
		return c.controllerListens[i]
	}
	return ""
}

func (c *fsCluster) node(i int) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// stopAll shuts every broker down side by side, giving up on a clean
// shutdown after a few seconds (the last broker would otherwise wait for
// a quorum that has left, and a broker whose disk died cannot flush).
func (c *fsCluster) stopAll() {
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = make([]*node.Node, len(nodes))
	c.mu.Unlock()
	var wg sync.WaitGroup
	for i, n := range nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.ended(i, n.Shutdown(ctx))
		}()
	}
	wg.Wait()
}

// ended notes how broker i's run ended.
func (c *fsCluster) ended(i int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exits == nil {
		c.exits = map[int]error{}
	}
	c.exits[i] = err
}

// stop shuts broker i down.
func (c *fsCluster) stop(i int) {
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if n != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.ended(i, n.Shutdown(ctx))
	}
}

// seeds are the Kafka addresses of every broker.
func (c *fsCluster) seeds() []string { return c.listens }

func (c *fsCluster) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	return newClient(c.t, c.listens[0], append([]kgo.Opt{kgo.SeedBrokers(c.listens...)}, opts...)...)
}

// createTopic creates a topic with the given replication factor and
// configs and waits until every partition has a leader and a full ISR.
func (c *fsCluster) createTopic(name string, partitions int32, rf int16, configs map[string]*string) {
	c.t.Helper()
	createTopicIn(c.asCluster(), name, partitions, rf, configs)
}

// waitISR waits until every partition of topic has a leader and an ISR
// of at least isr brokers, as a fresh client sees it.
func (c *fsCluster) waitISR(topic string, isr int, timeout time.Duration) {
	c.t.Helper()
	waitISR(c.asCluster(), topic, 0, isr, timeout)
}
