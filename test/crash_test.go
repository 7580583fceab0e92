package test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKill9KeepsAcknowledgedRecords produces with acks=all, kills the broker
// with SIGKILL mid-stream, restarts it and checks that every acknowledged
// record is there exactly once, at the offset it was acknowledged with, and
// that offsets stay dense and in order.
func TestKill9KeepsAcknowledgedRecords(t *testing.T) {
	t.Parallel()
	p := startProcess(t, t.TempDir(), "127.0.0.1:0")
	setup := newClient(t, p.addr)
	ctx := testContext(t, 3*time.Minute)
	createTopicWith(t, setup, "crash", 3)

	cl := newClient(t, p.addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(3),
		kgo.RecordDeliveryTimeout(5*time.Second), kgo.ProducerLinger(time.Millisecond))
	var mu sync.Mutex
	acked := map[string]tpo{}
	produceCtx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; produceCtx.Err() == nil; i++ {
			v := fmt.Sprintf("value-%07d", i)
			cl.Produce(produceCtx, &kgo.Record{Topic: "crash", Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[string(r.Value)] = tpo{r.Partition, r.Offset}
					mu.Unlock()
				}
			})
			if i%1000 == 999 {
				time.Sleep(time.Millisecond) // keep the in-flight buffer bounded
			}
		}
	}()
	// Let a good number of records be acknowledged, then kill.
	waitFor(t, time.Minute, "20000 records acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 20000
	})
	p.kill(syscall.SIGKILL)
	stopProducing()
	wg.Wait()
	cl.Close()
	mu.Lock()
	ackedCopy := make(map[string]tpo, len(acked))
	for k, v := range acked {
		ackedCopy[k] = v
	}
	mu.Unlock()
	if len(ackedCopy) == 0 {
		t.Fatal("no record was acknowledged before the kill")
	}

	p.restart()
	// Read everything back from a fresh client.
	end := endOffsets(t, newClient(t, p.addr), "crash")
	var total int64
	for _, o := range end {
		total += o
	}
	got := consumeAll(t, p.addr, "crash", int(total))
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
	for v, at := range ackedCopy {
		if seen[v] != at {
			got, ok := seen[v]
			t.Fatalf("acknowledged %s at %v; after restart: %v (present %v)", v, at, got, ok)
		}
	}
	t.Logf("%d records acknowledged before kill -9, %d in the log after restart", len(ackedCopy), len(got))
}
