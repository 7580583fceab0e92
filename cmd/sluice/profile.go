package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// A profile file holds the client settings one would otherwise repeat on
// every command, like rpk's profiles: where the cluster is and how to
// authenticate. It is $SLUICE_CONFIG, or sluice/sluice.yaml in the user's
// config directory (~/.config/sluice/sluice.yaml). Flags win over
// environment variables, which win over the profile.
//
//	brokers: [kafka-1:9092, kafka-2:9092]    # or "kafka-1:9092,kafka-2:9092"
//	timeout: 10s
//	tls:
//	  enabled: true
//	  ca_file: ca.pem                        # relative to this file
//	  cert_file: client.pem
//	  key_file: client-key.pem
//	  insecure_skip_verify: false
//	sasl:
//	  mechanism: SCRAM-SHA-512               # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER
//	  user: alice
//	  password: alice-secret
//	  oauth_token_file: /run/token
type profile struct {
	Brokers brokerList `yaml:"brokers"`
	Timeout string     `yaml:"timeout"`
	TLS     struct {
		Enabled            bool   `yaml:"enabled"`
		CAFile             string `yaml:"ca_file"`
		CertFile           string `yaml:"cert_file"`
		KeyFile            string `yaml:"key_file"`
		InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	} `yaml:"tls"`
	SASL struct {
		Mechanism      string `yaml:"mechanism"`
		User           string `yaml:"user"`
		Password       string `yaml:"password"`
		OAuthToken     string `yaml:"oauth_token"`
		OAuthTokenFile string `yaml:"oauth_token_file"`
	} `yaml:"sasl"`
}

// brokerList is a YAML list of host:port or one comma-separated string.
type brokerList []string

func (b *brokerList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		for _, s := range strings.Split(n.Value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*b = append(*b, s)
			}
		}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*b = l
	return nil
}

// profilePath is the profile file to read and whether it was asked for
// explicitly (then it must exist).
func profilePath() (string, bool) {
	if p := os.Getenv("SLUICE_CONFIG"); p != "" {
		return p, true
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", false
	}
	return filepath.Join(dir, "sluice", "sluice.yaml"), false
}

// loadProfile reads the profile file; a missing default file is no
// profile.
func loadProfile() (*profile, string, error) {
	path, explicit := profilePath()
	if path == "" {
		return nil, "", nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, "", nil
	}
	if err != nil {
		return nil, path, fmt.Errorf("profile: %w", err)
	}
	var p profile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) { // EOF: an empty file
		// yaml's errors come one per line; keep them on one.
		msg := strings.ReplaceAll(strings.ReplaceAll(err.Error(), ":\n  ", ": "), "\n  ", "; ")
		return nil, path, fmt.Errorf("profile %s: %s", path, msg)
	}
	// File names are relative to the profile's directory.
	rel := func(s *string) {
		if *s != "" && !filepath.IsAbs(*s) {
			*s = filepath.Join(filepath.Dir(path), *s)
		}
	}
	rel(&p.TLS.CAFile)
	rel(&p.TLS.CertFile)
	rel(&p.TLS.KeyFile)
	rel(&p.SASL.OAuthTokenFile)
	return &p, path, nil
}

// applyProfile fills in the client settings no flag gave: from the
// environment first, then from the profile.
func (o *clientOptions) applyProfile(flags *pflag.FlagSet) error {
	set := func(name string) bool { return flags.Changed(name) }
	if !set("brokers") {
		if env := os.Getenv("SLUICE_BROKERS"); env != "" {
			o.brokers = env
		}
	}
	p, path, err := loadProfile()
	if err != nil {
		return usageError{err}
	}
	if p == nil {
		return nil
	}
	if !set("brokers") && os.Getenv("SLUICE_BROKERS") == "" && len(p.Brokers) > 0 {
		o.brokers = strings.Join(p.Brokers, ",")
	}
	if !set("timeout") && p.Timeout != "" {
		d, err := time.ParseDuration(p.Timeout)
		if err != nil || d <= 0 {
			return usageError{fmt.Errorf("profile %s: timeout %q: want a duration such as 10s", path, p.Timeout)}
		}
		o.timeout = d
	}
	// TLS and SASL settings come as a whole from the flags when any of
	// their flags is given, else from the profile.
	tlsFlags := set("tls") || set("tls-ca") || set("tls-cert") || set("tls-key") || set("tls-insecure-skip-verify")
	if !tlsFlags {
		t := p.TLS
		o.tls, o.tlsCA, o.tlsCert, o.tlsKey, o.tlsInsecure = t.Enabled, t.CAFile, t.CertFile, t.KeyFile, t.InsecureSkipVerify
	}
	saslFlags := set("sasl-mechanism") || set("sasl-user") || set("sasl-password") || set("sasl-oauth-token") || set("sasl-oauth-token-file")
	if !saslFlags {
		s := p.SASL
		o.saslMechanism, o.saslUser, o.oauthToken, o.oauthFile = s.Mechanism, s.User, s.OAuthToken, s.OAuthTokenFile
		if os.Getenv("SLUICE_SASL_PASSWORD") == "" {
			o.saslPassword = s.Password
		}
	}
	return nil
}

