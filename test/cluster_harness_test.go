package test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testCluster is a Sluice cluster of separate `sluice serve` processes on
// loopback ports, each with its own data directory. The first nodes are
// the metadata voters; brokers added later join as non-voters.
type testCluster struct {
	t        testing.TB
	voters   string
	settings map[string]string
	dir      string
	opts     clusterOpts
	listens  map[int32]string // for withBrokerSettings: the address given to each voter
	// registries are the schema registry addresses (withSchemaRegistry).
	registries map[int32]string

	mu    sync.Mutex
	nodes map[int32]*process
}

// fastFailover are broker settings that make a test cluster notice dead
// brokers in seconds rather than Kafka's production defaults.
var fastFailover = map[string]string{
	"broker.session.timeout.ms":    "3000",
	"broker.heartbeat.interval.ms": "300",
	"replica.lag.time.max.ms":      "3000",
	"offsets.topic.num.partitions": "6",
}

// startCluster starts n voters with the given broker settings and waits
// until every one serves.
func startCluster(t testing.TB, n int, settings map[string]string, opts ...clusterOpt) *testCluster {
	t.Helper()
	c := &testCluster{t: t, settings: settings, dir: t.TempDir(), nodes: map[int32]*process{}, opts: newClusterOpts(opts), listens: map[int32]string{}}
	listens := make([]string, n)
	var voters []string
	for i := range n {
		listens[i] = freeLoopbackAddr(t)
		c.listens[int32(i+1)] = listens[i]
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, freeLoopbackAddr(t)))
	}
	c.voters = strings.Join(voters, ",")
	procs := make([]*process, n)
	for i := range n {
		id := int32(i + 1)
		procs[i] = c.newProcess(id, "")
		procs[i].launch(listens[i])
	}
	for i, p := range procs {
		p.waitReady()
		c.nodes[int32(i+1)] = p
	}
	t.Cleanup(func() { c.logsOnFailure(80) })
	return c
}

// logsOnFailure prints every broker's output when the test failed: its
// last lines, or all of it when lines is 0.
func (c *testCluster) logsOnFailure(lines int) {
	if !c.t.Failed() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(c.nodes)) {
		out := strings.Split(c.nodes[id].logs(), "\n")
		if lines > 0 {
			out = out[max(0, len(out)-lines):]
		}
		c.t.Logf("broker %d's output:\n%s", id, strings.Join(out, "\n"))
	}
}

// addBroker starts a broker that is not a voter; it joins the running
// cluster through the voters.
func (c *testCluster) addBroker(id int32) *process {
	c.t.Helper()
	p := c.newProcess(id, freeLoopbackAddr(c.t))
	p.start(freeLoopbackAddr(c.t))
	c.mu.Lock()
	c.nodes[id] = p
	c.mu.Unlock()
	return p
}

func (c *testCluster) newProcess(id int32, controllerListen string) *process {
	args := []string{"--node-id", strconv.Itoa(int(id)), "--controller-voters", c.voters}
	if controllerListen != "" {
		args = append(args, "--controller-listen", controllerListen)
	}
	if c.opts.bootstrapAdmin != "" {
		args = append(args, "--bootstrap-admin", c.opts.bootstrapAdmin)
	}
	if c.opts.schemaRegistry {
		addr := freeLoopbackAddr(c.t)
		c.mu.Lock()
		if c.registries == nil {
			c.registries = map[int32]string{}
		}
		c.registries[id] = addr
		c.mu.Unlock()
		args = append(args, "--schema-registry-listen", addr)
	}
	settings := c.opts.settingsOf(id, c.listens[id], c.settings)
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", k+"="+settings[k])
	}
	p := &process{t: c.t, dataDir: filepath.Join(c.dir, fmt.Sprintf("node-%d", id)), args: args}
	c.t.Cleanup(func() {
		p.signal(syscall.SIGCONT)
		p.kill(syscall.SIGKILL)
	})
	return p
}

func (c *testCluster) node(id int32) *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.nodes[id]
	if p == nil {
		c.t.Fatalf("no node %d", id)
	}
	return p
}

// seeds are the Kafka addresses of every node.
func (c *testCluster) seeds() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, id := range slices.Sorted(maps.Keys(c.nodes)) {
		out = append(out, c.nodes[id].addr)
	}
	return out
}

