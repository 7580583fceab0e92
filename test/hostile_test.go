package test

// Hostile clients (issue 13): each attack runs against a sluice process on
// loopback while a normal client produces and fetches beside it; the test
// asserts the normal client's latency, the broker's RSS growth and that
// the broker's CPU goes quiet once the attacker leaves.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-io/sluice/internal/record"
)

func runtimeGC() { runtime.GC() }

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

// procCloseWaitSockets counts process pid's TCP sockets in CLOSE_WAIT:
// closed by the peer and not yet by pid.
func procCloseWaitSockets(t testing.TB, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("read fds: %v", err)
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			mine[strings.TrimSuffix(inode, "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue // no IPv6
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
			if f := strings.Fields(line); len(f) > 9 && f[3] == "08" && mine[f[9]] {
				n++
			}
		}
	}
	return n
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
// over a second, it may use at most a tenth of a core. It first waits
// for the broker to close every connection its peer has closed.
func checkQuiet(t testing.TB, pid int) {
	t.Helper()
	waitForErr(t, 10*time.Second, "the broker to close the attack's connections", func() error {
		if n := procCloseWaitSockets(t, pid); n > 0 {
			return fmt.Errorf("%d sockets closed by the peer still open", n)
		}
		return nil
	})
	before := procCPU(t, pid)
	time.Sleep(time.Second) // the window the CPU is measured over
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

// bomb is a batch of records of zero bytes, size bytes in all, in one
// record or in records of 128 bytes (many), compressed with codec as a
// streaming producer writes it (no content size up front).
func bomb(t testing.TB, codec record.Codec, size int, many bool) []byte {
	t.Helper()
	zeros := make([]byte, size)
	recs := []record.Record{{Value: zeros}}
	if many {
		recs = make([]record.Record, size/128)
		for i := range recs {
			recs[i] = record.Record{OffsetDelta: int32(i), Value: zeros[:128]}
		}
	}
	var raw []byte
	var err error
	if codec == record.CodecZstd {
		// The Java producer streams zstd: frames state no content size,
		// so the broker cannot refuse from the header.
		uncompressed, err := record.Build(record.BuildOptions{BaseTimestamp: time.Now().UnixMilli()}, recs)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		w, _ := zstd.NewWriter(&buf)
		w.Write(uncompressed[record.HeaderSize:])
		w.Close()
		raw = append(uncompressed[:record.HeaderSize:record.HeaderSize], buf.Bytes()...)
		binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
		raw[22] = byte(record.CodecZstd) // attributes, low byte
		binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
		return raw
	}
	raw, err = record.Build(record.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), Codec: codec}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// produceFrame is a Produce v7 request of one batch to partition 0.
func produceFrame(topic string, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 7, 1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 0, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestDecompressionBombsBounded sends, from 16 connections at once,
// batches of a few kilobytes that decompress to 120 MiB of zeros (gzip,
// streamed zstd and LZ4 of one record; gzip and zstd of a million records;
// issue 13: 2 GB of RSS in 4 s). Records are checked as they stream out of
// the decompressor: a record longer than the limit is refused from its
// length, a batch of many records when the stream passes the limit
// (100 MiB on one topic, the default max.message.bytes of 1 MiB on the
// other). Every bomb is answered MESSAGE_TOO_LARGE while a normal client
// is served and the broker, with a 128 MiB decompression budget (its RSS
// can reach twice that: Go collects garbage behind the live heap), stays
// under 600 MB.
func TestDecompressionBombsBounded(t *testing.T) {
	p := startProcess(t, t.TempDir(), "127.0.0.1:0", "--config", "sluice.decompression.max.bytes=134217728")
	pid := p.cmd.Process.Pid
	normal := startProber(t, p.addr, "normal")
	adm := kadm.NewClient(normal.cl)
	big := "100MiB"
	if r, err := adm.CreateTopic(testContext(t, 10*time.Second), 1, 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("104857600")}, "big"); err != nil || r.Err != nil {
		t.Fatalf("create topic big: %v %v", err, r.Err)
	}
	createTopicWith(t, normal.cl, "small", 1)
	bombs := map[string][]byte{
		"gzip":      bomb(t, record.CodecGzip, 120<<20, false),
		"zstd":      bomb(t, record.CodecZstd, 120<<20, false),
		"lz4":       bomb(t, record.CodecLZ4, 120<<20, false),
		"gzip-many": bomb(t, record.CodecGzip, 120<<20, true),
		"zstd-many": bomb(t, record.CodecZstd, 120<<20, true),
		// Valid on the big topic: one record of 90 MiB.
		"gzip-90": bomb(t, record.CodecGzip, 90<<20, false),
		"zstd-90": bomb(t, record.CodecZstd, 90<<20, false),
		"lz4-90":  bomb(t, record.CodecLZ4, 90<<20, false),
	}
	for name, b := range bombs {
		t.Logf("%s bomb: %d bytes", name, len(b))
	}
	runtimeGC() // the bombs' source buffers are the test's, not the broker's

	base := procRSS(t, pid)
	peak := watchRSS(t, pid)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	type shot struct{ topic, bomb string }
	for i := 0; i < 16; i++ {
		// Every fourth connection first sends a batch of one 90 MiB
		// record to the big topic, where it is valid and decompressed
		// whole, on the budget (two would not fit in it at once); then
		// each sends two bombs to the big topic and every bomb to the
		// small one.
		shots := []shot{{"big", "gzip"}, {"big", "zstd"}}
		if i%4 == 0 {
			shots = append([]shot{{"big", []string{"gzip-90", "zstd-90", "lz4-90"}[i/4%3]}}, shots...)
		}
		for _, name := range []string{"gzip", "zstd", "lz4", "gzip-many", "zstd-many"} {
			shots = append(shots, shot{"small", name})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialRaw(t, p.addr)
			c.nc.SetDeadline(time.Now().Add(60 * time.Second))
			corr := int32(0)
			for _, s := range shots {
				topic, name := s.topic, s.bomb
				{
					corr++
					c.request(produceFrame(topic, bombs[name]), corr)
					_, body := c.response(false)
					resp := kmsg.NewPtrProduceResponse()
					resp.Version = 7
					if err := resp.ReadFrom(body); err != nil {
						mu.Lock()
						failures = append(failures, err.Error())
						mu.Unlock()
						return
					}
					want := kerr.MessageTooLarge.Code
					if strings.HasSuffix(name, "-90") {
						want = 0
					}
					if code := resp.Topics[0].Partitions[0].ErrorCode; code != want {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%s batch to %s: %v, want %v", name, topic, kerr.ErrorForCode(code), kerr.ErrorForCode(want)))
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("116 batches from 16 connections answered in %v", time.Since(start).Round(time.Millisecond))
	if len(failures) > 0 {
		t.Fatalf("%d bombs not refused as expected, first: %s", len(failures), failures[0])
	}
	growth := peak.finish() - base
	t.Logf("RSS %d MB before, peak growth %d MB (%s topic limit, 128 MiB budget)", base>>20, growth>>20, big)
	checkNormalClient(t, normal)
	if !strings.Contains(p.logs(), "decompression budget full") {
		t.Error("no log line says the decompression budget was full")
	}
	if growth > 600<<20 {
		t.Fatalf("RSS grew %d MB under 16 concurrent decompression bombs, want < 600 MB", growth>>20)
	}
	checkQuiet(t, pid)
}

// TestHeadOfLineStallBounded opens, again and again, six connections that
// each send the size prefix of a 100 MB request and nothing more (issue
// 13: they held the whole request budget, and a normal produce waited
// 33.8 s), and two that send the first 100 KB of such a request and then
// stall. Request bytes are budgeted as they arrive, so the first kind
// holds nothing; the second holds its admitted size but is cut after
// 10 s without progress. A normal client's produce+fetch answers within
// 2 s throughout, and the broker grows by less than 300 MB.
func TestHeadOfLineStallBounded(t *testing.T) {
	p := startProcess(t, t.TempDir(), "127.0.0.1:0")
	pid := p.cmd.Process.Pid
	normal := startProber(t, p.addr, "normal")
	base := procRSS(t, pid)
	peak := watchRSS(t, pid)

	prefix := binary.BigEndian.AppendUint32(nil, 100_000_000)
	head := append(append([]byte{}, prefix...), metadataFrame(50_000)[4:100_004]...) // a real header, then 100 KB of the body
	var wg sync.WaitGroup
	stop := time.Now().Add(5 * time.Second)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				c := dialRaw(t, p.addr)
				c.write(prefix)
				time.Sleep(time.Second) // how long each stalled request holds its connection
				c.nc.Close()
			}
		}()
	}
	cut := make(chan time.Duration, 2)
	for i := 0; i < 2; i++ {
		go func() {
			c := dialRaw(t, p.addr)
			c.nc.SetDeadline(time.Now().Add(25 * time.Second))
			start := time.Now()
			c.write(head)
			var b [1]byte
			c.nc.Read(b[:]) // returns when the broker closes the connection
			cut <- time.Since(start)
		}()
	}
	wg.Wait()
	checkNormalClient(t, normal)
	for i := 0; i < 2; i++ {
		if d := <-cut; d > 15*time.Second {
			t.Fatalf("a connection holding budget without sending stayed open %v", d)
		} else {
			t.Logf("stalled connection cut after %v", d.Round(100*time.Millisecond))
		}
	}
	growth := peak.finish() - base
	t.Logf("RSS %d MB before, peak growth %d MB", base>>20, growth>>20)
	if growth > 300<<20 {
		t.Fatalf("RSS grew %d MB under the head-of-line attack, want < 300 MB", growth>>20)
	}
	checkQuiet(t, pid)
}
