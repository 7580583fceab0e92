package mirror

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/ctxtime"
)

// Translating mode, for a target that is not Sluice (MirrorMaker 2's way):
// offsets cannot be kept there, so committed records are consumed from the
// source (read_committed) and produced to the target by an idempotent
// producer, partition to partition, with their keys, values, headers and
// timestamps. Which source offset landed at which target offset is written
// to a compacted offset-sync topic on the target; the mirror resumes after
// the last sync (at least once: records copied after it are copied again),
// and group offsets are translated through the syncs it remembers (those
// of the latest copied records, and the last syncsKept written per
// partition, which the compacted topic keeps under cycling slots, so a
// restarted mirror reads its history back): a
// source offset just after a synced record maps exactly, any other to just
// after the nearest synced record before it (a consumer may see a few
// records again, never skip one). Topics are not read-only on such a
// target, and nothing stops a producer from writing to them.

// OffsetSyncTopic is the offset-sync topic of a source alias on the target.
func OffsetSyncTopic(alias string) string { return "sluice-mirror.offset-syncs." + alias }

// CheckpointTopic is the checkpoint topic of a source alias on the target,
// named as MirrorMaker 2 names it: the translated offsets of the groups the
// mirror syncs, for tools that read them rather than the groups.
func CheckpointTopic(alias string) string { return alias + ".checkpoints.internal" }

// checkpointKey and checkpoint are a checkpoint record's key and value
// (JSON): group's committed Upstream offset of a source partition is
// Downstream on the target topic.
type checkpointKey struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

type checkpoint struct {
	TargetTopic string `json:"target_topic"`
	Upstream    int64  `json:"upstream"`
	Downstream  int64  `json:"downstream"`
	Metadata    string `json:"metadata,omitempty"`
}

// offsetSync says that source offset Source of a partition is at target
// offset Target.
type offsetSync struct {
	Source int64 `json:"source"`
	Target int64 `json:"target"`
}

// syncsKept bounds the syncs remembered per partition for translation:
// the latest copied records', and the history written to the offset-sync
// topic, each.
const syncsKept = 256

// syncKey is an offset-sync record's key (JSON). Slot cycles through
// syncsKept values per partition, so that the compacted topic keeps the
// partition's last syncsKept syncs: the translation history a restarted
// mirror reads back. (Keys without a slot, written before slots existed,
// read as slot 0.)
type syncKey struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Slot      int    `json:"slot"`
	// Claim marks a claim record rather than a sync: the mirror owns the
	// target topic of source topic Topic. It is written when the mirror
	// creates or adopts that topic, before copying into it, so that a
	// mirror stopped before its first sync still knows the topic as its
	// own. Its value is the target topic's name as a JSON string, which
	// does not decode as an offsetSync.
	Claim bool `json:"claim,omitempty"`
}

// finalTimeout bounds each step of a translating round's end (the flush of
// copied records, the last offset syncs) and the last group offset sync
// at shutdown: a target that stopped answering must not keep the mirror
// from stopping, and records it did not take are copied again after the
// last sync.
const finalTimeout = 5 * time.Second

// Restarts of a failed round wait restartBackoff, doubled after each round
// that copied nothing, up to maxRestartBackoff.
const (
	restartBackoff    = time.Second
	maxRestartBackoff = 30 * time.Second
)

// translator is the translating mode's state.
type translator struct {
	m  *Mirror
	mu sync.Mutex
	// recent are the syncs of the latest copied records per source
	// topic/partition, oldest first; history those written to the
	// offset-sync topic (or read back from it), oldest first.
	recent, history map[tp][]offsetSync
	// nextSlot is the slot of each partition's next written sync.
	nextSlot map[tp]int
	// checkpointed is the last checkpoint written per group partition
	// (used by syncGroups only).
	checkpointed map[checkpointKey]checkpoint
	// claimed maps the source topics whose target topics this mirror
	// claimed (read back from the offset-sync topic) to the target topic
	// claimed; "" when only an offset sync, which names no target, says
	// so.
	claimed map[string]string
	// synced tells syncGroupsLoop that the offset syncs were read once,
	// so group offsets can be translated; it is closed by the first round.
	synced     chan struct{}
	syncedOnce sync.Once
	// lastEndOK is whether the last round's end flushed its records and
	// wrote its syncs (false: the target did not answer in time).
	lastEndOK bool
}

