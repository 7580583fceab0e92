package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
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

// groupTypes are the group types group list --type takes, as
// kafka-consumer-groups.sh --list --type does (KIP-848).
var groupTypes = []string{"classic", "consumer"}

func newGroupList(o *clientOptions) *cobra.Command {
	var types []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List consumer groups with their state and type",
		Long: `list shows every group with its state, protocol type, coordinator and type:
classic (the JoinGroup/SyncGroup protocol) or consumer (KIP-848,
group.protocol=consumer), as ListGroups v5 reports it. --type lists only
groups of the given types (comma-separated or repeated), like
kafka-consumer-groups.sh --list --type.`,
		Example: `  sluice group list --output json
  sluice group list --type consumer`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			want := map[string]bool{}
			for _, t := range types {
				t = strings.ToLower(strings.TrimSpace(t))
				if err := oneOf("--type", t, groupTypes...); err != nil {
					return err
				}
				want[t] = true
			}
			filter := make([]string, 0, len(want))
			for _, t := range groupTypes {
				if want[t] {
					filter = append(filter, t)
				}
			}
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			gs, err := adm.ListGroupsByType(ctx, filter)
			if err != nil {
				return o.fail("list groups", err)
			}
			type row struct {
				Group        string `json:"group"`
				State        string `json:"state"`
				ProtocolType string `json:"protocol_type"`
				Coordinator  int32  `json:"coordinator"`
				Type         string `json:"type"`
			}
			rows := []row{}
			var table [][]string
			for _, g := range gs.Sorted() {
				// The broker filters by type (ListGroups v5). One older
				// than that answers every group without its type, and
				// the filter cannot be honoured, as Kafka's admin client
				// says too.
				if len(want) > 0 && g.GroupType == "" {
					return fmt.Errorf("list groups of type %s: the brokers do not report group types (ListGroups v5, Kafka 3.8+)", strings.Join(filter, ","))
				}
				if len(want) > 0 && !want[strings.ToLower(g.GroupType)] {
					continue
				}
				rows = append(rows, row{g.Group, g.State, g.ProtocolType, g.Coordinator, g.GroupType})
				table = append(table, []string{g.Group, g.State, g.ProtocolType, fmt.Sprint(g.Coordinator), cmp.Or(g.GroupType, "-")})
			}
			if o.json() {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			return printTable(cmd.OutOrStdout(), []string{"GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR", "TYPE"}, table)
		},
	}
	cmd.Flags().StringSliceVar(&types, "type", nil, "list only groups of these types: classic, consumer (comma-separated)")
	return cmd
}

func newGroupDescribe(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's members, assignments, committed offsets and lag",
		Long: `describe shows a group's state, members, assignments, committed offsets and
lag, like kafka-consumer-groups.sh --describe, for classic groups and for
KIP-848 consumer groups (group.protocol=consumer). For the latter it also
shows the group's type and epoch, and each member's instance ID and epoch;
Protocol is the broker's assignor.`,
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
			// A KIP-848 group (group.protocol=consumer) is described by
			// ConsumerGroupDescribe; DescribeGroups knows only classic
			// groups. As Kafka's Admin.describeConsumerGroups does, ask the
			// first and fall back to the second when the group is not a
			// consumer group.
			cg, isConsumer, err := describeConsumerGroup(ctx, adm, group)
			if err != nil {
				return o.fail("describe group "+group, err)
			}
			if isConsumer {
				return printConsumerGroup(ctx, cmd.OutOrStdout(), o, adm, cg)
			}
			lags, err := adm.Lag(ctx, group)
			if err != nil {
				return o.fail("describe group "+group, err)
			}
			leaderless := leaderlessPartitions(ctx, adm)
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
			parts := []groupPartition{}
			for _, ml := range l.Lag.Sorted() {
				p := groupPartition{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, End: ml.End.Offset, Lag: ml.Lag}
				if ml.Member != nil {
					p.Member = ml.Member.MemberID
				}
				if ml.Err != nil || ml.End.Err != nil {
					// The partition's leader is down (or its offsets could not
					// be read): its end and lag are unknown, not zero.
					p.End, p.Lag = -1, -1
					p.Error = partitionNote(leaderless[ml.Topic], ml.Partition, cmp.Or(ml.End.Err, ml.Err))
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
			return printGroupPartitions(w, parts)
		},
	}
}

