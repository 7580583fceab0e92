package schemaregistry

import (
	"testing"

	"github.com/sluice-io/sluice/internal/schema"
)

const (
	testCustomer = `{"type":"record","name":"Customer","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"name","type":"string","default":""}]}`
	testOrder    = `{"type":"record","name":"Order","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"customer","type":"com.example.Customer"}]}`
)

// inlinedOrder is testOrder as Confluent's KafkaAvroSerializer sends it:
// derived from a record, with Customer defined where it is first used,
// doc added (which Avro's schema equality does not compare), and name's
// default as given.
func inlinedOrder(nameDefault string) string {
	return `{"type":"record","name":"Order","namespace":"com.example","doc":"an order","fields":[{"name":"id","type":"long"},` +
		`{"name":"customer","type":{"type":"record","name":"Customer","fields":[{"name":"id","type":"long"},{"name":"name","type":"string","default":` + nameDefault + `}]}}]}`
}

// registerOrderWithReference registers customer-value (ID 1) and
// order-value, which refers to it (ID 2).
func registerOrderWithReference(t *testing.T) string {
	t.Helper()
	url := testRegistry(t)
	mustCall(t, 200, "POST", url+"/subjects/customer-value/versions", registerBody(testCustomer))
	body := string(mustJSON(schemaRequest{Schema: testOrder,
		References: []schema.Reference{{Name: "com.example.Customer", Subject: "customer-value", Version: 1}}}))
	if v := mustCall(t, 200, "POST", url+"/subjects/order-value/versions", body).(map[string]any); v["id"] != 2.0 {
		t.Fatalf("order-value registered = %v, want id 2", v)
	}
	return url
}

// A schema registered with references is found by lookup and by
// registration when sent with the referenced types inline and no
// references, as Confluent's registry finds it
// (KafkaSchemaRegistry.lookUpSchemaUnderSubject and register fall back to
// ParsedSchema.deepEquals): a Java producer with auto.register.schemas=false
// gets the version, and with it on gets its ID instead of a new version.
func TestInlinedReferencesFindTheVersionWithReferences(t *testing.T) {
	url := registerOrderWithReference(t)
	stored := mustCall(t, 200, "GET", url+"/subjects/order-value/versions/1", "").(map[string]any)
	body := registerBody(inlinedOrder(`""`))
	v := mustCall(t, 200, "POST", url+"/subjects/order-value", body).(map[string]any)
	refs, _ := v["references"].([]any)
	if v["id"] != 2.0 || v["version"] != 1.0 || v["schema"] != stored["schema"] || len(refs) != 1 {
		t.Errorf("lookup of the inlined schema = %v, want order-value version 1 (id 2) with its reference", v)
	}
	if v := mustCall(t, 200, "POST", url+"/subjects/order-value/versions", body).(map[string]any); v["id"] != 2.0 {
		t.Errorf("registration of the inlined schema = %v, want id 2", v)
	}
	if got := mustCall(t, 200, "GET", url+"/subjects/order-value/versions", "").([]any); len(got) != 1 {
		t.Errorf("versions of order-value = %v, want [1]", got)
	}
	// normalize=true takes the same path.
	if v := mustCall(t, 200, "POST", url+"/subjects/order-value?normalize=true", body).(map[string]any); v["id"] != 2.0 {
		t.Errorf("normalized lookup of the inlined schema = %v, want id 2", v)
	}
}

// Only an equal schema matches: a default is part of Avro's schema
// equality, so an inlined schema that differs in one is not found, and
// registering it makes a new version with a new ID.
func TestInlinedReferencesWithAnotherDefaultAreNotFound(t *testing.T) {
	url := registerOrderWithReference(t)
	body := registerBody(inlinedOrder(`"anonymous"`))
	if v := mustCall(t, 404, "POST", url+"/subjects/order-value", body); errorCode(v) != codeSchemaNotFound {
		t.Errorf("lookup with another default = %v, want %d", v, codeSchemaNotFound)
	}
	if v := mustCall(t, 200, "POST", url+"/subjects/order-value/versions", body).(map[string]any); v["id"] != 3.0 {
		t.Errorf("registration with another default = %v, want the new id 3", v)
	}
	// The inlined form of version 1 still finds version 1, not the newer
	// version 2 next to it.
	if v := mustCall(t, 200, "POST", url+"/subjects/order-value", registerBody(inlinedOrder(`""`))).(map[string]any); v["version"] != 1.0 {
		t.Errorf("lookup of version 1 inlined = %v, want version 1", v)
	}
}

// A soft-deleted version is found only by a lookup with deleted=true, and
// never by registration, which registers the schema again.
func TestInlinedReferencesAndSoftDeletedVersions(t *testing.T) {
	url := registerOrderWithReference(t)
	body := registerBody(inlinedOrder(`""`))
	mustCall(t, 200, "POST", url+"/subjects/order-value/versions", registerBody(inlinedOrder(`"x"`)))
	mustCall(t, 200, "DELETE", url+"/subjects/order-value/versions/1", "")
	if v := mustCall(t, 404, "POST", url+"/subjects/order-value", body); errorCode(v) != codeSchemaNotFound {
		t.Errorf("lookup of a soft-deleted version = %v, want %d", v, codeSchemaNotFound)
	}
	if v := mustCall(t, 200, "POST", url+"/subjects/order-value?deleted=true", body).(map[string]any); v["version"] != 1.0 {
		t.Errorf("lookup with deleted=true = %v, want version 1", v)
	}
	if v := mustCall(t, 200, "POST", url+"/subjects/order-value/versions", body).(map[string]any); v["id"] == 2.0 {
		t.Errorf("registration over a soft-deleted version = %v, want a new id", v)
	}
}

// JSON Schema is matched by its canonical form alone: a $ref written out
// inline is another schema.
func TestInlinedJSONSchemaReferencesAreNotMatched(t *testing.T) {
	url := testRegistry(t)
	const customer = `{"type":"object","properties":{"id":{"type":"integer"}}}`
	reg := func(text string, refs []schema.Reference) string {
		return string(mustJSON(schemaRequest{Schema: text, SchemaType: "JSON", References: refs}))
	}
	mustCall(t, 200, "POST", url+"/subjects/customer-json/versions", reg(customer, nil))
	mustCall(t, 200, "POST", url+"/subjects/order-json/versions", reg(
		`{"type":"object","properties":{"customer":{"$ref":"customer.json"}}}`,
		[]schema.Reference{{Name: "customer.json", Subject: "customer-json", Version: 1}}))
	inlined := `{"type":"object","properties":{"customer":` + customer + `}}`
	if v := mustCall(t, 404, "POST", url+"/subjects/order-json", reg(inlined, nil)); errorCode(v) != codeSchemaNotFound {
		t.Errorf("lookup of the inlined JSON schema = %v, want %d", v, codeSchemaNotFound)
	}
}
