package schema

import "fmt"

// Incompatibility is the verdict against one earlier version: Index is its position in the
// existing slice given to Incompatibilities (oldest first), Messages says what broke.
type Incompatibility struct {
	Index    int
	Messages []string
}

// checker is implemented by every format's Parsed: readerOf returns what keeps the receiver,
// as reader, from reading data written with writer (empty when it can).
type checker interface {
	readerOf(writer Parsed) []string
}

// Incompatibilities checks candidate against the existing versions (oldest first) that level
// selects: the latest only, or all of them for the _TRANSITIVE levels; NONE checks nothing.
// It returns one entry for each version candidate is incompatible with, oldest first.
func Incompatibilities(level Level, candidate Parsed, existing []Parsed) []Incompatibility {
	if level == "" {
		level = DefaultLevel
	}
	if level == None || len(existing) == 0 {
		return nil
	}
	first := len(existing) - 1
	if level.Transitive() {
		first = 0
	}
	var out []Incompatibility
	for i := first; i < len(existing); i++ {
		if msgs := pairCheck(level, candidate, existing[i]); len(msgs) > 0 {
			out = append(out, Incompatibility{Index: i, Messages: msgs})
		}
	}
	return out
}

// pairCheck checks the new schema against one old one in the directions the level asks for.
func pairCheck(level Level, newer, older Parsed) []string {
	if newer.Type() != older.Type() {
		return []string{"Incompatible because of different schema type"}
	}
	var msgs []string
	if level.backward() {
		msgs = append(msgs, newer.(checker).readerOf(older)...)
	}
	if level.forward() {
		msgs = append(msgs, older.(checker).readerOf(newer)...)
	}
	return msgs
}

// Check returns the incompatibility messages of candidate against the existing versions (oldest
// first) under level; empty means compatible. Each incompatible version contributes its
// messages followed by the old schema and the level, as Confluent's verbose answer does.
func Check(level Level, candidate Parsed, existing []Parsed) []string {
	if level == "" {
		level = DefaultLevel
	}
	var out []string
	for _, inc := range Incompatibilities(level, candidate, existing) {
		out = append(out, inc.Messages...)
		out = append(out,
			fmt.Sprintf("{oldSchema: '%s'}", existing[inc.Index].String()),
			fmt.Sprintf("{compatibility: '%s'}", level))
	}
	return out
}
