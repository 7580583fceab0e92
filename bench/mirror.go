package main

// The mirror benchmark (-mirror): mirror throughput between two single-node
// Sluice brokers beside a plain franz-go consume+produce copy, and mirror
// lag under a steady produce rate. Both brokers, the mirror and the
// clients share this process (and the machine): the ratio between the two
// copies, measured in the same run, is the result; the absolute figures
// move with the machine's load, which is printed with them.

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/mirror"
)

// mirrorBenchOptions are the -mirror flags.
type mirrorBenchOptions struct {
	run      bool
	records  int
	size     int
	rate     float64
	duration time.Duration
	streams  int
}

// addMirrorFlags registers the -mirror flags.
func addMirrorFlags() *mirrorBenchOptions {
	o := &mirrorBenchOptions{}
	flag.BoolVar(&o.run, "mirror", false, "run the mirror benchmark instead: -mirror-records records of -mirror-size bytes copied by sluice mirror and by a franz-go consume+produce loop between two single-node Sluice brokers, then mirror lag at -mirror-rate for -mirror-duration (mirror.go)")
	flag.IntVar(&o.records, "mirror-records", 200_000, "records copied per -mirror throughput run")
	flag.IntVar(&o.size, "mirror-size", 1024, "value size in bytes of the -mirror records")
	flag.Float64Var(&o.rate, "mirror-rate", 20_000, "records per second produced during the -mirror lag run")
	flag.DurationVar(&o.duration, "mirror-duration", 20*time.Second, "length of the -mirror lag run")
	flag.IntVar(&o.streams, "mirror-streams", 0, "copy loops per source broker of the -mirror runs (0: the mirror's default)")
	return o
}

const mirrorBenchTopic = "mirror-bench"

