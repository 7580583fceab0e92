package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func mustBroker(t *testing.T, static map[string]string) *Broker {
	t.Helper()
	b, err := NewBroker(static)
	if err != nil {
		t.Fatalf("NewBroker(%v): %v", static, err)
	}
	return b
}

func getBroker(t *testing.T, b *Broker, name string) Value {
	t.Helper()
	v, ok := b.Get(name)
	if !ok {
		t.Fatalf("Get(%q): not found", name)
	}
	return v
}

func TestNewBrokerMarksGivenSettingsStaticAndTheRestDefault(t *testing.T) {
	t.Parallel()
	b := mustBroker(t, map[string]string{"num.partitions": "3", "auto.create.topics.enable": "FALSE", "broker.rack": "r1"})
	for _, tc := range []struct {
		name, value string
		null        bool
		source      Source
	}{
		{"num.partitions", "3", false, SourceStaticBroker},
		{"auto.create.topics.enable", "false", false, SourceStaticBroker},
		{"broker.rack", "r1", false, SourceStaticBroker},
		{"default.replication.factor", "1", false, SourceDefault},
		{"message.max.bytes", "1048588", false, SourceDefault},
		{"log.retention.minutes", "", true, SourceDefault},
		{"socket.request.max.bytes", "104857600", false, SourceDefault},
	} {
		v := getBroker(t, b, tc.name)
		if v.Value != tc.value || v.IsNull != tc.null || v.Source != tc.source || v.Def.Name != tc.name {
			t.Errorf("%s: got %q null=%v source %d; want %q null=%v source %d", tc.name, v.Value, v.IsNull, v.Source, tc.value, tc.null, tc.source)
		}
	}
	if got := b.Int64("num.partitions"); got != 3 {
		t.Errorf("Int64(num.partitions) = %d", got)
	}
	if b.Bool("auto.create.topics.enable") {
		t.Error("Bool(auto.create.topics.enable) = true")
	}
	if got := b.String("broker.rack"); got != "r1" {
		t.Errorf("String(broker.rack) = %q", got)
	}
	if got := b.Float64("log.cleaner.min.cleanable.ratio"); got != 0.5 {
		t.Errorf("Float64(log.cleaner.min.cleanable.ratio) = %v", got)
	}
}

func TestNewBrokerRefusesUnknownAndInvalidSettingsNamingThem(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		static      map[string]string
		want        error
		name, value string
	}{
		{map[string]string{"num.partitons": "3"}, ErrUnknown, "num.partitons", ""},
		{map[string]string{"retention.ms": "3"}, ErrUnknown, "retention.ms", ""},
		{map[string]string{"num.partitions": "0"}, ErrInvalid, "num.partitions", "0"},
		{map[string]string{"num.partitions": "three"}, ErrInvalid, "num.partitions", "three"},
		{map[string]string{"log.segment.bytes": "10"}, ErrInvalid, "log.segment.bytes", "10"},
		{map[string]string{"log.cleanup.policy": "compact,erase"}, ErrInvalid, "log.cleanup.policy", "compact,erase"},
		{map[string]string{"delete.topic.enable": "no"}, ErrInvalid, "delete.topic.enable", "no"},
		// Valid as a broker config, but not as the topic default it feeds.
		{map[string]string{"log.roll.ms": "0"}, ErrInvalid, "log.roll.ms", "0"},
		{map[string]string{"log.flush.scheduler.interval.ms": "-1"}, ErrInvalid, "log.flush.scheduler.interval.ms", "-1"},
		{map[string]string{"log.cleaner.min.compaction.lag.ms": "10", "log.cleaner.max.compaction.lag.ms": "5"},
			ErrInvalid, "log.cleaner.min.compaction.lag.ms", "10"},
		{map[string]string{"node.id": "1", "broker.id": "2"}, ErrInvalid, "node.id", "1"},
	} {
		_, err := NewBroker(tc.static)
		if !errors.Is(err, tc.want) {
			t.Errorf("%v: err %v; want %v", tc.static, err, tc.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.name) || tc.want == ErrInvalid && !strings.Contains(msg, `"`+tc.value+`"`) {
			t.Errorf("%v: error %q does not name %s and %q", tc.static, msg, tc.name, tc.value)
		}
	}
}

