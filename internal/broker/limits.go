package broker

// Work bounded by what a request may cost (issue 13): a request's work is
// bounded by what exists, not by how many entries it claims. Metadata,
// Produce and Fetch may name at most the topics the cluster has plus
// maxUnknownTopics (the server closes the connection before decoding
// anything longer, limits.go there);
// duplicate topics in Metadata and Fetch are collapsed, as Kafka collapses
// them into a set or map, and ListOffsets answers every duplicate
// partition, across all the request's topic entries, with INVALID_REQUEST
// as Kafka does. Handlers that loop over entries stop when the
// connection's context ends.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/quota"
)

// maxUnknownTopics is how many topics beyond those that exist a request
// may name: topics to auto-create, or names a client with stale metadata
// still asks about. Kafka has no such bound; a request naming
// more is not one any client sends.
const maxUnknownTopics = 10_000

// MaxRequestTopics is the most topics a Metadata, Produce or Fetch
// request may name (server.ArrayLimiter).
func (b *Broker) MaxRequestTopics() int {
	return b.cfg.Cluster.Image().Topics.Len() + maxUnknownTopics
}

// uniqueMetadataTopics drops repeated names and IDs, keeping the first of
// each, as Kafka answers a set of topics.
func uniqueMetadataTopics(topics []kmsg.MetadataRequestTopic) []kmsg.MetadataRequestTopic {
	if len(topics) < 2 {
		return topics
	}
	names := make(map[string]struct{}, len(topics))
	ids := map[[16]byte]struct{}{}
	out := topics[:0:0]
	for _, rt := range topics {
		if rt.Topic != nil {
			if _, dup := names[*rt.Topic]; dup {
				continue
			}
			names[*rt.Topic] = struct{}{}
		} else {
			if _, dup := ids[rt.TopicID]; dup {
				continue
			}
			ids[rt.TopicID] = struct{}{}
		}
		out = append(out, rt)
	}
	return out
}

// FetchBuffers reports the bytes of pooled fetch read chunks held by
// responses now and the most they may hold (fetch.go), for the metrics.
func (b *Broker) FetchBuffers() (inUse, limit int64) {
	p := &b.readBufs
	p.mu.Lock()
	n := p.inUse
	p.mu.Unlock()
	return int64(n) * readChunkSize, fetchChunksInUse * readChunkSize
}

// DecompressionBudget is the budget decompression draws on
// (sluice.decompression.max.bytes); nil when there is none.
func (b *Broker) DecompressionBudget() *quota.Budget { return b.cfg.Decompression }
