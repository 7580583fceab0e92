package node

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPartitionScale measures a broker hosting many partitions: creating
// them, idle CPU, an acks=all produce to one 1,000-partition topic with
// and without the others present, and a restart from a crash image to
// the first acknowledged write. It is a measurement, not a check: it runs
// only with SLUICE_SCALE set, and with SLUICE_SCALE_PROF set to a
// directory it writes CPU and allocation profiles of each phase there.
//
//	SLUICE_SCALE=1 SLUICE_SCALE_PROF=/tmp/prof go test ./internal/node -run PartitionScale -v -timeout 20m
func TestPartitionScale(t *testing.T) {
	if os.Getenv("SLUICE_SCALE") == "" {
		t.Skip("set SLUICE_SCALE to run")
	}
	topics := envInt("SLUICE_SCALE_TOPICS", 10)
	parts := envInt("SLUICE_SCALE_PARTITIONS", 1000)
	produceFor := time.Duration(envInt("SLUICE_SCALE_PRODUCE_SECONDS", 5)) * time.Second
	idleFor := time.Duration(envInt("SLUICE_SCALE_IDLE_SECONDS", 10)) * time.Second
	prof := os.Getenv("SLUICE_SCALE_PROF")

	alone := scaleNode(t, t.TempDir(), "127.0.0.1:0")
	createTopics(t, alone, 1, parts)
	aloneRate := produceRate(t, alone.Addr(), "t0", produceFor, prof, "")
	shutdownScaleNode(t, alone)
	t.Logf("produce, only t0 (%d partitions): %.0f rec/s", parts, aloneRate)

	dir := t.TempDir()
	n := scaleNode(t, dir, "127.0.0.1:0")
	stop := profile(t, prof, "create")
	took := createTopics(t, n, topics, parts)
	stop()
	t.Logf("create %d topics x %d partitions: %v", topics, parts, took.Round(time.Millisecond))

	time.Sleep(2 * time.Second) // let creation settle
	stop = profile(t, prof, "idle")
	cpu0, wall0 := selfCPU(), time.Now()
	time.Sleep(idleFor)
	idle := float64(selfCPU()-cpu0) / float64(time.Since(wall0))
	stop()
	t.Logf("idle CPU with %d partitions: %.1f%% of a core", topics*parts, 100*idle)

	rate := produceRate(t, n.Addr(), "t0", produceFor, prof, "produce")
	t.Logf("produce, t0 among %d partitions: %.0f rec/s (%.0f%% of alone)", topics*parts, rate, 100*rate/aloneRate)

	// A crash image: the data directory as kill -9 leaves it (page cache
	// intact, no clean shutdown).
	crash := t.TempDir()
	if err := copyTree(dir, crash); err != nil {
		t.Fatal(err)
	}
	shutdownScaleNode(t, n)

	stop = profile(t, prof, "restart")
	start := time.Now()
	r := scaleNode(t, crash, "127.0.0.1:0")
	started := time.Since(start)
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.Addr()), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "t0", Value: []byte("first")}).FirstErr()
	cancel()
	firstAck := time.Since(start)
	stop()
	cl.Close()
	if err != nil {
		t.Fatalf("first produce after restart: %v", err)
	}
	t.Logf("restart from crash image: Start returned after %v, first ack after %v", started.Round(time.Millisecond), firstAck.Round(time.Millisecond))
	shutdownScaleNode(t, r)
}

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return v
	}
	return def
}

func scaleNode(t *testing.T, dir, listen string) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := Start(ctx, Config{NodeID: 1, Listen: listen, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func shutdownScaleNode(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Error(err)
	}
}

// createTopics creates t0..t<count-1> in one request and returns how long
// until every partition answered.
func createTopics(t *testing.T, n *Node, count, parts int) time.Duration {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(300000)
	names := make([]string, count)
	for i := range names {
		names[i] = fmt.Sprintf("t%d", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	resp, err := adm.CreateTopics(ctx, int32(parts), 1, nil, names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp {
		if r.Err != nil {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
	return time.Since(start)
}

// produceRate produces acks=all to topic for d, at most 10,000 records in
// flight, and returns acknowledged records per second.
func produceRate(t *testing.T, addr, topic string, d time.Duration, prof, name string) float64 {
	t.Helper()
	const window = 10000
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(2*window+1000),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
		t.Fatalf("warm-up produce: %v", err)
	}
	stop := profile(t, prof, name)
	defer stop()
	value := make([]byte, 100)
	var acked, failed atomic.Int64
	sem := make(chan struct{}, window)
	start := time.Now()
	for time.Since(start) < d {
		sem <- struct{}{}
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			} else {
				acked.Add(1)
			}
			<-sem
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d records failed", f)
	}
	return float64(acked.Load()) / elapsed.Seconds()
}

// profile starts a CPU profile of a phase and returns what stops it and
// writes the allocation profile; it does nothing without a directory.
func profile(t *testing.T, dir, name string) (stop func()) {
	if dir == "" || name == "" {
		return func() {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, name+".cpu"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		a, err := os.Create(filepath.Join(dir, name+".alloc"))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if err := pprof.Lookup("allocs").WriteTo(a, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// copyTree copies the regular files and directories under src into dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
