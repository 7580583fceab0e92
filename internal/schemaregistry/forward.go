package schemaregistry

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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
//
// A forward that got no answer (it timed out, the connection broke, the
// writer moved) is sent again, and the first may have been applied. The
// node that took the client's request gives it an ID, sent with every
// try; a delete is written with its ID and answer in a NOOP record
// (writeOnce), so a try whose ID is already in _schemas gets the first
// answer, from this writer or the next, instead of a "was soft deleted"
// error or a second version deleted by "latest". A client's own retry has
// a new ID and is answered as Confluent answers it.

const (
	// headerForwarded marks a forwarded request: the node receiving it
	// does not forward it again.
	headerForwarded = "X-Sluice-Forwarded-By"
	// headerOffset is the offset of _schemas a write ended at.
	headerOffset = "X-Sluice-Schemas-Offset"
	// headerRequestID is the ID the node that took a write from the client
	// gave it, the same on every try.
	headerRequestID = "X-Sluice-Request-Id"
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
	if req.Header.Get(headerForwarded) == "" {
		// The client's request: an ID of its own, never one it sent.
		req.Header.Set(headerRequestID, newRequestID())
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
	for _, h := range []string{"Content-Type", "Accept", "Authorization", headerRequestID} {
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

// writeOnce is write for a request that may come again with the same ID
// (forwarded, and sent again after a try that got no answer): the answer
// is written with the records, in a NOOP record that carries the request
// ID, and a request whose ID is already there gets that answer, at the
// offset this node has read, without writing anything. A request without
// an ID is written as write does.
func (r *Registry) writeOnce(req *http.Request, plan func(st *state) ([]Record, any, error)) (any, int64, error) {
	id := req.Header.Get(headerRequestID)
	if id == "" {
		return r.write(req.Context(), plan)
	}
	replayed := false
	res, off, err := r.write(req.Context(), func(st *state) ([]Record, any, error) {
		if answer, ok := st.answers[id]; ok {
			replayed = true
			return nil, answer, nil
		}
		recs, res, err := plan(st)
		if err != nil || len(recs) == 0 {
			return recs, res, err
		}
		n := floorValue(st)
		n.RequestID, n.Result = id, mustJSON(res)
		return append(recs, Record{Key: noopKey(), Value: mustJSON(n)}), res, nil
	})
	if replayed && err == nil {
		// The forwarding node reads up to here before it answers, so it
		// sees the first try's write.
		r.mu.RLock()
		off = r.applied - 1
		r.mu.RUnlock()
	}
	return res, off, err
}

// newRequestID returns a random ID for a client's write.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
