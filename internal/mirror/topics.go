package mirror

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
)

// SyncedConfigs are the topic configs a mirror topic takes from its source
// topic, when the source topic sets them: what decides which records are
// kept (retention, compaction) and how big a batch may be. Nothing else
// (replication, placement, flush, min.insync.replicas) is the source's
// business.
var SyncedConfigs = []string{
	"cleanup.policy", "delete.retention.ms", "max.compaction.lag.ms", "max.message.bytes",
	"min.compaction.lag.ms", "retention.bytes", "retention.ms", "segment.bytes",
}

// Topic states in TopicStatus.
const (
	StateMirroring = "mirroring"
	StatePromoted  = "promoted"
	StateRefused   = "refused"
	StateDeleted   = "source-deleted"
	StatePending   = "pending" // being created, adopted or replaced
)

// TopicStatus says what the mirror does with one source topic.
type TopicStatus struct {
	SourceTopic string `json:"source_topic"`
	Topic       string `json:"topic"`
	Partitions  int    `json:"partitions"`
	State       string `json:"state"`
	Reason      string `json:"reason,omitempty"`
}

// mirrorSource is the sluice.mirror.source value of a mirror of topic.
func mirrorSource(cluster, topic string, id kadm.TopicID) string {
	return fmt.Sprintf("%s/%s/%x", cluster, topic, id[:])
}

// mirrorConfigs returns the create configs of a mirror topic: the source
// topic's synced configs and the mirror's own.
func mirrorConfigs(source string, synced map[string]string) map[string]*string {
	cfgs := map[string]*string{}
	for k, v := range synced {
		cfgs[k] = kadm.StringPtr(v)
	}
	cfgs[config.MirrorSourceConfig] = kadm.StringPtr(source)
	cfgs[config.MirrorStateConfig] = kadm.StringPtr(config.MirrorStateMirroring)
	return cfgs
}

// syncedOf returns the synced configs a topic sets for itself.
func syncedOf(rc kadm.ResourceConfig) map[string]string {
	out := map[string]string{}
	for _, c := range rc.Configs {
		if c.Value != nil && c.Source == kmsg.ConfigSourceDynamicTopicConfig && slices.Contains(SyncedConfigs, c.Key) {
			out[c.Key] = *c.Value
		}
	}
	return out
}

// topicConfigs describes topics' configs by name; a topic that could not
// be described is missing.
func topicConfigs(ctx context.Context, adm *kadm.Client, topics []string) (map[string]kadm.ResourceConfig, error) {
	out := map[string]kadm.ResourceConfig{}
	if len(topics) == 0 {
		return out, nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, err
	}
	for _, rc := range rcs {
		if rc.Err == nil {
			out[rc.Name] = rc
		}
	}
	return out, nil
}

