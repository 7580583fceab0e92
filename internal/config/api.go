package config

// This file fixes the contract of the config tables that the rest of Sluice
// codes against: keep these exported names and their documented behaviour.

import (
	"errors"
	"slices"
)

// ErrInvalid marks a config name or value that is refused; the message names
// the config and says why.
var ErrInvalid = errors.New("config: invalid")

// ErrUnknown marks a config name that does not exist.
var ErrUnknown = errors.New("config: unknown config")

// Type is a config's value type, numbered as DescribeConfigs v3+ reports it.
type Type int8

// Config types (DescribeConfigsResponse ConfigType).
const (
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3
	TypeShort    Type = 4
	TypeLong     Type = 5
	TypeDouble   Type = 6
	TypeList     Type = 7
	TypeClass    Type = 8
	TypePassword Type = 9
)

// Def defines one config: its Kafka name, type, default and validation.
type Def struct {
	Name    string
	Type    Type
	Default string // "" with HasDefault false means no default (null)
	// HasDefault is false for configs whose default is null.
	HasDefault bool
	Doc        string
	// BrokerDefault, on a topic config, names the broker config whose value
	// is the topic's default (retention.ms <- log.retention.ms).
	BrokerDefault string
	// Dynamic broker configs may be changed at runtime through AlterConfigs.
	Dynamic   bool
	ReadOnly  bool
	Sensitive bool
	// Validate checks a value that already parsed as Type; nil accepts all.
	Validate func(string) error
}

// Table is an immutable set of definitions.
type Table struct {
	kind   string // "topic" or "broker", for messages
	defs   []*Def // sorted by name
	byName map[string]*Def
	// defaults are the parsed defaults, by name.
	defaults map[string]entry
}

// TopicTable returns the topic config definitions (Kafka's names and defaults).
func TopicTable() *Table {
	return newTable("topic", append(append(topicDefs(), mirrorTopicDefs()...), schemaTopicDefs()...))
}

// BrokerTable returns the broker config definitions.
func BrokerTable() *Table { return newTable("broker", append(brokerDefs(), securityDefs()...)) }

// Lookup finds a definition by name.
func (t *Table) Lookup(name string) (*Def, bool) {
	d, ok := t.byName[name]
	return d, ok
}

// Defs returns all definitions sorted by name.
func (t *Table) Defs() []*Def { return slices.Clone(t.defs) }

// Validate checks one name=value against the table: the name must exist, the
// value must parse as its type and pass its validation. Errors wrap
// ErrUnknown or ErrInvalid and name the config.
func (t *Table) Validate(name, value string) error {
	_, _, err := t.parse(name, value)
	return err
}

// Source says where an effective value came from (DescribeConfigs ConfigSource).
type Source int8

// Config sources.
const (
	SourceTopic          Source = 1 // DYNAMIC_TOPIC_CONFIG
	SourceDynamicBroker  Source = 2 // DYNAMIC_BROKER_CONFIG
	SourceDynamicDefault Source = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG
	SourceStaticBroker   Source = 4 // STATIC_BROKER_CONFIG
	SourceDefault        Source = 5 // DEFAULT_CONFIG
)

// Value is one effective config value.
type Value struct {
	Def    *Def
	Value  string
	IsNull bool
	Source Source
}

// Broker is the broker's effective configuration: static values from flags
// layered over defaults, and dynamic values from the cluster metadata.
type Broker struct {
	table, topics *Table
	// layers hold the settings given, canonical, by precedence (static,
	// dynamic cluster default, dynamic per broker); never written once
	// the Broker is returned.
	layers [numLayers]map[string]parsed
	values map[string]entry
}

// NewBroker validates static broker settings (from flags or a properties
// file) and returns the effective broker config. Errors name the config.
func NewBroker(static map[string]string) (*Broker, error) { return newBroker(static) }

// WithDynamic returns a copy with dynamic values layered on: clusterDefault
// (resource "") and perBroker (this broker's ID). Invalid dynamic values are
// skipped; they were validated before they were committed. Values that are
// not dynamic in Kafka are skipped too, as are values that would leave a
// topic default invalid. Dynamic values already in b are replaced, not
// merged. A nil b stands for NewBroker(nil).
func (b *Broker) WithDynamic(clusterDefault, perBroker map[string]string) *Broker {
	if b == nil {
		b = defaultBroker()
	}
	return b.withDynamic(clusterDefault, perBroker)
}

