package main

// The latency benchmark (-latency). One producer sends -latency-records
// records of -size-large bytes (1 KiB) at -latency-rate records a second
// (10,000) with acks=all, idempotent, no linger and no compression, to a
// fresh topic of -partitions partitions (6), while one consumer of every
// partition reads them. Each value starts with the time it was produced
// (this process's monotonic clock), so the consumer measures end-to-end
// latency: Produce call to the record in a PollFetches result. The
// producer measures acknowledgement latency: Produce call to promise.
// Each repetition first times -latency-syncs appends of 4 KiB, each
// followed by fdatasync, to a file in the temporary directory: the cost of
// one durable write on this disk, which an acks=all acknowledgement cannot
// beat. The brokers run in turn, as in the other workloads; the report is
// the median over repetitions of each percentile.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/log"
)

// latencyFetchMaxWait is the consumer's fetch.max.wait, as in sluice bench
// e2e: a broker that does not answer a waiting fetch when records arrive
// shows up as tails of up to this much.
const latencyFetchMaxWait = 50 * time.Millisecond

// LatencyRun is one broker on the latency workload in one repetition.
// Latencies are in milliseconds.
type LatencyRun struct {
	Rep      int      `json:"rep"`
	Broker   string   `json:"broker"`
	Records  int      `json:"records"`
	RecSec   float64  `json:"records_per_sec"`
	AckP50   float64  `json:"ack_p50_ms"`
	AckP99   float64  `json:"ack_p99_ms"`
	AckP999  float64  `json:"ack_p99_9_ms"`
	E2EP50   float64  `json:"e2e_p50_ms"`
	E2EP99   float64  `json:"e2e_p99_ms"`
	E2EP999  float64  `json:"e2e_p99_9_ms"`
	E2EMax   float64  `json:"e2e_max_ms"`
	Loadavg  float64  `json:"loadavg"`
	Profiles []string `json:"profiles,omitempty"`
	Err      string   `json:"error,omitempty"`
}

