package schemaregistry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic is the compacted topic the registry keeps its state in.
const Topic = "_schemas"

// Log is the writer's way into the _schemas partition: this broker's
// leader replica of it. The node implements it over the broker's replicas.
type Log interface {
	// Append writes records as leader, acks=all, and returns the offset
	// of the last one. It fails when this broker does not lead the
	// partition.
	Append(ctx context.Context, recs []Record) (int64, error)
	// EndOffset is the local replica's log end offset.
	EndOffset() (int64, error)
}

// Config configures a registry.
type Config struct {
	NodeID int32
	// URL is where other nodes forward writes to while this node is the
	// writer (http://host:port).
	URL string
	// Seeds and ClientOpts reach the cluster's Kafka listener: the reader
	// consumes _schemas and the topic is created through them.
	Seeds      []string
	ClientOpts []kgo.Opt
	// ReplicationFactor of the topic when the registry creates it.
	ReplicationFactor int
	// Log appends as writer.
	Log Log
	// Writer returns the node that leads _schemas partition 0, and its
	// leader epoch, from the cluster metadata: that node is the writer.
	// It returns -1 while the partition has no leader; exists is false
	// while the topic does not exist.
	Writer func() (node int32, epoch int32, exists bool)
	Logger *slog.Logger
	// MaxBodyBytes caps a request body (default 4 MiB).
	MaxBodyBytes int64
	// Timeout bounds how long a request waits for the registry to load,
	// for a writer to be known, or for its write (default 30 s).
	Timeout time.Duration
}

// Registry is one node's schema registry: the state rebuilt from _schemas
// and, when this node is the writer, the only place new records come from.
type Registry struct {
	cfg Config
	log *slog.Logger

	// mu guards st, applied, ready and changed. The reader goroutine
	// changes them; everyone else reads.
	mu      sync.RWMutex
	st      *state
	applied int64 // next offset of _schemas to apply
	ready   bool  // caught up with the end of the topic seen at start
	// changed is closed (and replaced) whenever the reader applied
	// records or became ready.
	changed chan struct{}

	// wmu serialises writes: one at a time, each applied before the next
	// is planned. announced is the leader epoch this node last announced
	// itself writer at (-1: never).
	wmu       sync.Mutex
	announced int32

	// led asks the writer loop to announce this node as writer.
	led chan struct{}
	// created tells the reader this node created the topic.
	created chan struct{}
	// forwarder sends writes on to the writer.
	forwarder *http.Client
	// cl is the reader's client, set (under mu) before the registry is
	// ready; writes create the topic through it.
	cl *kgo.Client
}

// New returns a registry; Run loads and follows its state.
func New(cfg Config) *Registry {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.ReplicationFactor <= 0 {
		cfg.ReplicationFactor = 1
	}
	return &Registry{
		cfg:       cfg,
		log:       cfg.Logger,
		st:        newState(),
		changed:   make(chan struct{}),
		announced: -1,
		led:       make(chan struct{}, 1),
		created:   make(chan struct{}, 1),
		forwarder: &http.Client{Timeout: cfg.Timeout},
	}
}

// Led tells the registry that this broker now leads _schemas partition 0:
// it announces itself as the writer in the background, so that other
// nodes learn where to forward writes.
func (r *Registry) Led() {
	select {
	case r.led <- struct{}{}:
	default:
	}
}

// Run loads the state from the start of _schemas and follows it until
// ctx ends. It also announces this node as writer when Led says so. The
// topic is created by the first write, not here: a broker whose registry
// was never used has no _schemas.
func (r *Registry) Run(ctx context.Context) error {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(r.cfg.Seeds...),
		kgo.ClientID("sluice-schema-registry"),
		kgo.FetchMaxWait(time.Second),
		kgo.MetadataMinAge(250 * time.Millisecond),
	}, r.cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("schema registry client: %w", err)
	}
	defer cl.Close()
	target, exists, err := r.startOffset(ctx, kadm.NewClient(cl))
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.cl = cl
	r.mu.Unlock()
	r.log.Info("schema registry loading", "topic", Topic, "end_offset", target)
	if target <= 0 {
		r.markReady()
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.writerLoop(ctx)
	}()
	defer wg.Wait()
	// Until the topic exists (made by a first write, here or on another
	// node) there is nothing to read, and no client asks for it.
	if !exists && !r.waitTopic(ctx) {
		return nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{Topic: {0: kgo.NewOffset().AtStart()}})
	for ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		fetches.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, kerr.UnknownTopicOrPartition) {
				r.log.Warn("schema registry fetch", "topic", t, "partition", p, "err", err)
			}
		})
		var recs []*kgo.Record
		fetches.EachRecord(func(rec *kgo.Record) { recs = append(recs, rec) })
		if len(recs) > 0 {
			r.applyRecords(recs, target)
		}
	}
	return nil
}

