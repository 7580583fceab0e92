package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func mustTopic(t *testing.T, b *Broker, settings map[string]string) *Topic {
	t.Helper()
	topic, err := ResolveTopic(b, settings)
	if err != nil {
		t.Fatalf("ResolveTopic(%v): %v", settings, err)
	}
	return topic
}

func TestResolveTopicDefaultsAreKafkas(t *testing.T) {
	t.Parallel()
	topic := mustTopic(t, mustBroker(t, nil), nil)
	all := topic.All()
	if len(all) != len(kafkaTopicConfigs) {
		t.Fatalf("%d values; want %d", len(all), len(kafkaTopicConfigs))
	}
	for i, k := range kafkaTopicConfigs {
		v := all[i]
		if v.Def.Name != k.name || v.Value != k.dflt || v.IsNull || v.Source != SourceDefault {
			t.Errorf("%s: %s = %q null=%v source %d; want %q from DEFAULT_CONFIG", k.name, v.Def.Name, v.Value, v.IsNull, v.Source, k.dflt)
		}
	}
}

// Precedence of a topic config (DescribeConfigs synonyms order): the topic's
// own value, then the broker config's per-broker dynamic, cluster-wide
// dynamic and static values, then the default.
func TestResolveTopicPrecedence(t *testing.T) {
	t.Parallel()
	const name = "retention.ms"
	var (
		static     = map[string]string{"log.retention.ms": "4"}
		dynDefault = map[string]string{"log.retention.ms": "3"}
		dynBroker  = map[string]string{"log.retention.ms": "2"}
		topicSet   = map[string]string{"retention.ms": "1"}
	)
	for _, tc := range []struct {
		desc                        string
		static, dynDefault, dynBrok map[string]string
		topic                       map[string]string
		want                        string
		source                      Source
	}{
		{"topic over everything", static, dynDefault, dynBroker, topicSet, "1", SourceTopic},
		{"per-broker dynamic", static, dynDefault, dynBroker, nil, "2", SourceDynamicBroker},
		{"cluster-wide dynamic", static, dynDefault, nil, nil, "3", SourceDynamicDefault},
		{"static", static, nil, nil, nil, "4", SourceStaticBroker},
		{"default", nil, nil, nil, nil, "604800000", SourceDefault},
		{"topic over default", nil, nil, nil, topicSet, "1", SourceTopic},
		{"per-broker without cluster-wide", nil, nil, dynBroker, nil, "2", SourceDynamicBroker},
	} {
		b := mustBroker(t, tc.static).WithDynamic(tc.dynDefault, tc.dynBrok)
		topic := mustTopic(t, b, tc.topic)
		v, ok := topic.Get(name)
		if !ok || v.Value != tc.want || v.Source != tc.source || v.Def.Name != name {
			t.Errorf("%s: %s = %q source %d; want %q source %d", tc.desc, name, v.Value, v.Source, tc.want, tc.source)
		}
	}
}

func TestResolveTopicTakesEveryDefaultFromItsBrokerConfig(t *testing.T) {
	t.Parallel()
	// A non-default value for every broker config that feeds a topic config.
	static := map[string]string{
		"log.cleanup.policy":                      "compact",
		"compression.gzip.level":                  "5",
		"compression.lz4.level":                   "4",
		"compression.type":                        "lz4",
		"compression.zstd.level":                  "-3",
		"log.cleaner.delete.retention.ms":         "11",
		"log.segment.delete.delay.ms":             "12",
		"log.flush.interval.messages":             "13",
		"log.flush.interval.ms":                   "14",
		"log.index.interval.bytes":                "15",
		"log.cleaner.max.compaction.lag.ms":       "16",
		"message.max.bytes":                       "17",
		"log.message.downconversion.enable":       "false",
		"log.message.timestamp.after.max.ms":      "18",
		"log.message.timestamp.before.max.ms":     "19",
		"log.message.timestamp.difference.max.ms": "20",
		"log.message.timestamp.type":              "LogAppendTime",
		"log.cleaner.min.cleanable.ratio":         "0.25",
		"log.cleaner.min.compaction.lag.ms":       "1",
		"min.insync.replicas":                     "2",
		"log.preallocate":                         "true",
		"log.retention.bytes":                     "21",
		"log.retention.ms":                        "22",
		"log.segment.bytes":                       "23",
		"log.index.size.max.bytes":                "24",
		"log.roll.jitter.ms":                      "25",
		"log.roll.ms":                             "26",
		"unclean.leader.election.enable":          "true",
	}
	topic := mustTopic(t, mustBroker(t, static), nil)
	for _, v := range topic.All() {
		if v.Def.BrokerDefault == "" {
			if v.Source != SourceDefault {
				t.Errorf("%s: source %d; want DEFAULT_CONFIG", v.Def.Name, v.Source)
			}
			continue
		}
		want, ok := static[v.Def.BrokerDefault]
		if !ok {
			t.Errorf("%s: test sets no value for %s", v.Def.Name, v.Def.BrokerDefault)
			continue
		}
		if v.Value != want || v.Source != SourceStaticBroker {
			t.Errorf("%s = %q source %d; want %q (from %s) source STATIC_BROKER_CONFIG", v.Def.Name, v.Value, v.Source, want, v.Def.BrokerDefault)
		}
	}
}

