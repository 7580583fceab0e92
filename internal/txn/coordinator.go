package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/record"
)

// Defaults for Config fields left zero, Kafka's broker defaults.
const (
	defaultPartitions         = 50
	defaultMaxTimeout         = 15 * time.Minute
	defaultIDExpiration       = 7 * 24 * time.Hour
	defaultAbortTimedOutEvery = 10 * time.Second
	defaultRemoveExpiredEvery = time.Hour

	// appendTimeout bounds one write to __transaction_state (Kafka uses
	// request.timeout.ms for the coordinator's appends).
	appendTimeout = 30 * time.Second
	// maxRecordsBytes caps decompression while replaying a partition.
	maxRecordsBytes = 100 << 20
)

// Lock order: coordinator.mu, then partition.mu, then coordinator.bgMu. Neither is held across
// Log.Append, Markers.Write or ProducerIDs.Next.
type coordinator struct {
	cfg    Config
	logger *slog.Logger
	now    func() time.Time

	// Marker retries back off from minBackoff, doubling up to maxBackoff.
	minBackoff, maxBackoff time.Duration

	mu    sync.RWMutex
	parts map[int32]*partition

	expiryMu   sync.Mutex
	nextExpiry int64 // when Tick next removes expired IDs, in ms

	// bgMu guards closed: once set, no background work may start.
	bgMu   sync.Mutex
	closed bool

	// bgCtx ends when Run's context ends; every background goroutine
	// runs under it (through its partition's context) and is counted in
	// bg, which Run waits for.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
}

// partition is one loaded (or loading) __transaction_state partition.
type partition struct {
	id    int32
	epoch int32 // the coordinator epoch it was loaded at
	// ctx ends when the partition is unloaded: its marker work stops.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	loading  bool
	unloaded bool
	txns     map[string]*txn
}

func newCoordinator(cfg Config) *coordinator {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = defaultPartitions
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = defaultMaxTimeout
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = defaultIDExpiration
	}
	if cfg.AbortTimedOutEvery <= 0 {
		cfg.AbortTimedOutEvery = defaultAbortTimedOutEvery
	}
	if cfg.RemoveExpiredEvery <= 0 {
		cfg.RemoveExpiredEvery = defaultRemoveExpiredEvery
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &coordinator{
		cfg:        cfg,
		logger:     cfg.Logger,
		now:        cfg.Now,
		minBackoff: 100 * time.Millisecond,
		maxBackoff: 10 * time.Second,
		parts:      make(map[int32]*partition),
		bgCtx:      ctx,
		bgCancel:   cancel,
	}
}

// nowMs is the injected clock in Kafka's milliseconds.
func (c *coordinator) nowMs() int64 { return c.now().UnixMilli() }

// partitionFor is the __transaction_state partition of a transactional
// ID.
func (c *coordinator) partitionFor(id string) int32 {
	return cluster.CoordinatorPartition(id, c.cfg.Partitions)
}

// lookup returns the loaded partition of a transactional ID, or the code
// Kafka answers when this broker cannot serve it. On success p.mu is held
// and the caller unlocks it.
func (c *coordinator) lookup(id string) (p *partition, code int16) {
	c.mu.RLock()
	p = c.parts[c.partitionFor(id)]
	c.mu.RUnlock()
	if p == nil || !c.inSession() {
		return nil, kerr.NotCoordinator.Code
	}
	p.mu.Lock()
	switch {
	case p.unloaded:
		p.mu.Unlock()
		return nil, kerr.NotCoordinator.Code
	case p.loading:
		p.mu.Unlock()
		return nil, kerr.CoordinatorLoadInProgress.Code
	}
	return p, 0
}

