package config

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

const null = "<null>"

// Kafka's topic configs (LogConfig, 3.x names kept): type, default, and the
// broker config that supplies the default (ServerTopicConfigSynonyms).
var kafkaTopicConfigs = []struct {
	name, dflt, broker string
	typ                Type
}{
	{"cleanup.policy", "delete", "log.cleanup.policy", TypeList},
	{"compression.gzip.level", "-1", "compression.gzip.level", TypeInt},
	{"compression.lz4.level", "9", "compression.lz4.level", TypeInt},
	{"compression.type", "producer", "compression.type", TypeString},
	{"compression.zstd.level", "3", "compression.zstd.level", TypeInt},
	// Confluent Server's broker-side schema validation (schema_defs.go).
	{"confluent.key.schema.validation", "false", "", TypeBoolean},
	{"confluent.value.schema.validation", "false", "", TypeBoolean},
	{"delete.retention.ms", "86400000", "log.cleaner.delete.retention.ms", TypeLong},
	{"file.delete.delay.ms", "60000", "log.segment.delete.delay.ms", TypeLong},
	{"flush.messages", "9223372036854775807", "log.flush.interval.messages", TypeLong},
	{"flush.ms", "9223372036854775807", "log.flush.interval.ms", TypeLong},
	{"follower.replication.throttled.replicas", "", "", TypeList},
	{"index.interval.bytes", "4096", "log.index.interval.bytes", TypeInt},
	{"leader.replication.throttled.replicas", "", "", TypeList},
	{"max.compaction.lag.ms", "9223372036854775807", "log.cleaner.max.compaction.lag.ms", TypeLong},
	{"max.message.bytes", "1048588", "message.max.bytes", TypeInt},
	{"message.downconversion.enable", "true", "log.message.downconversion.enable", TypeBoolean},
	{"message.timestamp.after.max.ms", "3600000", "log.message.timestamp.after.max.ms", TypeLong},
	{"message.timestamp.before.max.ms", "9223372036854775807", "log.message.timestamp.before.max.ms", TypeLong},
	{"message.timestamp.difference.max.ms", "9223372036854775807", "log.message.timestamp.difference.max.ms", TypeLong},
	{"message.timestamp.type", "CreateTime", "log.message.timestamp.type", TypeString},
	{"min.cleanable.dirty.ratio", "0.5", "log.cleaner.min.cleanable.ratio", TypeDouble},
	{"min.compaction.lag.ms", "0", "log.cleaner.min.compaction.lag.ms", TypeLong},
	{"min.insync.replicas", "1", "min.insync.replicas", TypeInt},
	{"preallocate", "false", "log.preallocate", TypeBoolean},
	{"retention.bytes", "-1", "log.retention.bytes", TypeLong},
	{"retention.ms", "604800000", "log.retention.ms", TypeLong},
	{"segment.bytes", "1073741824", "log.segment.bytes", TypeInt},
	{"segment.index.bytes", "10485760", "log.index.size.max.bytes", TypeInt},
	{"segment.jitter.ms", "0", "log.roll.jitter.ms", TypeLong},
	{"segment.ms", "604800000", "log.roll.ms", TypeLong},
	// Sluice's own (mirror_defs.go): a mirror topic's origin and state.
	{"sluice.mirror.source", "", "", TypeString},
	{"sluice.mirror.state", "", "", TypeString},
	{"unclean.leader.election.enable", "false", "unclean.leader.election.enable", TypeBoolean},
}

