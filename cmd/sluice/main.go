// Command sluice is a Kafka-compatible commit log in one binary: `sluice
// serve` runs a broker; the other subcommands are clients.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", errorLine(err))
		// Scripts can tell a misused command (2) from a failed one (1).
		var ue usageError
		if errors.As(err, &ue) || isCobraUsage(err) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "A Kafka-compatible commit log in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newDevClusterCommand(), newSchemaCommand())
	root.AddCommand(newClientCommands(root)...)
	root.AddCommand(newMirrorCommand()) // mirror.go
	addVersion(root)                    // version.go
	requireSubcommands(root)            // usage.go: after every command is added
	return root
}
