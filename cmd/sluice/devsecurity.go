package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/sluice-io/sluice/internal/devcert"
	"github.com/sluice-io/sluice/internal/node"
)

// devSecurity is what `sluice serve --dev-security` sets up in the data
// directory: a CA, a server certificate for the loopback names (and the
// listen host), a client certificate, and an admin user with a generated
// password. The broker then serves only SASL_SSL (SCRAM-SHA-512 and
// SCRAM-SHA-256) on the Kafka port, with ACLs enforced and admin the one
// super user: the same shape as a production setup, on a laptop. Nothing
// listens in plaintext.
type devSecurity struct {
	certs        devcert.Files
	adminUser    string
	passwordFile string
	password     string
	// created says whether this run generated the certificates and the
	// password (the password is printed only then).
	created bool
}

// devSecurityDir is where --dev-security keeps its files in the data
// directory.
const devSecurityDir = "dev-security"

// setupDevSecurity creates the certificates and admin password under
// dataDir once, or reuses them, for a broker listening on listen and
// advertising advertise.
func setupDevSecurity(dataDir, listen, advertise string, now time.Time) (*devSecurity, error) {
	dir := filepath.Join(dataDir, devSecurityDir)
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	for _, addr := range []string{listen, advertise} {
		if h, _, err := net.SplitHostPort(addr); err == nil && h != "" && !slices.Contains(hosts, h) {
			if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
				hosts = append(hosts, h)
			}
		}
	}
	certs, created, err := devcert.Ensure(dir, now, "admin", hosts...)
	if err != nil {
		return nil, fmt.Errorf("--dev-security: %w", err)
	}
	d := &devSecurity{certs: certs, adminUser: "admin", passwordFile: filepath.Join(dir, "admin.password"), created: created}
	b, err := os.ReadFile(d.passwordFile)
	switch {
	case err == nil:
		d.password = strings.TrimSpace(string(b))
		if d.password == "" {
			return nil, fmt.Errorf("--dev-security: %s is empty; remove it to generate a new password", d.passwordFile)
		}
	case errors.Is(err, os.ErrNotExist) && !created:
		// The cluster made admin's credentials from the lost password
		// and keeps them (the bootstrap admin is created only once).
		return nil, fmt.Errorf("--dev-security: %s is missing but the certificates are there: admin keeps the password it was created with; start over with an empty data directory", d.passwordFile)
	case errors.Is(err, os.ErrNotExist):
		raw := make([]byte, 18)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("--dev-security: generate a password: %w", err)
		}
		d.password = base64.RawURLEncoding.EncodeToString(raw)
		if err := os.WriteFile(d.passwordFile, []byte(d.password+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("--dev-security: %w", err)
		}
		d.created = true
	default:
		return nil, fmt.Errorf("--dev-security: %w", err)
	}
	return d, nil
}

// writePrivate writes text to path with mode 0600, whatever the mode of
// an existing file.
func writePrivate(path, text string) error {
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("--dev-security: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("--dev-security: %w", err)
	}
	return nil
}

// applyDevSecurity is serve's --dev-security hook: it sets up the files
// and adds the dev-security broker settings under the user's own (which
// win), and the admin user to bootstrap. The returned function prints the
// client configuration once the node serves: the text banner on stderr, or
// with jsonLog one record through logger, so stderr stays JSON.
func applyDevSecurity(dataDir, listen, advertise string, values map[string]string, bootstrapAdmin *string, logger *slog.Logger, jsonLog bool) (func(*node.Node), error) {
	if *bootstrapAdmin != "" {
		return nil, usageError{errors.New("--dev-security creates its own admin user; drop --bootstrap-admin (or SLUICE_BOOTSTRAP_ADMIN)")}
	}
	d, err := setupDevSecurity(dataDir, listen, advertise, time.Now())
	if err != nil {
		return nil, err
	}
	for k, v := range d.settings(listen, advertise) {
		if _, ok := values[k]; !ok {
			values[k] = v
		}
	}
	*bootstrapAdmin = d.adminUser + ":" + d.password
	return func(n *node.Node) {
		addr := n.ListenerAddr("SASL_SSL")
		if addr == "" {
			addr = n.Addr()
		}
		if advertise != "" {
			addr = advertise
		} else if h, p, err := net.SplitHostPort(addr); err == nil {
			if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
				addr = net.JoinHostPort("127.0.0.1", p)
			}
		}
		err := d.writeClientConfigs(addr)
		if jsonLog {
			if err != nil {
				logger.Error("dev security: client property files not written", "err", err)
			}
			d.logClientConfig(logger, addr)
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sluice:", err)
		}
		d.printClientConfig(os.Stderr, addr)
	}, nil
}

// logClientConfig is printClientConfig as one log record: where to connect,
// as whom, and the files that hold the rest. The password is in it only on
// the run that generated it, as in the banner.
func (d *devSecurity) logClientConfig(logger *slog.Logger, bootstrap string) {
	attrs := []any{
		"bootstrap", bootstrap, "security_protocol", "SASL_SSL", "sasl_mechanisms", "SCRAM-SHA-512,SCRAM-SHA-256",
		"acls", "enforced", "user", d.adminUser,
	}
	if d.created {
		attrs = append(attrs, "password", d.password)
	}
	attrs = append(attrs, "password_file", d.passwordFile, "ca", d.certs.CA, "dir", d.certs.Dir,
		"client_properties", filepath.Join(d.certs.Dir, "client.properties"),
		"librdkafka_properties", filepath.Join(d.certs.Dir, "librdkafka.properties"),
		"sluice_cli", d.renderWith("sluice -b {{.Bootstrap}} --tls-ca {{.CA}} --sasl-mechanism SCRAM-SHA-512 --sasl-user {{.User}} topic list", bootstrap, ""))
	logger.Info(devSecurityMsg, attrs...)
}