func TestResolveTopicRefusesUnknownAndInvalidSettingsNamingThem(t *testing.T) {
	t.Parallel()
	b := mustBroker(t, map[string]string{"log.cleaner.max.compaction.lag.ms": "1000"})
	for _, tc := range []struct {
		settings    map[string]string
		want        error
		name, value string
	}{
		{map[string]string{"retention.mins": "1"}, ErrUnknown, "retention.mins", ""},
		{map[string]string{"log.retention.ms": "1"}, ErrUnknown, "log.retention.ms", ""},
		{map[string]string{"retention.ms": "-2"}, ErrInvalid, "retention.ms", "-2"},
		{map[string]string{"retention.ms": "forever"}, ErrInvalid, "retention.ms", "forever"},
		{map[string]string{"cleanup.policy": "compact,remove"}, ErrInvalid, "cleanup.policy", "compact,remove"},
		{map[string]string{"min.insync.replicas": "0"}, ErrInvalid, "min.insync.replicas", "0"},
		{map[string]string{"min.cleanable.dirty.ratio": "2"}, ErrInvalid, "min.cleanable.dirty.ratio", "2"},
		{map[string]string{"unclean.leader.election.enable": "sometimes"}, ErrInvalid, "unclean.leader.election.enable", "sometimes"},
		// LogConfig.validateValues: min.compaction.lag.ms <= max.compaction.lag.ms,
		// whether the maximum is the topic's or the broker's.
		{map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}, ErrInvalid, "min.compaction.lag.ms", "10"},
		{map[string]string{"min.compaction.lag.ms": "2000"}, ErrInvalid, "min.compaction.lag.ms", "2000"},
		// The first bad config in name order is reported.
		{map[string]string{"segment.ms": "0", "retention.ms": "x"}, ErrInvalid, "retention.ms", "x"},
	} {
		topic, err := ResolveTopic(b, tc.settings)
		if !errors.Is(err, tc.want) || topic != nil {
			t.Errorf("%v: topic %v err %v; want %v", tc.settings, topic, err, tc.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.name) || tc.want == ErrInvalid && !strings.Contains(msg, `"`+tc.value+`"`) {
			t.Errorf("%v: error %q does not name %s and %q", tc.settings, msg, tc.name, tc.value)
		}
	}
}

func TestCleanupPolicyIsAList(t *testing.T) {
	t.Parallel()
	b := mustBroker(t, nil)
	for _, tc := range []struct {
		value string
		want  []string
	}{
		{"delete", []string{"delete"}},
		{"compact", []string{"compact"}},
		{"compact,delete", []string{"compact", "delete"}},
		{"delete, compact", []string{"delete", "compact"}},
		{"", nil},
	} {
		topic := mustTopic(t, b, map[string]string{"cleanup.policy": tc.value})
		if got := topic.List("cleanup.policy"); !slices.Equal(got, tc.want) {
			t.Errorf("%q: List %v; want %v", tc.value, got, tc.want)
		}
		if got, want := topic.String("cleanup.policy"), strings.Join(tc.want, ","); got != want {
			t.Errorf("%q: String %q; want %q", tc.value, got, want)
		}
	}
	if got := mustTopic(t, b, nil).List("cleanup.policy"); !slices.Equal(got, []string{"delete"}) {
		t.Errorf("default List %v", got)
	}
	// The caller's slice is its own.
	topic := mustTopic(t, b, map[string]string{"cleanup.policy": "compact"})
	topic.List("cleanup.policy")[0] = "delete"
	if got := topic.String("cleanup.policy"); got != "compact" {
		t.Errorf("cleanup.policy = %q after changing a returned list", got)
	}
}

func TestTopicTypedGetters(t *testing.T) {
	t.Parallel()
	topic := mustTopic(t, mustBroker(t, nil), map[string]string{
		"retention.ms": "-1", "min.cleanable.dirty.ratio": "0.1", "preallocate": "True", "compression.type": "gzip",
	})
	if got := topic.Int64("retention.ms"); got != -1 {
		t.Errorf("Int64(retention.ms) = %d", got)
	}
	if got := topic.Int64("flush.messages"); got != 1<<63-1 {
		t.Errorf("Int64(flush.messages) = %d", got)
	}
	if got := topic.Float64("min.cleanable.dirty.ratio"); got != 0.1 {
		t.Errorf("Float64(min.cleanable.dirty.ratio) = %v", got)
	}
	if got := topic.Float64("segment.bytes"); got != 1073741824 {
		t.Errorf("Float64(segment.bytes) = %v", got)
	}
	if !topic.Bool("preallocate") || topic.Bool("unclean.leader.election.enable") {
		t.Errorf("Bool: preallocate %v unclean %v", topic.Bool("preallocate"), topic.Bool("unclean.leader.election.enable"))
	}
	if got := topic.String("compression.type"); got != "gzip" {
		t.Errorf("String(compression.type) = %q", got)
	}
	if v, _ := topic.Get("preallocate"); v.Value != "true" {
		t.Errorf("preallocate stored as %q; want canonical \"true\"", v.Value)
	}
	for _, tc := range []struct {
		desc string
		f    func()
	}{
		{"Int64 of an unknown name", func() { topic.Int64("retention.hours") }},
		{"Float64 of an unknown name", func() { topic.Float64("ratio") }},
		{"Int64 of a double", func() { topic.Int64("min.cleanable.dirty.ratio") }},
		{"Bool of a string", func() { topic.Bool("compression.type") }},
		{"Float64 of a list", func() { topic.Float64("cleanup.policy") }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.desc)
				}
			}()
			tc.f()
		}()
	}
}
