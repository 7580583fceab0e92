// Command bench measures Sluice against franz-go's kfake in one run.
//
// It alternates the brokers (Sluice, kfake in memory, kfake durable with
// fsync per write, a three-broker Sluice cluster) on two workloads, each
// time on a fresh broker and a fresh 6-partition topic, with one franz-go
// producer and then one franz-go consumer, and prints medians per broker and
// the ratios Sluice/peer. A third workload, txn (-workloads txn), runs
// transactional producers and a read_committed consumer. The ratios, not
// the absolute figures, are the result: everything runs on one machine and
// the absolute numbers move with the machine's load.
//
//	go run ./bench                       # full run, 3 reps (several minutes)
//	go run ./bench -records-small 100000 -records-large 30000 -reps 1
//	go run ./bench -only sluice -cpuprofile /tmp/cpu.pprof
//	go run ./bench -workloads txn,large
//	go run ./bench -scale 1000,10000     # partition scale, brokers as child processes
//	go run ./bench -cluster-scale 10000  # 3-broker failover and restart with 10,000 partitions of RF 3
//	go run ./bench -latency              # ack and end-to-end latency at 10,000 records/s
//	go run ./bench -tls                  # TLS beside plaintext, and TLS/SCRAM handshakes per second
//
// See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	// A child started with -kfake-subprocess serves kfake and nothing else.
	if serveKfakeChild() {
		return
	}
	// os.Exit skips deferred calls, so everything that cleans up runs
	// inside run.
	os.Exit(run())
}

