package schema

import (
	"fmt"
	"strings"
)

// Level is a compatibility level as the REST API spells it ("compatibilityLevel").
type Level string

// The compatibility levels. BACKWARD: the new schema reads data written with the old one.
// FORWARD: the old schema reads data written with the new one. FULL: both. The plain levels
// compare with the latest version only; the _TRANSITIVE ones with every earlier version.
const (
	None               Level = "NONE"
	Backward           Level = "BACKWARD"
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD"
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL"
	FullTransitive     Level = "FULL_TRANSITIVE"
)

// DefaultLevel is the level of a registry with no configuration.
const DefaultLevel = Backward

// Levels lists every level.
func Levels() []Level {
	return []Level{None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive}
}

// ParseLevel turns a level name into a Level, ignoring case.
func ParseLevel(s string) (Level, error) {
	l := Level(strings.ToUpper(strings.TrimSpace(s)))
	for _, k := range Levels() {
		if l == k {
			return l, nil
		}
	}
	return "", fmt.Errorf("invalid compatibility level %q: want one of NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE", s)
}

// Transitive reports whether the level compares with every earlier version, not only the latest.
func (l Level) Transitive() bool { return strings.HasSuffix(string(l), "_TRANSITIVE") }

// backward reports whether the new schema must read data written with the old ones.
func (l Level) backward() bool {
	return l == Backward || l == BackwardTransitive || l == Full || l == FullTransitive
}

// forward reports whether the old schemas must read data written with the new one.
func (l Level) forward() bool {
	return l == Forward || l == ForwardTransitive || l == Full || l == FullTransitive
}
