package schema

import "fmt"

// Incompatibility is the verdict against one earlier version: Index is its position in the
// existing slice given to Incompatibilities (oldest first), Messages says what broke.
type Incompatibility struct {
	Index    int
	Messages []string
}

// checker is implemented by every format's Parsed: readerOf returns what keeps the receiver,
// as reader, from reading data written with writer (empty when it can), naming the two schemas
// by the given words ("new", "old").
type checker interface {
	readerOf(writer Parsed, readerWord, writerWord string) []string
}

// Incompatibilities checks candidate against the existing versions (oldest first) that level
// selects: the latest only, or every one for the _TRANSITIVE levels; NONE checks nothing. It
// returns an entry for each version candidate is incompatible with, newest first, which is the
// order Confluent's registry checks in.
func Incompatibilities(level Level, candidate Parsed, existing []Parsed) []Incompatibility {
	if level == "" {
		level = DefaultLevel
	}
	if level == None || len(existing) == 0 {
		return nil
	}
	last := len(existing) - 1
	first := last
	if level.Transitive() {
		first = 0
	}
	var out []Incompatibility
	for i := last; i >= first; i-- {
		if msgs := pairCheck(level, candidate, existing[i]); len(msgs) > 0 {
			out = append(out, Incompatibility{Index: i, Messages: msgs})
		}
	}
	return out
}

// pairCheck checks the new schema against one old one in the directions the level asks for:
// first whether the old schema reads the new one's data (forward), then the reverse (backward).
func pairCheck(level Level, newer, older Parsed) []string {
	if newer.Type() != older.Type() {
		return []string{"Incompatible because of different schema type"}
	}
	nc, nok := newer.(checker)
	oc, ook := older.(checker)
	if !nok || !ook {
		return []string{"Incompatible because a schema was not parsed by schema.Parse"}
	}
	var msgs []string
	if level.forward() {
		msgs = append(msgs, oc.readerOf(newer, "old", "new")...)
	}
	if level.backward() {
		msgs = append(msgs, nc.readerOf(older, "new", "old")...)
	}
	return msgs
}

// Check returns the incompatibility messages of candidate against the existing versions (oldest
// first) under level; empty means compatible. As in Confluent's registry, the versions are
// checked newest first and the answer describes the first incompatible one: its messages, then
// the old schema and the level.
func Check(level Level, candidate Parsed, existing []Parsed) []string {
	return CheckVersions(level, candidate, existing, nil)
}

// CheckVersions is Check given the version number of each existing schema (versions[i] is
// existing[i]'s); the answer then names the incompatible version as Confluent's does, with
// {oldSchemaVersion: N} before the old schema. A nil or short versions leaves it out.
func CheckVersions(level Level, candidate Parsed, existing []Parsed, versions []int) []string {
	if level == "" {
		level = DefaultLevel
	}
	incs := Incompatibilities(level, candidate, existing)
	if len(incs) == 0 {
		return nil
	}
	inc := incs[0]
	out := inc.Messages
	if inc.Index < len(versions) {
		out = append(out, fmt.Sprintf("{oldSchemaVersion: %d}", versions[inc.Index]))
	}
	return append(out,
		fmt.Sprintf("{oldSchema: '%s'}", existing[inc.Index].String()),
		fmt.Sprintf("{compatibility: '%s'}", level))
}
