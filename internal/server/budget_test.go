package server

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/broker"
)

// blockingHandler answers Metadata requests, holding each until released.
type blockingHandler struct {
	entered chan int // the request's size, when its handling starts
	release chan struct{}
}

func (h *blockingHandler) Supports(key, version int16) bool { return key == 3 && version == 1 }

func (h *blockingHandler) Handle(ctx context.Context, _ *broker.Client, req kmsg.Request) broker.Reply {
	m := req.(*kmsg.MetadataRequest)
	h.entered <- len(m.Topics)
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return broker.Reply{Response: m.ResponseKind()}
}

// metadataFrame is a Metadata v1 request naming n topics of 10 bytes, so
// its size grows with n.
func metadataFrame(n int) []byte {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 1
	for i := 0; i < n; i++ {
		name := "topic-0000"
		req.Topics = append(req.Topics, kmsg.MetadataRequestTopic{Topic: &name})
	}
	b := []byte{0, 0, 0, 0, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// The request bytes in flight over all connections stay within
// MaxQueuedBytes: a request that would exceed it is not read until an
// earlier one has been handled.
func TestQueuedRequestBytesAreBounded(t *testing.T) {
	big := metadataFrame(40) // about 500 bytes
	h := &blockingHandler{entered: make(chan int, 4), release: make(chan struct{})}
	addr := startTestServer(t, Config{MaxRequestSize: 800, MaxQueuedBytes: 800}, h)

	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	if _, err := a.Write(big); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("first request never reached the handler")
	}
	if _, err := b.Write(big); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.entered:
		t.Fatal("second request was handled while the first held the budget")
	case <-time.After(300 * time.Millisecond):
	}
	h.release <- struct{}{}
	select {
	case <-h.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("second request was not handled after the budget was returned")
	}
	h.release <- struct{}{}
}
