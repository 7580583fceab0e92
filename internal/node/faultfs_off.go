//go:build !faultfs

package node

import (
	"log/slog"

	"github.com/sluice-io/sluice/internal/log"
)

// faultFS is nil: only a binary built with the faultfs tag injects disk
// faults (faultfs_on.go).
func faultFS(*slog.Logger) (log.FS, error) { return nil, nil }