// runTranslating mirrors into a target that is not Sluice until ctx ends.
func (m *Mirror) runTranslating(ctx context.Context) error {
	m.logger.Warn("the target does not keep offsets (not a Sluice cluster): copying at least once, with offset syncs for group offsets (MirrorMaker 2 style)",
		"offset_sync_topic", OffsetSyncTopic(m.cfg.SourceAlias), "checkpoint_topic", CheckpointTopic(m.cfg.SourceAlias))
	tr := &translator{m: m, recent: map[tp][]offsetSync{}, history: map[tp][]offsetSync{}, nextSlot: map[tp]int{},
		checkpointed: map[checkpointKey]checkpoint{}, claimed: map[string]string{}, synced: make(chan struct{}), lastEndOK: true}
	for _, topic := range []string{OffsetSyncTopic(m.cfg.SourceAlias), CheckpointTopic(m.cfg.SourceAlias)} {
		for {
			_, err := m.dstAdm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topic)
			if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
				break
			}
			m.logger.Warn("create a topic of the translating mirror; retrying", "topic", topic, "err", err)
			ctxtime.Sleep(ctx, time.Second)
			if ctx.Err() != nil {
				return nil
			}
		}
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
		// The copy has stopped and its last syncs are written: the
		// groups' latest commits translate through them. Skipped when
		// the target did not answer the round's end.
		if tr.lastEndOK {
			m.finalGroupSync(tr.synced, tr.syncGroups)
		}
	}()
	if m.cfg.Groups != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.syncGroupsLoop(ctx, tr.synced, tr.syncGroups)
		}()
	}
	backoff := restartBackoff
	for ctx.Err() == nil {
		progressed, err := tr.copyRound(ctx)
		if err == nil || ctx.Err() != nil {
			backoff = restartBackoff
			continue
		}
		if progressed {
			backoff = restartBackoff
		}
		m.logger.Warn("translating mirror: restarting the copy", "err", err, "retry_in", backoff)
		ctxtime.Sleep(ctx, backoff)
		backoff = min(2*backoff, maxRestartBackoff)
	}
	return nil
}

// readSyncs reads the offset-sync topic back: every partition's written
// history, which it keeps for translation, and its latest sync, which it
// returns (the resume point).
func (tr *translator) readSyncs(ctx context.Context) (map[tp]offsetSync, error) {
	topic := OffsetSyncTopic(tr.m.cfg.SourceAlias)
	ends, err := tr.m.dstAdm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	end, ok := ends.Lookup(topic, 0)
	if !ok || end.Err != nil {
		return nil, fmt.Errorf("offset-sync topic %s has no end offset", topic)
	}
	history := map[tp][]offsetSync{}
	lastSlot := map[tp]int{}
	claimed := map[string]string{}
	if end.Offset > 0 {
		cl, err := kgo.NewClient(append(slices.Clone(tr.m.cfg.Target), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))...)
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		for done := false; !done; {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err := fs.Err0(); err != nil {
				return nil, err
			}
			fs.EachRecord(func(r *kgo.Record) {
				var k syncKey
				var s offsetSync
				var target string
				switch {
				case json.Unmarshal(r.Key, &k) != nil: // not a record of ours
				case k.Claim:
					if json.Unmarshal(r.Value, &target) == nil {
						claimed[k.Topic] = target
					}
				case json.Unmarshal(r.Value, &s) == nil:
					p := tp{k.Topic, k.Partition}
					history[p] = append(history[p], s)
					lastSlot[p] = k.Slot
				}
				done = done || r.Offset >= end.Offset-1
			})
		}
	}
	latest := map[tp]offsetSync{}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	maps.Copy(tr.claimed, claimed)
	for p, l := range history {
		// A slot rewritten later holds a later sync: in source order,
		// the history is what compaction keeps plus what it has not
		// reached yet.
		slices.SortFunc(l, func(a, b offsetSync) int { return cmp.Compare(a.Source, b.Source) })
		l = slices.CompactFunc(l, func(a, b offsetSync) bool { return a.Source == b.Source })
		tr.history[p] = l[max(len(l)-syncsKept, 0):]
		tr.nextSlot[p] = (lastSlot[p] + 1) % syncsKept
		latest[p] = l[len(l)-1]
	}
	// The round resumes after the latest written syncs: what an earlier
	// round remembers past them was copied before a failure, and
	// is copied again.
	for p, l := range tr.recent {
		s, ok := latest[p]
		if !ok {
			delete(tr.recent, p)
			continue
		}
		i := sort.Search(len(l), func(i int) bool { return l[i].Source > s.Source })
		tr.recent[p] = l[:i]
		if i == 0 {
			delete(tr.recent, p)
		}
	}
	return latest, nil
}