// Kafka's broker configs (KafkaConfig): type, default, and whether
// DynamicBrokerConfig lets AlterConfigs change it.
var kafkaBrokerConfigs = []struct {
	name, dflt string
	typ        Type
	dynamic    bool
}{
	{"advertised.listeners", null, TypeList, false},
	{"allow.everyone.if.no.acl.found", "false", TypeBoolean, false},
	{"authorizer.class.name", "", TypeString, false},
	{"auto.create.topics.enable", "true", TypeBoolean, false},
	{"auto.leader.rebalance.enable", "true", TypeBoolean, false},
	{"background.threads", "10", TypeInt, true},
	{"broker.heartbeat.interval.ms", "500", TypeInt, false},
	{"broker.id", "-1", TypeInt, false},
	{"broker.rack", null, TypeString, false},
	{"broker.session.timeout.ms", "3000", TypeInt, false},
	{"compression.gzip.level", "-1", TypeInt, true},
	{"compression.lz4.level", "9", TypeInt, true},
	{"compression.type", "producer", TypeString, true},
	{"compression.zstd.level", "3", TypeInt, true},
	{"connection.failed.authentication.delay.ms", "100", TypeInt, false},
	{"connections.max.idle.ms", "600000", TypeLong, false},
	{"connections.max.reauth.ms", "0", TypeLong, false},
	{"controller.listener.names", null, TypeList, false},
	{"controller.quorum.voters", "", TypeList, false},
	{"controller.quota.window.num", "11", TypeInt, false},
	{"controller.quota.window.size.seconds", "1", TypeInt, false},
	{"default.replication.factor", "1", TypeInt, false},
	{"delete.topic.enable", "true", TypeBoolean, false},
	{"fetch.max.bytes", "57671680", TypeInt, false},
	{"follower.replication.throttled.rate", "9223372036854775807", TypeLong, true},
	{"group.consumer.heartbeat.interval.ms", "5000", TypeInt, false},
	{"group.consumer.max.heartbeat.interval.ms", "15000", TypeInt, false},
	{"group.consumer.max.session.timeout.ms", "60000", TypeInt, false},
	{"group.consumer.max.size", "2147483647", TypeInt, false},
	{"group.consumer.min.heartbeat.interval.ms", "5000", TypeInt, false},
	{"group.consumer.min.session.timeout.ms", "45000", TypeInt, false},
	{"group.consumer.session.timeout.ms", "45000", TypeInt, false},
	{"group.initial.rebalance.delay.ms", "3000", TypeInt, false},
	{"group.max.session.timeout.ms", "1800000", TypeInt, false},
	{"group.max.size", "2147483647", TypeInt, false},
	{"group.min.session.timeout.ms", "6000", TypeInt, false},
	{"inter.broker.listener.name", null, TypeString, false},
	{"leader.imbalance.check.interval.seconds", "300", TypeLong, false},
	{"leader.imbalance.per.broker.percentage", "10", TypeInt, false},
	{"leader.replication.throttled.rate", "9223372036854775807", TypeLong, true},
	{"listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL", TypeList, false},
	{"listeners", "", TypeList, false},
	{"log.cleaner.backoff.ms", "15000", TypeLong, true},
	{"log.cleaner.dedupe.buffer.size", "134217728", TypeLong, true},
	{"log.cleaner.delete.retention.ms", "86400000", TypeLong, true},
	{"log.cleaner.enable", "true", TypeBoolean, false},
	{"log.cleaner.io.buffer.load.factor", "0.9", TypeDouble, true},
	{"log.cleaner.io.buffer.size", "524288", TypeInt, true},
	{"log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308", TypeDouble, true},
	{"log.cleaner.max.compaction.lag.ms", "9223372036854775807", TypeLong, true},
	{"log.cleaner.min.cleanable.ratio", "0.5", TypeDouble, true},
	{"log.cleaner.min.compaction.lag.ms", "0", TypeLong, true},
	{"log.cleaner.threads", "1", TypeInt, true},
	{"log.cleanup.policy", "delete", TypeList, true},
	{"log.dir", "./sluice-data", TypeList, false}, // Kafka: /tmp/kafka-logs
	{"log.dir.failure.timeout.ms", "30000", TypeLong, false},
	{"log.dirs", null, TypeList, false},
	{"log.flush.interval.messages", "9223372036854775807", TypeLong, true},
	{"log.flush.interval.ms", null, TypeLong, true},
	{"log.flush.offset.checkpoint.interval.ms", "60000", TypeInt, false},
	{"log.flush.scheduler.interval.ms", "9223372036854775807", TypeLong, false},
	{"log.flush.start.offset.checkpoint.interval.ms", "60000", TypeInt, false},
	{"log.index.interval.bytes", "4096", TypeInt, true},
	{"log.index.size.max.bytes", "10485760", TypeInt, true},
	{"log.message.downconversion.enable", "true", TypeBoolean, true},
	{"log.message.timestamp.after.max.ms", "3600000", TypeLong, true},
	{"log.message.timestamp.before.max.ms", "9223372036854775807", TypeLong, true},
	{"log.message.timestamp.difference.max.ms", "9223372036854775807", TypeLong, true},
	{"log.message.timestamp.type", "CreateTime", TypeString, true},
	{"log.preallocate", "false", TypeBoolean, true},
	{"log.retention.bytes", "-1", TypeLong, true},
	{"log.retention.check.interval.ms", "300000", TypeLong, false},
	{"log.retention.hours", "168", TypeInt, false},
	{"log.retention.minutes", null, TypeInt, false},
	{"log.retention.ms", null, TypeLong, true},
	{"log.roll.hours", "168", TypeInt, false},
	{"log.roll.jitter.hours", "0", TypeInt, false},
	{"log.roll.jitter.ms", null, TypeLong, true},
	{"log.roll.ms", null, TypeLong, true},
	{"log.segment.bytes", "1073741824", TypeInt, true},
	{"log.segment.delete.delay.ms", "60000", TypeLong, true},
	{"max.connection.creation.rate", "2147483647", TypeInt, true},
	{"max.connections", "2147483647", TypeInt, true},
	{"max.connections.per.ip", "2147483647", TypeInt, true},
	{"max.connections.per.ip.overrides", "", TypeString, true},
	{"max.incremental.fetch.session.cache.slots", "1000", TypeInt, false},
	{"message.max.bytes", "1048588", TypeInt, true},
	{"min.insync.replicas", "1", TypeInt, true},
	{"node.id", "-1", TypeInt, false},
	{"num.io.threads", "8", TypeInt, true},
	{"num.network.threads", "3", TypeInt, true},
	{"num.partitions", "1", TypeInt, false},
	{"num.recovery.threads.per.data.dir", "1", TypeInt, true},
	{"num.replica.fetchers", "1", TypeInt, true},
	{"offset.metadata.max.bytes", "4096", TypeInt, false},
	{"offsets.commit.timeout.ms", "5000", TypeInt, false},
	{"offsets.load.buffer.size", "5242880", TypeInt, false},
	{"offsets.retention.check.interval.ms", "600000", TypeLong, false},
	{"offsets.retention.minutes", "10080", TypeInt, false},
	{"offsets.topic.compression.codec", "0", TypeInt, false},
	{"offsets.topic.num.partitions", "50", TypeInt, false},
	{"offsets.topic.replication.factor", "3", TypeShort, false},
	{"offsets.topic.segment.bytes", "104857600", TypeInt, false},
	{"producer.id.expiration.ms", "86400000", TypeInt, true},
	{"queued.max.request.bytes", "-1", TypeLong, false},
	{"queued.max.requests", "500", TypeInt, false},
	{"quota.window.num", "11", TypeInt, false},
	{"quota.window.size.seconds", "1", TypeInt, false},
	{"replica.alter.log.dirs.io.max.bytes.per.second", "9223372036854775807", TypeLong, true},
	{"replica.fetch.backoff.ms", "1000", TypeInt, false},
	{"replica.fetch.max.bytes", "1048576", TypeInt, false},
	{"replica.fetch.min.bytes", "1", TypeInt, false},
	{"replica.fetch.response.max.bytes", "10485760", TypeInt, false},
	{"replica.fetch.wait.max.ms", "500", TypeInt, false},
	{"replica.high.watermark.checkpoint.interval.ms", "5000", TypeLong, false},
	{"replica.lag.time.max.ms", "30000", TypeLong, false},
	{"replica.selector.class", null, TypeString, false},
	{"replica.socket.timeout.ms", "30000", TypeInt, false},
	{"replication.quota.window.num", "11", TypeInt, false},
	{"replication.quota.window.size.seconds", "1", TypeInt, false},
	{"sasl.enabled.mechanisms", "", TypeList, false},
	{"sasl.jaas.config", null, TypePassword, false},
	{"sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-512", TypeString, false},
	{"sasl.oauthbearer.clock.skew.seconds", "30", TypeInt, false},
	{"sasl.oauthbearer.expected.audience", null, TypeList, false},
	{"sasl.oauthbearer.expected.issuer", null, TypeString, false},
	{"sasl.oauthbearer.jwks.endpoint.refresh.ms", "3600000", TypeLong, false},
	{"sasl.oauthbearer.jwks.endpoint.url", null, TypeString, false},
	{"sasl.oauthbearer.sub.claim.name", "sub", TypeString, false},
	{"sasl.plain.users.file", null, TypeString, false},
	{"sasl.server.max.receive.size", "524288", TypeInt, false},
	{"security.inter.broker.protocol", "PLAINTEXT", TypeString, false},
	{"sluice.decompression.max.bytes", "-1", TypeLong, false},
	{"sluice.http.auth.metrics", "true", TypeBoolean, false},
	{"sluice.http.listen", "", TypeString, false},
	{"sluice.http.pprof.enable", "false", TypeBoolean, false},
	{"sluice.http.tls.enable", "false", TypeBoolean, false},
	{"sluice.metrics.group.lag.max.partitions", "10000", TypeInt, false},
	{"sluice.metrics.log.size.max.partitions", "1000", TypeInt, false},
	{"socket.listen.backlog.size", "50", TypeInt, false},
	{"socket.receive.buffer.bytes", "102400", TypeInt, false},
	{"socket.request.max.bytes", "104857600", TypeInt, false},
	{"socket.send.buffer.bytes", "102400", TypeInt, false},
	{"ssl.ca.location", null, TypeString, false},
	{"ssl.certificate.location", null, TypeString, false},
	{"ssl.client.auth", "none", TypeString, false},
	{"ssl.enabled.protocols", "TLSv1.2,TLSv1.3", TypeList, false},
	{"ssl.endpoint.identification.algorithm", "https", TypeString, false},
	{"ssl.key.location", null, TypeString, false},
	{"ssl.keystore.certificate.chain", null, TypePassword, false},
	{"ssl.keystore.key", null, TypePassword, false},
	{"ssl.keystore.location", null, TypeString, false},
	{"ssl.keystore.type", "PEM", TypeString, false},
	{"ssl.principal.mapping.rules", "DEFAULT", TypeString, false},
	{"ssl.truststore.certificates", null, TypePassword, false},
	{"ssl.truststore.location", null, TypeString, false},
	{"ssl.truststore.type", "PEM", TypeString, false},
	{"super.users", "", TypeString, false},
	{"transaction.abort.timed.out.transaction.cleanup.interval.ms", "10000", TypeInt, false},
	{"transaction.max.timeout.ms", "900000", TypeInt, false},
	{"transaction.partition.verification.enable", "true", TypeBoolean, true},
	{"transaction.remove.expired.transaction.cleanup.interval.ms", "3600000", TypeInt, false},
	{"transaction.state.log.load.buffer.size", "5242880", TypeInt, false},
	{"transaction.state.log.min.isr", "2", TypeInt, false},
	{"transaction.state.log.num.partitions", "50", TypeInt, false},
	{"transaction.state.log.replication.factor", "3", TypeShort, false},
	{"transaction.state.log.segment.bytes", "104857600", TypeInt, false},
	{"transactional.id.expiration.ms", "604800000", TypeInt, false},
	{"unclean.leader.election.enable", "false", TypeBoolean, true},
}

