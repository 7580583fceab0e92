package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// workload is one produce-then-consume job.
type workload struct {
	name    string
	records int
	size    int
	acksAll bool
	// noIdempotence turns franz-go's idempotent producer off for
	// acks=all too (acks=1 always has it off, as Kafka requires).
	noIdempotence bool
	// txn makes it the transactional workload: txnProducers
	// transactional producers commit transactions of txnSize records,
	// and a read_committed consumer reads them.
	txn          bool
	txnSize      int
	txnProducers int
}

func (w workload) acks() string {
	switch {
	case w.txn:
		return fmt.Sprintf("%d per txn, %d producers", w.txnSize, w.txnProducers)
	case w.acksAll && w.noIdempotence:
		return "acks=all, not idempotent"
	case w.acksAll:
		return "acks=all"
	}
	return "acks=1"
}

func (w workload) String() string {
	return fmt.Sprintf("%s (%s, %s)", w.name, sizeString(w.size), w.acks())
}

func sizeString(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

func workloads(opts Options) ([]workload, error) {
	var out []workload
	for _, name := range opts.Workloads {
		switch name {
		case "small":
			out = append(out, workload{name: "small", records: opts.RecordsSmall, size: opts.SizeSmall})
		case "large":
			out = append(out, workload{name: "large", records: opts.RecordsLarge, size: opts.SizeLarge, acksAll: true, noIdempotence: opts.NoIdempotence})
		case "txn":
			if opts.TxnSize <= 0 || opts.TxnProducers <= 0 {
				return nil, errors.New("workload txn: txn-size and txn-producers must be positive")
			}
			if opts.SizeTxn < 8 {
				// The consumer tells records apart by their first 8 bytes.
				return nil, fmt.Errorf("workload txn: values of %d bytes; want at least 8", opts.SizeTxn)
			}
			out = append(out, workload{name: "txn", records: opts.RecordsTxn, size: opts.SizeTxn, acksAll: true, txn: true, txnSize: opts.TxnSize, txnProducers: opts.TxnProducers})
		default:
			return nil, fmt.Errorf("unknown workload %q (want small, large, txn)", name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no workloads selected")
	}
	for _, w := range out {
		if w.records <= 0 || w.size <= 0 {
			return nil, fmt.Errorf("workload %s: records and size must be positive", w.name)
		}
	}
	return out, nil
}

// payloadPool is random bytes that record values are cut from: every value
// is a different window of it, so values are neither constant nor generated
// while timing.
type payloadPool []byte

func newPayloadPool(maxSize int) payloadPool {
	n := 16<<20 + 4093 // not a multiple of any value size
	if n < 4*maxSize {
		n = 4 * maxSize
	}
	p := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(p); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	return payloadPool(p)
}

func (p payloadPool) value(i, size int) []byte {
	off := (i * size) % (len(p) - size)
	return p[off : off+size : off+size]
}

// produceResult is what one producer run measured.
type produceResult struct {
	records  int // acknowledged
	bytes    int64
	elapsed  time.Duration
	p50, p99 time.Duration
	// For the txn workload: p50 and p99 are EndTransaction latencies,
	// txnP50 and txnP99 those of whole transactions (BeginTransaction to
	// the commit's answer), and perPartition counts the records committed
	// to each partition.
	txnP50, txnP99 time.Duration
	perPartition   []int64
}

// createTopics creates each topic with its partition count, replication
// factor rf (1 when 0) and configs, and waits until every partition has a
// leader, for at most ready.
func createTopics(ctx context.Context, addr string, topics map[string]int, rf int16, configs map[string]*string, ready time.Duration, extra ...kgo.Opt) error {
	if rf == 0 {
		rf = 1
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, extra...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The broker may take this long to answer CreateTopics (kadm's
	// default is 15 s, short for thousands of partitions).
	adm.SetTimeoutMillis(int32(min(ready, time.Hour) / time.Millisecond))
	deadline := time.Now().Add(ready)
	// Topics of the same partition count go in one request, up to 1,000
	// at a time, as admin tools send them.
	byCount := map[int][]string{}
	for topic, partitions := range topics {
		byCount[partitions] = append(byCount[partitions], topic)
	}
	for partitions, names := range byCount {
		for len(names) > 0 {
			batch := names[:min(len(names), 1000)]
			names = names[len(batch):]
			resp, err := adm.CreateTopics(ctx, int32(partitions), rf, configs, batch...)
			if err != nil {
				return fmt.Errorf("create topics %s...: %w", batch[0], err)
			}
			for _, r := range resp {
				if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
					return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
				}
			}
		}
	}
	for {
		var lastErr error
		ready := true
		names := make([]string, 0, len(topics))
		for t := range topics {
			names = append(names, t)
		}
		// A direct request: kadm's Metadata answers from the client's
		// cache, which keeps a first answer (given before every broker
		// knew the topic) for the cache's minimum age.
		req := kmsg.NewPtrMetadataRequest()
		for _, name := range names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			lastErr, ready = err, false
		} else {
			byName := map[string]kmsg.MetadataResponseTopic{}
			for _, t := range resp.Topics {
				if t.Topic != nil {
					byName[*t.Topic] = t
				}
			}
			for topic, partitions := range topics {
				td, ok := byName[topic]
				switch {
				case !ok:
					lastErr, ready = fmt.Errorf("topic %s missing from metadata", topic), false
				case td.ErrorCode != 0:
					lastErr, ready = fmt.Errorf("topic %s: %w", topic, kerr.ErrorForCode(td.ErrorCode)), false
				case len(td.Partitions) != partitions:
					lastErr, ready = fmt.Errorf("topic %s has %d partitions, want %d", topic, len(td.Partitions), partitions), false
				default:
					for _, p := range td.Partitions {
						if p.ErrorCode != 0 || p.Leader < 0 {
							lastErr, ready = fmt.Errorf("topic %s partition %d: leader %d, %v", topic, p.Partition, p.Leader, kerr.ErrorForCode(p.ErrorCode)), false
						}
					}
				}
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topics not ready after %v: %w", ready, lastErr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// warmupTopic is produced to, untimed, before each produce run.
func warmupTopic(topic string) string { return topic + "-warmup" }

func producerOpts(addr, topic string, w workload, window int) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		// The window below bounds what is in flight; kgo's own buffer
		// limit is set above it so that Produce itself never blocks.
		kgo.MaxBufferedRecords(2*window + 1000),
	}
	switch {
	case w.acksAll && w.noIdempotence:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite())
	case w.acksAll:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks())) // idempotent (franz-go's default)
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	}
	return opts
}

// produce writes w.records records of w.size random bytes asynchronously,
// at most window unacknowledged at a time, and measures each record's time
// from the Produce call to its promise. extra adds client options (TLS).
func produce(ctx context.Context, addr, topic string, w workload, window int, pool payloadPool, extra ...kgo.Opt) (produceResult, error) {
	cl, err := kgo.NewClient(append(producerOpts(addr, topic, w, window), extra...)...)
	if err != nil {
		return produceResult{}, err
	}
	defer cl.Close()

	// Warm up outside the timing: connect, load metadata, and (for
	// acks=all) get a producer ID, by producing a few records to another
	// topic with the same client. Then load the bench topic's metadata.
	warm := make([]*kgo.Record, 10)
	for i := range warm {
		warm[i] = &kgo.Record{Topic: warmupTopic(topic), Value: pool.value(i, w.size)}
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := cl.ProduceSync(wctx, warm...).FirstErr(); err != nil {
		return produceResult{}, fmt.Errorf("warm-up produce: %w", err)
	}

	lat := make([]int64, w.records)
	var (
		acked   atomic.Int64
		nextLat atomic.Int64
		errMu   sync.Mutex
		firstEr error
		failed  atomic.Int64
	)
	sem := make(chan struct{}, window)
	start := time.Now()
	for i := 0; i < w.records; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return produceResult{}, fmt.Errorf("produced %d of %d records: %w", i, w.records, ctx.Err())
		}
		r := &kgo.Record{Value: pool.value(i, w.size)}
		t0 := time.Now()
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			d := time.Since(t0)
			if err != nil {
				if failed.Add(1) == 1 {
					errMu.Lock()
					firstEr = err
					errMu.Unlock()
				}
			} else {
				acked.Add(1)
				lat[nextLat.Add(1)-1] = int64(d)
			}
			<-sem
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return produceResult{}, fmt.Errorf("flush: %w", err)
	}
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		errMu.Lock()
		defer errMu.Unlock()
		return produceResult{}, fmt.Errorf("%d of %d records failed to produce; first error: %w", n, w.records, firstEr)
	}
	got := lat[:nextLat.Load()]
	slices.Sort(got)
	return produceResult{
		records: int(acked.Load()),
		bytes:   int64(acked.Load()) * int64(w.size),
		elapsed: elapsed,
		p50:     time.Duration(percentile(got, 0.50)),
		p99:     time.Duration(percentile(got, 0.99)),
	}, nil
}

