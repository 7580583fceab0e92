package test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestVersionCommand: `sluice version`, `sluice --version` and `sluice
// version --json` name the version, the Go version and the platform; a
// release build sets the version with -ldflags -X.
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "sluice")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/sluice-io/sluice/internal/buildinfo.version=v9.8.7-test", "../cmd/sluice")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build with -ldflags -X: %v\n%s", err, out)
	}
	for _, b := range []struct{ bin, version string }{{sluiceBin, "devel"}, {bin, "v9.8.7-test"}} {
		want := "sluice " + b.version + " ("
		for _, args := range [][]string{{"version"}, {"--version"}} {
			out, err := exec.Command(b.bin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
			s := string(out)
			if !strings.HasPrefix(s, want) || !strings.Contains(s, runtime.Version()) || !strings.Contains(s, runtime.GOOS+"/"+runtime.GOARCH) {
				t.Errorf("sluice %v = %q, want %q... with %s", args, s, want, runtime.Version())
			}
		}
		out, err := exec.Command(b.bin, "version", "--json").Output()
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Version   string `json:"version"`
			GoVersion string `json:"go_version"`
		}
		if err := json.Unmarshal(out, &v); err != nil || v.Version != b.version || v.GoVersion != runtime.Version() {
			t.Errorf("version --json = %s (%v), want version %s", out, err, b.version)
		}
	}
}

// TestServeLogFormatJSON: with --log-format json every log line of a
// broker that serves a client is one JSON object with time, level and msg
// (the two "sluice: serving ..." banners are not log lines); a bad format
// is a usage error (exit 2).
func TestServeLogFormatJSON(t *testing.T) {
	t.Parallel()
	p := startProcess(t, t.TempDir(), "127.0.0.1:0", "--log-format", "json", "--http-listen", "127.0.0.1:0")
	cl := newClient(t, p.addr, kgo.DefaultProduceTopic("jsonlogs"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(testContext(t, 20*time.Second), kgo.StringRecord("x")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	p.kill(15) // SIGTERM: the shutdown lines too
	lines := 0
	for _, line := range strings.Split(strings.TrimSpace(p.logs()), "\n") {
		if strings.HasPrefix(line, "sluice: serving ") {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("log line is not JSON: %v: %q", err, line)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := v[k]; !ok {
				t.Errorf("log line without %q: %s", k, line)
			}
		}
		lines++
	}
	if lines < 3 {
		t.Fatalf("only %d log lines:\n%s", lines, p.logs())
	}
	if !strings.Contains(p.logs(), `"msg":"sluice broker stopped"`) {
		t.Errorf("no shutdown line in:\n%s", p.logs())
	}

	err := exec.Command(sluiceBin, "serve", "--log-format", "yaml").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("serve --log-format yaml: %v, want exit status 2", err)
	}
}
