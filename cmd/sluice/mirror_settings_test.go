package main

import "testing"

// serve takes every sluice.mirror.* setting the mirror reads, the source's
// TLS verification switch among them.
func TestServeTakesSourceTLSInsecureSkipVerify(t *testing.T) {
	values := map[string]string{
		"sluice.mirror.source.bootstrap.servers":        "127.0.0.1:9092",
		"sluice.mirror.source.tls":                      "true",
		"sluice.mirror.source.tls.insecure.skip.verify": "true",
	}
	sm, err := takeMirrorSettings(values)
	if err != nil || sm == nil {
		t.Fatalf("take the mirror settings: %v", err)
	}
	if len(values) != 0 {
		t.Fatalf("settings left for the node: %v", values)
	}
}
