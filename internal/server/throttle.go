package server

import (
	"context"
	"time"

	"github.com/sluice-io/sluice/internal/ctxtime"
)

// mute stops reading the connection for d, the throttle time of a client
// over its quota (KIP-219: the response goes out at once with the throttle
// time, then the broker reads nothing more from the connection until the
// time has passed, as Kafka mutes the channel). Responses already read
// are still written meanwhile.
func (c *conn) mute(ctx context.Context, d time.Duration) error {
	return ctxtime.Sleep(ctx, d)
}
