package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newConfigCommand(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Read and change broker and topic configs",
		Long: `Read and change broker and topic configs. A broker is named by its ID, or
by "default" for the cluster-wide broker configs, which every broker uses
where it has no value of its own (Kafka's --entity-default). A config set on
a broker or a topic stays until it is deleted with config delete; the broker
then falls back to the cluster-wide value, and then to its static setting.`,
		Example: `  sluice config get topic orders
  sluice config set topic orders retention.ms=3600000
  sluice config get broker 1 log.retention.ms
  sluice config set broker default follower.replication.throttled.rate=10485760
  sluice config delete broker default follower.replication.throttled.rate`,
	}
	cmd.AddCommand(newConfigGet(o), newConfigSet(o), newConfigDelete(o))
	return cmd
}

// brokerDefault names the cluster-wide broker config resource, which Kafka
// addresses with an empty broker name.
const brokerDefault = "default"

// configResource is the broker|topic NAME of a config command.
type configResource struct {
	kind, name string
	broker     int32 // the broker ID, when kind is broker and name is not brokerDefault
}

// parseResource checks the broker|topic argument and its name.
func parseResource(kind, name string) (configResource, error) {
	r := configResource{kind: kind, name: name}
	switch kind {
	case "topic":
		return r, nil
	case "broker":
		if name == brokerDefault {
			return r, nil
		}
		id, err := strconv.ParseInt(name, 10, 32)
		if err != nil {
			return r, usageError{fmt.Errorf("broker %q: want a broker ID (a number), or %s for the cluster-wide configs", name, brokerDefault)}
		}
		r.broker = int32(id)
		return r, nil
	}
	return r, badValue("resource type", kind, "want broker or topic", "broker", "topic")
}

func (r configResource) String() string { return r.kind + " " + r.name }

// describe returns the resource's configs; kadm asks the broker itself
// for a broker's, and any broker for the cluster-wide ones.
func (r configResource) describe(ctx context.Context, adm *kadm.Client) (kadm.ResourceConfigs, error) {
	switch {
	case r.kind == "topic":
		return adm.DescribeTopicConfigs(ctx, r.name)
	case r.name == brokerDefault:
		return adm.DescribeBrokerConfigs(ctx)
	}
	return adm.DescribeBrokerConfigs(ctx, r.broker)
}

// alter applies incremental changes to the resource.
func (r configResource) alter(ctx context.Context, adm *kadm.Client, alters []kadm.AlterConfig) (kadm.AlterConfigsResponses, error) {
	switch {
	case r.kind == "topic":
		return adm.AlterTopicConfigs(ctx, alters, r.name)
	case r.name == brokerDefault:
		return adm.AlterBrokerConfigs(ctx, alters)
	}
	return adm.AlterBrokerConfigs(ctx, alters, r.broker)
}

func newConfigGet(o *clientOptions) *cobra.Command {
	var nonDefault bool
	cmd := &cobra.Command{
		Use:   "get broker|topic NAME [CONFIG...]",
		Short: "Show configs with their values and where they come from",
		Example: `  sluice config get topic orders
  sluice config get topic orders retention.ms cleanup.policy
  sluice config get broker 1 --non-default
  sluice config get broker default        # the cluster-wide values set with config set broker default`,
		Args: usage(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := parseResource(args[0], args[1])
			if err != nil {
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
			rcs, err := res.describe(ctx, adm)
			if err == nil {
				for _, rc := range rcs {
					if err = respErr(rc.Err, rc.ErrMessage); err != nil {
						break
					}
				}
			}
			if err != nil {
				return o.fail("describe configs of "+res.String(), err)
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
					return fmt.Errorf("%s has no config %q", res, k)
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
		Short: "Set configs on a broker, all brokers (default) or a topic (other configs are left alone)",
		Example: `  sluice config set topic orders retention.ms=3600000 max.message.bytes=2097152
  sluice config set broker 1 log.retention.ms=604800000
  sluice config set broker default max.connections=1000   # cluster-wide`,
		Args: usage(cobra.MinimumNArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := parseResource(args[0], args[1])
			if err != nil {
				return err
			}
			alters, err := configAlters("config set", args[2:], nil)
			if err != nil {
				return err
			}
			return alterConfigs(cmd, o, res, alters, "altered")
		},
	}
}

func newConfigDelete(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "delete broker|topic NAME CONFIG...",
		Short: "Delete configs set on a broker, all brokers (default) or a topic, so the default applies again",
		Example: `  sluice config delete topic orders retention.ms
  sluice config delete broker 1 leader.replication.throttled.rate follower.replication.throttled.rate
  sluice config delete broker default max.connections`,
		Args: usage(cobra.MinimumNArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := parseResource(args[0], args[1])
			if err != nil {
				return err
			}
			for _, k := range args[2:] {
				if strings.Contains(k, "=") {
					return usageError{fmt.Errorf("config delete %q: want a config name, not name=value", k)}
				}
			}
			alters, err := configAlters("config delete", nil, args[2:])
			if err != nil {
				return err
			}
			return alterConfigs(cmd, o, res, alters, "deleted")
		},
	}
}

// alterConfigs applies incremental config changes to one topic or broker
// and reports them with verb (altered, deleted).
func alterConfigs(cmd *cobra.Command, o *clientOptions, res configResource, alters []kadm.AlterConfig, verb string) error {
	adm, ctx, done, err := o.admin(cmd.Context())
	if err != nil {
		return err
	}
	defer done()
	resps, err := res.alter(ctx, adm, alters)
	if err == nil {
		for _, r := range resps {
			if err = respErr(r.Err, r.ErrMessage); err != nil {
				break
			}
		}
	}
	if err != nil {
		return o.fail("alter configs of "+res.String(), err)
	}
	if o.json() {
		return printJSON(cmd.OutOrStdout(), map[string]any{res.kind: res.name, verb: len(alters)})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s of %s\n", verb, plural(len(alters), "config"), res)
	return nil
}
