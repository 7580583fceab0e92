package schemaregistry

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"

	"github.com/sluice-io/sluice/internal/schema"
)

// register is POST /subjects/{subject}/versions: the schema's ID, the one
// it already has under the subject, or a new version (with the ID the
// same schema has elsewhere, or the next one never given).
func (r *Registry) register(req *http.Request, body []byte) (any, int64, error) {
	subj, err := subjectParam(req)
	if err != nil {
		return nil, -1, err
	}
	var sr schemaRequest
	if err := decodeBody(body, &sr); err != nil {
		return nil, -1, err
	}
	if sr.ID < 0 || sr.Version < -1 {
		return nil, -1, unprocessable(codeInvalidSchema, "Invalid schema: id and version must not be negative")
	}
	normalize := boolParam(req, "normalize")
	res, off, err := r.write(req.Context(), func(st *state) ([]Record, any, error) {
		// Confluent's checkRegisterMode: a schema that names its ID or
		// version is an import, any other a client's registration, which
		// IMPORT mode refuses too (it would skip the compatibility check).
		mode := st.mode(subj)
		switch {
		case mode == modeReadOnly:
			return nil, nil, errNotPermitted("Subject %s is in read-only mode", subj)
		case (sr.ID > 0 || sr.Version > 0) && mode != modeImport:
			return nil, nil, errNotPermitted("Subject %s is not in import mode", subj)
		case sr.ID <= 0 && sr.Version <= 0 && mode != modeReadWrite:
			return nil, nil, errNotPermitted("Subject %s is not in read-write mode", subj)
		}
		if v := st.findText(subj, sr, false); v != nil && !normalize && (sr.ID == 0 || sr.ID == v.id) {
			return nil, map[string]int{"id": v.id}, nil
		}
		p, err := st.parseRequest(sr)
		if err != nil {
			return nil, nil, err
		}
		if normalize {
			if p, err = schema.Parse(p.Type(), p.Normalized(), mustRefs(st, sr.References)); err != nil {
				return nil, nil, errInvalidSchema(err)
			}
		}
		if v := st.find(subj, p, sr.References, false); v != nil && (sr.ID == 0 || sr.ID == v.id) {
			return nil, map[string]int{"id": v.id}, nil
		}
		// The same schema sent with its references inline gets the ID of
		// the version that has them, rather than a second version (as in
		// Confluent's registry), unless the request names the version it
		// is imported as.
		if len(sr.References) == 0 && sr.Version <= 0 {
			if v := st.findResolved(subj, p, false, sr.ID); v != nil {
				return nil, map[string]int{"id": v.id}, nil
			}
		}
		ident := identity(p.Type(), p.Canonical(), sr.References)
		id, known := st.byIdentity[ident]
		if sr.ID > 0 {
			if s := st.schemas[sr.ID]; s != nil && s.identity != ident {
				return nil, nil, errNotPermitted("Overwrite new schema with id %d is not permitted.", sr.ID)
			}
			id = sr.ID
		} else if !known {
			if st.maxID == math.MaxInt32 {
				return nil, nil, errStore("no schema ID is left")
			}
			id = st.maxID + 1
		}
		next := 1
		if sub := st.subjects[subj]; sub != nil && len(sub.versions) > 0 {
			next = sub.versions[len(sub.versions)-1].version + 1
		}
		if mode == modeImport && sr.Version > 0 {
			if v := st.version(subj, sr.Version, true); v != nil {
				return nil, nil, errNotPermitted("Version %d of subject %s already exists with id %d", sr.Version, subj, v.id)
			}
			next = sr.Version
		}
		if mode != modeImport {
			existing, err := st.liveParsed(subj)
			if err != nil {
				return nil, nil, err
			}
			if msgs := schema.Check(st.level(subj), p, existing); len(msgs) > 0 {
				return nil, nil, &apiError{http.StatusConflict, codeIncompatible,
					fmt.Sprintf("Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s]", subj, strings.Join(msgs, ", "))}
			}
		}
		v := schemaValue{Subject: subj, Version: next, ID: id, SchemaType: typeName(p.Type()), References: sr.References, Schema: p.String()}
		return []Record{schemaRecord(v)}, map[string]int{"id": id}, nil
	})
	return res, off, err
}

// referencedVersions returns an error when another schema refers to one of
// the given versions of a subject.
func (st *state) checkNotReferenced(subj string, versions []*version) error {
	for _, v := range versions {
		if ids := st.referencedBy(subj, v.version); len(ids) > 0 {
			return unprocessable(codeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}: referenced by schema IDs %v", subj, v.version, ids)
		}
	}
	return nil
}