func TestTopicTableHasKafkaNamesTypesAndDefaults(t *testing.T) {
	t.Parallel()
	table := TopicTable()
	var want []string
	for _, k := range kafkaTopicConfigs {
		want = append(want, k.name)
		d, ok := table.Lookup(k.name)
		if !ok {
			t.Errorf("%s: missing", k.name)
			continue
		}
		if d.Type != k.typ || d.Default != k.dflt || !d.HasDefault || d.BrokerDefault != k.broker {
			t.Errorf("%s: type %d default %q (has %v) broker default %q; want type %d default %q broker default %q",
				k.name, d.Type, d.Default, d.HasDefault, d.BrokerDefault, k.typ, k.dflt, k.broker)
		}
		if d.Dynamic || d.ReadOnly || d.Sensitive {
			t.Errorf("%s: dynamic %v read-only %v sensitive %v; want all false for a topic config", k.name, d.Dynamic, d.ReadOnly, d.Sensitive)
		}
	}
	if got := names(table); !slices.Equal(got, want) {
		t.Errorf("topic configs:\n got %v\nwant %v", got, want)
	}
}

func TestBrokerTableHasKafkaNamesTypesDefaultsAndUpdateModes(t *testing.T) {
	t.Parallel()
	table := BrokerTable()
	var want []string
	for _, k := range kafkaBrokerConfigs {
		want = append(want, k.name)
		d, ok := table.Lookup(k.name)
		if !ok {
			t.Errorf("%s: missing", k.name)
			continue
		}
		dflt := d.Default
		if !d.HasDefault {
			dflt = null
		}
		if d.Type != k.typ || dflt != k.dflt {
			t.Errorf("%s: type %d default %q; want type %d default %q", k.name, d.Type, dflt, k.typ, k.dflt)
		}
		if d.Dynamic != k.dynamic || d.ReadOnly == k.dynamic {
			t.Errorf("%s: dynamic %v read-only %v; want dynamic %v", k.name, d.Dynamic, d.ReadOnly, k.dynamic)
		}
	}
	if got := names(table); !slices.Equal(got, want) {
		t.Errorf("broker configs:\n got %v\nwant %v", got, want)
	}
}

