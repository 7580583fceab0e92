package schemaregistry

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/sluice-io/sluice/internal/schema"
)

// state is the registry rebuilt from _schemas: every node applies the
// topic's records in order, so every node holds the same state at the same
// offset. Only the reader goroutine changes it (apply), under
// Registry.mu; handlers read it under the read lock.
type state struct {
	schemas map[int]*storedSchema
	// byIdentity finds the ID of a schema already stored: the same schema
	// registered under another subject gets the same ID. When two IDs
	// hold one schema (an import can do that), it is the lower one, so
	// the order records are applied in does not matter.
	byIdentity map[string]int
	// unresolved holds the IDs whose references were not all applied when
	// the schema was stored (compaction moves a rewritten record, such as
	// a soft delete, behind the ones it refers to): their identity is
	// computed again once the references are there.
	unresolved map[int]bool
	subjects   map[string]*subject
	// configs and modes are per subject; "" is the global setting.
	configs map[string]schema.Level
	modes   map[string]string
	// maxID is the highest ID ever given (from schemas and NOOP records).
	maxID int
	// writer is the node that last announced itself writer, with the URL
	// other nodes forward writes to, and the leader epoch it announced at.
	writerNode  int32
	writerURL   string
	writerEpoch int32
	// answers holds the answers of the latest writes made for a request
	// ID (NOOP records), oldest first in answered, at most
	// maxRememberedAnswers: a forwarded write sent again gets its first
	// answer instead of being applied twice.
	answers  map[string]json.RawMessage
	answered []string
}

// maxRememberedAnswers bounds state.answers. A forwarding node sends a
// write again within its request timeout, while a few writes at most
// come in between.
const maxRememberedAnswers = 1000

// storedSchema is one schema ID: its text and how to compare it.
type storedSchema struct {
	id   int
	typ  schema.Type
	text string
	refs []schema.Reference
	// identity is type, canonical form and references: equal identities
	// are the same schema. Until the references resolve it is built from
	// the text as stored.
	identity string
	// uses counts the subject versions holding this ID; at 0 the ID is
	// gone (its versions were permanently deleted).
	uses int
}

// subject is one subject's versions, in version order.
type subject struct {
	versions []*version
}

type version struct {
	version int
	id      int
	deleted bool
}

func newState() *state {
	return &state{
		schemas:    map[int]*storedSchema{},
		byIdentity: map[string]int{},
		unresolved: map[int]bool{},
		subjects:   map[string]*subject{},
		configs:    map[string]schema.Level{},
		modes:      map[string]string{},
		writerNode: -1,
		answers:    map[string]json.RawMessage{},
	}
}

// apply changes the state by one decoded record.
func (s *state) apply(d decodedRecord) {
	switch {
	case d.schema != nil:
		subj, ver := *d.key.Subject, *d.key.Version
		if d.tombstone {
			s.removeVersion(subj, ver)
			return
		}
		s.putVersion(subj, ver, *d.schema)
	case d.config != nil:
		subj := deref(d.key.Subject)
		level, err := schema.ParseLevel(d.config.CompatibilityLevel)
		if d.tombstone || err != nil {
			delete(s.configs, subj)
			return
		}
		s.configs[subj] = level
	case d.mode != nil:
		subj := deref(d.key.Subject)
		mode, ok := parseMode(d.mode.Mode)
		if d.tombstone || !ok {
			delete(s.modes, subj)
			return
		}
		s.modes[subj] = mode
	case d.del != nil:
		sub := s.subjects[*d.key.Subject]
		if d.tombstone || sub == nil {
			return
		}
		for _, v := range sub.versions {
			if d.key.KeyType == keyDeleteSubject && v.version <= d.del.Version {
				v.deleted = true
			}
		}
		if d.key.KeyType == keyClearSubject {
			for _, v := range slices.Clone(sub.versions) {
				if v.deleted {
					s.removeVersion(*d.key.Subject, v.version)
				}
			}
		}
	case d.noop != nil:
		n := d.noop
		s.maxID = max(s.maxID, n.MaxID)
		if n.WriterNode != nil {
			s.writerNode, s.writerURL, s.writerEpoch = *n.WriterNode, n.WriterURL, n.WriterEpoch
		}
		if n.RequestID != "" && n.Result != nil {
			s.remember(n.RequestID, n.Result)
		}
	}
}