// deleteSubject is DELETE /subjects/{subject}: a soft delete marks every
// version deleted; permanent=true then removes them (tombstones), keeping
// the highest ID given so that it is never given again.
func (r *Registry) deleteSubject(req *http.Request, _ []byte) (any, int64, error) {
	subj, err := subjectParam(req)
	if err != nil {
		return nil, -1, err
	}
	permanent := boolParam(req, "permanent")
	return r.writeOnce(req, func(st *state) ([]Record, any, error) {
		sub := st.subjects[subj]
		if sub == nil {
			return nil, nil, errSubjectNotFound(subj)
		}
		if st.mode(subj) == modeReadOnly {
			return nil, nil, errNotPermitted("Subject %s is in read-only mode", subj)
		}
		var recs []Record
		deleted := []int{}
		if !permanent {
			if !st.live(subj) {
				return nil, nil, notFound(codeSubjectSoftDeleted, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subj)
			}
			if err := st.checkNotReferenced(subj, sub.versions); err != nil {
				return nil, nil, err
			}
			for _, v := range sub.versions {
				if v.deleted {
					continue
				}
				recs = append(recs, softDeleted(st, subj, v))
				deleted = append(deleted, v.version)
			}
			return append(recs, subjectSettingsGone(st, subj)...), deleted, nil
		}
		if st.live(subj) {
			return nil, nil, notFound(codeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subj)
		}
		if err := st.checkNotReferenced(subj, sub.versions); err != nil {
			return nil, nil, err
		}
		recs = append(recs, idFloor(st))
		for _, v := range sub.versions {
			recs = append(recs, Record{Key: schemaKey(subj, v.version)})
			deleted = append(deleted, v.version)
		}
		return append(recs, subjectSettingsGone(st, subj)...), deleted, nil
	})
}

// subjectSettingsGone removes a subject's own compatibility level and
// mode, as Confluent does once a delete leaves it no live version: a
// subject created again under that name starts from the global ones.
func subjectSettingsGone(st *state, subj string) []Record {
	var recs []Record
	if _, ok := st.configs[subj]; ok {
		recs = append(recs, Record{Key: subjectKey(keyConfig, subj)})
	}
	if _, ok := st.modes[subj]; ok {
		recs = append(recs, Record{Key: subjectKey(keyMode, subj)})
	}
	return recs
}

// idFloor is a NOOP record holding the highest ID given, written before
// schemas are removed so that their IDs stay used.
func idFloor(st *state) Record {
	return Record{Key: noopKey(), Value: mustJSON(floorValue(st))}
}

// floorValue is a NOOP value carrying what the latest NOOP must keep once
// compaction removed the others: the highest ID given and the writer.
func floorValue(st *state) noopValue {
	v := noopValue{MaxID: st.maxID}
	if st.writerNode >= 0 {
		n := st.writerNode
		v.WriterNode, v.WriterURL, v.WriterEpoch = &n, st.writerURL, st.writerEpoch
	}
	return v
}

