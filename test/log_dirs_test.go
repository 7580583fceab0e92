package test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/node"
)

// DescribeLogDirs reports the data directory with every hosted partition and
// its size on disk, as kafka-log-dirs.sh and kadm show it.
func TestDescribeLogDirs(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("sized", 2, nil)
	b.createTopic("other", 1, nil)
	cl := b.client(kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testContext(t, 20*time.Second)
	value := make([]byte, 4096)
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sized", Partition: 0, Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	all, err := b.admin().DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := all[1]
	if len(dirs) != 1 {
		t.Fatalf("%d log dirs, want 1", len(dirs))
	}
	for name, d := range dirs {
		if d.Err != nil {
			t.Fatalf("dir %s: %v", name, d.Err)
		}
		abs, _ := filepath.Abs(b.dataDir)
		if d.Dir != abs {
			t.Fatalf("dir %q, want %q", d.Dir, abs)
		}
		if d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
			t.Fatalf("total %d usable %d", d.TotalBytes, d.UsableBytes)
		}
		count := 0
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			count++
			// An empty partition has no segment file until its first
			// append: its size is 0. The size is the batches', not the
			// zeros an active segment may hold past them.
			size, err := logDataSize(filepath.Join(b.dataDir, p.Topic+"-"+strconv.Itoa(int(p.Partition)), "00000000000000000000.log"))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if p.Size != size {
				t.Fatalf("%s-%d: size %d, segment file has %d bytes of batches", p.Topic, p.Partition, p.Size, size)
			}
			if p.Topic == "sized" && p.Partition == 0 && p.Size < 10*4096 {
				t.Fatalf("sized-0: size %d, want at least %d", p.Size, 10*4096)
			}
		})
		if count != 3 {
			t.Fatalf("%d partitions reported, want 3", count)
		}
	}
}

// A data directory given as an unclean path (a trailing slash, "./", as
// --data-dir ./sluice-data is) still names its partitions: DescribeLogDirs
// lists them under the clean path.
func TestDescribeLogDirsOfAnUncleanPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := &broker{t: t, dataDir: dir}
	b.cfg = node.Config{NodeID: 1, Listen: "127.0.0.1:0", DataDir: dir + "//./", Logger: testLogger(t)}
	b.start()
	t.Cleanup(b.stop)
	b.createTopic("t", 2, nil)
	ctx := testContext(t, 20*time.Second)
	all, err := b.admin().DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all[1]) != 1 {
		t.Fatalf("%d log dirs, want 1: %v", len(all[1]), all[1])
	}
	abs, _ := filepath.Abs(dir)
	for name, d := range all[1] {
		count := 0
		d.Topics.Each(func(kadm.DescribedLogDirPartition) { count++ })
		if d.Err != nil || d.Dir != abs || count != 2 {
			t.Fatalf("dir %s: %q, %d partitions, %v; want %q with 2", name, d.Dir, count, d.Err, abs)
		}
	}
}
