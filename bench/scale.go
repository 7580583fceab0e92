package main

// The partition-scale benchmark (-scale N,...). For each N and each broker
// it starts one broker in a child process on a fresh data directory, so
// that its RSS, open files and CPU are its own, and then:
//
//  1. creates N partitions: ten topics of N/10 partitions each, plus the
//     topic that is produced to, scale-produce, of 1,000 partitions (when
//     N is at most 1,000, scale-produce alone, with N partitions), and
//     times it until every partition has a leader;
//  2. reads the broker's RSS and open file descriptors from /proc;
//  3. measures its CPU over an idle period, as a share of one core;
//  4. produces -scale-records records (acks=all, idempotent) over
//     scale-produce and reads them back with one consumer of all its
//     partitions;
//  5. kills the broker with SIGKILL, starts it again on the same data
//     directory and address, and times the restart up to the first
//     acknowledged acks=all produce to scale-produce.
//
// The run with N equal to scale-produce's partitions is the baseline: the
// produce rate with only that topic present, against which each larger N
// is read.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	scaleTopic = "scale-produce"
	// scaleKfake is the scale benchmark's kfake: durable (DataDir and
	// SyncWrites), in a child process.
	scaleKfake = "kfake"
)

var scaleBrokerNames = []string{brokerSluice, scaleKfake}

// ScaleResult is one broker with N partitions.
type ScaleResult struct {
	Broker string `json:"broker"`
	N      int    `json:"n"`
	// Partitions counts every partition created, scale-produce's
	// included (the untimed one-partition warm-up topic is not).
	Partitions int     `json:"partitions"`
	CreateSec  float64 `json:"create_sec"`
	RSSMiB     float64 `json:"rss_mib"`
	FDs        int     `json:"fds"`
	IdleCPUPct float64 `json:"idle_cpu_pct"`

	ProduceRecSec float64 `json:"produce_records_per_sec"`
	P50Ms         float64 `json:"produce_p50_ms"`
	P99Ms         float64 `json:"produce_p99_ms"`
	ConsumeRecSec float64 `json:"consume_records_per_sec"`
	// RSSAfterMiB is the RSS once the records are consumed, before the
	// kill.
	RSSAfterMiB float64 `json:"rss_after_consume_mib"`
	// The anonymous part of each RSS (heap, stacks; not mapped files).
	RSSAnonMiB      float64 `json:"rss_anon_mib"`
	RSSAnonAfterMiB float64 `json:"rss_anon_after_consume_mib"`
	// ListenSec runs from starting the killed broker again to its
	// listening line; RestartSec to the first acknowledged produce.
	ListenSec  float64 `json:"restart_listen_sec"`
	RestartSec float64 `json:"restart_first_ack_sec"`
	Err        string  `json:"error,omitempty"`

	idleMeasured bool // IdleCPUPct holds a measurement (0 % is one)
}

// ScaleRatio is Sluice's figure divided by kfake's at one N. For rec/s
// above 1 is better; for the others below 1 is. A ratio is 0 where kfake's
// figure is 0 or either run failed.
type ScaleRatio struct {
	N             int     `json:"n"`
	CreateSec     float64 `json:"create_sec"`
	RSS           float64 `json:"rss"`
	FDs           float64 `json:"fds"`
	IdleCPU       float64 `json:"idle_cpu"`
	ProduceRecSec float64 `json:"produce_records_per_sec"`
	P50           float64 `json:"produce_p50"`
	P99           float64 `json:"produce_p99"`
	ConsumeRecSec float64 `json:"consume_records_per_sec"`
	RestartSec    float64 `json:"restart_first_ack_sec"`
}

// ScaleBaseline is one broker's produce rate at some N as a share of its
// rate at the baseline N (only scale-produce present).
type ScaleBaseline struct {
	Broker string  `json:"broker"`
	N      int     `json:"n"`
	Share  float64 `json:"produce_share_of_baseline"`
}

// ScaleResults is everything one -scale run measured.
type ScaleResults struct {
	Config    map[string]any  `json:"config"`
	Scale     []ScaleResult   `json:"scale"`
	Ratios    []ScaleRatio    `json:"ratios"`
	Baselines []ScaleBaseline `json:"baseline"`
}

// Failed counts the runs that failed.
func (r *ScaleResults) Failed() int {
	n := 0
	for _, s := range r.Scale {
		if s.Err != "" {
			n++
		}
	}
	return n
}

