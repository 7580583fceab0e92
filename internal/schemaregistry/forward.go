package schemaregistry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Forwarding: a write that reaches a node other than the writer is sent on
// to the writer's URL (the one it announced in _schemas) with the same
// method, path, query, body and credentials, and the writer's answer goes
// back to the client. The writer says in a header which offset the write
// ended at; the forwarding node answers once it has read that far, so a
// client that registers through one node and then reads through it sees
// its write.

const (
	// headerForwarded marks a forwarded request: the node receiving it
	// does not forward it again.
	headerForwarded = "X-Sluice-Forwarded-By"
	// headerOffset is the offset of _schemas a write ended at.
	headerOffset = "X-Sluice-Schemas-Offset"
)

// serveWrite runs a write here when this node is the writer, and forwards
// it otherwise.
func (r *Registry) serveWrite(w http.ResponseWriter, req *http.Request, f func(*http.Request, []byte) (any, int64, error)) {
	ctx, cancel := context.WithTimeout(req.Context(), r.cfg.Timeout)
	defer cancel()
	body, err := r.readBody(w, req)
	if err != nil {
		reply(w, nil, err)
		return
	}
	for {
		res, off, err := f(req.WithContext(ctx), body)
		var nw errNotWriter
		if !errors.As(err, &nw) {
			if off >= 0 {
				w.Header().Set(headerOffset, strconv.FormatInt(off, 10))
			}
			reply(w, res, err)
			return
		}
		if req.Header.Get(headerForwarded) != "" {
			reply(w, nil, &apiError{http.StatusInternalServerError, codeUnknownLeader, "This node is no longer the schema registry writer; retry: " + err.Error()})
			return
		}
		done, err := r.forward(ctx, w, req, body)
		if done {
			return
		}
		// The writer is unknown, has not announced itself yet, or did not
		// answer: wait for the metadata or _schemas to change, then try
		// again (here too: this node may have become the writer).
		if werr := r.waitWriterChange(ctx); werr != nil {
			if err == nil {
				err = nw
			}
			reply(w, nil, &apiError{http.StatusInternalServerError, codeUnknownLeader, "No schema registry writer answered in time: " + err.Error()})
			return
		}
	}
}

// forward sends the request to the writer. done is false when it could
// not be delivered (err says why) and may be retried.
func (r *Registry) forward(ctx context.Context, w http.ResponseWriter, req *http.Request, body []byte) (done bool, err error) {
	node, url, ok := r.writerURL()
	if !ok {
		if node < 0 {
			return false, errNotWriter{-1}
		}
		return false, fmt.Errorf("node %d leads %s but has not announced itself as writer yet", node, Topic)
	}
	if node == r.cfg.NodeID {
		return false, errors.New("this node is becoming the writer")
	}
	out, err := http.NewRequestWithContext(ctx, req.Method, url+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		reply(w, nil, &apiError{http.StatusInternalServerError, codeForwardingFailed, "Error while forwarding the request to the writer: " + err.Error()})
		return true, nil
	}
	for _, h := range []string{"Content-Type", "Accept", "Authorization"} {
		if v := req.Header.Get(h); v != "" {
			out.Header.Set(h, v)
		}
	}
	out.Header.Set(headerForwarded, strconv.Itoa(int(r.cfg.NodeID)))
	resp, err := r.httpClient().Do(out)
	if err != nil {
		return false, fmt.Errorf("forward to node %d at %s: %w", node, url, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, r.cfg.MaxBodyBytes))
	if err != nil {
		return false, fmt.Errorf("forward to node %d at %s: %w", node, url, err)
	}
	if resp.StatusCode == http.StatusInternalServerError && bytes.Contains(respBody, []byte(strconv.Itoa(codeUnknownLeader))) {
		return false, fmt.Errorf("node %d is no longer the writer", node)
	}
	if off, err := strconv.ParseInt(resp.Header.Get(headerOffset), 10, 64); err == nil {
		r.refresh()
		if err := r.waitApplied(ctx, off); err != nil {
			r.log.Debug("forwarded write not yet read here", "offset", off, "err", err)
		}
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(resp.StatusCode)
	w.Write(respBody)
	return true, nil
}

// waitWriterChange waits a moment for the writer to become known: the
// registry's state changes when a writer announces itself; the metadata
// is polled.
func (r *Registry) waitWriterChange(ctx context.Context) error {
	r.mu.RLock()
	ch := r.changed
	r.mu.RUnlock()
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func (r *Registry) httpClient() *http.Client { return r.forwarder }
