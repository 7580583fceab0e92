package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// adminCall sends method path with body (nil: none) to the HTTP admin
// listener and decodes the JSON answer into out (nil: none). It returns
// the status code and the "error" field of an error answer.
func adminCall(t *testing.T, httpAddr, method, path, body string, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+httpAddr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, raw)
	}
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal(raw, &e)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, e.Error
}

// brokerStatus is GET /v1/broker.
type brokerStatus struct {
	NodeID       int32  `json:"node_id"`
	ClusterID    string `json:"cluster_id"`
	Version      string `json:"version"`
	GoVersion    string `json:"go_version"`
	HTTPAddress  string `json:"http_address"`
	Ready        bool   `json:"ready"`
	ControllerID int32  `json:"controller_id"`
	IsController bool   `json:"is_controller"`
	Fenced       bool   `json:"fenced"`
	Maintenance  bool   `json:"maintenance"`
	Partitions   int    `json:"partitions"`
	Leaders      int    `json:"leaders"`
	CommandLevel int    `json:"metadata_command_level"`
	Uptime       int64  `json:"uptime_seconds"`
	Listeners    []struct {
		Name             string `json:"name"`
		SecurityProtocol string `json:"security_protocol"`
		Address          string `json:"address"`
		Advertised       string `json:"advertised"`
	} `json:"listeners"`
}

type maintenanceStatus struct {
	Maintenance bool `json:"maintenance"`
	Leaders     int  `json:"leaders"`
	Leaderless  int  `json:"leaderless"`
}

// TestAdminAPIBrokerAndLogDirs: GET /v1/broker describes a running
// single broker (node, version, its listener, ready, controller, the
// partitions it leads); GET /v1/log-dirs its data directory with the
// partitions in it and their bytes; unknown paths, methods and bad bodies
// get JSON errors; maintenance is refused with nobody to take over.
func TestAdminAPIBrokerAndLogDirs(t *testing.T) {
	t.Parallel()
	b := startObservedBroker(t)
	httpAddr := b.node.HTTPAddr()
	b.createTopic("admin-api", 3, nil)
	ctx := testContext(t, 30*time.Second)
	cl := b.client(kgo.DefaultProduceTopic("admin-api"))
	if err := cl.ProduceSync(ctx, kgo.StringRecord("hello")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitReadyz(t, httpAddr)

	var st brokerStatus
	if code, msg := adminCall(t, httpAddr, "GET", "/v1/broker", "", &st); code != http.StatusOK {
		t.Fatalf("GET /v1/broker = %d %s", code, msg)
	}
	if st.NodeID != 1 || !st.Ready || st.ControllerID != 1 || !st.IsController || st.Fenced || st.Maintenance ||
		st.ClusterID == "" || st.Version == "" || !strings.HasPrefix(st.GoVersion, "go") || st.HTTPAddress != httpAddr {
		t.Errorf("GET /v1/broker = %+v", st)
	}
	if len(st.Listeners) != 1 || st.Listeners[0].Address != b.addr || st.Listeners[0].Advertised != b.addr ||
		st.Listeners[0].SecurityProtocol != "PLAINTEXT" {
		t.Errorf("listeners %+v, want one PLAINTEXT on %s", st.Listeners, b.addr)
	}
	if st.Partitions < 3 || st.Leaders != st.Partitions {
		t.Errorf("partitions %d, leaders %d: want at least the 3 of admin-api, all led", st.Partitions, st.Leaders)
	}
	if st.CommandLevel != 3 {
		t.Errorf("metadata_command_level %d, want 3: the one broker runs this software", st.CommandLevel)
	}

	var dirs struct {
		LogDirs []struct {
			Path        string `json:"path"`
			Online      bool   `json:"online"`
			Partitions  int    `json:"partitions"`
			SizeBytes   int64  `json:"size_bytes"`
			TotalBytes  int64  `json:"total_bytes"`
			UsableBytes int64  `json:"usable_bytes"`
		} `json:"log_dirs"`
	}
	if code, msg := adminCall(t, httpAddr, "GET", "/v1/log-dirs", "", &dirs); code != http.StatusOK {
		t.Fatalf("GET /v1/log-dirs = %d %s", code, msg)
	}
	abs, _ := filepath.Abs(b.dataDir)
	if len(dirs.LogDirs) != 1 {
		t.Fatalf("log dirs %+v, want the data directory", dirs.LogDirs)
	}
	d := dirs.LogDirs[0]
	if d.Path != abs || !d.Online || d.Partitions != st.Partitions || d.SizeBytes <= 0 || d.TotalBytes <= 0 ||
		d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
		t.Errorf("log dir %+v, want %s online with %d partitions", d, abs, st.Partitions)
	}

	var reps struct {
		Replicas []replicaState `json:"replicas"`
	}
	if code, msg := adminCall(t, httpAddr, "GET", "/v1/replicas?topic=admin-api", "", &reps); code != http.StatusOK {
		t.Fatalf("GET /v1/replicas = %d %s", code, msg)
	}
	var hws int64
	for i, r := range reps.Replicas {
		if r.Topic != "admin-api" || r.Partition != int32(i) || !r.Leader || r.HighWatermark != r.LogEndOffset || r.LogDir != abs {
			t.Errorf("replica %+v, want partition %d of admin-api led here, in %s, high watermark at its end", r, i, abs)
		}
		hws += r.HighWatermark
	}
	if len(reps.Replicas) != 3 || hws != 1 {
		t.Errorf("GET /v1/replicas = %+v, want the 3 partitions of admin-api holding the 1 record", reps.Replicas)
	}

	for _, tc := range []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"GET", "/v1/nothing", "", http.StatusNotFound, "no admin endpoint"},
		{"DELETE", "/v1/broker", "", http.StatusMethodNotAllowed, "allowed: GET"},
		{"POST", "/v1/replicas", "", http.StatusMethodNotAllowed, "allowed: GET"},
		{"GET", "/v1/config/reload", "", http.StatusMethodNotAllowed, "allowed: POST"},
		{"POST", "/v1/maintenance", "{", http.StatusBadRequest, "request body"},
		{"POST", "/v1/maintenance", `{"enable": true}`, http.StatusBadRequest, "unknown field"},
		{"POST", "/v1/maintenance", `{}`, http.StatusBadRequest, `want {"enabled": true}`},
		{"POST", "/v1/maintenance", `{"enabled": "yes"}`, http.StatusBadRequest, "request body"},
		{"POST", "/v1/maintenance", `{"enabled": true}{}`, http.StatusBadRequest, "more than one"},
		{"POST", "/v1/maintenance", `{"enabled": true}`, http.StatusConflict, "no other live broker"},
		{"POST", "/v1/maintenance", "[" + strings.Repeat(`"x",`, 20000) + `"x"]`, http.StatusRequestEntityTooLarge, "too large"},
		{"POST", "/v1/config/reload", "", http.StatusConflict, "without a settings file"},
	} {
		code, msg := adminCall(t, httpAddr, tc.method, tc.path, tc.body, nil)
		if code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s %s %.40q = %d %q, want %d %q", tc.method, tc.path, tc.body, code, msg, tc.code, tc.msg)
		}
	}
	// Refused maintenance changed nothing.
	var m maintenanceStatus
	if code, _ := adminCall(t, httpAddr, "GET", "/v1/maintenance", "", &m); code != http.StatusOK || m.Maintenance || m.Leaders != st.Leaders {
		t.Errorf("GET /v1/maintenance = %d %+v", code, m)
	}
}

