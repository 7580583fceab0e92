package config

import (
	"errors"
	"slices"
)

// compressionTypes are Kafka's codec names as compression.type accepts them.
func compressionTypes() []string {
	return []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}
}

// Zstandard's level range as Kafka states it (zstd's minimum negative level).
const (
	zstdMinLevel = -131072
	zstdMaxLevel = 22
)

// topicDefs returns the topic configs with Kafka's names, types, defaults and
// valid values (Kafka's LogConfig), each tied to the broker config that
// provides its default.
func topicDefs() []*Def {
	return []*Def{
		{
			Name: "cleanup.policy", Type: TypeList, Default: "delete", HasDefault: true,
			BrokerDefault: "log.cleanup.policy", Validate: listOf("compact", "delete"),
			Doc: "What happens to old segments: \"delete\" removes them once past retention.ms or retention.bytes, " +
				"\"compact\" keeps only the latest record per key; \"compact,delete\" does both.",
		},
		{
			Name: "compression.gzip.level", Type: TypeInt, Default: "-1", HasDefault: true,
			BrokerDefault: "compression.gzip.level", Validate: gzipLevel,
			Doc: "Level used when compression.type is gzip: 1 to 9, or -1 for the codec's default.",
		},
		{
			Name: "compression.lz4.level", Type: TypeInt, Default: "9", HasDefault: true,
			BrokerDefault: "compression.lz4.level", Validate: between(1, 17),
			Doc: "Level used when compression.type is lz4 (1 to 17).",
		},
		{
			Name: "compression.type", Type: TypeString, Default: "producer", HasDefault: true,
			BrokerDefault: "compression.type", Validate: oneOf(compressionTypes()...),
			Doc: "Codec batches are stored with: gzip, snappy, lz4, zstd, uncompressed, " +
				"or producer to keep whatever the producer sent.",
		},
		{
			Name: "compression.zstd.level", Type: TypeInt, Default: "3", HasDefault: true,
			BrokerDefault: "compression.zstd.level", Validate: between(zstdMinLevel, zstdMaxLevel),
			Doc: "Level used when compression.type is zstd (-131072 to 22).",
		},
		{
			Name: "delete.retention.ms", Type: TypeLong, Default: "86400000", HasDefault: true,
			BrokerDefault: "log.cleaner.delete.retention.ms", Validate: atLeast(0),
			Doc: "On a compacted topic, how long a tombstone (a record with a null value) is kept, " +
				"which bounds how long a consumer reading from the start may take to see it.",
		},
		{
			Name: "file.delete.delay.ms", Type: TypeLong, Default: "60000", HasDefault: true,
			BrokerDefault: "log.segment.delete.delay.ms", Validate: atLeast(0),
			Doc: "How long a segment removed from the log waits before its files are deleted from disk.",
		},
		{
			Name: "flush.messages", Type: TypeLong, Default: maxLong, HasDefault: true,
			BrokerDefault: "log.flush.interval.messages", Validate: atLeast(1),
			Doc: "Force an fsync of the log after this many appended records.",
		},
		{
			Name: "flush.ms", Type: TypeLong, Default: maxLong, HasDefault: true,
			BrokerDefault: "log.flush.interval.ms", Validate: atLeast(0),
			Doc: "Force an fsync of the log when appended data is older than this many milliseconds.",
		},
		{
			Name: "follower.replication.throttled.replicas", Type: TypeList, Default: "", HasDefault: true,
			Validate: throttledReplicas,
			Doc:      "Replicas whose follower-side replication is throttled: partition:broker pairs, or * for all.",
		},
		{
			Name: "index.interval.bytes", Type: TypeInt, Default: "4096", HasDefault: true,
			BrokerDefault: "log.index.interval.bytes", Validate: atLeast(0),
			Doc: "Bytes appended between two entries of the sparse offset index.",
		},
		{
			Name: "leader.replication.throttled.replicas", Type: TypeList, Default: "", HasDefault: true,
			Validate: throttledReplicas,
			Doc:      "Replicas whose leader-side replication is throttled: partition:broker pairs, or * for all.",
		},
		{
			Name: "max.compaction.lag.ms", Type: TypeLong, Default: maxLong, HasDefault: true,
			BrokerDefault: "log.cleaner.max.compaction.lag.ms", Validate: atLeast(1),
			Doc: "Longest time a record may stay uncompacted on a compacted topic.",
		},
		{
			Name: "max.message.bytes", Type: TypeInt, Default: "1048588", HasDefault: true,
			BrokerDefault: "message.max.bytes", Validate: atLeast(0),
			Doc: "Largest record batch, after compression, that the topic accepts.",
		},
		{
			Name: "message.downconversion.enable", Type: TypeBoolean, Default: "true", HasDefault: true,
			BrokerDefault: "log.message.downconversion.enable",
			Doc:           "Whether old fetch versions may receive batches converted to an older format. Removed in Kafka 4.0; kept for 3.x tools.",
		},
		{
			Name: "message.timestamp.after.max.ms", Type: TypeLong, Default: "3600000", HasDefault: true,
			BrokerDefault: "log.message.timestamp.after.max.ms", Validate: atLeast(0),
			Doc: "With CreateTime, how far in the future of the broker's clock a record's timestamp may be.",
		},
		{
			Name: "message.timestamp.before.max.ms", Type: TypeLong, Default: maxLong, HasDefault: true,
			BrokerDefault: "log.message.timestamp.before.max.ms", Validate: atLeast(0),
			Doc: "With CreateTime, how far in the past of the broker's clock a record's timestamp may be.",
		},
		{
			Name: "message.timestamp.difference.max.ms", Type: TypeLong, Default: maxLong, HasDefault: true,
			BrokerDefault: "log.message.timestamp.difference.max.ms", Validate: atLeast(0),
			Doc: "Deprecated form of the before/after limits. Removed in Kafka 4.0; kept for 3.x tools.",
		},
		{
			Name: "message.timestamp.type", Type: TypeString, Default: "CreateTime", HasDefault: true,
			BrokerDefault: "log.message.timestamp.type", Validate: oneOf("CreateTime", "LogAppendTime"),
			Doc: "Whether records keep the producer's timestamp (CreateTime) or get the broker's append time (LogAppendTime).",
		},
		{
			Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: "0.5", HasDefault: true,
			BrokerDefault: "log.cleaner.min.cleanable.ratio", Validate: ratio,
			Doc: "Share of a compacted log that must be uncompacted before the cleaner works on it.",
		},
		{
			Name: "min.compaction.lag.ms", Type: TypeLong, Default: "0", HasDefault: true,
			BrokerDefault: "log.cleaner.min.compaction.lag.ms", Validate: atLeast(0),
			Doc: "Shortest time a record stays uncompacted on a compacted topic.",
		},
		{
			Name: "min.insync.replicas", Type: TypeInt, Default: "1", HasDefault: true,
			BrokerDefault: "min.insync.replicas", Validate: atLeast(1),
			Doc: "With acks=all, how many in-sync replicas must hold a write before it is acknowledged; " +
				"with fewer in sync, such produce requests fail.",
		},
		{
			Name: "preallocate", Type: TypeBoolean, Default: "false", HasDefault: true,
			BrokerDefault: "log.preallocate",
			Doc:           "Whether a new segment file is allocated at full size when it is created.",
		},
		{
			Name: "retention.bytes", Type: TypeLong, Default: "-1", HasDefault: true,
			BrokerDefault: "log.retention.bytes",
			Doc:           "Largest size a partition may reach before old segments are deleted; -1 for no limit.",
		},
		{
			Name: "retention.ms", Type: TypeLong, Default: "604800000", HasDefault: true,
			BrokerDefault: "log.retention.ms", Validate: atLeast(-1),
			Doc: "How long a segment is kept, by its newest timestamp, before it is deleted; -1 for no limit.",
		},
		{
			Name: "segment.bytes", Type: TypeInt, Default: "1073741824", HasDefault: true,
			BrokerDefault: "log.segment.bytes", Validate: atLeast(14),
			Doc: "Size at which the active segment is closed and a new one started.",
		},
		{
			Name: "segment.index.bytes", Type: TypeInt, Default: "10485760", HasDefault: true,
			BrokerDefault: "log.index.size.max.bytes", Validate: atLeast(4),
			Doc: "Largest size of a segment's offset index; a full index rolls the segment.",
		},
		{
			Name: "segment.jitter.ms", Type: TypeLong, Default: "0", HasDefault: true,
			BrokerDefault: "log.roll.jitter.ms", Validate: atLeast(0),
			Doc: "Largest random amount taken off segment.ms, so that partitions do not all roll at once.",
		},
		{
			Name: "segment.ms", Type: TypeLong, Default: "604800000", HasDefault: true,
			BrokerDefault: "log.roll.ms", Validate: atLeast(1),
			Doc: "Age at which the active segment is rolled even if not full, so that retention and compaction can act on it.",
		},
		{
			Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false", HasDefault: true,
			BrokerDefault: "unclean.leader.election.enable",
			Doc:           "Whether a replica outside the ISR may become leader when no in-sync replica is left, at the cost of losing records.",
		},
	}
}

