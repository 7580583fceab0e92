package auth

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// PrincipalMapper turns a client certificate's subject into a principal
// name with Kafka's ssl.principal.mapping.rules: a comma-separated list of
// DEFAULT and RULE:pattern/replacement/[LU] entries, tried in order. A RULE
// applies when its pattern matches the whole distinguished name (RFC 2253,
// "CN=alice,OU=eng,O=Acme"); its replacement may use $1, $2, ... and the
// optional L or U lower- or upper-cases the result. DEFAULT keeps the whole
// distinguished name. A subject no rule applies to fails authentication.
type PrincipalMapper struct {
	rules []principalRule
	spec  string
}

type principalRule struct {
	isDefault   bool
	pattern     *regexp.Regexp
	replacement string
	toLower     bool
	toUpper     bool
}

// ParsePrincipalRules parses ssl.principal.mapping.rules; "" is DEFAULT.
func ParsePrincipalRules(spec string) (*PrincipalMapper, error) {
	m := &PrincipalMapper{spec: spec}
	s := strings.TrimSpace(spec)
	if s == "" {
		s = "DEFAULT"
	}
	for {
		s = strings.TrimLeft(s, " \t\n,")
		if s == "" {
			break
		}
		switch {
		case strings.HasPrefix(s, "DEFAULT"):
			m.rules = append(m.rules, principalRule{isDefault: true})
			s = s[len("DEFAULT"):]
		case strings.HasPrefix(s, "RULE:"):
			s = s[len("RULE:"):]
			pattern, rest, ok := cutUnescaped(s, '/')
			if !ok {
				return nil, fmt.Errorf("ssl.principal.mapping.rules %q: RULE without a '/' after its pattern", spec)
			}
			replacement, rest, ok := cutUnescaped(rest, '/')
			if !ok {
				return nil, fmt.Errorf("ssl.principal.mapping.rules %q: RULE without a '/' after its replacement", spec)
			}
			re, err := regexp.Compile("^(?:" + pattern + ")$")
			if err != nil {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: pattern %q: %w", pattern, err)
			}
			r := principalRule{pattern: re, replacement: javaReplacement(replacement)}
			if rest != "" && (rest[0] == 'L' || rest[0] == 'U') {
				r.toLower, r.toUpper = rest[0] == 'L', rest[0] == 'U'
				rest = rest[1:]
			}
			m.rules = append(m.rules, r)
			s = rest
		default:
			return nil, fmt.Errorf("ssl.principal.mapping.rules %q: want DEFAULT or RULE:pattern/replacement/[LU] at %q", spec, s)
		}
		s = strings.TrimLeft(s, " \t\n")
		if s != "" && s[0] != ',' {
			return nil, fmt.Errorf("ssl.principal.mapping.rules %q: unexpected %q after a rule", spec, s)
		}
	}
	if len(m.rules) == 0 {
		return nil, fmt.Errorf("ssl.principal.mapping.rules %q: no rules", spec)
	}
	return m, nil
}

// cutUnescaped splits s at the first sep not preceded by a backslash,
// removing the backslash of an escaped sep.
func cutUnescaped(s string, sep byte) (before, after string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == sep:
			b.WriteByte(sep)
			i++
		case s[i] == sep:
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", false
}

// javaReplacement rewrites Java's $1 group references as Go's ${1}, so a
// group number followed by letters stays a group number.
func javaReplacement(r string) string {
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		if r[i] == '$' && i+1 < len(r) && r[i+1] >= '0' && r[i+1] <= '9' {
			j := i + 1
			for j < len(r) && r[j] >= '0' && r[j] <= '9' {
				j++
			}
			b.WriteString("${" + r[i+1:j] + "}")
			i = j - 1
			continue
		}
		b.WriteByte(r[i])
	}
	return b.String()
}

// ErrNoPrincipalRule is returned when no mapping rule applies to a subject.
var ErrNoPrincipalRule = errors.New("auth: no ssl.principal.mapping.rules entry applies")