// groupPartition is one partition in group describe: where the group is
// and how far behind.
type groupPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"` // -1: unknown (see error)
	Lag       int64  `json:"lag"` // -1: unknown
	Member    string `json:"member,omitempty"`
	Error     string `json:"error,omitempty"`
}

// printGroupPartitions writes group describe's partition table.
func printGroupPartitions(w io.Writer, parts []groupPartition) error {
	var table [][]string
	for _, p := range parts {
		table = append(table, []string{p.Topic, fmt.Sprint(p.Partition), dash(p.Committed), dash(p.End), dash(p.Lag), p.Member, p.Error})
	}
	return printTable(w, []string{"TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER", "NOTE"}, table)
}

// describeConsumerGroup describes a KIP-848 group with ConsumerGroupDescribe.
// It reports false, with no error, when the group is not a consumer group
// (GROUP_ID_NOT_FOUND: a classic group, or no group at all) or when the
// request failed, as it does on a broker older than KIP-848, so that the
// classic DescribeGroups can answer (and report any real failure).
func describeConsumerGroup(ctx context.Context, adm *kadm.Client, group string) (kadm.DescribedConsumerGroup, bool, error) {
	dgs, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		var ae *kadm.AuthError
		if errors.As(err, &ae) {
			return kadm.DescribedConsumerGroup{}, false, err
		}
		return kadm.DescribedConsumerGroup{}, false, nil
	}
	dg, ok := dgs[group]
	switch {
	case !ok, errors.Is(dg.Err, kerr.GroupIDNotFound), errors.Is(dg.Err, kerr.UnsupportedVersion):
		return dg, false, nil
	case dg.Err != nil:
		return dg, false, dg.Err
	}
	return dg, true, nil
}

// topicsList writes a set of partitions as group describe shows an
// assignment: TOPIC:P,P per topic, sorted.
func topicsList(s kadm.TopicsSet) []string {
	out := []string{}
	for _, tp := range s.Sorted() {
		out = append(out, tp.Topic+":"+int32List(tp.Partitions))
	}
	return out
}

// printConsumerGroup prints a KIP-848 group as group describe prints a
// classic one, adding what only such groups have: the group's type and
// epoch, and each member's instance ID, epoch and target assignment (JSON).
// Protocol is the server-side assignor.
func printConsumerGroup(ctx context.Context, w io.Writer, o *clientOptions, adm *kadm.Client, g kadm.DescribedConsumerGroup) error {
	parts, err := consumerGroupLag(ctx, adm, g)
	if err != nil {
		return o.fail("describe group "+g.Group, err)
	}
	type member struct {
		ID               string   `json:"member_id"`
		InstanceID       *string  `json:"instance_id"`
		ClientID         string   `json:"client_id"`
		Host             string   `json:"host"`
		Epoch            int32    `json:"member_epoch"`
		Subscribed       []string `json:"subscribed_topics"`
		Assignment       []string `json:"assignment"`
		TargetAssignment []string `json:"target_assignment"`
	}
	members := []member{}
	for _, m := range g.Members {
		subscribed := append([]string{}, m.SubscribedTopics...)
		sort.Strings(subscribed)
		members = append(members, member{ID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, Host: m.ClientHost,
			Epoch: m.MemberEpoch, Subscribed: subscribed, Assignment: topicsList(m.Assignment), TargetAssignment: topicsList(m.TargetAssignment)})
	}
	if o.json() {
		return printJSON(w, map[string]any{"group": g.Group, "type": "consumer", "state": g.State, "protocol": g.AssignorName,
			"epoch": g.Epoch, "assignment_epoch": g.AssignmentEpoch, "coordinator": g.Coordinator.NodeID,
			"members": members, "partitions": parts})
	}
	fmt.Fprintf(w, "Group: %s\tState: %s\tProtocol: %s\tCoordinator: %d\tMembers: %d\tType: consumer\tEpoch: %d\n\n",
		g.Group, g.State, g.AssignorName, g.Coordinator.NodeID, len(members), g.Epoch)
	if len(members) > 0 {
		var table [][]string
		for _, m := range members {
			instance := "-"
			if m.InstanceID != nil {
				instance = *m.InstanceID
			}
			table = append(table, []string{m.ID, instance, m.ClientID, m.Host, fmt.Sprint(m.Epoch), strings.Join(m.Assignment, " ")})
		}
		printTable(w, []string{"MEMBER", "INSTANCE-ID", "CLIENT-ID", "HOST", "EPOCH", "ASSIGNMENT"}, table)
		fmt.Fprintln(w)
	}
	return printGroupPartitions(w, parts)
}

