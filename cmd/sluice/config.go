package main

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newConfigCommand(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Read and change broker and topic configs",
		Example: `  sluice config get topic orders
  sluice config set topic orders retention.ms=3600000
  sluice config get broker 1 log.retention.ms`,
	}
	cmd.AddCommand(newConfigGet(o), newConfigSet(o))
	return cmd
}

// resourceKind checks the broker|topic argument.
func resourceKind(kind, name string) error {
	switch kind {
	case "topic":
		return nil
	case "broker":
		if _, err := strconv.ParseInt(name, 10, 32); err != nil {
			return usageError{fmt.Errorf("broker %q: want a broker ID (a number)", name)}
		}
		return nil
	}
	return badValue("resource type", kind, "want broker or topic", "broker", "topic")
}

func newConfigGet(o *clientOptions) *cobra.Command {
	var nonDefault bool
	cmd := &cobra.Command{
		Use:   "get broker|topic NAME [CONFIG...]",
		Short: "Show configs with their values and where they come from",
		Example: `  sluice config get topic orders
  sluice config get topic orders retention.ms cleanup.policy
  sluice config get broker 1 --non-default`,
		Args: usage(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name := args[0], args[1]
			if err := resourceKind(kind, name); err != nil {
				return err
			}
			only := map[string]bool{}
			for _, k := range args[2:] {
				only[k] = true
			}
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			var rcs kadm.ResourceConfigs
			if kind == "topic" {
				rcs, err = adm.DescribeTopicConfigs(ctx, name)
			} else {
				id, _ := strconv.ParseInt(name, 10, 32)
				rcs, err = adm.DescribeBrokerConfigs(ctx, int32(id))
			}
			if err == nil {
				for _, rc := range rcs {
					if err = respErr(rc.Err, rc.ErrMessage); err != nil {
						break
					}
				}
			}
			if err != nil {
				return o.fail("describe configs of "+kind+" "+name, err)
			}
			type row struct {
				Name      string `json:"name"`
				Value     string `json:"value"`
				Source    string `json:"source"`
				Sensitive bool   `json:"sensitive,omitempty"`
			}
			var rows []row
			for _, rc := range rcs {
				for _, c := range rc.Configs {
					if len(only) > 0 && !only[c.Key] {
						continue
					}
					if nonDefault && c.Source.String() == "DEFAULT_CONFIG" {
						continue
					}
					rows = append(rows, row{Name: c.Key, Value: configValue(c), Source: c.Source.String(), Sensitive: c.Sensitive})
				}
			}
			for k := range only {
				found := false
				for _, r := range rows {
					found = found || r.Name == k
				}
				if !found {
					return fmt.Errorf("%s %s has no config %q", kind, name, k)
				}
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
			if o.json() {
				if rows == nil {
					rows = []row{}
				}
				return printJSON(cmd.OutOrStdout(), rows)
			}
			var table [][]string
			for _, r := range rows {
				table = append(table, []string{r.Name, r.Value, r.Source})
			}
			return printTable(cmd.OutOrStdout(), []string{"NAME", "VALUE", "SOURCE"}, table)
		},
	}
	cmd.Flags().BoolVar(&nonDefault, "non-default", false, "show only configs that differ from the default")
	return cmd
}

func newConfigSet(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "set broker|topic NAME name=value...",
		Short: "Set configs on a broker or a topic (other configs are left alone)",
		Example: `  sluice config set topic orders retention.ms=3600000 max.message.bytes=2097152
  sluice config set broker 1 log.retention.ms=604800000`,
		Args: usage(cobra.MinimumNArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name := args[0], args[1]
			if err := resourceKind(kind, name); err != nil {
				return err
			}
			alters, err := configAlters("config set", args[2:], nil)
			if err != nil {
				return err
			}
			return alterConfigs(cmd, o, kind, name, alters)
		},
	}
}

// alterConfigs applies incremental config changes to one topic or broker.
func alterConfigs(cmd *cobra.Command, o *clientOptions, kind, name string, alters []kadm.AlterConfig) error {
	adm, ctx, done, err := o.admin(cmd.Context())
	if err != nil {
		return err
	}
	defer done()
	var resps kadm.AlterConfigsResponses
	if kind == "topic" {
		resps, err = adm.AlterTopicConfigs(ctx, alters, name)
	} else {
		id, _ := strconv.ParseInt(name, 10, 32)
		resps, err = adm.AlterBrokerConfigs(ctx, alters, int32(id))
	}
	if err == nil {
		for _, r := range resps {
			if err = respErr(r.Err, r.ErrMessage); err != nil {
				break
			}
		}
	}
	if err != nil {
		return o.fail("alter configs of "+kind+" "+name, err)
	}
	if o.json() {
		return printJSON(cmd.OutOrStdout(), map[string]any{kind: name, "altered": len(alters)})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "altered %s of %s %s\n", plural(len(alters), "config"), kind, name)
	return nil
}