// startOffset returns the end offset of _schemas, what the registry must
// have read before it answers, and whether the topic exists (0 when it
// does not). It retries until the cluster answers.
func (r *Registry) startOffset(ctx context.Context, adm *kadm.Client) (int64, bool, error) {
	backoff := 100 * time.Millisecond
	for {
		end, exists, err := endOffset(ctx, adm)
		if err == nil {
			return end, exists, nil
		}
		r.log.Debug("schema registry: end of "+Topic+" not known yet", "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return 0, false, ctx.Err()
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func endOffset(ctx context.Context, adm *kadm.Client) (int64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	topics, err := adm.ListTopics(ctx, Topic)
	if err != nil {
		return 0, false, err
	}
	if !topics.Has(Topic) {
		return 0, false, nil
	}
	ends, err := adm.ListEndOffsets(ctx, Topic)
	if err != nil {
		return 0, true, err
	}
	o, ok := ends.Lookup(Topic, 0)
	if !ok {
		return 0, true, fmt.Errorf("%s-0 has no end offset yet", Topic)
	}
	return o.Offset, true, o.Err
}

// waitTopic waits until _schemas exists: this node created it
// (createTopic), or the cluster metadata, read locally every
// topicCheckInterval, shows it. It returns false when ctx ends first.
func (r *Registry) waitTopic(ctx context.Context) bool {
	t := time.NewTicker(topicCheckInterval)
	defer t.Stop()
	for {
		if _, _, exists := r.cfg.Writer(); exists {
			return true
		}
		select {
		case <-r.created:
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
}

// topicCheckInterval is how often a registry whose topic does not exist
// yet looks at the local metadata for it: no network, a map lookup.
const topicCheckInterval = time.Second

// createTopic creates _schemas (one partition, compacted), for the first
// write, and waits until it has a leader.
func (r *Registry) createTopic(ctx context.Context) error {
	r.mu.RLock()
	cl := r.cl
	r.mu.RUnlock()
	compact, maxBytes := "compact", strconv.Itoa(maxRecordBatchBytes)
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, int16(r.cfg.ReplicationFactor), map[string]*string{
		"cleanup.policy":    &compact,
		"max.message.bytes": &maxBytes,
	}, Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return errStore(fmt.Sprintf("create %s: %v", Topic, err))
	}
	if err == nil {
		r.log.Info("created the schema registry topic", "topic", Topic, "replication_factor", r.cfg.ReplicationFactor)
	}
	select {
	case r.created <- struct{}{}:
	default:
	}
	cl.ForceMetadataRefresh()
	for {
		if node, _, _ := r.cfg.Writer(); node >= 0 {
			return nil
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return errTimeout(Topic + " has no leader yet")
		}
	}
}

// maxRecordBatchBytes is the _schemas topic's max.message.bytes: room for
// the largest request body, escaped in JSON.
const maxRecordBatchBytes = 16 << 20

// applyRecords applies fetched records in order and wakes waiters.
func (r *Registry) applyRecords(recs []*kgo.Record, target int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		if rec.Offset < r.applied {
			continue
		}
		d, err := decodeRecord(rec.Key, rec.Value)
		if err != nil {
			r.log.Warn("schema registry skips a record it cannot read", "offset", rec.Offset, "err", err)
		} else {
			r.st.apply(d)
		}
		r.applied = rec.Offset + 1
	}
	r.st.resolvePending()
	if !r.ready && r.applied >= target {
		r.ready = true
		r.log.Info("schema registry loaded", "subjects", len(r.st.subjects), "schemas", len(r.st.schemas), "offset", r.applied)
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Registry) markReady() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ready {
		r.ready = true
		close(r.changed)
		r.changed = make(chan struct{})
	}
}

// waitFor waits until cond holds of the state (checked under the read
// lock after every change) or ctx ends.
func (r *Registry) waitFor(ctx context.Context, cond func() bool) error {
	for {
		r.mu.RLock()
		ok, ch := cond(), r.changed
		r.mu.RUnlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitReady waits until the state is loaded.
func (r *Registry) waitReady(ctx context.Context) error {
	if err := r.waitFor(ctx, func() bool { return r.ready }); err != nil {
		return errTimeout("the schema registry is still loading " + Topic)
	}
	return nil
}

// waitApplied waits until the record at offset is applied.
func (r *Registry) waitApplied(ctx context.Context, offset int64) error {
	if err := r.waitFor(ctx, func() bool { return r.applied > offset }); err != nil {
		return errTimeout(fmt.Sprintf("the schema registry has not read %s up to offset %d yet", Topic, offset))
	}
	return nil
}

// read runs f on the loaded state under the read lock.
func (r *Registry) read(ctx context.Context, f func(st *state) error) error {
	if err := r.waitReady(ctx); err != nil {
		return err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return f(r.st)
}

// errNotWriter says another node (or none yet) is the writer.
type errNotWriter struct{ writer int32 }

func (e errNotWriter) Error() string {
	if e.writer < 0 {
		return "no schema registry writer is known (the " + Topic + " partition has no leader)"
	}
	return fmt.Sprintf("node %d is the schema registry writer", e.writer)
}

// write plans records against the current state and appends them as the
// writer, then waits until they are applied here, so the next read sees
// them. plan runs under the state's read lock; it returns the records to
// append (none: nothing to write) and the answer. Writes are serialised.
// It returns the offset of the last record written (-1: none).
func (r *Registry) write(ctx context.Context, plan func(st *state) ([]Record, any, error)) (any, int64, error) {
	if err := r.waitReady(ctx); err != nil {
		return nil, -1, err
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if err := r.becomeWriter(ctx); err != nil {
		return nil, -1, err
	}
	r.mu.RLock()
	recs, res, err := plan(r.st)
	r.mu.RUnlock()
	if err != nil || len(recs) == 0 {
		return res, -1, err
	}
	last, err := r.append(ctx, recs)
	if err != nil {
		return nil, -1, err
	}
	return res, last, nil
}

// append appends as writer and waits until the records are applied.
func (r *Registry) append(ctx context.Context, recs []Record) (int64, error) {
	last, err := r.cfg.Log.Append(ctx, recs)
	if err != nil {
		if errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.FencedLeaderEpoch) {
			node, _, _ := r.cfg.Writer()
			return -1, errNotWriter{node}
		}
		return -1, errStore(fmt.Sprintf("write to %s: %v", Topic, err))
	}
	if err := r.waitApplied(ctx, last); err != nil {
		return -1, err
	}
	return last, nil
}

// becomeWriter checks that this node is the writer and that its state
// holds everything in the log (what earlier writers wrote included), and
// announces it as writer once per leader epoch. Called under wmu.
func (r *Registry) becomeWriter(ctx context.Context) error {
	node, epoch, exists := r.cfg.Writer()
	if !exists {
		if err := r.createTopic(ctx); err != nil {
			return err
		}
		node, epoch, _ = r.cfg.Writer()
	}
	if node != r.cfg.NodeID {
		return errNotWriter{node}
	}
	end, err := r.cfg.Log.EndOffset()
	if err != nil {
		return errNotWriter{-1}
	}
	if err := r.waitApplied(ctx, end-1); err != nil {
		return err
	}
	if r.announced == epoch {
		return nil
	}
	r.mu.RLock()
	maxID := r.st.maxID
	r.mu.RUnlock()
	self := r.cfg.NodeID
	rec := Record{Key: noopKey(), Value: mustJSON(noopValue{WriterNode: &self, WriterURL: r.cfg.URL, WriterEpoch: epoch, MaxID: maxID})}
	if _, err := r.append(ctx, []Record{rec}); err != nil {
		return err
	}
	r.announced = epoch
	r.log.Info("schema registry writer", "node_id", self, "url", r.cfg.URL, "leader_epoch", epoch, "max_id", maxID)
	return nil
}

// writerLoop announces this node as writer when it starts leading
// _schemas, retrying while its state catches up.
func (r *Registry) writerLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.led:
		}
		for attempt := 0; ctx.Err() == nil; attempt++ {
			err := r.announce(ctx)
			if err == nil {
				break
			}
			var nw errNotWriter
			if errors.As(err, &nw) {
				break // leadership moved on
			}
			r.log.Debug("schema registry writer announcement", "err", err)
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}
}

func (r *Registry) announce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	if err := r.waitReady(ctx); err != nil {
		return err
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	return r.becomeWriter(ctx)
}

// writerURL returns where to forward writes: the URL the current writer
// announced. ok is false while the writer has not announced itself at its
// current leadership.
func (r *Registry) writerURL() (node int32, url string, ok bool) {
	node, _, _ = r.cfg.Writer()
	r.mu.RLock()
	defer r.mu.RUnlock()
	if node < 0 || r.st.writerNode != node || r.st.writerURL == "" {
		return node, "", false
	}
	return node, r.st.writerURL, true
}

// refresh makes the reader look for _schemas again now, when another node
// may just have created it.
func (r *Registry) refresh() {
	r.mu.RLock()
	cl := r.cl
	r.mu.RUnlock()
	if cl != nil {
		cl.ForceMetadataRefresh()
	}
}

// Registered reports whether id names a schema this node has read. An ID
// above the highest it has read may be a schema just registered through
// another node: it waits, within ctx and at most registeredWait, for the
// reader to catch up.
func (r *Registry) Registered(ctx context.Context, id int32) bool {
	r.mu.RLock()
	ok, maxID, ready := r.st.schemas[int(id)] != nil, r.st.maxID, r.ready
	r.mu.RUnlock()
	if ok || id <= 0 || (ready && int(id) <= maxID) {
		return ok
	}
	ctx, cancel := context.WithTimeout(ctx, registeredWait)
	defer cancel()
	r.refresh()
	return r.waitFor(ctx, func() bool { return r.st.schemas[int(id)] != nil }) == nil
}

// registeredWait bounds how long a produce waits for a schema ID this node
// has not read yet.
const registeredWait = 3 * time.Second
