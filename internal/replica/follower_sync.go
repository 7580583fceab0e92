package replica

import (
	"context"
	"errors"

	"github.com/sluice-io/sluice/internal/log"
)

// A follower fsyncs what it fetched before it fetches again, because its
// next Fetch reports its log end offset to the leader, and the leader
// moves the high watermark, and answers acks=all producers, on those
// reports. Were the report ahead of the follower's disk, a power cut of
// the whole cluster could lose acknowledged records: the follower comes
// back without its unsynced tail, may be elected leader (it was in the
// ISR), and the old leader then truncates to it. With the fsync first,
// every record below the high watermark is on the disk of every ISR
// member, so any clean leader has it. The partitions of one fetch are
// synced together (their log directory's SyncGroup shares one sync).
// Kafka does not do this: its followers flush on flush.messages and
// flush.ms alone, and it gives up acknowledged records when all replicas
// lose power together.

// syncFetched waits until every fetched partition in parts whose log grew
// past the offset it was fetched from is durable up to its log end.
func (f *fetcher) syncFetched(ctx context.Context, parts []*fetchPart, from map[*fetchPart]int64) {
	type grown struct {
		fp  *fetchPart
		end int64
	}
	var todo []grown
	for _, fp := range parts {
		if end := fp.p.log.LogEndOffset(); end > from[fp] && fp.p.log.DurableOffset() < end {
			fp.p.ExpectWaitDurable()
			todo = append(todo, grown{fp, end})
		}
	}
	for _, g := range todo {
		g.fp.p.StartSyncs()
	}
	// One sync of each log directory covers every partition announced:
	// the waits end together, one after another costs nothing.
	for _, g := range todo {
		err := g.fp.p.WaitDurable(ctx, g.end)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return
		case errors.Is(err, log.ErrOffsetOutOfRange), errors.Is(err, log.ErrClosed):
			// Truncated or closed meanwhile: the next round sees.
		default:
			// An fsync failure took the log offline; the Manager
			// reports its directory.
			f.logger.Warn("follower fsync failed", "topic", g.fp.p.Topic, "partition", g.fp.p.Index, "err", err)
		}
	}
}