func newProfileCommand(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Show the client profile: brokers, TLS and SASL settings kept in a file",
		Long: `A profile file keeps the settings every client command needs, so they need not
be repeated: $SLUICE_CONFIG, or ~/.config/sluice/sluice.yaml (the user's
config directory). Flags win over environment variables (SLUICE_BROKERS,
SLUICE_SASL_PASSWORD), which win over the profile; giving any --tls* or
--sasl* flag replaces the profile's TLS or SASL settings as a whole. Relative
file names are relative to the profile's directory.

  brokers: [kafka-1:9092, kafka-2:9092]   # or "kafka-1:9092,kafka-2:9092"
  timeout: 10s
  tls:
    enabled: true
    ca_file: ca.pem
    cert_file: client.pem                 # mutual TLS
    key_file: client-key.pem
    insecure_skip_verify: false
  sasl:
    mechanism: SCRAM-SHA-512              # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER
    user: alice
    password: alice-secret
    oauth_token_file: /run/token          # for OAUTHBEARER (or oauth_token)`,
		Example: `  sluice profile show
  SLUICE_CONFIG=staging.yaml sluice topic list`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "show",
		Short:   "Print the profile file in use and the settings client commands would use",
		Example: `  sluice profile show --output json`,
		Args:    usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := profilePath()
			if p, _, _ := loadProfile(); p == nil {
				path = ""
			}
			hidden := func(s string) string {
				if s == "" {
					return ""
				}
				return "[hidden]"
			}
			pass := o.saslPassword
			if pass == "" {
				pass = os.Getenv("SLUICE_SASL_PASSWORD")
			}
			tlsOn := o.tls || o.tlsCA != "" || o.tlsCert != "" || o.tlsInsecure
			v := map[string]any{
				"profile": path, "brokers": o.brokers, "timeout": o.timeout.String(),
				"tls":  map[string]any{"enabled": tlsOn, "ca_file": o.tlsCA, "cert_file": o.tlsCert, "key_file": o.tlsKey, "insecure_skip_verify": o.tlsInsecure},
				"sasl": map[string]any{"mechanism": o.saslMechanism, "user": o.saslUser, "password": hidden(pass), "oauth_token": hidden(o.oauthToken), "oauth_token_file": o.oauthFile},
			}
			if o.json() {
				return printJSON(cmd.OutOrStdout(), v)
			}
			if path == "" {
				path = "(none)"
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Profile: %s\nBrokers: %s\nTimeout: %s\nTLS:     %v", path, o.brokers, o.timeout, tlsOn)
			if tlsOn {
				fmt.Fprintf(w, " (CA %q, certificate %q, key %q, skip verify %v)", o.tlsCA, o.tlsCert, o.tlsKey, o.tlsInsecure)
			}
			fmt.Fprintf(w, "\nSASL:    %s", cmp.Or(o.saslMechanism, "off"))
			if o.saslUser != "" {
				fmt.Fprintf(w, " (user %s, password %s)", o.saslUser, cmp.Or(hidden(pass), "none"))
			}
			if o.oauthFile != "" {
				fmt.Fprintf(w, " (token file %s)", o.oauthFile)
			}
			fmt.Fprintln(w)
			return nil
		},
	})
	return cmd
}