// deleteVersion is DELETE /subjects/{subject}/versions/{version}.
func (r *Registry) deleteVersion(req *http.Request, _ []byte) (any, int64, error) {
	subj, err := subjectParam(req)
	if err != nil {
		return nil, -1, err
	}
	ver, err := versionParam(req.PathValue("version"))
	if err != nil {
		return nil, -1, err
	}
	permanent := boolParam(req, "permanent")
	return r.writeOnce(req, func(st *state) ([]Record, any, error) {
		if st.subjects[subj] == nil {
			return nil, nil, errSubjectNotFound(subj)
		}
		if st.mode(subj) == modeReadOnly {
			return nil, nil, errNotPermitted("Subject %s is in read-only mode", subj)
		}
		v := st.version(subj, ver, permanent)
		if v == nil {
			if !permanent && st.version(subj, ver, true) != nil && ver != -1 {
				return nil, nil, notFound(codeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", subj, ver)
			}
			return nil, nil, errVersionNotFound(ver)
		}
		if err := st.checkNotReferenced(subj, []*version{v}); err != nil {
			return nil, nil, err
		}
		if permanent {
			if !v.deleted {
				return nil, nil, notFound(codeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subj, v.version)
			}
			return []Record{idFloor(st), {Key: schemaKey(subj, v.version)}}, v.version, nil
		}
		recs := []Record{softDeleted(st, subj, v)}
		if !st.liveBesides(subj, v) {
			recs = append(recs, subjectSettingsGone(st, subj)...)
		}
		return recs, v.version, nil
	})
}

// softDeleted is the record that marks version v of subj deleted.
func softDeleted(st *state, subj string, v *version) Record {
	val, _ := st.response(subj, v)
	return schemaRecord(schemaValue{Subject: subj, Version: v.version, ID: v.id,
		SchemaType: val.SchemaType, References: val.References, Schema: val.Schema, Deleted: true})
}

// liveBesides reports whether subj has a live version other than v.
func (st *state) liveBesides(subj string, v *version) bool {
	for _, o := range st.subjects[subj].versions {
		if o != v && !o.deleted {
			return true
		}
	}
	return false
}

func (r *Registry) putConfig(req *http.Request, body []byte) (any, int64, error) {
	subj := strings.TrimPrefix(req.PathValue("subject"), ":.:")
	var in struct {
		Compatibility string `json:"compatibility"`
	}
	if err := decodeBody(body, &in); err != nil {
		return nil, -1, err
	}
	level, err := schema.ParseLevel(in.Compatibility)
	if err != nil {
		return nil, -1, unprocessable(codeInvalidCompatibility, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
	}
	return r.write(req.Context(), func(st *state) ([]Record, any, error) {
		res := map[string]string{"compatibility": string(level)}
		if cur, ok := st.configs[subj]; ok && cur == level {
			return nil, res, nil
		}
		return []Record{{Key: subjectKey(keyConfig, subj), Value: mustJSON(configValue{CompatibilityLevel: string(level)})}}, res, nil
	})
}

func (r *Registry) deleteConfig(req *http.Request, _ []byte) (any, int64, error) {
	subj := strings.TrimPrefix(req.PathValue("subject"), ":.:")
	return r.write(req.Context(), func(st *state) ([]Record, any, error) {
		cur, ok := st.configs[subj]
		if !ok {
			if subj != "" {
				return nil, nil, notFound(codeSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subj)
			}
			return nil, map[string]string{"compatibilityLevel": string(schema.DefaultLevel)}, nil
		}
		return []Record{{Key: subjectKey(keyConfig, subj)}}, map[string]string{"compatibilityLevel": string(cur)}, nil
	})
}

func (r *Registry) putMode(req *http.Request, body []byte) (any, int64, error) {
	subj := strings.TrimPrefix(req.PathValue("subject"), ":.:")
	var in struct {
		Mode string `json:"mode"`
	}
	if err := decodeBody(body, &in); err != nil {
		return nil, -1, err
	}
	mode, ok := parseMode(in.Mode)
	if !ok {
		return nil, -1, unprocessable(codeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY, IMPORT")
	}
	force := boolParam(req, "force")
	return r.write(req.Context(), func(st *state) ([]Record, any, error) {
		res := map[string]string{"mode": mode}
		var recs []Record
		if mode == modeImport && !force && st.mode(subj) != modeImport {
			// As Confluent: only subjects with a live version stand in the
			// way; the soft-deleted versions of the others are cleared
			// (CLEAR_SUBJECT), so that imported versions can take their
			// numbers.
			var cleared []string
			for name := range st.subjects {
				if subj != "" && name != subj {
					continue
				}
				if st.live(name) {
					return nil, nil, errNotPermitted("Cannot import since found existing subjects")
				}
				cleared = append(cleared, name)
			}
			sort.Strings(cleared)
			for _, name := range cleared {
				recs = append(recs, Record{Key: subjectKey(keyClearSubject, name), Value: mustJSON(map[string]string{"subject": name})})
			}
		}
		if cur, ok := st.modes[subj]; !ok || cur != mode {
			recs = append(recs, Record{Key: subjectKey(keyMode, subj), Value: mustJSON(modeValue{Mode: mode})})
		}
		return recs, res, nil
	})
}

func (r *Registry) deleteMode(req *http.Request, _ []byte) (any, int64, error) {
	subj := strings.TrimPrefix(req.PathValue("subject"), ":.:")
	return r.write(req.Context(), func(st *state) ([]Record, any, error) {
		cur, ok := st.modes[subj]
		if !ok {
			return nil, nil, notFound(codeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subj)
		}
		return []Record{{Key: subjectKey(keyMode, subj)}}, map[string]string{"mode": cur}, nil
	})
}
