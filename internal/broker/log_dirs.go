package broker

// DescribeLogDirs, versions 0-4. Sluice keeps every partition in one data
// directory today; it is reported with each hosted partition's size in
// bytes and an offset lag of 0 (no partition is being moved), and, from v4,
// the filesystem's total and usable bytes. Topics null means all.

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
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.cfg.Replicas.DataDir()
	if abs, err := filepath.Abs(dir.Dir); err == nil {
		dir.Dir = abs
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir.Dir, &st); err != nil {
		dir.ErrorCode = kerr.KafkaStorageError.Code
		resp.Dirs = append(resp.Dirs, dir)
		return resp
	}
	dir.TotalBytes = int64(st.Blocks) * st.Bsize
	dir.UsableBytes = int64(st.Bavail) * st.Bsize

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
	byTopic := map[string][]kmsg.DescribeLogDirsResponseDirTopicPartition{}
	for _, p := range b.cfg.Replicas.Partitions() {
		if !wanted(p) {
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
	return resp
}
