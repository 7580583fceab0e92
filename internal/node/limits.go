package node

import (
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/quota"
)

// decompressionBudget is sluice.decompression.max.bytes, with -1 (the
// default) resolved from the memory the process may use.
func decompressionBudget(static *config.Broker) int64 {
	if v := static.Int64("sluice.decompression.max.bytes"); v > 0 {
		return v
	}
	return quota.DefaultDecompressionBudget(quota.Memory())
}
