package replica

// The high-watermark checkpoint (Kafka's replication-offset-checkpoint):
// each log directory holds one file listing the high watermark of every
// partition in it, rewritten every replica.high.watermark.checkpoint.
// interval.ms when one changed, and at Close. A partition opened again
// starts at its checkpointed high watermark (never past its log end), so a
// restarted leader serves what was committed at once, instead of from its
// log start until every ISR member has fetched again (which, with an ISR
// member down, lasts until the ISR shrinks). The checkpoint only ever
// lags: a high watermark below the true one is safe to start from.
//
// Format, as Kafka's: a version line "0", the entry count, then one
// "topic partition highWatermark" line per partition. A file that does not
// parse is ignored (with a warning): partitions then start as without one.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
)

const (
	hwCheckpointFile = "replication-offset-checkpoint"
	// maxHWCheckpointBytes bounds what is read of the file: a million
	// partitions with long names fit.
	maxHWCheckpointBytes = 256 << 20
)

// hwCheckpoints is the Manager's view of the checkpoint files. Its zero
// value is ready.
type hwCheckpoints struct {
	mu      sync.Mutex
	loaded  map[string]map[TopicPartition]int64 // read at first use, by log directory
	written map[string][]byte                   // what each directory's file holds
}

// startHWCheckpoints rewrites the checkpoints every
// replica.high.watermark.checkpoint.interval.ms until ctx ends; wait waits
// for it to stop.
func (m *Manager) startHWCheckpoints(ctx context.Context, node *cluster.Node) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		lastRP := time.Now()
		for {
			bcfg := m.cfg.BrokerConfig(node.Image())
			every := time.Duration(max(bcfg.Int64("replica.high.watermark.checkpoint.interval.ms"), 10)) * time.Millisecond
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
			m.writeHWCheckpoints()
			rpEvery := time.Duration(bcfg.Int64("log.flush.offset.checkpoint.interval.ms")) * time.Millisecond
			if rpEvery > 0 && time.Since(lastRP) >= rpEvery {
				m.checkpointRecoveryPoints(ctx)
				lastRP = time.Now()
			}
		}
	}()
	return func() { <-done }
}

// checkpointRecoveryPoints moves every log's recovery point up to what it
// has fsynced (log.Log.CheckpointRecoveryPoint), so that a restart after a
// crash checks only the unsynced tails with their CRCs: Kafka's
// recovery-point checkpoint, every log.flush.offset.checkpoint.interval.ms.
// It stops when ctx ends.
func (m *Manager) checkpointRecoveryPoints(ctx context.Context) {
	for _, p := range m.Partitions() {
		if ctx.Err() != nil {
			return
		}
		if err := p.log.CheckpointRecoveryPoint(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, log.ErrClosed) && !errors.Is(err, log.ErrOffline) {
			m.logger.Warn("checkpoint recovery point", "topic", p.Topic, "partition", p.Index, "err", err)
		}
	}
}

// writeHWCheckpoints rewrites the checkpoint of every online log directory
// whose partitions' high watermarks changed since it was last written.
func (m *Manager) writeHWCheckpoints() {
	byRoot := map[string][]*Partition{}
	for _, root := range m.cfg.LogDirs {
		byRoot[root] = nil
	}
	for _, p := range m.Partitions() {
		root := p.Dir() // the log directory
		byRoot[root] = append(byRoot[root], p)
	}
	c := &m.hwCkpt
	c.mu.Lock()
	defer c.mu.Unlock()
	for root, parts := range byRoot {
		if m.LogDirOffline(root) != nil {
			continue
		}
		data := formatHWCheckpoint(parts)
		if bytes.Equal(c.written[root], data) {
			continue
		}
		if err := m.writeAtomic(root, hwCheckpointFile, data); err != nil {
			m.logger.Warn("write high watermark checkpoint", "dir", root, "err", err)
			continue
		}
		if c.written == nil {
			c.written = map[string][]byte{}
		}
		c.written[root] = data
	}
}

func formatHWCheckpoint(parts []*Partition) []byte {
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].Topic != parts[j].Topic {
			return parts[i].Topic < parts[j].Topic
		}
		return parts[i].Index < parts[j].Index
	})
	var b bytes.Buffer
	b.WriteString("0\n")
	b.WriteString(strconv.Itoa(len(parts)))
	b.WriteByte('\n')
	for _, p := range parts {
		fmt.Fprintf(&b, "%s %d %d\n", p.Topic, p.Index, p.HighWatermark())
	}
	return b.Bytes()
}

func parseHWCheckpoint(b []byte) (map[TopicPartition]int64, error) {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, fmt.Errorf("does not end with a newline")
	}
	lines := strings.Split(string(b[:len(b)-1]), "\n")
	if lines[0] != "0" {
		return nil, fmt.Errorf("unknown version %q", lines[0])
	}
	if len(lines) < 2 {
		return nil, fmt.Errorf("no entry count")
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("entry count %q does not match %d lines", lines[1], len(lines)-2)
	}
	out := make(map[TopicPartition]int64, n)
	for i, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: %q is not \"topic partition offset\"", i+3, line)
		}
		part, err1 := strconv.ParseInt(f[1], 10, 32)
		hw, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || part < 0 || hw < 0 {
			return nil, fmt.Errorf("line %d: bad entry %q", i+3, line)
		}
		out[TopicPartition{f[0], int32(part)}] = hw
	}
	return out, nil
}

// checkpointedHW returns the high watermark the checkpoint of the log
// directory root recorded for tp, reading the file at first use.
func (m *Manager) checkpointedHW(root string, tp TopicPartition) (int64, bool) {
	c := &m.hwCkpt
	c.mu.Lock()
	defer c.mu.Unlock()
	ck, ok := c.loaded[root]
	if !ok {
		path := filepath.Join(root, hwCheckpointFile)
		b, err := readSmall(m.fs, path, maxHWCheckpointBytes)
		if err == nil {
			if ck, err = parseHWCheckpoint(b); err != nil {
				m.logger.Warn("ignoring a high watermark checkpoint that does not parse", "file", path, "err", err)
			}
		}
		if c.loaded == nil {
			c.loaded = map[string]map[TopicPartition]int64{}
		}
		c.loaded[root] = ck
	}
	hw, ok := ck[tp]
	return hw, ok
}

// restoreHW starts a partition replicated elsewhere at its checkpointed
// high watermark, within its log. The partition is not published yet.
func (m *Manager) restoreHW(p *Partition, dir string, part *cluster.Partition) {
	if len(part.Replicas) <= 1 {
		return // its end is committed already
	}
	hw, ok := m.checkpointedHW(filepath.Dir(dir), TopicPartition{p.Topic, p.Index})
	if !ok {
		return
	}
	p.hw.Store(min(max(hw, p.log.LogStartOffset()), p.log.LogEndOffset()))
	p.log.HighWatermarkMoved(p.hw.Load())
}

// writeAtomic replaces dir/name with data through the Manager's FS: a
// temporary file, fsynced, renamed over it, and the directory fsynced.
func (m *Manager) writeAtomic(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	f, err := m.fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := m.fs.Rename(tmp, path); err != nil {
		return err
	}
	return m.fs.SyncDir(dir)
}
