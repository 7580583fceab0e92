package avro

import (
	"fmt"
	"strings"
)

// The Avro parser matches attribute names without regard to case and misses a few shapes
// Avro's specification rules out; validate checks the document first, as the specification
// reads: attribute names are case-sensitive, each kind of type has its required attributes,
// and a union has at least one branch.

var reserved = []string{"type", "name", "namespace", "doc", "aliases", "fields", "symbols", "default",
	"items", "values", "size", "order"}

func validate(v any) error {
	switch t := v.(type) {
	case string:
		return nil
	case []any:
		if len(t) == 0 {
			return fmt.Errorf("a union needs at least one type")
		}
		for _, e := range t {
			if err := validate(e); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		return validateObject(t)
	}
	return fmt.Errorf("a schema is a type name, an object or a union, not %v", v)
}

func validateObject(m map[string]any) error {
	if err := attributeCase(m); err != nil {
		return err
	}
	typ, ok := m["type"]
	if !ok {
		return fmt.Errorf(`a schema object needs a "type"`)
	}
	kind, _ := typ.(string)
	need := func(attrs ...string) error {
		for _, a := range attrs {
			if _, ok := m[a]; !ok {
				return fmt.Errorf("a %s needs %q", kind, a)
			}
		}
		return nil
	}
	switch kind {
	case "record", "error":
		if err := need("name", "fields"); err != nil {
			return err
		}
		fields, ok := m["fields"].([]any)
		if !ok {
			return fmt.Errorf(`a record's "fields" is an array`)
		}
		for _, f := range fields {
			fm, ok := f.(map[string]any)
			if !ok {
				return fmt.Errorf("a record field is an object")
			}
			if err := attributeCase(fm); err != nil {
				return err
			}
			for _, a := range []string{"name", "type"} {
				if _, ok := fm[a]; !ok {
					return fmt.Errorf("a record field needs %q", a)
				}
			}
			if err := validate(fm["type"]); err != nil {
				return err
			}
		}
		return nil
	case "enum":
		return need("name", "symbols")
	case "fixed":
		return need("name", "size")
	case "array":
		if err := need("items"); err != nil {
			return err
		}
		return validate(m["items"])
	case "map":
		if err := need("values"); err != nil {
			return err
		}
		return validate(m["values"])
	}
	if u, ok := typ.([]any); ok {
		return validate(u)
	}
	return nil
}

// attributeCase refuses an attribute spelled like a reserved one in another case.
func attributeCase(m map[string]any) error {
	for k := range m {
		for _, r := range reserved {
			if k != r && strings.EqualFold(k, r) {
				return fmt.Errorf("attribute %q: attribute names are case-sensitive (%q)", k, r)
			}
		}
	}
	return nil
}