// In Kafka every broker config that is a topic config's default can be
// changed dynamically (DynamicLogConfig.ReconfigurableConfigs).
func TestTopicBrokerDefaultsAreDynamicBrokerConfigsOfTheSameType(t *testing.T) {
	t.Parallel()
	broker := BrokerTable()
	for _, d := range TopicTable().Defs() {
		if d.BrokerDefault == "" {
			continue
		}
		bd, ok := broker.Lookup(d.BrokerDefault)
		if !ok {
			t.Errorf("%s: broker default %s is not a broker config", d.Name, d.BrokerDefault)
			continue
		}
		if !bd.Dynamic {
			t.Errorf("%s: broker default %s is not dynamic", d.Name, bd.Name)
		}
		if bd.Type != d.Type {
			t.Errorf("%s: type %d, broker default %s has type %d", d.Name, d.Type, bd.Name, bd.Type)
		}
		if bd.HasDefault && bd.Default != d.Default {
			t.Errorf("%s: default %q, broker default %s has %q", d.Name, d.Default, bd.Name, bd.Default)
		}
	}
}

func TestEveryDefinitionIsDocumentedAndSorted(t *testing.T) {
	t.Parallel()
	for _, table := range []*Table{TopicTable(), BrokerTable()} {
		defs := table.Defs()
		if !slices.IsSortedFunc(defs, func(a, b *Def) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("%s table: Defs not sorted by name", table.kind)
		}
		for _, d := range defs {
			if len(d.Doc) < 20 || !strings.HasSuffix(d.Doc, ".") {
				t.Errorf("%s: doc %q is missing or not a sentence", d.Name, d.Doc)
			}
			if d.HasDefault {
				if err := table.Validate(d.Name, d.Default); err != nil {
					t.Errorf("%s: default refused: %v", d.Name, err)
				}
			}
		}
	}
}

