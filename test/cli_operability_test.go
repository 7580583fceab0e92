package test

import (
	"encoding/json"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCLICopyKeepsOldTimestamps follows the README's copy recipe,
// `consume --output json | produce --input json`, for a record written an
// hour ago: the copy keeps the original timestamp, and its age is no reason
// to fail it (a produce is bounded by --timeout from when the line is read).
func TestCLICopyKeepsOldTimestamps(t *testing.T) {
	b := startBroker(t, nil)
	cl := b.client()
	createTopicWith(t, cl, "src", 1)
	createTopicWith(t, cl, "dst", 1)
	hourAgo := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	if err := cl.ProduceSync(testContext(t, 15*time.Second),
		&kgo.Record{Topic: "src", Key: []byte("k"), Value: []byte("old"), Timestamp: hourAgo}).FirstErr(); err != nil {
		t.Fatalf("produce to src: %v", err)
	}

	dump := cli(t, b.addr, "", "consume", "src", "-e", "--output", "json")
	out := cli(t, b.addr, dump, "produce", "dst", "--input", "json", "--timeout", "5s")
	expectLines(t, "produce --input json", out, "produced 1 record to dst")

	recs := consumeAll(t, b.addr, "dst", 1)
	if r := recs[0]; string(r.Key) != "k" || string(r.Value) != "old" || !r.Timestamp.Equal(hourAgo) {
		t.Fatalf("copied record: key %q value %q at %v, want k old at %v", r.Key, r.Value, r.Timestamp, hourAgo)
	}
	var line struct {
		Timestamp int64 `json:"timestamp"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(dump)), &line); err != nil || line.Timestamp != hourAgo.UnixMilli() {
		t.Fatalf("consume --output json printed %q (%v), want timestamp %d", dump, err, hourAgo.UnixMilli())
	}
}

// silentListener accepts connections on a loopback port and never answers
// on them, as a stopped or overloaded broker does; it is closed, with its
// connections, when the test ends.
func silentListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestCLISilentSeedIsPassedOver gives the CLI two seeds that accept
// connections but never answer and one broker that does: every command
// still succeeds within --timeout, whichever seed the client asks first,
// because one request waits for one broker only a part of --timeout.
func TestCLISilentSeedIsPassedOver(t *testing.T) {
	b := startBroker(t, nil)
	createTopicWith(t, b.client(), "seeded", 1)
	seeds := strings.Join([]string{silentListener(t), silentListener(t), b.addr}, ",")
	for range 2 {
		for _, args := range [][]string{
			{"topic", "list"},
			{"cluster", "info"},
			{"cluster", "health"},
			{"config", "get", "topic", "seeded"},
		} {
			start := time.Now()
			out := cli(t, seeds, "", append([]string{"--timeout", "5s"}, args...)...)
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("sluice %v took %v, more than --timeout 5s", args, took)
			}
			if args[0] == "topic" && !strings.Contains(out, "seeded") {
				t.Fatalf("topic list printed %q, want seeded in it", out)
			}
		}
	}
	// A short --timeout still makes a client kgo accepts (each request's
	// overhead at least 100ms); the command may only run out of time.
	for _, timeout := range []string{"400ms", "50ms"} {
		if r := runCLI(t, b.addr, "", "--timeout", timeout, "topic", "list"); strings.Contains(r.stderr, "overhead") {
			t.Fatalf("topic list --timeout %s: %q", timeout, r.stderr)
		}
	}
}

// TestCLIClusterHealthReportsHungBroker stops one broker of three with
// SIGSTOP, so it still holds its connections and is still listed in
// Metadata but answers nothing: cluster health says which broker does not
// answer, as a reason it is unhealthy, instead of failing without a report.
func TestCLIClusterHealthReportsHungBroker(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterSettings(map[string]string{"broker.session.timeout.ms": "60000"})).asCluster()
	waitBrokersIn(c, 3, 30*time.Second)
	seeds := strings.Join(c.seeds(), ",")
	mustFault(t, c.pause(2))
	defer c.resume(2)
	for range 3 {
		r := runCLI(t, seeds, "", "--timeout", "6s", "cluster", "health", "--output", "json")
		var h struct {
			Healthy             bool     `json:"healthy"`
			Reasons             []string `json:"unhealthy_reasons"`
			BrokersNotAnswering []int32  `json:"brokers_not_answering"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &h); err != nil || r.code != 1 {
			t.Fatalf("cluster health with broker 2 stopped: exit %d, stdout %q (%v), stderr %q; want exit 1 and a JSON report", r.code, r.stdout, err, r.stderr)
		}
		if h.Healthy || !slices.Contains(h.Reasons, "brokers_not_answering") || !slices.Equal(h.BrokersNotAnswering, []int32{2}) {
			t.Fatalf("cluster health with broker 2 stopped: %+v, want unhealthy with brokers_not_answering [2]", h)
		}
	}
}

