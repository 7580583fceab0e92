package test

import (
	"testing"
)

// sluice quota set|list|delete against a sluice process: values are set
// per entity, listed back (all, or matching the entity flags), removed one
// key or all at once, and mistakes are refused by the broker or the CLI.
func TestCLIQuota(t *testing.T) {
	t.Parallel()
	p := startProcess(t, t.TempDir(), "127.0.0.1:0")
	addr := p.addr

	expectLines(t, "quota set", cli(t, addr, "", "quota", "set", "--client-id", "loader", "producer_byte_rate=1048576", "request_percentage=50"),
		"ENTITY            KEY                 VALUE",
		"client-id=loader  producer_byte_rate  1048576",
		"client-id=loader  request_percentage  50")
	cli(t, addr, "", "quota", "set", "--user", "alice", "--default-client-id", "consumer_byte_rate=2097152")
	cli(t, addr, "", "quota", "set", "--default-user", "producer_byte_rate=10485760")

	expectLines(t, "quota list", cli(t, addr, "", "quota", "list"),
		"ENTITY                          KEY                 VALUE",
		"client-id=loader                producer_byte_rate  1048576",
		"client-id=loader                request_percentage  50",
		"user=<default>                  producer_byte_rate  10485760",
		"user=alice,client-id=<default>  consumer_byte_rate  2097152")
	expectLines(t, "quota list --user alice", cli(t, addr, "", "quota", "list", "--user", "alice", "--output", "json"),
		`[{"entity":"user=alice,client-id=<default>","key":"consumer_byte_rate","value":2097152}]`)
	expectLines(t, "quota list --user alice --strict", cli(t, addr, "", "quota", "list", "--user", "alice", "--strict", "--output", "json"), `[]`)

	expectLines(t, "quota delete one key", cli(t, addr, "", "quota", "delete", "--client-id", "loader", "request_percentage", "--output", "json"),
		`[{"entity":"client-id=loader","key":"producer_byte_rate","value":1048576}]`)
	expectLines(t, "quota delete every key", cli(t, addr, "", "quota", "delete", "--default-user", "--output", "json"), `[]`)
	expectLines(t, "quota list after deletes", cli(t, addr, "", "quota", "list", "--output", "json"),
		`[{"entity":"client-id=loader","key":"producer_byte_rate","value":1048576},{"entity":"user=alice,client-id=<default>","key":"consumer_byte_rate","value":2097152}]`)
	// A table with no rows left would be a bare header: it says so instead.
	expectLines(t, "quota delete the last key", cli(t, addr, "", "quota", "delete", "--user", "alice", "--default-client-id"),
		"user=alice,client-id=<default> has no quotas left")

	cliFails(t, addr, "INVALID_REQUEST", "quota", "set", "--client-id", "loader", "producer_byte_rate=0.5")
	cliFails(t, addr, "INVALID_REQUEST", "quota", "set", "--client-id", "loader", "bogus_rate=1")
	cliFails(t, addr, "INVALID_REQUEST", "quota", "set", "--ip", "10.0.0.1", "producer_byte_rate=1")
	cliMisused(t, addr, "name an entity", "quota", "set", "producer_byte_rate=1")
	cliMisused(t, addr, "not both", "quota", "set", "--user", "a", "--default-user", "producer_byte_rate=1")
	cliMisused(t, addr, "not a number", "quota", "set", "--user", "a", "producer_byte_rate=fast")
}
