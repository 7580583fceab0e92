package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clientOptions are the flags shared by every client subcommand: where the
// cluster is, how to print, and how long to wait for it.
type clientOptions struct {
	brokers string
	output  string
	timeout time.Duration
}

// newClientCommands registers the shared client flags on root and returns
// the client subcommands (everything but serve).
func newClientCommands(root *cobra.Command) []*cobra.Command {
	o := &clientOptions{}
	def := os.Getenv("SLUICE_BROKERS")
	if def == "" {
		def = "127.0.0.1:9092"
	}
	root.SetFlagErrorFunc(flagError)
	f := root.PersistentFlags()
	f.StringVarP(&o.brokers, "brokers", "b", def, "comma-separated seed brokers, host:port (env SLUICE_BROKERS)")
	f.StringVar(&o.output, "output", "table", "output format: table or json")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to wait for the cluster to answer")
	return []*cobra.Command{
		newTopicCommand(o),
		newProduceCommand(o),
		newConsumeCommand(o),
		newGroupCommand(o),
		newClusterCommand(o),
		newConfigCommand(o),
	}
}

// client returns a franz-go client for the configured brokers.
func (o *clientOptions) client(opts ...kgo.Opt) (*kgo.Client, error) {
	if o.output != "table" && o.output != "json" {
		return nil, fmt.Errorf("--output %q: want table or json", o.output)
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
		kgo.DialTimeout(o.timeout),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", o.brokers, err)
	}
	return cl, nil
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
	return fmt.Errorf("%s: %w", what, err)
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

// parseKV splits name=value.
func parseKV(flag, s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("%s %q: want name=value", flag, s)
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
	return usageError{fmt.Errorf("%s: %w (see %s --help)", subPath(cmd), err, cmd.CommandPath())}
}

// subPath is the command's path without the program name, which main
// already prints.
func subPath(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}
