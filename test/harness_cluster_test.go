package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/log"
)

// cluster is what a cluster test needs of the brokers it runs on,
// whatever they are: separate `sluice serve` processes (procCluster, over
// testCluster, or over netCluster when the test needs network faults) or
// brokers in the test's own process (inprocCluster, over fsCluster). A
// scenario written against it runs on both kinds (forEachKind).
//
// Brokers are named by node ID, 1 to n. Every broker keeps its data and
// its Kafka address across stop, kill and start, so clients reconnect.
// The lifecycle methods fail the test when they cannot do what they say;
// the faults return an error wrapping errUnsupported when the kind has no
// way to inject them, so a test either refuses that kind up front or
// checks.
type cluster interface {
	tb() testing.TB
	// kind names the kind of brokers, for subtest names and logs.
	kind() string
	// ids are the node IDs of every broker, running or not, in order.
	ids() []int32
	// addr is the Kafka address of broker id as clients dial it (through
	// its fault proxy when there is one).
	addr(id int32) string
	// seeds are every broker's addr.
	seeds() []string
	// up reports whether broker id runs (a paused one does).
	up(id int32) bool
	// controllerAddr is broker id's metadata quorum (Raft) address.
	controllerAddr(id int32) string
	// listener is the address of broker id's listener name, as its own
	// listeners setting binds it (withBrokerSettings; a fixed port).
	listener(id int32, name string) string
	// httpAddr is broker id's HTTP admin listener as it runs now (the
	// settings must give sluice.http.listen).
	httpAddr(id int32) string
	// registryURL is broker id's schema registry, http://host:port (the
	// cluster must have been started withSchemaRegistry).
	registryURL(id int32) string
	// readFile reads a file of broker id's data directory through the
	// filesystem its partition logs are on (the real disk for a process).
	readFile(id int32, name string) ([]byte, error)
	// writeFile rewrites a file of broker id's data directory in place,
	// through the same filesystem as readFile, to what fn makes of its
	// contents, and syncs it: a test damages a broker's data with it,
	// usually while the broker is down (a running broker reading the
	// file sees the change too).
	writeFile(id int32, name string, fn func([]byte) []byte) error

	// client returns a franz-go client seeded with every broker and
	// closed when the test ends; opts come after the seeds.
	client(opts ...kgo.Opt) *kgo.Client
	admin() *kadm.Client

	// start starts stopped broker id again on its data and address and
	// waits until it serves.
	start(id int32)
	// startStopped starts every stopped broker side by side (none is
	// ready before the metadata quorum has formed) and waits for all.
	startStopped()
	// startTogether starts the given stopped brokers side by side and
	// waits for all: a quorum that needs more than one of them forms.
	startTogether(ids ...int32)
	// add starts broker id, new to the cluster and not a metadata voter
	// (it joins through the voters with a controller address of its own),
	// and waits until it serves; errUnsupported where brokers cannot be
	// added.
	add(id int32) error
	// stop shuts broker id down as an operator would (SIGTERM; for an
	// in-process broker, Shutdown): a controlled shutdown hands its
	// leaderships over first.
	stop(id int32)
	// kill ends broker id with no warning: SIGKILL for a process. An
	// in-process broker loses power: its log filesystem keeps only what
	// was fsynced, and it closes with no controlled shutdown and no
	// draining of requests in flight.
	kill(id int32)
	// killAll kills every running broker at once.
	killAll()
	// restart stops broker id (controlled) and starts it again.
	restart(id int32)
	// exitErr says how broker id's last run ended: nil when it stopped
	// cleanly (exit status 0; Shutdown returned nil), else how, or that
	// it runs.
	exitErr(id int32) error

	// pause freezes broker id (SIGSTOP) until resume (SIGCONT): it stops
	// answering and its clocks stop with it, so it wakes up believing
	// what it believed before. Brokers sharing the test's process cannot
	// be frozen alone.
	pause(id int32) error
	resume(id int32) error
	// isolate cuts broker id off from every other broker and client;
	// partition cuts every connection between a broker of a and one of
	// b, both ways, clients still reaching everyone; heal removes every
	// network fault. They need a fault proxy in front of each listener,
	// and connections told apart by the process that opened them.
	isolate(id int32) error
	partition(a, b []int32) error
	heal() error
}

// errUnsupported is what a fault returns on a kind of cluster that cannot
// inject it.
var errUnsupported = errors.New("fault not supported by this kind of cluster")