// Tables are built per call, so a caller that changes one cannot change
// another's.
func TestTablesAreIndependent(t *testing.T) {
	t.Parallel()
	a := TopicTable()
	d, _ := a.Lookup("retention.ms")
	d.Default = "1"
	a.Defs()[0].Name = "changed"
	b := TopicTable()
	if d, _ := b.Lookup("retention.ms"); d.Default != "604800000" {
		t.Errorf("retention.ms default %q after changing another table", d.Default)
	}
	if b.Defs()[0].Name != "cleanup.policy" {
		t.Errorf("first def %q after changing another table", b.Defs()[0].Name)
	}
}

func TestValidateRefusesUnknownNamesNamingThem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		table *Table
		name  string
	}{
		{TopicTable(), "retention.mss"},
		{TopicTable(), "log.retention.ms"}, // a broker config
		{TopicTable(), ""},
		{BrokerTable(), "retention.ms"}, // a topic config
		{BrokerTable(), "listenerz"},
	} {
		err := tc.table.Validate(tc.name, "1")
		if !errors.Is(err, ErrUnknown) || errors.Is(err, ErrInvalid) {
			t.Errorf("%s %q: err %v; want ErrUnknown", tc.table.kind, tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), `"`+tc.name+`"`) {
			t.Errorf("%s %q: error %q does not name it", tc.table.kind, tc.name, err)
		}
	}
}

