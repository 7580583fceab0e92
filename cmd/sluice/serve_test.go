package main

import (
	"maps"
	"strings"
	"testing"
)

// TestServingKafkaReadsBothLogFormats checks dev-cluster's readiness
// detection against serve's line in text and in JSON.
func TestServingKafkaReadsBothLogFormats(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"sluice: serving Kafka on 127.0.0.1:9092 (data in d)", true},
		{`{"time":"2026-12-06T23:00:00Z","level":"INFO","msg":"serving Kafka","addr":"127.0.0.1:9092","data_dir":"d"}`, true},
		{`{"time":"2026-12-06T23:00:00Z","level":"INFO","msg":"serving HTTP","addr":"127.0.0.1:9644"}`, false},
		{`time=2026-12-06T23:00:00Z level=INFO msg="serving Kafka"`, false},
		{"{not json", false},
	} {
		if got := servingKafka(tc.line); got != tc.want {
			t.Errorf("servingKafka(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

// TestParsePropertiesAsJavaDoes checks --config-file against
// java.util.Properties.load: continuation lines, escapes, separators and
// comments.
func TestParsePropertiesAsJavaDoes(t *testing.T) {
	in := "# comment \\\n" +
		"! another\n" +
		"listeners=PLAINTEXT://127.0.0.1:9092,\\\n" +
		"    CONTROLLER://127.0.0.1:9093\n" +
		"  log.dirs = /a\\\\b  \n" +
		"weird\\=key\\:x=v\\=1\\:2\n" +
		"spaced value with spaces\n" +
		"colon: c\n" +
		"empty=\n" +
		"tab\\tand\\u0041=x\n" +
		"odd=ends\\\\\n" +
		"#not.set=1\n"
	got := map[string]string{}
	if err := parseProperties(strings.NewReader(in), "f", got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"listeners":   "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
		"log.dirs":    `/a\b`,
		"weird=key:x": "v=1:2",
		"spaced":      "value with spaces",
		"colon":       "c",
		"empty":       "",
		"tab\tandA":   "x",
		"odd":         `ends\`,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("parsed %q\nwant   %q", got, want)
	}
	for _, bad := range []string{"novalue\n", "=x\n", "k=\\u12\n"} {
		if err := parseProperties(strings.NewReader(bad), "f", map[string]string{}); err == nil || !strings.Contains(err.Error(), "f:1:") {
			t.Errorf("parse %q: %v, want an error at f:1", bad, err)
		}
	}
}
