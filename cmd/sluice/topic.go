package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
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
			resp, err := createTopic(ctx, adm, partitions, replication, cfg, name)
			if err != nil {
				return o.fail("create topic "+name, err)
			}
			if o.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"topic": name, "partitions": resp.NumPartitions, "replication_factor": resp.ReplicationFactor})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created topic %s with %s\n", name, plural(int(resp.NumPartitions), "partition"))
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
	Epoch     int32   `json:"leader_epoch"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	Offline   []int32 `json:"offline_replicas"`
	LogStart  int64   `json:"log_start_offset"` // -1: unknown (see error)
	LogEnd    int64   `json:"log_end_offset"`
	Error     string  `json:"error,omitempty"`
}

// topicIDString writes a topic ID as Kafka does: unpadded URL-safe base64.
func topicIDString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func newTopicDescribe(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's partitions (leader, replicas, ISR, offsets) and non-default configs",
		Long: `Describe shows a topic's ID, its non-default configs and, per partition, the
leader, replicas, in-sync replicas, offline replicas (on brokers that are
down) and the first and next offsets. A partition without a leader (its
brokers are down) is shown with leader -1 and unknown offsets; the others are
shown as usual.`,
		Example: `  sluice topic describe orders
  sluice topic describe orders --output json | jq '.partitions[].log_end_offset'`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			cl, err := o.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			adm := kadm.NewClient(cl)
			td, err := describeTopic(ctx, adm, name)
			if err != nil {
				return o.fail("describe topic "+name, err)
			}
			var led []int32
			for _, p := range td.Partitions {
				if p.Leader >= 0 {
					led = append(led, p.Partition)
				}
			}
			starts := listPartitionOffsets(ctx, cl, name, led, -2, 0)
			ends := listPartitionOffsets(ctx, cl, name, led, -1, 0)
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
				pi := partitionInfo{Partition: p.Partition, Leader: p.Leader, Epoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR,
					Offline: p.OfflineReplicas, LogStart: -1, LogEnd: -1}
				if pi.Offline == nil {
					pi.Offline = []int32{}
				}
				var errs []string
				if p.Leader < 0 {
					errs = append(errs, "no leader: every in-sync replica is offline")
				}
				for _, lo := range []struct {
					offs map[int32]kadm.ListedOffset
					dst  *int64
				}{{starts, &pi.LogStart}, {ends, &pi.LogEnd}} {
					if r, ok := lo.offs[p.Partition]; ok && r.Err == nil {
						*lo.dst = r.Offset
					} else if ok && len(errs) == 0 {
						errs = append(errs, "offsets: "+r.Err.Error())
					}
				}
				pi.Error = strings.Join(errs, "; ")
				parts = append(parts, pi)
			}
			w := cmd.OutOrStdout()
			id := topicIDString(td.ID)
			if o.json() {
				return printJSON(w, map[string]any{"topic": name, "id": id, "partitions": parts, "configs": configs})
			}
			rf := 0
			if len(parts) > 0 {
				rf = len(parts[0].Replicas)
			}
			fmt.Fprintf(w, "Topic: %s\tID: %s\tPartitions: %d\tReplicationFactor: %d\n", name, id, len(parts), rf)
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
				offline := int32List(p.Offline)
				if offline == "" {
					offline = "-"
				}
				table = append(table, []string{fmt.Sprint(p.Partition), fmt.Sprint(p.Leader), int32List(p.Replicas), int32List(p.ISR),
					offline, dash(p.LogStart), dash(p.LogEnd), p.Error})
			}
			return printTable(w, []string{"PARTITION", "LEADER", "REPLICAS", "ISR", "OFFLINE", "LOG-START", "LOG-END", "NOTE"}, table)
		},
	}
}

// listPartitionOffsets asks the leaders of the given partitions of topic
// for an offset by timestamp (-2 the first, -1 the next, else the first at
// or after that time), read_uncommitted (0) or read_committed (1). Unlike
// kadm's topic-wide listings it names only the partitions asked for, those
// with a leader, so one without cannot fail or stall the others; a
// partition whose leader did not answer gets the error.
func listPartitionOffsets(ctx context.Context, cl *kgo.Client, topic string, partitions []int32, timestamp int64, isolation int8) map[int32]kadm.ListedOffset {
	out := map[int32]kadm.ListedOffset{}
	if len(partitions) == 0 {
		return out
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID, req.IsolationLevel = -1, isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, timestamp, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			for _, t := range shard.Req.(*kmsg.ListOffsetsRequest).Topics {
				for _, p := range t.Partitions {
					out[p.Partition] = kadm.ListedOffset{Topic: topic, Partition: p.Partition, Offset: -1, Err: plainError(shard.Err)}
				}
			}
			continue
		}
		for _, t := range shard.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				out[p.Partition] = kadm.ListedOffset{Topic: topic, Partition: p.Partition, Offset: p.Offset, Err: kerr.ErrorForCode(p.ErrorCode)}
			}
		}
	}
	return out
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
				return usageError{fmt.Errorf("nothing to do: give --set name=value or --delete name")}
			}
			alters, err := configAlters("--set", set, del)
			if err != nil {
				return err
			}
			return alterConfigs(cmd, o, configResource{kind: "topic", name: args[0]}, alters, "altered")
		},
	}
	cmd.Flags().StringArrayVar(&set, "set", nil, "config to set, name=value (repeatable)")
	cmd.Flags().StringArrayVar(&del, "delete", nil, "config to return to its default (repeatable)")
	return cmd
}

// configAlters turns name=value settings (given by what: a flag or a
// command) and names to delete into config changes.
func configAlters(what string, set, del []string) ([]kadm.AlterConfig, error) {
	var alters []kadm.AlterConfig
	for _, s := range set {
		k, v, err := parseKV(what, s)
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
				return usageError{fmt.Errorf("--total must be a positive partition count")}
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
			fmt.Fprintf(cmd.OutOrStdout(), "topic %s now has %s\n", name, plural(total, "partition"))
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

// dash is n, or "-" for an unknown (negative) offset or lag.
func dash(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}
