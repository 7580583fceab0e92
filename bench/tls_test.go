package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestTLSBench runs the TLS benchmark with tiny counts against Sluice and
// kfake: every run and every handshake kind succeeds, and the report has
// the ratios and the JSON line. It times nothing.
func TestTLSBench(t *testing.T) {
	var out bytes.Buffer
	opts := smallOptions(t, &out)
	opts.TLS = true
	opts.TLSBrokers = []string{brokerSluice, brokerKfakeMem}
	opts.TLSConns = 8
	opts.TLSWorkers = 2
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunTLS(ctx, opts)
	if err != nil {
		t.Fatalf("RunTLS: %v\n%s", err, out.String())
	}
	if n := res.Failed(); n > 0 {
		t.Fatalf("%d runs failed:\n%s", n, out.String())
	}
	if len(res.Runs) != 4 {
		t.Fatalf("%d runs, want 4 (2 brokers x plaintext and TLS)", len(res.Runs))
	}
	// Sluice: 5 kinds; kfake: the 4 it can serve (4096 iterations only).
	if len(res.Handshakes) != 9 {
		t.Fatalf("%d handshake runs, want 9:\n%s", len(res.Handshakes), out.String())
	}
	if len(res.Ratios) != 2 || res.Ratios[0].ProduceRecSec <= 0 || res.Ratios[1].ConsumeRecSec <= 0 {
		t.Fatalf("ratios %+v", res.Ratios)
	}
	if res.ConnSec["sluice scram-sha-512/8192"] <= 0 {
		t.Fatalf("connections/s %v", res.ConnSec)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var back TLSResults
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &back); err != nil || len(back.Runs) != 4 {
		t.Fatalf("last line is not the results as JSON: %v\n%s", err, lines[len(lines)-1])
	}
	if !strings.Contains(out.String(), "TLS/plaintext: produce") {
		t.Fatalf("no TLS/plaintext ratio in the report:\n%s", out.String())
	}
}
