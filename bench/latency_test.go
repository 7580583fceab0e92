package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLatencyInProcess runs the latency benchmark with tiny counts on
// Sluice and kfake in this process, with a trace of the Sluice run, and
// checks that the report is complete. It times nothing.
func TestLatencyInProcess(t *testing.T) {
	var out bytes.Buffer
	opts := smallOptions(t, &out)
	opts.Latency = true
	opts.Brokers = []string{brokerSluice, brokerKfakeMem}
	opts.LatencyRecords = 300
	opts.LatencyRate = 3000
	opts.LatencySyncs = 20
	opts.Trace = filepath.Join(t.TempDir(), "lat.trace")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunLatency(ctx, opts)
	if err != nil {
		t.Fatalf("RunLatency: %v\n%s", err, out.String())
	}
	if n := res.Failed(); n > 0 || len(res.Runs) != 2 {
		t.Fatalf("%d of %d runs failed, want 2 runs:\n%s", n, len(res.Runs), out.String())
	}
	for _, r := range res.Runs {
		if r.AckP50 <= 0 || r.AckP99 < r.AckP50 || r.AckP999 < r.AckP99 || r.E2EP50 <= 0 || r.E2EP99 < r.E2EP50 || r.E2EP999 < r.E2EP99 || r.RecSec <= 0 {
			t.Errorf("run %+v: implausible figures", r)
		}
	}
	if len(res.Syncs) != 1 || res.Syncs[0].Err != "" || res.SyncP50 <= 0 {
		t.Errorf("fdatasync baseline %+v, want one successful", res.Syncs)
	}
	if st, err := os.Stat(profilePath(opts.Trace, "latency", 1, "e2e")); err != nil || st.Size() == 0 {
		t.Errorf("no trace of the in-process Sluice run: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var decoded LatencyResults
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &decoded); err != nil || len(decoded.Medians) != 2 {
		t.Fatalf("last line is not the JSON report (%v):\n%s", err, out.String())
	}
}
