package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/log"
)

// benchOptions are the flags shared by the bench subcommands.
type benchOptions struct {
	topic       string
	partitions  int32
	records     int64
	recordSize  int
	acks        string
	compression string
	duration    time.Duration
	rate        float64
	linger      time.Duration
	group       string
	syncDir     string
}

// benchResult is the final JSON line. MB is 2^20 bytes, as in Kafka's
// perf-test tools; latencies are in milliseconds.
type benchResult struct {
	Mode          string   `json:"mode"`
	Topic         string   `json:"topic"`
	Records       int64    `json:"records"`
	Bytes         int64    `json:"bytes"`
	Seconds       float64  `json:"seconds"`
	RecordsPerSec float64  `json:"records_per_sec"`
	MBPerSec      float64  `json:"mb_per_sec"`
	P50ms         *float64 `json:"p50_ms,omitempty"`
	P95ms         *float64 `json:"p95_ms,omitempty"`
	P99ms         *float64 `json:"p99_ms,omitempty"`
	P999ms        *float64 `json:"p99_9_ms,omitempty"`
	MaxMs         *float64 `json:"max_ms,omitempty"`
	// For e2e, the percentiles above are end to end (produce call to the
	// consumer's receipt) and these are the producer's acknowledgements
	// (produce call to promise) of the same records.
	AckP50ms  *float64 `json:"ack_p50_ms,omitempty"`
	AckP99ms  *float64 `json:"ack_p99_ms,omitempty"`
	AckP999ms *float64 `json:"ack_p99_9_ms,omitempty"`
	AckMaxMs  *float64 `json:"ack_max_ms,omitempty"`
	// With --fdatasync-dir (e2e): one 4 KiB append + fdatasync there, and
	// the acknowledgement median in those.
	FdatasyncP50ms     *float64 `json:"fdatasync_p50_ms,omitempty"`
	FdatasyncP99ms     *float64 `json:"fdatasync_p99_ms,omitempty"`
	AckP50PerFdatasync *float64 `json:"ack_p50_per_fdatasync,omitempty"`
}

const mb = 1 << 20