func TestValidateRefusesBadValuesNamingConfigAndValue(t *testing.T) {
	t.Parallel()
	topic, broker := TopicTable(), BrokerTable()
	for _, tc := range []struct {
		table       *Table
		name, value string
	}{
		{topic, "retention.ms", "abc"},
		{topic, "retention.ms", "-2"},
		{topic, "retention.ms", "1.5"},
		{topic, "retention.ms", "9223372036854775808"}, // Long.MAX + 1
		{topic, "retention.ms", ""},
		{topic, "segment.bytes", "13"},
		{topic, "segment.bytes", "2147483648"}, // not an int
		{topic, "segment.index.bytes", "3"},
		{topic, "segment.ms", "0"},
		{topic, "segment.jitter.ms", "-1"},
		{topic, "min.insync.replicas", "0"},
		{topic, "max.message.bytes", "-1"},
		{topic, "flush.messages", "0"},
		{topic, "flush.ms", "-1"},
		{topic, "max.compaction.lag.ms", "0"},
		{topic, "min.cleanable.dirty.ratio", "1.1"},
		{topic, "min.cleanable.dirty.ratio", "-0.1"},
		{topic, "min.cleanable.dirty.ratio", "NaN"},
		{topic, "min.cleanable.dirty.ratio", "half"},
		{topic, "preallocate", "yes"},
		{topic, "preallocate", "1"},
		{topic, "unclean.leader.election.enable", ""},
		{topic, "cleanup.policy", "compacted"},
		{topic, "cleanup.policy", "Compact"}, // Kafka's ValidList is case-sensitive
		{topic, "cleanup.policy", "compact,,delete"},
		{topic, "cleanup.policy", "compact;delete"},
		{topic, "compression.type", "brotli"},
		{topic, "compression.type", "GZIP"},
		{topic, "compression.gzip.level", "0"},
		{topic, "compression.gzip.level", "10"},
		{topic, "compression.lz4.level", "18"},
		{topic, "compression.zstd.level", "23"},
		{topic, "message.timestamp.type", "createtime"},
		{topic, "message.timestamp.before.max.ms", "-1"},
		{topic, "leader.replication.throttled.replicas", "0:1,*"},
		{topic, "leader.replication.throttled.replicas", "a:b"},
		{broker, "num.partitions", "0"},
		{broker, "auto.create.topics.enable", "maybe"},
		{broker, "offsets.topic.replication.factor", "32768"}, // not a short
		{broker, "offsets.topic.replication.factor", "0"},
		{broker, "fetch.max.bytes", "1023"},
		{broker, "log.cleanup.policy", "delete,forever"},
		{broker, "log.roll.hours", "0"},
		{broker, "socket.request.max.bytes", "0"},
		{broker, "node.id", "one"},
	} {
		err := tc.table.Validate(tc.name, tc.value)
		if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknown) {
			t.Errorf("%s=%q: err %v; want ErrInvalid", tc.name, tc.value, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.name) || !strings.Contains(msg, `"`+tc.value+`"`) {
			t.Errorf("%s=%q: error %q does not name the config and the value", tc.name, tc.value, msg)
		}
	}
}

