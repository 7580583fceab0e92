package test

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeLogFormatJSONWritesOnlyJSON checks that `serve --log-format
// json` says where it serves through the logger: every line on stderr is a
// JSON object, among them "serving Kafka" with its address and "serving
// HTTP".
func TestServeLogFormatJSONWritesOnlyJSON(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(sluiceBin, "serve", "--log-format", "json", "--listen", "127.0.0.1:0",
		"--http-listen", "127.0.0.1:0", "--data-dir", t.TempDir())
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
	timeout := time.After(30 * time.Second)
	for seen["serving Kafka"] == nil || seen["serving HTTP"] == nil {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before it served; saw %v", seen)
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("serve --log-format json wrote a line that is not JSON: %q", line)
			}
			if msg, _ := rec["msg"].(string); msg != "" {
				seen[msg] = rec
			}
		case <-timeout:
			t.Fatalf("serve did not say it serves Kafka and HTTP in 30s; saw %v", seen)
		}
	}
	if a, _ := seen["serving Kafka"]["addr"].(string); !strings.HasPrefix(a, "127.0.0.1:") {
		t.Fatalf("serving Kafka: %v, want addr 127.0.0.1:port", seen["serving Kafka"])
	}
}
