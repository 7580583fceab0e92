package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newVotersCommand is `sluice cluster voters`: the metadata quorum
// (DescribeQuorum) and changes to its voters (AddRaftVoter,
// RemoveRaftVoter, KIP-853).
func newVotersCommand(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "voters",
		Short: "List, add and remove the metadata quorum's voters",
		Example: `  sluice cluster voters list
  sluice cluster voters remove 3
  sluice cluster voters add 4 10.0.0.4:9093`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "Show the quorum's leader, voters and observers with their log positions",
		Example: `  sluice cluster voters list
  sluice cluster voters list --output json`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.quorumRequest(cmd, "list voters", describeQuorumRequest(), func(r kmsg.Response) error {
				return printQuorum(cmd, o, r.(*kmsg.DescribeQuorumResponse))
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "add NODE-ID HOST:PORT",
		Short:   "Make a running node a voter; HOST:PORT is its controller (--controller-listen) address",
		Example: `  sluice cluster voters add 4 10.0.0.4:9093`,
		Args:    usage(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNodeID(args[0])
			if err != nil {
				return flagError(cmd, err)
			}
			host, portStr, err := net.SplitHostPort(args[1])
			port, perr := strconv.ParseUint(portStr, 10, 16)
			if err != nil || perr != nil || host == "" || port == 0 {
				return flagError(cmd, fmt.Errorf("controller address %q: want host:port", args[1]))
			}
			req := kmsg.NewPtrAddRaftVoterRequest()
			req.VoterID, req.TimeoutMillis = id, int32(o.timeout.Milliseconds())
			l := kmsg.NewAddRaftVoterRequestListener()
			l.Name, l.Host, l.Port = "CONTROLLER", host, uint16(port)
			req.Listeners = append(req.Listeners, l)
			return o.quorumRequest(cmd, "add voter", req, func(r kmsg.Response) error {
				resp := r.(*kmsg.AddRaftVoterResponse)
				return reportVoterChange(cmd, o, "added", id, resp.ErrorCode, resp.ErrorMessage)
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "remove NODE-ID",
		Short:   "Take a voter out of the quorum (a node that still runs stays an observer)",
		Example: `  sluice cluster voters remove 3`,
		Args:    usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNodeID(args[0])
			if err != nil {
				return flagError(cmd, err)
			}
			req := kmsg.NewPtrRemoveRaftVoterRequest()
			req.VoterID = id
			return o.quorumRequest(cmd, "remove voter", req, func(r kmsg.Response) error {
				resp := r.(*kmsg.RemoveRaftVoterResponse)
				return reportVoterChange(cmd, o, "removed", id, resp.ErrorCode, resp.ErrorMessage)
			})
		},
	})
	return cmd
}

func parseNodeID(s string) (int32, error) {
	id, err := strconv.ParseInt(s, 10, 32)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("node ID %q: want a number 0 or more", s)
	}
	return int32(id), nil
}

// quorumRequest sends req to a broker, bounded by --timeout, and hands the
// response to answer.
func (o *clientOptions) quorumRequest(cmd *cobra.Command, what string, req kmsg.Request, answer func(kmsg.Response) error) error {
	cl, err := o.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	resp, err := cl.Request(ctx, req)
	if err != nil {
		return o.fail(what, err)
	}
	return answer(resp)
}

func describeQuorumRequest() *kmsg.DescribeQuorumRequest {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	t.Partitions = append(t.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, t)
	return req
}

// quorumErr is a response's error: the code's name and the broker's
// message, which says more than the code's generic description.
func quorumErr(code int16, msg *string) error {
	err := kerr.ErrorForCode(code)
	var ke *kerr.Error
	if err != nil && msg != nil && *msg != "" && errors.As(err, &ke) {
		return fmt.Errorf("%s: %s", ke.Message, *msg)
	}
	return err
}

func reportVoterChange(cmd *cobra.Command, o *clientOptions, done string, id int32, code int16, msg *string) error {
	if err := quorumErr(code, msg); err != nil {
		return fmt.Errorf("%s voter %d: %w", map[string]string{"added": "add", "removed": "remove"}[done], id, err)
	}
	if o.json() {
		return printJSON(cmd.OutOrStdout(), map[string]any{"node_id": id, "result": done})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Voter %d %s.\n", id, done)
	return nil
}

// quorumMember is one row of `voters list`.
type quorumMember struct {
	ID             int32  `json:"id"`
	Role           string `json:"role"`
	Address        string `json:"address,omitempty"`
	LogEndOffset   int64  `json:"log_end_offset"`
	Lag            int64  `json:"lag"`
	LastFetchMs    int64  `json:"last_fetch_ms"`
	LastCaughtUpMs int64  `json:"last_caught_up_ms"`
}

func printQuorum(cmd *cobra.Command, o *clientOptions, resp *kmsg.DescribeQuorumResponse) error {
	if err := quorumErr(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return fmt.Errorf("list voters: %w", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return fmt.Errorf("list voters: the broker's answer names no quorum")
	}
	p := resp.Topics[0].Partitions[0]
	if err := quorumErr(p.ErrorCode, p.ErrorMessage); err != nil {
		return fmt.Errorf("list voters: %w", err)
	}
	addrs := map[int32]string{}
	for _, n := range resp.Nodes {
		if len(n.Listeners) > 0 {
			addrs[n.NodeID] = net.JoinHostPort(n.Listeners[0].Host, strconv.Itoa(int(n.Listeners[0].Port)))
		}
	}
	var members []quorumMember
	add := func(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState, role string) {
		for _, r := range rs {
			m := quorumMember{ID: r.ReplicaID, Role: role, Address: addrs[r.ReplicaID], LogEndOffset: r.LogEndOffset,
				Lag: -1, LastFetchMs: r.LastFetchTimestamp, LastCaughtUpMs: r.LastCaughtUpTimestamp}
			if role == "voter" && r.ReplicaID == p.LeaderID {
				m.Role = "leader"
			}
			if r.LogEndOffset >= 0 {
				m.Lag = max(p.HighWatermark-r.LogEndOffset, 0)
			}
			members = append(members, m)
		}
	}
	add(p.CurrentVoters, "voter")
	add(p.Observers, "observer")
	w := cmd.OutOrStdout()
	if o.json() {
		return printJSON(w, map[string]any{"leader_id": p.LeaderID, "epoch": p.LeaderEpoch, "high_watermark": p.HighWatermark, "members": members})
	}
	fmt.Fprintf(w, "Leader: %d\nEpoch: %d\nHigh watermark: %d\n\n", p.LeaderID, p.LeaderEpoch, p.HighWatermark)
	now := time.Now()
	ago := func(ms int64) string {
		if ms < 0 {
			return "-"
		}
		return now.Sub(time.UnixMilli(ms)).Round(time.Millisecond).String() + " ago"
	}
	var table [][]string
	for _, m := range members {
		leo, lag := "-", "-"
		if m.LogEndOffset >= 0 {
			leo, lag = strconv.FormatInt(m.LogEndOffset, 10), strconv.FormatInt(m.Lag, 10)
		}
		table = append(table, []string{strconv.Itoa(int(m.ID)), m.Role, m.Address, leo, lag, ago(m.LastFetchMs), ago(m.LastCaughtUpMs)})
	}
	return printTable(w, []string{"NODE", "ROLE", "ADDRESS", "LOG-END-OFFSET", "LAG", "LAST-FETCH", "LAST-CAUGHT-UP"}, table)
}
