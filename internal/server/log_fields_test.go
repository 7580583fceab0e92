package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/broker"
)

// fatalHandler answers Metadata by how many topics it names: one waits
// until the third request reaches the handler, two is fatal, three
// answers at once.
type fatalHandler struct{ third chan struct{} }

func (h *fatalHandler) Supports(key, version int16) bool { return key == 3 && version == 1 }

func (h *fatalHandler) Handle(_ context.Context, _ *broker.Client, req kmsg.Request) broker.Reply {
	m := req.(*kmsg.MetadataRequest)
	resp := m.ResponseKind()
	switch len(m.Topics) {
	case 1:
		return broker.Reply{Wait: func(ctx context.Context) kmsg.Response {
			select {
			case <-h.third:
			case <-ctx.Done():
			}
			return resp
		}}
	case 2:
		return broker.Reply{Fatal: errors.New("refused for the test")}
	}
	close(h.third)
	return broker.Reply{Response: resp}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startTestServer serves h on an ephemeral 127.0.0.1 port until the test
// ends and returns the address.
func startTestServer(t *testing.T, cfg Config, h Handler) string {
	t.Helper()
	srv := New(cfg, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go srv.Serve(ctx, ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return ln.Addr().String()
}

// clientMetadataFrame is a size-prefixed Metadata v1 request naming n
// topics, sent by clientID.
func clientMetadataFrame(corr int32, clientID string, n int) []byte {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 1
	for i := 0; i < n; i++ {
		name := "topic"
		req.Topics = append(req.Topics, kmsg.MetadataRequestTopic{Topic: &name})
	}
	b := req.AppendTo(header(3, 1, corr, &clientID, nil))
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// The line closing a connection for a fatal reply names the client of the
// request that was fatal, even when the reader has since parsed a request
// of another client ID: the writer logs the ID queued with the reply.
func TestFatalReplyClosingLineNamesItsClient(t *testing.T) {
	var logs lockedBuffer
	h := &fatalHandler{third: make(chan struct{})}
	addr := startTestServer(t, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var frames []byte
	frames = append(frames, clientMetadataFrame(1, "waiting-client", 1)...)
	frames = append(frames, clientMetadataFrame(2, "fatal-client", 2)...)
	frames = append(frames, clientMetadataFrame(3, "later-client", 3)...)
	if _, err := c.Write(frames); err != nil {
		t.Fatal(err)
	}
	// The deadline only keeps a broken server from hanging the test.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("the connection was not closed: %v", err)
	}

	var line map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for line == nil {
		for _, s := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(s), &m) == nil && m["msg"] == "closing connection" {
				line = m
			}
		}
		if line == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no closing connection line in:\n%s", logs.String())
			}
			time.Sleep(10 * time.Millisecond) // the writer logs as it returns
		}
	}
	if line["client_id"] != "fatal-client" || !strings.Contains(line["reason"].(string), "refused for the test") {
		t.Fatalf("closing line %v: want client_id fatal-client and the fatal reason", line)
	}
}
