package broker

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

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

// schemaLookupWait bounds the time one produce request spends waiting for
// schema IDs the registry has not read yet (SchemaIDs.Registered), all its
// records and partitions together; the request timeout bounds it too.
const schemaLookupWait = 3 * time.Second

// schemaLookups are one produce request's schema ID lookups: each ID is
// asked once, and the waits share one deadline. Before, every record
// naming an ID the registry did not know waited on its own, so a batch of
// a thousand such records held its connection for most of an hour.
type schemaLookups struct {
	parent  context.Context
	timeout time.Duration
	mu      sync.Mutex
	ctx     context.Context // made at the first lookup
	cancel  context.CancelFunc
	known   map[int32]bool
}

type schemaLookupsKey struct{}

// withSchemaLookups gives a produce request's context its lookups, bounded
// by timeout (the request's; 0 or less, which acks=0 and acks=1 requests
// may carry, is schemaLookupWait); release ends them.
func withSchemaLookups(ctx context.Context, timeout time.Duration) (context.Context, func()) {
	if timeout <= 0 {
		timeout = schemaLookupWait
	}
	lk := &schemaLookups{parent: ctx, timeout: min(timeout, schemaLookupWait)}
	return context.WithValue(ctx, schemaLookupsKey{}, lk), func() {
		lk.mu.Lock()
		defer lk.mu.Unlock()
		if lk.cancel != nil {
			lk.cancel()
		}
	}
}

// registered is SchemaIDs.Registered, asked once per ID per request.
func (lk *schemaLookups) registered(ids SchemaIDs, id int32) bool {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if ok, seen := lk.known[id]; seen {
		return ok
	}
	if lk.ctx == nil {
		lk.ctx = lk.parent
		if lk.timeout > 0 { // else a batch's own lookups: the caller's bound
			lk.ctx, lk.cancel = context.WithTimeout(lk.parent, lk.timeout)
		}
		lk.known = make(map[int32]bool)
	}
	ok := ids.Registered(lk.ctx, id)
	lk.known[id] = ok
	return ok
}

// recordChecks is recordCheck plus the schema validation the topic asks
// for, or nil when there is nothing to check. The schema IDs are looked up
// through ctx's schemaLookups (withSchemaLookups), or lookups of this
// batch alone.
func (b *Broker) recordChecks(ctx context.Context, ts *topicSettings, h record.Header, now int64) func(record.Record) error {
	check := recordCheck(ts, h, now)
	key, value := ts.cfg.Bool(config.KeySchemaValidationConfig), ts.cfg.Bool(config.ValueSchemaValidationConfig)
	if !key && !value {
		return check
	}
	lk, _ := ctx.Value(schemaLookupsKey{}).(*schemaLookups)
	if lk == nil {
		lk = &schemaLookups{parent: ctx}
	}
	return func(r record.Record) error {
		if check != nil {
			if err := check(r); err != nil {
				return err
			}
		}
		if key {
			if err := b.checkSchemaFraming(lk, "key", config.KeySchemaValidationConfig, r.Key, r.OffsetDelta); err != nil {
				return err
			}
		}
		if value {
			return b.checkSchemaFraming(lk, "value", config.ValueSchemaValidationConfig, r.Value, r.OffsetDelta)
		}
		return nil
	}
}

func (b *Broker) checkSchemaFraming(lk *schemaLookups, what, setting string, data []byte, index int32) error {
	if data == nil {
		return nil // null (an empty value is not null, and is refused)
	}
	if len(data) < 5 || data[0] != 0 {
		return kerrf(kerr.InvalidRecord, "the %s of record %d does not start with a schema ID (magic byte 0 and 4 bytes), which %s requires", what, index, setting)
	}
	id := int32(binary.BigEndian.Uint32(data[1:5]))
	if b.cfg.SchemaIDs != nil && !lk.registered(b.cfg.SchemaIDs, id) {
		return kerrf(kerr.InvalidRecord, "the %s of record %d names schema ID %d, which is not registered (%s)", what, index, id, setting)
	}
	return nil
}
