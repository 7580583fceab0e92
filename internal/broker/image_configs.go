package broker

import (
	"math"
	"slices"
	"sync"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/record"
)

// imageConfigs are the effective configs of one metadata image: the
// broker's, computed once per image, and each topic's, resolved on first
// use, so a request pays for neither (configs change only with the image).
type imageConfigs struct {
	img    *cluster.Image
	broker *config.Broker
	topics sync.Map // topic name -> *topicSettings
	// byUnified indexes the topic names that may collide (collisions).
	collisionsOnce sync.Once
	byUnified      map[string][]string
}

// topicSettings is a topic's effective config with what produce reads on
// every batch already looked up.
type topicSettings struct {
	cfg             *config.Topic
	maxMessageBytes int64
	segmentBytes    int64 // segment.bytes: no batch may be larger
	minISR          int
	compacted       bool  // cleanup.policy includes compact: every record needs a key
	logAppendTime   bool  // message.timestamp.type=LogAppendTime
	tsBefore        int64 // message.timestamp.before.max.ms (or difference.max.ms), MaxInt64 for none
	tsAfter         int64 // message.timestamp.after.max.ms (or difference.max.ms), MaxInt64 for none
	// codec is what compression.type stores batches in, when recompress
	// says it names one ("producer" keeps the producer's).
	codec      record.Codec
	recompress bool
}

// configsFor returns the configs of img, computing them when img is newer
// than the cached one.
func (b *Broker) configsFor(img *cluster.Image) *imageConfigs {
	if c := b.configs.Load(); c != nil && c.img == img {
		return c
	}
	c := &imageConfigs{img: img, broker: EffectiveConfig(b.cfg.Static, img, b.cfg.NodeID)}
	b.configs.Store(c)
	return c
}

// topic returns the settings of a topic of the image. A stored setting that
// no longer parses takes its default alone (config.ApplyTopic; the replica
// manager logs it).
func (c *imageConfigs) topic(t *cluster.Topic) *topicSettings {
	if s, ok := c.topics.Load(t.Name); ok {
		return s.(*topicSettings)
	}
	tcfg, _ := config.ApplyTopic(c.broker, t.Configs)
	s := newTopicSettings(tcfg)
	actual, _ := c.topics.LoadOrStore(t.Name, s)
	return actual.(*topicSettings)
}

func newTopicSettings(tcfg *config.Topic) *topicSettings {
	s := &topicSettings{
		cfg:             tcfg,
		maxMessageBytes: tcfg.Int64("max.message.bytes"),
		segmentBytes:    tcfg.Int64("segment.bytes"),
		minISR:          int(tcfg.Int64("min.insync.replicas")),
		logAppendTime:   tcfg.String("message.timestamp.type") == "LogAppendTime",
		tsBefore:        tcfg.Int64("message.timestamp.before.max.ms"),
		tsAfter:         tcfg.Int64("message.timestamp.after.max.ms"),
	}
	s.codec, s.recompress = topicCodec(tcfg.String("compression.type"))
	for _, p := range tcfg.List("cleanup.policy") {
		s.compacted = s.compacted || p == "compact"
	}
	// The deprecated difference.max.ms stands in for before.max.ms and
	// after.max.ms where they are not set (Kafka 3.6-3.9: a value other
	// than the unbounded default is set). after.max.ms defaults to an hour
	// here, as in Kafka 4, so it counts as set only when given.
	if diff := tcfg.Int64("message.timestamp.difference.max.ms"); diff != math.MaxInt64 {
		if s.tsBefore == math.MaxInt64 {
			s.tsBefore = diff
		}
		if v, ok := tcfg.Get("message.timestamp.after.max.ms"); !ok || v.Source == config.SourceDefault {
			s.tsAfter = diff
		}
	}
	return s
}

// checksTimestamps reports whether CreateTime records must be compared
// with the broker's clock (KIP-937).
func (s *topicSettings) checksTimestamps() bool {
	return !s.logAppendTime && (s.tsBefore != math.MaxInt64 || s.tsAfter != math.MaxInt64)
}

// collisions returns the image's topics whose names hold '.' or '_', by
// unified name (every '.' made '_'), each list sorted; built on first use.
func (c *imageConfigs) collisions() map[string][]string {
	c.collisionsOnce.Do(func() {
		c.byUnified = map[string][]string{}
		for name := range c.img.Topics.All() {
			if hasCollisionChars(name) {
				u := unifyCollisionChars(name)
				c.byUnified[u] = append(c.byUnified[u], name)
			}
		}
		for _, names := range c.byUnified {
			slices.Sort(names)
		}
	})
	return c.byUnified
}