// client returns a franz-go client seeded with every node.
func (c *testCluster) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...)}, opts...)...)
	if err != nil {
		c.t.Fatalf("new client: %v", err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

func (c *testCluster) admin() *kadm.Client { return kadm.NewClient(c.client()) }

// brokerMetadataAt asks the broker at addr for the brokers and the
// controller, on a client of its own: a long-lived client's kadm answers
// from franz-go's metadata cache, which may predate the change a test
// waits for.
func brokerMetadataAt(ctx context.Context, addr string) (kadm.Metadata, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return kadm.Metadata{}, err
	}
	defer cl.Close()
	return kadm.NewClient(cl).BrokerMetadata(ctx)
}

func describePartitions(td kadm.TopicDetail) string {
	var b strings.Builder
	for _, p := range td.Partitions.Sorted() {
		fmt.Fprintf(&b, "[p%d leader %d epoch %d replicas %v isr %v err %v] ", p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.Err)
	}
	return b.String()
}

// loopbackPorts hands out ports below Linux's ephemeral range
// (32768-60999), each at most once per test binary: tests run in parallel,
// and two of them drawing the same free port at random would race to bind
// it. It starts at a random place so that test binaries running side by
// side seldom walk the same ports.
var loopbackPorts = struct {
	mu   sync.Mutex
	next int
}{next: rand.IntN(loopbackPortSpan)}

const (
	loopbackPortBase = 20000
	loopbackPortSpan = 12000
)

// addrInUse reports whether err is a bind that failed because the address
// is taken.
func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago and has not been handed out before; brokers need fixed addresses so
// that they keep them across restarts. No outgoing connection takes a port
// below the ephemeral range between now and the broker's bind.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	for range 200 {
		loopbackPorts.mu.Lock()
		port := loopbackPortBase + loopbackPorts.next%loopbackPortSpan
		loopbackPorts.next++
		loopbackPorts.mu.Unlock()
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// ackLog remembers where each acknowledged record was stored.
type ackLog struct {
	mu    sync.Mutex
	acked map[string]tpo
}

func newAckLog() *ackLog { return &ackLog{acked: map[string]tpo{}} }

func (a *ackLog) add(r *kgo.Record) {
	a.mu.Lock()
	a.acked[string(r.Value)] = tpo{r.Partition, r.Offset}
	a.mu.Unlock()
}

func (a *ackLog) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.acked)
}

// waitFor waits until at least n records are acknowledged.
func (a *ackLog) waitFor(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	waitForErr(t, timeout, fmt.Sprintf("%d records acknowledged", n), func() error {
		if got := a.len(); got < n {
			return fmt.Errorf("only %d acknowledged", got)
		}
		return nil
	})
}

// produceLoop produces unique values to topic until ctx ends, recording
// acknowledgements; it returns a function that stops it and waits.
func produceLoop(ctx context.Context, cl *kgo.Client, topic string, acks *ackLog) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			v := fmt.Sprintf("%s-%08d", topic, i)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err == nil {
					acks.add(r)
				}
			})
			if i%200 == 199 {
				time.Sleep(2 * time.Millisecond) // keep the in-flight buffer bounded
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		cl.Flush(context.Background())
	}
}

// checkAckedAt reads topic from the brokers at seeds, from the start on a
// fresh client, and checks that offsets are dense and in order, no value
// is stored twice, and every acknowledged record is at the offset it was
// acknowledged with.
func checkAckedAt(t testing.TB, seeds []string, topic string, acks *ackLog) {
	t.Helper()
	cl := newClient(t, seeds[0], kgo.SeedBrokers(seeds...))
	ctx := testContext(t, 30*time.Second)
	// A partition's error comes back in its entry, with offset -1: a new
	// leader answers OFFSET_NOT_AVAILABLE until its high watermark reaches
	// its epoch's start (KIP-207), which franz-go does not retry. Counting
	// that -1 would read nothing and report every acknowledged record lost.
	// The leader catches up on its own.
	var ends kadm.ListedOffsets
	waitForErr(t, 30*time.Second, "the end offsets of "+topic, func() error {
		var err error
		if ends, err = kadm.NewClient(cl).ListEndOffsets(ctx, topic); err == nil {
			err = ends.Error()
		}
		return err
	})
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	got := consumeFrom(t, seeds, topic, int(total))
	seen := map[string]tpo{}
	next := map[int32]int64{}
	for _, r := range got {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, next[r.Partition]-1)
		}
		next[r.Partition]++
		if prev, dup := seen[string(r.Value)]; dup {
			t.Fatalf("%s stored twice: %v and %d/%d", r.Value, prev, r.Partition, r.Offset)
		}
		seen[string(r.Value)] = tpo{r.Partition, r.Offset}
	}
	acks.mu.Lock()
	defer acks.mu.Unlock()
	for v, at := range acks.acked {
		if got, ok := seen[v]; !ok || got != at {
			t.Fatalf("acknowledged %s at %v; read back at %v (present %v)", v, at, got, ok)
		}
	}
	t.Logf("%s: %d records acknowledged, %d in the log, every acknowledged one in place", topic, len(acks.acked), len(got))
}

// consumeFrom reads every partition of topic from the start until n records
// arrived.
func consumeFrom(t testing.TB, seeds []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testContext(t, 2*time.Minute)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before timeout", len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out
}
