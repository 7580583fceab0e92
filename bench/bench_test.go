package main

// These tests run the benchmark harness with tiny counts, so CI proves the
// bench still works against the current broker. They assert that every run
// succeeded and that the report is complete; they time nothing.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) {
	// -kfake-subprocess re-executes this test binary as a kfake server.
	if serveKfakeChild() {
		return
	}
	os.Exit(m.Run())
}

func smallOptions(t *testing.T, out *bytes.Buffer) Options {
	opts := DefaultOptions()
	opts.RecordsSmall = 2000
	opts.RecordsLarge = 500
	opts.RecordsTxn = 500
	opts.TxnProducers = 2
	opts.Reps = 1
	opts.Window = 1000
	opts.RunTimeout = time.Minute
	opts.TmpDir = t.TempDir()
	opts.Out = out
	return opts
}

func runSmall(t *testing.T, opts Options) *Results {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, opts)
	out := opts.Out.(*bytes.Buffer).String()
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	if n := res.Failed(); n > 0 {
		t.Fatalf("%d runs failed:\n%s", n, out)
	}
	return res
}

// checkReport checks the medians, the ratios and the final JSON line.
func checkReport(t *testing.T, res *Results, out string, brokers, workloads int) {
	t.Helper()
	if got, want := len(res.Runs), brokers*workloads; got != want {
		t.Fatalf("%d runs, want %d", got, want)
	}
	for _, r := range res.Runs {
		if r.ProduceRecSec <= 0 || r.ConsumeRecSec <= 0 || r.P50Ms <= 0 || r.P99Ms < r.P50Ms {
			t.Errorf("run %+v: implausible figures", r)
		}
		if r.Workload == "txn" && (r.TxnP50Ms < r.P50Ms || r.TxnP99Ms < r.TxnP50Ms) {
			t.Errorf("run %+v: implausible transaction latencies", r)
		}
	}
	if got, want := len(res.Medians), brokers*workloads; got != want {
		t.Errorf("%d medians, want %d", got, want)
	}
	for _, m := range res.Medians {
		if m.OK != 1 || m.ProduceRecSec <= 0 || m.ConsumeRecSec <= 0 {
			t.Errorf("median %+v: want one successful run", m)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var decoded Results
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &decoded); err != nil {
		t.Fatalf("last line is not the JSON report: %v\n%s", err, out)
	}
	if len(decoded.Runs) != len(res.Runs) || len(decoded.Medians) != len(res.Medians) || len(decoded.Ratios) != len(res.Ratios) {
		t.Errorf("JSON report differs from the results:\n%s", lines[len(lines)-1])
	}
	for _, want := range []string{"Medians over 1 reps", "prod rec/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchInProcess runs every broker in this process on every workload,
// the three-broker Sluice cluster included.
func TestBenchInProcess(t *testing.T) {
	var out bytes.Buffer
	opts := smallOptions(t, &out)
	opts.Workloads = []string{"small", "large", "txn"}
	opts.CPUProfile = filepath.Join(t.TempDir(), "cpu.pprof")
	res := runSmall(t, opts)
	checkReport(t, res, out.String(), 4, 3)
	if got := len(res.Ratios); got != 9 {
		t.Errorf("%d ratios, want 9 (3 workloads x 3 peers)", got)
	}
	if !strings.Contains(out.String(), "Transactions, medians") {
		t.Errorf("report lacks the transaction latencies:\n%s", out.String())
	}
	for _, w := range []string{"small", "large", "txn"} {
		for _, phase := range []string{"produce", "consume"} {
			p := profilePath(opts.CPUProfile, w, 1, phase)
			if st, err := os.Stat(p); err != nil || st.Size() == 0 {
				t.Errorf("no CPU profile %s for the in-process Sluice run: %v", p, err)
			}
		}
	}
	if t.Failed() {
		t.Log(out.String())
	}
}

// TestBenchKfakeSubprocess runs kfake in a child process.
func TestBenchKfakeSubprocess(t *testing.T) {
	var out bytes.Buffer
	opts := smallOptions(t, &out)
	opts.Brokers = []string{brokerKfakeMem}
	opts.Workloads = []string{"small"}
	opts.KfakeSubprocess = true
	res := runSmall(t, opts)
	checkReport(t, res, out.String(), 1, 1)
}

// buildSluiceForTest builds cmd/sluice, or skips the test unless
// BENCH_SUBPROCESS=1 asks for the build.
func buildSluiceForTest(t *testing.T) string {
	t.Helper()
	if os.Getenv("BENCH_SUBPROCESS") == "" {
		t.Skip("set BENCH_SUBPROCESS=1 to build cmd/sluice and run it as a subprocess")
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	build := exec.Command("go", "build", "-o", bin, "github.com/sluice-io/sluice/cmd/sluice")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build sluice: %v\n%s", err, b)
	}
	return bin
}

// TestBenchSluiceSubprocess builds cmd/sluice and runs it as a child
// process. It takes a build, so it only runs with BENCH_SUBPROCESS=1.
func TestBenchSluiceSubprocess(t *testing.T) {
	bin := buildSluiceForTest(t)
	var out bytes.Buffer
	opts := smallOptions(t, &out)
	opts.Brokers = []string{brokerSluice}
	opts.Workloads = []string{"small", "large", "txn"}
	opts.SluiceBin = bin
	res := runSmall(t, opts)
	checkReport(t, res, out.String(), 1, 3)
}

// TestBadOptions checks that a typo fails before anything starts.
func TestBadOptions(t *testing.T) {
	for _, mod := range []func(*Options){
		func(o *Options) { o.Brokers = []string{"kafka"} },
		func(o *Options) { o.Workloads = []string{"huge"} },
		func(o *Options) { o.Reps = 0 },
		func(o *Options) { o.RecordsSmall = 0 },
		func(o *Options) { o.Workloads = []string{"txn"}; o.TxnSize = 0 },
		func(o *Options) { o.Workloads = []string{"txn"}; o.TxnProducers = 0 },
		func(o *Options) { o.Workloads = []string{"txn"}; o.SizeTxn = 4 },
	} {
		var out bytes.Buffer
		opts := smallOptions(t, &out)
		mod(&opts)
		if _, err := Run(context.Background(), opts); err == nil {
			t.Errorf("Run accepted bad options %+v", opts)
		}
	}
	for _, mod := range []func(*Options){
		func(o *Options) { o.ScaleN = []int{0} },
		func(o *Options) { o.ScaleBrokers = []string{"kafka"} },
		func(o *Options) { o.ScaleBrokers = []string{brokerSluice}; o.SluiceBin = "" },
		func(o *Options) { o.ScaleRecords = 0 },
		func(o *Options) { o.ScaleStepTimeout = 0 },
	} {
		var out bytes.Buffer
		opts := scaleOptions(t, &out)
		mod(&opts)
		if _, err := RunScale(context.Background(), opts); err == nil {
			t.Errorf("RunScale accepted bad options %+v", opts)
		}
	}
}

func scaleOptions(t *testing.T, out *bytes.Buffer) Options {
	opts := DefaultOptions()
	opts.ScaleN = []int{10, 40}
	opts.ScaleProducePartitions = 10
	opts.ScaleBrokers = []string{scaleKfake}
	opts.ScaleRecords = 200
	opts.ScaleIdle = 100 * time.Millisecond
	opts.ScaleStepTimeout = time.Minute
	opts.Window = 100
	opts.TmpDir = t.TempDir()
	opts.Out = out
	return opts
}

// runScaleSmall runs the scale benchmark with tiny counts and checks that
// every run measured every column and that the report is complete.
func runScaleSmall(t *testing.T, opts Options) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunScale(ctx, opts)
	out := opts.Out.(*bytes.Buffer).String()
	if err != nil {
		t.Fatalf("RunScale: %v\n%s", err, out)
	}
	if got, want := len(res.Scale), len(opts.ScaleN)*len(opts.ScaleBrokers); got != want {
		t.Fatalf("%d runs, want %d:\n%s", got, want, out)
	}
	for _, r := range res.Scale {
		if r.Err != "" {
			t.Errorf("N=%d %s failed: %s", r.N, r.Broker, r.Err)
			continue
		}
		if r.CreateSec <= 0 || r.RSSMiB <= 0 || r.FDs <= 0 || r.ProduceRecSec <= 0 || r.P99Ms < r.P50Ms ||
			r.ConsumeRecSec <= 0 || r.ListenSec <= 0 || r.RestartSec < r.ListenSec {
			t.Errorf("run %+v: implausible figures", r)
		}
	}
	// N=40 is 10 topics of 4 partitions and scale-produce's 10.
	if r, ok := findScale(res, opts.ScaleBrokers[0], 40); !ok || r.Partitions != 50 {
		t.Errorf("N=40 created %d partitions, want 50", r.Partitions)
	}
	if got, want := len(res.Baselines), len(opts.ScaleN)*len(opts.ScaleBrokers); got != want {
		t.Errorf("%d baseline shares, want %d", got, want)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var decoded ScaleResults
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &decoded); err != nil {
		t.Fatalf("last line is not the JSON report: %v\n%s", err, out)
	}
	if len(decoded.Scale) != len(res.Scale) || len(decoded.Ratios) != len(res.Ratios) {
		t.Errorf("JSON report differs from the results:\n%s", lines[len(lines)-1])
	}
	for _, want := range []string{"N=40 (10 topics x 4", "restart s", "against the baseline"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

// TestScaleKfake runs the partition-scale benchmark on durable kfake in a
// child process, the kill -9 restart included.
func TestScaleKfake(t *testing.T) {
	var out bytes.Buffer
	runScaleSmall(t, scaleOptions(t, &out))
}

// TestScaleSluice runs it on `sluice serve` next to kfake, with the
// ratios. It takes a build, so it only runs with BENCH_SUBPROCESS=1.
func TestScaleSluice(t *testing.T) {
	bin := buildSluiceForTest(t)
	var out bytes.Buffer
	opts := scaleOptions(t, &out)
	opts.ScaleBrokers = []string{brokerSluice, scaleKfake}
	opts.SluiceBin = bin
	runScaleSmall(t, opts)
	if !strings.Contains(out.String(), "sluice/kfake") {
		t.Errorf("report lacks the ratios:\n%s", out.String())
	}
}

// TestConsumeCommittedCatchesDuplicates checks the read_committed
// consumer's checks on a topic holding a value twice or a value never
// produced: offsets cannot show either once markers take offsets.
func TestConsumeCommittedCatchesDuplicates(t *testing.T) {
	const size = 64
	pool := newPayloadPool(size)
	for _, tc := range []struct {
		name     string
		produced []int // record numbers, in order, to partition 0
		want     string
	}{
		{"duplicate", []int{0, 1, 2, 1}, "record 1 a second time"},
		{"foreign value", []int{0, 1, 2, 7}, "never produced"},
		{"complete", []int{3, 0, 2, 1}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, i := range tc.produced {
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: pool.value(i, size)}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			pr := produceResult{records: 4, perPartition: []int64{4}}
			_, err = consumeCommitted(ctx, c.ListenAddrs()[0], "t", pr, size, pool)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("consumeCommitted: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("consumeCommitted: %v, want an error with %q", err, tc.want)
			}
		})
	}
}