// scaleTopics is what is created for N partitions: scale-produce with
// produceParts partitions (N when N is at most that) and the rest as ten
// topics, the first N%10 of them one partition larger.
// With single, the rest are topics of one partition each (scale-t00000,
// ...).
func scaleTopics(n, produceParts int, single bool) map[string]int {
	if n <= produceParts {
		return map[string]int{scaleTopic: n}
	}
	topics := map[string]int{scaleTopic: produceParts}
	if single {
		for i := range n {
			topics[fmt.Sprintf("scale-t%05d", i)] = 1
		}
		return topics
	}
	for i := range 10 {
		p := n / 10
		if i < n%10 {
			p++
		}
		if p > 0 {
			topics[fmt.Sprintf("scale-%02d", i)] = p
		}
	}
	return topics
}

func scaleLayout(n, produceParts int, single bool) string {
	if n <= produceParts {
		return fmt.Sprintf("%s alone, %d partitions", scaleTopic, n)
	}
	total := 0
	for _, p := range scaleTopics(n, produceParts, single) {
		total += p
	}
	if single {
		return fmt.Sprintf("%d topics x 1 + %s %d = %d partitions", n, scaleTopic, produceParts, total)
	}
	return fmt.Sprintf("10 topics x %d + %s %d = %d partitions", n/10, scaleTopic, produceParts, total)
}

// scaleStarter starts one kind of broker as a child process on dir,
// listening on listen (host:port, port 0 for any).
type scaleStarter func(ctx context.Context, dir, listen string, ready time.Duration) (*childBroker, error)

func scaleStarterFor(opts Options, name string) (scaleStarter, error) {
	switch name {
	case brokerSluice:
		if opts.SluiceBin == "" {
			return nil, errors.New("-scale runs Sluice as a child process: give -sluice-bin (main builds ./cmd/sluice when it is empty)")
		}
		bin, settings := opts.SluiceBin, opts.SluiceSettings
		return func(ctx context.Context, dir, listen string, ready time.Duration) (*childBroker, error) {
			return startSluiceChild(ctx, bin, dir, listen, settings, ready)
		}, nil
	case scaleKfake, brokerKfakeDurable:
		return func(ctx context.Context, dir, listen string, ready time.Duration) (*childBroker, error) {
			_, portStr, err := net.SplitHostPort(listen)
			if err != nil {
				return nil, err
			}
			port, err := strconv.Atoi(portStr)
			if err != nil {
				return nil, fmt.Errorf("listen %q: %w", listen, err)
			}
			return startKfakeChild(ctx, dir, true, port, ready)
		}, nil
	}
	return nil, fmt.Errorf("unknown -scale-brokers entry %q (want %s)", name, strings.Join(scaleBrokerNames, ", "))
}

// RunScale runs the partition-scale benchmark and prints a line per run,
// a table per N, the produce rates against the baseline, and a JSON line
// to opts.Out. A failed run is reported in the results; the error is for
// bad options or cancellation.
func RunScale(ctx context.Context, opts Options) (*ScaleResults, error) {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if len(opts.ScaleN) == 0 || opts.ScaleRecords <= 0 || opts.ScaleSize <= 0 || opts.Window <= 0 ||
		opts.ScaleProducePartitions <= 0 || opts.ScaleIdle < 0 || opts.ScaleStepTimeout <= 0 {
		return nil, errors.New("-scale: want partition counts, and positive records, size, window, produce partitions and step timeout")
	}
	for _, n := range opts.ScaleN {
		if n <= 0 {
			return nil, fmt.Errorf("-scale: partition count %d; want positive", n)
		}
	}
	var names []string
	var starters []scaleStarter
	for _, name := range opts.ScaleBrokers {
		st, err := scaleStarterFor(opts, name)
		if err != nil {
			return nil, err
		}
		if name == brokerKfakeDurable {
			name = scaleKfake
		}
		names, starters = append(names, name), append(starters, st)
	}
	if len(names) == 0 {
		return nil, errors.New("-scale: no brokers selected")
	}

	res := &ScaleResults{Config: map[string]any{
		"mode": "scale", "cpus": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0), "go": runtime.Version(),
		"os": runtime.GOOS, "arch": runtime.GOARCH, "loadavg_start": loadAvg(), "open_file_limit": openFileLimit(),
		"n": opts.ScaleN, "brokers": names, "records": opts.ScaleRecords, "value_bytes": opts.ScaleSize,
		"produce_partitions": opts.ScaleProducePartitions, "window": opts.Window,
		"idle_sec": opts.ScaleIdle.Seconds(), "sluice_settings": opts.SluiceSettings,
		"single_partition_topics": opts.ScaleSingle,
	}}
	out := opts.Out
	fmt.Fprintf(out, "Sluice partition-scale bench: %d CPUs, GOMAXPROCS %d, %s %s/%s; every broker a child process (sluice serve; kfake durable: DataDir + SyncWrites)\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(out, "load average at start %.2f; open-file limit %d\n", loadAvg(), openFileLimit())
	fmt.Fprintf(out, "per run: fresh broker; create; RSS and fds; idle CPU over %v; produce %d x %s acks=all idempotent to %s (window %d); consume them; kill -9; restart to first ack\n",
		opts.ScaleIdle, opts.ScaleRecords, sizeString(opts.ScaleSize), scaleTopic, opts.Window)
	fmt.Fprintln(out)

	pool := newPayloadPool(opts.ScaleSize)
	for _, n := range opts.ScaleN {
		fmt.Fprintf(out, "N=%d: %s\n", n, scaleLayout(n, opts.ScaleProducePartitions, opts.ScaleSingle))
		for i, name := range names {
			if err := ctx.Err(); err != nil {
				printScaleSummary(out, res, opts, names)
				return res, err
			}
			r := scaleOne(ctx, opts, name, starters[i], n, pool)
			res.Scale = append(res.Scale, r)
			fmt.Fprintln(out, scaleLine(r))
		}
	}
	res.Config["loadavg_end"] = loadAvg()
	fmt.Fprintf(out, "load average at end %.2f\n", loadAvg())
	printScaleSummary(out, res, opts, names)
	return res, ctx.Err()
}

