package metrics

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/broker"
)

// fakeBroker serves Produce v3-12 and Fetch v4-16 with canned replies.
type fakeBroker struct {
	reply func(req kmsg.Request) broker.Reply
}

func (fakeBroker) Supports(key, version int16) bool {
	switch key {
	case 0:
		return version >= 3 && version <= 12
	case 1:
		return version >= 4 && version <= 16
	}
	return false
}

func (f fakeBroker) Handle(_ context.Context, _ *broker.Client, req kmsg.Request) broker.Reply {
	return f.reply(req)
}

// batch is a v2 record batch header of records records, padded to size
// bytes in all.
func batch(records int32, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b[8:], uint32(size-12))
	b[16] = 2
	binary.BigEndian.PutUint32(b[57:], uint32(records))
	return b
}

func TestBatchRecordsCountsWholeHeaders(t *testing.T) {
	t.Parallel()
	two := append(batch(3, 100), batch(5, 80)...)
	tests := []struct {
		name string
		b    []byte
		want uint64
	}{
		{"empty", nil, 0},
		{"one", batch(7, 61), 7},
		{"two", two, 8},
		{"second cut after its header", two[:100+70], 8},
		{"second cut in its header", two[:100+30], 3},
		{"not magic 2", func() []byte { b := batch(4, 70); b[16] = 1; return b }(), 0},
	}
	for _, tt := range tests {
		if got := batchRecords(tt.b); got != tt.want {
			t.Errorf("%s: %d records, want %d", tt.name, got, tt.want)
		}
	}
}

// TestHandlerCountsRequestsAndDeferredLatency: a request is counted under
// its API and version, and a deferred reply's latency runs until its Wait
// returns; only partitions produced without error count as bytes in, and
// followers' fetches never count as bytes out.
func TestHandlerCountsRequestsAndDeferredLatency(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	release := make(chan struct{})
	fb := fakeBroker{reply: func(req kmsg.Request) broker.Reply {
		switch r := req.(type) {
		case *kmsg.ProduceRequest:
			resp := r.ResponseKind().(*kmsg.ProduceResponse)
			for _, t := range r.Topics {
				rt := kmsg.NewProduceResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewProduceResponseTopicPartition()
					rp.Partition = p.Partition
					if p.Partition == 1 {
						rp.ErrorCode = 6 // NOT_LEADER_OR_FOLLOWER
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return broker.Reply{Wait: func(context.Context) kmsg.Response { <-release; return resp }}
		case *kmsg.FetchRequest:
			resp := r.ResponseKind().(*kmsg.FetchResponse)
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = "t"
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.RecordBatches = batch(4, 200)
			rt.Partitions = append(rt.Partitions, rp)
			resp.Topics = append(resp.Topics, rt)
			return broker.Reply{Response: resp}
		}
		return broker.Reply{}
	}}
	topics := NewTopics(reg, nil, nil)
	h := NewHandler(reg, fb, topics)

	produce := kmsg.NewPtrProduceRequest()
	produce.Version = 9
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "t"
	for i := range int32(2) {
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Partition, pp.Records = i, batch(10, 150)
		pt.Partitions = append(pt.Partitions, pp)
	}
	produce.Topics = append(produce.Topics, pt)
	reply := h.Handle(context.Background(), &broker.Client{}, produce)
	if got := requestsOf(t, reg, "Produce", "9"); got != 0 {
		t.Fatalf("counted before the deferred reply completed: %v", got)
	}
	go func() { time.Sleep(30 * time.Millisecond); close(release) }()
	reply.Wait(context.Background())
	if got := requestsOf(t, reg, "Produce", "9"); got != 1 {
		t.Fatalf("Produce v9 counted %v, want 1", got)
	}
	sum := histogramSum(t, reg, "Produce")
	if sum < 0.03 {
		t.Errorf("deferred Produce latency %vs, want at least the 30ms its Wait took", sum)
	}
	c := topics.counters("t")
	if c.bytesIn.Load() != 150 || c.recordsIn.Load() != 10 {
		t.Errorf("in: %d bytes %d records, want the one partition without error: 150, 10", c.bytesIn.Load(), c.recordsIn.Load())
	}

	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 12
	fetch.ReplicaID = -1
	fetch.ReplicaState.ID = -1
	h.Handle(context.Background(), &broker.Client{}, fetch)
	follower := kmsg.NewPtrFetchRequest()
	follower.Version = 12
	follower.ReplicaID = 2
	h.Handle(context.Background(), &broker.Client{}, follower)
	if c.bytesOut.Load() != 200 || c.recordsOut.Load() != 4 {
		t.Errorf("out: %d bytes %d records, want the consumer's fetch only: 200, 4", c.bytesOut.Load(), c.recordsOut.Load())
	}
	if got := requestsOf(t, reg, "Fetch", "12"); got != 2 {
		t.Errorf("Fetch v12 counted %v, want 2", got)
	}
}

// requestsOf is sluice_requests_total of one API and version; 0 when it
// has no sample.
func requestsOf(t *testing.T, reg *prometheus.Registry, api, version string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "sluice_requests_total" {
			continue
		}
		for _, m := range f.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["api"] == api && labels["version"] == version {
				return m.Counter.GetValue()
			}
		}
	}
	t.Fatalf("no sluice_requests_total{api=%q,version=%q}", api, version)
	return 0
}

func histogramSum(t *testing.T, reg *prometheus.Registry, api string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "sluice_request_duration_seconds" {
			continue
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "api" && l.GetValue() == api {
					return m.Histogram.GetSampleSum()
				}
			}
		}
	}
	t.Fatalf("no latency of %s", api)
	return 0
}