// copyRound copies from the latest syncs on, until ctx ends or the source's
// topics change (then it returns to start again), or a record fails for a
// reason worth retrying (then it returns the error). progressed reports
// whether the target acknowledged any record copied in the round.
func (tr *translator) copyRound(ctx context.Context) (progressed bool, err error) {
	m := tr.m
	smd, err := m.srcAdm.Metadata(ctx)
	if err != nil {
		return false, fmt.Errorf("source metadata: %w", err)
	}
	dmd, err := m.dstAdm.Metadata(ctx)
	if err != nil {
		return false, fmt.Errorf("target metadata: %w", err)
	}
	synced, err := tr.readSyncs(ctx)
	if err != nil {
		return false, fmt.Errorf("read offset syncs: %w", err)
	}
	tr.syncedOnce.Do(func() { close(tr.synced) })
	tr.mu.Lock()
	claimed := maps.Clone(tr.claimed)
	tr.mu.Unlock()
	for k := range synced {
		if _, ok := claimed[k.topic]; !ok {
			claimed[k.topic] = "" // a mirror that synced before claims existed
		}
	}
	// owns reports whether this mirror claimed target topic name for
	// source topic src: a topic renamed since (another rename format) is
	// not its own.
	owns := func(src, name string) bool {
		t, ok := claimed[src]
		return ok && (t == "" || t == name)
	}
	starts := map[string]map[int32]kgo.Offset{}
	shape := map[string]int{}
	statuses := map[string]TopicStatus{}
	var claims []*kgo.Record
	var names []string
	for _, st := range smd.Topics.Sorted() {
		if st.Err != nil || st.IsInternal || !m.cfg.selected(st.Topic) {
			continue
		}
		name := m.cfg.targetName(st.Topic)
		n := len(st.Partitions)
		shape[st.Topic] = n
		ts := TopicStatus{SourceTopic: st.Topic, Topic: name, Partitions: n, State: StateMirroring}
		dt, exists := dmd.Topics[name]
		switch {
		case !exists || errors.Is(dt.Err, kerr.UnknownTopicOrPartition):
			if _, err := m.dstAdm.CreateTopic(ctx, int32(n), -1, tr.createConfigs(ctx, st.Topic), name); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				ts.State, ts.Reason = StateRefused, fmt.Sprintf("create %s: %v", name, err)
			}
		case len(dt.Partitions) > n:
			ts.State, ts.Reason = StateRefused, fmt.Sprintf("source topic %s has %d partitions but %s has %d: partition counts never shrink", st.Topic, n, name, len(dt.Partitions))
		case len(dt.Partitions) < n:
			if _, err := m.dstAdm.UpdatePartitions(ctx, n, name); err != nil {
				ts.State, ts.Reason = StateRefused, fmt.Sprintf("add partitions to %s: %v", name, err)
			}
		}
		if ts.State == StateMirroring && exists && dt.Err == nil && !m.cfg.Force && !owns(st.Topic, name) {
			if empty, err := m.targetEmpty(ctx, name); err != nil || !empty {
				ts.State, ts.Reason = StateRefused, fmt.Sprintf("target topic %s already exists with records of its own: refusing to mirror into it (delete it, or run the mirror with --force to append to it)", name)
			}
		}
		statuses[st.Topic] = ts
		if ts.State != StateMirroring {
			m.logger.Error("not mirroring topic", "source_topic", st.Topic, "topic", name, "reason", ts.Reason)
			continue
		}
		if !owns(st.Topic, name) {
			key, _ := json.Marshal(syncKey{Topic: st.Topic, Claim: true})
			val, _ := json.Marshal(name)
			claims = append(claims, &kgo.Record{Topic: OffsetSyncTopic(m.cfg.SourceAlias), Partition: 0, Key: key, Value: val})
		}
		names = append(names, name)
		for i := range n {
			k := tp{st.Topic, int32(i)}
			if m.translateStopped(k) != "" {
				continue // until the mirror restarts
			}
			at := kgo.NewOffset().AtStart()
			if s, ok := synced[k]; ok {
				at = kgo.NewOffset().At(s.Source + 1)
			}
			if starts[st.Topic] == nil {
				starts[st.Topic] = map[int32]kgo.Offset{}
			}
			starts[st.Topic][int32(i)] = at
		}
	}
	m.mu.Lock()
	m.topics = statuses
	m.sourceCluster = smd.Cluster
	m.mu.Unlock()
	// The claims are written before anything is copied into the topics
	// they claim.
	if len(claims) > 0 {
		if err := m.dst.ProduceSync(ctx, claims...).FirstErr(); err != nil {
			return false, fmt.Errorf("claim the target topics: %w", err)
		}
		tr.mu.Lock()
		for k, ts := range statuses {
			if ts.State == StateMirroring {
				tr.claimed[k] = ts.Topic
			}
		}
		tr.mu.Unlock()
	}
	if len(starts) == 0 {
		ctxtime.Sleep(ctx, m.cfg.RefreshInterval)
		return false, nil
	}
	limits, err := tr.batchLimits(ctx, names)
	if err != nil {
		return false, err
	}
	cons, err := kgo.NewClient(append(slices.Clone(m.cfg.Source), kgo.ConsumePartitions(starts), kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		return false, err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(append(slices.Clone(m.cfg.Target), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytesFn(func(topic string) int32 {
			if l, ok := limits[topic]; ok {
				return l
			}
			return defaultBatchLimit
		}))...)
	if err != nil {
		return false, err
	}
	rs := &roundAcks{tr: tr, parts: map[tp]*sentRecords{}}
	// At the round's end (deferred, so run in reverse): the copied
	// records are flushed and the syncs of the acknowledged ones written,
	// each within finalTimeout; then the producer is closed (failing
	// what the target did not take) and the round's late answers are
	// ignored.
	defer rs.close()
	defer prod.Close()
	defer func() { tr.lastEndOK = tr.endRound(prod) }()

	// Copy until the refresh interval passes and the source's shape changed.
	refresh := time.NewTicker(m.cfg.RefreshInterval)
	defer refresh.Stop()
	syncEvery := time.NewTicker(500 * time.Millisecond)
	defer syncEvery.Stop()
	for {
		select {
		case <-ctx.Done():
			return rs.progressed(), nil
		case <-refresh.C:
			if changed, err := tr.shapeChanged(ctx, shape); err != nil || changed {
				return rs.progressed(), err
			}
		case <-syncEvery.C:
			tr.writeSyncs(ctx, prod)
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cons.PollFetches(pctx)
		cancel()
		if err := rs.failure(); err != nil {
			return rs.progressed(), err
		}
		if stopped := rs.takeStopped(); len(stopped) > 0 {
			pause := map[string][]int32{}
			for _, k := range stopped {
				pause[k.topic] = append(pause[k.topic], k.part)
			}
			cons.PauseFetchPartitions(pause)
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				m.noteTopicErr(t, fmt.Sprintf("fetch %s/%d: %v", t, p, err))
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			k := tp{r.Topic, r.Partition}
			seq, ok := rs.send(k, r.Offset)
			if !ok {
				return // the partition failed in this round
			}
			out := &kgo.Record{Topic: m.cfg.targetName(r.Topic), Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}
			srcOffset := r.Offset
			prod.Produce(ctx, out, func(w *kgo.Record, err error) {
				if err != nil {
					rs.fail(k, srcOffset, err)
					return
				}
				rs.ack(k, seq, w.Offset)
			})
		})
	}
}

// defaultBatchLimit is the producer's batch limit for a topic whose
// max.message.bytes is unknown: kgo's default, below Kafka's default
// max.message.bytes.
const defaultBatchLimit = 1000012

// batchLimits returns the largest batch each target topic takes (its
// max.message.bytes), as the producer's per-topic batch limit: a record
// the target topic would take is then never failed by the producer for
// being larger than its default, and no batch it builds is too large for
// the topic.
func (tr *translator) batchLimits(ctx context.Context, topics []string) (map[string]int32, error) {
	cfgs, err := topicConfigs(ctx, tr.m.dstAdm, topics)
	if err != nil {
		return nil, fmt.Errorf("target topic configs: %w", err)
	}
	limits := map[string]int32{}
	for name, rc := range cfgs {
		v, err := strconv.ParseInt(configValue(rc, "max.message.bytes"), 10, 32)
		if err != nil {
			continue
		}
		// kgo takes a limit in [512, 1 GiB].
		limits[name] = int32(min(max(v, 512), 1<<30))
	}
	return limits, nil
}

// createConfigs returns the configs a target topic is created with: the
// source topic's max.message.bytes when it sets one, so that the records
// the source takes fit on the target.
func (tr *translator) createConfigs(ctx context.Context, topic string) map[string]*string {
	cfgs, err := topicConfigs(ctx, tr.m.srcAdm, []string{topic})
	if err != nil {
		return nil
	}
	if v, ok := syncedOf(cfgs[topic])["max.message.bytes"]; ok {
		return map[string]*string{"max.message.bytes": kadm.StringPtr(v)}
	}
	return nil
}

// endRound flushes the round's copied records and writes the syncs of the
// acknowledged ones, each within finalTimeout, so that a stopped or
// restarted mirror resumes where this round got to. It reports whether
// the target took both in time.
func (tr *translator) endRound(prod *kgo.Client) bool {
	ctx, cancel := context.WithTimeout(context.Background(), finalTimeout)
	defer cancel()
	if err := prod.Flush(ctx); err != nil {
		tr.m.logger.Warn("translating mirror: the target did not take the copied records in time; those after the last offset sync are copied again", "err", err)
		return false
	}
	ctx, cancel = context.WithTimeout(context.Background(), finalTimeout)
	defer cancel()
	tr.writeSyncs(ctx, prod)
	if err := prod.Flush(ctx); err != nil {
		tr.m.logger.Warn("translating mirror: write the last offset syncs", "err", err)
		return false
	}
	return true
}

// refused reports whether the target refused a record for good: too large
// for the target topic, or invalid there. Copying it again cannot help.
func refused(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.InvalidTimestamp)
}