// consumerGroupLag is kadm's Lag for a KIP-848 group, whose members
// DescribeGroups does not know: a row for every partition of each topic
// the group is assigned, subscribes to or has committed offsets for, with
// its owner, committed offset, end and lag. Without a commit, the lag is
// counted from the log's start.
func consumerGroupLag(ctx context.Context, adm *kadm.Client, g kadm.DescribedConsumerGroup) ([]groupPartition, error) {
	committed, err := adm.FetchOffsets(ctx, g.Group)
	if err != nil {
		return nil, fmt.Errorf("fetch committed offsets: %w", plainError(err))
	}
	owner := map[string]map[int32]string{}
	want := kadm.TopicsSet{}
	for _, m := range g.Members {
		m.Assignment.Each(func(t string, p int32) {
			if owner[t] == nil {
				owner[t] = map[int32]string{}
			}
			owner[t][p] = m.MemberID
		})
		want.Merge(m.Assignment)
		want.MergeTopics(m.SubscribedTopics)
	}
	want.Merge(committed.Partitions())
	topics := want.Topics()
	var starts, ends kadm.ListedOffsets
	if len(topics) > 0 {
		// A broker that cannot answer leaves its partitions out; they
		// are reported below, as kadm's Lag does.
		var se *kadm.ShardErrors
		if starts, err = adm.ListStartOffsets(ctx, topics...); err != nil && !errors.As(err, &se) {
			return nil, fmt.Errorf("list start offsets: %w", plainError(err))
		}
		if ends, err = adm.ListEndOffsets(ctx, topics...); err != nil && !errors.As(err, &se) {
			return nil, fmt.Errorf("list end offsets: %w", plainError(err))
		}
	}
	leaderless := leaderlessPartitions(ctx, adm)
	parts := []groupPartition{}
	for _, t := range topics {
		ps := want[t]
		for p := range ends[t] {
			if p >= 0 {
				ps[p] = struct{}{}
			}
		}
		sorted := make([]int32, 0, len(ps))
		for p := range ps {
			sorted = append(sorted, p)
		}
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		for _, p := range sorted {
			row := groupPartition{Topic: t, Partition: p, Committed: -1, Member: owner[t][p]}
			var perr error
			if c, ok := committed.Lookup(t, p); ok {
				if perr = c.Err; perr == nil {
					row.Committed = c.At
				}
			}
			end, ok := ends[t][p]
			if !ok {
				// A topic that does not exist is listed as partition -1.
				end, ok = ends[t][-1]
			}
			switch {
			case perr != nil:
			case !ok:
				perr = errors.New("missing from list offsets")
			case end.Err != nil:
				perr = end.Err
			}
			if perr != nil {
				row.End, row.Lag = -1, -1
				row.Error = partitionNote(leaderless[t], p, perr)
				parts = append(parts, row)
				continue
			}
			row.End, row.Lag = end.Offset, end.Offset
			if s, ok := starts[t][p]; ok && s.Err == nil {
				row.Lag = end.Offset - s.Offset
			}
			if row.Committed >= 0 {
				row.Lag = end.Offset - row.Committed
			}
			row.Lag = max(row.Lag, 0)
			parts = append(parts, row)
		}
	}
	return parts, nil
}

