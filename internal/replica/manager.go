package replica

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/log"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Config configures a Manager.
type Config struct {
	NodeID int32
	// LogDirs are the directories partitions live in (log.dirs). A new
	// partition goes to the one holding the fewest partitions.
	LogDirs []string
	Logger  *slog.Logger
	// Now is the wall clock for timestamps and retention; nil is time.Now.
	Now func() time.Time
	// BrokerConfig returns the broker's current effective config, whose
	// log.* values are the topics' defaults.
	BrokerConfig func(img *cluster.Image) *config.Broker
	// OnOpen, if set, is called after a partition is opened here, and
	// OnClose before one is closed or deleted (the group coordinator loads
	// and unloads __consumer_offsets partitions this way). They must not
	// block.
	OnOpen  func(p *Partition)
	OnClose func(p *Partition)
}

// Manager hosts this broker's partitions.
type Manager struct {
	cfg    Config
	logger *slog.Logger

	// reconcileMu serialises Reconcile; it is taken before mu.
	reconcileMu sync.Mutex

	mu    sync.RWMutex
	parts map[TopicPartition]*Partition
	// applied remembers the log config each partition was last given.
	applied map[TopicPartition]log.Config
}

// partitionMetadataFile records which topic ID a partition directory
// belongs to, so a topic deleted and re-created under the same name never
// reuses the old data (Kafka's partition.metadata).
const partitionMetadataFile = "partition.metadata"

// NewManager returns a manager with no partitions; Reconcile opens them.
func NewManager(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Manager{cfg: cfg, logger: cfg.Logger, parts: make(map[TopicPartition]*Partition), applied: make(map[TopicPartition]log.Config)}
}

// LogDirs are the directories that hold partitions.
func (m *Manager) LogDirs() []string { return m.cfg.LogDirs }

// partitionDir finds the directory of a partition: where it already is, or
// else in the log directory that holds the fewest partitions.
func (m *Manager) partitionDir(tp TopicPartition) string {
	name := fmt.Sprintf("%s-%d", tp.Topic, tp.Partition)
	for _, root := range m.cfg.LogDirs {
		if _, err := os.Stat(filepath.Join(root, name)); err == nil {
			return filepath.Join(root, name)
		}
	}
	count := make(map[string]int, len(m.cfg.LogDirs))
	m.mu.RLock()
	for _, p := range m.parts {
		count[p.Root]++
	}
	m.mu.RUnlock()
	best := m.cfg.LogDirs[0]
	for _, root := range m.cfg.LogDirs[1:] {
		if count[root] < count[best] {
			best = root
		}
	}
	return filepath.Join(best, name)
}

// Partition returns a hosted partition.
func (m *Manager) Partition(topic string, partition int32) (*Partition, bool) {
	m.mu.RLock()
	p, ok := m.parts[TopicPartition{topic, partition}]
	m.mu.RUnlock()
	return p, ok
}

// Partitions returns every hosted partition.
func (m *Manager) Partitions() []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*Partition, 0, len(m.parts))
	for _, p := range m.parts {
		out = append(out, p)
	}
	return out
}

// LogConfig turns a topic's effective config into the log's settings.
func LogConfig(t *config.Topic) log.Config {
	return log.Config{
		SegmentBytes:       t.Int64("segment.bytes"),
		SegmentMs:          t.Int64("segment.ms"),
		IndexIntervalBytes: t.Int64("index.interval.bytes"),
		SegmentIndexBytes:  t.Int64("segment.index.bytes"),
		RetentionMs:        t.Int64("retention.ms"),
		RetentionBytes:     t.Int64("retention.bytes"),
		FlushMessages:      t.Int64("flush.messages"),
		FlushMs:            t.Int64("flush.ms"),
		FileDeleteDelayMs:  t.Int64("file.delete.delay.ms"),
	}
}

// Reconcile brings local partitions in line with img: it opens logs for
// partitions placed here, updates configs, and deletes logs whose topic is
// gone. Errors opening one partition are logged and do not stop the others;
// the first is returned.
func (m *Manager) Reconcile(img *cluster.Image) error {
	m.reconcileMu.Lock()
	defer m.reconcileMu.Unlock()
	bcfg := m.cfg.BrokerConfig(img)
	var firstErr error
	keep := make(map[TopicPartition]bool)
	for _, t := range img.Topics {
		tcfg, err := config.ResolveTopic(bcfg, t.Configs)
		if err != nil {
			m.logger.Error("topic has invalid config; using defaults", "topic", t.Name, "err", err)
			tcfg, _ = config.ResolveTopic(bcfg, nil)
		}
		lcfg := LogConfig(tcfg)
		for _, part := range t.Partitions {
			if !contains(part.Replicas, m.cfg.NodeID) {
				continue
			}
			tp := TopicPartition{t.Name, part.Index}
			keep[tp] = true
			if err := m.ensure(tp, t.ID, part.LeaderEpoch, lcfg); err != nil {
				m.logger.Error("cannot open partition", "topic", t.Name, "partition", part.Index, "err", err)
				if firstErr == nil {
					firstErr = err
				}
			}
		}
	}
	m.mu.Lock()
	var gone []*Partition
	for tp, p := range m.parts {
		if !keep[tp] {
			gone = append(gone, p)
			delete(m.parts, tp)
			delete(m.applied, tp)
		}
	}
	m.mu.Unlock()
	for _, p := range gone {
		m.logger.Info("deleting partition", "topic", p.Topic, "partition", p.Index)
		m.notifyClose(p)
		if err := p.log.Delete(); err != nil && firstErr == nil {
			firstErr = err
		}
		p.advance(1<<63 - 1) // wake fetchers waiting on it
	}
	return firstErr
}

