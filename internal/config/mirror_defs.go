package config

// Mirror topics (internal/mirror): Sluice's own topic configs, kept in the
// replicated metadata like every topic config, so every broker refuses
// client writes to a topic being mirrored and the mirror finds where it
// left off.

// The values of sluice.mirror.state.
const (
	MirrorStateMirroring = "mirroring"
	MirrorStatePromoted  = "promoted"
)

// The names of the mirror topic configs.
const (
	MirrorSourceConfig = "sluice.mirror.source"
	MirrorStateConfig  = "sluice.mirror.state"
)

func mirrorTopicDefs() []*Def {
	return []*Def{
		{
			Name: MirrorSourceConfig, Type: TypeString, Default: "", HasDefault: true,
			Doc: "On a mirror topic, the partition data's origin: the source cluster's ID, topic name and topic ID " +
				"as <cluster id>/<topic>/<topic id>. Set by the mirror that created the topic.",
		},
		{
			Name: MirrorStateConfig, Type: TypeString, Default: "", HasDefault: true,
			Validate: oneOf("", MirrorStateMirroring, MirrorStatePromoted),
			Doc: "\"mirroring\" makes the topic a read-only mirror: its records land at their source offsets " +
				"and clients' produce requests are refused; \"promoted\" (sluice mirror promote) stops mirroring " +
				"and makes it writable again.",
		},
	}
}

// MirrorAppendTag is the tagged field (KIP-482) that marks a Produce
// request (v9 and later) as a mirror's copy of another cluster's batches:
// whole batches per partition, appended at their own offsets to a topic
// whose sluice.mirror.state is "mirroring". Kafka numbers its tags from 0
// up; Sluice's own start far above them.
const MirrorAppendTag uint32 = 10_000

// MirrorLogStartTag is a tagged field of a partition in a mirror append:
// the source partition's log start offset, 8 bytes big-endian. The
// mirror topic's leader moves its own log start up to it (as far as its
// high watermark), so that records the source deleted (retention,
// DeleteRecords) are deleted here too. A partition carrying it may hold no
// batches.
const MirrorLogStartTag uint32 = 10_001
