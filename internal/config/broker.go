package config

import (
	"fmt"
	"slices"
	"strconv"
)

// Layers of broker settings, lowest precedence first.
const (
	layerStatic = iota
	layerDynamicDefault
	layerDynamicBroker
	numLayers
)

func layerSource(l int) Source {
	switch l {
	case layerDynamicBroker:
		return SourceDynamicBroker
	case layerDynamicDefault:
		return SourceDynamicDefault
	default:
		return SourceStaticBroker
	}
}

// spelling is one name of a synonym group, with the factor that converts its
// value to the group's unit (0: not numeric, the value is taken as it is).
type spelling struct {
	name   string
	factor int64
}

// synonymGroup is a broker config that can be given under several names, in
// Kafka's order of precedence (DynamicBrokerConfig.brokerConfigSynonyms).
// Its primary (first) name reports the folded value.
type synonymGroup struct {
	spellings []spelling
	// noLimitBelowZero folds every negative value to -1, as Kafka does for
	// the retention time (KafkaConfig.logRetentionTimeMillis).
	noLimitBelowZero bool
}

const (
	msPerMinute = 60 * 1000
	msPerHour   = 60 * msPerMinute
)

func synonymGroups() []synonymGroup {
	return []synonymGroup{
		{spellings: []spelling{{"log.retention.ms", 1}, {"log.retention.minutes", msPerMinute}, {"log.retention.hours", msPerHour}}, noLimitBelowZero: true},
		{spellings: []spelling{{"log.roll.ms", 1}, {"log.roll.hours", msPerHour}}},
		{spellings: []spelling{{"log.roll.jitter.ms", 1}, {"log.roll.jitter.hours", msPerHour}}},
		{spellings: []spelling{{"log.flush.interval.ms", 1}, {"log.flush.scheduler.interval.ms", 1}}},
		{spellings: []spelling{{"log.dirs", 0}, {"log.dir", 0}}},
		{spellings: []spelling{{"node.id", 1}, {"broker.id", 1}}},
		{spellings: []spelling{{"broker.id", 1}, {"node.id", 1}}},
	}
}

// newBroker parses static settings into a broker config.
func newBroker(settings map[string]string) (*Broker, error) {
	b := &Broker{table: BrokerTable(), topics: TopicTable()}
	layer := make(map[string]parsed, len(settings))
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	slices.Sort(names) // report the first bad config deterministically
	for _, name := range names {
		_, p, err := b.table.parse(name, settings[name])
		if err != nil {
			return nil, err
		}
		layer[name] = p
	}
	node, hasNode := layer["node.id"]
	broker, hasBroker := layer["broker.id"]
	if hasNode && hasBroker && node.i != broker.i {
		return nil, invalid("broker", "node.id", node.s, "broker.id is "+broker.s+"; set one, or both the same")
	}
	b.layers[layerStatic] = layer
	b.compute()
	if name, reason := b.inconsistency(); name != "" {
		// Name the setting itself: log.flush.scheduler.interval.ms may
		// supply log.flush.interval.ms.
		from := b.values[b.values[name].from]
		return nil, invalid("broker", from.Def.Name, from.Value.Value, reason)
	}
	return b, nil
}

// defaultBroker is the broker config with nothing set.
func defaultBroker() *Broker {
	b, err := newBroker(nil)
	if err != nil {
		panic(err) // the defaults are consistent; tested
	}
	return b
}

// withDynamic returns a copy of b whose dynamic layers are the given ones.
func (b *Broker) withDynamic(clusterDefault, perBroker map[string]string) *Broker {
	nb := &Broker{table: b.table, topics: b.topics}
	nb.layers[layerStatic] = b.layers[layerStatic] // never written after newBroker
	nb.layers[layerDynamicDefault] = b.dynamicLayer(clusterDefault)
	nb.layers[layerDynamicBroker] = b.dynamicLayer(perBroker)
	nb.compute()
	// A dynamic value that is valid alone can still leave a topic default
	// invalid; drop it, as Kafka would have refused it.
	for range len(nb.layers[layerDynamicDefault]) + len(nb.layers[layerDynamicBroker]) {
		name, _ := nb.inconsistency()
		if name == "" || !nb.dropDynamic(nb.values[name].from) {
			break
		}
		nb.compute()
	}
	return nb
}

// checkDynamic is CheckDynamic.
func (b *Broker) checkDynamic(clusterDefault, perBroker map[string]string) error {
	nb := &Broker{table: b.table, topics: b.topics}
	nb.layers[layerStatic] = b.layers[layerStatic]
	nb.layers[layerDynamicDefault] = b.dynamicLayer(clusterDefault)
	nb.layers[layerDynamicBroker] = b.dynamicLayer(perBroker)
	nb.compute()
	if name, reason := nb.inconsistency(); name != "" {
		return invalid("broker", name, nb.values[name].Value.Value, reason)
	}
	return nil
}

// dynamicLayer keeps the settings that are known, dynamic and valid; Kafka
// likewise ignores stored dynamic configs it cannot apply.
func (b *Broker) dynamicLayer(settings map[string]string) map[string]parsed {
	layer := make(map[string]parsed, len(settings))
	for name, v := range settings {
		d, p, err := b.table.parse(name, v)
		if err == nil && d.Dynamic {
			layer[name] = p
		}
	}
	return layer
}