// configValue is one config's value in rc, "" when unset.
func configValue(rc kadm.ResourceConfig, key string) string {
	for _, c := range rc.Configs {
		if c.Key == key && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

// refresh looks at both clusters, makes the target's mirror topics follow
// the source's topics (creating them, adding partitions, syncing configs)
// and returns the partitions to copy grouped by their source leader.
func (m *Mirror) refresh(ctx context.Context) (map[int32][]*partition, error) {
	smd, err := m.srcAdm.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("source metadata: %w", err)
	}
	dmd, err := m.dstAdm.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("target metadata: %w", err)
	}
	var srcNames, dstNames []string
	for _, t := range smd.Topics.Sorted() {
		if t.Err == nil && !t.IsInternal && m.cfg.selected(t.Topic) {
			srcNames = append(srcNames, t.Topic)
		}
	}
	for _, t := range dmd.Topics.Sorted() {
		if t.Err == nil && !t.IsInternal && !strings.HasPrefix(t.Topic, "__") {
			dstNames = append(dstNames, t.Topic)
		}
	}
	srcCfgs, err := topicConfigs(ctx, m.srcAdm, srcNames)
	if err != nil {
		return nil, fmt.Errorf("source topic configs: %w", err)
	}
	dstCfgs, err := topicConfigs(ctx, m.dstAdm, dstNames)
	if err != nil {
		return nil, fmt.Errorf("target topic configs: %w", err)
	}

	statuses := map[string]TopicStatus{}
	assign := map[int32][]*partition{}
	keep := map[tp]bool{}
	shaping := m.cfg.Node == nil || dmd.Controller == *m.cfg.Node
	m.mu.Lock()
	if m.cfg.Node != nil && shaping != m.shaping {
		m.logger.Info("mirror role", "shapes_mirror_topics", shaping, "controller", dmd.Controller)
	}
	m.shaping = shaping
	m.mu.Unlock()
	for _, name := range srcNames {
		st := smd.Topics[name]
		ts := m.followTopic(ctx, smd.Cluster, st, dmd, srcCfgs[name], dstCfgs, shaping)
		statuses[name] = ts
		if ts.State != StateMirroring {
			continue
		}
		dt := dmd.Topics[ts.Topic]
		for i := 0; i < len(st.Partitions) && i < len(dt.Partitions); i++ {
			if !m.cfg.copiesHere(dt.Partitions[int32(i)].Leader) {
				continue // another node's mirror copies it
			}
			k := tp{ts.Topic, int32(i)}
			keep[k] = true
			p := m.partitionFor(k, st, dt)
			assign[p.srcLeader] = append(assign[p.srcLeader], p)
		}
	}
	// Mirror topics of this source whose source topic is gone.
	prefix := smd.Cluster + "/"
	for _, name := range dstNames {
		rc := dstCfgs[name]
		src := configValue(rc, config.MirrorSourceConfig)
		if configValue(rc, config.MirrorStateConfig) != config.MirrorStateMirroring || !strings.HasPrefix(src, prefix) {
			continue
		}
		parts := strings.Split(src, "/")
		if len(parts) != 3 {
			continue
		}
		if _, ok := smd.Topics[parts[1]]; ok {
			continue
		}
		ts := TopicStatus{SourceTopic: parts[1], Topic: name, Partitions: len(dmd.Topics[name].Partitions), State: StateDeleted,
			Reason: fmt.Sprintf("source topic %s was deleted; mirror topic %s keeps its records and stays read-only until promoted (sluice mirror promote %s) or deleted", parts[1], name, name)}
		statuses[parts[1]] = ts
	}

	m.mu.Lock()
	for name, ts := range statuses {
		if old, ok := m.topics[name]; !ok || old.State != ts.State || old.Reason != ts.Reason {
			switch ts.State {
			case StateMirroring:
				m.logger.Info("mirroring topic", "source_topic", name, "topic", ts.Topic, "partitions", ts.Partitions)
			case StateRefused, StateDeleted:
				m.logger.Error("not mirroring topic", "source_topic", name, "topic", ts.Topic, "reason", ts.Reason)
			default:
				m.logger.Info("not mirroring topic", "source_topic", name, "topic", ts.Topic, "state", ts.State, "reason", ts.Reason)
			}
		}
	}
	m.topics = statuses
	m.sourceCluster = smd.Cluster
	for k := range m.parts {
		if !keep[k] {
			delete(m.parts, k)
		}
	}
	m.mu.Unlock()
	return assign, nil
}

// partitionFor returns the mirrored partition k, created or updated with
// its current leaders.
func (m *Mirror) partitionFor(k tp, st kadm.TopicDetail, dt kadm.TopicDetail) *partition {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.parts[k]
	if p == nil || p.srcID != st.ID {
		p = &partition{srcTopic: st.Topic, srcID: st.ID, index: k.part, dstTopic: k.topic, next: -1, srcEnd: -1,
			srcStart: -1, dstStart: -1, askedStart: -1}
		m.parts[k] = p
	}
	p.dstID = dt.ID
	p.srcLeader = st.Partitions[k.part].Leader
	p.dstLeader = dt.Partitions[k.part].Leader
	return p
}

