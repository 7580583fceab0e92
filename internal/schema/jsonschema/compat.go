package jsonschema

import (
	"fmt"
	"slices"
	"strings"
)

// Difference is one change from a writer schema (the "original") to a reader schema (the
// "update"), named as Confluent's registry names it.
type Difference struct {
	Kind string // e.g. "TYPE_CHANGED", "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
	Path string // a JSON pointer into the schema, e.g. "#/properties/name"
}

// compatible lists the changes a reader tolerates.
var compatible = setOf(
	"ID_CHANGED", "DESCRIPTION_CHANGED", "TITLE_CHANGED", "DEFAULT_CHANGED", "SCHEMA_REMOVED", "TYPE_EXTENDED",
	"MAX_LENGTH_INCREASED", "MAX_LENGTH_REMOVED", "MIN_LENGTH_DECREASED", "MIN_LENGTH_REMOVED", "PATTERN_REMOVED",
	"MAXIMUM_INCREASED", "MAXIMUM_REMOVED", "MINIMUM_DECREASED", "MINIMUM_REMOVED",
	"EXCLUSIVE_MAXIMUM_INCREASED", "EXCLUSIVE_MAXIMUM_REMOVED", "EXCLUSIVE_MINIMUM_DECREASED", "EXCLUSIVE_MINIMUM_REMOVED",
	"MULTIPLE_OF_REDUCED", "MULTIPLE_OF_REMOVED",
	"REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED", "REQUIRED_ATTRIBUTE_REMOVED",
	"DEPENDENCY_ARRAY_NARROWED", "DEPENDENCY_ARRAY_REMOVED", "DEPENDENCY_SCHEMA_REMOVED",
	"MAX_PROPERTIES_INCREASED", "MAX_PROPERTIES_REMOVED", "MIN_PROPERTIES_DECREASED", "MIN_PROPERTIES_REMOVED",
	"ADDITIONAL_PROPERTIES_ADDED", "ADDITIONAL_PROPERTIES_EXTENDED",
	"PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
	"REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL", "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
	"PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
	"PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
	"MAX_ITEMS_INCREASED", "MAX_ITEMS_REMOVED", "MIN_ITEMS_DECREASED", "MIN_ITEMS_REMOVED", "UNIQUE_ITEMS_REMOVED",
	"ADDITIONAL_ITEMS_ADDED", "ADDITIONAL_ITEMS_EXTENDED",
	"ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL",
	"ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL",
	"ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
	"ENUM_ARRAY_EXTENDED",
	"COMBINED_TYPE_EXTENDED", "PRODUCT_TYPE_NARROWED", "SUM_TYPE_EXTENDED", "NOT_TYPE_NARROWED",
)

func setOf(ks ...string) map[string]bool {
	m := make(map[string]bool, len(ks))
	for _, k := range ks {
		m[k] = true
	}
	return m
}

// Compatible reports whether a reader tolerates the change.
func (d Difference) Compatible() bool { return compatible[d.Kind] }

// Message renders the difference as the registry reports it, naming the reader and writer
// schemas by the given words ("new" and "old" for a backward check, the reverse for forward).
func (d Difference) Message(reader, writer string) string {
	return fmt.Sprintf(`{errorType:"%s", description:"%s"}`, d.Kind, d.describe(reader, writer))
}

