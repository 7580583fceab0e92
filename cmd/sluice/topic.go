package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTopicCommand(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics",
		Example: `  sluice topic create orders -p 6 -c retention.ms=86400000
  sluice topic list
  sluice topic describe orders`,
	}
	cmd.AddCommand(newTopicCreate(o), newTopicList(o), newTopicDescribe(o),
		newTopicAlterConfig(o), newTopicAddPartitions(o), newTopicDelete(o))
	return cmd
}

func newTopicCreate(o *clientOptions) *cobra.Command {
	var (
		partitions  int32
		replication int16
		configs     []string
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Example: `  sluice topic create orders
  sluice topic create orders -p 6 -r 3 -c cleanup.policy=compact -c retention.ms=3600000`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			cfg := map[string]*string{}
			for _, c := range configs {
				k, v, err := parseKV("--config", c)
				if err != nil {
					return err
				}
				cfg[k] = &v
			}
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := adm.CreateTopic(ctx, partitions, replication, cfg, name)
			if err == nil {
				err = respErr(resp.Err, resp.ErrMessage)
			}
			if err != nil {
				return o.fail("create topic "+name, err)
			}
			if o.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"topic": name, "partitions": resp.NumPartitions, "replication_factor": resp.ReplicationFactor})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created topic %s with %d partitions\n", name, resp.NumPartitions)
			return nil
		},
	}
	cmd.Flags().Int32VarP(&partitions, "partitions", "p", -1, "number of partitions (default: the broker's num.partitions)")
	cmd.Flags().Int16VarP(&replication, "replication-factor", "r", -1, "replicas per partition (default: the broker's default.replication.factor)")
	cmd.Flags().StringArrayVarP(&configs, "config", "c", nil, "topic config as name=value (repeatable)")
	return cmd
}

func newTopicList(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Example: `  sluice topic list
  sluice topic list --output json`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			tds, err := adm.ListTopics(ctx)
			if err != nil {
				return o.fail("list topics", err)
			}
			type row struct {
				Topic      string `json:"topic"`
				Partitions int    `json:"partitions"`
				Replicas   int    `json:"replication_factor"`
			}
			var rows []row
			for _, name := range tds.Names() {
				td := tds[name]
				r := row{Topic: name, Partitions: len(td.Partitions)}
				if p, ok := td.Partitions[0]; ok {
					r.Replicas = len(p.Replicas)
				}
				rows = append(rows, r)
			}
			if o.json() {
				if rows == nil {
					rows = []row{}
				}
				return printJSON(cmd.OutOrStdout(), rows)
			}
			var table [][]string
			for _, r := range rows {
				table = append(table, []string{r.Topic, fmt.Sprint(r.Partitions), fmt.Sprint(r.Replicas)})
			}
			return printTable(cmd.OutOrStdout(), []string{"TOPIC", "PARTITIONS", "REPLICAS"}, table)
		},
	}
}

type partitionInfo struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	LogStart  int64   `json:"log_start_offset"`
	LogEnd    int64   `json:"log_end_offset"`
}

func newTopicDescribe(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's partitions (leader, replicas, ISR, offsets) and non-default configs",
		Example: `  sluice topic describe orders
  sluice topic describe orders --output json | jq '.partitions[].log_end_offset'`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			td, err := describeTopic(ctx, adm, name)
			if err != nil {
				return o.fail("describe topic "+name, err)
			}
			starts, err := adm.ListStartOffsets(ctx, name)
			if err != nil {
				return o.fail("list start offsets of "+name, err)
			}
			ends, err := adm.ListEndOffsets(ctx, name)
			if err != nil {
				return o.fail("list end offsets of "+name, err)
			}
			rcs, err := adm.DescribeTopicConfigs(ctx, name)
			if err != nil {
				return o.fail("describe configs of "+name, err)
			}
			configs := map[string]string{}
			for _, rc := range rcs {
				if rc.Err != nil {
					return o.fail("describe configs of "+name, respErr(rc.Err, rc.ErrMessage))
				}
				for _, c := range rc.Configs {
					if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
						configs[c.Key] = configValue(c)
					}
				}
			}
			var parts []partitionInfo
			for _, p := range td.Partitions.Sorted() {
				pi := partitionInfo{Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR, LogStart: -1, LogEnd: -1}
				if s, ok := starts.Lookup(name, p.Partition); ok && s.Err == nil {
					pi.LogStart = s.Offset
				}
				if e, ok := ends.Lookup(name, p.Partition); ok && e.Err == nil {
					pi.LogEnd = e.Offset
				}
				parts = append(parts, pi)
			}
			w := cmd.OutOrStdout()
			if o.json() {
				return printJSON(w, map[string]any{"topic": name, "id": td.ID.String(), "partitions": parts, "configs": configs})
			}
			rf := 0
			if len(parts) > 0 {
				rf = len(parts[0].Replicas)
			}
			fmt.Fprintf(w, "Topic: %s\tID: %s\tPartitions: %d\tReplicationFactor: %d\n", name, td.ID, len(parts), rf)
			keys := make([]string, 0, len(configs))
			for k := range configs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var kv []string
			for _, k := range keys {
				kv = append(kv, k+"="+configs[k])
			}
			fmt.Fprintf(w, "Configs: %s\n\n", strings.Join(kv, ","))
			var table [][]string
			for _, p := range parts {
				table = append(table, []string{fmt.Sprint(p.Partition), fmt.Sprint(p.Leader), int32List(p.Replicas), int32List(p.ISR), fmt.Sprint(p.LogStart), fmt.Sprint(p.LogEnd)})
			}
			return printTable(w, []string{"PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START", "LOG-END"}, table)
		},
	}
}