func newBenchCommand(o *clientOptions) *cobra.Command {
	b := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure produce, consume and end-to-end throughput and latency",
		Long: `Bench drives a cluster like Kafka's perf-test tools. It shows a live progress
line when stderr is a terminal and always ends with one JSON line on stdout:
records, bytes, seconds, records_per_sec, mb_per_sec (MB = 2^20 bytes) and,
for produce and e2e, latency percentiles p50_ms, p95_ms, p99_ms, p99_9_ms and
max_ms: for produce from the produce call to its acknowledgement, for e2e
from the produce call to the consumer receiving the record. e2e also reports
the acknowledgements of the same records as ack_p50_ms, ack_p99_ms,
ack_p99_9_ms and ack_max_ms. With --fdatasync-dir, e2e first times 2,000
appends of 4 KiB, each followed by fdatasync, in that directory (the broker's
log directory, when it runs on this machine): fdatasync_p50_ms and
fdatasync_p99_ms are the cost of one durable write there, which no acks=all
answer can beat, and ack_p50_per_fdatasync the acknowledgement median in
those.`,
		Example: `  sluice bench produce --records 1000000 --record-size 100 --acks all
  sluice bench consume --records 1000000
  sluice bench e2e --records 100000 --rate 10000 --compression zstd`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&b.topic, "topic", "sluice-bench", "topic to use; created if missing")
	pf.Int32Var(&b.partitions, "partitions", 6, "partitions when creating the topic")
	pf.Int64Var(&b.records, "records", 100000, "records to produce or consume (consume defaults to every record in the topic)")
	pf.IntVar(&b.recordSize, "record-size", 100, "record value size in bytes")
	pf.StringVar(&b.acks, "acks", "all", "producer acks: all, 1 or 0")
	pf.StringVar(&b.compression, "compression", "none", "producer compression: none, gzip, snappy, lz4 or zstd")
	pf.DurationVar(&b.duration, "duration", 0, "stop after this long (with --records unset, run for exactly this long)")
	pf.Float64Var(&b.rate, "rate", 0, "limit produce to this many records per second (0: unlimited)")
	pf.DurationVar(&b.linger, "linger", 0, "producer linger: how long a batch waits for more records (0: send at once, batching only what arrives while a request is in flight)")
	cmd.AddCommand(
		&cobra.Command{
			Use:     "produce",
			Short:   "Produce records as fast as possible (or at --rate) and report throughput and latency",
			Example: `  sluice bench produce --topic perf --records 500000 --record-size 512 --acks 1`,
			Args:    usage(cobra.NoArgs),
			RunE:    func(cmd *cobra.Command, _ []string) error { return b.run(cmd, o, "produce") },
		},
		func() *cobra.Command {
			c := &cobra.Command{
				Use:     "consume",
				Short:   "Consume records from the start of the topic and report throughput",
				Example: `  sluice bench consume --topic perf --records 500000 --group perf-readers`,
				Args:    usage(cobra.NoArgs),
				RunE:    func(cmd *cobra.Command, _ []string) error { return b.run(cmd, o, "consume") },
			}
			c.Flags().StringVar(&b.group, "group", "", "consume in this consumer group (committed offsets win over the start)")
			return c
		}(),
		func() *cobra.Command {
			c := &cobra.Command{
				Use:   "e2e",
				Short: "Produce timestamped records while consuming them and report end-to-end latency",
				Example: `  sluice bench e2e --topic perf --records 50000 --rate 5000
  sluice bench e2e --records 50000 --rate 10000 --record-size 1024 --fdatasync-dir /var/lib/sluice`,
				Args: usage(cobra.NoArgs),
				RunE: func(cmd *cobra.Command, _ []string) error { return b.run(cmd, o, "e2e") },
			}
			c.Flags().StringVar(&b.syncDir, "fdatasync-dir", "", "first time 4 KiB appends + fdatasync in this directory, the floor of an acks=all answer")
			return c
		}(),
	)
	return cmd
}

func (b *benchOptions) producerOpts(o *clientOptions) ([]kgo.Opt, error) {
	opts, err := producerOpts(b.acks, b.compression)
	if err != nil {
		return nil, err
	}
	return append(opts, kgo.DefaultProduceTopic(b.topic), kgo.RecordDeliveryTimeout(o.timeout), kgo.ProducerLinger(b.linger)), nil
}

func (b *benchOptions) run(cmd *cobra.Command, o *clientOptions, mode string) error {
	recordsSet := cmd.Flags().Changed("records")
	if b.records <= 0 && (recordsSet || b.duration <= 0) {
		return usageError{errors.New("--records must be positive")}
	}
	if b.recordSize < 0 || (mode == "e2e" && b.recordSize < 8) {
		return usageError{errors.New("--record-size must be at least 8 for e2e (the send time is embedded) and not negative")}
	}
	if b.rate < 0 || b.duration < 0 {
		return usageError{errors.New("--rate and --duration must not be negative")}
	}
	limit := b.records
	if b.duration > 0 && !recordsSet {
		limit = -1 // until --duration
	}
	ctx := cmd.Context()
	adm, actx, done, err := o.admin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if mode != "consume" {
		if err := b.ensureTopic(actx, adm, o); err != nil {
			return err
		}
	}
	var res benchResult
	switch mode {
	case "produce":
		res, err = b.produce(ctx, o, limit)
	case "consume":
		var endAt map[int32]int64
		if !recordsSet {
			if b.duration > 0 {
				limit = -1
			} else {
				ends, err := adm.ListEndOffsets(actx, b.topic)
				if err == nil {
					err = ends.Error()
				}
				starts, err2 := adm.ListStartOffsets(actx, b.topic)
				if err == nil && err2 == nil {
					err = starts.Error()
				} else if err == nil {
					err = err2
				}
				if err != nil {
					return o.fail("list offsets of "+b.topic, err)
				}
				// The run ends when every partition is read to its end
				// offset: transaction markers take offsets but are not
				// records, so counting offsets would never finish.
				var total int64
				endAt = map[int32]int64{}
				ends.Each(func(e kadm.ListedOffset) {
					if s, ok := starts.Lookup(e.Topic, e.Partition); ok {
						total += e.Offset - s.Offset
						if e.Offset > s.Offset {
							endAt[e.Partition] = e.Offset
						}
					}
				})
				if total == 0 {
					return fmt.Errorf("topic %s is empty: nothing to consume (produce some with sluice bench produce)", b.topic)
				}
				limit = -1
			}
		}
		res, err = b.consume(ctx, o, limit, endAt)
	case "e2e":
		var syncs []time.Duration
		if b.syncDir != "" {
			if syncs, err = log.DurableAppendCost(b.syncDir, fdatasyncProbes, 4096); err != nil {
				return fmt.Errorf("--fdatasync-dir: %w", err)
			}
		}
		ends, lerr := adm.ListEndOffsets(actx, b.topic)
		if lerr == nil {
			lerr = ends.Error()
		}
		if lerr != nil {
			return o.fail("list end offsets of "+b.topic, lerr)
		}
		res, err = b.e2e(ctx, o, limit, ends)
		if err == nil && len(syncs) > 0 {
			fillFdatasync(&res, syncs)
		}
	}
	var ue usageError
	if errors.As(err, &ue) {
		return err
	}
	if err != nil {
		return o.fail("bench "+mode, err)
	}
	res.Mode, res.Topic = mode, b.topic
	return printJSON(cmd.OutOrStdout(), res)
}

