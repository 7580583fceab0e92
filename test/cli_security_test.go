package test

import (
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// securedCluster starts a Sluice broker that authenticates with SASL and
// authorizes with ACLs, admin its super user, and returns its SASL_SSL
// address and the CLI flags that log in there as admin. tls are the TLS
// flags alone, for logging in as someone else.
func securedCluster(t *testing.T) (addr string, admin, tls []string) {
	t.Helper()
	s := startSecured(t, map[string]string{
		"authorizer.class.name": "acl",
		// ANONYMOUS: the harness sets users up over PLAINTEXT.
		"super.users": "User:" + secAdmin + ";User:ANONYMOUS",
	})
	tls = []string{"--tls-ca", s.certs.CA}
	return s.saslSSL, append([]string{"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", secAdmin, "--sasl-password", secAdminPass}, tls...), tls
}

func TestCLIUser(t *testing.T) {
	addr, admin, tls := securedCluster(t)
	as := func(args ...string) []string { return append(args, admin...) }
	login := func(mech, user, pass string, args ...string) []string {
		return append(append(args, "--sasl-mechanism", mech, "--sasl-user", user, "--sasl-password", pass), tls...)
	}

	out := cli(t, addr, "", as("user", "create", "alice", "--password", "alice-secret")...)
	expectLines(t, "user create", out, "created user alice (SCRAM-SHA-256, SCRAM-SHA-512, 8192 iterations)")
	// The password from the environment, then from standard input.
	t.Setenv("SLUICE_USER_PASSWORD", "bob-secret")
	cli(t, addr, "", as("user", "create", "bob", "--mechanism", "SCRAM-SHA-512", "--iterations", "4096")...)
	t.Setenv("SLUICE_USER_PASSWORD", "")
	cli(t, addr, "carol-secret\n", as("user", "create", "carol", "--mechanism", "scram-sha-256")...)

	expectLines(t, "user list", cli(t, addr, "", as("user", "list")...),
		"USER      MECHANISM      ITERATIONS",
		"admin     SCRAM-SHA-512  4096",
		"alice     SCRAM-SHA-256  8192",
		"alice     SCRAM-SHA-512  8192",
		"bob       SCRAM-SHA-512  4096",
		"carol     SCRAM-SHA-256  8192",
		"scram256  SCRAM-SHA-256  4096",
		"scram512  SCRAM-SHA-512  4096")
	var users []struct {
		User        string `json:"user"`
		Credentials []struct {
			Mechanism  string `json:"mechanism"`
			Iterations int32  `json:"iterations"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(cli(t, addr, "", as("user", "list", "bob", "--output", "json")...)), &users); err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].User != "bob" || len(users[0].Credentials) != 1 ||
		users[0].Credentials[0].Mechanism != "SCRAM-SHA-512" || users[0].Credentials[0].Iterations != 4096 {
		t.Fatalf("user list bob --output json: %+v", users)
	}

	// Each new user logs in with its password and mechanism, and not with
	// a wrong password. (The authorizer lets them see no topics; logging
	// in is what is checked.)
	for _, c := range []struct{ mech, user, pass string }{
		{"SCRAM-SHA-256", "alice", "alice-secret"},
		{"SCRAM-SHA-512", "alice", "alice-secret"},
		{"SCRAM-SHA-512", "bob", "bob-secret"},
		{"SCRAM-SHA-256", "carol", "carol-secret"},
	} {
		cli(t, addr, "", login(c.mech, c.user, c.pass, "topic", "list")...)
	}
	cliFails(t, addr, "Authentication failed", login("SCRAM-SHA-256", "carol", "wrong", "topic", "list", "--timeout", "5s")...)

	// A new password replaces the old one.
	cli(t, addr, "", as("user", "create", "carol", "--mechanism", "SCRAM-SHA-256", "--password", "carol-2")...)
	cli(t, addr, "", login("SCRAM-SHA-256", "carol", "carol-2", "topic", "list")...)
	cliFails(t, addr, "Authentication failed", login("SCRAM-SHA-256", "carol", "carol-secret", "topic", "list", "--timeout", "5s")...)

	// Delete one mechanism, then the rest.
	expectLines(t, "user delete --mechanism", cli(t, addr, "", as("user", "delete", "alice", "--mechanism", "SCRAM-SHA-256")...),
		"deleted user alice (SCRAM-SHA-256)")
	cliFails(t, addr, "Authentication failed", login("SCRAM-SHA-256", "alice", "alice-secret", "topic", "list", "--timeout", "5s")...)
	cli(t, addr, "", login("SCRAM-SHA-512", "alice", "alice-secret", "topic", "list")...)
	expectLines(t, "user delete", cli(t, addr, "", as("user", "delete", "alice", "--output", "json")...),
		`{"deleted":true,"mechanisms":["SCRAM-SHA-512"],"user":"alice"}`)
	cliFails(t, addr, "Authentication failed", login("SCRAM-SHA-512", "alice", "alice-secret", "topic", "list", "--timeout", "5s")...)
	cliFails(t, addr, "RESOURCE_NOT_FOUND", as("user", "delete", "alice")...)
	cliFails(t, addr, "RESOURCE_NOT_FOUND", as("user", "list", "alice")...)

	// Only a principal allowed to ALTER the cluster manages users.
	cliFails(t, addr, "CLUSTER_AUTHORIZATION_FAILED", login("SCRAM-SHA-512", "bob", "bob-secret", "user", "create", "eve", "--password", "x")...)
	cliFails(t, addr, "CLUSTER_AUTHORIZATION_FAILED", login("SCRAM-SHA-512", "bob", "bob-secret", "user", "list")...)
	// cluster health without DESCRIBE on the cluster: the verdict from
	// Metadata, the log directories left unchecked.
	var health struct {
		Healthy        bool `json:"healthy"`
		LogDirsChecked bool `json:"log_dirs_checked"`
	}
	if err := json.Unmarshal([]byte(cli(t, addr, "", login("SCRAM-SHA-512", "bob", "bob-secret", "cluster", "health", "--json")...)), &health); err != nil {
		t.Fatal(err)
	}
	if !health.Healthy || health.LogDirsChecked {
		t.Fatalf("cluster health as bob: %+v, want healthy with the log directories unchecked", health)
	}
	if err := json.Unmarshal([]byte(cli(t, addr, "", as("cluster", "health", "--json")...)), &health); err != nil || !health.LogDirsChecked {
		t.Fatalf("cluster health as admin: %+v (%v), want the log directories checked", health, err)
	}

	// A PLAIN users file line: a bcrypt hash of the password, never the
	// password; no broker involved.
	line := strings.TrimSpace(cli(t, "127.0.0.1:1", "erin-secret\n", "user", "plain-hash", "erin", "--cost", "4"))
	user, hash, _ := strings.Cut(line, ":")
	if user != "erin" || strings.Contains(line, "erin-secret") || bcrypt.CompareHashAndPassword([]byte(hash), []byte("erin-secret")) != nil {
		t.Fatalf("user plain-hash printed %q, want erin:<bcrypt hash of erin-secret>", line)
	}
	cliMisused(t, addr, "without ':'", "user", "plain-hash", "a:b", "--password", "x")

	cliMisused(t, addr, "no password", as("user", "create", "dave")...)
	cliMisused(t, addr, "want SCRAM-SHA-256 or SCRAM-SHA-512", as("user", "create", "dave", "--password", "x", "--mechanism", "PLAIN")...)
	cliMisused(t, addr, "want 4096 to 16384", as("user", "create", "dave", "--password", "x", "--iterations", "100")...)
}

func TestCLIACL(t *testing.T) {
	addr, admin, tls := securedCluster(t)
	as := func(args ...string) []string { return append(args, admin...) }
	login := func(mech, user, pass string, args ...string) []string {
		return append(append(args, "--sasl-mechanism", mech, "--sasl-user", user, "--sasl-password", pass), tls...)
	}
	cli(t, addr, "", as("user", "create", "alice", "--password", "alice-secret")...)
	cli(t, addr, "", as("topic", "create", "orders", "--partitions", "1")...)
	cli(t, addr, "", as("topic", "create", "orders-eu", "--partitions", "1")...)
	alice := login("SCRAM-SHA-512", "alice", "alice-secret")
	aliceSees := func() string {
		t.Helper()
		var names []string
		for _, line := range strings.Split(strings.TrimSpace(cli(t, addr, "", append([]string{"topic", "list"}, alice...)...)), "\n")[1:] {
			names = append(names, strings.Fields(line)[0])
		}
		return strings.Join(names, ",")
	}
	if got := aliceSees(); got != "" {
		t.Fatalf("alice, with no ACLs, sees topics %q", got)
	}

	out := cli(t, addr, "", as("acl", "create", "--allow-principal", "User:alice", "--operation", "read,describe", "--topic", "orders")...)
	expectLines(t, "acl create", out,
		"RESOURCE-TYPE  RESOURCE-NAME  PATTERN  PRINCIPAL   PERMISSION  OPERATION  HOST",
		"TOPIC          orders         LITERAL  User:alice  ALLOW       DESCRIBE   *",
		"TOPIC          orders         LITERAL  User:alice  ALLOW       READ       *")
	if got := aliceSees(); got != "orders" {
		t.Fatalf("alice, allowed to describe orders, sees topics %q", got)
	}
	// A bare name is a User: principal; a prefixed ACL covers orders-eu.
	cli(t, addr, "", as("acl", "create", "--allow-principal", "alice", "--operation", "describe", "--topic", "orders-", "--resource-pattern-type", "prefixed")...)
	cli(t, addr, "", as("acl", "create", "--deny-principal", "User:mallory", "--allow-principal", "User:bob", "--operation", "write",
		"--group", "billing", "--transactional-id", "tx-1", "--host", "10.0.0.1")...)
	cli(t, addr, "", as("acl", "create", "--allow-principal", "User:ops", "--operation", "alter-configs", "--cluster")...)
	if got := aliceSees(); got != "orders,orders-eu" {
		t.Fatalf("alice, allowed to describe orders and orders-*, sees topics %q", got)
	}

	expectLines(t, "acl list", cli(t, addr, "", as("acl", "list")...),
		"RESOURCE-TYPE     RESOURCE-NAME  PATTERN   PRINCIPAL     PERMISSION  OPERATION      HOST",
		"CLUSTER           kafka-cluster  LITERAL   User:ops      ALLOW       ALTER_CONFIGS  *",
		"GROUP             billing        LITERAL   User:bob      ALLOW       WRITE          10.0.0.1",
		"GROUP             billing        LITERAL   User:mallory  DENY        WRITE          10.0.0.1",
		"TOPIC             orders         LITERAL   User:alice    ALLOW       DESCRIBE       *",
		"TOPIC             orders         LITERAL   User:alice    ALLOW       READ           *",
		"TOPIC             orders-        PREFIXED  User:alice    ALLOW       DESCRIBE       *",
		"TRANSACTIONAL_ID  tx-1           LITERAL   User:bob      ALLOW       WRITE          10.0.0.1",
		"TRANSACTIONAL_ID  tx-1           LITERAL   User:mallory  DENY        WRITE          10.0.0.1")

	// Filters: by principal, by resource, and match (every ACL that
	// applies to a name, prefixed ones included).
	type acl struct {
		Principal, Host, Operation, Permission string
		ResourceType                           string `json:"resource_type"`
		ResourceName                           string `json:"resource_name"`
		PatternType                            string `json:"pattern_type"`
	}
	list := func(args ...string) []acl {
		t.Helper()
		var acls []acl
		out := cli(t, addr, "", as(append([]string{"acl", "list", "--output", "json"}, args...)...)...)
		if err := json.Unmarshal([]byte(out), &acls); err != nil {
			t.Fatalf("acl list %v: %v\n%s", args, err, out)
		}
		return acls
	}
	if got := list("--principal", "User:mallory"); len(got) != 2 || got[0].Permission != "DENY" || got[0].Host != "10.0.0.1" {
		t.Fatalf("acl list --principal User:mallory: %+v", got)
	}
	if got := list("--host", "10.0.0.1"); len(got) != 4 {
		t.Fatalf("acl list --host 10.0.0.1: %+v", got)
	}
	if got := list("--principal", "bob", "--host", "10.0.0.1", "--operation", "write"); len(got) != 2 || got[0].Principal != "User:bob" || got[1].Principal != "User:bob" {
		t.Fatalf("acl list --principal bob --host 10.0.0.1 --operation write: %+v", got)
	}
	if got := list("--topic", "orders-eu", "--resource-pattern-type", "match"); len(got) != 1 ||
		got[0] != (acl{"User:alice", "*", "DESCRIBE", "ALLOW", "TOPIC", "orders-", "PREFIXED"}) {
		t.Fatalf("acl list --topic orders-eu --resource-pattern-type match: %+v", got)
	}
	if got := list("--topic", "orders", "--resource-pattern-type", "match"); len(got) != 2 ||
		got[0] != (acl{"User:alice", "*", "DESCRIBE", "ALLOW", "TOPIC", "orders", "LITERAL"}) {
		t.Fatalf("acl list --topic orders --resource-pattern-type match: %+v", got)
	}
	if got := list("--topic", "orders-", "--resource-pattern-type", "prefixed"); len(got) != 1 ||
		got[0] != (acl{"User:alice", "*", "DESCRIBE", "ALLOW", "TOPIC", "orders-", "PREFIXED"}) {
		t.Fatalf("acl list --topic orders- --resource-pattern-type prefixed: %+v", got)
	}
	if got := list("--cluster"); len(got) != 1 || got[0].ResourceName != "kafka-cluster" || got[0].Operation != "ALTER_CONFIGS" {
		t.Fatalf("acl list --cluster: %+v", got)
	}

	// Delete one operation of one principal, then the rest of a resource.
	expectLines(t, "acl delete", cli(t, addr, "", as("acl", "delete", "--allow-principal", "User:alice", "--operation", "read", "--topic", "orders")...),
		"RESOURCE-TYPE  RESOURCE-NAME  PATTERN  PRINCIPAL   PERMISSION  OPERATION  HOST",
		"TOPIC          orders         LITERAL  User:alice  ALLOW       READ       *")
	if got := list("--topic", "orders"); len(got) != 1 || got[0].Operation != "DESCRIBE" {
		t.Fatalf("after deleting READ, acl list --topic orders: %+v", got)
	}
	cli(t, addr, "", as("acl", "delete", "--topic", "orders-", "--resource-pattern-type", "prefixed")...)
	if got := aliceSees(); got != "orders" {
		t.Fatalf("alice, allowed to describe orders only, sees topics %q", got)
	}
	if got := list("--group", "billing", "--transactional-id", "tx-1"); len(got) != 4 {
		t.Fatalf("acl list --group billing --transactional-id tx-1: %+v", got)
	}
	cli(t, addr, "", as("acl", "delete", "--group", "billing", "--transactional-id", "tx-1", "--output", "json")...)
	if got := list(); len(got) != 2 {
		t.Fatalf("acl list after deletes: %+v", got)
	}

	// alice may not change ACLs.
	cliFails(t, addr, "CLUSTER_AUTHORIZATION_FAILED", append([]string{"acl", "create", "--allow-principal", "User:alice", "--operation", "all", "--cluster"}, alice...)...)

	cliMisused(t, addr, "give --allow-principal or --deny-principal", as("acl", "create", "--operation", "read", "--topic", "x")...)
	cliMisused(t, addr, "give a resource", as("acl", "create", "--allow-principal", "alice", "--operation", "read")...)
	cliMisused(t, addr, "--operation is required", as("acl", "create", "--allow-principal", "alice", "--topic", "x")...)
	cliMisused(t, addr, "want read, write", as("acl", "create", "--allow-principal", "alice", "--topic", "x", "--operation", "fly")...)
	cliMisused(t, addr, "created literal or prefixed", as("acl", "create", "--allow-principal", "alice", "--topic", "x", "--operation", "read", "--resource-pattern-type", "match")...)
	cliMisused(t, addr, "give a resource", as("acl", "delete", "--allow-principal", "alice")...)

	// --producer and --consumer grant what kafka-acls.sh grants.
	expectLines(t, "acl create --producer", cli(t, addr, "", as("acl", "create", "--allow-principal", "etl", "--producer", "--idempotent",
		"--topic", "etl-", "--transactional-id", "etl-", "--resource-pattern-type", "prefixed")...),
		"RESOURCE-TYPE     RESOURCE-NAME  PATTERN   PRINCIPAL  PERMISSION  OPERATION         HOST",
		"CLUSTER           kafka-cluster  LITERAL   User:etl   ALLOW       IDEMPOTENT_WRITE  *",
		"TOPIC             etl-           PREFIXED  User:etl   ALLOW       CREATE            *",
		"TOPIC             etl-           PREFIXED  User:etl   ALLOW       DESCRIBE          *",
		"TOPIC             etl-           PREFIXED  User:etl   ALLOW       WRITE             *",
		"TRANSACTIONAL_ID  etl-           PREFIXED  User:etl   ALLOW       DESCRIBE          *",
		"TRANSACTIONAL_ID  etl-           PREFIXED  User:etl   ALLOW       WRITE             *")
	expectLines(t, "acl create --consumer", cli(t, addr, "", as("acl", "create", "--allow-principal", "alice", "--consumer", "--topic", "orders-eu", "--group", "eu")...),
		"RESOURCE-TYPE  RESOURCE-NAME  PATTERN  PRINCIPAL   PERMISSION  OPERATION  HOST",
		"GROUP          eu             LITERAL  User:alice  ALLOW       READ       *",
		"TOPIC          orders-eu      LITERAL  User:alice  ALLOW       DESCRIBE   *",
		"TOPIC          orders-eu      LITERAL  User:alice  ALLOW       READ       *")
	// ... and are enough: alice consumes orders-eu in group eu.
	cli(t, addr, "a:1\nb:2\n", as("produce", "orders-eu", "--key-separator", ":")...)
	expectLines(t, "consume as alice", cli(t, addr, "", append([]string{"consume", "orders-eu", "--group", "eu", "-n", "2", "--format", "%k=%v"}, alice...)...), "a=1", "b=2")
	cliMisused(t, addr, "--consumer needs --topic and --group", as("acl", "create", "--allow-principal", "alice", "--consumer", "--topic", "x")...)
	cliMisused(t, addr, "stand for --operation", as("acl", "create", "--allow-principal", "alice", "--producer", "--topic", "x", "--operation", "read")...)
	cliMisused(t, addr, "--idempotent goes with --producer", as("acl", "create", "--allow-principal", "alice", "--operation", "read", "--topic", "x", "--idempotent")...)
}