// clusterOpt sets up how a cluster's brokers start, beyond the settings
// they share; startCluster and startInProcess take them.
type clusterOpt func(*clusterOpts)

type clusterOpts struct {
	brokerSettings func(id int32, listen string) map[string]string
	bootstrapAdmin string
	schemaRegistry bool
}

func newClusterOpts(opts []clusterOpt) clusterOpts {
	var o clusterOpts
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// settingsOf are broker id's settings: the shared ones and its own.
func (o clusterOpts) settingsOf(id int32, listen string, shared map[string]string) map[string]string {
	s := maps.Clone(shared)
	if o.brokerSettings != nil {
		if s == nil {
			s = map[string]string{}
		}
		maps.Copy(s, o.brokerSettings(id, listen))
	}
	return s
}

// withBrokerSettings gives each broker settings of its own over the shared
// ones, such as listeners on addresses of its own; f is called once per
// broker, when the cluster starts. listen is the address the harness gave
// broker id, which addr returns and the harness's own clients dial: a
// listeners setting must bind its first listener, PLAINTEXT, there.
func withBrokerSettings(f func(id int32, listen string) map[string]string) clusterOpt {
	return func(o *clusterOpts) { o.brokerSettings = f }
}

// withSchemaRegistry gives every broker a schema registry listener of its
// own (sluice serve --schema-registry-listen) on an address fixed when the
// broker is first started; registryURL gives it.
func withSchemaRegistry() clusterOpt {
	return func(o *clusterOpts) { o.schemaRegistry = true }
}

// withBootstrapAdmin gives every broker `sluice serve --bootstrap-admin`
// ("user:password"): that user's SCRAM credentials are created with the
// cluster's metadata.
func withBootstrapAdmin(userPassword string) clusterOpt {
	return func(o *clusterOpts) { o.bootstrapAdmin = userPassword }
}

// listenerIn is the address settings' listeners give listener name, or
// "" when they give it none.
func listenerIn(settings map[string]string, name string) string {
	for _, l := range strings.Split(settings["listeners"], ",") {
		if n, addr, ok := strings.Cut(strings.TrimSpace(l), "://"); ok && strings.EqualFold(n, name) {
			return addr
		}
	}
	return ""
}

// clusterKind starts a cluster of n brokers of one kind with the given
// broker settings.
type clusterKind struct {
	name  string
	start func(t testing.TB, n int, settings map[string]string, opts ...clusterOpt) cluster
}

// clusterKinds are the kinds a scenario meaningful for any broker runs on.
var clusterKinds = []clusterKind{
	{"processes", func(t testing.TB, n int, s map[string]string, opts ...clusterOpt) cluster {
		return startCluster(t, n, s, opts...).asCluster()
	}},
	{"in-process", func(t testing.TB, n int, s map[string]string, opts ...clusterOpt) cluster {
		return startInProcess(t, n, s, opts...)
	}},
}

// forEachKind runs body as a parallel subtest per kind, on a cluster of n
// brokers started with settings and opts. A withBrokerSettings function
// is called for the brokers of every kind, each on addresses of its own.
func forEachKind(t *testing.T, n int, settings map[string]string, body func(t *testing.T, c cluster), opts ...clusterOpt) {
	for _, k := range clusterKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			body(t, k.start(t, n, settings, opts...))
		})
	}
}

// rewriteFile rewrites the file at path on fsys in place to what fn makes
// of its contents, writing only the bytes that changed (and cutting the
// file if fn shortened it), and syncs it.
func rewriteFile(fsys log.FS, path string, fn func([]byte) []byte) error {
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	old, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	b := fn(slices.Clone(old))
	for i := 0; i < len(b); i++ {
		if i < len(old) && b[i] == old[i] {
			continue
		}
		j := i + 1
		for j < len(b) && (j >= len(old) || b[j] != old[j]) {
			j++
		}
		if _, err := f.WriteAt(b[i:j], int64(i)); err != nil {
			return err
		}
		i = j
	}
	if len(b) < len(old) {
		if err := f.Truncate(int64(len(b))); err != nil {
			return err
		}
	}
	return f.Sync()
}