// SyncBaseline is one repetition's 4 KiB append + fdatasync loop.
type SyncBaseline struct {
	Rep   int     `json:"rep"`
	Syncs int     `json:"syncs"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Err   string  `json:"error,omitempty"`
}

// LatencyMedian is the median over repetitions of one broker's figures.
type LatencyMedian struct {
	Broker  string  `json:"broker"`
	OK      int     `json:"ok"`
	Runs    int     `json:"runs"`
	RecSec  float64 `json:"records_per_sec"`
	AckP50  float64 `json:"ack_p50_ms"`
	AckP99  float64 `json:"ack_p99_ms"`
	AckP999 float64 `json:"ack_p99_9_ms"`
	E2EP50  float64 `json:"e2e_p50_ms"`
	E2EP99  float64 `json:"e2e_p99_ms"`
	E2EP999 float64 `json:"e2e_p99_9_ms"`
}

// LatencyResults is everything one -latency run measured.
type LatencyResults struct {
	Config  map[string]any  `json:"config"`
	Syncs   []SyncBaseline  `json:"fdatasync"`
	Runs    []LatencyRun    `json:"runs"`
	Medians []LatencyMedian `json:"medians"`
	// SyncP50 and SyncP99 are the medians of the fdatasync baselines.
	SyncP50 float64 `json:"fdatasync_p50_ms"`
	SyncP99 float64 `json:"fdatasync_p99_ms"`
}

// Failed counts the runs that failed.
func (r *LatencyResults) Failed() int {
	n := 0
	for _, run := range r.Runs {
		if run.Err != "" {
			n++
		}
	}
	return n
}

// RunLatency runs the latency benchmark and prints each run, the medians
// and the JSON line to opts.Out.
func RunLatency(ctx context.Context, opts Options) (*LatencyResults, error) {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Reps <= 0 || opts.Partitions <= 0 || opts.LatencyRecords <= 0 || opts.LatencyRate <= 0 || opts.SizeLarge < 8 {
		return nil, errors.New("latency: reps, partitions, records and rate must be positive and values at least 8 bytes")
	}
	specs, err := brokerSpecs(opts)
	if err != nil {
		return nil, err
	}
	res := &LatencyResults{Config: map[string]any{
		"cpus": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0), "go": runtime.Version(),
		"reps": opts.Reps, "partitions": opts.Partitions, "records": opts.LatencyRecords,
		"rate": opts.LatencyRate, "value_bytes": opts.SizeLarge, "acks": "all", "linger_ms": 0,
		"fetch_max_wait_ms": latencyFetchMaxWait.Milliseconds(), "loadavg_start": loadAvg(),
	}}
	out := opts.Out
	fmt.Fprintf(out, "Sluice latency bench: %d CPUs, GOMAXPROCS %d, %s; load average at start %.2f\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadAvg())
	fmt.Fprintf(out, "%d reps x %d brokers: %d records of %s at %.0f records/s, acks=all, idempotent, no linger, %d partitions; one consumer, fetch max wait %v\n\n",
		opts.Reps, len(specs), opts.LatencyRecords, sizeString(opts.SizeLarge), opts.LatencyRate, opts.Partitions, latencyFetchMaxWait)
	for rep := 1; rep <= opts.Reps; rep++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		sb := syncBaseline(opts, rep)
		res.Syncs = append(res.Syncs, sb)
		if sb.Err != "" {
			fmt.Fprintf(out, "rep %d/%d  fdatasync 4 KiB: FAILED: %s\n", rep, opts.Reps, sb.Err)
		} else {
			fmt.Fprintf(out, "rep %d/%d  4 KiB append + fdatasync x %d: p50 %s p99 %s p99.9 %s\n", rep, opts.Reps, sb.Syncs, msString(sb.P50), msString(sb.P99), msString(sb.P999))
		}
		for j := range specs {
			spec := specs[(j+rep-1)%len(specs)]
			if err := ctx.Err(); err != nil {
				return res, err
			}
			r := latencyOne(ctx, opts, spec, rep)
			res.Runs = append(res.Runs, r)
			fmt.Fprintln(out, latencyLine(r, opts.Reps))
		}
	}
	res.Config["loadavg_end"] = loadAvg()
	fmt.Fprintf(out, "load average at end %.2f\n", loadAvg())
	printLatencySummary(out, res, opts, specs)
	return res, ctx.Err()
}

// syncBaseline times opts.LatencySyncs appends of 4 KiB, each followed by
// fdatasync, to a new file in opts.TmpDir.
func syncBaseline(opts Options, rep int) SyncBaseline {
	sb := SyncBaseline{Rep: rep, Syncs: opts.LatencySyncs}
	d, err := log.DurableAppendCost(opts.TmpDir, opts.LatencySyncs, 4096)
	if err != nil {
		sb.Err = err.Error()
		return sb
	}
	sb.P50, sb.P99, sb.P999 = durationPercentiles(d)
	return sb
}

// durationPercentiles are the p50, p99 and p99.9 of sorted durations, in
// milliseconds.
func durationPercentiles(d []time.Duration) (p50, p99, p999 float64) {
	ns := make([]int64, len(d))
	for i, x := range d {
		ns[i] = int64(x)
	}
	return ms(time.Duration(percentile(ns, 0.5))), ms(time.Duration(percentile(ns, 0.99))), ms(time.Duration(percentile(ns, 0.999)))
}

// latencyOne runs the latency workload on a fresh broker.
func latencyOne(ctx context.Context, opts Options, spec brokerSpec, rep int) (r LatencyRun) {
	r = LatencyRun{Rep: rep, Broker: spec.name, Records: opts.LatencyRecords}
	fail := func(err error) LatencyRun {
		if r.Err == "" && err != nil {
			r.Err = err.Error()
		}
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, opts.RunTimeout)
	defer cancel()
	b, stop, err := freshBroker(ctx, opts, spec)
	if err != nil {
		return fail(err)
	}
	defer func() { fail(stop()) }()
	addr := b.Addr()
	const topic = "bench-latency"
	if err := createTopics(ctx, addr, map[string]int{topic: opts.Partitions}, spec.replicas, spec.topicConfigs, 30*time.Second); err != nil {
		return fail(err)
	}

	stopProfiles, err := latencyProfiles(opts, spec, rep, &r)
	if err != nil {
		return fail(err)
	}
	r.Loadavg = loadAvg()
	lr, err := latencyWorkload(ctx, addr, topic, opts)
	stopProfiles()
	if err != nil {
		return fail(err)
	}
	r.RecSec = lr.recSec
	r.AckP50, r.AckP99, r.AckP999 = lr.ack[0], lr.ack[1], lr.ack[2]
	r.E2EP50, r.E2EP99, r.E2EP999, r.E2EMax = lr.e2e[0], lr.e2e[1], lr.e2e[2], lr.e2e[3]
	return r
}

// latencyProfiles starts a CPU profile and an execution trace of an
// in-process Sluice run if -cpuprofile or -trace ask for them; the
// returned function stops them.
func latencyProfiles(opts Options, spec brokerSpec, rep int, r *LatencyRun) (func(), error) {
	var stops []func()
	stop := func() {
		for _, f := range stops {
			f()
		}
	}
	if spec.name != brokerSluice || !spec.inProcess {
		return stop, nil
	}
	if opts.CPUProfile != "" {
		path := profilePath(opts.CPUProfile, "latency", rep, "e2e")
		f, err := os.Create(path)
		if err != nil {
			return stop, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, err
		}
		r.Profiles = append(r.Profiles, path)
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if opts.Trace != "" {
		path := profilePath(opts.Trace, "latency", rep, "e2e")
		f, err := os.Create(path)
		if err != nil {
			stop()
			return func() {}, err
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			stop()
			return func() {}, err
		}
		r.Profiles = append(r.Profiles, path)
		stops = append(stops, func() { trace.Stop(); f.Close() })
	}
	return stop, nil
}

// latencyResult is what latencyWorkload measured: the achieved rate and
// ack p50, p99, p99.9 and e2e p50, p99, p99.9, max in milliseconds.
type latencyResult struct {
	recSec float64
	ack    [3]float64
	e2e    [4]float64
}

// latencyWorkload produces opts.LatencyRecords stamped records at
// opts.LatencyRate while one consumer reads them.
func latencyWorkload(ctx context.Context, addr, topic string, opts Options) (latencyResult, error) {
	n, size := opts.LatencyRecords, opts.SizeLarge
	prod, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(n+1000),
	)
	if err != nil {
		return latencyResult{}, err
	}
	defer prod.Close()
	parts := map[int32]kgo.Offset{}
	for p := range opts.Partitions {
		parts[int32(p)] = kgo.NewOffset().At(0)
	}
	cons, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(latencyFetchMaxWait),
	)
	if err != nil {
		return latencyResult{}, err
	}
	defer cons.Close()

	// Values are cut from one buffer filled before the clock starts;
	// the first 8 bytes of each are its send time since base. Warm-up
	// records (one per partition, untimed) carry 0.
	base := time.Now()
	vals := make([]byte, (n+opts.Partitions)*size)
	pool := newPayloadPool(size)
	for i := 0; i < n+opts.Partitions; i++ {
		copy(vals[i*size:(i+1)*size], pool.value(i, size))
		binary.BigEndian.PutUint64(vals[i*size:], 0)
	}
	value := func(i int) []byte { return vals[i*size : (i+1)*size : (i+1)*size] }

	var (
		e2e  = make([]int64, 0, n)
		cerr error
		wg   sync.WaitGroup
	)
	warmedUp := make(chan struct{})
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		warm := 0
		for len(e2e) < n {
			fs := cons.PollFetches(cctx)
			now := time.Since(base)
			if cctx.Err() != nil {
				cerr = fmt.Errorf("consumed %d of %d records: %w", len(e2e), n, cctx.Err())
				return
			}
			fs.EachError(func(t string, p int32, err error) {
				if cerr == nil && !kerr.IsRetriable(err) {
					cerr = fmt.Errorf("fetch %s[%d]: %w", t, p, err)
				}
			})
			if cerr != nil {
				return
			}
			fs.EachRecord(func(rec *kgo.Record) {
				sent := int64(binary.BigEndian.Uint64(rec.Value))
				if sent == 0 {
					if warm++; warm == opts.Partitions {
						close(warmedUp)
					}
					return
				}
				e2e = append(e2e, int64(now)-sent)
			})
		}
	}()

	// Warm up: a few records, acknowledged and consumed, so that both
	// clients are connected, the producer has its producer ID and the
	// consumer is fetching before the clock starts.
	for p := range opts.Partitions {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: value(n + p)}).FirstErr(); err != nil {
			ccancel()
			wg.Wait()
			return latencyResult{}, fmt.Errorf("warm-up produce: %w", err)
		}
	}
	select {
	case <-warmedUp:
	case <-time.After(30 * time.Second):
		ccancel()
		wg.Wait()
		return latencyResult{}, fmt.Errorf("warm-up records not consumed within 30s: %v", cerr)
	case <-ctx.Done():
		ccancel()
		wg.Wait()
		return latencyResult{}, ctx.Err()
	}

	ack := make([]int64, n)
	var (
		failed  int
		firstEr error
		mu      sync.Mutex
	)
	interval := time.Duration(float64(time.Second) / opts.LatencyRate)
	start := time.Now()
	for i := range n {
		if next := start.Add(time.Duration(i) * interval); time.Until(next) > 0 {
			time.Sleep(time.Until(next))
		}
		if ctx.Err() != nil {
			break
		}
		v := value(i)
		t0 := time.Since(base)
		binary.BigEndian.PutUint64(v, uint64(t0))
		prod.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			d := time.Since(base) - t0
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if failed++; failed == 1 {
					firstEr = err
				}
				return
			}
			ack[i] = int64(d)
		})
	}
	if err := prod.Flush(ctx); err != nil {
		ccancel()
		wg.Wait()
		return latencyResult{}, fmt.Errorf("flush: %w", err)
	}
	elapsed := time.Since(start)
	if failed > 0 {
		ccancel()
		wg.Wait()
		return latencyResult{}, fmt.Errorf("%d of %d records failed to produce; first error: %w", failed, n, firstEr)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		ccancel()
		<-done
		return latencyResult{}, fmt.Errorf("consumed %d of %d records 30s after the last acknowledgement", len(e2e), n)
	}
	if cerr != nil {
		return latencyResult{}, cerr
	}
	slices.Sort(ack)
	slices.Sort(e2e)
	q := func(xs []int64, p float64) float64 { return ms(time.Duration(percentile(xs, p))) }
	return latencyResult{
		recSec: float64(n) / elapsed.Seconds(),
		ack:    [3]float64{q(ack, 0.5), q(ack, 0.99), q(ack, 0.999)},
		e2e:    [4]float64{q(e2e, 0.5), q(e2e, 0.99), q(e2e, 0.999), q(e2e, 1)},
	}, nil
}

func latencyLine(r LatencyRun, reps int) string {
	head := fmt.Sprintf("rep %d/%d  latency %-15s", r.Rep, reps, r.Broker)
	if r.Err != "" {
		return head + "  FAILED: " + r.Err
	}
	s := fmt.Sprintf("%s  %6s rec/s  ack p50 %7s p99 %7s p99.9 %7s | e2e p50 %7s p99 %7s p99.9 %7s max %7s  (load %.2f)",
		head, rate(r.RecSec), msString(r.AckP50), msString(r.AckP99), msString(r.AckP999),
		msString(r.E2EP50), msString(r.E2EP99), msString(r.E2EP999), msString(r.E2EMax), r.Loadavg)
	for _, p := range r.Profiles {
		s += "\n        profile: " + p
	}
	return s
}

func printLatencySummary(out io.Writer, res *LatencyResults, opts Options, specs []brokerSpec) {
	var s50, s99 []float64
	for _, s := range res.Syncs {
		if s.Err == "" {
			s50, s99 = append(s50, s.P50), append(s99, s.P99)
		}
	}
	res.SyncP50, res.SyncP99 = round3(median(s50)), round3(median(s99))
	res.Medians = nil
	for _, spec := range specs {
		m := LatencyMedian{Broker: spec.name}
		var f [7][]float64
		for _, r := range res.Runs {
			if r.Broker != spec.name {
				continue
			}
			m.Runs++
			if r.Err != "" {
				continue
			}
			m.OK++
			for i, v := range []float64{r.RecSec, r.AckP50, r.AckP99, r.AckP999, r.E2EP50, r.E2EP99, r.E2EP999} {
				f[i] = append(f[i], v)
			}
		}
		if m.OK > 0 {
			m.RecSec, m.AckP50, m.AckP99, m.AckP999 = median(f[0]), median(f[1]), median(f[2]), median(f[3])
			m.E2EP50, m.E2EP99, m.E2EP999 = median(f[4]), median(f[5]), median(f[6])
		}
		res.Medians = append(res.Medians, m)
	}
	fmt.Fprintf(out, "\nMedians over %d reps; 4 KiB append + fdatasync on this disk: p50 %s p99 %s\n", opts.Reps, msString(res.SyncP50), msString(res.SyncP99))
	fmt.Fprintf(out, "%-15s %8s %9s %9s %9s %9s %9s %9s %12s %5s\n", "broker", "rec/s", "ack p50", "ack p99", "ack p99.9", "e2e p50", "e2e p99", "e2e p99.9", "ack p50/sync", "ok")
	for _, m := range res.Medians {
		if m.OK == 0 {
			fmt.Fprintf(out, "%-15s %8s %9s %9s %9s %9s %9s %9s %12s %2d/%d\n", m.Broker, "-", "-", "-", "-", "-", "-", "-", "-", m.OK, m.Runs)
			continue
		}
		fmt.Fprintf(out, "%-15s %8s %9s %9s %9s %9s %9s %9s %11.2fx %2d/%d\n", m.Broker, rate(m.RecSec),
			msString(m.AckP50), msString(m.AckP99), msString(m.AckP999), msString(m.E2EP50), msString(m.E2EP99), msString(m.E2EP999),
			m.AckP50/res.SyncP50, m.OK, m.Runs)
	}
	if n := res.Failed(); n > 0 {
		fmt.Fprintf(out, "\n%d of %d runs FAILED:\n", n, len(res.Runs))
		for _, r := range res.Runs {
			if r.Err != "" {
				fmt.Fprintf(out, "  rep %d %s: %s\n", r.Rep, r.Broker, r.Err)
			}
		}
	}
	if !opts.NoJSON {
		c := *res
		c.Medians = slices.Clone(res.Medians)
		for i := range c.Medians {
			m := &c.Medians[i]
			for _, f := range []*float64{&m.RecSec, &m.AckP50, &m.AckP99, &m.AckP999, &m.E2EP50, &m.E2EP99, &m.E2EP999} {
				*f = round3(*f) // NaN (no successful run) becomes 0
			}
		}
		if b, err := json.Marshal(&c); err == nil {
			fmt.Fprintf(out, "\n%s\n", b)
		}
	}
}
