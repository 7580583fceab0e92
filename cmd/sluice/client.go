package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// clientOptions are the flags shared by every client subcommand: where the
// cluster is, how to print, and how long to wait for it.
type clientOptions struct {
	brokers string
	output  string
	timeout time.Duration

	tls           bool
	tlsCA         string
	tlsCert       string
	tlsKey        string
	tlsInsecure   bool
	saslMechanism string
	saslUser      string
	saslPassword  string
	oauthToken    string
	oauthFile     string

	// saslClosed is set when a broker closed the connection instead of
	// answering SASL authentication, which is how some brokers refuse
	// wrong credentials; fail then says so.
	saslClosed atomic.Bool
}

// saslHook notes SASL authentications that got no answer.
type saslHook struct{ o *clientOptions }

func (h saslHook) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key == 36 && e2e.Err() != nil { // SaslAuthenticate
		h.o.saslClosed.Store(true)
	}
}

// newClientCommands registers the shared client flags on root and returns
// the client subcommands (everything but serve).
func newClientCommands(root *cobra.Command) []*cobra.Command {
	o := &clientOptions{}
	root.SetFlagErrorFunc(flagError)
	f := root.PersistentFlags()
	f.StringVarP(&o.brokers, "brokers", "b", "127.0.0.1:9092", "comma-separated seed brokers, host:port (env SLUICE_BROKERS, or the profile: see sluice profile --help)")
	f.StringVar(&o.output, "output", "table", "output format: table or json")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to wait for the cluster to answer (a broker silent for a fifth of it, at least 1s, is passed over for another)")
	f.BoolVar(&o.tls, "tls", false, "connect with TLS, verifying the brokers against the system roots (or --tls-ca)")
	f.StringVar(&o.tlsCA, "tls-ca", "", "PEM file of CA certificates to verify the brokers with (implies --tls)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM client certificate for mutual TLS (implies --tls; needs --tls-key)")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.BoolVar(&o.tlsInsecure, "tls-insecure-skip-verify", false, "connect with TLS but do not verify the brokers' certificates (testing only; implies --tls)")
	f.StringVar(&o.saslMechanism, "sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER")
	f.StringVar(&o.saslUser, "sasl-user", "", "SASL user name")
	f.StringVar(&o.saslPassword, "sasl-password", "", "SASL password (default from env SLUICE_SASL_PASSWORD)")
	f.StringVar(&o.oauthToken, "sasl-oauth-token", "", "OAUTHBEARER token, a JWT (default from env SLUICE_SASL_OAUTH_TOKEN; implies --sasl-mechanism OAUTHBEARER)")
	f.StringVar(&o.oauthFile, "sasl-oauth-token-file", "", "file holding the OAUTHBEARER token, read at every authentication (implies --sasl-mechanism OAUTHBEARER)")
	cmds := []*cobra.Command{
		newTopicCommand(o),
		newProduceCommand(o),
		newConsumeCommand(o),
		newGroupCommand(o),
		newTxnCommand(o),
		newClusterCommand(o),
		newConfigCommand(o),
		newBenchCommand(o),
		newACLCommand(o),
		newUserCommand(o),
		newQuotaCommand(o),
		newProfileCommand(o),
	}
	// Before any client command runs, settings no flag gave come from the
	// environment and the profile file (profile.go).
	for _, c := range cmds {
		if c.PersistentPreRunE == nil {
			c.PersistentPreRunE = func(*cobra.Command, []string) error { return o.applyProfile(f) }
		}
	}
	return cmds
}

// client returns a franz-go client for the configured brokers.
func (o *clientOptions) client(opts ...kgo.Opt) (*kgo.Client, error) {
	if err := oneOf("--output", o.output, "table", "json"); err != nil {
		return nil, err
	}
	var seeds []string
	for _, s := range strings.Split(o.brokers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("--brokers is empty")
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("sluice-cli"),
		kgo.DialTimeout(o.brokerTimeout()),
		kgo.RequestTimeoutOverhead(o.brokerTimeout()),
	}
	sec, err := o.securityOpts()
	if err != nil {
		return nil, usageError{err}
	}
	base = append(base, sec...)
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", o.brokers, err)
	}
	return cl, nil
}