// mustFault fails the test if a fault could not be injected.
func mustFault(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// liveBroker is the lowest-numbered broker that runs.
func liveBroker(c cluster) int32 {
	for _, id := range c.ids() {
		if c.up(id) {
			return id
		}
	}
	c.tb().Fatal("no broker runs")
	return -1
}

// clientAt is a client seeded with broker id alone (not pinned to it: it
// learns the others from its first metadata answer).
func clientAt(c cluster, id int32, opts ...kgo.Opt) *kgo.Client {
	return c.client(append(opts, kgo.SeedBrokers(c.addr(id)))...)
}

// metadataAt asks broker via for a topic's partitions and the brokers, on
// a client of its own: a long-lived client's kadm answers from franz-go's
// metadata cache, which may predate the change a test waits for.
func metadataAt(ctx context.Context, c cluster, via int32, topics ...string) (kadm.Metadata, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(via)))
	if err != nil {
		return kadm.Metadata{}, err
	}
	defer cl.Close()
	if len(topics) == 0 {
		return kadm.NewClient(cl).BrokerMetadata(ctx)
	}
	return kadm.NewClient(cl).Metadata(ctx, topics...)
}

// waitTopic waits until, as broker via sees it (0: whichever broker runs),
// topic exists and ok holds for it, and returns it.
func waitTopic(c cluster, topic string, via int32, timeout time.Duration, what string, ok func(kadm.TopicDetail) bool) kadm.TopicDetail {
	t := c.tb()
	t.Helper()
	var td kadm.TopicDetail
	var last string
	waitForErr(t, timeout, fmt.Sprintf("%s: %s", topic, what), func() error {
		at := via
		if at == 0 {
			at = liveBroker(c)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		md, err := metadataAt(ctx, c, at, topic)
		if err != nil {
			return err
		}
		td = md.Topics[topic]
		if td.Err == nil && len(td.Partitions) > 0 && ok(td) {
			return nil
		}
		last = fmt.Sprintf("as broker %d sees it: %v %s", at, td.Err, describePartitions(td))
		return errors.New(last)
	})
	return td
}

// waitISR waits until, as broker via sees it (0: whichever runs), every
// partition of topic has a leader and at least isr replicas in sync.
func waitISR(c cluster, topic string, via int32, isr int, timeout time.Duration) kadm.TopicDetail {
	c.tb().Helper()
	return waitTopic(c, topic, via, timeout, fmt.Sprintf("a leader and %d in sync everywhere", isr), func(td kadm.TopicDetail) bool {
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 || len(p.ISR) < isr {
				return false
			}
		}
		return true
	})
}

// createTopicIn creates a topic and waits until every partition has a
// leader and a full ISR.
func createTopicIn(c cluster, name string, partitions int32, rf int16, configs map[string]*string) kadm.TopicDetail {
	t := c.tb()
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	resp, err := c.admin().CreateTopic(ctx, partitions, rf, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
	return waitISR(c, name, 0, int(rf), 30*time.Second)
}

// leaderOf is the leader of a partition as broker via sees it (0:
// whichever runs); -1 when it names none or cannot say.
func leaderOf(c cluster, topic string, partition, via int32) int32 {
	if via == 0 {
		via = liveBroker(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md, err := metadataAt(ctx, c, via, topic)
	if err != nil {
		return -1
	}
	p, ok := md.Topics[topic].Partitions[partition]
	if !ok || p.Err != nil {
		return -1
	}
	return p.Leader
}

// waitLeaderNot waits until broker via (0: whichever runs) names a leader
// of the partition other than old, and returns it.
func waitLeaderNot(c cluster, topic string, partition, via, old int32, timeout time.Duration) int32 {
	c.tb().Helper()
	var leader int32
	waitFor(c.tb(), timeout, fmt.Sprintf("a leader of %s-%d other than %d", topic, partition, old), func() bool {
		leader = leaderOf(c, topic, partition, via)
		return leader >= 0 && leader != old
	})
	return leader
}

// controllerOf is the controller as broker via sees it; -1 when it knows
// none or does not answer.
func controllerOf(c cluster, via int32) int32 {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	md, err := metadataAt(ctx, c, via)
	if err != nil {
		return -1
	}
	return md.Controller
}

// waitBrokersIn waits until Metadata from a running broker lists n
// brokers.
func waitBrokersIn(c cluster, n int, timeout time.Duration) {
	c.tb().Helper()
	waitForErr(c.tb(), timeout, fmt.Sprintf("%d live brokers", n), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		md, err := metadataAt(ctx, c, liveBroker(c))
		if err == nil && len(md.Brokers) < n {
			err = fmt.Errorf("brokers %v", md.Brokers.NodeIDs())
		}
		return err
	})
}

// acksAllProducer is an acks=all idempotent producer that retries
// through leader changes.
func acksAllProducer(c cluster, opts ...kgo.Opt) *kgo.Client {
	return c.client(append([]kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(60 * time.Second),
		kgo.ProducerLinger(time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond })}, opts...)...)
}