// KafkaConfig.logRetentionTimeMillis: log.retention.ms, else
// log.retention.minutes, else log.retention.hours; negative means no limit.
// Among layers, the highest one that sets any of them wins
// (DynamicBrokerConfig.overrideProps drops the synonyms below).
func TestRetentionHoursAndMinutesFoldIntoRetentionMs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc                        string
		static, dynDefault, dynBrok map[string]string
		want                        string
		source                      Source
		from                        string
	}{
		{"default 168 hours", nil, nil, nil, "604800000", SourceDefault, "log.retention.hours"},
		{"hours", map[string]string{"log.retention.hours": "24"}, nil, nil, "86400000", SourceStaticBroker, "log.retention.hours"},
		{"minutes over hours", map[string]string{"log.retention.hours": "24", "log.retention.minutes": "30"}, nil, nil,
			"1800000", SourceStaticBroker, "log.retention.minutes"},
		{"ms over minutes and hours", map[string]string{"log.retention.hours": "24", "log.retention.minutes": "30", "log.retention.ms": "1000"}, nil, nil,
			"1000", SourceStaticBroker, "log.retention.ms"},
		{"ms over hours", map[string]string{"log.retention.hours": "1", "log.retention.ms": "5000"}, nil, nil,
			"5000", SourceStaticBroker, "log.retention.ms"},
		{"negative hours is no limit", map[string]string{"log.retention.hours": "-5"}, nil, nil, "-1", SourceStaticBroker, "log.retention.hours"},
		{"negative minutes is no limit", map[string]string{"log.retention.minutes": "-1"}, nil, nil, "-1", SourceStaticBroker, "log.retention.minutes"},
		{"negative ms is no limit", map[string]string{"log.retention.ms": "-100"}, nil, nil, "-1", SourceStaticBroker, "log.retention.ms"},
		{"largest hours", map[string]string{"log.retention.hours": "2147483647"}, nil, nil, "7730941129200000", SourceStaticBroker, "log.retention.hours"},
		{"dynamic default ms over static hours", map[string]string{"log.retention.hours": "1"}, map[string]string{"log.retention.ms": "7"}, nil,
			"7", SourceDynamicDefault, "log.retention.ms"},
		{"dynamic default ms over static ms", map[string]string{"log.retention.ms": "5"}, map[string]string{"log.retention.ms": "7"}, nil,
			"7", SourceDynamicDefault, "log.retention.ms"},
		{"per-broker ms over dynamic default ms", nil, map[string]string{"log.retention.ms": "7"}, map[string]string{"log.retention.ms": "9"},
			"9", SourceDynamicBroker, "log.retention.ms"},
		{"dynamic hours are ignored (read-only in Kafka)", map[string]string{"log.retention.minutes": "2"}, map[string]string{"log.retention.hours": "1"}, nil,
			"120000", SourceStaticBroker, "log.retention.minutes"},
	} {
		b := mustBroker(t, tc.static)
		if tc.dynDefault != nil || tc.dynBrok != nil {
			b = b.WithDynamic(tc.dynDefault, tc.dynBrok)
		}
		v := getBroker(t, b, "log.retention.ms")
		if v.Value != tc.want || v.Source != tc.source || v.IsNull || v.Def.Name != "log.retention.ms" {
			t.Errorf("%s: log.retention.ms = %q source %d null=%v; want %q source %d", tc.desc, v.Value, v.Source, v.IsNull, tc.want, tc.source)
		}
		if from := b.values["log.retention.ms"].from; from != tc.from {
			t.Errorf("%s: supplied by %s; want %s", tc.desc, from, tc.from)
		}
		// The topic default follows, with the same source.
		topic, err := ResolveTopic(b, nil)
		if err != nil {
			t.Fatalf("%s: ResolveTopic: %v", tc.desc, err)
		}
		if tv, _ := topic.Get("retention.ms"); tv.Value != tc.want || tv.Source != tc.source {
			t.Errorf("%s: retention.ms = %q source %d; want %q source %d", tc.desc, tv.Value, tv.Source, tc.want, tc.source)
		}
	}
}

