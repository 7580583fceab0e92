package schemaregistry

import "testing"

// incompatibleOrder changes testAvro1's id from long to string.
const incompatibleOrder = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"}]}`

// Confluent's checkRegisterMode: in IMPORT mode only a schema that names
// its ID (or version) registers; a client's ordinary registration is
// refused, as it would skip the compatibility check. Outside IMPORT mode,
// naming a version is refused like naming an ID.
func TestRegisterModeRules(t *testing.T) {
	url := testRegistry(t)
	mustCall(t, 200, "POST", url+"/subjects/s/versions", registerBody(testAvro1))
	status, v := call(t, "POST", url+"/subjects/s/versions", `{"schema":`+string(mustJSON(testAvro1))+`,"version":7}`)
	if status != 422 || errorCode(v) != codeOperationNotPermitted {
		t.Fatalf("register naming a version in READWRITE: %d %v, want 422 / 42205", status, v)
	}
	mustCall(t, 200, "PUT", url+"/mode/s?force=true", `{"mode":"IMPORT"}`)
	status, v = call(t, "POST", url+"/subjects/s/versions", registerBody(incompatibleOrder))
	if status != 422 || errorCode(v) != codeOperationNotPermitted {
		t.Fatalf("register without an ID in IMPORT mode: %d %v, want 422 / 42205", status, v)
	}
	body := `{"schema":` + string(mustJSON(incompatibleOrder)) + `,"id":40,"version":2}`
	if status, v = call(t, "POST", url+"/subjects/s/versions", body); status != 200 {
		t.Fatalf("import with ID and version: %d %v", status, v)
	}
}

// A delete that leaves a subject no live version removes its own
// compatibility level and mode, as Confluent does: the subject created
// again is checked at the global level.
func TestSoftDeleteForgetsTheSubjectsSettings(t *testing.T) {
	url := testRegistry(t)
	for _, path := range []string{"/subjects/s", "/subjects/s/versions/1"} {
		mustCall(t, 200, "POST", url+"/subjects/s/versions", registerBody(testAvro1))
		mustCall(t, 200, "PUT", url+"/config/s", `{"compatibility":"NONE"}`)
		mustCall(t, 200, "DELETE", url+path, "")
		if status, v := call(t, "GET", url+"/config/s", ""); status != 404 || errorCode(v) != codeSubjectCompatNotConfigured {
			t.Fatalf("DELETE %s: GET /config/s = %d %v, want 404 / 40408", path, status, v)
		}
		mustCall(t, 200, "POST", url+"/subjects/s/versions", registerBody(testAvro1))
		if status, v := call(t, "POST", url+"/subjects/s/versions", registerBody(incompatibleOrder)); status != 409 {
			t.Fatalf("DELETE %s: incompatible schema after re-creation: %d %v, want 409 under the global BACKWARD", path, status, v)
		}
		mustCall(t, 200, "DELETE", url+"/subjects/s", "")
		mustCall(t, 200, "DELETE", url+"/subjects/s?permanent=true", "")
	}
}
