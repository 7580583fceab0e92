package schemaregistry

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/schema"
)

// sharedLog is _schemas as every node reads it: what the writer appends,
// each registry applies at once.
type sharedLog struct {
	mu   sync.Mutex
	regs []*Registry
	next int64
}

func (l *sharedLog) Append(_ context.Context, recs []Record) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	krecs := make([]*kgo.Record, len(recs))
	for i, rec := range recs {
		krecs[i] = &kgo.Record{Key: rec.Key, Value: rec.Value, Offset: l.next}
		l.next++
	}
	for _, r := range l.regs {
		r.applyRecords(krecs, 0)
	}
	return l.next - 1, nil
}

func (l *sharedLog) EndOffset() (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next, nil
}

// testRegistry is a registry that is its own writer, loaded from recs (as
// a restarted node reads _schemas), behind an HTTP server.
func testRegistry(t *testing.T, recs ...Record) string {
	t.Helper()
	r := New(Config{NodeID: 1, URL: "http://writer", Timeout: 5 * time.Second,
		Writer: func() (int32, int32, bool) { return 1, 0, true }})
	l := &sharedLog{regs: []*Registry{r}}
	r.cfg.Log = l
	if _, err := l.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	r.markReady()
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// call sends a request and returns the status and the decoded body.
func call(t *testing.T, method, url, body string) (int, any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, url, raw, err)
	}
	return resp.StatusCode, v
}

// mustCall is call that expects a status.
func mustCall(t *testing.T, status int, method, url, body string) any {
	t.Helper()
	got, v := call(t, method, url, body)
	if got != status {
		t.Fatalf("%s %s = %d %v, want %d", method, url, got, v, status)
	}
	return v
}

// errorCode is the error_code of an error body.
func errorCode(v any) int {
	if m, ok := v.(map[string]any); ok {
		if c, ok := m["error_code"].(float64); ok {
			return int(c)
		}
	}
	return 0
}

func registerBody(s string) string {
	return string(mustJSON(schemaRequest{Schema: s}))
}