// brokerTimeout bounds one dial and one request's wait beyond its own
// timeout field. It is a fraction of --timeout: a broker that accepts
// connections but never answers (stopped, overloaded, blackholed) then costs
// a part of the command's budget, and the client still has time to ask
// another seed. At most 10s, kgo's own default; at least a second (or the
// whole --timeout when that is shorter), so that a TLS handshake over a
// slow link still fits; and never under the 100ms kgo accepts as a
// request's overhead.
func (o *clientOptions) brokerTimeout() time.Duration {
	return max(min(o.timeout/5, 10*time.Second), min(time.Second, o.timeout), 100*time.Millisecond)
}

// securityOpts turns the TLS and SASL flags into kgo options.
func (o *clientOptions) securityOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	tc, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	m, err := o.saslMech()
	if err != nil {
		return nil, err
	}
	if m != nil {
		opts = append(opts, kgo.SASL(m), kgo.WithHooks(saslHook{o}))
	}
	return opts, nil
}

// tlsConfig builds the client TLS config from the --tls* flags, or nil
// when TLS is off.
func (o *clientOptions) tlsConfig() (*tls.Config, error) {
	if !o.tls && o.tlsCA == "" && o.tlsCert == "" && o.tlsKey == "" && !o.tlsInsecure {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.tlsInsecure}
	if o.tlsCA != "" {
		pem, err := os.ReadFile(o.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificates in it", o.tlsCA)
		}
		tc.RootCAs = pool
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// saslMech builds the SASL mechanism from the --sasl* flags, or nil when
// SASL is off.
func (o *clientOptions) saslMech() (sasl.Mechanism, error) {
	pass := o.saslPassword
	if pass == "" {
		pass = os.Getenv("SLUICE_SASL_PASSWORD")
	}
	if o.oauthToken != "" || o.oauthFile != "" || strings.EqualFold(o.saslMechanism, "OAUTHBEARER") {
		return o.oauthMech()
	}
	if o.saslMechanism == "" {
		if o.saslUser != "" || o.saslPassword != "" {
			return nil, errors.New("--sasl-user/--sasl-password need --sasl-mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
		}
		return nil, nil
	}
	if o.saslUser == "" {
		return nil, fmt.Errorf("--sasl-mechanism %s needs --sasl-user", o.saslMechanism)
	}
	switch strings.ToUpper(o.saslMechanism) {
	case "PLAIN":
		return plain.Auth{User: o.saslUser, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: o.saslUser, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: o.saslUser, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", o.saslMechanism)
}

// oauthMech is OAUTHBEARER (KIP-255) with the token from
// --sasl-oauth-token, SLUICE_SASL_OAUTH_TOKEN or --sasl-oauth-token-file.
// A file is read again at every authentication, so a token refreshed on
// disk is picked up by the next connection.
func (o *clientOptions) oauthMech() (sasl.Mechanism, error) {
	if o.saslMechanism != "" && !strings.EqualFold(o.saslMechanism, "OAUTHBEARER") {
		return nil, fmt.Errorf("--sasl-oauth-token and --sasl-oauth-token-file go with --sasl-mechanism OAUTHBEARER, not %s", o.saslMechanism)
	}
	if o.saslUser != "" || o.saslPassword != "" {
		return nil, errors.New("OAUTHBEARER takes a token (--sasl-oauth-token or --sasl-oauth-token-file), not --sasl-user/--sasl-password")
	}
	token := o.oauthToken
	if token == "" && o.oauthFile == "" {
		token = os.Getenv("SLUICE_SASL_OAUTH_TOKEN")
	}
	switch {
	case token != "" && o.oauthFile != "":
		return nil, errors.New("give one of --sasl-oauth-token and --sasl-oauth-token-file")
	case token != "":
		return oauth.Auth{Token: token}.AsMechanism(), nil
	case o.oauthFile != "":
		if _, err := readToken(o.oauthFile); err != nil {
			return nil, err
		}
		file := o.oauthFile
		return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			t, err := readToken(file)
			return oauth.Auth{Token: t}, err
		}), nil
	}
	return nil, errors.New("--sasl-mechanism OAUTHBEARER needs --sasl-oauth-token, SLUICE_SASL_OAUTH_TOKEN or --sasl-oauth-token-file")
}

// readToken reads a token file, trimming surrounding white space.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--sasl-oauth-token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("--sasl-oauth-token-file %s is empty", path)
	}
	return t, nil
}

// admin returns an admin client and a context bounded by --timeout. The
// caller calls done when finished.
func (o *clientOptions) admin(ctx context.Context) (adm *kadm.Client, actx context.Context, done func(), err error) {
	cl, err := o.client()
	if err != nil {
		return nil, nil, nil, err
	}
	actx, cancel := context.WithTimeout(ctx, o.timeout)
	var once sync.Once
	return kadm.NewClient(cl), actx, func() { once.Do(func() { cancel(); cl.Close() }) }, nil
}

// fail wraps an error from a cluster call with what was being done, and
// turns a timeout into something a user can act on.
func (o *clientOptions) fail(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer from %s within %s", what, o.brokers, o.timeout)
	}
	if o.saslClosed.Load() && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return fmt.Errorf("%s: SASL authentication failed: the broker closed the connection (check --sasl-mechanism, --sasl-user and --sasl-password): %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, plainError(err))
}

// respErr joins a Kafka error code with the broker's message, if any.
func respErr(err error, msg string) error {
	if err == nil {
		return nil
	}
	if msg != "" {
		return fmt.Errorf("%w (%s)", err, msg)
	}
	return err
}

// createTopic creates one topic. kadm returns a topic's error code alone as
// the error; the broker's message (which config is invalid, and why) is
// joined to it here.
func createTopic(ctx context.Context, adm *kadm.Client, partitions int32, replication int16, configs map[string]*string, name string) (kadm.CreateTopicResponse, error) {
	resp, err := adm.CreateTopic(ctx, partitions, replication, configs, name)
	if resp.Err != nil {
		return resp, respErr(resp.Err, resp.ErrMessage)
	}
	return resp, err
}

func (o *clientOptions) json() bool { return o.output == "json" }

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printTable writes aligned columns with a header row.
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// parseKV splits name=value; what names where s came from (a flag, or the
// command for a positional argument). A malformed s is a usage error.
func parseKV(what, s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", usageError{fmt.Errorf("%s %q: want name=value", what, s)}
	}
	return k, v, nil
}