// devSecurityMsg is the msg of the record that gives the client
// configuration with --log-format json.
const devSecurityMsg = "dev security: SASL_SSL with ACLs enforced"

// settings returns the broker settings of a dev-security broker listening
// on listen.
func (d *devSecurity) settings(listen, advertise string) map[string]string {
	s := map[string]string{
		"listeners":                "SASL_SSL://" + listen,
		"ssl.certificate.location": d.certs.ServerCert,
		"ssl.key.location":         d.certs.ServerKey,
		"ssl.ca.location":          d.certs.CA,
		"sasl.enabled.mechanisms":  "SCRAM-SHA-512,SCRAM-SHA-256",
		"authorizer.class.name":    "acl",
		"super.users":              "User:" + d.adminUser,
		// The broker's own connections to its listener (peers,
		// coordinators) log in as admin too.
		"sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
		"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="` +
			d.adminUser + `" password="` + d.password + `";`,
	}
	if advertise != "" {
		s["advertised.listeners"] = "SASL_SSL://" + advertise
	}
	return s
}

// writeClientConfigs writes the client property files beside the
// certificates, 0600 since they hold the password.
func (d *devSecurity) writeClientConfigs(bootstrap string) error {
	for name, text := range map[string]string{
		"client.properties":     d.render(javaProperties, bootstrap),
		"librdkafka.properties": d.render(librdkafkaProperties, bootstrap),
	} {
		if err := writePrivate(filepath.Join(d.certs.Dir, name), text); err != nil {
			return err
		}
	}
	return nil
}

// printClientConfig tells the user how to connect. The password itself is
// printed only on the run that generated it; later runs point at its file.
func (d *devSecurity) printClientConfig(w io.Writer, bootstrap string) {
	shown := d.password
	if !d.created {
		shown = "<in " + d.passwordFile + ">"
	}
	props := func(tmpl string) string {
		text := d.renderWith(tmpl, bootstrap, shown)
		_, body, _ := strings.Cut(text, "\n") // the file's comment line
		return indent(body, "    ")
	}
	banner := d.renderWith(devSecurityBanner, bootstrap, d.password)
	banner = strings.Replace(banner, "{librdkafka}", props(librdkafkaProperties), 1)
	banner = strings.Replace(banner, "{java}", props(javaProperties), 1)
	fmt.Fprint(w, banner)
}

// render fills a template. The files get the password; what is printed
// gets it only on the run that generated it, a pointer to its file after.
func (d *devSecurity) render(tmpl, bootstrap string) string {
	return d.renderWith(tmpl, bootstrap, d.password)
}

func (d *devSecurity) renderWith(tmpl, bootstrap, password string) string {
	var sb strings.Builder
	template.Must(template.New("").Parse(tmpl)).Execute(&sb, map[string]any{
		"Bootstrap": bootstrap, "User": d.adminUser, "Password": password, "PasswordFile": d.passwordFile,
		"ShowPassword": d.created, "CA": d.certs.CA, "Dir": d.certs.Dir,
		"ClientCert": d.certs.ClientCert, "ClientKey": d.certs.ClientKey,
	})
	return sb.String()
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}

const javaProperties = `# Java client (and kafka-*.sh --command-config) properties for sluice serve --dev-security.
bootstrap.servers={{.Bootstrap}}
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="{{.User}}" password="{{.Password}}";
ssl.truststore.type=PEM
ssl.truststore.location={{.CA}}
`

const librdkafkaProperties = `# librdkafka (kcat -F, confluent-kafka) properties for sluice serve --dev-security.
bootstrap.servers={{.Bootstrap}}
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username={{.User}}
sasl.password={{.Password}}
ssl.ca.location={{.CA}}
`

const devSecurityBanner = `
sluice: --dev-security: SASL_SSL on {{.Bootstrap}} (SCRAM-SHA-512, SCRAM-SHA-256), ACLs enforced, super user {{.User}}
  files in {{.Dir}}: ca.pem (trust it), server.pem, client.pem and client-key.pem (CN=admin, for mutual TLS on an SSL listener)
{{- if .ShowPassword}}
  admin password (shown once; kept in {{.PasswordFile}}, mode 0600): {{.Password}}
{{- else}}
  admin password: in {{.PasswordFile}}
{{- end}}

  sluice CLI:
    export SLUICE_SASL_PASSWORD="$(cat {{.PasswordFile}})"
    sluice -b {{.Bootstrap}} --tls-ca {{.CA}} --sasl-mechanism SCRAM-SHA-512 --sasl-user {{.User}} topic list

  librdkafka (kcat, confluent-kafka), in {{.Dir}}/librdkafka.properties:
{librdkafka}    kcat -F {{.Dir}}/librdkafka.properties -L

  Java client and kafka-*.sh --command-config, in {{.Dir}}/client.properties:
{java}
  franz-go:
    ca, _ := os.ReadFile("{{.CA}}")
    pool := x509.NewCertPool()
    pool.AppendCertsFromPEM(ca)
    cl, err := kgo.NewClient(
        kgo.SeedBrokers("{{.Bootstrap}}"),
        kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
        kgo.SASL(scram.Auth{User: "{{.User}}", Pass: password}.AsSha512Mechanism()),
    )

`
