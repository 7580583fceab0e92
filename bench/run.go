package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// RunResult is one broker on one workload in one repetition.
type RunResult struct {
	Rep           int     `json:"rep"`
	Workload      string  `json:"workload"`
	Broker        string  `json:"broker"`
	Records       int     `json:"records"`
	ValueBytes    int     `json:"value_bytes"`
	ProduceRecSec float64 `json:"produce_records_per_sec"`
	ProduceMBSec  float64 `json:"produce_mb_per_sec"`
	// P50Ms and P99Ms are per-record latencies (Produce to promise), or
	// for the txn workload per-transaction EndTransaction latencies.
	P50Ms float64 `json:"produce_p50_ms"`
	P99Ms float64 `json:"produce_p99_ms"`
	// TxnP50Ms and TxnP99Ms are whole-transaction latencies
	// (BeginTransaction to the commit's answer), txn workload only.
	TxnP50Ms      float64  `json:"txn_p50_ms,omitempty"`
	TxnP99Ms      float64  `json:"txn_p99_ms,omitempty"`
	ConsumeRecSec float64  `json:"consume_records_per_sec"`
	ConsumeMBSec  float64  `json:"consume_mb_per_sec"`
	ProduceCPUus  float64  `json:"produce_cpu_us_per_record"`
	ConsumeCPUus  float64  `json:"consume_cpu_us_per_record"`
	Profiles      []string `json:"cpu_profiles,omitempty"`
	Err           string   `json:"error,omitempty"`
}

// Median is the median over the successful repetitions of one broker on
// one workload.
type Median struct {
	Workload      string  `json:"workload"`
	Broker        string  `json:"broker"`
	Runs          int     `json:"runs"`
	OK            int     `json:"ok"`
	ProduceRecSec float64 `json:"produce_records_per_sec"`
	ProduceMBSec  float64 `json:"produce_mb_per_sec"`
	P50Ms         float64 `json:"produce_p50_ms"`
	P99Ms         float64 `json:"produce_p99_ms"`
	TxnP50Ms      float64 `json:"txn_p50_ms,omitempty"`
	TxnP99Ms      float64 `json:"txn_p99_ms,omitempty"`
	ConsumeRecSec float64 `json:"consume_records_per_sec"`
	ConsumeMBSec  float64 `json:"consume_mb_per_sec"`
	ProduceCPUus  float64 `json:"produce_cpu_us_per_record"`
	ConsumeCPUus  float64 `json:"consume_cpu_us_per_record"`
}

// Ratio is Sluice's median divided by a peer's. Above 1 means Sluice is
// faster for records/s, and slower for latency.
type Ratio struct {
	Workload      string  `json:"workload"`
	Peer          string  `json:"peer"`
	ProduceRecSec float64 `json:"produce_records_per_sec"`
	ConsumeRecSec float64 `json:"consume_records_per_sec"`
	P50           float64 `json:"produce_p50"`
	P99           float64 `json:"produce_p99"`
	TxnP50        float64 `json:"txn_p50,omitempty"`
	TxnP99        float64 `json:"txn_p99,omitempty"`
	ProduceCPU    float64 `json:"produce_cpu_per_record"`
	ConsumeCPU    float64 `json:"consume_cpu_per_record"`
}

// Results is everything one bench run measured.
type Results struct {
	Config  map[string]any `json:"config"`
	Runs    []RunResult    `json:"runs"`
	Medians []Median       `json:"medians"`
	Ratios  []Ratio        `json:"ratios"`
}

// Failed counts the runs that failed.
func (r *Results) Failed() int {
	n := 0
	for _, run := range r.Runs {
		if run.Err != "" {
			n++
		}
	}
	return n
}