func TestOtherBrokerSynonymsFold(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc         string
		static       map[string]string
		dyn          map[string]string
		name, want   string
		source       Source
		topic, tWant string
	}{
		{"roll default", nil, nil, "log.roll.ms", "604800000", SourceDefault, "segment.ms", "604800000"},
		{"roll hours", map[string]string{"log.roll.hours": "2"}, nil, "log.roll.ms", "7200000", SourceStaticBroker, "segment.ms", "7200000"},
		{"roll ms over hours", map[string]string{"log.roll.hours": "2", "log.roll.ms": "60000"}, nil, "log.roll.ms", "60000", SourceStaticBroker, "segment.ms", "60000"},
		{"dynamic roll ms over static hours", map[string]string{"log.roll.hours": "2"}, map[string]string{"log.roll.ms": "1000"},
			"log.roll.ms", "1000", SourceDynamicDefault, "segment.ms", "1000"},
		{"jitter default", nil, nil, "log.roll.jitter.ms", "0", SourceDefault, "segment.jitter.ms", "0"},
		{"jitter hours", map[string]string{"log.roll.jitter.hours": "1"}, nil, "log.roll.jitter.ms", "3600000", SourceStaticBroker, "segment.jitter.ms", "3600000"},
		{"flush default", nil, nil, "log.flush.interval.ms", maxLong, SourceDefault, "flush.ms", maxLong},
		{"flush from scheduler interval", map[string]string{"log.flush.scheduler.interval.ms": "2000"}, nil,
			"log.flush.interval.ms", "2000", SourceStaticBroker, "flush.ms", "2000"},
		{"flush interval over scheduler", map[string]string{"log.flush.scheduler.interval.ms": "2000", "log.flush.interval.ms": "500"}, nil,
			"log.flush.interval.ms", "500", SourceStaticBroker, "flush.ms", "500"},
	} {
		b := mustBroker(t, tc.static)
		if tc.dyn != nil {
			b = b.WithDynamic(tc.dyn, nil)
		}
		if v := getBroker(t, b, tc.name); v.Value != tc.want || v.Source != tc.source {
			t.Errorf("%s: %s = %q source %d; want %q source %d", tc.desc, tc.name, v.Value, v.Source, tc.want, tc.source)
		}
		topic, err := ResolveTopic(b, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		if v, _ := topic.Get(tc.topic); v.Value != tc.tWant || v.Source != tc.source {
			t.Errorf("%s: %s = %q source %d; want %q source %d", tc.desc, tc.topic, v.Value, v.Source, tc.tWant, tc.source)
		}
	}
}

func TestNodeIDAndBrokerIDAreSynonyms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		static         map[string]string
		node, brokerID int64
	}{
		{nil, -1, -1},
		{map[string]string{"node.id": "3"}, 3, 3},
		{map[string]string{"broker.id": "4"}, 4, 4},
		{map[string]string{"node.id": "5", "broker.id": "5"}, 5, 5},
	} {
		b := mustBroker(t, tc.static)
		if n, id := b.Int64("node.id"), b.Int64("broker.id"); n != tc.node || id != tc.brokerID {
			t.Errorf("%v: node.id %d broker.id %d; want %d %d", tc.static, n, id, tc.node, tc.brokerID)
		}
	}
}

func TestLogDirsFallBackToLogDir(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		static map[string]string
		want   []string
		source Source
	}{
		{nil, []string{"./sluice-data"}, SourceDefault},
		{map[string]string{"log.dir": "/data"}, []string{"/data"}, SourceStaticBroker},
		{map[string]string{"log.dir": "/data", "log.dirs": "/d1, /d2"}, []string{"/d1", "/d2"}, SourceStaticBroker},
	} {
		b := mustBroker(t, tc.static)
		if got := b.LogDirs(); !slices.Equal(got, tc.want) {
			t.Errorf("%v: LogDirs %v; want %v", tc.static, got, tc.want)
		}
		if v := getBroker(t, b, "log.dirs"); v.Source != tc.source {
			t.Errorf("%v: log.dirs source %d; want %d", tc.static, v.Source, tc.source)
		}
	}
}

// The order of precedence of broker configs (DynamicBrokerConfig):
// per-broker dynamic, then cluster-wide dynamic, then static, then default.
func TestWithDynamicLayersPerBrokerOverClusterDefaultOverStatic(t *testing.T) {
	t.Parallel()
	static := mustBroker(t, map[string]string{"message.max.bytes": "1000", "log.retention.bytes": "1", "log.segment.bytes": "2048"})
	b := static.WithDynamic(
		map[string]string{"message.max.bytes": "2000", "log.retention.bytes": "2"},
		map[string]string{"message.max.bytes": "3000"},
	)
	for _, tc := range []struct {
		name, want string
		source     Source
	}{
		{"message.max.bytes", "3000", SourceDynamicBroker},
		{"log.retention.bytes", "2", SourceDynamicDefault},
		{"log.segment.bytes", "2048", SourceStaticBroker},
		{"min.insync.replicas", "1", SourceDefault},
	} {
		if v := getBroker(t, b, tc.name); v.Value != tc.want || v.Source != tc.source {
			t.Errorf("%s = %q source %d; want %q source %d", tc.name, v.Value, v.Source, tc.want, tc.source)
		}
	}
	// The receiver is unchanged.
	if v := getBroker(t, static, "message.max.bytes"); v.Value != "1000" || v.Source != SourceStaticBroker {
		t.Errorf("static message.max.bytes = %q source %d after WithDynamic", v.Value, v.Source)
	}
	// Dynamic values replace the receiver's, they do not accumulate.
	again := b.WithDynamic(nil, map[string]string{"log.retention.bytes": "9"})
	if v := getBroker(t, again, "message.max.bytes"); v.Value != "1000" || v.Source != SourceStaticBroker {
		t.Errorf("message.max.bytes = %q source %d after a second WithDynamic", v.Value, v.Source)
	}
	if v := getBroker(t, again, "log.retention.bytes"); v.Value != "9" || v.Source != SourceDynamicBroker {
		t.Errorf("log.retention.bytes = %q source %d after a second WithDynamic", v.Value, v.Source)
	}
}

