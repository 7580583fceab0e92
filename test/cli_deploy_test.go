package test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The example deployment files in deploy/ are loaded, verified or at least
// parsed here, so they stay true.

// propertiesKeys returns the setting names of a properties file: the set
// ones, and those commented out as examples ("#name=value").
func propertiesKeys(t *testing.T, path string) (set, commented []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rx := regexp.MustCompile(`^(#?)([a-z][a-z0-9]*(?:\.[a-z0-9]+)+)=`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := rx.FindStringSubmatch(sc.Text()); m != nil {
			if m[1] == "" {
				set = append(set, m[2])
			} else {
				commented = append(commented, m[2])
			}
		}
	}
	return set, commented
}

// TestDeployProperties: sluice serve --config-file deploy/sluice.properties
// starts with only its ports and data directory changed, applies the file's
// settings, and every setting the file names, commented or not, is one the
// broker knows.
func TestDeployProperties(t *testing.T) {
	t.Parallel()
	props, err := filepath.Abs("../deploy/sluice.properties")
	if err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, t.TempDir(), "127.0.0.1:0", "--config-file", props,
		"-c", "listeners=PLAINTEXT://127.0.0.1:0", "--http-listen", "127.0.0.1:0")

	// It answers Kafka clients.
	expectLines(t, "produce", cli(t, p.addr, "hello\n", "produce", "deployed"), "produced 1 record to deployed")
	expectLines(t, "consume", cli(t, p.addr, "", "consume", "deployed", "-e"), "hello")
	if out := cli(t, p.addr, "", "topic", "describe", "deployed"); !strings.Contains(out, "Partitions: 3") {
		t.Fatalf("a topic created on use has the file's num.partitions=3:\n%s", out)
	}

	// The file's settings are the broker's static config.
	out := cli(t, p.addr, "", "config", "get", "broker", "1", "--output", "json")
	var rows []struct{ Name, Value, Source string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("config get: %v\n%s", err, out)
	}
	known := map[string]string{}
	for _, r := range rows {
		known[r.Name] = r.Value + " " + r.Source
	}
	for name, want := range map[string]string{
		"num.partitions":      "3 STATIC_BROKER_CONFIG",
		"log.retention.hours": "168 STATIC_BROKER_CONFIG",
		"min.insync.replicas": "1 STATIC_BROKER_CONFIG",
	} {
		if known[name] != want {
			t.Fatalf("%s = %q, want %q", name, known[name], want)
		}
	}
	set, commented := propertiesKeys(t, props)
	if len(set) < 20 || len(commented) < 10 {
		t.Fatalf("deploy/sluice.properties names %d settings and %d commented examples; want the common ones", len(set), len(commented))
	}
	for _, k := range append(set, commented...) {
		if _, ok := known[k]; !ok {
			t.Errorf("deploy/sluice.properties names %s, which the broker does not know", k)
		}
	}

	// The HTTP admin listener answers /readyz.
	m := regexp.MustCompile(`sluice: serving HTTP on (\S+)`).FindStringSubmatch(p.logs())
	if m == nil {
		t.Fatalf("no HTTP listener:\n%s", p.logs())
	}
	var code int
	waitFor(t, 30*time.Second, "/readyz to answer 200", func() bool {
		resp, err := http.Get("http://" + m[1] + "/readyz")
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		code = resp.StatusCode
		return code == 200
	})
}

