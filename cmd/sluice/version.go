package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluice-io/sluice/internal/buildinfo"
)

// addVersion gives root a `version` subcommand and a --version flag.
func addVersion(root *cobra.Command) {
	info := buildinfo.Get()
	root.Version = info.Version
	root.SetVersionTemplate(info.String() + "\n")
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print Sluice's version, commit, build time and Go version",
		Example: `  sluice version
  sluice version --json
  sluice version --output json`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f := cmd.Flag("output"); f != nil && f.Value.String() == "json" {
				asJSON = true
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), info)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), info.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON (as --output json)")
	root.AddCommand(cmd)
}
