package test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeConfigFileJoinsContinuationLines starts `sluice serve
// --config-file` on a file written as Kafka's server.properties may be: a
// value continued over lines with a trailing backslash and an escaped
// separator in a comment-free line; the broker takes the joined values.
func TestServeConfigFileJoinsContinuationLines(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "server.properties")
	props := "# a comment ending in a backslash does not continue \\\n" +
		"num.partitions=\\\n" +
		"    3\n" +
		"log.retention.ms = 36\\\n   00000\n"
	if err := os.WriteFile(file, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sluiceBin, "serve", "--config-file", file, "--listen", "127.0.0.1:0",
		"--http-listen", "", "--data-dir", t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	addrCh := make(chan string, 1)
	var out strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "sluice: serving Kafka on "); ok {
				addr, _, _ := strings.Cut(rest, " ")
				addrCh <- addr
			} else if len(out.String()) < 4096 {
				out.WriteString(line + "\n")
			}
		}
		close(addrCh)
	}()
	var addr string
	select {
	case a, ok := <-addrCh:
		if !ok {
			t.Fatalf("serve exited:\n%s", out.String())
		}
		addr = a
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start in 30s")
	}
	got := cli(t, addr, "", "config", "get", "broker", "1", "num.partitions", "log.retention.ms")
	for _, want := range []string{"num.partitions", "3", "log.retention.ms", "3600000"} {
		if !strings.Contains(got, want) {
			t.Fatalf("config get printed:\n%s\nwant %s", got, want)
		}
	}
}
