package broker

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/record"
)

// slowSchemaIDs knows schema ID 1, and 100 and above once it has waited
// for them; any other it waits for as a registry does for an ID it has not
// read yet, within ctx and at most wait, and does not know.
type slowSchemaIDs struct {
	wait  time.Duration
	calls atomic.Int64
}

func (s *slowSchemaIDs) Registered(ctx context.Context, id int32) bool {
	s.calls.Add(1)
	if id == 1 {
		return true
	}
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	return id >= 100
}

// A batch whose records name schema IDs the registry does not know waits
// once per ID, and one request's waits share one bound (the request
// timeout, at most schemaLookupWait). Before, each record waited on its
// own: 20 such records of one ID took 20 waits.
func TestSchemaValidationWaitsOncePerIDAndRequest(t *testing.T) {
	ids := &slowSchemaIDs{wait: 200 * time.Millisecond}
	e := newLeaderEnvWith(t, func(c *Config) { c.SchemaIDs = ids })
	var id cluster.TopicID
	rand.Read(id[:])
	e.propose(cluster.CreateTopic{Name: "sv", ID: id, Replicas: [][]int32{{1}},
		Configs: map[string]string{config.ValueSchemaValidationConfig: "true"}})
	e.waitFor("leadership of sv", func() bool { p, ok := e.mgr.Partition("sv", 0); return ok && p.IsLeader() })

	produce := func(timeoutMs int32, schemaIDs ...byte) (int16, time.Duration) {
		t.Helper()
		recs := make([]record.Record, len(schemaIDs))
		for i, sid := range schemaIDs {
			recs[i] = record.Record{OffsetDelta: int32(i), Value: []byte{0, 0, 0, 0, sid, 'x'}}
		}
		b, err := record.Build(record.BuildOptions{BaseTimestamp: time.Now().UnixMilli()}, recs)
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = 1, timeoutMs
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "sv"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = b
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		r := e.b.Handle(e.ctx, &Client{ID: "sv-test", Principal: Anonymous}, req)
		resp := r.Response
		if r.Wait != nil {
			resp = r.Wait(e.ctx)
		}
		return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode, time.Since(start)
	}

	if code, _ := produce(5000, 1, 1, 1); code != 0 {
		t.Fatalf("records of a registered schema: error %d", code)
	}
	ids.calls.Store(0)
	same := make([]byte, 20)
	for i := range same {
		same[i] = 9
	}
	code, took := produce(5000, same...)
	if code != kerr.InvalidRecord.Code || ids.calls.Load() != 1 {
		t.Fatalf("20 records of unknown schema 9: error %d after %d lookups (%v), want INVALID_RECORD after 1", code, ids.calls.Load(), took)
	}
	// A request without a timeout (acks=1 may carry 0) waits the whole
	// bound for an ID the registry reads late, not none.
	if code, _ := produce(0, 100); code != 0 {
		t.Fatalf("a schema read late, request timeout 0: error %d", code)
	}
	// Twenty unknown IDs: the waits end together at the request timeout.
	ids.wait = time.Hour
	distinct := make([]byte, 20)
	for i := range distinct {
		distinct[i] = byte(10 + i)
	}
	code, took = produce(500, distinct...)
	if code != kerr.InvalidRecord.Code || took > 2*time.Second {
		t.Fatalf("20 records of 20 unknown schemas, request timeout 500 ms: error %d after %v, want INVALID_RECORD within the timeout", code, took)
	}
}