func TestWithDynamicSkipsUnknownInvalidAndReadOnlyValues(t *testing.T) {
	t.Parallel()
	b := mustBroker(t, map[string]string{"num.partitions": "2", "log.cleaner.min.compaction.lag.ms": "100"}).WithDynamic(
		map[string]string{
			"no.such.config":                    "1",
			"message.max.bytes":                 "lots",
			"num.partitions":                    "9", // read-only in Kafka
			"log.roll.ms":                       "0", // valid alone, but segment.ms must be >= 1
			"log.cleaner.max.compaction.lag.ms": "10",
			"compression.type":                  "zstd",
		},
		map[string]string{"min.insync.replicas": "0", "log.cleanup.policy": "compact"},
	)
	for _, tc := range []struct {
		name, want string
		source     Source
	}{
		{"message.max.bytes", "1048588", SourceDefault},
		{"num.partitions", "2", SourceStaticBroker},
		{"log.roll.ms", "604800000", SourceDefault},
		{"log.cleaner.max.compaction.lag.ms", maxLong, SourceDefault},
		{"min.insync.replicas", "1", SourceDefault},
		{"compression.type", "zstd", SourceDynamicDefault},
		{"log.cleanup.policy", "compact", SourceDynamicBroker},
	} {
		if v := getBroker(t, b, tc.name); v.Value != tc.want || v.Source != tc.source {
			t.Errorf("%s = %q source %d; want %q source %d", tc.name, v.Value, v.Source, tc.want, tc.source)
		}
	}
	if _, ok := b.Get("no.such.config"); ok {
		t.Error("unknown dynamic config is visible")
	}
}

func TestNilBrokerStandsForDefaults(t *testing.T) {
	t.Parallel()
	var b *Broker
	if v := getBroker(t, b.WithDynamic(map[string]string{"log.retention.ms": "5"}, nil), "log.retention.ms"); v.Value != "5" {
		t.Errorf("log.retention.ms = %q", v.Value)
	}
	topic, err := ResolveTopic(nil, map[string]string{"segment.ms": "10"})
	if err != nil {
		t.Fatal(err)
	}
	if topic.Int64("segment.ms") != 10 || topic.Int64("retention.ms") != 604800000 {
		t.Errorf("segment.ms %d retention.ms %d", topic.Int64("segment.ms"), topic.Int64("retention.ms"))
	}
}

// The effective config prints and parses back to itself.
func TestBrokerAllParsesBackToTheSameValues(t *testing.T) {
	t.Parallel()
	b := mustBroker(t, map[string]string{
		"log.retention.minutes": "90", "log.roll.hours": "3", "broker.id": "7",
		"log.cleanup.policy": " compact , delete ", "log.cleaner.io.buffer.load.factor": "0.75", "log.dir": "/var/lib/sluice",
	}).WithDynamic(map[string]string{"message.max.bytes": "5000"}, nil)
	printed := map[string]string{}
	for _, v := range b.All() {
		if !v.IsNull {
			printed[v.Def.Name] = v.Value
		}
	}
	again := mustBroker(t, printed)
	if got, want := len(again.All()), len(b.All()); got != want {
		t.Fatalf("%d values; want %d", got, want)
	}
	for i, v := range again.All() {
		w := b.All()[i]
		if v.Def.Name != w.Def.Name || v.Value != w.Value || v.IsNull != w.IsNull {
			t.Errorf("%s = %q (null %v); printed %q (null %v)", v.Def.Name, v.Value, v.IsNull, w.Value, w.IsNull)
		}
	}
}

