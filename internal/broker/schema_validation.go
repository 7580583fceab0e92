package broker

import (
	"context"
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/record"
)

// Broker-side schema validation (issue 16), as Confluent Server does it: a
// topic with confluent.value.schema.validation (or .key.) set refuses,
// with INVALID_RECORD, a batch holding a record whose value (key) does not
// start with a schema registry framing: magic byte 0 and the big-endian
// 4-byte ID of a registered schema. A null value or null key passes, as in
// Confluent Server: tombstones and unkeyed records carry no schema.

// SchemaIDs says which schema IDs are registered: the node's schema
// registry.
type SchemaIDs interface {
	// Registered reports whether id names a registered schema. It may
	// wait, within ctx, for a registry still reading a schema just
	// registered elsewhere.
	Registered(ctx context.Context, id int32) bool
}

// recordChecks is recordCheck plus the schema validation the topic asks
// for, or nil when there is nothing to check.
func (b *Broker) recordChecks(ctx context.Context, ts *topicSettings, h record.Header, now int64) func(record.Record) error {
	check := recordCheck(ts, h, now)
	key, value := ts.cfg.Bool(config.KeySchemaValidationConfig), ts.cfg.Bool(config.ValueSchemaValidationConfig)
	if !key && !value {
		return check
	}
	return func(r record.Record) error {
		if check != nil {
			if err := check(r); err != nil {
				return err
			}
		}
		if key {
			if err := b.checkSchemaFraming(ctx, "key", config.KeySchemaValidationConfig, r.Key, r.OffsetDelta); err != nil {
				return err
			}
		}
		if value {
			return b.checkSchemaFraming(ctx, "value", config.ValueSchemaValidationConfig, r.Value, r.OffsetDelta)
		}
		return nil
	}
}

func (b *Broker) checkSchemaFraming(ctx context.Context, what, setting string, data []byte, index int32) error {
	if data == nil {
		return nil // null (an empty value is not null, and is refused)
	}
	if len(data) < 5 || data[0] != 0 {
		return kerrf(kerr.InvalidRecord, "the %s of record %d does not start with a schema ID (magic byte 0 and 4 bytes), which %s requires", what, index, setting)
	}
	id := int32(binary.BigEndian.Uint32(data[1:5]))
	if b.cfg.SchemaIDs != nil && !b.cfg.SchemaIDs.Registered(ctx, id) {
		return kerrf(kerr.InvalidRecord, "the %s of record %d names schema ID %d, which is not registered (%s)", what, index, id, setting)
	}
	return nil
}
