package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/metrics"
	"github.com/sluice-io/sluice/internal/mirror"
	"github.com/sluice-io/sluice/internal/node"
)

// mirrorSide is one cluster of a mirror: its seed brokers and the CLI's
// TLS and SASL options, under the flag prefix --source- or --target-.
type mirrorSide struct {
	name    string // "source" or "target"
	brokers string
	o       clientOptions
}

// addFlags registers --<name> and --<name>-tls..., --<name>-sasl-...,
// the same options the other commands take for their one cluster.
func (s *mirrorSide) addFlags(f *pflag.FlagSet, required bool) {
	n := s.name
	req := ""
	if !required {
		req = " (default: --brokers)"
	}
	f.StringVar(&s.brokers, n, "", "the "+n+" cluster's seed brokers, host:port,..."+req)
	f.BoolVar(&s.o.tls, n+"-tls", false, "connect to the "+n+" with TLS")
	f.StringVar(&s.o.tlsCA, n+"-tls-ca", "", "PEM CA certificates to verify the "+n+"'s brokers with (implies TLS)")
	f.StringVar(&s.o.tlsCert, n+"-tls-cert", "", "PEM client certificate for the "+n+" (implies TLS)")
	f.StringVar(&s.o.tlsKey, n+"-tls-key", "", "PEM private key of --"+n+"-tls-cert")
	f.BoolVar(&s.o.tlsInsecure, n+"-tls-insecure-skip-verify", false, "TLS to the "+n+" without verifying its certificates (testing only)")
	f.StringVar(&s.o.saslMechanism, n+"-sasl-mechanism", "", "SASL mechanism for the "+n+": PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER")
	f.StringVar(&s.o.saslUser, n+"-sasl-user", "", "SASL user on the "+n)
	f.StringVar(&s.o.saslPassword, n+"-sasl-password", "", "SASL password on the "+n)
	f.StringVar(&s.o.oauthToken, n+"-sasl-oauth-token", "", "OAUTHBEARER token for the "+n)
	f.StringVar(&s.o.oauthFile, n+"-sasl-oauth-token-file", "", "file holding the OAUTHBEARER token for the "+n)
}

// opts are the kgo options of the side; brokers default to dflt.
func (s *mirrorSide) opts(dflt string) ([]kgo.Opt, error) {
	brokers := s.brokers
	if brokers == "" {
		brokers = dflt
	}
	var seeds []string
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			seeds = append(seeds, b)
		}
	}
	if len(seeds) == 0 {
		return nil, usageError{fmt.Errorf("--%s: no brokers given", s.name)}
	}
	sec, err := s.o.securityOpts()
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", s.name, err)}
	}
	return append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DialTimeout(10 * time.Second)}, sec...), nil
}

// admin is an admin client of the side.
func (s *mirrorSide) admin(dflt string) (*kadm.Client, error) {
	opts, err := s.opts(dflt)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, kgo.ClientID("sluice-cli"))...)
	if err != nil {
		return nil, fmt.Errorf("connect to the %s: %w", s.name, err)
	}
	return kadm.NewClient(cl), nil
}

// rootSecurityFlags are the root's per-cluster options, which mean
// nothing to a mirror with two clusters.
var rootSecurityFlags = []string{"tls", "tls-ca", "tls-cert", "tls-key", "tls-insecure-skip-verify",
	"sasl-mechanism", "sasl-user", "sasl-password", "sasl-oauth-token", "sasl-oauth-token-file"}

// checkRootFlags refuses the root's security flags on a mirror command.
func checkRootFlags(cmd *cobra.Command) error {
	for _, n := range rootSecurityFlags {
		if f := cmd.Flag(n); f != nil && f.Changed {
			return usageError{fmt.Errorf("%s: --%s does not say which cluster it is for: use --source-%s or --target-%s", subPath(cmd), n, n, n)}
		}
	}
	return nil
}

// rootBrokers is the value of the root's --brokers flag.
func rootBrokers(cmd *cobra.Command) string {
	if f := cmd.Flag("brokers"); f != nil {
		return f.Value.String()
	}
	return ""
}

