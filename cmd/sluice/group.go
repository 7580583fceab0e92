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

func newGroupCommand(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, reset and delete consumer groups",
		Example: `  sluice group list
  sluice group describe billing
  sluice group reset-offsets billing --topic orders --to earliest --dry-run`,
	}
	cmd.AddCommand(newGroupList(o), newGroupDescribe(o), newGroupDelete(o), newGroupResetOffsets(o))
	return cmd
}

func newGroupList(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List consumer groups with their state",
		Example: `  sluice group list --output json`,
		Args:    usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			gs, err := adm.ListGroups(ctx)
			if err != nil {
				return o.fail("list groups", err)
			}
			type row struct {
				Group        string `json:"group"`
				State        string `json:"state"`
				ProtocolType string `json:"protocol_type"`
				Coordinator  int32  `json:"coordinator"`
			}
			rows := []row{}
			var table [][]string
			for _, g := range gs.Sorted() {
				rows = append(rows, row{g.Group, g.State, g.ProtocolType, g.Coordinator})
				table = append(table, []string{g.Group, g.State, g.ProtocolType, fmt.Sprint(g.Coordinator)})
			}
			if o.json() {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			return printTable(cmd.OutOrStdout(), []string{"GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"}, table)
		},
	}
}

func newGroupDescribe(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's members, assignments, committed offsets and lag",
		Example: `  sluice group describe billing
  sluice group describe billing --output json | jq '.partitions[] | select(.lag > 0)'`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			lags, err := adm.Lag(ctx, group)
			if err != nil {
				return o.fail("describe group "+group, err)
			}
			l, ok := lags[group]
			if !ok {
				return fmt.Errorf("describe group %s: no answer for the group", group)
			}
			if err := l.Error(); err != nil {
				return o.fail("describe group "+group, err)
			}
			if l.State == "Dead" && len(l.Lag) == 0 {
				return fmt.Errorf("describe group %s: group does not exist", group)
			}
			type member struct {
				ID         string   `json:"member_id"`
				ClientID   string   `json:"client_id"`
				Host       string   `json:"host"`
				Assignment []string `json:"assignment"`
			}
			type partition struct {
				Topic     string `json:"topic"`
				Partition int32  `json:"partition"`
				Committed int64  `json:"committed"`
				End       int64  `json:"end"`
				Lag       int64  `json:"lag"`
				Member    string `json:"member,omitempty"`
			}
			var members []member
			for _, m := range l.Members {
				mb := member{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assignment: []string{}}
				if a, ok := m.Assigned.AsConsumer(); ok {
					for _, t := range a.Topics {
						ps := append([]int32(nil), t.Partitions...)
						sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
						mb.Assignment = append(mb.Assignment, t.Topic+":"+int32List(ps))
					}
				}
				members = append(members, mb)
			}
			parts := []partition{}
			for _, ml := range l.Lag.Sorted() {
				p := partition{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, End: ml.End.Offset, Lag: ml.Lag}
				if ml.Member != nil {
					p.Member = ml.Member.MemberID
				}
				parts = append(parts, p)
			}
			w := cmd.OutOrStdout()
			if o.json() {
				if members == nil {
					members = []member{}
				}
				return printJSON(w, map[string]any{"group": group, "state": l.State, "protocol": l.Protocol,
					"coordinator": l.Coordinator.NodeID, "members": members, "partitions": parts})
			}
			fmt.Fprintf(w, "Group: %s\tState: %s\tProtocol: %s\tCoordinator: %d\tMembers: %d\n\n",
				group, l.State, l.Protocol, l.Coordinator.NodeID, len(members))
			if len(members) > 0 {
				var table [][]string
				for _, m := range members {
					table = append(table, []string{m.ID, m.ClientID, m.Host, strings.Join(m.Assignment, " ")})
				}
				printTable(w, []string{"MEMBER", "CLIENT-ID", "HOST", "ASSIGNMENT"}, table)
				fmt.Fprintln(w)
			}
			var table [][]string
			for _, p := range parts {
				committed := "-"
				if p.Committed >= 0 {
					committed = fmt.Sprint(p.Committed)
				}
				table = append(table, []string{p.Topic, fmt.Sprint(p.Partition), committed, fmt.Sprint(p.End), fmt.Sprint(p.Lag), p.Member})
			}
			return printTable(w, []string{"TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER"}, table)
		},
	}
}

func newGroupDelete(o *clientOptions) *cobra.Command {
	return newDeleteCommand(o, "group", "delete GROUP", "Delete an empty group and its committed offsets", `  sluice group delete billing`,
		func(ctx context.Context, adm *kadm.Client, group string) error {
			resp, err := adm.DeleteGroup(ctx, group)
			if err != nil {
				return err
			}
			return respErr(resp.Err, resp.ErrMessage)
		})
}

// resetSpec is a parsed --to.
type resetSpec struct {
	kind string // earliest, latest, offset, timestamp, shift
	n    int64
}