// RunMirrorBench runs the mirror benchmark and prints its figures.
func RunMirrorBench(ctx context.Context, opts Options, mo *mirrorBenchOptions) error {
	out := opts.Out
	fmt.Fprintf(out, "mirror benchmark: %d records of %d B, %d partitions, %d reps; loadavg %.2f; brokers, mirror and clients in this process\n",
		mo.records, mo.size, opts.Partitions, opts.Reps, loadAvg())
	dir, err := os.MkdirTemp(opts.TmpDir, "sluice-mirror-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src, err := startSluice(ctx, dir+"/src", opts.SluiceSettings)
	if err != nil {
		return err
	}
	defer src.Stop(context.Background())
	if err := createBenchTopic(ctx, src.Addr(), mirrorBenchTopic, opts.Partitions); err != nil {
		return err
	}
	if _, err := produceN(ctx, src.Addr(), mirrorBenchTopic, mo.records, mo.size); err != nil {
		return fmt.Errorf("fill the source: %w", err)
	}
	bytes := float64(mo.records) * float64(mo.size)
	var mirrorRates, copyRates []float64
	for rep := range opts.Reps {
		kinds := []string{"mirror", "copy"}
		if rep%2 == 1 {
			slices.Reverse(kinds)
		}
		for _, kind := range kinds {
			stopProfiles, err := copyProfiles(opts, kind, rep)
			if err != nil {
				return err
			}
			d, err := timeCopy(ctx, kind, src.Addr(), fmt.Sprintf("%s/%s-%d", dir, kind, rep), opts.Partitions, mo.records, mo.streams)
			stopProfiles()
			if err != nil {
				return fmt.Errorf("%s rep %d: %w", kind, rep, err)
			}
			rate := float64(mo.records) / d.Seconds()
			fmt.Fprintf(out, "  rep %d %-6s %8.0f records/s  %7.1f MB/s  (%v, loadavg %.2f)\n", rep, kind, rate, bytes/d.Seconds()/1e6, d.Round(time.Millisecond), loadAvg())
			if kind == "mirror" {
				mirrorRates = append(mirrorRates, rate)
			} else {
				copyRates = append(copyRates, rate)
			}
		}
	}
	mm, cm := median(mirrorRates), median(copyRates)
	fmt.Fprintf(out, "throughput medians: mirror %.0f records/s (%.1f MB/s), franz-go consume+produce %.0f records/s (%.1f MB/s), mirror/copy %.2fx\n",
		mm, mm*float64(mo.size)/1e6, cm, cm*float64(mo.size)/1e6, mm/cm)
	return mirrorLag(ctx, opts, mo, dir+"/lag")
}

// copyProfiles starts a CPU profile and an execution trace of one copy
// run (FILE.mirror.rep<N>.<mirror|copy>) when -cpuprofile or -trace ask
// for them; they hold both brokers' work too. The returned function stops
// them.
func copyProfiles(opts Options, kind string, rep int) (func(), error) {
	var files []*os.File
	stop := func() {
		if opts.CPUProfile != "" {
			pprof.StopCPUProfile()
		}
		if opts.Trace != "" {
			trace.Stop()
		}
		for _, f := range files {
			f.Close()
		}
	}
	for _, p := range []struct {
		base  string
		start func(io.Writer) error
	}{{opts.CPUProfile, pprof.StartCPUProfile}, {opts.Trace, trace.Start}} {
		if p.base == "" {
			continue
		}
		f, err := os.Create(profilePath(p.base, "mirror", rep+1, kind))
		if err == nil {
			files = append(files, f)
			err = p.start(f)
		}
		if err != nil {
			stop()
			return nil, err
		}
	}
	return stop, nil
}

// createBenchTopic creates a topic of n partitions.
func createBenchTopic(ctx context.Context, addr, topic string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(n), 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	return err
}

// produceN produces n records of size bytes (acks=all, idempotent) and
// returns how long it took.
func produceN(ctx context.Context, addr, topic string, n, size int) (time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	// Random values: the copy by franz-go compresses what it produces,
	// the mirror keeps the source's batches, so compressible values would
	// flatter the mirror.
	rng := rand.New(rand.NewPCG(1, 2))
	var failed atomic.Pointer[error]
	start := time.Now()
	for range n {
		v := make([]byte, size)
		for i := 0; i+8 <= len(v); i += 8 {
			binary.LittleEndian.PutUint64(v[i:], rng.Uint64())
		}
		cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	if p := failed.Load(); p != nil {
		return 0, *p
	}
	return time.Since(start), nil
}

// timeCopy copies the source topic to a fresh target broker, with the
// mirror or with a franz-go consumer feeding a producer, and returns how
// long until the target holds all n records.
func timeCopy(ctx context.Context, kind, srcAddr, dir string, partitions, n, streams int) (time.Duration, error) {
	dst, err := startSluice(ctx, dir, nil)
	if err != nil {
		return 0, err
	}
	defer dst.Stop(context.Background())
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	switch kind {
	case "mirror":
		m, err := mirror.New(mirror.Config{Source: []kgo.Opt{kgo.SeedBrokers(srcAddr)}, Target: []kgo.Opt{kgo.SeedBrokers(dst.Addr())}, CopyStreams: streams})
		if err != nil {
			return 0, err
		}
		defer m.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Run(cctx)
		}()
		return waitEnds(ctx, dst.Addr(), mirrorBenchTopic, int64(n), start)
	default:
		if err := createBenchTopic(ctx, dst.Addr(), mirrorBenchTopic, partitions); err != nil {
			return 0, err
		}
		return copyWithFranz(cctx, srcAddr, dst.Addr(), n, start)
	}
}

// waitEnds polls until topic's end offsets on addr add up to n.
func waitEnds(ctx context.Context, addr, topic string, n int64, start time.Time) (time.Duration, error) {
	// Fresh metadata: franz-go would otherwise remember for 5s that the
	// mirror topic did not exist yet.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MetadataMinAge(20*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			var total int64
			ends.Each(func(o kadm.ListedOffset) { total += max(o.Offset, 0) })
			if total >= n {
				return time.Since(start), nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// copyWithFranz is the plain copy: a franz-go consumer from the start of
// every partition and an idempotent acks=all producer to the same
// partition on the target.
func copyWithFranz(ctx context.Context, srcAddr, dstAddr string, n int, start time.Time) (time.Duration, error) {
	cons, err := kgo.NewClient(kgo.SeedBrokers(srcAddr), kgo.ConsumeTopics(mirrorBenchTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(dstAddr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer prod.Close()
	var acked atomic.Int64
	var failed atomic.Pointer[error]
	done := make(chan struct{})
	consumed := 0
	for consumed < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if err := fs.Err0(); err != nil {
			return 0, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			consumed++
			out := &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}
			prod.Produce(ctx, out, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.CompareAndSwap(nil, &err)
				}
				if acked.Add(1) == int64(n) {
					close(done)
				}
			})
		})
	}
	select {
	case <-done:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if p := failed.Load(); p != nil {
		return 0, *p
	}
	return time.Since(start), nil
}

// mirrorLag runs the mirror between two fresh brokers while a producer
// writes at mo.rate, and reports how far behind the target is: the delay
// from a record's timestamp (set when produced) to a consumer of the
// target seeing it, and the offset lag sampled every 100 ms.
func mirrorLag(ctx context.Context, opts Options, mo *mirrorBenchOptions, dir string) error {
	out := opts.Out
	src, err := startSluice(ctx, dir+"/src", opts.SluiceSettings)
	if err != nil {
		return err
	}
	defer src.Stop(context.Background())
	dst, err := startSluice(ctx, dir+"/dst", nil)
	if err != nil {
		return err
	}
	defer dst.Stop(context.Background())
	const topic = "mirror-lag"
	if err := createBenchTopic(ctx, src.Addr(), topic, opts.Partitions); err != nil {
		return err
	}
	m, err := mirror.New(mirror.Config{Source: []kgo.Opt{kgo.SeedBrokers(src.Addr())}, Target: []kgo.Opt{kgo.SeedBrokers(dst.Addr())}, RefreshInterval: time.Second, CopyStreams: mo.streams})
	if err != nil {
		return err
	}
	defer m.Close()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.Run(lctx)
	}()
	// Wait for the mirror topic before producing, so the first records
	// do not measure topic creation.
	if _, err := waitTopic(lctx, dst.Addr(), topic); err != nil {
		return err
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(dst.Addr()), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return err
	}
	defer cons.Close()
	var delays []int64 // microseconds
	var seen atomic.Int64
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		for lctx.Err() == nil {
			fs := cons.PollFetches(lctx)
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				delays = append(delays, now.Sub(r.Timestamp).Microseconds())
				seen.Add(1)
			})
		}
	}()

	prod, err := kgo.NewClient(kgo.SeedBrokers(src.Addr()), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		return err
	}
	defer prod.Close()
	adm := func(addr string) *kadm.Client {
		cl, _ := kgo.NewClient(kgo.SeedBrokers(addr))
		return kadm.NewClient(cl)
	}
	sadm, dadm := adm(src.Addr()), adm(dst.Addr())
	defer sadm.Close()
	defer dadm.Close()

	load0, cpu0 := loadAvg(), processCPU(os.Getpid())
	value := make([]byte, mo.size)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i+8 <= len(value); i += 8 {
		binary.LittleEndian.PutUint64(value[i:], rng.Uint64())
	}
	const tick = 10 * time.Millisecond
	perTick := mo.rate * tick.Seconds()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	sampler := time.NewTicker(100 * time.Millisecond)
	defer sampler.Stop()
	var lags []int64
	produced := 0
	start := time.Now()
	for time.Since(start) < mo.duration {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			want := int(perTick * float64(time.Since(start)/tick+1))
			for ; produced < want; produced++ {
				prod.Produce(lctx, &kgo.Record{Value: value, Timestamp: time.Now()}, nil)
			}
		case <-sampler.C:
			if l, err := offsetLag(lctx, sadm, dadm, topic); err == nil {
				lags = append(lags, l)
			}
		}
	}
	elapsed := time.Since(start)
	if err := prod.Flush(ctx); err != nil {
		return err
	}
	waitDone := time.Now()
	for seen.Load() < int64(produced) && time.Since(waitDone) < time.Minute {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-consumerDone
	if seen.Load() < int64(produced) {
		return fmt.Errorf("the target's consumer saw %d of %d records", seen.Load(), produced)
	}
	cpu := processCPU(os.Getpid()) - cpu0
	slices.Sort(delays)
	slices.Sort(lags)
	var lagSum int64
	for _, l := range lags {
		lagSum += l
	}
	fmt.Fprintf(out, "lag at %.0f records/s for %v (produced %.0f/s): source timestamp to target consumer p50 %.1f ms, p99 %.1f ms, max %.1f ms; offset lag mean %.0f, p99 %d, max %d records; process CPU %.0f%% of one core; loadavg %.2f -> %.2f\n",
		mo.rate, mo.duration, float64(produced)/elapsed.Seconds(),
		float64(percentile(delays, 0.50))/1000, float64(percentile(delays, 0.99))/1000, float64(delays[len(delays)-1])/1000,
		float64(lagSum)/float64(max(len(lags), 1)), percentile(lags, 0.99), lags[len(lags)-1],
		100*cpu.Seconds()/elapsed.Seconds(), load0, loadAvg())
	return nil
}

// waitTopic waits until topic exists on addr.
func waitTopic(ctx context.Context, addr, topic string) (kadm.TopicDetail, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return kadm.TopicDetail{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if td := md.Topics[topic]; td.Err == nil && len(td.Partitions) > 0 {
				return td, nil
			}
		}
		select {
		case <-ctx.Done():
			return kadm.TopicDetail{}, errors.Join(ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// offsetLag is the sum over partitions of the source's end offset minus
// the target's.
func offsetLag(ctx context.Context, src, dst *kadm.Client, topic string) (int64, error) {
	se, err := src.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	de, err := dst.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	var lag int64
	se.Each(func(o kadm.ListedOffset) {
		if d, ok := de.Lookup(topic, o.Partition); ok && d.Err == nil {
			lag += max(o.Offset-d.Offset, 0)
		}
	})
	return lag, nil
}