func int32List(is []int32) string {
	s := make([]string, len(is))
	for i, v := range is {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}

// usageError is a mistake in how a command was called rather than a failure
// of the cluster; main can map it to exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usage wraps an argument validator so its error names the command's usage.
func usage(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError{fmt.Errorf("%s: %w (usage: %s)", subPath(cmd), err, cmd.UseLine())}
		}
		return nil
	}
}

// flagError names the command whose flags were wrong.
func flagError(cmd *cobra.Command, err error) error {
	return usageError{fmt.Errorf("%s: %w%s (see %s --help)", subPath(cmd), err, unknownFlagHint(cmd, err), cmd.CommandPath())}
}

// subPath is the command's path without the program name, which main
// already prints.
func subPath(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// producerOpts turns the --acks and --compression flags shared by produce
// and bench into producer options. Acks other than all need the
// idempotent producer off, as Kafka requires.
func producerOpts(acks, compression string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, badValue("--acks", acks, "want all, 1 or 0", "all")
	}
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	c, ok := codecs[compression]
	if !ok {
		return nil, oneOf("--compression", compression, "none", "gzip", "snappy", "lz4", "zstd")
	}
	return append(opts, kgo.ProducerBatchCompression(c)), nil
}

// newDeleteCommand is the delete subcommand of a resource kind ("topic",
// "group"): it deletes the one named resource with del and reports it.
func newDeleteCommand(o *clientOptions, kind, use, short, example string, del func(ctx context.Context, adm *kadm.Client, name string) error) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			if err := del(ctx, adm, name); err != nil {
				return o.fail("delete "+kind+" "+name, err)
			}
			if o.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{kind: name, "deleted": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s %s\n", kind, name)
			return nil
		},
	}
}