// resolveTopic computes a topic's effective values: its own settings, then
// the broker's effective defaults, then the table's, and checks them as
// Kafka checks a topic's configs when they are set.
func resolveTopic(b *Broker, settings map[string]string) (*Topic, error) {
	t, err := layerTopic(b, settings, false)
	if err != nil {
		return nil, err
	}
	// Kafka's LogConfig.validateValues: the compaction lags must be ordered.
	// The broker's pair is kept ordered, so only a topic setting can break it.
	lo, hi := t.values["min.compaction.lag.ms"], t.values["max.compaction.lag.ms"]
	if (lo.Source == SourceTopic || hi.Source == SourceTopic) && lo.p.i > hi.p.i {
		return nil, invalid("topic", "min.compaction.lag.ms", lo.Value.Value,
			"it is larger than max.compaction.lag.ms ("+hi.Value.Value+")")
	}
	return t, nil
}

// applyTopic is resolveTopic for configs already stored: it always returns
// the topic's values. A stored setting that no longer parses (this
// software knows it otherwise than the one that stored it) takes its
// default alone, named in the error, and no check across settings applies,
// as Kafka's LogConfig.fromProps builds a log's config without one: a
// cluster default changed since must not cost a topic its other settings
// (a compacted topic its cleanup.policy).
func applyTopic(b *Broker, settings map[string]string) (*Topic, error) {
	return layerTopic(b, settings, true)
}

