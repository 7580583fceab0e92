package metrics

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topics counts the bytes and records produced to and fetched by
// consumers from each topic (followers' fetches are replication, not
// counted, as Kafka keeps them out of BytesOutPerSec). The counters are
// atomics found through a sync.Map; the collector exports them when
// scraped and forgets topics that no longer exist.
type Topics struct {
	m sync.Map // topic name -> *topicCounters
	// exists reports whether a topic still exists; nil keeps every topic.
	exists func(topic string) bool
	// nameOf resolves a Fetch v13+ topic ID; nil leaves such topics out.
	nameOf func(id [16]byte) string

	bytesIn, recordsIn, bytesOut, recordsOut *prometheus.Desc
}

type topicCounters struct {
	bytesIn, recordsIn, bytesOut, recordsOut atomic.Uint64
}

// NewTopics registers the per-topic counters on reg. exists and nameOf
// read the current metadata.
func NewTopics(reg prometheus.Registerer, exists func(string) bool, nameOf func([16]byte) string) *Topics {
	t := &Topics{
		exists: exists, nameOf: nameOf,
		bytesIn:    prometheus.NewDesc("sluice_topic_bytes_in_total", "Bytes of record batches appended to the topic by producers (acks=0 counted as sent).", []string{"topic"}, nil),
		recordsIn:  prometheus.NewDesc("sluice_topic_records_in_total", "Records appended to the topic by producers.", []string{"topic"}, nil),
		bytesOut:   prometheus.NewDesc("sluice_topic_bytes_out_total", "Bytes of record batches returned to consumers' fetches (not followers').", []string{"topic"}, nil),
		recordsOut: prometheus.NewDesc("sluice_topic_records_out_total", "Records in the batches returned to consumers' fetches, counted by batch header.", []string{"topic"}, nil),
	}
	reg.MustRegister(t)
	return t
}

func (t *Topics) counters(topic string) *topicCounters {
	if c, ok := t.m.Load(topic); ok {
		return c.(*topicCounters)
	}
	c, _ := t.m.LoadOrStore(topic, &topicCounters{})
	return c.(*topicCounters)
}

// produced counts the partitions of req that resp answers without error;
// with no response (acks=0) every partition sent.
func (t *Topics) produced(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse) {
	for i := range req.Topics {
		rt := &req.Topics[i]
		var st *kmsg.ProduceResponseTopic
		if resp != nil {
			st = matchProduceTopic(resp, i, rt.Topic)
			if st == nil {
				continue
			}
		}
		var bytes, records uint64
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			if st != nil && !producedOK(st, j, rp.Partition) {
				continue
			}
			bytes += uint64(len(rp.Records))
			records += batchRecords(rp.Records)
		}
		if bytes > 0 {
			c := t.counters(rt.Topic)
			c.bytesIn.Add(bytes)
			c.recordsIn.Add(records)
		}
	}
}

// matchProduceTopic finds a request topic's answer: the broker answers in
// request order, so the same index first.
func matchProduceTopic(resp *kmsg.ProduceResponse, i int, topic string) *kmsg.ProduceResponseTopic {
	if i < len(resp.Topics) && resp.Topics[i].Topic == topic {
		return &resp.Topics[i]
	}
	for k := range resp.Topics {
		if resp.Topics[k].Topic == topic {
			return &resp.Topics[k]
		}
	}
	return nil
}

func producedOK(t *kmsg.ProduceResponseTopic, j int, partition int32) bool {
	if j < len(t.Partitions) && t.Partitions[j].Partition == partition {
		return t.Partitions[j].ErrorCode == 0
	}
	for k := range t.Partitions {
		if t.Partitions[k].Partition == partition {
			return t.Partitions[k].ErrorCode == 0
		}
	}
	return false
}

// fetched counts what a consumer's fetch returned.
func (t *Topics) fetched(req *kmsg.FetchRequest, resp *kmsg.FetchResponse) {
	if req.ReplicaID >= 0 || req.ReplicaState.ID >= 0 {
		return
	}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		var bytes, records uint64
		for j := range rt.Partitions {
			rec := rt.Partitions[j].RecordBatches
			bytes += uint64(len(rec))
			records += batchRecords(rec)
		}
		if bytes == 0 {
			continue
		}
		name := rt.Topic
		if name == "" && t.nameOf != nil {
			name = t.nameOf(rt.TopicID)
		}
		if name == "" {
			continue
		}
		c := t.counters(name)
		c.bytesOut.Add(bytes)
		c.recordsOut.Add(records)
	}
}

// batchRecords sums the record counts of the v2 batch headers in b (a
// partial batch at the end, as a fetch may return, counts if its header
// is whole: the client gets those records when it fetches the rest).
func batchRecords(b []byte) uint64 {
	const (
		lengthAt  = 8  // batchLength, after baseOffset
		magicAt   = 16 // after partitionLeaderEpoch
		countAt   = 57 // recordsCount, the last header field
		headerLen = 61
	)
	var n uint64
	for len(b) >= headerLen {
		length := int(int32(binary.BigEndian.Uint32(b[lengthAt:])))
		if b[magicAt] != 2 || length < headerLen-12 {
			return n
		}
		if c := int32(binary.BigEndian.Uint32(b[countAt:])); c > 0 {
			n += uint64(c)
		}
		if 12+length > len(b) {
			return n
		}
		b = b[12+length:]
	}
	return n
}

// Describe implements prometheus.Collector.
func (t *Topics) Describe(ch chan<- *prometheus.Desc) {
	ch <- t.bytesIn
	ch <- t.recordsIn
	ch <- t.bytesOut
	ch <- t.recordsOut
}

// Collect implements prometheus.Collector.
func (t *Topics) Collect(ch chan<- prometheus.Metric) {
	t.m.Range(func(k, v any) bool {
		topic := k.(string)
		if t.exists != nil && !t.exists(topic) {
			t.m.Delete(topic)
			return true
		}
		c := v.(*topicCounters)
		ch <- prometheus.MustNewConstMetric(t.bytesIn, prometheus.CounterValue, float64(c.bytesIn.Load()), topic)
		ch <- prometheus.MustNewConstMetric(t.recordsIn, prometheus.CounterValue, float64(c.recordsIn.Load()), topic)
		ch <- prometheus.MustNewConstMetric(t.bytesOut, prometheus.CounterValue, float64(c.bytesOut.Load()), topic)
		ch <- prometheus.MustNewConstMetric(t.recordsOut, prometheus.CounterValue, float64(c.recordsOut.Load()), topic)
		return true
	})
}