func parseResetTo(s string) (resetSpec, error) {
	switch s {
	case "earliest", "latest":
		return resetSpec{kind: s}, nil
	}
	kind, num, ok := strings.Cut(s, ":")
	if ok {
		n, err := strconv.ParseInt(num, 10, 64)
		if err == nil {
			switch kind {
			case "offset", "timestamp", "shift":
				return resetSpec{kind: kind, n: n}, nil
			}
		}
	}
	return resetSpec{}, fmt.Errorf("--to %q: want earliest, latest, offset:N, timestamp:MILLIS or shift:N", s)
}

func newGroupResetOffsets(o *clientOptions) *cobra.Command {
	var (
		topic  string
		to     string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP --topic TOPIC --to SPEC",
		Short: "Move a group's committed offsets on a topic (the group must have no members)",
		Long: `reset-offsets commits new offsets for every partition of TOPIC on behalf of
GROUP and prints the plan. --to is earliest, latest, offset:N, timestamp:MILLIS
(the first record at or after that time) or shift:N (N may be negative);
offsets are clamped to each partition's log. It refuses while the group has
members, as kafka-consumer-groups does: stop the consumers first.`,
		Example: `  sluice group reset-offsets billing --topic orders --to earliest --dry-run
  sluice group reset-offsets billing --topic orders --to shift:-100
  sluice group reset-offsets billing --topic orders --to timestamp:1767225600000`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			spec, err := parseResetTo(to)
			if err != nil {
				return err
			}
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			dgs, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return o.fail("describe group "+group, err)
			}
			if dg, ok := dgs[group]; ok {
				if err := respErr(dg.Err, dg.ErrMessage); err != nil {
					return o.fail("describe group "+group, err)
				}
				if len(dg.Members) > 0 {
					return fmt.Errorf("reset offsets of group %s: the group is %s with %d active members; stop them first", group, dg.State, len(dg.Members))
				}
			}
			if _, err := describeTopic(ctx, adm, topic); err != nil {
				return o.fail("reset offsets of group "+group, err)
			}
			lo, err := adm.ListStartOffsets(ctx, topic)
			if err != nil {
				return o.fail("list start offsets of "+topic, err)
			}
			starts, err := listedMap(lo, topic)
			if err != nil {
				return o.fail("list start offsets of "+topic, err)
			}
			if lo, err = adm.ListEndOffsets(ctx, topic); err != nil {
				return o.fail("list end offsets of "+topic, err)
			}
			ends, err := listedMap(lo, topic)
			if err != nil {
				return o.fail("list end offsets of "+topic, err)
			}
			var times kadm.ListedOffsets
			if spec.kind == "timestamp" {
				if times, err = adm.ListOffsetsAfterMilli(ctx, spec.n, topic); err != nil {
					return o.fail("list offsets by time of "+topic, err)
				}
			}
			committed, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				return o.fail("fetch committed offsets of group "+group, err)
			}

			type planRow struct {
				Topic     string `json:"topic"`
				Partition int32  `json:"partition"`
				Current   int64  `json:"current"`
				New       int64  `json:"new"`
			}
			var plan []planRow
			commit := kadm.Offsets{}
			for p, end := range ends {
				start := starts[p]
				current := int64(-1)
				if or, ok := committed.Lookup(topic, p); ok && or.Err == nil {
					current = or.At
				}
				var at int64
				switch spec.kind {
				case "earliest":
					at = start
				case "latest":
					at = end
				case "offset":
					at = spec.n
				case "timestamp":
					at = end
					if t, ok := times.Lookup(topic, p); ok && t.Err == nil && t.Offset >= 0 {
						at = t.Offset
					}
				case "shift":
					base := current
					if base < 0 {
						base = start
					}
					at = base + spec.n
				}
				at = min(max(at, start), end)
				plan = append(plan, planRow{topic, p, current, at})
				commit.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
			}
			sort.Slice(plan, func(i, j int) bool { return plan[i].Partition < plan[j].Partition })
			if !dryRun {
				resps, err := adm.CommitOffsets(ctx, group, commit)
				if err == nil {
					err = resps.Error()
				}
				if err != nil {
					return o.fail("commit offsets of group "+group, err)
				}
			}
			w := cmd.OutOrStdout()
			if o.json() {
				return printJSON(w, map[string]any{"group": group, "dry_run": dryRun, "partitions": plan})
			}
			var table [][]string
			for _, r := range plan {
				cur := "-"
				if r.Current >= 0 {
					cur = fmt.Sprint(r.Current)
				}
				table = append(table, []string{r.Topic, fmt.Sprint(r.Partition), cur, fmt.Sprint(r.New)})
			}
			if err := printTable(w, []string{"TOPIC", "PARTITION", "CURRENT", "NEW"}, table); err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintln(w, "dry run: nothing committed")
			} else {
				fmt.Fprintf(w, "reset %d partitions of group %s\n", len(plan), group)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "the topic whose offsets to reset")
	f.StringVar(&to, "to", "", "earliest, latest, offset:N, timestamp:MILLIS or shift:N")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan without committing")
	cmd.MarkFlagRequired("topic")
	cmd.MarkFlagRequired("to")
	return cmd
}