// leaderlessPartitions returns the partitions that have no leader, to say
// why an end offset is missing; nil if metadata cannot be read.
func leaderlessPartitions(ctx context.Context, adm *kadm.Client) map[string]map[int32]bool {
	leaderless := map[string]map[int32]bool{}
	md, err := adm.Metadata(ctx)
	if err != nil {
		return leaderless
	}
	for _, td := range md.Topics {
		for _, p := range td.Partitions {
			if p.Leader < 0 {
				if leaderless[td.Topic] == nil {
					leaderless[td.Topic] = map[int32]bool{}
				}
				leaderless[td.Topic][p.Partition] = true
			}
		}
	}
	return leaderless
}

// partitionNote says why a partition's offsets are unknown.
func partitionNote(leaderless map[int32]bool, p int32, err error) string {
	if leaderless[p] {
		return "no leader: every in-sync replica is offline"
	}
	if err == nil {
		return ""
	}
	return plainError(err).Error()
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

// resetSpec is a parsed --to (or --by-duration).
type resetSpec struct {
	kind string // earliest, latest, current, offset, timestamp, shift
	n    int64
}

var resetKinds = []string{"earliest", "latest", "current", "offset:", "timestamp:", "datetime:", "shift:"}

func parseResetTo(s string) (resetSpec, error) {
	const want = "want earliest, latest, current, offset:N, timestamp:MILLIS, datetime:RFC3339 or shift:N"
	switch s {
	case "earliest", "latest", "current":
		return resetSpec{kind: s}, nil
	}
	kind, arg, ok := strings.Cut(s, ":")
	if !ok {
		return resetSpec{}, badValue("--to", s, want, "earliest", "latest", "current")
	}
	switch kind {
	case "datetime":
		t, err := time.Parse(time.RFC3339, arg)
		if err != nil {
			return resetSpec{}, badValue("--to", s, "want datetime:RFC3339, for example datetime:2026-01-01T00:00:00Z")
		}
		return resetSpec{kind: "timestamp", n: t.UnixMilli()}, nil
	case "offset", "timestamp", "shift":
		n, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			return resetSpec{}, badValue("--to", s, fmt.Sprintf("want %s:N with N a whole number", kind))
		}
		return resetSpec{kind: kind, n: n}, nil
	}
	return resetSpec{}, badValue("--to", s, want, "offset", "timestamp", "datetime", "shift")
}

// parseISODuration reads an ISO-8601 duration as kafka-consumer-groups.sh
// takes it (PnDTnHnMnS, for example P1D, PT1H30M, PT0.5S), or a Go
// duration (90m, 1h30m).
func parseISODuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	rest, ok := strings.CutPrefix(strings.ToUpper(s), "P")
	if !ok || rest == "" {
		return 0, fmt.Errorf("want PnDTnHnMnS (P1D, PT1H30M) or a Go duration (90m)")
	}
	var d time.Duration
	inTime, parts, timeParts := false, 0, 0
	units := map[bool]map[byte]time.Duration{
		false: {'D': 24 * time.Hour, 'W': 7 * 24 * time.Hour},
		true:  {'H': time.Hour, 'M': time.Minute, 'S': time.Second},
	}
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, fmt.Errorf("want PnDTnHnMnS (P1D, PT1H30M) or a Go duration (90m)")
			}
			inTime, rest = true, rest[1:]
			continue
		}
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i <= 0 {
			return 0, fmt.Errorf("want PnDTnHnMnS (P1D, PT1H30M) or a Go duration (90m)")
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		unit, ok := units[inTime][rest[i]]
		if err != nil || !ok {
			return 0, fmt.Errorf("want PnDTnHnMnS (P1D, PT1H30M) or a Go duration (90m)")
		}
		d += time.Duration(n * float64(unit))
		rest = rest[i+1:]
		if parts++; inTime {
			timeParts++
		}
	}
	if parts == 0 || (inTime && timeParts == 0) {
		return 0, fmt.Errorf("want PnDTnHnMnS (P1D, PT1H30M) or a Go duration (90m)")
	}
	return d, nil
}