// unitFile is a systemd unit parsed into sections of key=value lines.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] != nil {
				t.Fatalf("%s:%d: section [%s] twice", path, i+1, section)
			}
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.TrimSpace(k) == "" || strings.ContainsAny(strings.TrimSpace(k), " \t") {
				t.Fatalf("%s:%d: %q is not key=value in a section", path, i+1, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	return u
}

// TestDeploySystemdUnit: deploy/sluice.service has the sections and keys
// a unit needs, its ExecStart is a command sluice accepts, and, where
// systemd-analyze exists, systemd verifies it without a complaint.
func TestDeploySystemdUnit(t *testing.T) {
	t.Parallel()
	const path = "../deploy/sluice.service"
	u := parseUnit(t, path)
	for _, want := range []struct{ section, key string }{
		{"Unit", "Description"}, {"Unit", "After"}, {"Service", "ExecStart"}, {"Service", "User"},
		{"Service", "Restart"}, {"Service", "TimeoutStopSec"}, {"Service", "LimitNOFILE"}, {"Install", "WantedBy"},
	} {
		if len(u[want.section][want.key]) != 1 {
			t.Fatalf("%s: [%s] %s is %v, want one value", path, want.section, want.key, u[want.section][want.key])
		}
	}
	exec0 := strings.Fields(u["Service"]["ExecStart"][0])
	if len(exec0) < 2 || exec0[0] != "/usr/local/bin/sluice" || exec0[1] != "serve" {
		t.Fatalf("ExecStart %v, want /usr/local/bin/sluice serve ...", exec0)
	}
	// Every flag ExecStart gives is one sluice serve has.
	help := cli(t, "127.0.0.1:1", "", "serve", "--help")
	for _, a := range exec0[2:] {
		if strings.HasPrefix(a, "--") && !strings.Contains(help, a+" ") {
			t.Fatalf("ExecStart passes %s, which sluice serve --help does not list", a)
		}
	}
	if u["Service"]["StateDirectory"][0] != "sluice" || !strings.Contains(u["Service"]["ExecStart"][0], "--data-dir /var/lib/sluice") {
		t.Fatalf("the unit's data directory is not its StateDirectory /var/lib/sluice")
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze is not installed: the unit was parsed only")
		return
	}
	// systemd-analyze wants ExecStart's binary to exist: point it at the
	// one under test.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "sluice.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/sluice", sluiceBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestDeployDockerfile: deploy/Dockerfile is a multi-stage build of a
// static binary (CGO_ENABLED=0) with the README's build command, on the
// Go version of go.mod, into a distroless (or scratch) image. Docker is
// not needed: the file is parsed.
func TestDeployDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms, runs, copies []string
	instr := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			froms = append(froms, rest)
		case "RUN":
			runs = append(runs, rest)
		case "COPY":
			copies = append(copies, rest)
		case "WORKDIR", "EXPOSE", "VOLUME", "USER", "ENTRYPOINT", "CMD", "ARG", "ENV", "LABEL":
			instr[strings.ToUpper(word)] = rest
		default:
			t.Fatalf("Dockerfile: unknown instruction %q", line)
		}
	}
	if len(froms) != 2 {
		t.Fatalf("Dockerfile has %d FROM lines, want a build stage and a runtime stage", len(froms))
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m := regexp.MustCompile(`^golang:(\d+\.\d+)\S* AS build$`).FindStringSubmatch(froms[0]); m == nil || m[1] != string(goVersion[1]) {
		t.Fatalf("build stage FROM %q, want golang:%s... AS build", froms[0], goVersion[1])
	}
	if !strings.HasPrefix(froms[1], "gcr.io/distroless/static") && froms[1] != "scratch" {
		t.Fatalf("runtime stage FROM %q, want distroless static or scratch", froms[1])
	}

	// The build command is the README's, but for where it writes.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rx := regexp.MustCompile(`CGO_ENABLED=0 go build .*?-o (\S+) \./cmd/sluice`)
	inReadme := rx.FindStringSubmatch(string(readme))
	if inReadme == nil {
		t.Fatal("README.md has no `CGO_ENABLED=0 go build ... -o sluice ./cmd/sluice` command")
	}
	var built string
	for _, r := range runs {
		if m := rx.FindStringSubmatch(r); m != nil {
			if strings.Replace(m[0], "-o "+m[1], "-o OUT", 1) != strings.Replace(inReadme[0], "-o "+inReadme[1], "-o OUT", 1) {
				t.Fatalf("Dockerfile builds with %q, README says %q", m[0], inReadme[0])
			}
			built = m[1]
		}
	}
	if built == "" {
		t.Fatalf("no RUN line builds ./cmd/sluice with CGO_ENABLED=0: %q", runs)
	}
	copied := false
	for _, c := range copies {
		f := strings.Fields(c)
		if f[0] == "--from=build" && f[1] == built {
			copied = true
		}
		if !strings.HasPrefix(f[0], "--") && f[0] != "." {
			for _, src := range f[:len(f)-1] {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Fatalf("COPY %s: %v", src, err)
				}
			}
		}
	}
	if !copied {
		t.Fatalf("the runtime stage does not copy %s from the build stage: %q", built, copies)
	}
	// ENTRYPOINT and CMD are JSON arrays, and CMD is a serve command line.
	var entry, cmdline []string
	if err := json.Unmarshal([]byte(instr["ENTRYPOINT"]), &entry); err != nil || len(entry) != 1 {
		t.Fatalf("ENTRYPOINT %q: %v", instr["ENTRYPOINT"], err)
	}
	if err := json.Unmarshal([]byte(instr["CMD"]), &cmdline); err != nil || len(cmdline) < 1 || cmdline[0] != "serve" {
		t.Fatalf("CMD %q: %v", instr["CMD"], err)
	}
	help := cli(t, "127.0.0.1:1", "", "serve", "--help")
	for _, a := range cmdline[1:] {
		if strings.HasPrefix(a, "--") && !strings.Contains(help, a+" ") {
			t.Fatalf("CMD passes %s, which sluice serve --help does not list", a)
		}
	}
}
