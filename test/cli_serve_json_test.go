package test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeLogFormatJSONWritesOnlyJSON checks that `serve --log-format
// json` says where it serves through the logger: every line on stderr is a
// JSON object naming the node, among them "serving Kafka" with its address
// and "serving HTTP". Durations read as durations ("3s"), not nanoseconds.
func TestServeLogFormatJSONWritesOnlyJSON(t *testing.T) {
	t.Parallel()
	seen := serveJSON(t, []string{"serving Kafka", "serving HTTP", "controller active"},
		"--http-listen", "127.0.0.1:0", "--data-dir", t.TempDir())
	if a, _ := seen["serving Kafka"]["addr"].(string); !strings.HasPrefix(a, "127.0.0.1:") {
		t.Fatalf("serving Kafka: %v, want addr 127.0.0.1:port", seen["serving Kafka"])
	}
	if d, _ := seen["controller active"]["session_timeout"].(string); d != "3s" {
		t.Fatalf("controller active: %v, want session_timeout \"3s\"", seen["controller active"])
	}
}

// TestServeDevSecurityLogFormatJSON: with --dev-security and --log-format
// json the client configuration is one JSON record, not a text banner; it
// carries the admin password on the run that generated it, and points at
// its file on a later run.
func TestServeDevSecurityLogFormatJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const msg = "dev security: SASL_SSL with ACLs enforced"
	for _, first := range []bool{true, false} {
		seen := serveJSON(t, []string{"serving Kafka", "serving the schema registry", msg},
			"--dev-security", "--http-listen", "", "--schema-registry-listen", "127.0.0.1:0", "--data-dir", dir)
		rec := seen[msg]
		pwFile := filepath.Join(dir, "dev-security", "admin.password")
		b, err := os.ReadFile(pwFile)
		if err != nil {
			t.Fatal(err)
		}
		pw, shown := rec["password"].(string)
		if shown != first || (first && pw != strings.TrimSpace(string(b))) || rec["password_file"] != pwFile || rec["user"] != "admin" {
			t.Fatalf("run %d: %s record %v, want user admin, password_file %s and the password only on the first run", map[bool]int{true: 1, false: 2}[first], msg, rec, pwFile)
		}
		if a, _ := rec["bootstrap"].(string); a != seen["serving Kafka"]["addr"] {
			t.Fatalf("%s record bootstrap %q, want the Kafka address %v", msg, a, seen["serving Kafka"]["addr"])
		}
	}
}

// serveJSON runs `serve --log-format json` on 127.0.0.1 with args until
// it has logged every msg in want, then stops it. Every line must be a JSON
// object with the node field; it returns the last record of each msg.
func serveJSON(t *testing.T, want []string, args ...string) map[string]map[string]any {
	t.Helper()
	cmd := exec.Command(sluiceBin, append([]string{"serve", "--log-format", "json", "--listen", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	seen := map[string]map[string]any{}
	missing := func() []string {
		var m []string
		for _, w := range want {
			if seen[w] == nil {
				m = append(m, w)
			}
		}
		return m
	}
	timeout := time.After(30 * time.Second)
	for len(missing()) > 0 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before logging %q; saw %v", missing(), seen)
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("serve --log-format json wrote a line that is not JSON: %q", line)
			}
			if rec["node"] != float64(1) {
				t.Fatalf("serve --log-format json wrote a line without node 1: %q", line)
			}
			if msg, _ := rec["msg"].(string); msg != "" {
				seen[msg] = rec
			}
		case <-timeout:
			t.Fatalf("serve did not log %q in 30s; saw %v", missing(), seen)
		}
	}
	return seen
}