// resetTarget is one topic, and optionally some of its partitions, named
// by --topic.
type resetTarget struct {
	topic      string
	partitions []int32 // nil: all
}

func parseResetTopic(s string) (resetTarget, error) {
	name, ps, ok := strings.Cut(s, ":")
	if name == "" {
		return resetTarget{}, usageError{fmt.Errorf("--topic %q: want TOPIC or TOPIC:P,P", s)}
	}
	t := resetTarget{topic: name}
	if !ok {
		return t, nil
	}
	for _, p := range strings.Split(ps, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
		if err != nil || n < 0 {
			return resetTarget{}, usageError{fmt.Errorf("--topic %q: want TOPIC or TOPIC:P,P with partition numbers", s)}
		}
		t.partitions = append(t.partitions, int32(n))
	}
	return t, nil
}

type planRow struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Current   int64  `json:"current"`
	New       int64  `json:"new"`
}

// planReset computes the new offset of each partition of one target,
// clamped to the partition's log.
func planReset(ctx context.Context, adm *kadm.Client, spec resetSpec, target resetTarget, committed kadm.OffsetResponses) ([]planRow, error) {
	topic := target.topic
	td, err := describeTopic(ctx, adm, topic)
	if err != nil {
		return nil, err
	}
	for _, p := range target.partitions {
		if _, ok := td.Partitions[p]; !ok {
			return nil, fmt.Errorf("topic %s has no partition %d", topic, p)
		}
	}
	lo, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", topic, plainError(err))
	}
	starts, err := listedMap(lo, topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	if lo, err = adm.ListEndOffsets(ctx, topic); err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, plainError(err))
	}
	ends, err := listedMap(lo, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	var times kadm.ListedOffsets
	if spec.kind == "timestamp" {
		if times, err = adm.ListOffsetsAfterMilli(ctx, spec.n, topic); err != nil {
			return nil, fmt.Errorf("list offsets by time of %s: %w", topic, plainError(err))
		}
	}
	only := map[int32]bool{}
	for _, p := range target.partitions {
		only[p] = true
	}
	var plan []planRow
	for p, end := range ends {
		if len(only) > 0 && !only[p] {
			continue
		}
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
		case "current":
			at = current
			if at < 0 {
				at = end // nothing committed: where a new consumer with auto.offset.reset=latest starts
			}
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
		plan = append(plan, planRow{topic, p, current, min(max(at, start), end)})
	}
	sort.Slice(plan, func(i, j int) bool { return plan[i].Partition < plan[j].Partition })
	return plan, nil
}

