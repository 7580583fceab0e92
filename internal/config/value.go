package config

// Parsing, canonical forms and validators for config values, following
// Kafka's ConfigDef: values are trimmed, booleans are case-insensitive, lists
// are comma-separated with the space around each comma ignored.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Long.MAX_VALUE and Integer.MAX_VALUE, the "no limit" defaults Kafka uses.
const (
	maxLong = "9223372036854775807"
	maxInt  = "2147483647"
)

// parsed is a value after parsing: its canonical string and, by type, the
// number, flag or list it holds.
type parsed struct {
	s    string
	i    int64
	f    float64
	b    bool
	list []string
}

// invalid is the error for a value of a kind ("topic", "broker") of config
// that is refused.
func invalid(kind, name, value, reason string) error {
	return fmt.Errorf("%w value %q for %s config %s: %s", ErrInvalid, value, kind, name, reason)
}

// unknown is the error for a name that is not in a table.
func unknown(kind, name string) error {
	return fmt.Errorf("%w %q (no such %s config)", ErrUnknown, name, kind)
}

// check is parse with the refusal as a bare reason ("must be at least 1").
func check(d *Def, value string) (p parsed, reason string) {
	p, reason = parseType(d.Type, value)
	if reason != "" {
		return parsed{}, reason
	}
	if d.Validate != nil {
		if err := d.Validate(p.s); err != nil {
			return parsed{}, err.Error()
		}
	}
	return p, ""
}

// parseType parses v as t; a non-empty reason says why it does not parse.
func parseType(t Type, v string) (p parsed, reason string) {
	v = strings.TrimSpace(v)
	switch t {
	case TypeBoolean:
		switch {
		case strings.EqualFold(v, "true"):
			return parsed{s: "true", b: true}, ""
		case strings.EqualFold(v, "false"):
			return parsed{s: "false"}, ""
		}
		return p, "must be true or false"
	case TypeShort, TypeInt, TypeLong:
		bits := 64
		if t == TypeShort {
			bits = 16
		} else if t == TypeInt {
			bits = 32
		}
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil {
			return p, fmt.Sprintf("must be a %d-bit integer", bits)
		}
		return parsed{s: strconv.FormatInt(n, 10), i: n, f: float64(n)}, ""
	case TypeDouble:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return p, "must be a finite number"
		}
		return parsed{s: formatDouble(f), f: f}, ""
	case TypeList:
		list := splitList(v)
		if slices.Contains(list, "") {
			return p, "list has an empty element"
		}
		return parsed{s: strings.Join(list, ","), list: list}, ""
	default: // string, class, password
		return parsed{s: v}, ""
	}
}

// splitList splits a comma-separated list; "" is the empty list.
func splitList(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return []string{}
	}
	list := strings.Split(v, ",")
	for i := range list {
		list[i] = strings.TrimSpace(list[i])
	}
	return list
}

// formatDouble prints f as Java's Double.toString does, so that doubles read
// as a Kafka client expects: plain between 10^-3 and 10^7, otherwise
// scientific ("1.7976931348623157E308"), always with a fractional digit.
func formatDouble(f float64) string {
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'E', -1, 64), "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// Validators. Each receives a value in canonical form for its Def's type.

// atLeast accepts integers >= lo.
func atLeast(lo int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo {
			return fmt.Errorf("must be at least %d", lo)
		}
		return nil
	}
}

// between accepts integers in [lo, hi].
func between(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be between %d and %d", lo, hi)
		}
		return nil
	}
}

// ratio accepts doubles in [0, 1].
func ratio(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return fmt.Errorf("must be between 0 and 1")
	}
	return nil
}

// gzipLevel accepts Kafka's gzip levels: -1 (the codec's default) or 1..9.
func gzipLevel(v string) error {
	if v == "-1" || between(1, 9)(v) == nil {
		return nil
	}
	return fmt.Errorf("must be -1 or between 1 and 9")
}

// oneOf accepts exactly one of the given strings (case-sensitive, as Kafka's
// ValidString).
func oneOf(allowed ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
		}
		return nil
	}
}

// listOf accepts lists whose every element is one of the given strings.
func listOf(allowed ...string) func(string) error {
	return func(v string) error {
		for _, e := range splitList(v) {
			if !slices.Contains(allowed, e) {
				return fmt.Errorf("%q is not one of %s", e, strings.Join(allowed, ", "))
			}
		}
		return nil
	}
}

// throttledReplicas accepts "*" alone, or a list of partition:broker pairs.
func throttledReplicas(v string) error {
	list := splitList(v)
	if len(list) == 1 && list[0] == "*" {
		return nil
	}
	for _, e := range list {
		p, b, ok := strings.Cut(e, ":")
		if !ok || !digits(p) || !digits(b) {
			return fmt.Errorf("must be * or a list of partition:broker pairs")
		}
	}
	return nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
