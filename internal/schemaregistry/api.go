package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/schema"
)

// contentType is what every answer is sent as (Confluent's media type).
const contentType = "application/vnd.schemaregistry.v1+json"

// Handler returns the REST API: Confluent Schema Registry's paths, bodies,
// error codes and content type.
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	get := func(pattern string, f func(*http.Request) (any, error)) {
		mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, req *http.Request) {
			ctx, cancel := context.WithTimeout(req.Context(), r.cfg.Timeout)
			defer cancel()
			res, err := f(req.WithContext(ctx))
			reply(w, res, err)
		})
	}
	// A write carries its body: read once, so that it can be forwarded.
	write := func(method, pattern string, f func(req *http.Request, body []byte) (any, int64, error)) {
		mux.HandleFunc(method+" "+pattern, func(w http.ResponseWriter, req *http.Request) {
			r.serveWrite(w, req, f)
		})
	}
	// A POST that reads only (lookup, compatibility check) is served here.
	readPost := func(pattern string, f func(req *http.Request, body []byte) (any, error)) {
		mux.HandleFunc("POST "+pattern, func(w http.ResponseWriter, req *http.Request) {
			ctx, cancel := context.WithTimeout(req.Context(), r.cfg.Timeout)
			defer cancel()
			body, err := r.readBody(w, req)
			if err != nil {
				reply(w, nil, err)
				return
			}
			res, err := f(req.WithContext(ctx), body)
			reply(w, res, err)
		})
	}

	get("/{$}", func(*http.Request) (any, error) { return struct{}{}, nil })
	get("/schemas/types", func(*http.Request) (any, error) { return schema.Types(), nil })
	get("/contexts", func(*http.Request) (any, error) { return []string{"."}, nil })
	get("/schemas", r.listSchemas)
	get("/schemas/ids/{id}", r.schemaByID)
	get("/schemas/ids/{id}/schema", r.rawSchemaByID)
	get("/schemas/ids/{id}/subjects", r.subjectsByID)
	get("/schemas/ids/{id}/versions", r.versionsByID)
	get("/subjects", r.listSubjects)
	get("/subjects/{subject}/versions", r.listVersions)
	get("/subjects/{subject}/versions/{version}", r.getVersion)
	get("/subjects/{subject}/versions/{version}/schema", r.rawVersion)
	get("/subjects/{subject}/versions/{version}/referencedby", r.referencedByVersion)
	readPost("/subjects/{subject}", r.lookup)
	readPost("/compatibility/subjects/{subject}/versions/{version}", r.checkCompatibility)
	readPost("/compatibility/subjects/{subject}/versions", r.checkCompatibility)
	write("POST", "/subjects/{subject}/versions", r.register)
	write("DELETE", "/subjects/{subject}", r.deleteSubject)
	write("DELETE", "/subjects/{subject}/versions/{version}", r.deleteVersion)
	get("/config", r.getConfig)
	get("/config/{subject}", r.getConfig)
	write("PUT", "/config", r.putConfig)
	write("PUT", "/config/{subject}", r.putConfig)
	write("DELETE", "/config", r.deleteConfig)
	write("DELETE", "/config/{subject}", r.deleteConfig)
	get("/mode", r.getMode)
	get("/mode/{subject}", r.getMode)
	write("PUT", "/mode", r.putMode)
	write("PUT", "/mode/{subject}", r.putMode)
	write("DELETE", "/mode/{subject}", r.deleteMode)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		reply(w, nil, &apiError{http.StatusNotFound, http.StatusNotFound, "HTTP 404 Not Found"})
	})
	return defaultContext(mux)
}

// defaultContext serves the default context's paths
// (/contexts/./subjects/...), which clients given a context use, as the
// plain ones: Sluice's registry has the default context only.
func defaultContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		for _, prefix := range []string{"/contexts/./", "/contexts/:.:/"} {
			if rest, ok := strings.CutPrefix(req.URL.Path, prefix); ok {
				req.URL.Path = "/" + rest
				req.URL.RawPath = ""
				break
			}
		}
		next.ServeHTTP(w, req)
	})
}

// reply writes a result as JSON, or an error as Confluent's error body.
func reply(w http.ResponseWriter, res any, err error) {
	w.Header().Set("Content-Type", contentType)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = errStore(err.Error())
		}
		w.WriteHeader(ae.status)
		json.NewEncoder(w).Encode(map[string]any{"error_code": ae.code, "message": ae.msg})
		return
	}
	if s, ok := res.(rawText); ok {
		w.Write([]byte(s))
		return
	}
	json.NewEncoder(w).Encode(res)
}

