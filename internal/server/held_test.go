package server

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/broker"
)

// bigReplies answers Metadata with 4 MiB responses that say they hold as
// much until released, as a fetch holds its read buffers; with plain set,
// they say nothing, as most responses, and only their size counts.
type bigReplies struct {
	plain             bool
	handled, released atomic.Int64
}

func (h *bigReplies) Supports(key, version int16) bool { return key == 3 && version == 1 }

func (h *bigReplies) Handle(_ context.Context, _ *broker.Client, req kmsg.Request) broker.Reply {
	h.handled.Add(1)
	resp := req.(*kmsg.MetadataRequest).ResponseKind().(*kmsg.MetadataResponse)
	p := kmsg.NewMetadataResponseTopicPartition()
	p.Replicas = make([]int32, 1<<20)
	topic := "t"
	resp.Topics = []kmsg.MetadataResponseTopic{{Topic: &topic, Partitions: []kmsg.MetadataResponseTopicPartition{p}}}
	holds := int64(4 << 20)
	if h.plain {
		holds = 0
	}
	return broker.Reply{Response: resp, Holds: holds, Release: func() { h.released.Add(1) }}
}

// TestUnreadRepliesStopTheReader: a client that pipelines requests and
// reads none of the answers gets no more requests handled once the
// replies it has not taken hold more than maxHeldReplyBytes, instead of
// 64 of them held at once; reading the answers lets the rest through,
// and every reply is released. Replies that hold buffers and plain large
// responses count alike.
func TestUnreadRepliesStopTheReader(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(map[bool]string{false: "holding", true: "plain"}[plain], func(t *testing.T) {
			unreadRepliesStopTheReader(t, &bigReplies{plain: plain})
		})
	}
}

func unreadRepliesStopTheReader(t *testing.T, h *bigReplies) {
	c, err := net.Dial("tcp", startTestServer(t, Config{}, h))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 20
	var frames []byte
	for range n {
		frames = append(frames, metadataFrame(1)...)
	}
	go c.Write(frames)
	time.Sleep(time.Second)
	if got := h.handled.Load(); got > 3 {
		t.Fatalf("%d requests handled, replies of 4 MiB each held, while the client read none", got)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var read int64
	buf := make([]byte, 1<<20)
	for read < n*(4<<20) {
		k, err := c.Read(buf)
		if err != nil && err != io.EOF {
			t.Fatalf("read after %d bytes: %v", read, err)
		}
		read += int64(k)
	}
	waitUntil := time.Now().Add(5 * time.Second)
	for h.released.Load() != n && time.Now().Before(waitUntil) {
		time.Sleep(10 * time.Millisecond)
	}
	if got, rel := h.handled.Load(), h.released.Load(); got != n || rel != n {
		t.Fatalf("handled %d and released %d of %d once read", got, rel, n)
	}
}
