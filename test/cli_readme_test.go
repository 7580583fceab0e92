package test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeSkipped are the README's command-line examples that cannot run
// against one fresh local broker, each with why. Every entry must match a
// line, so the list stays honest.
var readmeSkipped = map[string]string{
	"SLUICE_BROKERS=kafka-1:9092 sluice cluster info":        "needs a cluster at kafka-1",
	"sluice -b kafka:9093 --tls --tls-ca ca.pem topic list":  "needs a TLS cluster at kafka:9093",
	"sluice -b kafka:9093 --tls-cert client.pem":             "needs a TLS cluster at kafka:9093",
	"SLUICE_SASL_PASSWORD=secret sluice -b kafka:9093 --tls": "needs a SASL_SSL cluster at kafka:9093",
}

// readmeCommands returns the shell lines of the README's "Command line"
// section that run sluice.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Command line\n")
	if !ok {
		t.Fatal(`README.md has no "## Command line" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	var out []string
	inSh := false
	for _, line := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			inSh = true
		case strings.HasPrefix(line, "```"):
			inSh = false
		case inSh && strings.Contains(line, "sluice "):
			out = append(out, line)
		}
	}
	return out
}

// TestCLIReadmeExamples runs the README's command-line examples as
// written, in order, with sluice on PATH, against a fresh broker (with an
// authorizer, so that the ACL examples work; the CLI is a super user).
func TestCLIReadmeExamples(t *testing.T) {
	t.Parallel()
	settings := groupSettings()
	settings["authorizer.class.name"] = "acl"
	settings["super.users"] = "User:ANONYMOUS"
	b := startBroker(t, settings)
	cmds := readmeCommands(t)
	if len(cmds) < 20 {
		t.Fatalf("found %d sluice commands in the README's Command line section", len(cmds))
	}
	used := map[string]bool{}
	env := []string{"PATH=" + filepath.Dir(sluiceBin) + ":" + os.Getenv("PATH"), "SLUICE_BROKERS=" + b.addr, "HOME=" + t.TempDir(), "XDG_CONFIG_HOME="}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "SLUICE_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	ran := 0
	for _, line := range cmds {
		skip := false
		for prefix := range readmeSkipped {
			if strings.HasPrefix(line, prefix) {
				skip, used[prefix] = true, true
			}
		}
		if skip {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", line)
		cmd.Env = env
		cmd.Dir = t.TempDir()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Fatalf("README example failed after %v: %s\n%v\n%s", time.Since(start).Round(time.Millisecond), line, err, out.String())
		}
		if strings.Contains(out.String(), "sluice: ") && !strings.Contains(out.String(), "reached the end") {
			t.Fatalf("README example printed an error: %s\n%s", line, out.String())
		}
		ran++
	}
	for prefix, why := range readmeSkipped {
		if !used[prefix] {
			t.Errorf("the skip list names %q (%s), which is no longer in the README", prefix, why)
		}
	}
	t.Logf("ran %d README examples, skipped %d", ran, len(cmds)-ran)
}
