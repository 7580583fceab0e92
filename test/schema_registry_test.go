package test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluice-io/sluice/internal/node"
)

// The schema registry built into Sluice (issue 16), driven by franz-go's
// registry client (pkg/sr) and by raw HTTP where a client hides the
// answer: Confluent's paths, error codes and content type.

// startRegistryBroker starts a one-node broker with its schema registry on
// an ephemeral port and returns it with the registry's URL.
func startRegistryBroker(t testing.TB) (*broker, string) {
	t.Helper()
	b := &broker{t: t, dataDir: t.TempDir()}
	b.cfg = node.Config{
		NodeID:               1,
		Listen:               "127.0.0.1:0",
		DataDir:              b.dataDir,
		Logger:               testLogger(t),
		SchemaRegistryListen: "127.0.0.1:0",
	}
	b.start()
	t.Cleanup(b.stop)
	return b, "http://" + b.node.SchemaRegistryAddr()
}

func newRegistryClient(t testing.TB, urls ...string) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(urls...), sr.HTTPClient(&http.Client{Timeout: 20 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// registryCode returns the Confluent error code of a client error, or 0.
func registryCode(err error) int {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return 0
}

const (
	avroOrderV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"}]}`
	// v2 adds a field with a default: BACKWARD compatible.
	avroOrderV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}`
	// v3 adds a field without a default: not BACKWARD compatible.
	avroOrderV3 = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""},{"name":"qty","type":"int"}]}`
)

func TestSchemaRegistryFranzClientRegistersLooksUpAndEvolves(t *testing.T) {
	t.Parallel()
	_, url := startRegistryBroker(t)
	cl := newRegistryClient(t, url)
	ctx := testContext(t, 60*time.Second)

	types, err := cl.SupportedTypes(ctx)
	if err != nil || len(types) != 3 {
		t.Fatalf("SupportedTypes = %v, %v; want the three formats", types, err)
	}

	s1, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroOrderV1})
	if err != nil {
		t.Fatalf("CreateSchema v1: %v", err)
	}
	if s1.ID != 1 || s1.Version != 1 || s1.Subject != "orders-value" {
		t.Fatalf("v1 = id %d version %d subject %q, want id 1 version 1 orders-value", s1.ID, s1.Version, s1.Subject)
	}
	// The same schema again: the same ID, no new version.
	if id, err := cl.RegisterSchema(ctx, "orders-value", sr.Schema{Schema: avroOrderV1}, -1, -1); err != nil || id != 1 {
		t.Fatalf("re-register v1 = %d, %v; want 1", id, err)
	}
	// The same schema, spelled differently, under another subject: the same ID.
	spaced := strings.ReplaceAll(avroOrderV1, ",", ", ")
	other, err := cl.CreateSchema(ctx, "archive-value", sr.Schema{Schema: spaced})
	if err != nil || other.ID != 1 || other.Version != 1 {
		t.Fatalf("v1 under another subject = %+v, %v; want id 1 version 1", other, err)
	}

	s2, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroOrderV2})
	if err != nil || s2.ID != 2 || s2.Version != 2 {
		t.Fatalf("v2 = %+v, %v; want id 2 version 2", s2, err)
	}
	_, err = cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroOrderV3})
	if registryCode(err) != 409 {
		t.Fatalf("incompatible v3 under BACKWARD: err %v, want error code 409", err)
	}

	got, err := cl.SchemaByID(ctx, 2)
	if err != nil || got.Schema != avroOrderV2 || got.Type != sr.TypeAvro {
		t.Fatalf("SchemaByID(2) = %+v, %v", got, err)
	}
	latest, err := cl.SchemaByVersion(ctx, "orders-value", -1)
	if err != nil || latest.ID != 2 || latest.Version != 2 {
		t.Fatalf("latest = %+v, %v; want id 2 version 2", latest, err)
	}
	versions, err := cl.SubjectVersions(ctx, "orders-value")
	if err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("versions = %v, %v; want [1 2]", versions, err)
	}
	subjects, err := cl.Subjects(ctx)
	if err != nil || !slices.Equal(subjects, []string{"archive-value", "orders-value"}) {
		t.Fatalf("subjects = %v, %v", subjects, err)
	}
	found, err := cl.LookupSchema(ctx, "orders-value", sr.Schema{Schema: avroOrderV2})
	if err != nil || found.ID != 2 || found.Version != 2 {
		t.Fatalf("LookupSchema(v2) = %+v, %v", found, err)
	}
	usedBy, err := cl.SubjectsByID(ctx, 1)
	if err != nil || !slices.Equal(usedBy, []string{"archive-value", "orders-value"}) {
		t.Fatalf("SubjectsByID(1) = %v, %v", usedBy, err)
	}

	// The compatibility check says why, with verbose.
	res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "orders-value", -1, sr.Schema{Schema: avroOrderV3})
	if err != nil || res.Is || len(res.Messages) == 0 {
		t.Fatalf("CheckCompatibility(v3) = %+v, %v; want incompatible with messages", res, err)
	}
	res, err = cl.CheckCompatibility(ctx, "orders-value", -1, sr.Schema{Schema: avroOrderV2})
	if err != nil || !res.Is {
		t.Fatalf("CheckCompatibility(v2) = %+v, %v; want compatible", res, err)
	}

	// Subject config NONE lets v3 in; the global level stays BACKWARD.
	set := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "orders-value")
	if len(set) != 1 || set[0].Err != nil {
		t.Fatalf("SetCompatibility = %+v", set)
	}
	for _, c := range cl.Compatibility(ctx, "orders-value", "") {
		want := sr.CompatNone
		if c.Subject == "" {
			want = sr.CompatBackward
		}
		if c.Err != nil || c.Level != want {
			t.Fatalf("Compatibility(%q) = %v, %v; want %v", c.Subject, c.Level, c.Err, want)
		}
	}
	s3, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroOrderV3})
	if err != nil || s3.ID != 3 || s3.Version != 3 {
		t.Fatalf("v3 under NONE = %+v, %v; want id 3 version 3", s3, err)
	}

	// Soft delete, then permanent; a permanent delete needs the soft one first.
	if err := cl.DeleteSchema(ctx, "orders-value", 3, sr.HardDelete); registryCode(err) != 40407 {
		t.Fatalf("hard delete before soft: %v, want 40407", err)
	}
	if err := cl.DeleteSchema(ctx, "orders-value", 3, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SchemaByVersion(ctx, "orders-value", 3); registryCode(err) != 40402 {
		t.Fatalf("soft-deleted version: %v, want 40402", err)
	}
	if err := cl.DeleteSchema(ctx, "orders-value", 3, sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SchemaByID(ctx, 3); registryCode(err) != 40403 {
		t.Fatalf("permanently deleted schema by ID: %v, want 40403", err)
	}
	// The next schema gets a new ID, never the deleted one's.
	s4, err := cl.CreateSchema(ctx, "payments-value", sr.Schema{Schema: `{"type":"record","name":"Payment","fields":[{"name":"cents","type":"long"}]}`})
	if err != nil || s4.ID != 4 || s4.Version != 1 {
		t.Fatalf("after a permanent delete = %+v, %v; want id 4 version 1", s4, err)
	}

	deleted, err := cl.DeleteSubject(ctx, "archive-value", sr.SoftDelete)
	if err != nil || !slices.Equal(deleted, []int{1}) {
		t.Fatalf("DeleteSubject soft = %v, %v", deleted, err)
	}
	if _, err := cl.SubjectVersions(ctx, "archive-value"); registryCode(err) != 40401 {
		t.Fatalf("soft-deleted subject: %v, want 40401", err)
	}
	if _, err := cl.DeleteSubject(ctx, "archive-value", sr.SoftDelete); registryCode(err) != 40404 {
		t.Fatalf("soft delete twice: %v, want 40404", err)
	}
	if deleted, err := cl.DeleteSubject(ctx, "archive-value", sr.HardDelete); err != nil || !slices.Equal(deleted, []int{1}) {
		t.Fatalf("DeleteSubject hard = %v, %v", deleted, err)
	}
	// ID 1 is still used by orders-value version 1.
	if got, err := cl.SchemaByID(ctx, 1); err != nil || got.Schema != avroOrderV1 {
		t.Fatalf("SchemaByID(1) after archive-value was removed = %+v, %v", got, err)
	}
}

func TestSchemaRegistryStateSurvivesRestartAndIDsAreNotReused(t *testing.T) {
	t.Parallel()
	b, url := startRegistryBroker(t)
	cl := newRegistryClient(t, url)
	ctx := testContext(t, 90*time.Second)
	for i, s := range []string{avroOrderV1, avroOrderV2} {
		if id, err := cl.RegisterSchema(ctx, "orders-value", sr.Schema{Schema: s}, -1, -1); err != nil || id != i+1 {
			t.Fatalf("register %d = %d, %v", i+1, id, err)
		}
	}
	// Remove v2 for good: its ID (2) must not come back after a restart.
	if err := cl.DeleteSchema(ctx, "orders-value", 2, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteSchema(ctx, "orders-value", 2, sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	set := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "orders-value")
	if set[0].Err != nil {
		t.Fatal(set[0].Err)
	}

	b.cfg.SchemaRegistryListen = strings.TrimPrefix(url, "http://")
	b.restart()
	cl = newRegistryClient(t, url)

	got, err := cl.SchemaByVersion(ctx, "orders-value", 1)
	if err != nil || got.ID != 1 || got.Schema.Schema != avroOrderV1 {
		t.Fatalf("after restart: version 1 = %+v, %v", got, err)
	}
	if c := cl.Compatibility(ctx, "orders-value"); c[0].Err != nil || c[0].Level != sr.CompatFull {
		t.Fatalf("after restart: config = %+v", c[0])
	}
	id, err := cl.RegisterSchema(ctx, "orders-value", sr.Schema{Schema: avroOrderV2}, -1, -1)
	if err != nil || id != 3 {
		t.Fatalf("after restart, v2 registered again = %d, %v; want a new ID 3 (2 was given before)", id, err)
	}
}

// rawCall sends one request to the registry and returns the status, the
// content type and the decoded JSON body.
func rawCall(t *testing.T, method, url, body string) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, resp.Header.Get("Content-Type"), m
}

func TestSchemaRegistryBadInputGetsConfluentErrorCodes(t *testing.T) {
	t.Parallel()
	_, url := startRegistryBroker(t)
	cl := newRegistryClient(t, url)
	ctx := testContext(t, 60*time.Second)
	if _, err := cl.RegisterSchema(ctx, "orders-value", sr.Schema{Schema: avroOrderV1}, -1, -1); err != nil {
		t.Fatal(err)
	}
	big := `{"schema":"` + strings.Repeat("x", 5<<20) + `"}`
	cases := []struct {
		name, method, path, body string
		status, code             int
	}{
		{"unknown subject", "GET", "/subjects/nope/versions", "", 404, 40401},
		{"unknown version", "GET", "/subjects/orders-value/versions/7", "", 404, 40402},
		{"unknown schema ID", "GET", "/schemas/ids/99", "", 404, 40403},
		{"version zero", "GET", "/subjects/orders-value/versions/0", "", 422, 42202},
		{"version not a number", "GET", "/subjects/orders-value/versions/first", "", 422, 42202},
		{"invalid Avro", "POST", "/subjects/orders-value/versions", `{"schema":"{\"type\":\"record\"}"}`, 422, 42201},
		{"not JSON at all", "POST", "/subjects/orders-value/versions", `{"schema":`, 400, 400},
		{"empty body", "POST", "/subjects/orders-value/versions", ``, 400, 400},
		{"schema of the wrong JSON type", "POST", "/subjects/orders-value/versions", `{"schema":5}`, 422, 422},
		{"unknown schema type", "POST", "/subjects/orders-value/versions", `{"schema":"{}","schemaType":"XML"}`, 422, 42201},
		{"reference to a missing subject", "POST", "/subjects/x-value/versions",
			`{"schema":"{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"o\",\"type\":\"shop.Order\"}]}","references":[{"name":"shop.Order","subject":"missing","version":1}]}`, 422, 42201},
		{"oversized body", "POST", "/subjects/orders-value/versions", big, 422, 42209},
		{"lookup of a schema not registered", "POST", "/subjects/orders-value", `{"schema":"\"string\""}`, 404, 40403},
		{"bad compatibility level", "PUT", "/config/orders-value", `{"compatibility":"SOMETIMES"}`, 422, 42203},
		{"bad mode", "PUT", "/mode", `{"mode":"WRITEONLY"}`, 422, 42204},
		{"subject config not set", "GET", "/config/orders-value", "", 404, 40408},
		{"import mode over existing subjects", "PUT", "/mode", `{"mode":"IMPORT"}`, 422, 42205},
		{"unknown path", "GET", "/nothing/here", "", 404, 404},
	}
	for _, c := range cases {
		status, ct, body := rawCall(t, c.method, url+c.path, c.body)
		code, _ := body["error_code"].(float64)
		if status != c.status || int(code) != c.code || ct != "application/vnd.schemaregistry.v1+json" {
			t.Errorf("%s: %s %s = HTTP %d code %v (%s), %q; want HTTP %d code %d", c.name, c.method, c.path, status, body["error_code"], body["message"], ct, c.status, c.code)
		}
	}
	// Nothing bad got in: the subject still has exactly its one version.
	if v, err := cl.SubjectVersions(ctx, "orders-value"); err != nil || !slices.Equal(v, []int{1}) {
		t.Fatalf("versions after bad input = %v, %v", v, err)
	}
	if subjects, err := cl.Subjects(ctx); err != nil || !slices.Equal(subjects, []string{"orders-value"}) {
		t.Fatalf("subjects after bad input = %v, %v", subjects, err)
	}
}

func TestSchemaRegistryModesAndImport(t *testing.T) {
	t.Parallel()
	_, url := startRegistryBroker(t)
	cl := newRegistryClient(t, url)
	ctx := testContext(t, 60*time.Second)

	// IMPORT on an empty registry keeps the IDs and versions given.
	if m := cl.SetMode(ctx, sr.ModeImport); m[0].Err != nil {
		t.Fatal(m[0].Err)
	}
	got, err := cl.CreateSchemaWithIDAndVersion(ctx, "orders-value", sr.Schema{Schema: avroOrderV1}, 100, 5)
	if err != nil || got.ID != 100 || got.Version != 5 {
		t.Fatalf("import = %+v, %v; want id 100 version 5", got, err)
	}
	if m := cl.SetMode(ctx, sr.ModeReadWrite); m[0].Err != nil {
		t.Fatal(m[0].Err)
	}
	// New IDs continue after the imported ones.
	s, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: avroOrderV2})
	if err != nil || s.ID != 101 || s.Version != 6 {
		t.Fatalf("after import = %+v, %v; want id 101 version 6", s, err)
	}
	// READONLY refuses writes to the subject.
	if m := cl.SetMode(ctx, sr.ModeReadOnly, "orders-value"); m[0].Err != nil {
		t.Fatal(m[0].Err)
	}
	if _, err := cl.RegisterSchema(ctx, "orders-value", sr.Schema{Schema: avroOrderV3}, -1, -1); registryCode(err) != 42205 {
		t.Fatalf("register in READONLY: %v, want 42205", err)
	}
	for _, m := range cl.Mode(ctx, "orders-value", "") {
		want := sr.ModeReadOnly
		if m.Subject == "" {
			want = sr.ModeReadWrite
		}
		if m.Err != nil || m.Mode != want {
			t.Fatalf("Mode(%q) = %v, %v; want %v", m.Subject, m.Mode, m.Err, want)
		}
	}
	ctxs, err := cl.Contexts(ctx)
	if err != nil || !slices.Equal(ctxs, []string{"."}) {
		t.Fatalf("contexts = %v, %v", ctxs, err)
	}
}

