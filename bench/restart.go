package main

// The restart benchmark (issue 15): one `sluice serve` child with a large
// log in many partitions is killed with SIGKILL and started again on the
// same directory; it reports how long until the broker listens, until the
// first acks=all produce is acknowledged, and until every partition
// answers ListOffsets with its end. The data is written once, with large
// batches and acks=all (fsynced, as Sluice acknowledges by default); the
// broker checkpoints its recovery points every 2 s here (Kafka's
// log.flush.offset.checkpoint.interval.ms, 60 s by default) and the bench
// waits for one before the kill. With -restart-acks1 the data is written
// with acks=1 instead: never fsynced, so the restart checks all of it.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RestartOptions configure -restart.
type RestartOptions struct {
	GB         float64 // data written before the kill
	Partitions int
	ValueSize  int
	Reps       int // kills and restarts of the same data
	Acks1      bool
}

const restartTopic = "restart-bench"

// RunRestart writes the data, then kills and restarts the broker Reps
// times, printing a line per restart.
func RunRestart(ctx context.Context, opts Options, ro RestartOptions) error {
	if ro.GB <= 0 || ro.Partitions <= 0 || ro.ValueSize <= 0 || ro.Reps <= 0 {
		return errors.New("-restart: want positive GB, partitions, value size and repetitions")
	}
	if opts.SluiceBin == "" {
		return errors.New("-restart runs Sluice as a child process: give -sluice-bin")
	}
	out := opts.Out
	dir, err := os.MkdirTemp(opts.TmpDir, "sluice-bench-restart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	settings := map[string]string{"log.flush.offset.checkpoint.interval.ms": "2000"}
	for k, v := range opts.SluiceSettings {
		settings[k] = v
	}
	start := func(ctx context.Context, listen string) (*childBroker, error) {
		return startSluiceChild(ctx, opts.SluiceBin, data, listen, settings, 2*time.Minute)
	}
	acks := "acks=all"
	if ro.Acks1 {
		acks = "acks=1"
	}
	fmt.Fprintf(out, "Sluice restart bench: %d CPUs, %s; %.1f GB in %d partitions, %s values, %s, 1 MiB batches; load average %.2f\n",
		runtime.NumCPU(), runtime.Version(), ro.GB, ro.Partitions, sizeString(ro.ValueSize), acks, loadAvg())
	b, err := start(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer func() {
		if b != nil {
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b.Stop(sctx)
		}
	}()
	if err := createTopics(ctx, b.Addr(), map[string]int{restartTopic: ro.Partitions}, 1, nil, time.Minute); err != nil {
		return err
	}
	t0 := time.Now()
	written, err := bulkLoad(ctx, b.Addr(), ro)
	if err != nil {
		return err
	}
	took := time.Since(t0)
	fmt.Fprintf(out, "wrote %.2f GB in %v (%.0f MB/s)\n", float64(written)/1e9, took.Round(time.Second), float64(written)/1e6/took.Seconds())
	ends, err := restartEndOffsets(ctx, b.Addr())
	if err != nil {
		return err
	}
	// One recovery-point checkpoint after the last write.
	select {
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	addr := b.Addr()
	for rep := range ro.Reps {
		b.Kill()
		b = nil
		t0 := time.Now()
		if b, err = start(ctx, addr); err != nil {
			return fmt.Errorf("restart %d: %w", rep, err)
		}
		listen := time.Since(t0)
		if err := firstAck(ctx, addr, restartTopic, int32(ro.Partitions-1), make([]byte, 100)); err != nil {
			return fmt.Errorf("restart %d: %w", rep, err)
		}
		ack := time.Since(t0)
		ends[int32(ro.Partitions-1)]++ // the first ack's record
		if err := waitRestartEnds(ctx, addr, ends); err != nil {
			return fmt.Errorf("restart %d: %w", rep, err)
		}
		all := time.Since(t0)
		fmt.Fprintf(out, "restart %d after kill -9: listening %.2fs, first acks=all ack %.2fs, every partition's end offset %.2fs (load average %.2f)\n",
			rep+1, listen.Seconds(), ack.Seconds(), all.Seconds(), loadAvg())
	}
	return nil
}

// bulkLoad writes ro.GB of ro.ValueSize records round-robin over the
// partitions in batches of up to 1 MiB, acks=1.
func bulkLoad(ctx context.Context, addr string, ro RestartOptions) (int64, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(restartTopic),
		kgo.RequiredAcks(acksOf(ro)),
		kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedBytes(256<<20),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	pool := newPayloadPool(ro.ValueSize)
	total := int64(ro.GB * 1e9)
	n := int(total / int64(ro.ValueSize))
	var firstErr error
	errs := make(chan error, 1)
	for i := range n {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		cl.Produce(ctx, &kgo.Record{Value: pool.value(i, ro.ValueSize)}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	select {
	case firstErr = <-errs:
	default:
	}
	if firstErr != nil {
		return 0, fmt.Errorf("bulk load: %w", firstErr)
	}
	return int64(n) * int64(ro.ValueSize), nil
}

func restartEndOffsets(ctx context.Context, addr string) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, restartTopic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	var ferr error
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && ferr == nil {
			ferr = o.Err
		}
		out[o.Partition] = o.Offset
	})
	return out, ferr
}

// waitRestartEnds polls until every partition answers with the end offset it had.
func waitRestartEnds(ctx context.Context, addr string, want map[int32]int64) error {
	for {
		got, err := restartEndOffsets(ctx, addr)
		if err == nil {
			ok := len(got) == len(want)
			for p, o := range want {
				ok = ok && got[p] == o
			}
			if ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("end offsets after the restart: %w (last: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func acksOf(ro RestartOptions) kgo.Acks {
	if ro.Acks1 {
		return kgo.LeaderAck()
	}
	return kgo.AllISRAcks()
}
