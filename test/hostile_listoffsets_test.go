package test

// ListOffsets by timestamp looks into the stored batch that holds the
// answer, decompressing it when it is compressed; like Produce, it does so
// on the broker-wide decompression budget (sluice.decompression.max.bytes),
// so many such requests at once cannot inflate a batch each.

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
)

// TestListOffsetsByTimestampDecompressesOnTheBudget stores a gzip batch of
// one 30 MiB record (30 KB on disk), then asks 16 connections at once,
// three times each, for the offset of its timestamp: each answer
// decompresses the batch. With a 32 MiB decompression budget they take
// turns: the budget's waits counter moves, every answer is right, and the
// broker grows by far less than 16 batches (480 MiB).
func TestListOffsetsByTimestampDecompressesOnTheBudget(t *testing.T) {
	p := startProcess(t, t.TempDir(), "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--config", "sluice.decompression.max.bytes=33554432")
	httpAddr := httpAddrOf(t, p)
	pid := p.cmd.Process.Pid
	cl := newClient(t, p.addr)
	if r, err := kadm.NewClient(cl).CreateTopic(testContext(t, 10*time.Second), 1, 1,
		map[string]*string{"max.message.bytes": kmsg.StringPtr("104857600")}, "by-time"); err != nil || r.Err != nil {
		t.Fatalf("create topic: %v %v", err, r.Err)
	}
	batch := bomb(t, record.CodecGzip, 30<<20, false)
	h, err := record.ParseHeader(batch)
	if err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, p.addr)
	c.request(produceFrame("by-time", batch), 1)
	_, body := c.response(false)
	presp := kmsg.NewPtrProduceResponse()
	presp.Version = 7
	if err := presp.ReadFrom(body); err != nil || presp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("produce the 30 MiB batch: %v %v", err, kerr.ErrorForCode(presp.Topics[0].Partitions[0].ErrorCode))
	}
	// A second, small batch after it, so the answer is not simply the end.
	if err := cl.ProduceSync(testContext(t, 10*time.Second), &kgo.Record{Topic: "by-time", Value: []byte("later"),
		Timestamp: time.UnixMilli(h.MaxTimestamp + 1000)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	runtimeGC()
	waitsBefore, _ := scrapeMetrics(t, httpAddr).value("sluice_decompression_budget_waits_total")
	base := procRSS(t, pid)
	peak := watchRSS(t, pid)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialRaw(t, p.addr)
			c.nc.SetDeadline(time.Now().Add(60 * time.Second))
			for corr := int32(1); corr <= 3; corr++ {
				req := kmsg.NewPtrListOffsetsRequest()
				req.Version, req.ReplicaID = 4, -1
				rt := kmsg.NewListOffsetsRequestTopic()
				rt.Topic = "by-time"
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Timestamp, rp.CurrentLeaderEpoch = h.BaseTimestamp, -1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				c.request(req, corr)
				_, body := c.response(false)
				resp := kmsg.NewPtrListOffsetsResponse()
				resp.Version = 4
				err := resp.ReadFrom(body)
				if err == nil {
					sp := resp.Topics[0].Partitions[0]
					if sp.ErrorCode != 0 || sp.Offset != 0 || sp.Timestamp != h.BaseTimestamp {
						err = fmt.Errorf("offset %d, timestamp %d, %v; want 0, %d", sp.Offset, sp.Timestamp, kerr.ErrorForCode(sp.ErrorCode), h.BaseTimestamp)
					}
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	growth := peak.finish() - base
	if len(failures) > 0 {
		t.Fatalf("%d ListOffsets answered wrong, first: %s", len(failures), failures[0])
	}
	waits, _ := scrapeMetrics(t, httpAddr).value("sluice_decompression_budget_waits_total")
	t.Logf("48 ListOffsets by timestamp into a 30 MiB gzip batch from 16 connections: %v decompressions waited for the budget; RSS %d MB before, peak growth %d MB",
		waits-waitsBefore, base>>20, growth>>20)
	if waits <= waitsBefore {
		t.Fatal("no ListOffsets waited for the 32 MiB decompression budget: it is not drawn on")
	}
	if growth > 200<<20 {
		t.Fatalf("RSS grew %d MB, want well under 16 decompressed batches (480 MiB)", growth>>20)
	}
}
