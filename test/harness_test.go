package test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/node"
)

// broker is an in-process Sluice node on an ephemeral loopback port.
type broker struct {
	t       testing.TB
	node    *node.Node
	addr    string
	dataDir string
	cfg     node.Config
}

// startBroker starts a node with the given broker settings. It is shut down
// when the test ends.
func startBroker(t testing.TB, settings map[string]string) *broker {
	t.Helper()
	b := &broker{t: t, dataDir: t.TempDir()}
	b.cfg = node.Config{
		NodeID:   1,
		Listen:   "127.0.0.1:0",
		DataDir:  b.dataDir,
		Settings: settings,
		Logger:   testLogger(t),
	}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) start() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, b.cfg)
	if err != nil {
		b.t.Fatalf("start broker: %v", err)
	}
	b.node, b.addr = n, n.Addr()
}

func (b *broker) stop() {
	if b.node == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.node.Shutdown(ctx); err != nil {
		b.t.Errorf("shutdown: %v", err)
	}
	b.node = nil
}

// restart stops the node cleanly and starts it again on the same data
// directory and, so clients can reconnect, the same port.
func (b *broker) restart() {
	b.t.Helper()
	b.stop()
	b.cfg.Listen = b.addr
	b.start()
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testWriter sends log lines to the test's log, so they show only on failure.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// client returns a franz-go client for the broker, closed at test end.
func (b *broker) client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	return newClient(b.t, b.addr, opts...)
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (b *broker) admin() *kadm.Client {
	return kadm.NewClient(b.client())
}

// createTopic creates a topic and fails the test on any error.
func (b *broker) createTopic(name string, partitions int32, configs map[string]*string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := b.admin().CreateTopic(ctx, partitions, 1, configs, name)
	if err != nil || resp.Err != nil {
		b.t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
}

func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// createTopicWith creates a topic through a given client.
func createTopicWith(t testing.TB, cl *kgo.Client, name string, partitions int32) {
	t.Helper()
	ctx := testContext(t, 10*time.Second)
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
}

// endOffsets lists the high watermark of every partition of topic.
func endOffsets(t testing.TB, cl *kgo.Client, topic string) map[int32]int64 {
	t.Helper()
	ctx := testContext(t, 10*time.Second)
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("list end offset %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out
}