// Name maps a distinguished name to a principal name (without "User:").
func (m *PrincipalMapper) Name(dn string) (string, error) {
	for _, r := range m.rules {
		if r.isDefault {
			return dn, nil
		}
		idx := r.pattern.FindStringSubmatchIndex(dn)
		if idx == nil {
			continue
		}
		out := string(r.pattern.ExpandString(nil, r.replacement, dn, idx))
		switch {
		case r.toLower:
			out = strings.ToLower(out)
		case r.toUpper:
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("%w: subject %q, rules %q", ErrNoPrincipalRule, dn, m.spec)
}

// CertPrincipal is the principal of a verified client certificate:
// "User:" and the mapped subject ("User:CN=alice,O=Acme" by DEFAULT).
func (m *PrincipalMapper) CertPrincipal(cert *x509.Certificate) (string, error) {
	dn, err := SubjectRFC2253(cert.RawSubject)
	if err != nil {
		return "", fmt.Errorf("auth: client certificate subject: %w", err)
	}
	name, err := m.Name(dn)
	if err != nil {
		return "", err
	}
	return "User:" + name, nil
}

// rawATV is one attribute of a distinguished name with its value's DER.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rawRDNSET is one relative distinguished name (the SET suffix makes
// encoding/asn1 read a SET OF).
type rawRDNSET []rawATV

// rfc2253Keyword is the name Java's X500Principal writes an attribute
// type by in RFC 2253 form; every other type is written as its OID with
// the value's DER in hex, as Java does.
func rfc2253Keyword(oid string) (string, bool) {
	switch oid {
	case "2.5.4.3":
		return "CN", true
	case "2.5.4.6":
		return "C", true
	case "2.5.4.7":
		return "L", true
	case "2.5.4.8":
		return "ST", true
	case "2.5.4.10":
		return "O", true
	case "2.5.4.11":
		return "OU", true
	case "2.5.4.9":
		return "STREET", true
	case "0.9.2342.19200300.100.1.25":
		return "DC", true
	case "0.9.2342.19200300.100.1.1":
		return "UID", true
	}
	return "", false
}

// SubjectRFC2253 writes a DER subject as Kafka's principal builder sees
// it, exactly as Java's X500Principal.getName() (RFC 2253) writes it: the
// certificate's own order reversed, most specific first
// ("CN=alice,OU=eng,O=Acme,C=US"), the attributes of a multi-valued RDN
// joined by '+' in their DER order. An attribute Java has an RFC 2253
// keyword for (rfc2253Keyword) whose value is a PrintableString,
// T61String, IA5String, GeneralString, BMPString or UTF8String is written
// as keyword=value, with the value escaped by escapeRFC2253Value. Any
// other value is written as '#' and its DER in hex, after the keyword or,
// for a type without one, after the OID ("2.5.4.5=#130131").
func SubjectRFC2253(der []byte) (string, error) {
	var rdns []rawRDNSET
	if rest, err := asn1.Unmarshal(der, &rdns); err != nil {
		return "", err
	} else if len(rest) != 0 {
		return "", errors.New("trailing bytes after the subject")
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i != len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			oid := atv.Type.String()
			keyword, known := rfc2253Keyword(oid)
			if !known {
				keyword = oid
			}
			b.WriteString(keyword + "=")
			if !known || !javaDirectoryString(atv.Value) {
				b.WriteString("#" + hex.EncodeToString(atv.Value.FullBytes))
				continue
			}
			escapeRFC2253Value(&b, javaDecodeUTF8(atv.Value.Bytes))
		}
	}
	return b.String(), nil
}

// javaDirectoryString reports whether Java's AVA writes v as a string
// (isDerString, not canonical): a primitive, universal PrintableString,
// T61String, IA5String, GeneralString, BMPString or UTF8String.
func javaDirectoryString(v asn1.RawValue) bool {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return false
	}
	switch v.Tag {
	case asn1.TagPrintableString, asn1.TagT61String, asn1.TagIA5String,
		asn1.TagGeneralString, asn1.TagBMPString, asn1.TagUTF8String:
		return true
	}
	return false
}