// TestSchemaRegistryReferencesAndNormalize registers an Avro schema that
// refers to another subject's, reads the reference back, refuses to delete
// the referenced version while it is used, and finds a schema written in
// another layout with normalize.
func TestSchemaRegistryReferencesAndNormalize(t *testing.T) {
	t.Parallel()
	_, url := startRegistryBroker(t)
	cl := newRegistryClient(t, url)
	ctx := testContext(t, 60*time.Second)
	base, err := cl.CreateSchema(ctx, "shop-order", sr.Schema{Schema: avroOrderV1})
	if err != nil {
		t.Fatal(err)
	}
	const line = `{"type":"record","name":"Line","namespace":"shop","fields":[{"name":"order","type":"shop.Order"},{"name":"qty","type":"int"}]}`
	ref := []sr.SchemaReference{{Name: "shop.Order", Subject: "shop-order", Version: 1}}
	withRef, err := cl.CreateSchema(ctx, "lines-value", sr.Schema{Schema: line, References: ref})
	if err != nil {
		t.Fatalf("register with a reference: %v", err)
	}
	if withRef.ID != base.ID+1 || !slices.Equal(withRef.References, ref) {
		t.Fatalf("schema with a reference = %+v", withRef)
	}
	got, err := cl.SchemaByID(ctx, withRef.ID)
	if err != nil || !slices.Equal(got.References, ref) {
		t.Fatalf("SchemaByID(%d) = %+v, %v; want its reference", withRef.ID, got, err)
	}
	usedBy, err := cl.SchemaReferences(ctx, "shop-order", 1)
	if err != nil || len(usedBy) != 1 || usedBy[0].ID != withRef.ID {
		t.Fatalf("referenced by = %+v, %v", usedBy, err)
	}
	if err := cl.DeleteSchema(ctx, "shop-order", 1, sr.SoftDelete); registryCode(err) != 42206 {
		t.Fatalf("deleting a referenced version: %v, want 42206", err)
	}
	// The same schema with other whitespace and field order of its JSON
	// keys is found with normalize.
	respaced := `{"fields":[{"type":"long","name":"id"}],"namespace":"shop","name":"Order","type":"record"}`
	found, err := cl.LookupSchema(sr.WithParams(ctx, sr.Normalize), "shop-order", sr.Schema{Schema: respaced})
	if err != nil || found.ID != base.ID {
		t.Fatalf("normalized lookup = %+v, %v; want id %d", found, err, base.ID)
	}
	// The schema with a reference, sent with Order inline and no
	// references as Confluent's KafkaAvroSerializer derives it, is the
	// version with the reference, for lookup and registration alike.
	inlined := `{"type":"record","name":"Line","namespace":"shop","fields":[{"name":"order","type":` + avroOrderV1 + `},{"name":"qty","type":"int"}]}`
	found, err = cl.LookupSchema(ctx, "lines-value", sr.Schema{Schema: inlined})
	if err != nil || found.ID != withRef.ID || found.Version != 1 || !slices.Equal(found.References, ref) {
		t.Fatalf("lookup of the inlined schema = %+v, %v; want version 1, id %d", found, err, withRef.ID)
	}
	again, err := cl.CreateSchema(ctx, "lines-value", sr.Schema{Schema: inlined})
	if err != nil || again.ID != withRef.ID || again.Version != 1 {
		t.Fatalf("registration of the inlined schema = %+v, %v; want version 1, id %d", again, err, withRef.ID)
	}
	withDefault := strings.Replace(inlined, `"type":"int"}`, `"type":"int","default":1}`, 1)
	if _, err := cl.LookupSchema(ctx, "lines-value", sr.Schema{Schema: withDefault}); registryCode(err) != 40403 {
		t.Fatalf("lookup of the inlined schema with a default added: %v, want 40403", err)
	}
}