// fdatasyncProbes is how many appends --fdatasync-dir times.
const fdatasyncProbes = 2000

// fillFdatasync sets the result's fdatasync figures from sorted durations.
func fillFdatasync(r *benchResult, syncs []time.Duration) {
	l := &latencies{d: syncs}
	r.FdatasyncP50ms, r.FdatasyncP99ms = l.at(0.50), l.at(0.99)
	if r.AckP50ms != nil && *r.FdatasyncP50ms > 0 {
		ratio := math.Round(*r.AckP50ms / *r.FdatasyncP50ms * 100) / 100
		r.AckP50PerFdatasync = &ratio
	}
}

func (b *benchOptions) ensureTopic(ctx context.Context, adm *kadm.Client, o *clientOptions) error {
	_, err := createTopic(ctx, adm, b.partitions, -1, nil, b.topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return o.fail("create topic "+b.topic, err)
	}
	return nil
}

// progress prints a live line to stderr once a second while it runs, but
// only when stderr is a terminal.
type progress struct {
	records, bytes atomic.Int64
	start          time.Time
	stop, done     chan struct{}
}

func startProgress(what string) *progress {
	p := &progress{start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	fi, err := os.Stderr.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprintln(os.Stderr)
				return
			case <-t.C:
				secs := time.Since(p.start).Seconds()
				n, by := p.records.Load(), p.bytes.Load()
				fmt.Fprintf(os.Stderr, "\r%s: %d records, %.0f records/s, %.2f MB/s   ", what, n, float64(n)/secs, float64(by)/mb/secs)
			}
		}
	}()
	return p
}

func (p *progress) end() {
	close(p.stop)
	<-p.done
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// fill sets the result's percentiles.
func (l *latencies) fill(r *benchResult) {
	r.P50ms, r.P95ms, r.P99ms, r.P999ms, r.MaxMs = l.at(0.50), l.at(0.95), l.at(0.99), l.at(0.999), l.at(1)
}

// fillAck sets the result's acknowledgement percentiles.
func (l *latencies) fillAck(r *benchResult) {
	r.AckP50ms, r.AckP99ms, r.AckP999ms, r.AckMaxMs = l.at(0.50), l.at(0.99), l.at(0.999), l.at(1)
}

// at is the q quantile in milliseconds (nearest rank), nil with no
// samples.
func (l *latencies) at(q float64) *float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return nil
	}
	if !slices.IsSorted(l.d) {
		slices.Sort(l.d)
	}
	i := int(q*float64(len(l.d))+0.999999) - 1
	i = max(0, min(i, len(l.d)-1))
	v := float64(l.d[i].Microseconds()) / 1000
	return &v
}

