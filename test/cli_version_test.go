package test

import (
	"os"
	"runtime"
	"testing"
)

// TestCLIVersionOutputJSON checks that `sluice version --output json`
// prints the build information as JSON, as --json does.
func TestCLIVersionOutputJSON(t *testing.T) {
	t.Parallel()
	env := append(os.Environ(), "SLUICE_BROKERS=", "SLUICE_CONFIG=/dev/null")
	for _, args := range [][]string{{"version", "--output", "json"}, {"version", "--json"}} {
		r := runSluice(t, env, "", args...)
		if r.code != 0 {
			t.Fatalf("sluice %v: exit %d\n%s", args, r.code, r.stderr)
		}
		v := cliJSON[map[string]any](t, "sluice version", r.stdout)
		if v["version"] == "" || v["version"] == nil || v["go_version"] != runtime.Version() || v["platform"] != runtime.GOOS+"/"+runtime.GOARCH {
			t.Fatalf("sluice %v printed %s", args, r.stdout)
		}
	}
}