// Run runs the benchmark and prints progress, the table and the JSON line
// to opts.Out. A failed run is reported in the results, not as an error;
// the error is for a bad configuration or cancellation.
func Run(ctx context.Context, opts Options) (*Results, error) {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Reps <= 0 || opts.Window <= 0 || opts.Partitions <= 0 {
		return nil, errors.New("reps, window and partitions must be positive")
	}
	specs, err := brokerSpecs(opts)
	if err != nil {
		return nil, err
	}
	wls, err := workloads(opts)
	if err != nil {
		return nil, err
	}
	maxSize := 0
	for _, w := range wls {
		maxSize = max(maxSize, w.size)
	}
	pool := newPayloadPool(maxSize)

	res := &Results{Config: configOf(opts, specs, wls)}
	out := opts.Out
	fmt.Fprintf(out, "Sluice bench: %d CPUs, GOMAXPROCS %d, %s %s/%s; sluice %s; kfake %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH,
		res.Config["sluice_mode"], res.Config["kfake_mode"])
	fmt.Fprintf(out, "load average at start %.2f (other work on the machine skews wall-clock figures; cpu/record is steadier)\n", loadAvg())
	fmt.Fprintf(out, "%d reps x %d brokers x %d workloads; %d partitions, produce window %d records, no compression; fresh broker and topic per run\n",
		opts.Reps, len(specs), len(wls), opts.Partitions, opts.Window)
	for _, w := range wls {
		fmt.Fprintf(out, "  %-6s %d records of %s, %s\n", w.name, w.records, sizeString(w.size), w.acks())
	}
	fmt.Fprintln(out)

	for rep := 1; rep <= opts.Reps; rep++ {
		for _, w := range wls {
			// Rotate the order each repetition so no broker always
			// runs first (cold caches) or last (a tired machine).
			for j := range specs {
				spec := specs[(j+rep-1)%len(specs)]
				if err := ctx.Err(); err != nil {
					printSummary(out, res, opts, specs, wls)
					return res, err
				}
				r := runOne(ctx, opts, spec, w, rep, pool)
				res.Runs = append(res.Runs, r)
				fmt.Fprintln(out, runLine(r, opts.Reps))
			}
		}
	}
	res.Config["loadavg_end"] = loadAvg()
	fmt.Fprintf(out, "load average at end %.2f\n", loadAvg())
	printSummary(out, res, opts, specs, wls)
	return res, ctx.Err()
}

func configOf(opts Options, specs []brokerSpec, wls []workload) map[string]any {
	sluiceMode, kfakeMode := "in-process", "in-process"
	if opts.SluiceBin != "" {
		sluiceMode = "subprocess"
	}
	if opts.KfakeSubprocess {
		kfakeMode = "subprocess"
	}
	var brokers, wnames []string
	for _, s := range specs {
		brokers = append(brokers, s.name)
	}
	wl := map[string]any{}
	for _, w := range wls {
		wnames = append(wnames, w.name)
		c := map[string]any{"records": w.records, "value_bytes": w.size, "acks_all": w.acksAll, "idempotent": w.acksAll && !w.noIdempotence, "latency": "record"}
		if w.txn {
			c["txn_size"], c["txn_producers"], c["latency"] = w.txnSize, w.txnProducers, "commit"
		}
		wl[w.name] = c
	}
	return map[string]any{
		"cpus": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0), "go": runtime.Version(),
		"os": runtime.GOOS, "arch": runtime.GOARCH,
		"reps": opts.Reps, "partitions": opts.Partitions, "window": opts.Window,
		"brokers": brokers, "workloads": wl, "workload_order": wnames,
		"loadavg_start": loadAvg(),
		"sluice_mode":   sluiceMode, "kfake_mode": kfakeMode, "sluice_settings": opts.SluiceSettings,
	}
}

