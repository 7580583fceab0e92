package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/record"
)

// errMissingKey stops the record walk at the first record without a key.
var errMissingKey = errors.New("record without a key")

// checkCompactedKeys refuses a batch holding a record without a key when
// the topic is compacted: the log cleaner keeps the latest record per key,
// so a keyless record has no meaning there. Kafka's LogValidator refuses it
// the same way, with INVALID_RECORD. raw is the batch's record section,
// already decompressed by validateRecords.
func checkCompactedKeys(tcfg *config.Topic, h record.Header, raw []byte) error {
	compacted := false
	for _, p := range tcfg.List("cleanup.policy") {
		compacted = compacted || p == "compact"
	}
	if !compacted {
		return nil
	}
	var missing int32 = -1
	err := record.IterRecords(raw, h.RecordCount, func(r record.Record) error {
		if r.Key == nil {
			missing = r.OffsetDelta
			return errMissingKey
		}
		return nil
	})
	if errors.Is(err, errMissingKey) {
		return kerrf(kerr.InvalidRecord, "compacted topic cannot accept a record without a key (record %d of the batch)", missing)
	}
	return err
}