func percentile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// consumeResult is what one consumer run measured.
type consumeResult struct {
	records int
	bytes   int64
	elapsed time.Duration
}

// consume reads the topic from the start with one consumer until it has
// want records, checking that each partition's offsets run 0, 1, 2, ...
// with values of the expected size. extra adds client options (TLS).
func consume(ctx context.Context, addr, topic string, partitions, want, size int, extra ...kgo.Opt) (consumeResult, error) {
	next := make([]int64, partitions)
	check := func(p int32, r *kgo.Record) error {
		if int(p) >= partitions || p < 0 {
			return fmt.Errorf("record from unknown partition %d", p)
		}
		if r.Offset != next[p] {
			return fmt.Errorf("partition %d: got offset %d, want %d", p, r.Offset, next[p])
		}
		if len(r.Value) != size {
			return fmt.Errorf("partition %d offset %d: value of %d bytes, want %d", p, r.Offset, len(r.Value), size)
		}
		next[p] = r.Offset + 1
		return nil
	}
	return consumeAll(ctx, append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, extra...), want, check)
}

// consumeAll creates a consumer with opts and polls until it has want
// records, passing each to check; the first error check returns ends the
// run. The clock runs from creating the consumer to the last record.
func consumeAll(ctx context.Context, opts []kgo.Opt, want int, check func(partition int32, r *kgo.Record) error) (consumeResult, error) {
	start := time.Now()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return consumeResult{}, err
	}
	defer cl.Close()
	var got int
	var bytes int64
	for got < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return consumeResult{}, fmt.Errorf("consumed %d of %d records: %w", got, want, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil && !kerr.IsRetriable(err) {
				ferr = fmt.Errorf("fetch %s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			return consumeResult{}, ferr
		}
		var bad error
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				if bad == nil {
					bad = check(p.Partition, r)
				}
				got++
				bytes += int64(len(r.Value))
			}
		})
		if bad != nil {
			return consumeResult{}, bad
		}
	}
	elapsed := time.Since(start)
	if got != want {
		return consumeResult{}, fmt.Errorf("consumed %d records, produced %d", got, want)
	}
	return consumeResult{records: got, bytes: bytes, elapsed: elapsed}, nil
}