// rawText is an answer sent as is (the /schema endpoints answer the
// schema text itself).
type rawText string

// readBody reads a request body up to MaxBodyBytes.
func (r *Registry) readBody(w http.ResponseWriter, req *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, unprocessable(codeSchemaTooLarge, "Request body is larger than %d bytes", r.cfg.MaxBodyBytes)
		}
		return nil, errBadRequest("Cannot read the request body: %v", err)
	}
	return body, nil
}

// decodeBody decodes a JSON request body into v; malformed JSON is HTTP
// 400 with error code 400, as Confluent's REST layer answers it.
func decodeBody(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return errBadRequest("Request body is empty; a JSON object is expected")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return unprocessable(http.StatusUnprocessableEntity, "Unrecognized value for field %q: %v", te.Field, err)
		}
		return errBadRequest("Unexpected character or malformed JSON in the request body: %v", err)
	}
	return nil
}

// subjectParam is the {subject} of a path, without the default context's
// qualifier.
func subjectParam(req *http.Request) (string, error) {
	s := req.PathValue("subject")
	s = strings.TrimPrefix(s, ":.:")
	if s == "" || strings.ContainsRune(s, 0) {
		return "", unprocessable(codeInvalidSubject, "Invalid subject %q", s)
	}
	return s, nil
}

