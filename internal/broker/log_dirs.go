package broker

// DescribeLogDirs, versions 0-4: every log directory (log.dirs, or the
// data directory) with each hosted partition's size in bytes and, from
// v4, the filesystem's total and usable bytes. Topics null means all.
//
// A partition being moved to another directory (AlterReplicaLogDirs,
// KIP-113) is listed twice: in its current directory, and in the target
// directory with IsFuture set, the size copied so far and an offset lag of
// its log end offset minus the copy's. The current replica's offset lag is
// 0 (Kafka reports max(0, high watermark - log end offset), which is 0 on a
// leader). A directory that went offline after an I/O error (KIP-112) is
// listed with KAFKA_STORAGE_ERROR and no partitions.

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/replica"
)

func (b *Broker) describeLogDirs(_ context.Context, _ *Client, req *kmsg.DescribeLogDirsRequest) *kmsg.DescribeLogDirsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	wanted := func(p *replica.Partition) bool {
		if req.Topics == nil {
			return true
		}
		for _, t := range req.Topics {
			if t.Topic == p.Topic && slices.Contains(t.Partitions, p.Index) {
				return true
			}
		}
		return false
	}
	parts := b.cfg.Replicas.Partitions()
	for _, root := range b.cfg.Replicas.LogDirs() {
		dir := kmsg.NewDescribeLogDirsResponseDir()
		dir.Dir = root
		if abs, err := filepath.Abs(root); err == nil {
			dir.Dir = abs
		}
		if b.cfg.Replicas.LogDirOffline(root) != nil {
			dir.ErrorCode = kerr.KafkaStorageError.Code
			resp.Dirs = append(resp.Dirs, dir)
			continue
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs(root, &st); err != nil {
			dir.ErrorCode = kerr.KafkaStorageError.Code
			resp.Dirs = append(resp.Dirs, dir)
			continue
		}
		dir.TotalBytes = int64(st.Blocks) * st.Bsize
		dir.UsableBytes = int64(st.Bavail) * st.Bsize
		byTopic := map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
		for _, p := range parts {
			if !wanted(p) {
				continue
			}
			if p.Dir() == root {
				rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
				rp.Partition, rp.Size = p.Index, p.Log().Size()
				byTopic[p.Topic] = append(byTopic[p.Topic], rp)
			}
			if mv, ok := p.Log().Relocating(); ok && filepath.Dir(mv.Dir) == root {
				rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
				rp.Partition, rp.Size, rp.IsFuture = p.Index, mv.Size, true
				rp.OffsetLag = max(0, p.Log().LogEndOffset()-mv.LogEndOffset)
				byTopic[p.Topic] = append(byTopic[p.Topic], rp)
			}
		}
		names := make([]string, 0, len(byTopic))
		for name := range byTopic {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			t := kmsg.NewDescribeLogDirsResponseDirTopic()
			t.Topic, t.Partitions = name, byTopic[name]
			sort.Slice(t.Partitions, func(i, j int) bool { return t.Partitions[i].Partition < t.Partitions[j].Partition })
			dir.Topics = append(dir.Topics, t)
		}
		resp.Dirs = append(resp.Dirs, dir)
	}
	return resp
}