// followTopic makes the target's topic for source topic st a mirror of it,
// as far as it safely can, and says what became of it. Without shaping
// it changes nothing on the target and only says what it finds.
func (m *Mirror) followTopic(ctx context.Context, cluster string, st kadm.TopicDetail, dmd kadm.Metadata, srcCfg kadm.ResourceConfig, dstCfgs map[string]kadm.ResourceConfig, shaping bool) TopicStatus {
	name := m.cfg.targetName(st.Topic)
	ts := TopicStatus{SourceTopic: st.Topic, Topic: name, Partitions: len(st.Partitions)}
	want := mirrorSource(cluster, st.Topic, st.ID)
	synced := syncedOf(srcCfg)
	refuse := func(format string, args ...any) TopicStatus {
		ts.State, ts.Reason = StateRefused, fmt.Sprintf(format, args...)
		return ts
	}
	waiting := func() TopicStatus {
		ts.State, ts.Reason = StatePending, fmt.Sprintf("left to the mirror of the target's controller (node %d)", dmd.Controller)
		return ts
	}
	dt, exists := dmd.Topics[name]
	if !exists || errors.Is(dt.Err, kerr.UnknownTopicOrPartition) {
		if !shaping {
			return waiting()
		}
		_, err := m.dstAdm.CreateTopic(ctx, int32(len(st.Partitions)), -1, mirrorConfigs(want, synced), name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return refuse("create mirror topic %s: %v", name, err)
		}
		m.refreshSoon() // its leaders are known at the next look
		ts.State, ts.Reason = StatePending, "being created"
		return ts
	}
	if dt.Err != nil {
		return refuse("target topic %s: %v", name, dt.Err)
	}
	rc, ok := dstCfgs[name]
	if !ok {
		// Being deleted or created right now: look again.
		ts.State, ts.Reason = StatePending, "its configs could not be described yet"
		return ts
	}
	state, source := configValue(rc, config.MirrorStateConfig), configValue(rc, config.MirrorSourceConfig)
	switch {
	case state == config.MirrorStatePromoted:
		ts.State, ts.Reason = StatePromoted, "promoted: the target topic is writable and no longer mirrored"
		return ts
	case state == config.MirrorStateMirroring && source == want:
	default:
		why := ""
		switch {
		case state == config.MirrorStateMirroring && strings.HasPrefix(source, cluster+"/"+st.Topic+"/"):
			why = fmt.Sprintf("target topic %s mirrors an earlier topic %s of the source (%s); the source topic was deleted and created again (now %s)", name, st.Topic, source, want)
		case state == config.MirrorStateMirroring:
			why = fmt.Sprintf("target topic %s is a mirror of %s, not of %s", name, source, want)
		default:
			empty, err := m.targetEmpty(ctx, name)
			if err != nil {
				return refuse("target topic %s: %v", name, err)
			}
			if empty && !shaping {
				return waiting()
			}
			if empty {
				// An empty topic holds nothing to lose: adopt it.
				if err := m.alterConfigs(ctx, name, map[string]string{config.MirrorSourceConfig: want, config.MirrorStateConfig: config.MirrorStateMirroring}, nil); err != nil {
					return refuse("make empty topic %s a mirror: %v", name, err)
				}
				m.refreshSoon()
				ts.State, ts.Reason = StatePending, "being made a mirror"
				return ts
			}
			why = fmt.Sprintf("target topic %s already exists with records of its own", name)
		}
		if !m.cfg.Force {
			return refuse("%s: refusing to mirror into it (delete it, or run the mirror with --force to replace it)", why)
		}
		if !shaping {
			return waiting()
		}
		m.logger.Warn("replacing target topic with a mirror (--force)", "topic", name, "reason", why)
		if _, err := m.dstAdm.DeleteTopic(ctx, name); err != nil {
			return refuse("delete %s to replace it (--force): %v", name, err)
		}
		m.refreshSoon()
		ts.State, ts.Reason = StatePending, "being replaced (--force)"
		return ts
	}
	switch n, dn := len(st.Partitions), len(dt.Partitions); {
	case dn > n:
		return refuse("source topic %s has %d partitions but its mirror %s has %d: Kafka partition counts never shrink, so the source topic was probably deleted and created again; promote or delete the mirror", st.Topic, n, name, dn)
	case !shaping:
		ts.State = StateMirroring
		return ts
	case dn < n:
		if _, err := m.dstAdm.UpdatePartitions(ctx, n, name); err != nil {
			m.logger.Warn("add partitions to mirror topic", "topic", name, "partitions", n, "err", err)
		} else {
			m.logger.Info("added partitions to mirror topic", "topic", name, "from", dn, "to", n)
		}
		m.refreshSoon()
	}
	// Synced configs follow the source: set what differs, remove what the
	// source no longer sets.
	set, del := map[string]string{}, []string{}
	for _, k := range SyncedConfigs {
		sv, sok := synced[k]
		var dv string
		dok := false
		for _, c := range rc.Configs {
			if c.Key == k && c.Value != nil && c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				dv, dok = *c.Value, true
			}
		}
		switch {
		case sok && (!dok || dv != sv):
			set[k] = sv
		case !sok && dok:
			del = append(del, k)
		}
	}
	if len(set) > 0 || len(del) > 0 {
		if err := m.alterConfigs(ctx, name, set, del); err != nil {
			m.logger.Warn("sync mirror topic configs", "topic", name, "err", err)
		}
	}
	ts.State = StateMirroring
	return ts
}

// targetEmpty reports whether every partition of a target topic is empty.
func (m *Mirror) targetEmpty(ctx context.Context, topic string) (bool, error) {
	ends, err := m.dstAdm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false, err
	}
	if err := ends.Error(); err != nil {
		return false, err
	}
	empty := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset != 0 {
			empty = false
		}
	})
	return empty, nil
}

// alterConfigs sets and deletes topic configs incrementally.
func (m *Mirror) alterConfigs(ctx context.Context, topic string, set map[string]string, del []string) error {
	var alters []kadm.AlterConfig
	for k, v := range set {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
	}
	for _, k := range del {
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	resps, err := m.dstAdm.AlterTopicConfigs(ctx, alters, topic)
	if err != nil {
		return err
	}
	for _, r := range resps {
		if r.Err != nil {
			return fmt.Errorf("%w (%s)", r.Err, r.ErrMessage)
		}
	}
	return nil
}