const (
	testAvro1 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"}]}`
	testAvro2 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}`
)

// twoVersionsNewestSoftDeleted registers two versions of subject s and
// soft-deletes the second.
func twoVersionsNewestSoftDeleted(t *testing.T) string {
	t.Helper()
	url := testRegistry(t)
	mustCall(t, 200, "POST", url+"/subjects/s/versions", registerBody(testAvro1))
	mustCall(t, 200, "POST", url+"/subjects/s/versions", registerBody(testAvro2))
	mustCall(t, 200, "DELETE", url+"/subjects/s/versions/2", "")
	return url
}

// Confluent's "latest" is the latest version not soft-deleted, for reads
// with deleted=true too.
func TestLatestWithDeletedIsTheLatestLiveVersion(t *testing.T) {
	url := twoVersionsNewestSoftDeleted(t)
	v := mustCall(t, 200, "GET", url+"/subjects/s/versions/latest?deleted=true", "").(map[string]any)
	if v["version"] != 1.0 || v["id"] != 1.0 {
		t.Errorf("latest?deleted=true = %v, want version 1 (id 1)", v)
	}
	if v := mustCall(t, 200, "GET", url+"/subjects/s/versions/2?deleted=true", "").(map[string]any); v["version"] != 2.0 {
		t.Errorf("version 2?deleted=true = %v", v)
	}
}

// DELETE .../versions/latest?permanent=true names the latest live version,
// which was not soft-deleted first: 40407, and the soft-deleted newest
// stays.
func TestPermanentDeleteOfLatestNeverRemovesASoftDeletedVersion(t *testing.T) {
	url := twoVersionsNewestSoftDeleted(t)
	v := mustCall(t, 404, "DELETE", url+"/subjects/s/versions/latest?permanent=true", "")
	if errorCode(v) != codeVersionNotSoftDeleted {
		t.Errorf("permanent delete of latest = %v, want %d", v, codeVersionNotSoftDeleted)
	}
	mustCall(t, 200, "GET", url+"/subjects/s/versions/2?deleted=true", "")
	mustCall(t, 200, "GET", url+"/subjects/s/versions/1", "")
}

// GET /schemas?latestOnly=true leaves soft-deleted versions out first, then
// takes each subject's last.
func TestListSchemasLatestOnlySkipsSoftDeletedNewest(t *testing.T) {
	url := twoVersionsNewestSoftDeleted(t)
	for _, q := range []string{"latestOnly=true", "latestOnly=true&subjectPrefix=:.:s"} {
		got := mustCall(t, 200, "GET", url+"/schemas?"+q, "").([]any)
		if len(got) != 1 || got[0].(map[string]any)["version"] != 1.0 {
			t.Errorf("GET /schemas?%s = %v, want s version 1 only", q, got)
		}
	}
	got := mustCall(t, 200, "GET", url+"/schemas?latestOnly=true&deleted=true", "").([]any)
	if len(got) != 1 || got[0].(map[string]any)["version"] != 2.0 {
		t.Errorf("GET /schemas?latestOnly=true&deleted=true = %v, want s version 2 only", got)
	}
}

// The default context's qualifier of subjectPrefix is stripped in GET
// /schemas as in GET /subjects.
func TestListSchemasStripsTheDefaultContextFromThePrefix(t *testing.T) {
	url := twoVersionsNewestSoftDeleted(t)
	if got := mustCall(t, 200, "GET", url+"/schemas?subjectPrefix=:.:s", "").([]any); len(got) != 1 {
		t.Errorf("GET /schemas?subjectPrefix=:.:s = %v, want s version 1", got)
	}
}

// GET /schemas/ids/{id}?subject= uses the subject only to choose a
// context: an ID registered under another subject is found.
func TestSchemaByIDWithAnotherSubjectIsFound(t *testing.T) {
	url := testRegistry(t)
	mustCall(t, 200, "POST", url+"/subjects/s/versions", registerBody(testAvro1))
	for _, subj := range []string{"other", ":.:other", "s"} {
		v := mustCall(t, 200, "GET", url+"/schemas/ids/1?subject="+subj, "").(map[string]any)
		if v["schema"] != testAvro1 {
			t.Errorf("GET /schemas/ids/1?subject=%s = %v", subj, v)
		}
	}
	if v := mustCall(t, 404, "GET", url+"/schemas/ids/2?subject=s", ""); errorCode(v) != codeSchemaNotFound {
		t.Errorf("unknown ID = %v", v)
	}
}

// Compatibility against one version: no latest version (every version
// soft-deleted) is compatible with anything; a specific version that does
// not exist is 40402, whether the subject exists or not.
func TestCompatibilityAgainstMissingVersions(t *testing.T) {
	url := testRegistry(t)
	mustCall(t, 200, "POST", url+"/subjects/gone/versions", registerBody(testAvro1))
	mustCall(t, 200, "DELETE", url+"/subjects/gone", "")
	v := mustCall(t, 200, "POST", url+"/compatibility/subjects/gone/versions/latest", registerBody(testAvro2)).(map[string]any)
	if v["is_compatible"] != true {
		t.Errorf("latest of a soft-deleted subject = %v, want compatible", v)
	}
	for _, path := range []string{"/compatibility/subjects/unknown/versions/1", "/compatibility/subjects/gone/versions/1"} {
		if v := mustCall(t, 404, "POST", url+path, registerBody(testAvro2)); errorCode(v) != codeVersionNotFound {
			t.Errorf("POST %s = %v, want %d", path, v, codeVersionNotFound)
		}
	}
}

// PUT /mode IMPORT is refused only by subjects with a live version; a
// soft-deleted subject is cleared, and its version numbers can be
// imported.
func TestImportModeIgnoresSoftDeletedSubjects(t *testing.T) {
	url := testRegistry(t)
	mustCall(t, 200, "POST", url+"/subjects/s/versions", registerBody(testAvro1))
	if v := mustCall(t, 422, "PUT", url+"/mode", `{"mode":"IMPORT"}`); errorCode(v) != codeOperationNotPermitted {
		t.Errorf("IMPORT with a live subject = %v", v)
	}
	mustCall(t, 200, "DELETE", url+"/subjects/s", "")
	mustCall(t, 200, "PUT", url+"/mode", `{"mode":"IMPORT"}`)
	body := string(mustJSON(schemaRequest{Schema: testAvro2, ID: 7, Version: 1}))
	if v := mustCall(t, 200, "POST", url+"/subjects/s/versions", body).(map[string]any); v["id"] != 7.0 {
		t.Errorf("import of s version 1 = %v, want id 7", v)
	}
	if got := mustCall(t, 200, "GET", url+"/subjects/s/versions?deleted=true", "").([]any); len(got) != 1 {
		t.Errorf("versions of s after import = %v, want [1]", got)
	}
}

// A schema's identity (what a registration of the same schema is matched
// against) does not depend on the order records are read in: compaction
// leaves a soft-deleted referrer before the schema it refers to, and a
// registry loading that topic still gives the referrer's ID to the same
// schema registered elsewhere, as the registry that wrote it does.
func TestIdentityDoesNotDependOnRecordOrder(t *testing.T) {
	const inner = `{"type":"record","name":"Inner","namespace":"shop","fields":[{"name":"x","type":"long"}]}`
	// Spaced out, so that its text is not its canonical form.
	const outer = `{ "type": "record", "name": "Outer", "namespace": "shop", "fields": [ { "name": "in", "type": "Inner" } ] }`
	refs := []schema.Reference{{Name: "shop.Inner", Subject: "inner", Version: 1}}
	innerV := schemaValue{Subject: "inner", Version: 1, ID: 1, Schema: inner}
	outerV := schemaValue{Subject: "outer", Version: 1, ID: 2, Schema: outer, References: refs}
	softDeleted := func(v schemaValue) schemaValue { v.Deleted = true; return v }
	written := []Record{schemaRecord(innerV), schemaRecord(outerV),
		schemaRecord(softDeleted(outerV)), schemaRecord(softDeleted(innerV))}
	compacted := []Record{schemaRecord(softDeleted(outerV)), schemaRecord(softDeleted(innerV))}
	body := string(mustJSON(schemaRequest{Schema: outer, References: refs}))
	for name, recs := range map[string][]Record{"as written": written, "compacted": compacted} {
		url := testRegistry(t, recs...)
		if v := mustCall(t, 200, "POST", url+"/subjects/copy/versions", body).(map[string]any); v["id"] != 2.0 {
			t.Errorf("%s: outer registered under another subject = %v, want id 2", name, v)
		}
	}
}