// CheckDynamic reports the value that dynamic layers clusterDefault and
// perBroker would leave invalid as a topic default (a compaction lag pair
// out of order), which WithDynamic would drop: a change that leads there
// is refused when it is made, rather than acknowledged and then dropped.
// A nil b stands for NewBroker(nil).
func (b *Broker) CheckDynamic(clusterDefault, perBroker map[string]string) error {
	if b == nil {
		b = defaultBroker()
	}
	return b.checkDynamic(clusterDefault, perBroker)
}

// Get returns the effective value of a broker config. For a config that has
// synonyms (log.retention.ms, log.roll.ms, log.roll.jitter.ms,
// log.flush.interval.ms, log.dirs, node.id, broker.id) it is the folded value,
// with the source of the synonym that supplied it.
func (b *Broker) Get(name string) (Value, bool) {
	e, ok := b.values[name]
	return e.Value, ok
}

// Int64 returns a numeric broker config; it panics on a name that is not an
// integer config in the table (a programming error). A null value reads as 0.
func (b *Broker) Int64(name string) int64 { return lookupEntry(b.values, name).int64(name) }

// Bool returns a boolean broker config, panicking as Int64 does.
func (b *Broker) Bool(name string) bool { return lookupEntry(b.values, name).bool(name) }

// String returns a broker config as a string: "" for a null value or an
// unknown name.
func (b *Broker) String(name string) string { return b.values[name].Value.Value }

// All returns every broker config's effective value, sorted by name.
func (b *Broker) All() []Value { return sortedValues(b.table, b.values) }

// ClusterDefaults returns the dynamic cluster-wide values (broker resource
// "") that b holds, sorted by name, with source DYNAMIC_DEFAULT_BROKER_CONFIG,
// whether or not a per-broker value overrides them: what DescribeConfigs of
// the cluster-wide resource lists.
func (b *Broker) ClusterDefaults() []Value { return b.clusterDefaults() }

// Synonyms returns the values that may supply broker config name, most
// precedent first, as Kafka's DescribeConfigs lists them with
// include_synonyms (ConfigHelper.configSynonyms): each of its spellings set
// for this broker, then cluster-wide, then statically, then each spelling's
// default. log.retention.ms, say, lists log.retention.ms, .minutes and
// .hours in each layer, down to DEFAULT_CONFIG log.retention.hours=168.
// An unknown name has none.
func (b *Broker) Synonyms(name string) []Value { return b.synonyms(name) }

// Topic is a topic's effective configuration.
type Topic struct {
	table  *Table
	values map[string]entry
	broker *Broker // supplies the defaults (Synonyms)
}

// ResolveTopic layers a topic's own settings over the broker's defaults.
// Invalid values are an error naming the config. A nil b stands for
// NewBroker(nil).
func ResolveTopic(b *Broker, topic map[string]string) (*Topic, error) { return resolveTopic(b, topic) }

// ApplyTopic is ResolveTopic for a topic's stored configs, to run the topic
// by: it always returns the topic's values. A stored setting that does not
// parse takes its default alone, and the error names it; no check across
// settings applies (Kafka's LogConfig.fromProps), so a cluster default
// changed since cannot cost the topic its other settings.
func ApplyTopic(b *Broker, topic map[string]string) (*Topic, error) { return applyTopic(b, topic) }

// Get returns the effective value of a topic config.
func (t *Topic) Get(name string) (Value, bool) {
	e, ok := t.values[name]
	return e.Value, ok
}

// Int64 returns a numeric topic config, panicking on an unknown name or one
// that is not an integer config.
func (t *Topic) Int64(name string) int64 { return lookupEntry(t.values, name).int64(name) }

// Float64 returns a double (or integer) topic config, panicking on an unknown
// name or one that is not numeric.
func (t *Topic) Float64(name string) float64 { return lookupEntry(t.values, name).float64(name) }

// String returns a topic config as a string ("" for an unknown name).
func (t *Topic) String(name string) string { return t.values[name].Value.Value }

// Bool returns a boolean topic config, panicking on an unknown name or one
// that is not a boolean config.
func (t *Topic) Bool(name string) bool { return lookupEntry(t.values, name).bool(name) }

// All returns every topic config's effective value, sorted by name.
func (t *Topic) All() []Value { return sortedValues(t.table, t.values) }

// Synonyms returns the values that may supply topic config name, most
// precedent first: the topic's own setting, then the synonyms of the broker
// config that provides its default (Broker.Synonyms), as Kafka lists them.
func (t *Topic) Synonyms(name string) []Value {
	e, ok := t.values[name]
	if !ok {
		return nil
	}
	var out []Value
	if e.Source == SourceTopic {
		out = append(out, e.Value)
	}
	if e.Def.BrokerDefault != "" {
		out = append(out, t.broker.Synonyms(e.Def.BrokerDefault)...)
	}
	return out
}