func (m *Manager) ensure(tp TopicPartition, id cluster.TopicID, epoch int32, lcfg log.Config) error {
	m.mu.RLock()
	p, ok := m.parts[tp]
	applied := m.applied[tp]
	m.mu.RUnlock()
	if ok && p.TopicID == id {
		if applied != lcfg {
			p.log.SetConfig(lcfg)
			m.mu.Lock()
			m.applied[tp] = lcfg
			m.mu.Unlock()
		}
		p.leaderEpoch.Store(epoch)
		return nil
	}
	if ok {
		// Same name, new topic ID: the old topic was deleted.
		m.mu.Lock()
		delete(m.parts, tp)
		m.mu.Unlock()
		m.notifyClose(p)
		if err := p.log.Delete(); err != nil {
			return err
		}
	}
	dir := m.partitionDir(tp)
	if old, err := readPartitionMetadata(dir); err == nil && old != id {
		m.logger.Info("removing data of a deleted topic with the same name", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove stale partition %s: %w", dir, err)
		}
	}
	l, err := log.Open(dir, lcfg, log.Options{Logger: m.logger.With("topic", tp.Topic, "partition", tp.Partition), Now: m.cfg.Now})
	if err != nil {
		return err
	}
	if err := writePartitionMetadata(dir, id); err != nil {
		l.Close()
		return err
	}
	p = newPartition(tp.Topic, id, tp.Partition, l, epoch)
	p.Root = filepath.Dir(dir)
	m.mu.Lock()
	m.parts[tp] = p
	m.applied[tp] = lcfg
	m.mu.Unlock()
	if m.cfg.OnOpen != nil {
		m.cfg.OnOpen(p)
	}
	return nil
}

func (m *Manager) notifyClose(p *Partition) {
	if m.cfg.OnClose != nil {
		m.cfg.OnClose(p)
	}
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func readPartitionMetadata(dir string) (cluster.TopicID, error) {
	var id cluster.TopicID
	b, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if err != nil {
		return id, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "topic_id: "); ok {
			raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil || len(raw) != 16 {
				return id, fmt.Errorf("bad topic id in %s", dir)
			}
			copy(id[:], raw)
			return id, nil
		}
	}
	return id, fmt.Errorf("no topic id in %s", dir)
}

func writePartitionMetadata(dir string, id cluster.TopicID) error {
	path := filepath.Join(dir, partitionMetadataFile)
	want := "version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n"
	if b, err := os.ReadFile(path); err == nil && string(b) == want {
		return nil
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(want); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RemoveOrphans deletes partition directories in the data directory that
// belong to no topic in img (topics deleted while the broker was down).
func (m *Manager) RemoveOrphans(img *cluster.Image) error {
	for _, root := range m.cfg.LogDirs {
		if err := m.removeOrphansIn(root, img); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) removeOrphansIn(root string, img *cluster.Image) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		id, err := readPartitionMetadata(dir)
		if err != nil {
			continue // not a partition directory
		}
		i := strings.LastIndexByte(e.Name(), '-')
		if i < 0 {
			continue
		}
		if _, err := strconv.Atoi(e.Name()[i+1:]); err != nil {
			continue
		}
		if t, ok := img.TopicsByID[id]; ok && t.Name == e.Name()[:i] {
			continue
		}
		m.logger.Info("removing partition of a deleted topic", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	return nil
}

// Run reconciles on every metadata change and runs retention and flushes
// on their intervals, until ctx ends.
func (m *Manager) Run(ctx context.Context, node *cluster.Node) {
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	retention := time.NewTimer(m.retentionInterval(node.Image()))
	defer retention.Stop()
	for {
		changed := node.Changed()
		select {
		case <-ctx.Done():
			return
		case <-changed:
			if err := m.Reconcile(node.Image()); err != nil {
				m.logger.Warn("reconcile partitions", "err", err)
			}
		case <-flush.C:
			for _, p := range m.Partitions() {
				if err := p.log.MaybeFlush(); err != nil && !errors.Is(err, log.ErrClosed) {
					m.logger.Error("flush", "topic", p.Topic, "partition", p.Index, "err", err)
				}
			}
		case <-retention.C:
			m.applyRetention()
			retention.Reset(m.retentionInterval(node.Image()))
		}
	}
}

func (m *Manager) retentionInterval(img *cluster.Image) time.Duration {
	ms := m.cfg.BrokerConfig(img).Int64("log.retention.check.interval.ms")
	return time.Duration(max(ms, 10)) * time.Millisecond
}

func (m *Manager) applyRetention() {
	for _, p := range m.Partitions() {
		n, err := p.log.ApplyRetention()
		switch {
		case err != nil && !errors.Is(err, log.ErrClosed):
			m.logger.Error("retention", "topic", p.Topic, "partition", p.Index, "err", err)
		case n > 0:
			m.logger.Info("retention deleted segments", "topic", p.Topic, "partition", p.Index, "segments", n, "log_start_offset", p.LogStartOffset())
		}
	}
}

// Close closes every log. A log already offline after an I/O error
// cannot be flushed; that was reported when it went offline and is logged
// again here, but does not fail the shutdown of the others.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var firstErr error
	for tp, p := range m.parts {
		m.notifyClose(p)
		err := p.log.Close()
		switch {
		case errors.Is(err, log.ErrOffline):
			m.logger.Warn("closed an offline partition without flushing it", "topic", p.Topic, "partition", p.Index, "err", err)
		case err != nil && firstErr == nil:
			firstErr = err
		}
		delete(m.parts, tp)
	}
	return firstErr
}
