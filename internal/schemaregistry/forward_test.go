package schemaregistry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// forwardingPair is a writer (node 1) and a node that forwards to it
// (node 2). The writer drops its answer to the first DELETE of each path
// in drop after applying it, as a forward that times out once the writer
// has written. It returns the forwarding node's URL and the writer's.
func forwardingPair(t *testing.T, drop ...string) (follower, writer string) {
	t.Helper()
	writerOf := func() (int32, int32, bool) { return 1, 0, true }
	l := &sharedLog{}
	w := New(Config{NodeID: 1, Timeout: 5 * time.Second, Writer: writerOf, Log: l})
	f := New(Config{NodeID: 2, Timeout: 5 * time.Second, Writer: writerOf, Log: l})
	l.regs = []*Registry{w, f}
	var mu sync.Mutex
	dropped := map[string]bool{}
	ws := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		mu.Lock()
		first := req.Method == "DELETE" && slices.Contains(drop, req.URL.RequestURI()) && !dropped[req.URL.RequestURI()]
		dropped[req.URL.RequestURI()] = dropped[req.URL.RequestURI()] || first
		mu.Unlock()
		if !first {
			w.Handler().ServeHTTP(rw, req)
			return
		}
		w.Handler().ServeHTTP(httptest.NewRecorder(), req)
		conn, _, err := rw.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(ws.Close)
	w.cfg.URL = ws.URL
	fs := httptest.NewServer(f.Handler())
	t.Cleanup(fs.Close)
	w.markReady()
	f.markReady()
	if err := w.announce(context.Background()); err != nil {
		t.Fatal(err)
	}
	return fs.URL, ws.URL
}

// A soft delete forwarded to the writer and sent again because the first
// try got no answer, though the writer applied it, answers what the
// first would have: the deleted version (even for "latest", which deletes
// one version only) or the subject's deleted versions. A user's delete of
// what is already soft-deleted still answers as Confluent does: 40406 for
// a version, 40404 for a subject.
func TestForwardedSoftDeleteSentAgainAnswersAsTheFirst(t *testing.T) {
	t.Parallel()
	url, writer := forwardingPair(t, "/subjects/s/versions/2", "/subjects/s/versions/latest", "/subjects/s")
	for _, body := range []string{testAvro1, testAvro2} {
		mustCall(t, 200, "POST", url+"/subjects/s/versions", registerBody(body))
	}
	mustCall(t, 200, "POST", url+"/subjects/s/versions", registerBody(`{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""},{"name":"n","type":"int","default":0}]}`))
	if got := mustCall(t, 200, "GET", url+"/subjects/s/versions", ""); len(got.([]any)) != 3 {
		t.Fatalf("versions %v, want 3", got)
	}

	if got := mustCall(t, 200, "DELETE", url+"/subjects/s/versions/2", ""); got != float64(2) {
		t.Fatalf("soft delete of version 2 sent again = %v, want 2", got)
	}
	if code := errorCode(mustCall(t, 404, "DELETE", url+"/subjects/s/versions/2", "")); code != codeVersionSoftDeleted {
		t.Fatalf("user's second delete of version 2: error %d, want %d", code, codeVersionSoftDeleted)
	}
	if code := errorCode(mustCall(t, 404, "DELETE", writer+"/subjects/s/versions/2", "")); code != codeVersionSoftDeleted {
		t.Fatalf("user's second delete of version 2 at the writer: error %d, want %d", code, codeVersionSoftDeleted)
	}

	if got := mustCall(t, 200, "DELETE", url+"/subjects/s/versions/latest", ""); got != float64(3) {
		t.Fatalf("soft delete of the latest version sent again = %v, want 3", got)
	}
	if got := mustCall(t, 200, "GET", url+"/subjects/s/versions", ""); len(got.([]any)) != 1 || got.([]any)[0] != float64(1) {
		t.Fatalf("versions after deleting the latest once = %v, want [1]", got)
	}

	got := mustCall(t, 200, "DELETE", url+"/subjects/s", "")
	if vs, ok := got.([]any); !ok || len(vs) != 1 || vs[0] != float64(1) {
		t.Fatalf("soft delete of the subject sent again = %v, want [1]", got)
	}
	if code := errorCode(mustCall(t, 404, "DELETE", url+"/subjects/s", "")); code != codeSubjectSoftDeleted {
		t.Fatalf("user's second delete of the subject: error %d, want %d", code, codeSubjectSoftDeleted)
	}
}

// The answer of a write made for a request ID is in _schemas, so a writer
// that took over after the first try (its state read from the topic)
// answers the next try as the first writer did.
func TestWriteSentAgainToANewWriterAnswersFromSchemas(t *testing.T) {
	t.Parallel()
	deleted := schemaValue{Subject: "s", Version: 1, ID: 1, Schema: testAvro1, Deleted: true}
	url := testRegistry(t, schemaRecord(deleted),
		Record{Key: noopKey(), Value: mustJSON(noopValue{MaxID: 1, RequestID: "first-try", Result: []byte("1")})})
	send := func(id string) (int, any) {
		req, err := http.NewRequest("DELETE", url+"/subjects/s/versions/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(headerForwarded, "2")
		req.Header.Set(headerRequestID, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, v
	}
	if status, v := send("first-try"); status != 200 || v != float64(1) {
		t.Fatalf("try sent again = %d %v, want 200 1", status, v)
	}
	if status, v := send("another"); status != 404 || errorCode(v) != codeVersionSoftDeleted {
		t.Fatalf("another request = %d %v, want 404 %d", status, v, codeVersionSoftDeleted)
	}
}

// Only the latest answers are kept, in the order written.
func TestStateRemembersTheLatestAnswers(t *testing.T) {
	t.Parallel()
	st := newState()
	for i := range maxRememberedAnswers + 2 {
		st.apply(decodedRecord{noop: &noopValue{RequestID: fmt.Sprint("r", i), Result: []byte(fmt.Sprint(i))}})
	}
	if len(st.answers) != maxRememberedAnswers || len(st.answered) != maxRememberedAnswers {
		t.Fatalf("%d answers, %d in order, want %d", len(st.answers), len(st.answered), maxRememberedAnswers)
	}
	if _, ok := st.answers["r1"]; ok {
		t.Fatal("an answer beyond the bound was kept")
	}
	if got := string(st.answers[fmt.Sprint("r", maxRememberedAnswers+1)]); got != fmt.Sprint(maxRememberedAnswers+1) {
		t.Fatalf("latest answer %q", got)
	}
}