// roundAcks follows the records one round hands to the producer, per
// source partition in order, so that only a partition's acknowledged
// prefix reaches the syncs: a record the target failed, and every record
// after it, never do, however the producer orders its answers.
//
// Lock order: roundAcks.mu before translator.mu and Mirror.mu.
type roundAcks struct {
	tr    *translator
	mu    sync.Mutex
	parts map[tp]*sentRecords
	// err is the failures that end the round (worth retrying).
	err error
	// stopped are partitions the target refused a record of, to pause.
	stopped []tp
	acked   int64
	closed  bool
}

// sentRecords are one partition's records handed to the producer and not
// yet part of its acknowledged prefix.
type sentRecords struct {
	base   int64 // sequence number of recs[0]
	recs   []sentRecord
	failed bool
}

type sentRecord struct {
	src, dst int64
	done     bool
}

// send notes a record about to be produced and returns its sequence
// number; false if its partition already failed in this round.
func (rs *roundAcks) send(k tp, src int64) (int64, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	s := rs.parts[k]
	if s == nil {
		s = &sentRecords{}
		rs.parts[k] = s
	}
	if s.failed {
		return 0, false
	}
	s.recs = append(s.recs, sentRecord{src: src})
	return s.base + int64(len(s.recs)) - 1, true
}

