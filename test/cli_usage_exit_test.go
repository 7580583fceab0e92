package test

import (
	"os"
	"strings"
	"testing"
)

// TestCLIMisuseExitsTwo checks the README's exit status 2 for a bad
// argument or flag value, with one line on stderr naming what was wrong.
func TestCLIMisuseExitsTwo(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	for _, tc := range []struct {
		want string
		args []string
	}{
		{`"brokr": want broker or topic; did you mean "broker"?`, []string{"config", "get", "brokr", "1"}},
		{`broker "x": want a broker ID`, []string{"config", "get", "broker", "x"}},
		{`config set "foo": want name=value`, []string{"config", "set", "topic", "orders", "foo"}},
		{`--config "foo": want name=value`, []string{"topic", "create", "bad1", "-c", "foo"}},
		{`--set "foo": want name=value`, []string{"topic", "alter-config", "orders", "--set", "foo"}},
	} {
		cliFailsWith(t, 2, b.addr, tc.want, tc.args...)
	}
	env := append(os.Environ(), "SLUICE_BROKERS=", "SLUICE_CONFIG=/dev/null")
	for _, tc := range []struct {
		want string
		args []string
	}{
		{`unknown command "extra"`, []string{"serve", "extra", "--data-dir", t.TempDir()}},
		{`--log-level "bogus": want debug, info, warn or error`, []string{"serve", "--log-level", "bogus", "--data-dir", t.TempDir()}},
		{`--config "foo": want name=value`, []string{"serve", "-c", "foo", "--data-dir", t.TempDir()}},
		// A setting the broker refuses is a bad value too, whether its
		// name or its value is wrong.
		{`unknown config "bogus.setting"`, []string{"serve", "-c", "bogus.setting=1", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http-listen", ""}},
		{`num.partitions: must be a 32-bit integer`, []string{"serve", "-c", "num.partitions=abc", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http-listen", ""}},
		{`node.id "abc": want a node ID`, []string{"serve", "-c", "node.id=abc", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http-listen", ""}},
	} {
		r := runSluice(t, env, "", tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("sluice %s: exit %d, want 2 and %q\nstderr:\n%s", strings.Join(tc.args, " "), r.code, tc.want, r.stderr)
		}
	}
}