// TestCLIConfigClusterWideAndDelete sets a broker config cluster-wide
// (the broker resource with an empty name, kafka-configs --entity-default)
// with `config set broker default`, overrides it on broker 1, and deletes
// both with `config delete`: broker 1 falls back to the cluster-wide value
// and then to the built-in default. A topic config is deleted the same way.
func TestCLIConfigClusterWideAndDelete(t *testing.T) {
	b := startBroker(t, nil)
	adm := b.admin()
	const key = "follower.replication.throttled.rate"
	source := func(broker ...int32) (string, kmsg.ConfigSource) {
		t.Helper()
		rcs, err := adm.DescribeBrokerConfigs(testContext(t, 10*time.Second), broker...)
		if err != nil {
			t.Fatal(err)
		}
		name := ""
		if len(broker) > 0 {
			name = "1"
		}
		c := configOf(t, rcs, name, key)
		return c.MaybeValue(), c.Source
	}
	expect := func(what, gotValue string, gotSource kmsg.ConfigSource, value string, src kmsg.ConfigSource) {
		t.Helper()
		if gotValue != value || gotSource != src {
			t.Fatalf("%s: %s = %q from %v, want %q from %v", what, key, gotValue, gotSource, value, src)
		}
	}

	expectLines(t, "config set broker default", cli(t, b.addr, "", "config", "set", "broker", "default", key+"=1048576"),
		"altered 1 config of broker default")
	v, s := source()
	expect("cluster-wide after set broker default", v, s, "1048576", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	v, s = source(1)
	expect("broker 1 after set broker default", v, s, "1048576", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	expectLines(t, "config get broker default", cli(t, b.addr, "", "config", "get", "broker", "default", key),
		"NAME                                 VALUE    SOURCE",
		"follower.replication.throttled.rate  1048576  DYNAMIC_DEFAULT_BROKER_CONFIG")

	cli(t, b.addr, "", "config", "set", "broker", "1", key+"=2097152")
	v, s = source(1)
	expect("broker 1 after set broker 1", v, s, "2097152", kmsg.ConfigSourceDynamicBrokerConfig)

	expectLines(t, "config delete broker 1", cli(t, b.addr, "", "config", "delete", "broker", "1", key),
		"deleted 1 config of broker 1")
	v, s = source(1)
	expect("broker 1 after delete broker 1", v, s, "1048576", kmsg.ConfigSourceDynamicDefaultBrokerConfig)

	expectLines(t, "config delete broker default", cli(t, b.addr, "", "config", "delete", "broker", "default", key, "--output", "json"),
		`{"broker":"default","deleted":1}`)
	v, s = source(1)
	expect("broker 1 after delete broker default", v, s, "9223372036854775807", kmsg.ConfigSourceDefaultConfig)

	createTopicWith(t, b.client(), "cfg", 1)
	cli(t, b.addr, "", "config", "set", "topic", "cfg", "retention.ms=5000")
	cli(t, b.addr, "", "config", "delete", "topic", "cfg", "retention.ms")
	expectTopicConfigs(t, adm, "cfg", map[string]configWant{"retention.ms": defaultConfig("604800000")})

	cliMisused(t, b.addr, "want a broker ID", "config", "set", "broker", "all", key+"=1")
	cliMisused(t, b.addr, "want a config name", "config", "delete", "topic", "cfg", "retention.ms=1")
}

// TestCLICreateTopicShowsBrokerMessage: when the broker refuses to create
// a topic, every command that creates one (topic create, produce --create,
// bench) prints the broker's message beside the error code, saying what
// was wrong.
func TestCLICreateTopicShowsBrokerMessage(t *testing.T) {
	b := startBroker(t, nil)
	cliFails(t, b.addr, "INVALID_CONFIG: Configuration is invalid. (config: invalid value \"abc\" for topic config retention.ms: must be a 64-bit integer)",
		"topic", "create", "c2", "-c", "retention.ms=abc")
	const badName = `(topic name "bad/name" contains '/'`
	cliFails(t, b.addr, badName, "topic", "create", "bad/name")
	cliFails(t, b.addr, badName, "produce", "bad/name", "--create")
	cliFails(t, b.addr, badName, "bench", "produce", "--topic", "bad/name", "--duration", "1s")
}