// ack records that a record landed at target offset dst, and passes the
// partition's acknowledged prefix on to the translator.
func (rs *roundAcks) ack(k tp, seq, dst int64) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	s := rs.parts[k]
	if rs.closed || s == nil || seq < s.base {
		return
	}
	s.recs[seq-s.base].dst, s.recs[seq-s.base].done = dst, true
	i := 0
	for ; i < len(s.recs) && s.recs[i].done; i++ {
		rs.tr.acked(k, offsetSync{Source: s.recs[i].src, Target: s.recs[i].dst})
	}
	s.recs, s.base = s.recs[i:], s.base+int64(i)
	rs.acked += int64(i)
}

// fail records that a record of partition k failed: the partition's
// prefix ends before it. A record the target refused stops the partition
// (reported in Status) until the mirror restarts; any other failure ends
// the round, which starts again after the last sync.
func (rs *roundAcks) fail(k tp, src int64, err error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	s := rs.parts[k]
	if rs.closed || s == nil || s.failed {
		return // later failures follow from the first
	}
	s.failed = true
	if refused(err) {
		rs.stopped = append(rs.stopped, k)
		rs.tr.m.stopTranslating(k, fmt.Sprintf("the target refused the record at source offset %d: %v (raise the target topic's limit or fix the record, then restart the mirror)", src, err))
		return
	}
	rs.err = errors.Join(rs.err, fmt.Errorf("produce to %s/%d: %w", rs.tr.m.cfg.targetName(k.topic), k.part, err))
}

