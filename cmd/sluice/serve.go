package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

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
		Args: cobra.NoArgs,
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
					return fmt.Errorf("--config %q: want name=value", kv)
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
				if serving, err = applyDevSecurity(dataDir, listen, advertise, values, &bootstrapAdmin); err != nil {
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
			serving = mirrored.around(cmd.Context(), cfg.NodeID, serving, logger)
			return runServe(cmd.Context(), cfg, serving, mirrored.stop)
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
// stops and waits for what serving started.
func runServe(ctx context.Context, cfg node.Config, serving func(*node.Node), stopping func()) error {
	n, err := node.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "sluice: serving Kafka on %s (data in %s)\n", n.Addr(), cfg.DataDir)
	if addr := n.SchemaRegistryAddr(); addr != "" {
		fmt.Fprintf(os.Stderr, "sluice: serving the schema registry on http://%s\n", addr)
	}
	if addr := n.HTTPAddr(); addr != "" {
		fmt.Fprintf(os.Stderr, "sluice: serving HTTP on %s (/metrics, /healthz, /readyz, admin API /v1/)\n", addr)
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
	cfg.Logger.Info("shutting down")
	if stopping != nil {
		stopping()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(failed, n.Shutdown(shutdownCtx))
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// readProperties reads a Java-style properties file: name=value lines,
// '#' or '!' comments.
func readProperties(path string, into map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--config-file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' || s[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			k, v, ok = strings.Cut(s, ":")
		}
		if !ok {
			return fmt.Errorf("%s:%d: want name=value", path, line)
		}
		into[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return sc.Err()
}
