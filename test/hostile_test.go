package test

// Hostile clients (issue 13): each attack runs against a sluice process on
// loopback while a normal client produces and fetches beside it; the test
// asserts the normal client's latency, the broker's RSS growth and that
// the broker's CPU goes quiet once the attacker leaves.

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// procRSS is the resident set size of process pid in bytes.
func procRSS(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse VmRSS %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// procCPU is the user and system CPU time process pid has used.
func procCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read stat: %v", err)
	}
	// Fields after the command name (which may hold spaces) in ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// rssPeak samples a process's RSS until stopped and returns the peak.
type rssPeak struct {
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

func watchRSS(t testing.TB, pid int) *rssPeak {
	r := &rssPeak{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
						kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
						r.mu.Lock()
						r.peak = max(r.peak, kb<<10)
						r.mu.Unlock()
					}
				}
			}
			select {
			case <-tick.C:
			case <-r.stop:
				return
			}
		}
	}()
	t.Cleanup(func() { r.finish() })
	return r
}

// finish stops sampling and returns the peak.
func (r *rssPeak) finish() int64 {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peak
}

// prober is a normal client producing one record and fetching it back in a
// loop, recording the slowest round trip.
type prober struct {
	cl     *kgo.Client
	topic  string
	id     [16]byte
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	slowest time.Duration
	rounds  int
	err     error
}

func startProber(t testing.TB, addr, topic string) *prober {
	t.Helper()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0), kgo.RecordRetries(0),
		kgo.RetryTimeout(3*time.Second), kgo.ProduceRequestTimeout(3*time.Second))
	createTopicWith(t, cl, topic, 1)
	ctx, cancel := context.WithCancel(context.Background())
	p := &prober{cl: cl, topic: topic, cancel: cancel, done: make(chan struct{})}
	topics, err := kadm.NewClient(cl).ListTopics(testContext(t, 5*time.Second), topic)
	if err != nil || topics[topic].Err != nil {
		t.Fatalf("list topic %s: %v %v", topic, err, topics[topic].Err)
	}
	p.id = topics[topic].ID
	// One round before the attack, so connections and metadata are warm.
	if err := p.round(ctx); err != nil {
		t.Fatalf("normal client before the attack: %v", err)
	}
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			start := time.Now()
			err := p.round(ctx)
			took := time.Since(start)
			p.mu.Lock()
			if ctx.Err() == nil {
				p.rounds++
				p.slowest = max(p.slowest, took)
				if err != nil && p.err == nil {
					p.err = err
				}
			}
			p.mu.Unlock()
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

// round produces a record and fetches it back within 2 seconds.
func (p *prober) round(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	r, err := p.cl.ProduceSync(ctx, &kgo.Record{Value: []byte("normal client")}).First()
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = p.topic, p.id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = r.Partition, r.Offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, p.cl)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return fmt.Errorf("fetch answered %d topics", len(resp.Topics))
	}
	fp := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(fp.ErrorCode); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	if len(fp.RecordBatches) == 0 {
		return fmt.Errorf("fetch at offset %d returned no records", r.Offset)
	}
	return nil
}

// stop ends the loop and reports the slowest round, how many ran and the
// first error.
func (p *prober) stop() (time.Duration, int, error) {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.slowest, p.rounds, p.err
}

// checkNormalClient fails the test unless the prober ran, without error
// and within 2 s a round, throughout the attack.
func checkNormalClient(t testing.TB, p *prober) {
	t.Helper()
	slowest, rounds, err := p.stop()
	t.Logf("normal client: %d rounds of produce+fetch, slowest %v", rounds, slowest)
	if err != nil {
		t.Fatalf("normal client failed during the attack: %v", err)
	}
	if rounds < 3 {
		t.Fatalf("normal client completed only %d rounds", rounds)
	}
	if slowest > 2*time.Second {
		t.Fatalf("normal client's slowest produce+fetch took %v, want < 2s", slowest)
	}
}

// checkQuiet fails the test if the broker burns CPU after the attack:
// over a second, it may use at most a tenth of a core.
func checkQuiet(t testing.TB, pid int) {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // let closing connections finish
	before := procCPU(t, pid)
	time.Sleep(time.Second)
	used := procCPU(t, pid) - before
	t.Logf("broker CPU in the second after the attack: %v", used)
	if used > 100*time.Millisecond {
		t.Fatalf("broker used %v of CPU in the second after the attacker left", used)
	}
}

// metadataFrame is a Metadata v4 request naming n empty topics: two bytes
// a name on the wire.
func metadataFrame(n int) []byte {
	frame := make([]byte, 0, 4+12+4+2*n+1)
	frame = append(frame, 0, 0, 0, 0)
	frame = binary.BigEndian.AppendUint16(frame, 3) // Metadata
	frame = binary.BigEndian.AppendUint16(frame, 4)
	frame = binary.BigEndian.AppendUint32(frame, 1)
	frame = binary.BigEndian.AppendUint16(frame, 2)
	frame = append(frame, "ev"...)
	frame = binary.BigEndian.AppendUint32(frame, uint32(n))
	frame = append(frame, make([]byte, 2*n)...)
	frame = append(frame, 1) // allow_auto_topic_creation
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	return frame
}

// TestMetadataAmplificationBounded sends Metadata requests naming millions
// of empty topics (issue 13: once ~200x the frame in memory and minutes of
// work after the client left). The broker refuses them from the array
// length before decoding and closes those connections; a request repeating
// one topic thousands of times is answered once per distinct topic.
func TestMetadataAmplificationBounded(t *testing.T) {
	p := startProcess(t, t.TempDir(), "127.0.0.1:0")
	pid := p.cmd.Process.Pid
	normal := startProber(t, p.addr, "normal")
	base := procRSS(t, pid)
	peak := watchRSS(t, pid)

	const names = 5_000_000
	frame := metadataFrame(names)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 3; j++ {
				c := dialRaw(t, p.addr)
				c.write(frame)
				c.expectClosed()
				c.nc.Close()
			}
		}()
	}
	wg.Wait()

	// Within the limit, repeats are collapsed: one answer per topic.
	c := dialRaw(t, p.addr)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 4
	for i := 0; i < 5000; i++ {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("normal")
		req.Topics = append(req.Topics, rt)
	}
	c.request(req, 7)
	_, body := c.response(false)
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = 4
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata naming one topic 5000 times answered %d topics, want 1", len(resp.Topics))
	}

	checkNormalClient(t, normal)
	growth := peak.finish() - base
	t.Logf("frame %d bytes (%d names), RSS %d MB before, peak growth %d MB", len(frame), names, base>>20, growth>>20)
	if growth > 20*int64(len(frame)) || growth > 400<<20 {
		t.Fatalf("RSS grew %d MB under the attack, want < 20x the frame (%d MB) and < 400 MB", growth>>20, 20*len(frame)>>20)
	}
	checkQuiet(t, pid)
	if !strings.Contains(p.logs(), "at most") {
		t.Fatalf("no log line names the refused request:\n%s", p.logs())
	}
}
