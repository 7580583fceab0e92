package server

import (
	"context"
	"time"
)

// mute stops reading the connection for d, the throttle time of a client
// over its quota (KIP-219: the response goes out at once with the throttle
// time, then the broker reads nothing more from the connection until the
// time has passed, as Kafka mutes the channel). Responses already read
// are still written meanwhile.
func (c *conn) mute(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