// layerTopic layers settings over the broker's defaults. With lenient, a
// setting that does not parse is skipped (and reported) instead of failing.
func layerTopic(b *Broker, settings map[string]string, lenient bool) (*Topic, error) {
	if b == nil {
		b = defaultBroker()
	}
	t := &Topic{table: b.topics, values: make(map[string]entry, len(b.topics.defs)), broker: b}
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	slices.Sort(names) // report the first bad config deterministically
	var skipped []error
	for _, name := range names {
		d, p, err := b.topics.parse(name, settings[name])
		if err != nil {
			if !lenient {
				return nil, err
			}
			skipped = append(skipped, err)
			continue
		}
		t.values[name] = entry{Value: Value{Def: d, Value: p.s, Source: SourceTopic}, p: p, from: name}
	}
	for _, d := range b.topics.defs {
		if _, ok := t.values[d.Name]; !ok {
			t.values[d.Name] = b.topicDefault(d)
		}
	}
	return t, errors.Join(skipped...)
}

// topicDefault is the value topic config d takes with no topic setting: the
// effective value of its broker config, or its own default.
func (b *Broker) topicDefault(d *Def) entry {
	if d.BrokerDefault != "" {
		if bv, ok := b.values[d.BrokerDefault]; ok && !bv.IsNull {
			// NewBroker and WithDynamic keep every broker default valid
			// for its topic config; this check only guards that promise.
			if p, reason := check(d, bv.Value.Value); reason == "" {
				return entry{Value: Value{Def: d, Value: p.s, Source: bv.Source}, p: p, from: bv.from}
			}
		}
	}
	return b.topics.defaults[d.Name]
}

// List returns the elements of a list topic config (cleanup.policy),
// panicking on a name that is not a list config in the table.
func (t *Topic) List(name string) []string { return lookupEntry(t.values, name).list(name) }