// failure returns the failures that end the round, nil while none did.
func (rs *roundAcks) failure() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.err
}

// takeStopped returns the partitions stopped since the last call.
func (rs *roundAcks) takeStopped() []tp {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := rs.stopped
	rs.stopped = nil
	return out
}

func (rs *roundAcks) progressed() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.acked > 0
}

// close makes the round ignore its producer's late answers: the next
// round starts from the syncs this one wrote.
func (rs *roundAcks) close() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.closed = true
}

// stopTranslating stops copying a source partition in translating mode
// until the mirror restarts, and says why in Status.
func (m *Mirror) stopTranslating(k tp, reason string) {
	m.mu.Lock()
	if m.translateStops == nil {
		m.translateStops = map[tp]string{}
	}
	m.translateStops[k] = reason
	m.mu.Unlock()
	m.logger.Error("stopped mirroring partition", "source_topic", k.topic, "partition", k.part, "reason", reason)
}

// translateStopped is why a source partition stopped in translating mode,
// "" while it is copied.
func (m *Mirror) translateStopped(k tp) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.translateStops[k]
}

// noteTopicErr records an error on every partition of a source topic.
func (m *Mirror) noteTopicErr(topic, msg string) {
	m.logger.Warn("translating mirror", "topic", topic, "err", msg)
}

// shapeChanged reports whether the source's selected topics or partition
// counts differ from shape.
func (tr *translator) shapeChanged(ctx context.Context, shape map[string]int) (bool, error) {
	smd, err := tr.m.srcAdm.Metadata(ctx)
	if err != nil {
		return false, nil // keep copying; the next look may answer
	}
	now := map[string]int{}
	for _, st := range smd.Topics {
		if st.Err == nil && !st.IsInternal && tr.m.cfg.selected(st.Topic) {
			now[st.Topic] = len(st.Partitions)
		}
	}
	for t, n := range now {
		if shape[t] != n {
			return true, nil
		}
	}
	return len(now) != len(shape), nil
}

// acked remembers that a source offset landed at a target offset.
func (tr *translator) acked(k tp, s offsetSync) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.recent[k] = appendSync(tr.recent[k], s)
}

// appendSync appends s to l if it is past l's last, keeping syncsKept.
func appendSync(l []offsetSync, s offsetSync) []offsetSync {
	if n := len(l); n > 0 && l[n-1].Source >= s.Source {
		return l
	}
	l = append(l, s)
	if len(l) > syncsKept {
		l = slices.Delete(l, 0, len(l)-syncsKept)
	}
	return l
}

