package node

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/log"
)

// logDirMarkFile marks a log directory as one this broker has started on
// before. A directory without it is new to the broker, or was wiped or
// replaced while the broker was down.
const logDirMarkFile = "sluice-log-dir.properties"

// markLogDirs checks that every log directory carries this broker's mark
// and writes the mark where it is missing. It reports whether any was
// missing: that directory's partitions may have lost their data, so the
// broker must not rejoin the ISRs it held (cluster.Config.NewLogDirs). A
// mark of another broker is an error, as in Kafka, whose meta.properties
// names the node a directory belongs to. allNew reports that none had the
// mark: the broker holds no data of any partition. fsys is the log
// directories' filesystem, nil for the operating system's.
func markLogDirs(fsys log.FS, nodeID int32, dirs []string) (anyNew, allNew bool, err error) {
	if fsys == nil {
		fsys = log.OSFS{}
	}
	fresh := 0
	for _, dir := range dirs {
		path := filepath.Join(dir, logDirMarkFile)
		b, err := log.ReadSmallFile(fsys, path, 4096)
		mark := strings.TrimSpace(string(b))
		switch {
		case err == nil:
			id, ok := strings.CutPrefix(mark, "node.id=")
			if n, perr := strconv.ParseInt(id, 10, 32); !ok || perr != nil || int32(n) != nodeID {
				return false, false, fmt.Errorf("log directory %s belongs to another broker: %s says %q, this broker is node.id=%d", dir, path, mark, nodeID)
			}
			continue
		case !errors.Is(err, fs.ErrNotExist):
			return false, false, fmt.Errorf("read %s: %w", path, err)
		}
		anyNew = true
		fresh++
		if err := log.WriteFileAtomic(fsys, dir, logDirMarkFile, fmt.Appendf(nil, "node.id=%d\n", nodeID)); err != nil {
			return false, false, err
		}
	}
	return anyNew, fresh == len(dirs), nil
}

// cleanLogDirs returns the log directories as clean paths: a partition's
// directory is its root joined with its name, which cleans the root
// ("./data/" becomes "data"), and every lookup of a partition's root
// compares the two. The same directory twice is refused, as Kafka refuses
// it.
func cleanLogDirs(dirs []string) ([]string, error) {
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		c := filepath.Clean(d)
		if slices.Contains(out, c) {
			return nil, fmt.Errorf("log directory %s is listed twice in log.dirs", d)
		}
		out = append(out, c)
	}
	return out, nil
}