// Values are parsed as Kafka's ConfigDef parses them and kept in the form
// DescribeConfigs reports.
func TestNormalizeAcceptsKafkaSpellingsInCanonicalForm(t *testing.T) {
	t.Parallel()
	topic, broker := TopicTable(), BrokerTable()
	for _, tc := range []struct {
		table             *Table
		name, value, want string
	}{
		{topic, "preallocate", "TRUE", "true"},
		{topic, "preallocate", " False ", "false"},
		{topic, "retention.ms", " -1 ", "-1"},
		{topic, "retention.ms", "+86400000", "86400000"},
		{topic, "retention.ms", "0009", "9"},
		{topic, "retention.ms", "9223372036854775807", "9223372036854775807"},
		{topic, "segment.bytes", "14", "14"},
		{topic, "segment.bytes", "2147483647", "2147483647"},
		{topic, "cleanup.policy", "compact,delete", "compact,delete"},
		{topic, "cleanup.policy", " delete , compact ", "delete,compact"},
		{topic, "cleanup.policy", "compact", "compact"},
		{topic, "cleanup.policy", "", ""}, // Kafka 3.x: neither deleted nor compacted
		{topic, "min.cleanable.dirty.ratio", "0", "0.0"},
		{topic, "min.cleanable.dirty.ratio", "1", "1.0"},
		{topic, "min.cleanable.dirty.ratio", ".25", "0.25"},
		{topic, "compression.type", " zstd", "zstd"},
		{topic, "compression.gzip.level", "-1", "-1"},
		{topic, "compression.gzip.level", "9", "9"},
		{topic, "compression.zstd.level", "-131072", "-131072"},
		{topic, "message.timestamp.type", "LogAppendTime", "LogAppendTime"},
		{topic, "leader.replication.throttled.replicas", "*", "*"},
		{topic, "leader.replication.throttled.replicas", "0:101, 1:102", "0:101,1:102"},
		{topic, "retention.bytes", "-5", "-5"},
		{broker, "log.dirs", "/a, /b", "/a,/b"},
		{broker, "log.cleaner.io.max.bytes.per.second", "1e6", "1000000.0"},
		{broker, "log.cleaner.io.max.bytes.per.second", "1e7", "1.0E7"},
		{broker, "broker.rack", " us-east-1a ", "us-east-1a"},
		{broker, "log.retention.ms", "-7", "-7"},
	} {
		got, err := tc.table.Normalize(tc.name, tc.value)
		if err != nil || got != tc.want {
			t.Errorf("%s=%q: got %q, %v; want %q", tc.name, tc.value, got, err, tc.want)
		}
		if err := tc.table.Validate(tc.name, tc.value); err != nil {
			t.Errorf("%s=%q: Validate: %v", tc.name, tc.value, err)
		}
	}
}

// Doubles print as Java's Double.toString does, since that is what Kafka
// reports in DescribeConfigs.
func TestFormatDoubleMatchesJava(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{0.5, "0.5"},
		{0.9, "0.9"},
		{1, "1.0"},
		{100, "100.0"},
		{0.001, "0.001"},
		{0.0001, "1.0E-4"},
		{1234567.5, "1234567.5"},
		{1e7, "1.0E7"},
		{1.5e10, "1.5E10"},
		{-2.5e-5, "-2.5E-5"},
		{math.MaxFloat64, "1.7976931348623157E308"},
	} {
		if got := formatDouble(tc.f); got != tc.want {
			t.Errorf("formatDouble(%v) = %q; want %q", tc.f, got, tc.want)
		}
	}
}

func names(t *Table) []string {
	var out []string
	for _, d := range t.Defs() {
		out = append(out, d.Name)
	}
	return out
}