func run() int {
	opts := DefaultOptions()
	var only, workloads, settings, scale, scaleBrokers string
	flag.IntVar(&opts.RecordsSmall, "records-small", opts.RecordsSmall, "records in the small workload (100 B values, acks=1)")
	flag.IntVar(&opts.RecordsLarge, "records-large", opts.RecordsLarge, "records in the large workload (1 KiB values, acks=all)")
	flag.IntVar(&opts.SizeSmall, "size-small", opts.SizeSmall, "value size in bytes of the small workload")
	flag.IntVar(&opts.SizeLarge, "size-large", opts.SizeLarge, "value size in bytes of the large workload")
	flag.IntVar(&opts.RecordsTxn, "records-txn", opts.RecordsTxn, "records in the txn workload (transactional producers, read_committed consumer)")
	flag.IntVar(&opts.SizeTxn, "size-txn", opts.SizeTxn, "value size in bytes of the txn workload")
	flag.IntVar(&opts.TxnSize, "txn-size", opts.TxnSize, "records per transaction in the txn workload")
	flag.IntVar(&opts.TxnProducers, "txn-producers", opts.TxnProducers, "transactional producers in the txn workload, each with its own transactional ID and transaction loop")
	flag.IntVar(&opts.Reps, "reps", opts.Reps, "repetitions; each runs every broker on every workload")
	flag.IntVar(&opts.Window, "window", opts.Window, "produce window: most records produced but not yet acknowledged (franz-go's default MaxBufferedRecords)")
	flag.BoolVar(&opts.NoIdempotence, "no-idempotence", false, "produce the acks=all workload without franz-go's idempotent producer (default: idempotent, as franz-go)")
	flag.IntVar(&opts.Partitions, "partitions", opts.Partitions, "partitions of the benchmark topic")
	flag.StringVar(&only, "only", "", "comma-separated brokers to run: "+strings.Join(allBrokers, ","))
	flag.StringVar(&workloads, "workloads", "", "comma-separated workloads to run: small,large,txn (default small,large)")
	flag.StringVar(&opts.SluiceBin, "sluice-bin", "", "run Sluice as a subprocess from this `sluice` binary instead of in-process (\"build\" builds ./cmd/sluice first)")
	flag.BoolVar(&opts.KfakeSubprocess, "kfake-subprocess", false, "run kfake in a child process too (re-executes this program), so no broker shares the client's Go runtime")
	flag.StringVar(&settings, "sluice-config", "", "comma-separated Sluice broker settings name=value (Kafka names)")
	flag.StringVar(&opts.CPUProfile, "cpuprofile", "", "write a CPU profile of each in-process Sluice run to `file` (one file per workload, rep and phase: FILE.<workload>.rep<N>.<produce|consume>; they include the client's CPU)")
	flag.DurationVar(&opts.RunTimeout, "run-timeout", opts.RunTimeout, "give up on one broker/workload run after this long")
	flag.StringVar(&opts.TmpDir, "tmpdir", "", "parent of the brokers' temporary data directories (default: $TMPDIR)")
	flag.BoolVar(&opts.NoJSON, "no-json", false, "do not print the final JSON line")
	flag.StringVar(&scale, "scale", "", "run the partition-scale benchmark instead, for each comma-separated partition count `N` (e.g. 1000,10000): one broker in a child process, create, RSS, fds, idle CPU, produce, consume, kill -9 restart")
	flag.IntVar(&opts.ScaleRecords, "scale-records", opts.ScaleRecords, "records produced (acks=all, idempotent) and consumed per -scale run")
	flag.IntVar(&opts.ScaleSize, "scale-size", opts.ScaleSize, "value size in bytes of the -scale records")
	flag.IntVar(&opts.ScaleProducePartitions, "scale-produce-partitions", opts.ScaleProducePartitions, "partitions of the -scale topic produced to; the run with N equal to it is the baseline")
	flag.DurationVar(&opts.ScaleIdle, "scale-idle", opts.ScaleIdle, "how long -scale measures the broker's idle CPU")
	flag.BoolVar(&opts.ScaleSingle, "scale-single", false, "-scale creates N topics of one partition each (plus scale-produce) instead of ten topics of N/10")
	var restartOpts RestartOptions
	flag.Float64Var(&restartOpts.GB, "restart", 0, "run the restart benchmark instead: write `GB` gigabytes (acks=all, 1 MiB batches) to -restart-partitions partitions of one sluice serve child, kill -9 it and time its restart (restart.go)")
	flag.IntVar(&restartOpts.Partitions, "restart-partitions", 1000, "partitions of the -restart topic")
	flag.IntVar(&restartOpts.ValueSize, "restart-size", 64<<10, "value size in bytes of the -restart records")
	flag.IntVar(&restartOpts.Reps, "restart-reps", 3, "kill -9 and restart this many times in -restart")
	flag.BoolVar(&restartOpts.Acks1, "restart-acks1", false, "write the -restart data with acks=1 (never fsynced: the restart checks all of it) instead of acks=all")
	flag.BoolVar(&restartOpts.Cold, "restart-cold", false, "drop the page cache after each -restart kill (Linux, root), so the broker starts reading from the disk")
	flag.StringVar(&restartOpts.Dir, "restart-dir", "", "keep the -restart data in `dir`; a later run given the same dir restarts on it without writing it again")
	flag.IntVar(&opts.ClusterScaleN, "cluster-scale", 0, "run the cluster-scale benchmark instead: three `sluice serve` processes, N partitions of RF 3, the controller and another broker stopped (kill -9, SIGTERM) and restarted (clusterscale.go)")
	var clusterSteps string
	flag.StringVar(&clusterSteps, "cluster-scale-steps", strings.Join(clusterScaleSteps, ","), "comma-separated -cluster-scale steps, each a stop and a restart: "+strings.Join(clusterScaleSteps, ","))
	flag.IntVar(&opts.ClusterScaleReps, "cluster-scale-reps", 1, "run the -cluster-scale steps this many times")
	flag.StringVar(&opts.ClusterScaleLogs, "cluster-scale-logs", "", "keep each -cluster-scale broker's log (level info) in `dir`/node-<id>.log and serve pprof on its HTTP admin listener")
	flag.DurationVar(&opts.ScaleStepTimeout, "scale-step-timeout", opts.ScaleStepTimeout, "give up on one -scale step (start, create, idle, produce, consume, restart) after this long")
	flag.BoolVar(&opts.Latency, "latency", false, "run the latency benchmark instead: -latency-records records of -size-large bytes at -latency-rate, acks=all, no linger, one consumer; ack and end-to-end percentiles beside a 4 KiB fdatasync (latency.go)")
	flag.IntVar(&opts.LatencyRecords, "latency-records", opts.LatencyRecords, "records per -latency run")
	flag.Float64Var(&opts.LatencyRate, "latency-rate", opts.LatencyRate, "records per second of -latency runs")
	flag.IntVar(&opts.LatencySyncs, "latency-syncs", opts.LatencySyncs, "4 KiB append + fdatasync loops timed per -latency repetition")
	flag.StringVar(&opts.Trace, "trace", "", "write an execution trace of each in-process Sluice -latency run to `file` (FILE.latency.rep<N>.e2e)")
	flag.BoolVar(&opts.TLS, "tls", false, "run the TLS benchmark instead: -records-large records of -size-large bytes (acks=all) over plaintext and TLS, and connections/s with TLS and SCRAM handshakes (tls.go)")
	flag.IntVar(&opts.TLSConns, "tls-conns", opts.TLSConns, "connections per handshake kind of -tls runs")
	flag.IntVar(&opts.TLSWorkers, "tls-workers", opts.TLSWorkers, "goroutines opening the -tls connections")
	var tlsBrokerList string
	flag.StringVar(&tlsBrokerList, "tls-brokers", strings.Join(tlsBrokers, ","), "comma-separated brokers for -tls: sluice and kfake-mem")
	flag.StringVar(&scaleBrokers, "scale-brokers", strings.Join(scaleBrokerNames, ","), "comma-separated brokers for -scale: sluice (sluice serve) and kfake (durable: DataDir + SyncWrites)")
	failoverOpts := addFailoverFlags() // failover.go
	var schemaRegistry bool
	flag.BoolVar(&schemaRegistry, "schema-registry", false, "run the schema registry benchmark instead: register latency and lookups/s by ID and by schema, Sluice beside franz-go's srfake (schemaregistry.go)")
	mirrorOpts := addMirrorFlags() // mirror.go
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q\n", flag.Args())
		return 2
	}
	if only != "" {
		opts.Brokers = splitList(only)
	}
	if workloads != "" {
		opts.Workloads = splitList(workloads)
	}
	if settings != "" {
		opts.SluiceSettings = map[string]string{}
		for _, kv := range splitList(settings) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				fmt.Fprintf(os.Stderr, "bench: -sluice-config %q: want name=value\n", kv)
				return 2
			}
			opts.SluiceSettings[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if scale != "" {
		opts.ScaleN = nil
		for _, f := range splitList(scale) {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 {
				fmt.Fprintf(os.Stderr, "bench: -scale %q: want positive partition counts\n", f)
				return 2
			}
			opts.ScaleN = append(opts.ScaleN, n)
		}
		opts.ScaleBrokers = splitList(scaleBrokers)
		// The scale benchmark reads the broker's process: Sluice runs
		// as a child, built here unless -sluice-bin names a binary.
		if opts.SluiceBin == "" && slices.Contains(opts.ScaleBrokers, brokerSluice) {
			opts.SluiceBin = "build"
		}
	}
	if failoverOpts.run && opts.SluiceBin == "" {
		opts.SluiceBin = "build" // the cluster runs sluice serve processes
	}
	if restartOpts.GB > 0 && opts.SluiceBin == "" {
		opts.SluiceBin = "build" // the restart bench kills a sluice serve child
	}
	opts.ClusterScaleSteps = splitList(clusterSteps)
	if opts.ClusterScaleN > 0 && opts.SluiceBin == "" {
		opts.SluiceBin = "build" // the cluster runs sluice serve processes
	}
	opts.Out = os.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.SluiceBin == "build" {
		bin, cleanup, err := buildSluice(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer cleanup()
		opts.SluiceBin = bin
	}
	var err error
	if failoverOpts.run {
		err = RunFailover(ctx, opts, failoverOpts)
	} else if mirrorOpts.run {
		err = RunMirrorBench(ctx, opts, mirrorOpts)
	} else if schemaRegistry {
		err = RunSchemaRegistry(ctx, opts)
	} else if opts.TLS {
		opts.TLSBrokers = splitList(tlsBrokerList)
		var res *TLSResults
		if res, err = RunTLS(ctx, opts); err == nil && res.Failed() > 0 {
			err = fmt.Errorf("%d TLS runs failed", res.Failed())
		}
	} else if opts.Latency {
		var res *LatencyResults
		if res, err = RunLatency(ctx, opts); err == nil && res.Failed() > 0 {
			err = fmt.Errorf("%d of %d runs failed", res.Failed(), len(res.Runs))
		}
	} else if restartOpts.GB > 0 {
		err = RunRestart(ctx, opts, restartOpts)
	} else if opts.ClusterScaleN > 0 {
		_, err = RunClusterScale(ctx, opts)
	} else if len(opts.ScaleN) > 0 {
		var res *ScaleResults
		if res, err = RunScale(ctx, opts); err == nil && res.Failed() > 0 {
			err = fmt.Errorf("%d of %d runs failed", res.Failed(), len(res.Scale))
		}
	} else {
		var res *Results
		if res, err = Run(ctx, opts); err == nil && res.Failed() > 0 {
			err = fmt.Errorf("%d of %d runs failed", res.Failed(), len(res.Runs))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return 1
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Options configure one benchmark run.
type Options struct {
	RecordsSmall, RecordsLarge int
	SizeSmall, SizeLarge       int
	RecordsTxn, SizeTxn        int
	TxnSize                    int // records per transaction
	TxnProducers               int // transactional producers, each its own loop
	Reps                       int
	Window                     int
	Partitions                 int
	Brokers                    []string // subset of allBrokers, in order
	Workloads                  []string // subset of "small", "large", "txn"

	NoIdempotence bool // acks=all workload without the idempotent producer

	SluiceBin       string // non-empty: run Sluice as a subprocess
	KfakeSubprocess bool
	SluiceSettings  map[string]string
	CPUProfile      string
	RunTimeout      time.Duration
	TmpDir          string
	NoJSON          bool

	// The partition-scale benchmark (scale.go) runs instead of the
	// workloads when ScaleN is set.
	ScaleN                 []int    // partition counts
	ScaleBrokers           []string // "sluice", "kfake"
	ScaleRecords           int
	ScaleSize              int
	ScaleProducePartitions int           // partitions of scale-produce; N equal to it is the baseline
	ScaleIdle              time.Duration // idle CPU measurement
	ScaleStepTimeout       time.Duration
	ScaleSingle            bool // N topics of one partition each instead of ten of N/10
	// ClusterScaleN, when set, runs the cluster-scale benchmark
	// (clusterscale.go) with that many partitions instead.
	ClusterScaleN     int
	ClusterScaleSteps []string // stops and restarts, from clusterScaleSteps
	ClusterScaleReps  int      // times the steps run
	ClusterScaleLogs  string   // non-empty: keep the brokers' logs there

	// The latency benchmark (latency.go) runs instead of the workloads
	// when Latency is set.
	Latency        bool
	LatencyRecords int
	LatencyRate    float64 // records per second
	LatencySyncs   int     // fdatasync baseline loops per repetition
	Trace          string

	// The TLS benchmark (tls.go) runs instead of the workloads when TLS
	// is set.
	TLS        bool
	TLSConns   int      // connections per handshake kind
	TLSWorkers int      // goroutines opening them
	TLSBrokers []string // "sluice", "kfake-mem"

	Out interface{ Write([]byte) (int, error) }
}

// DefaultOptions is the full benchmark.
func DefaultOptions() Options {
	return Options{
		RecordsSmall: 1_000_000,
		RecordsLarge: 300_000,
		SizeSmall:    100,
		SizeLarge:    1024,
		RecordsTxn:   100_000,
		SizeTxn:      1024,
		TxnSize:      100,
		TxnProducers: 4,
		Reps:         3,
		Window:       50_000,
		Partitions:   6,
		Brokers:      append([]string(nil), allBrokers...),
		Workloads:    []string{"small", "large"},
		RunTimeout:   10 * time.Minute,

		ScaleBrokers:           append([]string(nil), scaleBrokerNames...),
		ScaleRecords:           200_000,
		ScaleSize:              1024,
		ScaleProducePartitions: 1000,
		ScaleIdle:              10 * time.Second,
		ScaleStepTimeout:       3 * time.Minute,

		TLSConns:   300,
		TLSWorkers: 4,

		LatencyRecords: 50_000,
		LatencyRate:    10_000,
		LatencySyncs:   2_000,
	}
}
