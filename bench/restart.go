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
// With -restart-cold the page cache is dropped after each kill (root
// only), so the restart reads from the disk, as after a power cycle; each
// line gives the bytes the broker read from storage by its first ack.
// -restart-dir keeps the data directory, and a later run on it skips the
// write.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	Cold       bool   // drop the page cache after each kill
	Dir        string // keep the data here; reuse what a previous run wrote
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
	if ro.Cold && runtime.GOOS != "linux" {
		return errors.New("-restart-cold drops Linux's page cache")
	}
	out := opts.Out
	dir := ro.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp(opts.TmpDir, "sluice-bench-restart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	data := filepath.Join(dir, "data")
	stateFile := filepath.Join(dir, "restart-state.json")
	st, err := readRestartState(stateFile, ro.Partitions)
	if err != nil {
		return err
	}
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
	var b *childBroker
	defer func() {
		if b != nil && ro.Dir != "" {
			b.Kill() // the next run on the directory restarts after a crash too
		} else if b != nil {
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b.Stop(sctx)
		}
	}()
	if st.Ends == nil {
		if b, err = start(ctx, "127.0.0.1:0"); err != nil {
			return err
		}
		st.Addr = b.Addr()
		if st.Ends, err = restartLoad(ctx, out, st.Addr, ro); err != nil {
			return err
		}
		if err := st.write(stateFile); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "reusing the data in %s\n", data)
	}
	addr, ends := st.Addr, st.Ends
	for rep := range ro.Reps {
		if b != nil {
			b.Kill()
			b = nil
		}
		if ro.Cold {
			if err := dropPageCache(); err != nil {
				return err
			}
		}
		t0 := time.Now()
		if b, err = start(ctx, addr); err != nil {
			return fmt.Errorf("restart %d: %w", rep, err)
		}
		listen := time.Since(t0)
		if err := firstAck(ctx, addr, restartTopic, int32(ro.Partitions-1), make([]byte, 100)); err != nil {
			return fmt.Errorf("restart %d: %w", rep, err)
		}
		ack := time.Since(t0)
		read := processReadBytes(b.Pid())
		ends[int32(ro.Partitions-1)]++ // the first ack's record
		if err := st.write(stateFile); err != nil {
			return err
		}
		if err := waitRestartEnds(ctx, addr, ends); err != nil {
			return fmt.Errorf("restart %d: %w", rep, err)
		}
		all := time.Since(t0)
		// The broker runs through a recovery-point checkpoint before the
		// next kill, as one that served for a while has.
		if err := sleepCtx(ctx, restartCheckpointWait); err != nil {
			return err
		}
		cache := "warm"
		if ro.Cold {
			cache = "cold"
		}
		fmt.Fprintf(out, "restart %d after kill -9 (%s page cache): listening %.2fs, first acks=all ack %.2fs (%s read from storage), every partition's end offset %.2fs (load average %.2f)\n",
			rep+1, cache, listen.Seconds(), ack.Seconds(), bytesString(read), all.Seconds(), loadAvg())
	}
	return nil
}

// restartLoad creates the topic on the broker at addr, writes the data,
// waits for a recovery-point checkpoint and returns the end offsets.
func restartLoad(ctx context.Context, out io.Writer, addr string, ro RestartOptions) (map[int32]int64, error) {
	if err := createTopics(ctx, addr, map[string]int{restartTopic: ro.Partitions}, 1, nil, time.Minute); err != nil {
		return nil, err
	}
	t0 := time.Now()
	written, err := bulkLoad(ctx, addr, ro)
	if err != nil {
		return nil, err
	}
	took := time.Since(t0)
	fmt.Fprintf(out, "wrote %.2f GB in %v (%.0f MB/s)\n", float64(written)/1e9, took.Round(time.Second), float64(written)/1e6/took.Seconds())
	ends, err := restartEndOffsets(ctx, addr)
	if err != nil {
		return nil, err
	}
	// One recovery-point checkpoint after the last write.
	if err := sleepCtx(ctx, restartCheckpointWait); err != nil {
		return nil, err
	}
	return ends, nil
}

// restartCheckpointWait outlasts the 2 s recovery-point checkpoint
// interval the bench gives the broker.
const restartCheckpointWait = 5 * time.Second

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// restartState is what a run leaves beside its data for a later run
// (-restart-dir): the broker's address and the partitions' end offsets.
type restartState struct {
	Addr string
	Ends map[int32]int64
}

// readRestartState reads the state a previous run left: empty when there
// is none (the data is to be written).
func readRestartState(path string, partitions int) (restartState, error) {
	var st restartState
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	if len(st.Ends) != partitions || st.Addr == "" {
		return st, fmt.Errorf("%s holds %d partitions at %q, not -restart-partitions %d", path, len(st.Ends), st.Addr, partitions)
	}
	return st, nil
}

func (st restartState) write(path string) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// bytesString prints a byte count in MB, or "?" when unknown.
func bytesString(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
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