// mirrorFlags are the flags that say what a mirror copies.
type mirrorFlags struct {
	topics, exclude, rename, alias, groups string
	syncEvery, refresh                     time.Duration
	force                                  bool
	logLevel                               string
}

func (mf *mirrorFlags) add(f *pflag.FlagSet) {
	f.StringVar(&mf.topics, "topics", "", "regular expression of the source topics to mirror (default: all but internal ones)")
	f.StringVar(&mf.exclude, "exclude-topics", "", "regular expression of source topics not to mirror")
	f.StringVar(&mf.rename, "rename-format", "{topic}", "name of a mirror topic, from {source} (--source-alias) and {topic}; '{source}.{topic}' names them as MirrorMaker 2 does")
	f.StringVar(&mf.alias, "source-alias", "source", "name of the source cluster in --rename-format")
	f.StringVar(&mf.groups, "groups", "", "regular expression of the consumer groups whose committed offsets are mirrored (default: none)")
	f.DurationVar(&mf.syncEvery, "sync-group-offsets-interval", 10*time.Second, "how often group offsets are mirrored")
	f.DurationVar(&mf.refresh, "refresh-interval", 10*time.Second, "how often the source's topics, partitions and configs are looked at again")
	f.BoolVar(&mf.force, "force", false, "replace a target topic that is not this source topic's mirror (deleting its records) instead of refusing it")
	f.StringVar(&mf.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// config turns the flags into a mirror config (without the clients).
func (mf *mirrorFlags) config() (mirror.Config, error) {
	cfg := mirror.Config{SourceAlias: mf.alias, RenameFormat: mf.rename, SyncGroupOffsetsInterval: mf.syncEvery,
		RefreshInterval: mf.refresh, Force: mf.force}
	var err error
	for _, re := range []struct {
		flag, value string
		into        **regexp.Regexp
	}{{"--topics", mf.topics, &cfg.Topics}, {"--exclude-topics", mf.exclude, &cfg.ExcludeTopics}, {"--groups", mf.groups, &cfg.Groups}} {
		if re.value == "" {
			continue
		}
		if *re.into, err = regexp.Compile(re.value); err != nil {
			return cfg, usageError{fmt.Errorf("%s %q: %w", re.flag, re.value, err)}
		}
	}
	if !strings.Contains(mf.rename, "{topic}") {
		return cfg, usageError{fmt.Errorf("--rename-format %q must contain {topic}", mf.rename)}
	}
	return cfg, nil
}

func newMirrorCommand() *cobra.Command {
	src, dst := &mirrorSide{name: "source"}, &mirrorSide{name: "target"}
	var mf mirrorFlags
	cmd := &cobra.Command{
		Use:   "mirror --source HOST:PORT --target HOST:PORT",
		Short: "Mirror topics from another Kafka cluster, keeping offsets",
		Long: `Copy topics continuously from a source cluster (Sluice, Apache Kafka, Redpanda,
or any Kafka-protocol cluster) into a Sluice target, record for record at the
same offsets, until interrupted.

Each mirrored topic becomes a read-only mirror topic on the target: consumers
read it, producers are refused until 'sluice mirror promote' makes it
writable, the failover step. Partition counts and retention and compaction
configs follow the source. Committed offsets of the groups matching --groups
are copied too, so a consumer group stopped on the source resumes on the
target at the next record.

The mirror resumes from the target's end offsets: stopping or killing it, or
restarting either cluster, neither loses nor repeats records.`,
		Example: `  sluice mirror --source dc1-kafka:9092 --target 127.0.0.1:9092 --groups '.*'
  sluice mirror --source dc1:9092 --source-tls --source-sasl-mechanism SCRAM-SHA-512 --source-sasl-user mirror --target 127.0.0.1:9092 --topics 'orders|payments'
  sluice mirror status --source dc1:9092 --target 127.0.0.1:9092
  sluice mirror promote --target 127.0.0.1:9092 --all`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkRootFlags(cmd); err != nil {
				return err
			}
			if src.brokers == "" {
				return usageError{fmt.Errorf("%s: --source is required", subPath(cmd))}
			}
			level, err := parseLevel(mf.logLevel)
			if err != nil {
				return err
			}
			logger, err := newLogger(os.Stderr, "text", level)
			if err != nil {
				return err
			}
			cfg, err := mf.config()
			if err != nil {
				return err
			}
			if cfg.Source, err = src.opts(""); err != nil {
				return err
			}
			if cfg.Target, err = dst.opts(rootBrokers(cmd)); err != nil {
				return err
			}
			cfg.Logger = logger
			return runMirror(cmd.Context(), cfg)
		},
	}
	src.addFlags(cmd.PersistentFlags(), true)
	dst.addFlags(cmd.PersistentFlags(), false)
	mf.add(cmd.Flags())
	cmd.AddCommand(newMirrorStatusCommand(src, dst), newMirrorPromoteCommand(dst))
	return cmd
}

// runMirror runs one mirror until ctx ends.
func runMirror(ctx context.Context, cfg mirror.Config) error {
	m, err := mirror.New(cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	cfg.Logger.Info("mirror starting")
	if err := m.Run(ctx); err != nil {
		return err
	}
	cfg.Logger.Info("mirror stopped")
	return nil
}

func newMirrorStatusCommand(src, dst *mirrorSide) *cobra.Command {
	var topics string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every mirror topic on the target and how far it is behind its source",
		Long: `List the target's mirror topics, partition by partition: the source's end
offset, the target's, the lag between them (in offsets) and the topic's state
(mirroring or promoted). Without --source, only the target's side is shown.`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkRootFlags(cmd); err != nil {
				return err
			}
			var match func(string) bool
			if topics != "" {
				re, err := regexp.Compile(topics)
				if err != nil {
					return usageError{fmt.Errorf("--topics %q: %w", topics, err)}
				}
				match = re.MatchString
			}
			dadm, err := dst.admin(rootBrokers(cmd))
			if err != nil {
				return err
			}
			defer dadm.Close()
			var sadm *kadm.Client
			if src.brokers != "" {
				if sadm, err = src.admin(""); err != nil {
					return err
				}
				defer sadm.Close()
			}
			timeout := 10 * time.Second
			if f := cmd.Flag("timeout"); f != nil {
				if d, err := time.ParseDuration(f.Value.String()); err == nil {
					timeout = d
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			parts, err := mirror.Lag(ctx, sadm, dadm, match)
			if err != nil {
				return fmt.Errorf("mirror status: %w", err)
			}
			out := cmd.OutOrStdout()
			if f := cmd.Flag("output"); f != nil && f.Value.String() == "json" {
				if parts == nil {
					parts = []mirror.PartitionStatus{}
				}
				return printJSON(out, parts)
			}
			if len(parts) == 0 {
				fmt.Fprintln(out, "no mirror topics on the target")
				return nil
			}
			rows := make([][]string, 0, len(parts))
			for _, p := range parts {
				rows = append(rows, []string{p.Topic, strconv.Itoa(int(p.Partition)), p.SourceTopic, offsetCell(p.SourceEnd),
					offsetCell(p.TargetEnd), offsetCell(p.Lag), p.State, p.Error})
			}
			return printTable(out, []string{"TOPIC", "PARTITION", "SOURCE-TOPIC", "SOURCE-END", "TARGET-END", "LAG", "STATE", "ERROR"}, rows)
		},
	}
	cmd.Flags().StringVar(&topics, "topics", "", "regular expression of the mirror topics to show")
	return cmd
}

// offsetCell prints an offset, "-" for unknown.
func offsetCell(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}

func newMirrorPromoteCommand(dst *mirrorSide) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "promote (TOPIC... | --all)",
		Short: "Make mirror topics writable on the target: the failover step",
		Long: `Stop mirroring the named topics (or every mirror topic, with --all) and make
them writable. Transactions the source left open in the copied records are
aborted, so read_committed consumers on the target are not held back. A
running mirror stops copying a topic once it is promoted. Promotion is not
undone: to mirror again, delete the topic on the target and let the mirror
create it afresh.`,
		Example: `  sluice mirror promote --target 127.0.0.1:9092 orders payments
  sluice mirror promote --target 127.0.0.1:9092 --all`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRootFlags(cmd); err != nil {
				return err
			}
			if all == (len(args) > 0) {
				return usageError{fmt.Errorf("%s: name the topics to promote or give --all, not both (usage: %s)", subPath(cmd), cmd.UseLine())}
			}
			adm, err := dst.admin(rootBrokers(cmd))
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			promoted, err := mirror.Promote(ctx, adm, args, all)
			out := cmd.OutOrStdout()
			if f := cmd.Flag("output"); f != nil && f.Value.String() == "json" {
				if promoted == nil {
					promoted = []mirror.Promoted{}
				}
				if perr := printJSON(out, promoted); perr != nil {
					return perr
				}
			} else {
				for _, p := range promoted {
					fmt.Fprintf(out, "promoted %s (aborted %d open transactions)\n", p.Topic, p.AbortedTxns)
				}
				if err == nil && len(promoted) == 0 {
					fmt.Fprintln(out, "no mirror topics to promote")
				}
			}
			if err != nil {
				return fmt.Errorf("mirror promote: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "promote every mirror topic on the target")
	return cmd
}

// Mirroring inside `sluice serve`: broker settings named sluice.mirror.*
// (from --config or --config-file) run a mirror into this node's cluster,
// with no extra process. They are taken out of the broker settings before
// the node validates them.
const mirrorSettingPrefix = "sluice.mirror."

// serveMirrorSettings lists the sluice.mirror.* settings serve knows; an
// unknown one stops serve with this list.
var serveMirrorSettings = []string{
	"source.bootstrap.servers", "source.alias", "topics", "exclude.topics", "rename.format", "groups",
	"sync.group.offsets.interval.ms", "refresh.interval.ms", "force",
	"source.tls", "source.tls.ca", "source.tls.cert", "source.tls.key", "source.tls.insecure.skip.verify",
	"source.sasl.mechanism", "source.sasl.user",
	"source.sasl.password", "source.sasl.oauth.token.file",
	"target.tls", "target.tls.ca", "target.tls.cert", "target.tls.key", "target.tls.insecure.skip.verify",
	"target.sasl.mechanism", "target.sasl.user", "target.sasl.password", "target.sasl.oauth.token.file",
}

// serveMirror is a mirror serve runs into its own node. Serve owns its
// goroutine: stop ends it and waits for it before the node shuts down.
type serveMirror struct {
	cfg    mirror.Config
	node   int32 // the node it runs in
	target mirrorSide
	cancel context.CancelFunc // set by start
	done   chan struct{}      // closed when the mirror has stopped
}

// takeMirrorSettings removes the sluice.mirror.* settings from values and
// returns the mirror they describe, nil when there is none.
func takeMirrorSettings(values map[string]string) (*serveMirror, error) {
	got := map[string]string{}
	for k, v := range values {
		if name, ok := strings.CutPrefix(k, mirrorSettingPrefix); ok {
			if !slices.Contains(serveMirrorSettings, name) {
				return nil, usageError{fmt.Errorf("unknown setting %s (mirror settings: %s%s)", k, mirrorSettingPrefix, strings.Join(serveMirrorSettings, ", "+mirrorSettingPrefix))}
			}
			got[name] = v
			delete(values, k)
		}
	}
	if len(got) == 0 {
		return nil, nil
	}
	if got["source.bootstrap.servers"] == "" {
		return nil, usageError{fmt.Errorf("mirror settings need %ssource.bootstrap.servers", mirrorSettingPrefix)}
	}
	sm := &serveMirror{target: mirrorSide{name: "target"}}
	src := mirrorSide{name: "source", brokers: got["source.bootstrap.servers"]}
	boolOf := func(name string) (bool, error) {
		v, ok := got[name]
		if !ok {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, usageError{fmt.Errorf("%s%s=%q: want true or false", mirrorSettingPrefix, name, v)}
		}
		return b, nil
	}
	msOf := func(name string, dflt time.Duration) (time.Duration, error) {
		v, ok := got[name]
		if !ok {
			return dflt, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return 0, usageError{fmt.Errorf("%s%s=%q: want a positive number of milliseconds", mirrorSettingPrefix, name, v)}
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	mf := mirrorFlags{topics: got["topics"], exclude: got["exclude.topics"], rename: got["rename.format"], alias: got["source.alias"], groups: got["groups"]}
	if mf.rename == "" {
		mf.rename = "{topic}"
	}
	var err error
	if mf.force, err = boolOf("force"); err != nil {
		return nil, err
	}
	if mf.syncEvery, err = msOf("sync.group.offsets.interval.ms", 10*time.Second); err != nil {
		return nil, err
	}
	if mf.refresh, err = msOf("refresh.interval.ms", 10*time.Second); err != nil {
		return nil, err
	}
	for _, side := range []*mirrorSide{&src, &sm.target} {
		p := side.name + "."
		if side.o.tls, err = boolOf(p + "tls"); err != nil {
			return nil, err
		}
		if side.o.tlsInsecure, err = boolOf(p + "tls.insecure.skip.verify"); err != nil {
			return nil, err
		}
		side.o.tlsCA, side.o.tlsCert, side.o.tlsKey = got[p+"tls.ca"], got[p+"tls.cert"], got[p+"tls.key"]
		side.o.saslMechanism, side.o.saslUser, side.o.saslPassword = got[p+"sasl.mechanism"], got[p+"sasl.user"], got[p+"sasl.password"]
		side.o.oauthFile = got[p+"sasl.oauth.token.file"]
	}
	if sm.cfg, err = mf.config(); err != nil {
		return nil, err
	}
	if sm.cfg.Source, err = src.opts(""); err != nil {
		return nil, err
	}
	return sm, nil
}

// start runs the mirror into node n until ctx ends or stop is called. Its
// errors are logged: the broker keeps serving whatever becomes of the
// mirror.
func (sm *serveMirror) start(ctx context.Context, n *node.Node, logger *slog.Logger) error {
	opts, err := sm.target.opts(n.Addr())
	if err != nil {
		return err
	}
	cfg := sm.cfg
	cfg.Target = opts
	// Every node with mirror settings runs one: each copies the
	// partitions it leads, and the controller's shapes the mirror topics.
	cfg.Node = &sm.node
	cfg.Logger = logger.With("component", "mirror")
	m, err := mirror.New(cfg)
	if err != nil {
		return err
	}
	if reg := n.MetricsRegisterer(); reg != nil {
		metrics.RegisterMirror(reg, func() []metrics.MirrorPartition {
			_, parts := m.Status()
			out := make([]metrics.MirrorPartition, len(parts))
			for i, p := range parts {
				out[i] = metrics.MirrorPartition{SourceTopic: p.SourceTopic, Topic: p.Topic, Partition: p.Partition,
					Lag: p.Lag, Records: p.Records, Bytes: p.Bytes}
			}
			return out
		})
	}
	ctx, sm.cancel = context.WithCancel(ctx)
	sm.done = make(chan struct{})
	go func() {
		defer close(sm.done)
		defer m.Close()
		if err := m.Run(ctx); err != nil {
			cfg.Logger.Error("mirror stopped", "err", err)
			return
		}
		cfg.Logger.Info("mirror stopped")
	}()
	return nil
}

// stop ends the mirror, if it runs, and waits until it has stopped.
func (sm *serveMirror) stop() {
	if sm == nil || sm.done == nil {
		return
	}
	sm.cancel()
	<-sm.done
}

// around returns serve's serving callback with the mirror started after
// next (which may be nil), as node nodeID's; with no mirror it is next.
func (sm *serveMirror) around(ctx context.Context, nodeID int32, next func(*node.Node), logger *slog.Logger) func(*node.Node) {
	if sm == nil {
		return next
	}
	sm.node = nodeID
	return func(n *node.Node) {
		if next != nil {
			next(n)
		}
		if err := sm.start(ctx, n, logger); err != nil {
			logger.Error("mirror not started", "err", err)
		}
	}
}
