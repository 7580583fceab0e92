package main

// The txn workload: transactional producers, then a read_committed
// consumer. Each producer runs its own loop of BeginTransaction, w.txnSize
// asynchronous Produce calls, Flush and EndTransaction(TryCommit). Two
// latencies are measured per transaction: EndTransaction (EndTxn to the
// coordinator), and the whole transaction from BeginTransaction until the
// commit is answered. The second includes what a broker defers past its
// EndTxn answer: Kafka answers EndTxn before the markers are written, and
// the producer's next AddPartitionsToTxn gets CONCURRENT_TRANSACTIONS until
// they are, which franz-go retries after 20 ms. The consumer cannot check contiguous
// offsets, since every commit marker takes an offset; it checks the count
// per partition and that every value arrives exactly once.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// warmupTimeout bounds each producer's untimed first transaction: a broker
// that cannot answer InitProducerId for a transactional ID fails the run
// here instead of at -run-timeout.
const warmupTimeout = 30 * time.Second

func txnProducerOpts(addr, topic string, w workload, id int) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.TransactionalID(fmt.Sprintf("bench-txn-%d", id)), // implies acks=all and idempotence
		kgo.MaxBufferedRecords(max(10_000, 2*w.txnSize)),
	}
}

// txnProducer is one transactional client and the transactions it runs.
type txnProducer struct {
	cl  *kgo.Client
	txn []int // transaction numbers; transaction t holds records [t*txnSize, (t+1)*txnSize)
}