// freshBroker starts spec on a new temporary directory, from a clean heap:
// the previous broker's garbage (an in-memory kfake holds the whole topic)
// is not this run's cost. stop shuts the broker down and removes the
// directory.
func freshBroker(ctx context.Context, opts Options, spec brokerSpec) (b runningBroker, stop func() error, err error) {
	dir, err := os.MkdirTemp(opts.TmpDir, "sluice-bench-"+spec.name+"-")
	if err != nil {
		return nil, nil, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	b, err = spec.start(ctx, filepath.Join(dir, "data"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return b, func() error {
		defer os.RemoveAll(dir)
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		if err := b.Stop(sctx); err != nil {
			return fmt.Errorf("stop broker: %w", err)
		}
		return nil
	}, nil
}

// runOne runs one broker on one workload: start a fresh broker on a new
// temporary directory, create the topic, produce, consume, stop, clean up.
func runOne(ctx context.Context, opts Options, spec brokerSpec, w workload, rep int, pool payloadPool) (r RunResult) {
	r = RunResult{Rep: rep, Workload: w.name, Broker: spec.name, Records: w.records, ValueBytes: w.size}
	fail := func(err error) RunResult {
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

	topic := "bench-" + w.name
	if err := createTopics(ctx, addr, map[string]int{topic: opts.Partitions, warmupTopic(topic): 1}, spec.replicas, spec.topicConfigs, 30*time.Second); err != nil {
		return fail(err)
	}

	// profile starts a CPU profile of one phase if asked to; the
	// returned function stops it.
	profile := func(phase string) (func(), error) {
		if opts.CPUProfile == "" || spec.name != brokerSluice || !spec.inProcess {
			return func() {}, nil
		}
		path := profilePath(opts.CPUProfile, w.name, rep, phase)
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		r.Profiles = append(r.Profiles, path)
		return func() {
			pprof.StopCPUProfile()
			f.Close()
		}, nil
	}

	stopProfile, err := profile("produce")
	if err != nil {
		return fail(err)
	}
	cpu0 := selfCPU() + b.CPU()
	var pr produceResult
	if w.txn {
		pr, err = produceTxn(ctx, addr, topic, opts.Partitions, w, pool)
	} else {
		pr, err = produce(ctx, addr, topic, w, opts.Window, pool)
	}
	cpu1 := selfCPU() + b.CPU()
	stopProfile()
	if err != nil {
		return fail(fmt.Errorf("produce: %w", err))
	}
	r.ProduceRecSec = float64(pr.records) / pr.elapsed.Seconds()
	r.ProduceMBSec = float64(pr.bytes) / pr.elapsed.Seconds() / 1e6
	r.P50Ms = ms(pr.p50)
	r.P99Ms = ms(pr.p99)
	r.TxnP50Ms = ms(pr.txnP50)
	r.TxnP99Ms = ms(pr.txnP99)
	r.ProduceCPUus = perRecordUs(cpu1-cpu0, pr.records)

	if stopProfile, err = profile("consume"); err != nil {
		return fail(err)
	}
	var cr consumeResult
	if w.txn {
		cr, err = consumeCommitted(ctx, addr, topic, pr, w.size, pool)
	} else {
		cr, err = consume(ctx, addr, topic, opts.Partitions, pr.records, w.size)
	}
	cpu2 := selfCPU() + b.CPU()
	stopProfile()
	if err != nil {
		return fail(fmt.Errorf("consume: %w", err))
	}
	r.ConsumeRecSec = float64(cr.records) / cr.elapsed.Seconds()
	r.ConsumeMBSec = float64(cr.bytes) / cr.elapsed.Seconds() / 1e6
	r.ConsumeCPUus = perRecordUs(cpu2-cpu1, cr.records)
	return r
}

func perRecordUs(d time.Duration, records int) float64 {
	if records == 0 {
		return 0
	}
	return float64(d) / float64(time.Microsecond) / float64(records)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// profilePath turns cpu.pprof into cpu.small.rep1.produce.pprof.
func profilePath(base, workload string, rep int, phase string) string {
	ext := filepath.Ext(base)
	return fmt.Sprintf("%s.%s.rep%d.%s%s", strings.TrimSuffix(base, ext), workload, rep, phase, ext)
}

func runLine(r RunResult, reps int) string {
	head := fmt.Sprintf("rep %d/%d  %-6s %-15s", r.Rep, reps, r.Workload, r.Broker)
	if r.Err != "" {
		return head + "  FAILED: " + r.Err
	}
	lat := fmt.Sprintf("p50 %7s p99 %7s", msString(r.P50Ms), msString(r.P99Ms))
	if r.TxnP50Ms > 0 {
		lat = fmt.Sprintf("commit p50 %7s p99 %7s txn p50 %7s p99 %7s", msString(r.P50Ms), msString(r.P99Ms), msString(r.TxnP50Ms), msString(r.TxnP99Ms))
	}
	s := fmt.Sprintf("%s  produce %6s rec/s %6.1f MB/s %s cpu %5.2fus/rec | consume %6s rec/s %6.1f MB/s cpu %5.2fus/rec",
		head, rate(r.ProduceRecSec), r.ProduceMBSec, lat, r.ProduceCPUus,
		rate(r.ConsumeRecSec), r.ConsumeMBSec, r.ConsumeCPUus)
	if len(r.Profiles) > 0 {
		s += "\n        profiles: " + strings.Join(r.Profiles, " ")
	}
	return s
}

func rate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func msString(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0fms", v)
	}
	if v >= 10 {
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.2fms", v)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func computeMedians(res *Results, specs []brokerSpec, wls []workload) {
	res.Medians = nil
	for _, w := range wls {
		for _, s := range specs {
			m := Median{Workload: w.name, Broker: s.name}
			var pr, pm, p50, p99, t50, t99, cr, cm, pc, cc []float64
			for _, r := range res.Runs {
				if r.Workload != w.name || r.Broker != s.name {
					continue
				}
				m.Runs++
				if r.Err != "" {
					continue
				}
				m.OK++
				pr, pm = append(pr, r.ProduceRecSec), append(pm, r.ProduceMBSec)
				p50, p99 = append(p50, r.P50Ms), append(p99, r.P99Ms)
				t50, t99 = append(t50, r.TxnP50Ms), append(t99, r.TxnP99Ms)
				cr, cm = append(cr, r.ConsumeRecSec), append(cm, r.ConsumeMBSec)
				pc, cc = append(pc, r.ProduceCPUus), append(cc, r.ConsumeCPUus)
			}
			if m.OK > 0 {
				m.ProduceRecSec, m.ProduceMBSec = median(pr), median(pm)
				m.P50Ms, m.P99Ms = median(p50), median(p99)
				m.TxnP50Ms, m.TxnP99Ms = median(t50), median(t99)
				m.ConsumeRecSec, m.ConsumeMBSec = median(cr), median(cm)
				m.ProduceCPUus, m.ConsumeCPUus = median(pc), median(cc)
			}
			res.Medians = append(res.Medians, m)
		}
	}
	res.Ratios = nil
	find := func(w, b string) (Median, bool) {
		for _, m := range res.Medians {
			if m.Workload == w && m.Broker == b && m.OK > 0 {
				return m, true
			}
		}
		return Median{}, false
	}
	for _, w := range wls {
		sl, ok := find(w.name, brokerSluice)
		if !ok {
			continue
		}
		for _, peer := range []string{brokerKfakeMem, brokerKfakeDurable, brokerSluiceCluster} {
			p, ok := find(w.name, peer)
			if !ok {
				continue
			}
			res.Ratios = append(res.Ratios, Ratio{
				Workload:      w.name,
				Peer:          peer,
				ProduceRecSec: round3(sl.ProduceRecSec / p.ProduceRecSec),
				ConsumeRecSec: round3(sl.ConsumeRecSec / p.ConsumeRecSec),
				P50:           round3(sl.P50Ms / p.P50Ms),
				P99:           round3(sl.P99Ms / p.P99Ms),
				TxnP50:        round3(sl.TxnP50Ms / p.TxnP50Ms),
				TxnP99:        round3(sl.TxnP99Ms / p.TxnP99Ms),
				ProduceCPU:    round3(sl.ProduceCPUus / p.ProduceCPUus),
				ConsumeCPU:    round3(sl.ConsumeCPUus / p.ConsumeCPUus),
			})
		}
	}
}

func round3(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

func printSummary(out io.Writer, res *Results, opts Options, specs []brokerSpec, wls []workload) {
	computeMedians(res, specs, wls)
	wlDesc := map[string]string{}
	wcol := len("workload")
	for _, w := range wls {
		wlDesc[w.name] = w.String()
		wcol = max(wcol, len(w.String()))
	}
	fmt.Fprintf(out, "\nMedians over %d reps (MB = 10^6 bytes of record values; latency = Produce call to promise; txn: EndTransaction per transaction)\n", opts.Reps)
	fmt.Fprintf(out, "%-*s %-15s %10s %9s %8s %8s %9s %10s %9s %9s %5s\n",
		wcol, "workload", "broker", "prod rec/s", "prod MB/s", "p50", "p99", "prod cpu", "cons rec/s", "cons MB/s", "cons cpu", "ok")
	for _, m := range res.Medians {
		if m.OK == 0 {
			fmt.Fprintf(out, "%-*s %-15s %10s %9s %8s %8s %9s %10s %9s %9s %2d/%d\n", wcol, wlDesc[m.Workload], m.Broker, "-", "-", "-", "-", "-", "-", "-", "-", m.OK, m.Runs)
			continue
		}
		fmt.Fprintf(out, "%-*s %-15s %10s %9.1f %8s %8s %7.2fus %10s %9.1f %7.2fus %2d/%d\n",
			wcol, wlDesc[m.Workload], m.Broker, rate(m.ProduceRecSec), m.ProduceMBSec, msString(m.P50Ms), msString(m.P99Ms), m.ProduceCPUus,
			rate(m.ConsumeRecSec), m.ConsumeMBSec, m.ConsumeCPUus, m.OK, m.Runs)
	}
	fmt.Fprintf(out, "(cpu = client+broker CPU time per record, all processes of the run)\n")
	printTxnLatencies(out, res)
	if len(res.Ratios) > 0 {
		fmt.Fprintf(out, "\nRatios Sluice/peer of the medians (rec/s: >1 = Sluice faster; latency and cpu: <1 = Sluice lower)\n")
		fmt.Fprintf(out, "%-*s %-15s %10s %10s %8s %8s %9s %9s\n", wcol, "workload", "peer", "prod rec/s", "cons rec/s", "p50", "p99", "prod cpu", "cons cpu")
		for _, r := range res.Ratios {
			fmt.Fprintf(out, "%-*s %-15s %9.2fx %9.2fx %7.2fx %7.2fx %8.2fx %8.2fx\n", wcol, wlDesc[r.Workload], r.Peer,
				r.ProduceRecSec, r.ConsumeRecSec, r.P50, r.P99, r.ProduceCPU, r.ConsumeCPU)
		}
	}
	if n := res.Failed(); n > 0 {
		fmt.Fprintf(out, "\n%d of %d runs FAILED:\n", n, len(res.Runs))
		for _, r := range res.Runs {
			if r.Err != "" {
				fmt.Fprintf(out, "  rep %d %s %s: %s\n", r.Rep, r.Workload, r.Broker, r.Err)
			}
		}
	}
	if !opts.NoJSON {
		b, err := json.Marshal(jsonSafe(res))
		if err == nil {
			fmt.Fprintf(out, "\n%s\n", b)
		}
	}
}

// printTxnLatencies prints the transactional workload's two latencies
// side by side, and Sluice's ratios to each peer, if that workload ran.
func printTxnLatencies(out io.Writer, res *Results) {
	var ms []Median
	for _, m := range res.Medians {
		if m.OK > 0 && m.TxnP50Ms > 0 {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return
	}
	fmt.Fprintf(out, "\nTransactions, medians (commit = EndTransaction; txn = BeginTransaction to the commit's answer)\n")
	fmt.Fprintf(out, "%-8s %-20s %10s %10s %8s %8s\n", "workload", "broker", "commit p50", "commit p99", "txn p50", "txn p99")
	for _, m := range ms {
		fmt.Fprintf(out, "%-8s %-20s %10s %10s %8s %8s\n", m.Workload, m.Broker, msString(m.P50Ms), msString(m.P99Ms), msString(m.TxnP50Ms), msString(m.TxnP99Ms))
	}
	for _, r := range res.Ratios {
		if r.TxnP50 > 0 {
			fmt.Fprintf(out, "%-8s %-20s %9.2fx %9.2fx %7.2fx %7.2fx\n", r.Workload, "sluice/"+r.Peer, r.P50, r.P99, r.TxnP50, r.TxnP99)
		}
	}
}

// jsonSafe replaces NaN medians (no successful run) by zero, which JSON can
// carry.
func jsonSafe(res *Results) *Results {
	c := *res
	c.Medians = slices.Clone(res.Medians)
	for i := range c.Medians {
		m := &c.Medians[i]
		for _, f := range []*float64{&m.ProduceRecSec, &m.ProduceMBSec, &m.P50Ms, &m.P99Ms, &m.TxnP50Ms, &m.TxnP99Ms, &m.ConsumeRecSec, &m.ConsumeMBSec, &m.ProduceCPUus, &m.ConsumeCPUus} {
			if math.IsNaN(*f) {
				*f = 0
			}
		}
	}
	return &c
}