// write appends v as t's next state and, once it is durable, makes it t's
// current state; a Dead v is written as a tombstone and removes t. A
// durable Prepare* state starts the transaction's completion. The caller has set t.pending to v
// and holds no lock. A failed write clears t.pending and leaves t as it
// was. The code is Kafka's for the client (TransactionStateManager's
// appendTransactionToLog): NOT_COORDINATOR when the partition moved away
// meanwhile.
func (c *coordinator) write(ctx context.Context, p *partition, t *txn, v *txnValue) int16 {
	var value []byte
	if v.state != stateDead {
		value = v.marshal()
	}
	err := c.append(ctx, p.id, txnKey(t.id), value)

	p.mu.Lock()
	defer p.mu.Unlock()
	mine := !p.unloaded && p.txns[t.id] == t
	if err != nil {
		if mine && t.pending == v {
			t.pending = nil
		}
		code := appendCode(err)
		c.logger.Warn("transaction state write failed", "transactional_id", t.id, "topic", StateTopic, "partition", p.id, "code", kerr.ErrorForCode(code), "err", err)
		return code
	}
	if !mine || t.pending != v {
		// Unloaded, or reloaded at a newer epoch, during the write.
		return kerr.NotCoordinator.Code
	}
	t.pending = nil
	t.failedFence = false
	if v.state == stateDead {
		delete(p.txns, t.id)
		return 0
	}
	t.cur = *v
	if v.state == statePrepareCommit || v.state == statePrepareAbort {
		c.startCompletion(p, t)
	}
	return 0
}

// append writes one record to a partition of __transaction_state with
// acks=all. It outlives the request that caused it (a client that leaves
// does not cancel a state transition half way), bounded by appendTimeout.
func (c *coordinator) append(ctx context.Context, partition int32, key, value []byte) error {
	batch, err := record.Build(record.BuildOptions{BaseTimestamp: c.nowMs()},
		[]record.Record{{Key: key, Value: value}})
	if err != nil {
		return fmt.Errorf("build %s batch: %w", StateTopic, err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	// Cut off from its followers, this broker would wait for the whole
	// timeout; once its session lapses, the client should find the new
	// coordinator instead.
	ctx, stop := cluster.WithinSession(ctx, c.cfg.SessionExpiry)
	defer stop()
	if _, err := c.cfg.Log.Append(ctx, partition, batch); err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, cluster.ErrSessionLapsed) {
			err = cause
		}
		return fmt.Errorf("append to %s-%d: %w", StateTopic, partition, err)
	}
	return nil
}

// inSession reports whether this broker's session with the controller
// still holds, so that its image's leaderships are its own.
func (c *coordinator) inSession() bool {
	if c.cfg.SessionExpiry == nil {
		return true
	}
	exp, bounded := c.cfg.SessionExpiry()
	return !bounded || time.Now().Before(exp)
}

// appendCode maps a failed append to the code Kafka's
// TransactionStateManager answers: leadership lost is NOT_COORDINATOR,
// too few replicas or a timeout is the retriable COORDINATOR_NOT_AVAILABLE
// (the client looks the coordinator up again), and anything else is
// UNKNOWN_SERVER_ERROR. A write given up because this broker's session
// lapsed is NOT_COORDINATOR too: its partition has, or is about to have,
// another leader.
func appendCode(err error) int16 {
	if errors.Is(err, cluster.ErrSessionLapsed) {
		return kerr.NotCoordinator.Code
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.NotLeaderForPartition, kerr.KafkaStorageError, kerr.NotCoordinator:
			return kerr.NotCoordinator.Code
		case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend,
			kerr.RequestTimedOut, kerr.CoordinatorNotAvailable:
			return kerr.CoordinatorNotAvailable.Code
		}
		return kerr.UnknownServerError.Code
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return kerr.CoordinatorNotAvailable.Code
	}
	return kerr.UnknownServerError.Code
}

// goBackground runs fn under p's context, counted in c.bg; it reports
// false when the coordinator has stopped.
func (c *coordinator) goBackground(fn func()) bool {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closed {
		return false
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		fn()
	}()
	return true
}

// sleep waits for the backoff of the attempt-th retry or for ctx to end,
// and reports whether to go on.
func (c *coordinator) sleep(ctx context.Context, attempt int) bool {
	d := c.minBackoff
	for i := 0; i < attempt && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (c *coordinator) run(ctx context.Context) {
	tick := time.NewTicker(c.cfg.AbortTimedOutEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			c.stop()
			return
		case <-tick.C:
			c.tick(ctx)
		}
	}
}

// stop ends every partition's background work and waits for it.
func (c *coordinator) stop() {
	c.bgMu.Lock()
	c.closed = true
	c.bgMu.Unlock()
	c.bgCancel()
	c.bg.Wait()
}
