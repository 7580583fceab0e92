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
}

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
}

// runTranslating mirrors into a target that is not Sluice until ctx ends.
func (m *Mirror) runTranslating(ctx context.Context) error {
	m.logger.Warn("the target does not keep offsets (not a Sluice cluster): copying at least once, with offset syncs for group offsets (MirrorMaker 2 style)",
		"offset_sync_topic", OffsetSyncTopic(m.cfg.SourceAlias), "checkpoint_topic", CheckpointTopic(m.cfg.SourceAlias))
	tr := &translator{m: m, recent: map[tp][]offsetSync{}, history: map[tp][]offsetSync{}, nextSlot: map[tp]int{},
		checkpointed: map[checkpointKey]checkpoint{}}
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
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if m.cfg.Groups != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.syncGroupsLoop(ctx, tr.syncGroups)
		}()
	}
	for ctx.Err() == nil {
		if err := tr.copyRound(ctx); err != nil && ctx.Err() == nil {
			m.logger.Warn("translating mirror: restarting the copy", "err", err)
			ctxtime.Sleep(ctx, time.Second)
		}
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
				if json.Unmarshal(r.Key, &k) == nil && json.Unmarshal(r.Value, &s) == nil {
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
	return latest, nil
}

// copyRound copies from the latest syncs on, until ctx ends or the source's
// topics change (then it returns to start again).
func (tr *translator) copyRound(ctx context.Context) error {
	m := tr.m
	smd, err := m.srcAdm.Metadata(ctx)
	if err != nil {
		return fmt.Errorf("source metadata: %w", err)
	}
	dmd, err := m.dstAdm.Metadata(ctx)
	if err != nil {
		return fmt.Errorf("target metadata: %w", err)
	}
	synced, err := tr.readSyncs(ctx)
	if err != nil {
		return fmt.Errorf("read offset syncs: %w", err)
	}
	starts := map[string]map[int32]kgo.Offset{}
	shape := map[string]int{}
	statuses := map[string]TopicStatus{}
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
			if _, err := m.dstAdm.CreateTopic(ctx, int32(n), -1, nil, name); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				ts.State, ts.Reason = StateRefused, fmt.Sprintf("create %s: %v", name, err)
			}
		case len(dt.Partitions) > n:
			ts.State, ts.Reason = StateRefused, fmt.Sprintf("source topic %s has %d partitions but %s has %d: partition counts never shrink", st.Topic, n, name, len(dt.Partitions))
		case len(dt.Partitions) < n:
			if _, err := m.dstAdm.UpdatePartitions(ctx, n, name); err != nil {
				ts.State, ts.Reason = StateRefused, fmt.Sprintf("add partitions to %s: %v", name, err)
			}
		}
		if ts.State == StateMirroring && exists && dt.Err == nil && !m.cfg.Force {
			known := false
			for k := range synced {
				known = known || k.topic == st.Topic
			}
			if !known {
				if empty, err := m.targetEmpty(ctx, name); err != nil || !empty {
					ts.State, ts.Reason = StateRefused, fmt.Sprintf("target topic %s already exists with records of its own: refusing to mirror into it (delete it, or run the mirror with --force to append to it)", name)
				}
			}
		}
		statuses[st.Topic] = ts
		if ts.State != StateMirroring {
			m.logger.Error("not mirroring topic", "source_topic", st.Topic, "topic", name, "reason", ts.Reason)
			continue
		}
		starts[st.Topic] = map[int32]kgo.Offset{}
		for i := range n {
			at := kgo.NewOffset().AtStart()
			if s, ok := synced[tp{st.Topic, int32(i)}]; ok {
				at = kgo.NewOffset().At(s.Source + 1)
			}
			starts[st.Topic][int32(i)] = at
		}
	}
	m.mu.Lock()
	m.topics = statuses
	m.sourceCluster = smd.Cluster
	m.mu.Unlock()
	if len(starts) == 0 {
		ctxtime.Sleep(ctx, m.cfg.RefreshInterval)
		return nil
	}
	cons, err := kgo.NewClient(append(slices.Clone(m.cfg.Source), kgo.ConsumePartitions(starts), kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		return err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(append(slices.Clone(m.cfg.Target), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		return err
	}
	defer prod.Close()
	defer prod.Flush(context.Background())

	// Copy until the refresh interval passes and the source's shape changed.
	refresh := time.NewTicker(m.cfg.RefreshInterval)
	defer refresh.Stop()
	syncEvery := time.NewTicker(500 * time.Millisecond)
	defer syncEvery.Stop()
	var failed error
	var fmu sync.Mutex
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-refresh.C:
			if changed, err := tr.shapeChanged(ctx, shape); err != nil || changed {
				return err
			}
		case <-syncEvery.C:
			tr.writeSyncs(ctx, prod)
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cons.PollFetches(pctx)
		cancel()
		fmu.Lock()
		err := failed
		fmu.Unlock()
		if err != nil {
			return err
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				m.noteTopicErr(t, fmt.Sprintf("fetch %s/%d: %v", t, p, err))
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			src := tp{r.Topic, r.Partition}
			out := &kgo.Record{Topic: m.cfg.targetName(r.Topic), Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}
			srcOffset := r.Offset
			prod.Produce(ctx, out, func(w *kgo.Record, err error) {
				if err != nil {
					fmu.Lock()
					failed = errors.Join(failed, fmt.Errorf("produce to %s/%d: %w", w.Topic, w.Partition, err))
					fmu.Unlock()
					return
				}
				tr.acked(src, offsetSync{Source: srcOffset, Target: w.Offset})
			})
		})
	}
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
		key, _ := json.Marshal(syncKey{k.topic, k.part, tr.nextSlot[k]})
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