// versionParam parses a version: "latest" and -1 are the latest (-1).
func versionParam(s string) (int, error) {
	if s == "latest" || s == "-1" {
		return -1, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 1 || v > math.MaxInt32 {
		return 0, errInvalidVersion(s)
	}
	return int(v), nil
}

func boolParam(req *http.Request, name string) bool {
	v, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return v
}

func idParam(req *http.Request) (int, error) {
	id, err := strconv.ParseInt(req.PathValue("id"), 10, 32)
	if err != nil || id < 0 {
		return 0, errBadRequest("Invalid schema id %q", req.PathValue("id"))
	}
	return int(id), nil
}

// schemaRequest is the body of register, lookup and compatibility checks.
type schemaRequest struct {
	Schema     string             `json:"schema"`
	SchemaType string             `json:"schemaType,omitempty"`
	References []schema.Reference `json:"references,omitempty"`
	ID         int                `json:"id,omitempty"`
	Version    int                `json:"version,omitempty"`
}

// schemaResponse is a subject version as the API returns it.
type schemaResponse struct {
	Subject    string             `json:"subject,omitempty"`
	Version    int                `json:"version,omitempty"`
	ID         int                `json:"id,omitempty"`
	SchemaType string             `json:"schemaType,omitempty"`
	References []schema.Reference `json:"references,omitempty"`
	Schema     string             `json:"schema"`
	Deleted    bool               `json:"deleted,omitempty"`
}

func typeName(t schema.Type) string {
	if t == schema.Avro {
		return ""
	}
	return string(t)
}

func (st *state) response(subj string, v *version) (schemaResponse, error) {
	s := st.schemas[v.id]
	if s == nil {
		return schemaResponse{}, errSchemaIDNotFound(v.id)
	}
	return schemaResponse{Subject: subj, Version: v.version, ID: v.id, SchemaType: typeName(s.typ),
		References: s.refs, Schema: s.text, Deleted: v.deleted}, nil
}

// parseRequest parses the schema of a request against the state, with its
// references resolved.
func (st *state) parseRequest(sr schemaRequest) (schema.Parsed, error) {
	if strings.TrimSpace(sr.Schema) == "" {
		return nil, errInvalidSchema(errors.New("empty schema"))
	}
	typ, err := schema.ParseType(sr.SchemaType)
	if err != nil {
		return nil, errInvalidSchema(err)
	}
	for _, ref := range sr.References {
		if ref.Name == "" || ref.Subject == "" {
			return nil, errInvalidSchema(errors.New("a reference needs a name and a subject"))
		}
	}
	refs, err := st.resolveRefs(sr.References)
	if err != nil {
		return nil, errInvalidSchema(err)
	}
	p, err := schema.Parse(typ, sr.Schema, refs)
	if err != nil {
		return nil, errInvalidSchema(err)
	}
	return p, nil
}

// findText returns the version of a subject whose stored schema is the
// request's, character for character: the common case (a serializer
// registering or looking up the schema it registered before) needs no
// parsing.
func (st *state) findText(subj string, sr schemaRequest, deleted bool) *version {
	typ, err := schema.ParseType(sr.SchemaType)
	sub := st.subjects[subj]
	if err != nil || sub == nil {
		return nil
	}
	for i := len(sub.versions) - 1; i >= 0; i-- {
		v := sub.versions[i]
		if v.deleted && !deleted {
			continue
		}
		if s := st.schemas[v.id]; s != nil && s.typ == typ && s.text == sr.Schema && slices.Equal(s.refs, sr.References) {
			return v
		}
	}
	return nil
}

// find returns the version of a subject holding a schema (identity
// equal), or nil.
func (st *state) find(subj string, p schema.Parsed, refs []schema.Reference, deleted bool) *version {
	want := identity(p.Type(), p.Canonical(), refs)
	sub := st.subjects[subj]
	if sub == nil {
		return nil
	}
	for i := len(sub.versions) - 1; i >= 0; i-- {
		v := sub.versions[i]
		if v.deleted && !deleted {
			continue
		}
		if s := st.schemas[v.id]; s != nil && s.identity == want {
			return v
		}
	}
	return nil
}

// findResolved returns the newest version of a subject whose schema has
// references and is the same as p once they are resolved, or nil. It
// finds a schema sent without references but with the referenced types
// written inline, which is how Confluent's serializers send a schema they
// derive from a record, and which Confluent's registry matches this way
// (ParsedSchema.deepEquals). A non-zero id takes only versions with that
// ID.
func (st *state) findResolved(subj string, p schema.Parsed, deleted bool, id int) *version {
	sub := st.subjects[subj]
	if sub == nil {
		return nil
	}
	for i := len(sub.versions) - 1; i >= 0; i-- {
		v := sub.versions[i]
		if v.deleted && !deleted || id != 0 && v.id != id {
			continue
		}
		s := st.schemas[v.id]
		if s == nil || s.typ != p.Type() || len(s.refs) == 0 {
			continue
		}
		// A stored schema that no longer parses (a reference of it is
		// gone) matches nothing.
		if old, err := st.parsed(v.id); err == nil && schema.SameResolved(p, old) {
			return v
		}
	}
	return nil
}

// --- reads ---

func (r *Registry) listSubjects(req *http.Request) (any, error) {
	deleted := boolParam(req, "deleted")
	prefix := strings.TrimPrefix(req.URL.Query().Get("subjectPrefix"), ":.:")
	out := []string{}
	err := r.read(req.Context(), func(st *state) error {
		for name := range st.subjects {
			if strings.HasPrefix(name, prefix) && (deleted || st.live(name)) {
				out = append(out, name)
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func (r *Registry) listVersions(req *http.Request) (any, error) {
	subj, err := subjectParam(req)
	if err != nil {
		return nil, err
	}
	deleted := boolParam(req, "deleted")
	out := []int{}
	err = r.read(req.Context(), func(st *state) error {
		sub := st.subjects[subj]
		if sub == nil || (!deleted && !st.live(subj)) {
			return errSubjectNotFound(subj)
		}
		for _, v := range sub.versions {
			if deleted || !v.deleted {
				out = append(out, v.version)
			}
		}
		return nil
	})
	return out, err
}

// lookupVersion finds a subject version for a read, with Confluent's
// errors.
func (st *state) lookupVersion(subj string, ver int, deleted bool) (*version, error) {
	if st.subjects[subj] == nil || (!deleted && !st.live(subj)) {
		return nil, errSubjectNotFound(subj)
	}
	v := st.version(subj, ver, deleted)
	if v == nil {
		return nil, errVersionNotFound(ver)
	}
	return v, nil
}

// formatted is a stored schema's text in the format the request asks for
// (?format=serialized: a Protobuf schema as its base64 descriptor), or as
// stored.
func (st *state) formatted(id int, req *http.Request) string {
	s := st.schemas[id]
	if f := req.URL.Query().Get("format"); f != "" {
		if p, err := st.parsed(id); err == nil {
			return schema.Formatted(p, f)
		}
	}
	return s.text
}

// readVersion parses the {subject} and {version} of a path and runs f on
// that subject version of the loaded state (soft-deleted ones too when
// deleted is set), answering Confluent's errors when it does not exist.
func (r *Registry) readVersion(req *http.Request, deleted bool, f func(st *state, subj string, v *version) error) error {
	subj, err := subjectParam(req)
	if err != nil {
		return err
	}
	ver, err := versionParam(req.PathValue("version"))
	if err != nil {
		return err
	}
	return r.read(req.Context(), func(st *state) error {
		v, err := st.lookupVersion(subj, ver, deleted)
		if err != nil {
			return err
		}
		return f(st, subj, v)
	})
}

func (r *Registry) getVersion(req *http.Request) (any, error) {
	var out schemaResponse
	err := r.readVersion(req, boolParam(req, "deleted"), func(st *state, subj string, v *version) (err error) {
		out, err = st.response(subj, v)
		out.Deleted = false
		out.Schema = st.formatted(v.id, req)
		return err
	})
	return out, err
}

func (r *Registry) rawVersion(req *http.Request) (any, error) {
	res, err := r.getVersion(req)
	if err != nil {
		return nil, err
	}
	return rawText(res.(schemaResponse).Schema), nil
}

func (r *Registry) referencedByVersion(req *http.Request) (any, error) {
	var out []int
	err := r.readVersion(req, true, func(st *state, subj string, v *version) error {
		out = st.referencedBy(subj, v.version)
		return nil
	})
	return out, err
}

// readID parses the {id} of a path and runs f on the loaded state when
// the ID exists.
func (r *Registry) readID(req *http.Request, f func(st *state, id int) error) error {
	id, err := idParam(req)
	if err != nil {
		return err
	}
	return r.read(req.Context(), func(st *state) error {
		if st.schemas[id] == nil {
			return errSchemaIDNotFound(id)
		}
		return f(st, id)
	})
}

// schemaByID is GET /schemas/ids/{id}. Confluent reads ?subject= only for
// the context it names; Sluice has the default context only, so any
// registered ID is found whatever the subject.
func (r *Registry) schemaByID(req *http.Request) (any, error) {
	var out schemaResponse
	err := r.readID(req, func(st *state, id int) error {
		s := st.schemas[id]
		out = schemaResponse{SchemaType: typeName(s.typ), References: s.refs, Schema: st.formatted(id, req)}
		return nil
	})
	return out, err
}

func (r *Registry) rawSchemaByID(req *http.Request) (any, error) {
	res, err := r.schemaByID(req)
	if err != nil {
		return nil, err
	}
	return rawText(res.(schemaResponse).Schema), nil
}

func (r *Registry) subjectsByID(req *http.Request) (any, error) {
	out := []string{}
	err := r.readID(req, func(st *state, id int) error {
		for _, u := range st.usesOf(id, boolParam(req, "deleted")) {
			if !slices.Contains(out, u.Subject) {
				out = append(out, u.Subject)
			}
		}
		return nil
	})
	return out, err
}

func (r *Registry) versionsByID(req *http.Request) (any, error) {
	out := []subjectVersion{}
	err := r.readID(req, func(st *state, id int) error {
		out = append(out, st.usesOf(id, boolParam(req, "deleted"))...)
		return nil
	})
	return out, err
}

// listSchemas is GET /schemas: every subject version, by subject prefix.
// With latestOnly it is each subject's last version among those listed:
// soft-deleted versions are left out first (unless deleted is set).
func (r *Registry) listSchemas(req *http.Request) (any, error) {
	q := req.URL.Query()
	prefix := strings.TrimPrefix(q.Get("subjectPrefix"), ":.:")
	deleted, latestOnly := boolParam(req, "deleted"), boolParam(req, "latestOnly")
	out := []schemaResponse{}
	err := r.read(req.Context(), func(st *state) error {
		names := make([]string, 0, len(st.subjects))
		for name := range st.subjects {
			if strings.HasPrefix(name, prefix) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			var listed []*version
			for _, v := range st.subjects[name].versions {
				if deleted || !v.deleted {
					listed = append(listed, v)
				}
			}
			if latestOnly && len(listed) > 1 {
				listed = listed[len(listed)-1:]
			}
			for _, v := range listed {
				if res, err := st.response(name, v); err == nil {
					res.Deleted = false
					out = append(out, res)
				}
			}
		}
		return nil
	})
	return out, err
}

// lookup is POST /subjects/{subject}: the version of the subject that
// holds the given schema.
func (r *Registry) lookup(req *http.Request, body []byte) (any, error) {
	subj, err := subjectParam(req)
	if err != nil {
		return nil, err
	}
	var sr schemaRequest
	if err := decodeBody(body, &sr); err != nil {
		return nil, err
	}
	deleted := boolParam(req, "deleted")
	var out schemaResponse
	err = r.read(req.Context(), func(st *state) error {
		if st.subjects[subj] == nil || (!deleted && !st.live(subj)) {
			return errSubjectNotFound(subj)
		}
		if v := st.findText(subj, sr, deleted); v != nil {
			out, err = st.response(subj, v)
			out.Deleted = false
			return err
		}
		p, err := st.parseRequest(sr)
		if err != nil {
			return err
		}
		v := st.find(subj, p, sr.References, deleted)
		if v == nil && boolParam(req, "normalize") {
			if np, err := schema.Parse(p.Type(), p.Normalized(), mustRefs(st, sr.References)); err == nil {
				v = st.find(subj, np, sr.References, deleted)
			}
		}
		if v == nil && len(sr.References) == 0 {
			v = st.findResolved(subj, p, deleted, 0)
		}
		if v == nil {
			return errSchemaNotFound()
		}
		out, err = st.response(subj, v)
		out.Deleted = false
		return err
	})
	return out, err
}

func mustRefs(st *state, refs []schema.Reference) map[string]string {
	m, _ := st.resolveRefs(refs)
	return m
}

// checkCompatibility is POST /compatibility/subjects/{s}/versions[/{v}]:
// whether a schema could be registered, against one version or (without
// a version) all those the subject's level compares with.
func (r *Registry) checkCompatibility(req *http.Request, body []byte) (any, error) {
	subj, err := subjectParam(req)
	if err != nil {
		return nil, err
	}
	ver := 0 // every version the level selects
	if vs := req.PathValue("version"); vs != "" {
		if ver, err = versionParam(vs); err != nil {
			return nil, err
		}
	}
	var sr schemaRequest
	if err := decodeBody(body, &sr); err != nil {
		return nil, err
	}
	verbose := boolParam(req, "verbose")
	var msgs []string
	err = r.read(req.Context(), func(st *state) error {
		p, err := st.parseRequest(sr)
		if err != nil {
			return err
		}
		var existing []schema.Parsed
		if ver != 0 {
			// As Confluent: a specific version must exist (40402, even
			// when the subject does not); no latest version (no subject,
			// or every version soft-deleted) is compatible with anything.
			v := st.version(subj, ver, false)
			if v == nil && ver != -1 {
				return errVersionNotFound(ver)
			}
			if v != nil {
				old, err := st.parsed(v.id)
				if err != nil {
					return err
				}
				existing = append(existing, old)
			}
			level := st.level(subj)
			if level.Transitive() {
				level = schema.Level(strings.TrimSuffix(string(level), "_TRANSITIVE"))
			}
			msgs = schema.Check(level, p, existing)
			return nil
		}
		existing, err = st.liveParsed(subj)
		if err != nil {
			return err
		}
		msgs = schema.Check(st.level(subj), p, existing)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := map[string]any{"is_compatible": len(msgs) == 0}
	if verbose {
		if msgs == nil {
			msgs = []string{}
		}
		res["messages"] = msgs
	}
	return res, nil
}

// parsed parses a stored schema.
func (st *state) parsed(id int) (schema.Parsed, error) {
	s := st.schemas[id]
	if s == nil {
		return nil, errSchemaIDNotFound(id)
	}
	refs, err := st.resolveRefs(s.refs)
	if err != nil {
		return nil, errInvalidSchema(err)
	}
	p, err := schema.Parse(s.typ, s.text, refs)
	if err != nil {
		return nil, errInvalidSchema(err)
	}
	return p, nil
}

// liveParsed parses a subject's versions that are not soft-deleted,
// oldest first: what a new version is checked against.
func (st *state) liveParsed(subj string) ([]schema.Parsed, error) {
	sub := st.subjects[subj]
	if sub == nil {
		return nil, nil
	}
	var out []schema.Parsed
	for _, v := range sub.versions {
		if v.deleted {
			continue
		}
		p, err := st.parsed(v.id)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (r *Registry) getConfig(req *http.Request) (any, error) {
	subj := strings.TrimPrefix(req.PathValue("subject"), ":.:")
	var level schema.Level
	err := r.read(req.Context(), func(st *state) error {
		if subj == "" {
			level = st.level("")
			return nil
		}
		l, ok := st.configs[subj]
		if !ok {
			if !boolParam(req, "defaultToGlobal") {
				return notFound(codeSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subj)
			}
			l = st.level("")
		}
		level = l
		return nil
	})
	return map[string]string{"compatibilityLevel": string(level)}, err
}

func (r *Registry) getMode(req *http.Request) (any, error) {
	subj := strings.TrimPrefix(req.PathValue("subject"), ":.:")
	var mode string
	err := r.read(req.Context(), func(st *state) error {
		if subj == "" {
			mode = st.mode("")
			return nil
		}
		m, ok := st.modes[subj]
		if !ok {
			if !boolParam(req, "defaultToGlobal") {
				return notFound(codeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subj)
			}
			m = st.mode("")
		}
		mode = m
		return nil
	})
	return map[string]string{"mode": mode}, err
}
