package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/node"
)

func newServeCommand() *cobra.Command {
	var (
		listen, advertise, dataDir, logLevel, configFile string
		logFormat, httpListen                            string
		httpPprof                                        bool
		voters, controllerListen, bootstrapAdmin         string
		nodeID                                           int32
		settings                                         []string
		devSecurity                                      bool
		schemaRegistryListen                             string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Sluice broker",
		Long: `Run a Sluice broker. With no flags it starts a single node on 127.0.0.1:9092
with its data in ./sluice-data.

Broker settings use Kafka's names and can be given with --config (repeatable)
or in a Java-style properties file with --config-file; flags win over the file.

A multi-broker cluster: give every node the same --controller-voters (the
metadata quorum, id@host:port of each voter's controller address) and its own
--node-id. A broker that is not a voter also gives --controller-listen and
joins the running cluster as a non-voter; the others need no restart.`,
		Example: `  sluice serve
  sluice serve --listen 0.0.0.0:9092 --advertise kafka.example.com:9092 --data-dir /var/lib/sluice
  sluice serve -c num.partitions=6 -c log.retention.ms=3600000
  sluice serve --node-id 1 --listen 127.0.0.1:9092 --data-dir d1 --controller-voters 1@127.0.0.1:9192,2@127.0.0.1:9193,3@127.0.0.1:9194
  sluice serve --node-id 4 --listen 127.0.0.1:9095 --data-dir d4 --controller-listen 127.0.0.1:9195 --controller-voters 1@127.0.0.1:9192,2@127.0.0.1:9193,3@127.0.0.1:9194`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			level, err := parseLevel(logLevel)
			if err != nil {
				return err
			}
			logger, err := newLogger(os.Stderr, logFormat, level)
			if err != nil {
				return err
			}
			values := map[string]string{}
			if configFile != "" {
				if err := readProperties(configFile, values); err != nil {
					return err
				}
			}
			for _, kv := range settings {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || strings.TrimSpace(k) == "" {
					return usageError{fmt.Errorf("--config %q: want name=value", kv)}
				}
				values[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			if voters != "" {
				values["controller.quorum.voters"] = voters
			}
			mirrored, err := takeMirrorSettings(values) // mirror.go: sluice.mirror.*
			if err != nil {
				return err
			}
			// node.id (or broker.id) in the settings is the node ID when
			// --node-id is not given.
			if !cmd.Flags().Changed("node-id") {
				for _, k := range []string{"node.id", "broker.id"} {
					if v, ok := values[k]; ok && v != "-1" {
						id, err := strconv.ParseInt(v, 10, 32)
						if err != nil || id < 0 {
							return usageError{fmt.Errorf("%s %q: want a node ID (a number)", k, v)}
						}
						nodeID = int32(id)
						break
					}
				}
			}
			// --http-listen wins over the config; its default only fills in.
			httpDefault := applyHTTPFlags(cmd, values, httpListen, httpPprof)
			if bootstrapAdmin == "" {
				bootstrapAdmin = os.Getenv("SLUICE_BOOTSTRAP_ADMIN")
			}
			var serving func(*node.Node)
			if devSecurity { // devsecurity.go
				if serving, err = applyDevSecurity(dataDir, listen, advertise, values, &bootstrapAdmin, logger.With("node", nodeID), logFormat == "json"); err != nil {
					return err
				}
			}
			cfg := node.Config{
				NodeID: nodeID, Listen: listen, Advertise: advertise, DataDir: dataDir,
				Settings: values, Logger: logger, ControllerListen: controllerListen,
				BootstrapAdmin: bootstrapAdmin, HTTPBestEffort: httpDefault,
			}
			cfg.ReloadSettings = reloadSettings(configFile, settings) // reload.go: POST /v1/config/reload
			applySchemaRegistryFlag(cmd, &cfg, schemaRegistryListen)  // schema.go
			// The node adds its ID to its own lines; serve's lines about
			// it carry the same attribute.
			serving = mirrored.around(cmd.Context(), cfg.NodeID, serving, logger.With("node", nodeID))
			return runServe(cmd.Context(), cfg, logFormat == "json", serving, mirrored.stop)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:9092", "address of the Kafka listener")
	f.StringVar(&advertise, "advertise", "", "host:port clients are told to connect to (default: the listen address)")
	f.StringVar(&dataDir, "data-dir", "./sluice-data", "directory for partition logs and cluster metadata")
	f.Int32Var(&nodeID, "node-id", 1, "this broker's node ID")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "log format: text (logfmt-style key=value) or json (one JSON object per line)")
	f.StringVar(&httpListen, "http-listen", defaultHTTPListen, "address of the HTTP admin listener: /healthz, /readyz, /metrics, the admin API /v1/ (sluice.http.listen); empty turns it off")
	f.StringVar(&schemaRegistryListen, "schema-registry-listen", defaultSchemaRegistryListen, "address of the schema registry's REST listener (Confluent's API); on by default for a single node only; empty turns it off")
	f.BoolVar(&httpPprof, "http-pprof", false, "serve Go's pprof handlers under /debug/pprof/ on the HTTP admin listener (sluice.http.pprof.enable)")
	f.StringArrayVarP(&settings, "config", "c", nil, "broker setting as name=value, with Kafka's names (repeatable)")
	f.StringVar(&configFile, "config-file", "", "properties file of broker settings")
	f.StringVar(&voters, "controller-voters", "", "metadata quorum voters as id@host:port,... (controller.quorum.voters); empty: a one-node cluster")
	f.StringVar(&bootstrapAdmin, "bootstrap-admin", "", "user:password given SCRAM-SHA-256 and SCRAM-SHA-512 credentials when the cluster has none for that user (also $SLUICE_BOOTSTRAP_ADMIN)")
	f.BoolVar(&devSecurity, "dev-security", false, "local TLS+SCRAM setup in one step: generate a CA, certificates and an admin password in the data directory (once), serve SASL_SSL only with ACLs enforced, and print the client configuration")
	f.StringVar(&controllerListen, "controller-listen", "", "host:port of this node's controller (Raft) listener (default: its --controller-voters entry)")
	return cmd
}

// runServe runs a node until ctx ends; serving, if not nil, is called once
// it serves, and stopping, if not nil, before the node shuts down: it
// stops and waits for what serving started. With jsonLog the lines that
// say where it serves go through cfg.Logger, so stderr holds only JSON.
func runServe(ctx context.Context, cfg node.Config, jsonLog bool, serving func(*node.Node), stopping func()) error {
	n, err := node.Start(ctx, cfg)
	if errors.Is(err, config.ErrInvalid) || errors.Is(err, config.ErrUnknown) {
		// A setting from -c or --config-file is wrong: a bad value, as
		// for a bad flag, so scripts see exit status 2.
		return usageError{err}
	}
	if err != nil {
		return err
	}
	logger := cfg.Logger.With("node", cfg.NodeID) // as the node's own lines
	if jsonLog {
		logger.Info(servingKafkaMsg, "addr", n.Addr(), "data_dir", cfg.DataDir)
		if addr := n.SchemaRegistryAddr(); addr != "" {
			logger.Info("serving the schema registry", "url", "http://"+addr)
		}
		if addr := n.HTTPAddr(); addr != "" {
			logger.Info("serving HTTP", "addr", addr, "paths", "/metrics, /healthz, /readyz, admin API /v1/")
		}
	} else {
		fmt.Fprintf(os.Stderr, "%s%s (data in %s)\n", servingKafkaPrefix, n.Addr(), cfg.DataDir)
		if addr := n.SchemaRegistryAddr(); addr != "" {
			fmt.Fprintf(os.Stderr, "sluice: serving the schema registry on http://%s\n", addr)
		}
		if addr := n.HTTPAddr(); addr != "" {
			fmt.Fprintf(os.Stderr, "sluice: serving HTTP on %s (/metrics, /healthz, /readyz, admin API /v1/)\n", addr)
		}
	}
	if serving != nil {
		serving(n)
	}
	// The node fails on its own when its metadata can no longer follow
	// the cluster's (a command from a newer version): stop with its error.
	var failed error
	select {
	case <-ctx.Done():
	case <-n.Failed():
		failed = n.Err()
	}
	logger.Info("shutting down")
	if stopping != nil {
		stopping()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(failed, n.Shutdown(shutdownCtx))
}

// servingKafkaPrefix starts the text line serve writes once it serves
// Kafka; servingKafkaMsg is that event's msg with --log-format json.
const (
	servingKafkaPrefix = "sluice: serving Kafka on "
	servingKafkaMsg    = "serving Kafka"
)

// servingKafka reports whether a line of serve's stderr, in either log
// format, says the node serves Kafka (dev-cluster waits for it).
func servingKafka(line string) bool {
	if strings.HasPrefix(line, servingKafkaPrefix) {
		return true
	}
	var rec struct {
		Msg string `json:"msg"`
	}
	return strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == servingKafkaMsg
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, badValue("--log-level", s, "want debug, info, warn or error", "debug", "info", "warn", "error")
	}
	return l, nil
}

// readProperties reads a Java properties file as java.util.Properties.load
// does: name=value, name:value or name value lines; '#' or '!' comment
// lines; a line ending in an odd number of backslashes goes on in the next
// line, whose leading whitespace is dropped; and backslash escapes (\=, \:,
// \\, \ , \t, \n, \r, \f, \uXXXX; any other escaped character is itself).
// Unlike Java, a name with no value is refused, and the trailing whitespace
// of a value is dropped.
func readProperties(path string, into map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--config-file: %w", err)
	}
	defer f.Close()
	return parseProperties(f, path, into)
}

// parseProperties is readProperties on r; name is the file's, for errors.
func parseProperties(r io.Reader, name string, into map[string]string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var logical strings.Builder
	start, cont := 0, false
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimLeft(sc.Text(), " \t\f")
		if !cont {
			if s == "" || s[0] == '#' || s[0] == '!' {
				continue
			}
			logical.Reset()
			start = line
		}
		// An odd number of trailing backslashes escapes the line end.
		n := len(s) - len(strings.TrimRight(s, `\`))
		cont = n%2 == 1
		if cont {
			s = s[:len(s)-1]
		}
		logical.WriteString(s)
		if cont {
			continue
		}
		k, v, err := splitProperty(logical.String())
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, start, err)
		}
		into[k] = v
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if cont {
		k, v, err := splitProperty(logical.String())
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, start, err)
		}
		into[k] = v
	}
	return nil
}

// splitProperty splits a logical line at its first unescaped '=', ':' or
// whitespace (with whitespace around an '=' or ':' dropped) and unescapes
// both sides.
func splitProperty(s string) (string, string, error) {
	end := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == '=' || s[i] == ':' || s[i] == ' ' || s[i] == '\t' || s[i] == '\f' {
			end = i
			break
		}
	}
	if end <= 0 {
		return "", "", errors.New("want name=value")
	}
	key, rest := s[:end], strings.TrimLeft(s[end:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	} else if s[end] != '=' && s[end] != ':' && rest == "" {
		return "", "", errors.New("want name=value")
	}
	k, err := unescapeProperty(key)
	if err != nil {
		return "", "", err
	}
	v, err := unescapeProperty(trimUnescapedRight(rest))
	if err != nil {
		return "", "", err
	}
	return k, v, nil
}

// trimUnescapedRight drops trailing whitespace that no backslash escapes.
func trimUnescapedRight(s string) string {
	for len(s) > 0 {
		c := s[len(s)-1]
		if c != ' ' && c != '\t' && c != '\f' {
			break
		}
		n := len(s[:len(s)-1]) - len(strings.TrimRight(s[:len(s)-1], `\`))
		if n%2 == 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// unescapeProperty resolves a properties file's backslash escapes.
func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch c = s[i]; c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf(`malformed \uXXXX escape in %q`, s)
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf(`malformed \uXXXX escape in %q`, s)
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