// describeTopic returns a topic's metadata, or an error if it does not exist.
func describeTopic(ctx context.Context, adm *kadm.Client, name string) (kadm.TopicDetail, error) {
	tds, err := adm.ListTopics(ctx, name)
	if err != nil {
		return kadm.TopicDetail{}, err
	}
	td, ok := tds[name]
	if !ok {
		return td, fmt.Errorf("topic %s does not exist", name)
	}
	if errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return td, fmt.Errorf("topic %s does not exist (%s)", name, kerr.UnknownTopicOrPartition.Message)
	}
	if td.Err != nil {
		return td, td.Err
	}
	return td, nil
}

func configValue(c kadm.Config) string {
	if c.Sensitive {
		return "[hidden]"
	}
	if c.Value == nil {
		return "null"
	}
	return *c.Value
}

func newTopicAlterConfig(o *clientOptions) *cobra.Command {
	var set, del []string
	cmd := &cobra.Command{
		Use:   "alter-config NAME",
		Short: "Set or delete a topic's configs",
		Example: `  sluice topic alter-config orders --set retention.ms=3600000 --set cleanup.policy=compact
  sluice topic alter-config orders --delete retention.ms`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(set) == 0 && len(del) == 0 {
				return fmt.Errorf("nothing to do: give --set name=value or --delete name")
			}
			alters, err := configAlters(set, del)
			if err != nil {
				return err
			}
			return alterConfigs(cmd, o, "topic", args[0], alters)
		},
	}
	cmd.Flags().StringArrayVar(&set, "set", nil, "config to set, name=value (repeatable)")
	cmd.Flags().StringArrayVar(&del, "delete", nil, "config to return to its default (repeatable)")
	return cmd
}

func configAlters(set, del []string) ([]kadm.AlterConfig, error) {
	var alters []kadm.AlterConfig
	for _, s := range set {
		k, v, err := parseKV("--set", s)
		if err != nil {
			return nil, err
		}
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
	}
	for _, k := range del {
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	return alters, nil
}

func newTopicAddPartitions(o *clientOptions) *cobra.Command {
	var total int
	cmd := &cobra.Command{
		Use:     "add-partitions NAME --total N",
		Short:   "Grow a topic to N partitions",
		Example: `  sluice topic add-partitions orders --total 12`,
		Args:    usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if total <= 0 {
				return fmt.Errorf("--total must be a positive partition count")
			}
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.UpdatePartitions(ctx, total, name)
			if err == nil {
				for _, r := range resps {
					if err = respErr(r.Err, r.ErrMessage); err != nil {
						break
					}
				}
			}
			if err != nil {
				return o.fail("add partitions to "+name, err)
			}
			if o.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"topic": name, "partitions": total})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "topic %s now has %d partitions\n", name, total)
			return nil
		},
	}
	cmd.Flags().IntVar(&total, "total", 0, "the partition count to grow to")
	cmd.MarkFlagRequired("total")
	return cmd
}

func newTopicDelete(o *clientOptions) *cobra.Command {
	return newDeleteCommand(o, "topic", "delete NAME", "Delete a topic and its records", `  sluice topic delete orders`,
		func(ctx context.Context, adm *kadm.Client, name string) error {
			resp, err := adm.DeleteTopic(ctx, name)
			if err != nil {
				return err
			}
			return respErr(resp.Err, resp.ErrMessage)
		})
}