// TestSchemaRegistryServesProtobufSerialized answers ?format=serialized,
// which Confluent's Protobuf deserializers ask for, with the schema's
// descriptor in base64, by ID and by subject version.
func TestSchemaRegistryServesProtobufSerialized(t *testing.T) {
	t.Parallel()
	_, url := startRegistryBroker(t)
	cl := newRegistryClient(t, url)
	ctx := testContext(t, 60*time.Second)
	const proto = "syntax = \"proto3\";\npackage shop;\nmessage Item {\n  string sku = 1;\n}\n"
	ss, err := cl.CreateSchema(ctx, "items-value", sr.Schema{Schema: proto, Type: sr.TypeProtobuf})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fmt.Sprintf("/schemas/ids/%d?format=serialized", ss.ID), "/subjects/items-value/versions/1?format=serialized"} {
		status, _, body := rawCall(t, "GET", url+path, "")
		text, _ := body["schema"].(string)
		desc, err := base64.StdEncoding.DecodeString(text)
		if status != 200 || err != nil || len(desc) == 0 || !strings.Contains(string(desc), "Item") {
			t.Errorf("GET %s = HTTP %d, schema %q (%v); want the descriptor in base64", path, status, text, err)
		}
	}
	// Without a format: the text (in the Protobuf package's layout).
	squash := func(s string) string { return strings.Join(strings.Fields(s), "") }
	if got, err := cl.SchemaByID(ctx, ss.ID); err != nil || squash(got.Schema) != squash(proto) {
		t.Fatalf("without format: %q, %v; want the text registered", got.Schema, err)
	}
}