// produceTxn writes w.records records in transactions of w.txnSize, the
// transactions dealt round-robin to w.txnProducers producers that run at
// the same time. The clock runs from when every producer has finished its
// warm-up transaction to the last commit; p50 and p99 are EndTransaction
// latencies, txnP50 and txnP99 those of whole transactions. perPartition
// of the result counts committed records per partition of the topic.
func produceTxn(ctx context.Context, addr, topic string, partitions int, w workload, pool payloadPool) (produceResult, error) {
	txns := (w.records + w.txnSize - 1) / w.txnSize
	producers := make([]*txnProducer, min(w.txnProducers, txns))
	for k := range producers {
		cl, err := kgo.NewClient(txnProducerOpts(addr, topic, w, k)...)
		if err != nil {
			return produceResult{}, err
		}
		defer cl.Close()
		producers[k] = &txnProducer{cl: cl}
	}
	for t := range txns {
		p := producers[t%len(producers)]
		p.txn = append(p.txn, t)
	}

	// Warm up outside the timing: each producer gets its producer ID,
	// finds its coordinator and commits one transaction of 10 records to
	// another topic.
	wctx, wcancel := context.WithTimeout(ctx, warmupTimeout)
	defer wcancel()
	werrs := make([]error, len(producers))
	var wg sync.WaitGroup
	for k, p := range producers {
		wg.Go(func() { werrs[k] = p.warmUp(wctx, topic, w.size, pool) })
	}
	wg.Wait()
	if err := errors.Join(werrs...); err != nil {
		return produceResult{}, fmt.Errorf("warm-up transaction: %w", err)
	}

	perPartition := make([]atomic.Int64, partitions)
	commits := make([][]int64, len(producers))
	whole := make([][]int64, len(producers))
	errs := make([]error, len(producers))
	// A failed producer cancels the others, so the run ends promptly.
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	start := time.Now()
	for k, p := range producers {
		wg.Go(func() {
			commits[k], whole[k], errs[k] = p.run(pctx, w, pool, perPartition)
			if errs[k] != nil {
				pcancel()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return produceResult{}, err
	}
	lat, txnLat := slices.Concat(commits...), slices.Concat(whole...)
	slices.Sort(lat)
	slices.Sort(txnLat)
	res := produceResult{
		records:      w.records,
		bytes:        int64(w.records) * int64(w.size),
		elapsed:      elapsed,
		p50:          time.Duration(percentile(lat, 0.50)),
		p99:          time.Duration(percentile(lat, 0.99)),
		txnP50:       time.Duration(percentile(txnLat, 0.50)),
		txnP99:       time.Duration(percentile(txnLat, 0.99)),
		perPartition: make([]int64, partitions),
	}
	for i := range perPartition {
		res.perPartition[i] = perPartition[i].Load()
	}
	return res, nil
}

func (p *txnProducer) warmUp(ctx context.Context, topic string, size int, pool payloadPool) error {
	if err := p.cl.BeginTransaction(); err != nil {
		return err
	}
	warm := make([]*kgo.Record, 10)
	for i := range warm {
		warm[i] = &kgo.Record{Topic: warmupTopic(topic), Value: pool.value(i, size)}
	}
	if err := p.cl.ProduceSync(ctx, warm...).FirstErr(); err != nil {
		return err
	}
	return p.cl.EndTransaction(ctx, kgo.TryCommit)
}

// run commits p's transactions one after the other and returns, in
// nanoseconds, the latency of each EndTransaction and of each whole
// transaction.
func (p *txnProducer) run(ctx context.Context, w workload, pool payloadPool, perPartition []atomic.Int64) (commit, whole []int64, err error) {
	commit, whole = make([]int64, 0, len(p.txn)), make([]int64, 0, len(p.txn))
	var (
		errMu    sync.Mutex
		firstErr error
	)
	for _, t := range p.txn {
		first, end := t*w.txnSize, min((t+1)*w.txnSize, w.records)
		begin := time.Now()
		if err := p.cl.BeginTransaction(); err != nil {
			return nil, nil, fmt.Errorf("transaction %d: begin: %w", t, err)
		}
		for i := first; i < end; i++ {
			p.cl.Produce(ctx, &kgo.Record{Value: pool.value(i, w.size)}, func(r *kgo.Record, err error) {
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					return
				}
				perPartition[r.Partition].Add(1)
			})
		}
		if err := p.cl.Flush(ctx); err != nil {
			return nil, nil, fmt.Errorf("transaction %d: flush: %w", t, err)
		}
		errMu.Lock()
		err := firstErr
		errMu.Unlock()
		if err != nil {
			// Committing now would fail anyway (franz-go refuses a commit
			// after a failed record); the run is over.
			return nil, nil, fmt.Errorf("transaction %d: produce: %w", t, err)
		}
		t0 := time.Now()
		if err := p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return nil, nil, fmt.Errorf("transaction %d: commit: %w", t, err)
		}
		done := time.Now()
		commit, whole = append(commit, int64(done.Sub(t0))), append(whole, int64(done.Sub(begin)))
	}
	return commit, whole, nil
}

// valueIndex maps a value's first 8 bytes to the number of the record
// that carries it. The pool is random and each record's value is a
// different window of it, so 8 bytes tell the records apart; newValueIndex
// makes sure they do.
type valueIndex map[uint64]int32

func newValueIndex(pool payloadPool, records, size int) (valueIndex, error) {
	if size < 8 {
		return nil, fmt.Errorf("values of %d bytes are too short to identify; want at least 8", size)
	}
	idx := make(valueIndex, records)
	for i := range records {
		k := binary.LittleEndian.Uint64(pool.value(i, size))
		if j, dup := idx[k]; dup {
			return nil, fmt.Errorf("records %d and %d start with the same 8 bytes; choose another value size", j, i)
		}
		idx[k] = int32(i)
	}
	return idx, nil
}

// consumeCommitted reads the topic from the start with one read_committed
// consumer until it has every committed record. It checks that each
// partition holds as many records as were committed to it, that offsets
// only grow, and that every value arrives exactly once and intact.
func consumeCommitted(ctx context.Context, addr, topic string, pr produceResult, size int, pool payloadPool) (consumeResult, error) {
	idx, err := newValueIndex(pool, pr.records, size)
	if err != nil {
		return consumeResult{}, err
	}
	partitions := len(pr.perPartition)
	seen := make([]bool, pr.records)
	count := make([]int64, partitions)
	last := make([]int64, partitions)
	for i := range last {
		last[i] = -1
	}
	check := func(p int32, r *kgo.Record) error {
		if p < 0 || int(p) >= partitions {
			return fmt.Errorf("record from unknown partition %d", p)
		}
		if r.Offset <= last[p] {
			return fmt.Errorf("partition %d: offset %d after %d", p, r.Offset, last[p])
		}
		last[p] = r.Offset
		count[p]++
		if len(r.Value) != size {
			return fmt.Errorf("partition %d offset %d: value of %d bytes, want %d", p, r.Offset, len(r.Value), size)
		}
		i, ok := idx[binary.LittleEndian.Uint64(r.Value)]
		switch {
		case !ok || !bytes.Equal(r.Value, pool.value(int(i), size)):
			return fmt.Errorf("partition %d offset %d: a value that was never produced", p, r.Offset)
		case seen[i]:
			return fmt.Errorf("partition %d offset %d: record %d a second time", p, r.Offset, i)
		}
		seen[i] = true
		return nil
	}
	cr, err := consumeAll(ctx, []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}, pr.records, check)
	if err != nil {
		return consumeResult{}, err
	}
	for p, n := range count {
		if n != pr.perPartition[p] {
			return consumeResult{}, fmt.Errorf("partition %d: consumed %d records, %d were committed to it", p, n, pr.perPartition[p])
		}
	}
	return cr, nil
}