// voterAddr is node id's address in a voter list ("1@host:port,...").
func voterAddr(voters string, id int32) (string, bool) {
	for _, v := range strings.Split(voters, ",") {
		if n, addr, _ := strings.Cut(v, "@"); n == strconv.Itoa(int(id)) {
			return addr, true
		}
	}
	return "", false
}

// others are the IDs of c's brokers other than those given.
func others(c cluster, not ...int32) []int32 {
	return slices.DeleteFunc(c.ids(), func(id int32) bool { return slices.Contains(not, id) })
}

// waitForErr polls f until it returns nil or d passes, and then fails the
// test with f's last error. It polls every 20ms at first, backing off to
// every 100ms, so that a condition that holds soon is seen soon and one
// that takes seconds (a session timeout, an election) is not asked about
// fifty times a second on a loaded machine.
func waitForErr(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for pause := 20 * time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", d, what, err)
		}
		time.Sleep(pause)
	}
}

// TestClusterFaultsByKind checks what each kind of cluster does with the
// faults: in-process brokers refuse pause, isolate and partition with
// errUnsupported (and a lone one add), and processes without proxies the
// network faults; behind proxies, an isolated partition leader is
// replaced by the others and, healed, back in the ISR, and no broker can
// be added. Both kinds read the files of a broker's data directory where
// its logs are (the mark naming the broker).
func TestClusterFaultsByKind(t *testing.T) {
	t.Parallel()
	refused := func(t *testing.T, what string, err error) {
		t.Helper()
		if !errors.Is(err, errUnsupported) {
			t.Fatalf("%s: %v, want errUnsupported", what, err)
		}
	}
	marked := func(t *testing.T, c cluster) {
		t.Helper()
		if b, err := c.readFile(1, "sluice-log-dir.properties"); err != nil || string(b) != "node.id=1\n" {
			t.Fatalf("%s: broker 1's log directory mark: %q %v", c.kind(), b, err)
		}
	}
	t.Run("in-process", func(t *testing.T) {
		t.Parallel()
		c := startInProcess(t, 1, nil)
		refused(t, "pause", c.pause(1))
		refused(t, "resume", c.resume(1))
		refused(t, "isolate", c.isolate(1))
		refused(t, "partition", c.partition([]int32{1}, nil))
		refused(t, "add", c.add(2))
		mustFault(t, c.heal())
		marked(t, c)
	})
	t.Run("processes", func(t *testing.T) {
		t.Parallel()
		c := startCluster(t, 1, nil).asCluster()
		refused(t, "isolate", c.isolate(1))
		refused(t, "partition", c.partition([]int32{1}, nil))
		mustFault(t, c.heal())
		marked(t, c)
	})
	t.Run("processes behind fault proxies", func(t *testing.T) {
		t.Parallel()
		c := startNetCluster(t, 3, clusterSettings(nil)).asCluster()
		refused(t, "add", c.add(4))
		td := createTopicIn(c, "isolated", 1, 3, minISR2)
		leader := td.Partitions[0].Leader
		mustFault(t, c.isolate(leader))
		next := waitLeaderNot(c, "isolated", 0, others(c, leader)[0], leader, 30*time.Second)
		t.Logf("broker %d isolated; broker %d leads", leader, next)
		mustFault(t, c.heal())
		waitTopic(c, "isolated", next, time.Minute, fmt.Sprintf("%d back in the ISR", leader), func(td kadm.TopicDetail) bool {
			return slices.Contains(td.Partitions[0].ISR, leader)
		})
		r, err := acksAllProducer(c).ProduceSync(testContext(t, 30*time.Second), &kgo.Record{Topic: "isolated", Value: []byte("healed")}).First()
		if err != nil {
			t.Fatalf("produce after healing: %v", err)
		}
		if r.Offset != 0 {
			t.Fatalf("first record at offset %d", r.Offset)
		}
	})
}
