package main

// The restart benchmark (issue 15): one `sluice serve` child with a large
// log in many partitions is killed with SIGKILL and started again on the
// same directory; it reports how long until the broker listens, until the
// first acks=all produce is acknowledged, and until every partition
// answers ListOffsets with its end. The data is written once, with large
// batches and acks=1 (no fsync per batch, as a bulk load), so that the
// restart has the most unflushed tail to recover.

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
	start := func(ctx context.Context, listen string) (*childBroker, error) {
		return startSluiceChild(ctx, opts.SluiceBin, data, listen, opts.SluiceSettings, 2*time.Minute)
	}
	fmt.Fprintf(out, "Sluice restart bench: %d CPUs, %s; %.1f GB in %d partitions, %s values, acks=1 bulk load; load average %.2f\n",
		runtime.NumCPU(), runtime.Version(), ro.GB, ro.Partitions, sizeString(ro.ValueSize), loadAvg())
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
		kgo.RequiredAcks(kgo.LeaderAck()),
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
