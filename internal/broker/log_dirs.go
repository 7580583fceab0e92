package broker

// DescribeLogDirs, versions 0-4: every log directory (log.dirs, or the
// data directory) with each hosted partition's size in bytes and an offset
// lag of 0 (partitions are not moved between directories yet), and, from
// v4, the filesystem's total and usable bytes. Topics null means all.

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
			if p.Root != root || !wanted(p) {
				continue
			}
			rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			rp.Partition, rp.Size = p.Index, p.Log().Size()
			byTopic[p.Topic] = append(byTopic[p.Topic], rp)
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