func (d Difference) describe(reader, writer string) string {
	k, p := d.Kind, d.Path
	switch {
	case strings.HasSuffix(k, "_ADDED") && keywordKinds[k]:
		return fmt.Sprintf("The %s schema has the keyword at path '%s', which the %s schema lacks", reader, p, writer)
	case k == "ADDITIONAL_PROPERTIES_REMOVED" || k == "ADDITIONAL_ITEMS_REMOVED" || k == "UNEVALUATED_PROPERTIES_REMOVED" || k == "UNEVALUATED_ITEMS_REMOVED":
		return fmt.Sprintf("The %s schema forbids at path '%s' what the %s schema allows", reader, p, writer)
	case strings.HasSuffix(k, "_INCREASED") || k == "MULTIPLE_OF_EXPANDED":
		return fmt.Sprintf("The value at path '%s' is greater in the %s schema than in the %s schema", p, reader, writer)
	case strings.HasSuffix(k, "_DECREASED"):
		return fmt.Sprintf("The value at path '%s' is smaller in the %s schema than in the %s schema", p, reader, writer)
	case strings.HasSuffix(k, "_CHANGED") && (k == "PATTERN_CHANGED" || k == "MULTIPLE_OF_CHANGED" || k == "DEPENDENCY_ARRAY_CHANGED"):
		return fmt.Sprintf("The value at path '%s' differs between the %s and the %s schema", p, reader, writer)
	case strings.HasSuffix(k, "_NARROWED"):
		return fmt.Sprintf("The %s schema allows fewer values at path '%s' than the %s schema", reader, p, writer)
	case strings.HasSuffix(k, "_EXTENDED"):
		return fmt.Sprintf("The %s schema allows more values at path '%s' than the %s schema", reader, p, writer)
	case k == "TYPE_CHANGED" || k == "COMBINED_TYPE_CHANGED" || k == "COMBINED_TYPE_SUBSCHEMAS_CHANGED" || k == "ENUM_ARRAY_CHANGED":
		return fmt.Sprintf("The type at path '%s' differs between the %s and the %s schema", p, reader, writer)
	case k == "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL" || k == "ITEM_ADDED_TO_OPEN_CONTENT_MODEL":
		return fmt.Sprintf("The %s schema has a property or item at path '%s' that the %s schema lacks, and the %s schema's open content model may have held any value there", reader, p, writer, writer)
	case k == "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL":
		return fmt.Sprintf("The %s schema requires a property at path '%s' that the %s schema, whose content model is not open, lacks", reader, p, writer)
	case k == "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL" || k == "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL":
		return fmt.Sprintf("The %s schema has a closed content model and lacks the property or item at path '%s' of the %s schema", reader, p, writer)
	case k == "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" || k == "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
		return fmt.Sprintf("The %s schema lacks the property or item at path '%s' of the %s schema, and its partially open content model does not cover it", reader, p, writer)
	case k == "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" || k == "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL":
		return fmt.Sprintf("The %s schema has a property or item at path '%s' that the %s schema lacks and its partially open content model does not cover", reader, p, writer)
	case k == "SCHEMA_ADDED":
		return fmt.Sprintf("The %s schema constrains at path '%s' what the %s schema leaves free", reader, p, writer)
	}
	return fmt.Sprintf("The schema at path '%s' changed from the %s to the %s schema", p, writer, reader)
}

var keywordKinds = setOf(
	"MAXIMUM_ADDED", "MINIMUM_ADDED", "EXCLUSIVE_MAXIMUM_ADDED", "EXCLUSIVE_MINIMUM_ADDED", "MULTIPLE_OF_ADDED",
	"MAX_LENGTH_ADDED", "MIN_LENGTH_ADDED", "PATTERN_ADDED", "REQUIRED_ATTRIBUTE_ADDED",
	"MAX_PROPERTIES_ADDED", "MIN_PROPERTIES_ADDED", "DEPENDENCY_ARRAY_ADDED", "DEPENDENCY_SCHEMA_ADDED",
	"MAX_ITEMS_ADDED", "MIN_ITEMS_ADDED", "MAX_CONTAINS_ADDED", "MIN_CONTAINS_ADDED", "UNIQUE_ITEMS_ADDED",
)

// Check returns the changes that keep reader from accepting every document writer accepts, by
// the rules of Confluent's registry.
func Check(reader, writer *Schema) []Difference {
	return slices.DeleteFunc(Differences(reader, writer), Difference.Compatible)
}

// Differences returns every change from writer to reader, compatible or not.
func Differences(reader, writer *Schema) []Difference {
	c := &differ{memo: map[pairKey][]Difference{}, active: map[pairKey]bool{}}
	return c.compare(view(writer.compiled), view(reader.compiled))
}