// scaleOne measures one broker with n partitions.
func scaleOne(ctx context.Context, opts Options, name string, start scaleStarter, n int, pool payloadPool) (r ScaleResult) {
	r = ScaleResult{Broker: name, N: n}
	topics := scaleTopics(n, opts.ScaleProducePartitions, opts.ScaleSingle)
	for _, p := range topics {
		r.Partitions += p
	}
	produceParts := topics[scaleTopic]
	if opts.RunTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.RunTimeout)
		defer cancel()
	}
	// step runs one step under the step timeout; its error names the step.
	step := func(what string, f func(ctx context.Context) error) error {
		sctx, cancel := context.WithTimeout(ctx, opts.ScaleStepTimeout)
		defer cancel()
		if err := f(sctx); err != nil {
			r.Err = fmt.Sprintf("%s: %v", what, err)
			return err
		}
		return nil
	}

	dir, err := os.MkdirTemp(opts.TmpDir, "sluice-bench-scale-"+name+"-")
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")

	// b is the running broker; the deferred stop covers the one started
	// again after the kill too.
	var b *childBroker
	defer func() {
		if b == nil {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.Stop(sctx); err != nil && r.Err == "" {
			r.Err = fmt.Sprintf("stop: %v", err)
		}
	}()
	if step("start", func(ctx context.Context) error {
		b, err = start(ctx, data, "127.0.0.1:0", opts.ScaleStepTimeout)
		return err
	}) != nil {
		return r
	}

	if step("create", func(ctx context.Context) error {
		t0 := time.Now()
		err := createTopics(ctx, b.Addr(), topics, 1, nil, opts.ScaleStepTimeout)
		r.CreateSec = time.Since(t0).Seconds()
		return err
	}) != nil {
		return r
	}
	r.RSSMiB, r.RSSAnonMiB = mib(processRSS(b.Pid())), mib(processRSSAnon(b.Pid()))
	r.FDs = processFDs(b.Pid())

	if opts.ScaleIdle > 0 {
		if step("idle", func(ctx context.Context) error {
			cpu0, t0 := processCPU(b.Pid()), time.Now()
			select {
			case <-time.After(opts.ScaleIdle):
			case <-ctx.Done():
				return ctx.Err()
			}
			r.IdleCPUPct = 100 * (processCPU(b.Pid()) - cpu0).Seconds() / time.Since(t0).Seconds()
			r.idleMeasured = true
			return nil
		}) != nil {
			return r
		}
	}

	w := workload{name: "scale", records: opts.ScaleRecords, size: opts.ScaleSize, acksAll: true}
	var pr produceResult
	if step("produce", func(ctx context.Context) error {
		// The producer warms up on its own one-partition topic, untimed.
		if err := createTopics(ctx, b.Addr(), map[string]int{warmupTopic(scaleTopic): 1}, 1, nil, opts.ScaleStepTimeout); err != nil {
			return err
		}
		pr, err = produce(ctx, b.Addr(), scaleTopic, w, opts.Window, pool)
		return err
	}) != nil {
		return r
	}
	r.ProduceRecSec = float64(pr.records) / pr.elapsed.Seconds()
	r.P50Ms, r.P99Ms = ms(pr.p50), ms(pr.p99)

	if step("consume", func(ctx context.Context) error {
		cr, err := consume(ctx, b.Addr(), scaleTopic, produceParts, pr.records, w.size)
		if err != nil {
			return err
		}
		r.ConsumeRecSec = float64(cr.records) / cr.elapsed.Seconds()
		return nil
	}) != nil {
		return r
	}
	r.RSSAfterMiB, r.RSSAnonAfterMiB = mib(processRSS(b.Pid())), mib(processRSSAnon(b.Pid()))

	// Crash and restart on the same directory and address, so that the
	// client finds the broker where it was.
	addr := b.Addr()
	b.Kill()
	b = nil
	step("restart", func(ctx context.Context) error {
		t0 := time.Now()
		b, err = start(ctx, data, addr, opts.ScaleStepTimeout)
		if err != nil {
			return err
		}
		r.ListenSec = time.Since(t0).Seconds()
		if err := firstAck(ctx, addr, scaleTopic, int32(produceParts-1), pool.value(0, opts.ScaleSize)); err != nil {
			return err
		}
		r.RestartSec = time.Since(t0).Seconds()
		return nil
	})
	return r
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// firstAckAttempt bounds one produce attempt after a restart; a broker
// still loading its partitions may hold or refuse it.
const firstAckAttempt = 5 * time.Second

// firstAck produces one record to topic's partition with acks=all until
// the broker acknowledges it, each attempt with a new client and a short
// timeout.
func firstAck(ctx context.Context, addr, topic string, partition int32, value []byte) error {
	attempt := func() error {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(addr),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProduceRequestTimeout(firstAckAttempt),
			kgo.RequestTimeoutOverhead(time.Second),
			kgo.DialTimeout(time.Second),
			kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
			kgo.MetadataMinAge(20*time.Millisecond),
		)
		if err != nil {
			return err
		}
		defer cl.Close()
		actx, cancel := context.WithTimeout(ctx, firstAckAttempt)
		defer cancel()
		return cl.ProduceSync(actx, &kgo.Record{Topic: topic, Partition: partition, Value: value}).FirstErr()
	}
	for {
		err := attempt()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no acknowledged produce: %w (last attempt: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func scaleLine(r ScaleResult) string {
	head := fmt.Sprintf("N=%-6d %-7s", r.N, r.Broker)
	s := head
	if r.RSSMiB > 0 {
		s += fmt.Sprintf("  create %6.2fs  rss %7.1f MiB  fds %6d", r.CreateSec, r.RSSMiB, r.FDs)
	}
	if r.idleMeasured {
		s += fmt.Sprintf("  idle cpu %5.1f%%", r.IdleCPUPct)
	}
	if r.ProduceRecSec > 0 {
		s += fmt.Sprintf("  produce %6s rec/s p50 %7s p99 %7s", rate(r.ProduceRecSec), msString(r.P50Ms), msString(r.P99Ms))
	}
	if r.ConsumeRecSec > 0 {
		s += fmt.Sprintf("  consume %6s rec/s  rss %7.1f MiB", rate(r.ConsumeRecSec), r.RSSAfterMiB)
	}
	if r.RestartSec > 0 {
		s += fmt.Sprintf("  restart: listen %.2fs first ack %.2fs", r.ListenSec, r.RestartSec)
	}
	if r.Err != "" {
		s += "  FAILED: " + r.Err
	}
	return s
}

func computeScaleSummary(res *ScaleResults, opts Options, names []string) {
	find := func(broker string, n int) (ScaleResult, bool) { return findScale(res, broker, n) }
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return round3(a / b)
	}
	res.Ratios, res.Baselines = nil, nil
	for _, n := range opts.ScaleN {
		s, ok1 := find(brokerSluice, n)
		k, ok2 := find(scaleKfake, n)
		if ok1 && ok2 {
			res.Ratios = append(res.Ratios, ScaleRatio{
				N: n, CreateSec: div(s.CreateSec, k.CreateSec), RSS: div(s.RSSMiB, k.RSSMiB),
				FDs: div(float64(s.FDs), float64(k.FDs)), IdleCPU: div(s.IdleCPUPct, k.IdleCPUPct),
				ProduceRecSec: div(s.ProduceRecSec, k.ProduceRecSec), P50: div(s.P50Ms, k.P50Ms), P99: div(s.P99Ms, k.P99Ms),
				ConsumeRecSec: div(s.ConsumeRecSec, k.ConsumeRecSec), RestartSec: div(s.RestartSec, k.RestartSec),
			})
		}
	}
	for _, name := range names {
		base, ok := find(name, opts.ScaleProducePartitions)
		if !ok {
			continue
		}
		for _, n := range opts.ScaleN {
			if r, ok := find(name, n); ok {
				res.Baselines = append(res.Baselines, ScaleBaseline{Broker: name, N: n, Share: div(r.ProduceRecSec, base.ProduceRecSec)})
			}
		}
	}
}

func printScaleSummary(out io.Writer, res *ScaleResults, opts Options, names []string) {
	computeScaleSummary(res, opts, names)
	ratio := func(v float64) string {
		if v == 0 || math.IsNaN(v) {
			return "-"
		}
		return fmt.Sprintf("%.2fx", v)
	}
	for _, n := range opts.ScaleN {
		var rows []ScaleResult
		for _, r := range res.Scale {
			if r.N == n {
				rows = append(rows, r)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(out, "\nN=%d (%s)\n", n, scaleLayout(n, opts.ScaleProducePartitions, opts.ScaleSingle))
		fmt.Fprintf(out, "%-13s %8s %8s %7s %8s %10s %8s %8s %10s %10s\n",
			"broker", "create s", "RSS MiB", "fds", "idle CPU", "prod rec/s", "p50", "p99", "cons rec/s", "restart s")
		// A failed run shows what it measured before the failure, "-"
		// for the rest.
		cell := func(v float64, f func(float64) string) string {
			if v <= 0 {
				return "-"
			}
			return f(v)
		}
		secs := func(v float64) string { return fmt.Sprintf("%.2f", v) }
		mibs := func(v float64) string { return fmt.Sprintf("%.1f", v) }
		for _, r := range rows {
			idle := "-"
			if r.idleMeasured {
				idle = fmt.Sprintf("%.1f%%", r.IdleCPUPct)
			}
			fds := "-"
			if r.FDs > 0 {
				fds = strconv.Itoa(r.FDs)
			}
			fmt.Fprintf(out, "%-13s %8s %8s %7s %8s %10s %8s %8s %10s %10s\n",
				r.Broker, cell(r.CreateSec, secs), cell(r.RSSMiB, mibs), fds, idle, cell(r.ProduceRecSec, rate),
				cell(r.P50Ms, msString), cell(r.P99Ms, msString), cell(r.ConsumeRecSec, rate), cell(r.RestartSec, secs))
			if r.Err != "" {
				fmt.Fprintf(out, "%-13s FAILED: %s\n", "", r.Err)
			}
		}
		for _, q := range res.Ratios {
			if q.N == n {
				fmt.Fprintf(out, "%-13s %8s %8s %7s %8s %10s %8s %8s %10s %10s\n", "sluice/kfake",
					ratio(q.CreateSec), ratio(q.RSS), ratio(q.FDs), ratio(q.IdleCPU), ratio(q.ProduceRecSec),
					ratio(q.P50), ratio(q.P99), ratio(q.ConsumeRecSec), ratio(q.RestartSec))
			}
		}
	}
	if len(res.Baselines) > 0 {
		fmt.Fprintf(out, "\nProduce to %s with N partitions present, against the baseline (N=%d: only %s)\n",
			scaleTopic, opts.ScaleProducePartitions, scaleTopic)
		for _, name := range names {
			var cells []string
			for _, b := range res.Baselines {
				if b.Broker != name {
					continue
				}
				r, _ := findScale(res, name, b.N)
				if b.N == opts.ScaleProducePartitions {
					cells = append(cells, fmt.Sprintf("baseline %s rec/s", rate(r.ProduceRecSec)))
				} else {
					cells = append(cells, fmt.Sprintf("N=%d %s rec/s (%.0f%%)", b.N, rate(r.ProduceRecSec), 100*b.Share))
				}
			}
			fmt.Fprintf(out, "%-13s %s\n", name, strings.Join(cells, "  "))
		}
	} else if !slices.Contains(opts.ScaleN, opts.ScaleProducePartitions) {
		fmt.Fprintf(out, "\n(no baseline: add N=%d to -scale to compare produce rates with only %s present)\n", opts.ScaleProducePartitions, scaleTopic)
	}
	if n := res.Failed(); n > 0 {
		fmt.Fprintf(out, "\n%d of %d runs FAILED\n", n, len(res.Scale))
	}
	if !opts.NoJSON {
		if b, err := json.Marshal(res); err == nil {
			fmt.Fprintf(out, "\n%s\n", b)
		}
	}
}

func findScale(res *ScaleResults, broker string, n int) (ScaleResult, bool) {
	for _, r := range res.Scale {
		if r.Broker == broker && r.N == n && r.Err == "" {
			return r, true
		}
	}
	return ScaleResult{}, false
}