// clusterDefaults lists the dynamic cluster-wide layer as values.
func (b *Broker) clusterDefaults() []Value {
	layer := b.layers[layerDynamicDefault]
	out := make([]Value, 0, len(layer))
	for _, d := range b.table.defs { // sorted by name
		if p, ok := layer[d.Name]; ok {
			out = append(out, Value{Def: d, Value: p.s, Source: SourceDynamicDefault})
		}
	}
	return out
}

// synonyms lists, for Broker.Synonyms, the layers' values of each spelling
// of name, then the spellings' defaults.
func (b *Broker) synonyms(name string) []Value {
	if _, ok := b.table.byName[name]; !ok {
		return nil
	}
	spellings := []string{name}
	for _, g := range synonymGroups() {
		if g.spellings[0].name == name {
			spellings = spellings[:0]
			for _, s := range g.spellings {
				spellings = append(spellings, s.name)
			}
			break
		}
	}
	var out []Value
	for l := numLayers - 1; l >= layerStatic; l-- {
		for _, s := range spellings {
			if p, ok := b.layers[l][s]; ok {
				out = append(out, Value{Def: b.table.byName[s], Value: p.s, Source: layerSource(l)})
			}
		}
	}
	for _, s := range spellings {
		if d, ok := b.table.byName[s]; ok && d.HasDefault {
			out = append(out, b.table.defaults[s].Value)
		}
	}
	return out
}

// dropDynamic removes name from the highest dynamic layer holding it.
func (b *Broker) dropDynamic(name string) bool {
	for l := numLayers - 1; l > layerStatic; l-- {
		if _, ok := b.layers[l][name]; ok {
			delete(b.layers[l], name)
			return true
		}
	}
	return false
}

// compute derives every effective value from the layers.
func (b *Broker) compute() {
	b.values = make(map[string]entry, len(b.table.defs))
	for _, d := range b.table.defs {
		e := b.table.defaults[d.Name]
		for l := numLayers - 1; l >= layerStatic; l-- {
			if p, ok := b.layers[l][d.Name]; ok {
				e = entry{Value: Value{Def: d, Value: p.s, Source: layerSource(l)}, p: p, from: d.Name}
				break
			}
		}
		b.values[d.Name] = e
	}
	for _, g := range synonymGroups() {
		b.fold(g)
	}
}

// fold sets the group's primary value from the spelling that wins: the
// highest layer setting any spelling, the first spelling within it, or else
// the first spelling with a default.
func (b *Broker) fold(g synonymGroup) {
	win, source, found := spelling{}, SourceDefault, false
	var p parsed
	for l := numLayers - 1; l >= layerStatic && !found; l-- {
		for _, s := range g.spellings {
			if v, ok := b.layers[l][s.name]; ok {
				win, source, p, found = s, layerSource(l), v, true
				break
			}
		}
	}
	for _, s := range g.spellings {
		if found {
			break
		}
		if e := b.values[s.name]; !e.IsNull {
			win, p, found = s, e.p, true
		}
	}
	primary := b.table.byName[g.spellings[0].name]
	if !found {
		b.values[primary.Name] = b.table.defaults[primary.Name]
		return
	}
	if win.factor != 0 {
		n := p.i * win.factor
		if g.noLimitBelowZero && n < 0 {
			n = -1
		}
		p = parsed{s: strconv.FormatInt(n, 10), i: n, f: float64(n)}
	}
	b.values[primary.Name] = entry{Value: Value{Def: primary, Value: p.s, Source: source}, p: p, from: win.name}
}

// inconsistency names a broker config whose effective value Kafka would
// refuse as a topic default, and why; "" if there is none.
func (b *Broker) inconsistency() (name, reason string) {
	for _, d := range b.topics.defs {
		if d.BrokerDefault == "" {
			continue
		}
		bv := b.values[d.BrokerDefault]
		if bv.IsNull {
			continue
		}
		if _, reason := check(d, bv.Value.Value); reason != "" {
			return d.BrokerDefault, fmt.Sprintf("as the default of topic config %s it %s", d.Name, reason)
		}
	}
	lo, hi := b.values["log.cleaner.min.compaction.lag.ms"], b.values["log.cleaner.max.compaction.lag.ms"]
	if lo.p.i > hi.p.i {
		// Blame the more dynamic of the two, which is the one to drop.
		if hi.Source < lo.Source {
			return hi.Def.Name, "it is smaller than log.cleaner.min.compaction.lag.ms (" + lo.Value.Value + ")"
		}
		return lo.Def.Name, "it is larger than log.cleaner.max.compaction.lag.ms (" + hi.Value.Value + ")"
	}
	return "", ""
}

// Float64 returns a numeric broker config, panicking on a name that is not a
// numeric config in the table.
func (b *Broker) Float64(name string) float64 { return lookupEntry(b.values, name).float64(name) }

// List returns the elements of a list broker config (empty for null),
// panicking on a name that is not a list config in the table.
func (b *Broker) List(name string) []string { return lookupEntry(b.values, name).list(name) }

// LogDirs returns the data directories: log.dirs, or log.dir when it is unset.
func (b *Broker) LogDirs() []string { return b.List("log.dirs") }
