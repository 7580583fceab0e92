package server

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/broker"
)

// stagedHandler answers Metadata requests by how many topics they name:
// one waits (in its deferred reply) until the third request reaches the
// handler, two waits until release closes, three answers at once.
type stagedHandler struct {
	third   chan struct{}
	release chan struct{}
}

func (h *stagedHandler) Supports(key, version int16) bool { return key == 3 && version == 1 }

func (h *stagedHandler) Handle(ctx context.Context, _ *broker.Client, req kmsg.Request) broker.Reply {
	m := req.(*kmsg.MetadataRequest)
	resp := m.ResponseKind()
	gate := h.release
	switch len(m.Topics) {
	case 1:
		gate = h.third
	case 3:
		close(h.third)
		return broker.Reply{Response: resp}
	}
	return broker.Reply{Wait: func(ctx context.Context) kmsg.Response {
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return resp
	}}
}

// sendThreeRequests connects to a test server of h and sends it, in one
// write, Metadata requests naming 1, 2 and 3 topics, with correlation IDs
// 1, 2 and 3. The connection closes when the test ends.
func sendThreeRequests(t *testing.T, h Handler) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", startTestServer(t, Config{}, h))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var frames []byte
	for n := 1; n <= 3; n++ {
		f := metadataFrame(n)
		binary.BigEndian.PutUint32(f[8:], uint32(n)) // correlation ID
		frames = append(frames, f...)
	}
	if _, err := c.Write(frames); err != nil {
		t.Fatal(err)
	}
	return c
}

// A response that is ready goes out before the writer waits for the next
// one: when the first request's deferred reply completes, the second and
// third are already queued behind it, and the second waits until the client
// has read the first answer (as an acks=all produce waits for an fsync
// while the client waits for the answers before it).
func TestReadyResponseIsNotHeldBehindAWaitingOne(t *testing.T) {
	h := &stagedHandler{third: make(chan struct{}), release: make(chan struct{})}
	c := sendThreeRequests(t, h)
	// The deadline only keeps a broken writer from hanging the test.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	readCorr := func() int32 {
		t.Helper()
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			t.Fatalf("read response size: %v", err)
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c, body); err != nil {
			t.Fatalf("read response: %v", err)
		}
		return int32(binary.BigEndian.Uint32(body))
	}
	if got := readCorr(); got != 1 {
		t.Fatalf("first response has correlation ID %d, want 1", got)
	}
	close(h.release)
	for want := int32(2); want <= 3; want++ {
		if got := readCorr(); got != want {
			t.Fatalf("response has correlation ID %d, want %d", got, want)
		}
	}
}

// releaseHandler answers Metadata requests with replies that count their
// Release calls; the reply to a request naming one topic panics in its
// deferred wait, once the third request has reached the handler.
type releaseHandler struct {
	third    chan struct{}
	released chan int
}

func (h *releaseHandler) Supports(key, version int16) bool { return key == 3 && version == 1 }

func (h *releaseHandler) Handle(_ context.Context, _ *broker.Client, req kmsg.Request) broker.Reply {
	m := req.(*kmsg.MetadataRequest)
	n := len(m.Topics)
	reply := broker.Reply{Response: m.ResponseKind(), Release: func() { h.released <- n }}
	switch n {
	case 1:
		reply.Response = nil
		reply.Wait = func(context.Context) kmsg.Response {
			<-h.third
			panic("the deferred reply failed")
		}
	case 3:
		close(h.third)
	}
	return reply
}

// A connection that ends with replies still queued releases every one of
// them (a fetch's buffers, an acks=all produce's place in purgatory): here
// the first reply's wait panics, which closes the connection with the
// second and third queued behind it.
func TestQueuedRepliesAreReleasedWhenTheConnectionEnds(t *testing.T) {
	h := &releaseHandler{third: make(chan struct{}), released: make(chan int, 3)}
	sendThreeRequests(t, h)
	got := map[int]bool{}
	timeout := time.After(10 * time.Second)
	for len(got) < 3 {
		select {
		case n := <-h.released:
			if got[n] {
				t.Fatalf("the reply to request %d was released twice", n)
			}
			got[n] = true
		case <-timeout:
			t.Fatalf("released %v of requests 1-3 within 10s", got)
		}
	}
}
