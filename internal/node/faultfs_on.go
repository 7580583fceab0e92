//go:build faultfs

package node

import (
	"log/slog"
	"os"

	"github.com/sluice-io/sluice/internal/faultfs"
	"github.com/sluice-io/sluice/internal/log"
)

// faultFS is, in a binary built with the faultfs tag (tests only), a
// fault injector over the operating system's filesystem whose rules are
// read from the control file SLUICE_FAULTFS names (package faultfs).
func faultFS(logger *slog.Logger) (log.FS, error) {
	path := os.Getenv("SLUICE_FAULTFS")
	if path == "" {
		return nil, nil
	}
	logger.Warn("disk fault injection enabled (a test build)", "control_file", path)
	return faultfs.FromControlFile(log.OSFS{}, path, logger)
}
