package broker

import "sync/atomic"

// Requests waiting for something to happen before they are answered (what
// Kafka calls purgatory): acks=all produce requests waiting for their
// batches to be replicated and fsynced (produce_wait.go), and fetches
// waiting for fetch.min.bytes or fetch.max.wait.ms (fetch.go). The node's
// metrics read the counts when scraped.

// purgatory counts the requests waiting now.
type purgatory struct {
	produce, consumerFetch, followerFetch atomic.Int64
}

// Waiting is how many requests wait now, by kind.
type Waiting struct {
	Produce       int64 // acks=all produce requests
	ConsumerFetch int64 // consumers' fetches
	FollowerFetch int64 // followers' fetches (replication)
}

// Waiting reports the requests waiting to be answered now.
func (b *Broker) Waiting() Waiting {
	return Waiting{
		Produce:       b.waiting.produce.Load(),
		ConsumerFetch: b.waiting.consumerFetch.Load(),
		FollowerFetch: b.waiting.followerFetch.Load(),
	}
}

// fetchWaiting is the counter of a fetch's kind.
func (p *purgatory) fetchWaiting(follower bool) *atomic.Int64 {
	if follower {
		return &p.followerFetch
	}
	return &p.consumerFetch
}
