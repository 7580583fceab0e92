// Package config holds Sluice's broker and topic config definitions: each
// config's Kafka name, type, default, validation, documentation and, for
// broker configs, whether it can be changed at runtime.
//
// # What it owns
//
// Two tables built by TopicTable and BrokerTable, and the rules that turn
// settings into effective values:
//
//   - NewBroker validates static settings (flags, a properties file) and
//     layers them over the defaults. WithDynamic layers the dynamic values
//     from cluster metadata on top: the cluster-wide default (resource "")
//     and then this broker's own (resource = its ID).
//   - ResolveTopic layers a topic's own settings over the broker's.
//
// The precedence for one value is, highest first: topic config
// (DYNAMIC_TOPIC_CONFIG), per-broker dynamic (DYNAMIC_BROKER_CONFIG),
// cluster-wide dynamic (DYNAMIC_DEFAULT_BROKER_CONFIG), static
// (STATIC_BROKER_CONFIG), default (DEFAULT_CONFIG). A topic config with no
// topic value takes the effective value of the broker config named by its
// Def.BrokerDefault, with that value's source.
//
// Some broker configs are spelled several ways, as in Kafka:
// log.retention.ms / .minutes / .hours, log.roll.ms / .hours,
// log.roll.jitter.ms / .hours, log.flush.interval.ms /
// log.flush.scheduler.interval.ms, log.dirs / log.dir and node.id /
// broker.id. The first spelling set in the highest layer wins, and within a
// layer the most precise one wins (ms over minutes over hours). Broker.Get of
// the primary name (log.retention.ms, log.roll.ms, log.roll.jitter.ms,
// log.flush.interval.ms, log.dirs, node.id, broker.id) returns the folded,
// effective value with the source of the spelling that supplied it; the
// secondary names report their own settings. As in Kafka, a negative
// retention time folds to -1 (no limit).
//
// Values are parsed as Kafka parses them (surrounding space trimmed, booleans
// case-insensitive, lists comma-separated) and kept in canonical form:
// "TRUE" reads back as "true", " compact , delete " as "compact,delete", and
// doubles print as Java prints them ("0.5", "1.7976931348623157E308"). The
// effective config therefore prints and parses back to itself.
//
// # Deliberate differences from Kafka
//
//   - Unknown static broker settings are refused (Kafka only warns).
//   - log.dir defaults to ./sluice-data, Sluice's data directory, rather than
//     /tmp/kafka-logs.
//   - segment.bytes and log.segment.bytes keep Kafka 3.x's minimum of 14
//     bytes; Kafka 4.0 raised it to 1 MiB (KIP-1030).
//   - message.timestamp.difference.max.ms and message.downconversion.enable
//     (removed in Kafka 4.0) are still accepted, so that 3.x tools work.
//   - Empty list elements ("compact,,delete") and non-finite doubles are
//     refused.
//
// # What it must never do
//
// It keeps no package-level mutable state: every table is built by a function
// call and is read-only afterwards, and Broker and Topic values are immutable
// (WithDynamic returns a copy). It does no I/O and imports nothing of ours.
package config