// escapeRFC2253Value writes value as Java's AVA.toRFC2253String does: a
// backslash before each of , = + < > # ; " and \ wherever it occurs, NUL as
// \00, every other character unchanged (control characters included), and
// then a backslash before each space or carriage return in the leading
// and trailing runs of them.
func escapeRFC2253Value(b *strings.Builder, value []rune) {
	const escapees = ",=+<>#;\"\\"
	var out []rune
	for _, c := range value {
		switch {
		case strings.ContainsRune(escapees, c):
			out = append(out, '\\', c)
		case c == 0:
			out = append(out, '\\', '0', '0')
		default:
			out = append(out, c)
		}
	}
	blank := func(c rune) bool { return c == ' ' || c == '\r' }
	lead := 0
	for lead < len(out) && blank(out[lead]) {
		lead++
	}
	trail := len(out) - 1
	for trail >= 0 && blank(out[trail]) {
		trail--
	}
	for i, c := range out {
		if i < lead || i > trail {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
}

// javaDecodeUTF8 decodes p as Java's new String(p, UTF_8) does, which is
// how X500Principal reads every directory string, whatever its ASN.1
// type (so a BMPString's UTF-16 bytes come out as NULs and letters). Each
// malformed sequence becomes one U+FFFD, and Java decides how many bytes
// a malformed sequence spans differently from Go's utf8 package: a
// truncated sequence at the end is one U+FFFD, and so is a three-byte
// encoding of a surrogate.
func javaDecodeUTF8(p []byte) []rune {
	const repl = utf8.RuneError
	cont := func(c byte) bool { return c&0xc0 == 0x80 }
	out := make([]rune, 0, len(p))
	for i := 0; i < len(p); {
		b1 := p[i]
		i++
		switch {
		case b1 < 0x80:
			out = append(out, rune(b1))
		case b1 >= 0xc2 && b1 <= 0xdf: // two bytes
			if i >= len(p) {
				return append(out, repl)
			}
			if !cont(p[i]) {
				out = append(out, repl)
				continue
			}
			out = append(out, rune(b1&0x1f)<<6|rune(p[i]&0x3f))
			i++
		case b1&0xf0 == 0xe0: // three bytes
			bad2 := func(b2 byte) bool { return (b1 == 0xe0 && b2&0xe0 == 0x80) || !cont(b2) }
			if i+1 < len(p) {
				b2, b3 := p[i], p[i+1]
				if bad2(b2) || !cont(b3) {
					out = append(out, repl)
					if !bad2(b2) {
						i++ // b1 b2 are one malformed sequence
					}
					continue
				}
				i += 2
				r := rune(b1&0x0f)<<12 | rune(b2&0x3f)<<6 | rune(b3&0x3f)
				if r >= 0xd800 && r <= 0xdfff {
					r = repl
				}
				out = append(out, r)
				continue
			}
			if i < len(p) && bad2(p[i]) {
				out = append(out, repl)
				continue
			}
			return append(out, repl)
		case b1&0xf8 == 0xf0: // four bytes
			bad2 := func(b2 byte) bool {
				return (b1 == 0xf0 && (b2 < 0x90 || b2 > 0xbf)) || (b1 == 0xf4 && b2&0xf0 != 0x80) || !cont(b2)
			}
			if i+2 < len(p) {
				b2, b3, b4 := p[i], p[i+1], p[i+2]
				r := rune(b1&0x07)<<18 | rune(b2&0x3f)<<12 | rune(b3&0x3f)<<6 | rune(b4&0x3f)
				if !cont(b2) || !cont(b3) || !cont(b4) || r < 0x10000 || r > 0x10ffff {
					out = append(out, repl)
					switch {
					case b1 > 0xf4 || bad2(b2):
					case !cont(b3):
						i++
					default:
						i += 2
					}
					continue
				}
				out = append(out, r)
				i += 3
				continue
			}
			if b1 > 0xf4 || (i < len(p) && bad2(p[i])) {
				out = append(out, repl)
				continue
			}
			i++
			out = append(out, repl)
			if i < len(p) && !cont(p[i]) {
				continue
			}
			return out
		default:
			out = append(out, repl)
		}
	}
	return out
}