func TestBrokerTypedGettersPanicOnMisuse(t *testing.T) {
	t.Parallel()
	b := mustBroker(t, nil)
	for _, tc := range []struct {
		desc string
		f    func()
	}{
		{"Int64 of a boolean", func() { b.Int64("auto.create.topics.enable") }},
		{"Int64 of a double", func() { b.Int64("log.cleaner.min.cleanable.ratio") }},
		{"Int64 of an unknown name", func() { b.Int64("no.such.config") }},
		{"Bool of an int", func() { b.Bool("num.partitions") }},
		{"List of a string", func() { b.List("compression.type") }},
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
	if got := b.String("no.such.config"); got != "" {
		t.Errorf("String of an unknown name = %q", got)
	}
	if got := b.Int64("log.retention.minutes"); got != 0 {
		t.Errorf("Int64 of a null value = %d", got)
	}
}

// DescribeConfigs of the cluster-wide resource lists its own dynamic values,
// also those a broker overrides for itself, each canonical, and skips what
// the layer refused (unknown, not dynamic).
func TestClusterDefaultsListTheClusterWideLayer(t *testing.T) {
	t.Parallel()
	b := mustBroker(t, map[string]string{"message.max.bytes": "1000"}).WithDynamic(
		map[string]string{"message.max.bytes": "2000", "log.retention.bytes": "+7", "no.such.config": "1", "log.dirs": "/x"},
		map[string]string{"message.max.bytes": "3000"},
	)
	got := b.ClusterDefaults()
	if len(got) != 2 {
		t.Fatalf("ClusterDefaults() = %+v; want log.retention.bytes and message.max.bytes", got)
	}
	for i, want := range []struct{ name, value string }{{"log.retention.bytes", "7"}, {"message.max.bytes", "2000"}} {
		if got[i].Def.Name != want.name || got[i].Value != want.value || got[i].Source != SourceDynamicDefault {
			t.Errorf("ClusterDefaults()[%d] = %s=%q source %d; want %s=%q source %d",
				i, got[i].Def.Name, got[i].Value, got[i].Source, want.name, want.value, SourceDynamicDefault)
		}
	}
	if got := mustBroker(t, nil).ClusterDefaults(); len(got) != 0 {
		t.Errorf("ClusterDefaults() with no dynamic configs = %+v", got)
	}
}

// Synonyms list what may supply a config, most precedent first, as Kafka's
// DescribeConfigs does with include_synonyms (ConfigHelper.configSynonyms):
// the topic's setting, then each spelling of its broker config per broker,
// cluster-wide, statically, and each spelling's default.
func TestSynonymsListTheChainOfPrecedence(t *testing.T) {
	t.Parallel()
	b := mustBroker(t, map[string]string{"log.retention.hours": "24", "log.segment.bytes": "2048"}).WithDynamic(
		map[string]string{"log.retention.ms": "7"}, map[string]string{"log.retention.ms": "9"})
	type syn struct {
		name, value string
		source      Source
	}
	chain := func(vs []Value) []syn {
		var out []syn
		for _, v := range vs {
			out = append(out, syn{v.Def.Name, v.Value, v.Source})
		}
		return out
	}
	retention := []syn{
		{"log.retention.ms", "9", SourceDynamicBroker},
		{"log.retention.ms", "7", SourceDynamicDefault},
		{"log.retention.hours", "24", SourceStaticBroker},
		{"log.retention.hours", "168", SourceDefault},
	}
	if got := chain(b.Synonyms("log.retention.ms")); !slices.Equal(got, retention) {
		t.Errorf("Synonyms(log.retention.ms) = %v; want %v", got, retention)
	}
	tcfg, err := ResolveTopic(b, map[string]string{"retention.ms": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]syn{{"retention.ms", "1000", SourceTopic}}, retention...)
	if got := chain(tcfg.Synonyms("retention.ms")); !slices.Equal(got, want) {
		t.Errorf("topic Synonyms(retention.ms) = %v; want %v", got, want)
	}
	segment := []syn{{"log.segment.bytes", "2048", SourceStaticBroker}, {"log.segment.bytes", "1073741824", SourceDefault}}
	if got := chain(tcfg.Synonyms("segment.bytes")); !slices.Equal(got, segment) {
		t.Errorf("topic Synonyms(segment.bytes) = %v; want %v", got, segment)
	}
	if got := tcfg.Synonyms("leader.replication.throttled.replicas"); len(got) != 0 {
		t.Errorf("a topic config without a broker default, unset, has synonyms %v", chain(got))
	}
	if got := b.Synonyms("no.such.config"); got != nil {
		t.Errorf("Synonyms(no.such.config) = %v", chain(got))
	}
}