// startReloadableBroker starts a broker whose settings come from a
// properties file holding initial, reloaded from it by POST
// /v1/config/reload; write rewrites the file.
func startReloadableBroker(t *testing.T, initial string) (b *broker, file string, write func(string)) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "broker.properties")
	write = func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(initial)
	b = &broker{t: t, dataDir: t.TempDir()}
	settings, err := readPropertiesFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b.cfg.NodeID, b.cfg.Listen, b.cfg.DataDir, b.cfg.Settings, b.cfg.Logger = 1, "127.0.0.1:0", b.dataDir, settings, testLogger(t)
	b.cfg.ReloadSettings = func() (string, map[string]string, error) {
		s, err := readPropertiesFile(file)
		return file, s, err
	}
	b.start()
	t.Cleanup(b.stop)
	return b, file, write
}

// TestAdminAPIConfigReload starts a broker whose settings come from a
// file, changes the file, and reloads: a changed dynamic setting
// (log.retention.ms) becomes the broker's dynamic config, a changed
// read-only one (num.partitions) is reported as needing a restart,
// an invalid value is refused with nothing applied, and a setting taken
// out of the file again is removed.
func TestAdminAPIConfigReload(t *testing.T) {
	t.Parallel()
	b, file, write := startReloadableBroker(t, "sluice.http.listen=127.0.0.1:0\nlog.retention.ms=3600000\nnum.partitions=1\n")
	httpAddr := b.node.HTTPAddr()
	ctx := testContext(t, 30*time.Second)
	retention := func() (string, string) {
		t.Helper()
		rc, err := b.admin().DescribeBrokerConfigs(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		c, err := rc.On("1", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range c.Configs {
			if kv.Key == "log.retention.ms" {
				return kv.MaybeValue(), kv.Source.String()
			}
		}
		t.Fatal("no log.retention.ms in the broker's configs")
		return "", ""
	}
	if v, src := retention(); v != "3600000" || src != "STATIC_BROKER_CONFIG" {
		t.Fatalf("log.retention.ms at start = %s (%s)", v, src)
	}

	type reloadResult struct {
		File            string             `json:"file"`
		Applied         map[string]*string `json:"applied"`
		RestartRequired []string           `json:"restart_required"`
		Unchanged       int                `json:"unchanged"`
	}
	reload := func() (int, string, reloadResult) {
		t.Helper()
		var r reloadResult
		code, msg := adminCall(t, httpAddr, "POST", "/v1/config/reload", "", &r)
		return code, msg, r
	}
	// Nothing changed.
	if code, msg, r := reload(); code != 200 || len(r.Applied) != 0 || len(r.RestartRequired) != 0 || r.Unchanged != 3 || r.File != file {
		t.Fatalf("reload of the same file = %d %s %+v", code, msg, r)
	}
	// A dynamic and a read-only setting changed.
	write("sluice.http.listen=127.0.0.1:0\nlog.retention.ms=7200000\nnum.partitions=4\n")
	code, msg, r := reload()
	if code != 200 || len(r.Applied) != 1 || r.Applied["log.retention.ms"] == nil || *r.Applied["log.retention.ms"] != "7200000" ||
		strings.Join(r.RestartRequired, ",") != "num.partitions" {
		t.Fatalf("reload = %d %s %+v", code, msg, r)
	}
	if v, src := retention(); v != "7200000" || src != "DYNAMIC_BROKER_CONFIG" {
		t.Fatalf("log.retention.ms after reload = %s (%s)", v, src)
	}
	// An invalid value: refused, nothing applied.
	write("sluice.http.listen=127.0.0.1:0\nlog.retention.ms=soon\nlog.cleaner.backoff.ms=100\n")
	if code, msg, _ := reload(); code != http.StatusBadRequest || !strings.Contains(msg, "log.retention.ms") {
		t.Fatalf("reload with an invalid value = %d %q", code, msg)
	}
	if v, _ := retention(); v != "7200000" {
		t.Fatalf("log.retention.ms after a refused reload = %s", v)
	}
	// An unreadable file: refused.
	write("not a property line\n")
	if code, msg, _ := reload(); code != http.StatusBadRequest || !strings.Contains(msg, "want name=value") {
		t.Fatalf("reload of a bad file = %d %q", code, msg)
	}
	// Back to the start: the reload's dynamic value is removed and the
	// static one shows again.
	write("sluice.http.listen=127.0.0.1:0\nlog.retention.ms=3600000\nnum.partitions=1\n")
	if code, msg, r := reload(); code != 200 || len(r.Applied) != 1 || r.Applied["log.retention.ms"] != nil {
		t.Fatalf("reload back = %d %s %+v", code, msg, r)
	}
	if v, src := retention(); v != "3600000" || src != "STATIC_BROKER_CONFIG" {
		t.Fatalf("log.retention.ms after reloading the first file = %s (%s)", v, src)
	}
}

// readPropertiesFile reads name=value lines, as sluice serve
// --config-file does.
func readPropertiesFile(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for i, line := range bytes.Split(raw, []byte("\n")) {
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want name=value", path, i+1)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m, nil
}

// TestAdminAPIConfigReloadServe: sluice serve --config-file reloads that
// file on POST /v1/config/reload, with its -c settings still on top.
func TestAdminAPIConfigReloadServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "broker.properties")
	if err := os.WriteFile(file, []byte("log.retention.ms=3600000\nlog.cleaner.backoff.ms=15000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeLoopbackAddr(t)
	p := startProcess(t, filepath.Join(dir, "data"), "127.0.0.1:0", "--config-file", file, "--http-listen", httpAddr,
		"-c", "log.cleaner.backoff.ms=20000")
	waitReadyz(t, httpAddr)
	// The file changes both; the flag still wins for the second.
	if err := os.WriteFile(file, []byte("log.retention.ms=60000\nlog.cleaner.backoff.ms=100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var r struct {
		File      string             `json:"file"`
		Applied   map[string]*string `json:"applied"`
		Unchanged int                `json:"unchanged"`
	}
	if code, msg := adminCall(t, httpAddr, "POST", "/v1/config/reload", "", &r); code != http.StatusOK {
		t.Fatalf("reload: %d %s\n%s", code, msg, p.logs())
	}
	if r.File != file || len(r.Applied) != 1 || r.Applied["log.retention.ms"] == nil || *r.Applied["log.retention.ms"] != "60000" || r.Unchanged != 1 {
		t.Fatalf("reload = %+v", r)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rc, err := kadm.NewClient(cl).DescribeBrokerConfigs(testContext(t, 10*time.Second), 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On("1", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range c.Configs {
		if kv.Key == "log.retention.ms" && (kv.MaybeValue() != "60000" || kv.Source.String() != "DYNAMIC_BROKER_CONFIG") {
			t.Errorf("log.retention.ms = %s (%s), want 60000 from the reload", kv.MaybeValue(), kv.Source)
		}
	}
}
