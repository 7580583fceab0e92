package node

import (
	"fmt"

	"github.com/sluice-io/sluice/internal/log"
)

// partitionFS is the filesystem of the partition logs: Config.LogFS, with
// the log directories made in it, or the one a faultfs build asks for.
func partitionFS(cfg Config, logDirs []string) (log.FS, error) {
	fsys := cfg.LogFS
	if fsys == nil {
		var err error
		if fsys, err = faultFS(cfg.Logger); err != nil || fsys == nil {
			return nil, err
		}
	}
	for _, dir := range logDirs {
		if err := fsys.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create log directory %s: %w", dir, err)
		}
	}
	return fsys, nil
}