func newGroupResetOffsets(o *clientOptions) *cobra.Command {
	var (
		topics     []string
		allTopics  bool
		to         string
		byDuration string
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP (--topic TOPIC... | --all-topics) (--to SPEC | --by-duration D)",
		Short: "Move a group's committed offsets (the group must have no members)",
		Long: `reset-offsets commits new offsets on behalf of GROUP and prints the plan, like
kafka-consumer-groups.sh --reset-offsets. The partitions are those of each
--topic (repeatable; TOPIC:0,2 names some partitions), or with --all-topics
those of every topic the group has committed offsets for.

--to is earliest, latest, current, offset:N, timestamp:MILLIS or
datetime:RFC3339 (the first record at or after that time), or shift:N (N may
be negative). --by-duration D moves to the first record at or after now minus
D, an ISO-8601 duration as Kafka takes it (PT1H, P1DT12H) or a Go one (90m).
Offsets are clamped to each partition's log. It refuses while the group has
members, as kafka-consumer-groups.sh does: stop the consumers first.`,
		Example: `  sluice group reset-offsets billing --topic orders --to earliest --dry-run
  sluice group reset-offsets billing --topic orders --to shift:-100
  sluice group reset-offsets billing --topic orders:0,1 --to offset:42
  sluice group reset-offsets billing --all-topics --to datetime:2026-01-01T00:00:00Z
  sluice group reset-offsets billing --all-topics --by-duration PT1H`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			var spec resetSpec
			var err error
			switch {
			case to != "" && byDuration != "":
				return usageError{fmt.Errorf("give one of --to and --by-duration")}
			case to != "":
				if spec, err = parseResetTo(to); err != nil {
					return err
				}
			case byDuration != "":
				d, err := parseISODuration(byDuration)
				if err != nil {
					return usageError{fmt.Errorf("--by-duration %q: %w", byDuration, err)}
				}
				spec = resetSpec{kind: "timestamp", n: time.Now().Add(-d).UnixMilli()}
			default:
				return usageError{fmt.Errorf("group reset-offsets: give --to or --by-duration (see sluice group reset-offsets --help)")}
			}
			if (len(topics) > 0) == allTopics {
				return usageError{fmt.Errorf("group reset-offsets: give --topic or --all-topics (one of them)")}
			}
			var targets []resetTarget
			for _, t := range topics {
				rt, err := parseResetTopic(t)
				if err != nil {
					return err
				}
				targets = append(targets, rt)
			}
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			// DescribeGroups does not know a KIP-848 group's members.
			cg, isConsumer, err := describeConsumerGroup(ctx, adm, group)
			if err != nil {
				return o.fail("describe group "+group, err)
			}
			if isConsumer && len(cg.Members) > 0 {
				return fmt.Errorf("reset offsets of group %s: the group is %s with %s; stop them first", group, cg.State, plural(len(cg.Members), "active member"))
			}
			dgs, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return o.fail("describe group "+group, err)
			}
			if dg, ok := dgs[group]; ok && !isConsumer {
				if err := respErr(dg.Err, dg.ErrMessage); err != nil {
					return o.fail("describe group "+group, err)
				}
				if len(dg.Members) > 0 {
					return fmt.Errorf("reset offsets of group %s: the group is %s with %s; stop them first", group, dg.State, plural(len(dg.Members), "active member"))
				}
			}
			committed, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				return o.fail("fetch committed offsets of group "+group, err)
			}
			if allTopics {
				for _, t := range committed.Sorted() {
					if len(targets) == 0 || targets[len(targets)-1].topic != t.Topic {
						targets = append(targets, resetTarget{topic: t.Topic})
					}
				}
				if len(targets) == 0 {
					return fmt.Errorf("reset offsets of group %s: it has no committed offsets, so --all-topics names no topic; use --topic", group)
				}
			}
			var plan []planRow
			commit := kadm.Offsets{}
			for _, target := range targets {
				rows, err := planReset(ctx, adm, spec, target, committed)
				if err != nil {
					return o.fail("reset offsets of group "+group, err)
				}
				for _, r := range rows {
					commit.Add(kadm.Offset{Topic: r.Topic, Partition: r.Partition, At: r.New, LeaderEpoch: -1})
				}
				plan = append(plan, rows...)
			}
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
				fmt.Fprintf(w, "reset %s of group %s\n", plural(len(plan), "partition"), group)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&topics, "topic", "t", nil, "a topic whose offsets to reset, TOPIC or TOPIC:P,P (repeatable)")
	f.BoolVar(&allTopics, "all-topics", false, "reset every topic the group has committed offsets for")
	f.StringVar(&to, "to", "", "earliest, latest, current, offset:N, timestamp:MILLIS, datetime:RFC3339 or shift:N")
	f.StringVar(&byDuration, "by-duration", "", "reset to the first record at or after now minus this (PT1H, P1D, 90m)")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan without committing")
	return cmd
}