func finish(r *benchResult, records, bytes int64, elapsed time.Duration) {
	r.Records, r.Bytes = records, bytes
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.RecordsPerSec = float64(records) / r.Seconds
		r.MBPerSec = float64(bytes) / mb / r.Seconds
	}
}

// produceLoop produces until limit records (or --duration, or ctx) and
// flushes; it returns how many records and bytes were acknowledged, the
// first failure and how many failed.
func (b *benchOptions) produceLoop(ctx context.Context, cl *kgo.Client, limit int64, p *progress, lat *latencies, stamp bool) (failed int64, firstErr error) {
	payload := make([]byte, b.recordSize)
	for i := range payload {
		payload[i] = byte('a' + rand.IntN(26))
	}
	var deadline time.Time
	if b.duration > 0 {
		deadline = p.start.Add(b.duration)
	}
	var errOnce sync.Once
	var nfailed atomic.Int64
	var interval time.Duration
	if b.rate > 0 {
		interval = time.Duration(float64(time.Second) / b.rate)
	}
	for i := int64(0); limit < 0 || i < limit; i++ {
		if ctx.Err() != nil {
			break
		}
		now := time.Now()
		if !deadline.IsZero() && !now.Before(deadline) {
			break
		}
		if interval > 0 {
			next := p.start.Add(time.Duration(i) * interval)
			if !deadline.IsZero() && !next.Before(deadline) {
				break // --duration 2s at --rate 500 is 1000 records
			}
			if now.Before(next) {
				time.Sleep(next.Sub(now))
			}
		}
		value := payload
		if stamp {
			value = slices.Clone(payload)
			binary.BigEndian.PutUint64(value, uint64(time.Now().UnixNano()))
		}
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
			if err != nil {
				nfailed.Add(1)
				errOnce.Do(func() { firstErr = err })
				return
			}
			if lat != nil {
				lat.add(time.Since(sent))
			}
			p.records.Add(1)
			p.bytes.Add(int64(len(r.Value)))
		})
	}
	if err := cl.Flush(context.WithoutCancel(ctx)); err != nil && firstErr == nil {
		firstErr = err
	}
	return nfailed.Load(), firstErr
}

func (b *benchOptions) produce(ctx context.Context, o *clientOptions, limit int64) (benchResult, error) {
	opts, err := b.producerOpts(o)
	if err != nil {
		return benchResult{}, err
	}
	cl, err := o.client(opts...)
	if err != nil {
		return benchResult{}, err
	}
	defer cl.Close()
	lat := &latencies{}
	p := startProgress("produce")
	failed, ferr := b.produceLoop(ctx, cl, limit, p, lat, false)
	elapsed := time.Since(p.start)
	p.end()
	if failed > 0 || ferr != nil {
		return benchResult{}, fmt.Errorf("%s failed, %d produced: %w", plural(int(failed), "record"), p.records.Load(), ferr)
	}
	var r benchResult
	finish(&r, p.records.Load(), p.bytes.Load(), elapsed)
	lat.fill(&r)
	return r, nil
}

// pollUntil polls cl until want reports it has enough, giving up when no
// record arrives for --timeout.
func (b *benchOptions) pollUntil(ctx context.Context, o *clientOptions, cl *kgo.Client, p *progress, enough func() bool, each func(*kgo.Record)) error {
	lastProgress := time.Now()
	for !enough() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		var ferr error
		fs.EachError(func(t string, part int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && ferr == nil {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, part, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			each(r)
		})
		if n > 0 {
			lastProgress = time.Now()
		} else if time.Since(lastProgress) > o.timeout {
			return fmt.Errorf("no records for %s after %d", o.timeout, p.records.Load())
		}
	}
	return nil
}