// writeSyncs writes each partition's latest sync, if it moved, to the
// offset-sync topic under the partition's next slot, and adds it to the
// history.
func (tr *translator) writeSyncs(ctx context.Context, prod *kgo.Client) {
	topic := OffsetSyncTopic(tr.m.cfg.SourceAlias)
	tr.mu.Lock()
	var recs []*kgo.Record
	for k, l := range tr.recent {
		last := l[len(l)-1]
		h := tr.history[k]
		if len(h) > 0 && h[len(h)-1].Source >= last.Source {
			continue
		}
		tr.history[k] = appendSync(h, last)
		key, _ := json.Marshal(syncKey{Topic: k.topic, Partition: k.part, Slot: tr.nextSlot[k]})
		tr.nextSlot[k] = (tr.nextSlot[k] + 1) % syncsKept
		val, _ := json.Marshal(last)
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Key: key, Value: val})
	}
	tr.mu.Unlock()
	for _, r := range recs {
		prod.Produce(ctx, r, nil)
	}
}

// translate maps a committed source offset to the target, through the
// nearest sync below it among the recent and the written ones: exactly
// when that sync is of the record just before it, otherwise just after
// the synced record (records between may be read again, none skipped).
func (tr *translator) translate(k tp, offset int64) (int64, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	best, found := offsetSync{}, false
	for _, l := range [][]offsetSync{tr.recent[k], tr.history[k]} {
		i := sort.Search(len(l), func(i int) bool { return l[i].Source >= offset })
		if i > 0 && (!found || l[i-1].Source > best.Source) {
			best, found = l[i-1], true
		}
	}
	if !found {
		return 0, false
	}
	return best.Target + 1, true
}

// syncGroups commits translated offsets of the matching groups that are
// not active on the target, and writes each translated offset that moved
// to the checkpoint topic.
func (tr *translator) syncGroups(ctx context.Context) error {
	m := tr.m
	groups, err := m.groupsToSync(ctx)
	if err != nil {
		return err
	}
	var errs []error
	var checkpoints []*kgo.Record
	newCheckpoints := map[checkpointKey]checkpoint{}
	for _, g := range groups {
		src, err := m.srcAdm.FetchOffsets(ctx, g)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		dst, _ := m.dstAdm.FetchOffsets(ctx, g)
		commit := kadm.Offsets{}
		src.Each(func(o kadm.OffsetResponse) {
			if o.Err != nil || o.At < 0 || !m.cfg.selected(o.Topic) {
				return
			}
			at, ok := tr.translate(tp{o.Topic, o.Partition}, o.At)
			if !ok {
				return
			}
			name := m.cfg.targetName(o.Topic)
			ck, cv := checkpointKey{g, o.Topic, o.Partition}, checkpoint{name, o.At, at, o.Metadata}
			if tr.checkpointed[ck] != cv {
				key, _ := json.Marshal(ck)
				val, _ := json.Marshal(cv)
				checkpoints = append(checkpoints, &kgo.Record{Topic: CheckpointTopic(m.cfg.SourceAlias), Key: key, Value: val})
				newCheckpoints[ck] = cv
			}
			if cur, ok := dst.Lookup(name, o.Partition); ok && cur.Err == nil && cur.At >= at {
				return
			}
			commit.Add(kadm.Offset{Topic: name, Partition: o.Partition, At: at, LeaderEpoch: -1, Metadata: o.Metadata})
		})
		if len(commit) == 0 {
			continue
		}
		resps, err := m.dstAdm.CommitOffsets(ctx, g, commit)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g, err))
		}
	}
	if len(checkpoints) > 0 {
		if err := m.dst.ProduceSync(ctx, checkpoints...).FirstErr(); err != nil {
			errs = append(errs, fmt.Errorf("write checkpoints: %w", err))
		} else {
			maps.Copy(tr.checkpointed, newCheckpoints)
		}
	}
	return errors.Join(errs...)
}
