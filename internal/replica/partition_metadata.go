package replica

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
)

// maxPartitionMetadataBytes bounds what is read of a partition.metadata
// file; the real one is about 50 bytes.
const maxPartitionMetadataBytes = 4 << 10

// readPartitionMetadata reads the topic ID of the partition directory dir.
// A missing file is an error wrapping fs.ErrNotExist.
func (m *Manager) readPartitionMetadata(dir string) (cluster.TopicID, error) {
	var id cluster.TopicID
	b, err := readSmall(m.fs, filepath.Join(dir, partitionMetadataFile), maxPartitionMetadataBytes)
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

// writePartitionMetadata writes dir's partition.metadata, atomically
// (a reader sees the old file or the new one) but not durably: the caller
// syncs the log directory once after writing many (syncLogDir). A
// partition directory left without one by a crash is taken as the topic's
// of the same name, as Kafka does, and RemoveOrphans removes it when no
// topic has that name. With missing (no file was there a moment ago: a new
// partition) it is written in place, one file creation instead of a
// temporary file and a rename: a crash can leave it torn, and a torn one
// reads as a missing one.
func (m *Manager) writePartitionMetadata(dir string, id cluster.TopicID, missing bool) error {
	path := filepath.Join(dir, partitionMetadataFile)
	want := "version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n"
	if missing {
		err := writeNew(m.fs, path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, want)
		if err == nil || !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if b, err := readSmall(m.fs, path, maxPartitionMetadataBytes); err == nil && string(b) == want {
		return nil
	}
	tmp := path + ".tmp"
	if err := writeNew(m.fs, tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, want); err != nil {
		return err
	}
	return m.fs.Rename(tmp, path)
}

// writeNew opens path with flag and writes data to it, without an fsync.
func writeNew(fsys log.FS, path string, flag int, data string) error {
	f, err := fsys.OpenFile(path, flag, 0o644)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readSmall reads a whole file of at most limit bytes.
func readSmall(fsys log.FS, path string, limit int64) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// hasSegments reports whether dir holds a log segment: it is a
// partition's directory even without a partition.metadata.
func (m *Manager) hasSegments(dir string) bool {
	entries, err := m.fs.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".log") {
			return true
		}
	}
	return false
}

// syncLogDir makes everything written to the log directory root durable
// with one sync of its filesystem (syncfs(2)) instead of an fsync per file
// and directory after creating many partitions. A filesystem that cannot
// (a test's) fsyncs root alone.
func (m *Manager) syncLogDir(root string) error {
	if s, ok := m.fs.(log.FSSyncer); ok {
		return s.SyncFS(root)
	}
	return m.fs.SyncDir(root)
}