// remember records the answer of a write made for a request ID,
// forgetting the oldest beyond maxRememberedAnswers.
func (s *state) remember(id string, answer json.RawMessage) {
	if _, ok := s.answers[id]; !ok {
		s.answered = append(s.answered, id)
	}
	s.answers[id] = answer
	if len(s.answered) > maxRememberedAnswers {
		delete(s.answers, s.answered[0])
		s.answered = slices.Delete(s.answered, 0, 1)
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// putVersion stores one version of a subject, or updates it (a soft
// delete rewrites the version with deleted set).
func (s *state) putVersion(subj string, ver int, v schemaValue) {
	sub := s.subjects[subj]
	if sub == nil {
		sub = &subject{}
		s.subjects[subj] = sub
	}
	i := sort.Search(len(sub.versions), func(i int) bool { return sub.versions[i].version >= ver })
	if i < len(sub.versions) && sub.versions[i].version == ver {
		old := sub.versions[i]
		if old.id != v.ID {
			s.release(old.id)
			s.hold(v)
		}
		old.id, old.deleted = v.ID, v.Deleted
		return
	}
	sub.versions = slices.Insert(sub.versions, i, &version{version: ver, id: v.ID, deleted: v.Deleted})
	s.hold(v)
}

// hold counts one more use of a schema ID, storing the schema on its first.
func (s *state) hold(v schemaValue) {
	s.maxID = max(s.maxID, v.ID)
	if st := s.schemas[v.ID]; st != nil {
		st.uses++
		return
	}
	typ, _ := schema.ParseType(v.SchemaType)
	st := &storedSchema{id: v.ID, typ: typ, text: v.Schema, refs: v.References, uses: 1}
	s.schemas[v.ID] = st
	s.setIdentity(st)
}

// setIdentity computes a stored schema's identity and indexes it. A
// schema that does not parse (stored by another registry, or a reference
// since removed) is still served by ID; it is compared by its text. One
// whose references are not all applied yet is kept in unresolved.
func (s *state) setIdentity(st *storedSchema) {
	canonical := st.text
	refs, err := s.resolveRefs(st.refs)
	if err == nil {
		delete(s.unresolved, st.id)
		if p, err := schema.Parse(st.typ, st.text, refs); err == nil {
			canonical = p.Canonical()
		}
	} else {
		s.unresolved[st.id] = true
	}
	s.unindex(st)
	st.identity = identity(st.typ, canonical, st.refs)
	if cur, ok := s.byIdentity[st.identity]; !ok || st.id < cur {
		s.byIdentity[st.identity] = st.id
	}
}

// unindex removes a schema's identity from byIdentity, handing it to the
// lowest other ID with the same identity, if any.
func (s *state) unindex(st *storedSchema) {
	if st.identity == "" || s.byIdentity[st.identity] != st.id {
		return
	}
	delete(s.byIdentity, st.identity)
	for id, o := range s.schemas {
		if id != st.id && o.identity == st.identity {
			if cur, ok := s.byIdentity[o.identity]; !ok || id < cur {
				s.byIdentity[o.identity] = id
			}
		}
	}
}

// resolvePending computes again the identity of the schemas whose
// references were missing, until no more resolve. Called after each
// batch of records, it makes identities (and so the IDs registrations
// reuse) independent of the order compaction leaves records in.
func (s *state) resolvePending() {
	for progress := true; progress && len(s.unresolved) > 0; {
		progress = false
		ids := make([]int, 0, len(s.unresolved))
		for id := range s.unresolved {
			ids = append(ids, id)
		}
		sort.Ints(ids)
		for _, id := range ids {
			st := s.schemas[id]
			if st == nil {
				delete(s.unresolved, id)
				continue
			}
			if _, err := s.resolveRefs(st.refs); err == nil {
				s.setIdentity(st)
				progress = true
			}
		}
	}
}

func (s *state) release(id int) {
	st := s.schemas[id]
	if st == nil {
		return
	}
	if st.uses--; st.uses > 0 {
		return
	}
	delete(s.schemas, id)
	delete(s.unresolved, id)
	s.unindex(st)
}

func (s *state) removeVersion(subj string, ver int) {
	sub := s.subjects[subj]
	if sub == nil {
		return
	}
	i := sort.Search(len(sub.versions), func(i int) bool { return sub.versions[i].version >= ver })
	if i == len(sub.versions) || sub.versions[i].version != ver {
		return
	}
	s.release(sub.versions[i].id)
	sub.versions = slices.Delete(sub.versions, i, i+1)
	if len(sub.versions) == 0 {
		delete(s.subjects, subj)
	}
}

// identity is what makes two schemas the same one.
func identity(typ schema.Type, canonical string, refs []schema.Reference) string {
	var b strings.Builder
	b.WriteString(string(typ))
	b.WriteByte(0)
	b.WriteString(canonical)
	if len(refs) > 0 {
		b.WriteByte(0)
		b.Write(mustJSON(refs))
	}
	return b.String()
}

// errMissingReference is a reference to a subject version that does not
// exist.
type errMissingReference struct{ ref schema.Reference }

func (e errMissingReference) Error() string {
	return "reference " + string(mustJSON(e.ref)) + " names a subject version that does not exist"
}

// resolveRefs returns the text of every schema refs names, and of the
// schemas those refer to, by reference name, as schema.Parse wants them.
func (s *state) resolveRefs(refs []schema.Reference) (map[string]string, error) {
	out := map[string]string{}
	var walk func(refs []schema.Reference, depth int) error
	walk = func(refs []schema.Reference, depth int) error {
		if depth > maxReferenceDepth {
			return errTooDeep
		}
		for _, ref := range refs {
			if _, done := out[ref.Name]; done {
				continue
			}
			v := s.version(ref.Subject, ref.Version, true)
			if v == nil {
				return errMissingReference{ref}
			}
			st := s.schemas[v.id]
			if st == nil {
				return errMissingReference{ref}
			}
			out[ref.Name] = st.text
			if err := walk(st.refs, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(refs, 0); err != nil {
		return nil, err
	}
	return out, nil
}

const maxReferenceDepth = 32

var errTooDeep = jsonError("references nest deeper than 32 levels")

type jsonError string

func (e jsonError) Error() string { return string(e) }

// version finds a version of a subject: ver -1 is the latest one not
// soft-deleted, whatever deleted says (Confluent's "latest" never names a
// soft-deleted version). Other soft-deleted versions count only when
// deleted is set.
func (s *state) version(subj string, ver int, deleted bool) *version {
	sub := s.subjects[subj]
	if sub == nil {
		return nil
	}
	if ver == -1 {
		for i := len(sub.versions) - 1; i >= 0; i-- {
			if v := sub.versions[i]; !v.deleted {
				return v
			}
		}
		return nil
	}
	i := sort.Search(len(sub.versions), func(i int) bool { return sub.versions[i].version >= ver })
	if i == len(sub.versions) || sub.versions[i].version != ver {
		return nil
	}
	if v := sub.versions[i]; deleted || !v.deleted {
		return v
	}
	return nil
}

// live reports whether a subject has a version not soft-deleted.
func (s *state) live(subj string) bool {
	return s.version(subj, -1, false) != nil
}

// subjectsOf lists the subjects and versions that hold an ID.
func (s *state) usesOf(id int, deleted bool) []subjectVersion {
	var out []subjectVersion
	for name, sub := range s.subjects {
		for _, v := range sub.versions {
			if v.id == id && (deleted || !v.deleted) {
				out = append(out, subjectVersion{Subject: name, Version: v.version})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// referencedBy lists the IDs of schemas that refer to a subject version,
// in versions not soft-deleted.
func (s *state) referencedBy(subj string, ver int) []int {
	ids := map[int]bool{}
	for _, sub := range s.subjects {
		for _, v := range sub.versions {
			if v.deleted {
				continue
			}
			if st := s.schemas[v.id]; st != nil {
				for _, r := range st.refs {
					if r.Subject == subj && r.Version == ver {
						ids[v.id] = true
					}
				}
			}
		}
	}
	out := make([]int, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	sort.Ints(out)
	return out
}

// level is a subject's compatibility level: its own, else the global one,
// else BACKWARD.
func (s *state) level(subj string) schema.Level {
	if l, ok := s.configs[subj]; ok {
		return l
	}
	if l, ok := s.configs[""]; ok {
		return l
	}
	return schema.DefaultLevel
}

// mode is a subject's mode: its own, else the global one, else READWRITE.
func (s *state) mode(subj string) string {
	if m, ok := s.modes[subj]; ok {
		return m
	}
	if m, ok := s.modes[""]; ok {
		return m
	}
	return modeReadWrite
}

// The modes.
const (
	modeReadWrite = "READWRITE"
	modeReadOnly  = "READONLY"
	modeImport    = "IMPORT"
)

func parseMode(s string) (string, bool) {
	m := strings.ToUpper(strings.TrimSpace(s))
	switch m {
	case modeReadWrite, modeReadOnly, modeImport:
		return m, true
	case "READONLY_OVERRIDE":
		return modeReadOnly, true
	}
	return "", false
}

type subjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}