// consume reads until limit records (limit >= 0), until --duration, or,
// with endAt set, until every partition in it is read to its end offset.
func (b *benchOptions) consume(ctx context.Context, o *clientOptions, limit int64, endAt map[int32]int64) (benchResult, error) {
	opts := []kgo.Opt{kgo.ConsumeTopics(b.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond)}
	if endAt != nil {
		opts = append(opts, kgo.KeepControlRecords())
	}
	if b.group != "" {
		opts = append(opts, kgo.ConsumerGroup(b.group))
	}
	cl, err := o.client(opts...)
	if err != nil {
		return benchResult{}, err
	}
	defer cl.Close()
	p := startProgress("consume")
	var deadline time.Time
	if b.duration > 0 {
		deadline = p.start.Add(b.duration)
	}
	var n, by int64
	var last time.Time
	reached := func() bool {
		if endAt == nil {
			return false
		}
		for _, end := range endAt {
			if end > 0 {
				return false
			}
		}
		return true
	}
	err = b.pollUntil(ctx, o, cl, p, func() bool {
		return (limit >= 0 && n >= limit) || (!deadline.IsZero() && time.Now().After(deadline)) || reached()
	}, func(r *kgo.Record) {
		if endAt != nil {
			if end, ok := endAt[r.Partition]; ok && r.Offset+1 >= end {
				endAt[r.Partition] = 0
			}
		}
		if r.Attrs.IsControl() {
			return
		}
		if limit >= 0 && n >= limit {
			return
		}
		n++
		by += int64(len(r.Value))
		p.records.Store(n)
		p.bytes.Store(by)
		last = time.Now()
	})
	p.end()
	if err != nil {
		return benchResult{}, fmt.Errorf("consume %s: %w", b.topic, err)
	}
	if b.group != "" {
		cctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		if err := cl.CommitUncommittedOffsets(cctx); err != nil {
			return benchResult{}, o.fail("commit offsets for group "+b.group, err)
		}
	}
	if last.IsZero() {
		last = time.Now()
	}
	var r benchResult
	finish(&r, n, by, last.Sub(p.start))
	return r, nil
}

func (b *benchOptions) e2e(ctx context.Context, o *clientOptions, limit int64, ends kadm.ListedOffsets) (benchResult, error) {
	popts, err := b.producerOpts(o)
	if err != nil {
		return benchResult{}, err
	}
	prod, err := o.client(popts...)
	if err != nil {
		return benchResult{}, err
	}
	defer prod.Close()
	from := map[string]map[int32]kgo.Offset{b.topic: {}}
	ends.Each(func(e kadm.ListedOffset) { from[b.topic][e.Partition] = kgo.NewOffset().At(e.Offset) })
	cons, err := o.client(kgo.ConsumePartitions(from), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return benchResult{}, err
	}
	defer cons.Close()

	lat, ackLat := &latencies{}, &latencies{}
	p := startProgress("e2e")
	sent := &progress{start: p.start}
	var (
		target   atomic.Int64 // produced total, once known
		consumed int64
		by       int64
		cerr     error
		wg       sync.WaitGroup
	)
	target.Store(-1)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		cerr = b.pollUntil(cctx, o, cons, p, func() bool {
			t := target.Load()
			return t >= 0 && consumed >= t
		}, func(r *kgo.Record) {
			if len(r.Value) >= 8 {
				ns := int64(binary.BigEndian.Uint64(r.Value))
				lat.add(time.Duration(time.Now().UnixNano() - ns))
			}
			consumed++
			by += int64(len(r.Value))
			p.records.Store(consumed)
			p.bytes.Store(by)
		})
	}()
	failed, ferr := b.produceLoop(ctx, prod, limit, sent, ackLat, true)
	target.Store(sent.records.Load())
	if failed > 0 || ferr != nil {
		cancel()
		wg.Wait()
		p.end()
		return benchResult{}, fmt.Errorf("%s failed, %d produced: %w", plural(int(failed), "record"), sent.records.Load(), ferr)
	}
	wg.Wait()
	elapsed := time.Since(p.start)
	p.end()
	if cerr != nil {
		return benchResult{}, fmt.Errorf("consume %s: %w", b.topic, cerr)
	}
	var r benchResult
	finish(&r, consumed, by, elapsed)
	lat.fill(&r)
	ackLat.fillAck(&r)
	return r, nil
}
