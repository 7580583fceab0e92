package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// The txn commands are Sluice's kafka-transactions.sh: list and describe
// transactional IDs at their coordinators, show the producers with open
// transactions on a partition, and abort a hanging transaction by writing
// an ABORT marker to the partition itself (KIP-664).

func newTxnCommand(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "txn",
		Short: "List, describe and abort transactions",
		Example: `  sluice txn list --state Ongoing
  sluice txn describe payments-tx-1
  sluice txn producers orders -p 0
  sluice txn abort --topic orders --partition 0 --start-offset 1234`,
	}
	cmd.AddCommand(newTxnList(o), newTxnDescribe(o), newTxnProducers(o), newTxnAbort(o))
	return cmd
}

func newTxnList(o *clientOptions) *cobra.Command {
	var (
		states      []string
		producerIDs []int64
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List transactional IDs with their producer ID and state",
		Long: `list asks every broker for the transactional IDs it coordinates. --state keeps
those in the given states (Empty, Ongoing, PrepareCommit, PrepareAbort,
CompleteCommit, CompleteAbort, PrepareEpochFence, Dead); --producer-id keeps
those of the given producer IDs. Both repeat and take comma-separated lists.`,
		Example: `  sluice txn list
  sluice txn list --state Ongoing --output json
  sluice txn list --producer-id 1000`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			listed, err := adm.ListTransactions(ctx, producerIDs, states)
			if err != nil {
				return o.fail("list transactions", err)
			}
			type row struct {
				TransactionalID string `json:"transactional_id"`
				ProducerID      int64  `json:"producer_id"`
				State           string `json:"state"`
				Coordinator     int32  `json:"coordinator"`
			}
			rows := []row{}
			var table [][]string
			for _, l := range listed.Sorted() {
				rows = append(rows, row{l.TxnID, l.ProducerID, l.State, l.Coordinator})
				table = append(table, []string{l.TxnID, fmt.Sprint(l.ProducerID), l.State, fmt.Sprint(l.Coordinator)})
			}
			if o.json() {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			return printTable(cmd.OutOrStdout(), []string{"TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR"}, table)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&states, "state", nil, "only transactions in these states (comma-separated)")
	f.Int64SliceVar(&producerIDs, "producer-id", nil, "only transactions of these producer IDs (comma-separated)")
	return cmd
}

func newTxnDescribe(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe TRANSACTIONAL-ID...",
		Short: "Show a transactional ID's state, producer, timeout, start time and partitions",
		Long: `describe asks the coordinator of each transactional ID for its state, producer
ID and epoch, transaction timeout, the start time of the open transaction
(- when none is open) and the partitions in it. An ID the coordinator does
not know fails the command (after the others are printed).`,
		Example: `  sluice txn describe payments-tx-1
  sluice txn describe payments-tx-1 payments-tx-2 --output json`,
		Args: usage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			described, err := adm.DescribeTransactions(ctx, args...)
			if err != nil && len(described) == 0 {
				return o.fail("describe transactions", err)
			}
			type partitions struct {
				Topic      string  `json:"topic"`
				Partitions []int32 `json:"partitions"`
			}
			type row struct {
				TransactionalID string       `json:"transactional_id"`
				State           string       `json:"state"`
				ProducerID      int64        `json:"producer_id"`
				ProducerEpoch   int16        `json:"producer_epoch"`
				TimeoutMs       int32        `json:"timeout_ms"`
				StartTimestamp  int64        `json:"start_timestamp"`
				Coordinator     int32        `json:"coordinator"`
				Topics          []partitions `json:"topics"`
			}
			rows := []row{}
			var table [][]string
			var errs []error
			for _, id := range args {
				d, ok := described[id]
				if !ok {
					errs = append(errs, fmt.Errorf("describe transaction %s: no answer from its coordinator", id))
					continue
				}
				if d.Err != nil {
					errs = append(errs, o.fail("describe transaction "+id, d.Err))
					continue
				}
				r := row{TransactionalID: id, State: d.State, ProducerID: d.ProducerID, ProducerEpoch: d.ProducerEpoch,
					TimeoutMs: d.TimeoutMillis, StartTimestamp: d.StartTimestamp, Coordinator: d.Coordinator, Topics: []partitions{}}
				var parts []string
				for _, t := range d.Topics.Sorted() {
					ps := append([]int32(nil), t.Partitions...)
					sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
					r.Topics = append(r.Topics, partitions{t.Topic, ps})
					parts = append(parts, t.Topic+":"+int32List(ps))
				}
				rows = append(rows, r)
				start := "-"
				if d.StartTimestamp >= 0 {
					start = time.UnixMilli(d.StartTimestamp).UTC().Format(time.RFC3339Nano)
				}
				table = append(table, []string{id, d.State, fmt.Sprint(d.ProducerID), fmt.Sprint(d.ProducerEpoch),
					fmt.Sprint(d.TimeoutMillis), start, fmt.Sprint(d.Coordinator), strings.Join(parts, " ")})
			}
			w := cmd.OutOrStdout()
			if o.json() {
				if err := printJSON(w, rows); err != nil {
					return err
				}
			} else if len(table) > 0 {
				if err := printTable(w, []string{"TRANSACTIONAL-ID", "STATE", "PRODUCER-ID", "EPOCH", "TIMEOUT-MS", "START", "COORDINATOR", "PARTITIONS"}, table); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
}

// describeProducers asks the leaders of topic's partitions (all of them,
// or only partition when it is not -1) for their producers with an open
// transaction.
func describeProducers(cmd *cobra.Command, o *clientOptions, topic string, partition int32) ([]kadm.DescribedProducersPartition, error) {
	adm, ctx, done, err := o.admin(cmd.Context())
	if err != nil {
		return nil, err
	}
	defer done()
	td, err := describeTopic(ctx, adm, topic)
	if err != nil {
		return nil, o.fail("describe producers of "+topic, err)
	}
	set := kadm.TopicsSet{}
	if partition >= 0 {
		if _, ok := td.Partitions[partition]; !ok {
			return nil, fmt.Errorf("describe producers of %s: the topic has no partition %d", topic, partition)
		}
		set.Add(topic, partition)
	} else {
		set.Add(topic, td.Partitions.Numbers()...)
	}
	described, err := adm.DescribeProducers(ctx, set)
	if err != nil {
		return nil, o.fail("describe producers of "+topic, err)
	}
	parts := described.SortedPartitions()
	for _, p := range parts {
		if p.Err != nil {
			return nil, o.fail(fmt.Sprintf("describe producers of %s/%d", p.Topic, p.Partition), respErr(p.Err, p.ErrMessage))
		}
	}
	return parts, nil
}

func newTxnProducers(o *clientOptions) *cobra.Command {
	var partition int32
	cmd := &cobra.Command{
		Use:   "producers TOPIC",
		Short: "Show the producers with state on a topic's partitions and their open transactions",
		Long: `producers asks each partition's leader for the producers it keeps state for
(kafka-transactions.sh describe-producers): producer ID and epoch, last
sequence and timestamp, the coordinator epoch of their last marker, and the
first offset of their open transaction (-1 when none is open). A transaction
that stays open long after its start offset is a hanging one; abort it with
sluice txn abort.`,
		Example: `  sluice txn producers orders
  sluice txn producers orders -p 3 --output json`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			if partition < -1 {
				return usageError{fmt.Errorf("--partition %d: want a partition number", partition)}
			}
			parts, err := describeProducers(cmd, o, topic, partition)
			if err != nil {
				return err
			}
			type row struct {
				Topic                 string `json:"topic"`
				Partition             int32  `json:"partition"`
				Leader                int32  `json:"leader"`
				ProducerID            int64  `json:"producer_id"`
				ProducerEpoch         int16  `json:"producer_epoch"`
				LastSequence          int32  `json:"last_sequence"`
				LastTimestamp         int64  `json:"last_timestamp"`
				CoordinatorEpoch      int32  `json:"coordinator_epoch"`
				CurrentTxnStartOffset int64  `json:"current_txn_start_offset"`
			}
			rows := []row{}
			var table [][]string
			for _, p := range parts {
				for _, d := range p.ActiveProducers.Sorted() {
					rows = append(rows, row{d.Topic, d.Partition, d.Leader, d.ProducerID, d.ProducerEpoch, d.LastSequence,
						d.LastTimestamp, d.CoordinatorEpoch, d.CurrentTxnStartOffset})
					table = append(table, []string{d.Topic, fmt.Sprint(d.Partition), fmt.Sprint(d.ProducerID), fmt.Sprint(d.ProducerEpoch),
						fmt.Sprint(d.LastSequence), fmt.Sprint(d.LastTimestamp), fmt.Sprint(d.CoordinatorEpoch), fmt.Sprint(d.CurrentTxnStartOffset)})
				}
			}
			if o.json() {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			return printTable(cmd.OutOrStdout(), []string{"TOPIC", "PARTITION", "PRODUCER-ID", "EPOCH", "LAST-SEQUENCE",
				"LAST-TIMESTAMP", "COORDINATOR-EPOCH", "TXN-START-OFFSET"}, table)
		},
	}
	cmd.Flags().Int32VarP(&partition, "partition", "p", -1, "only this partition (default: all)")
	return cmd
}

func newTxnAbort(o *clientOptions) *cobra.Command {
	var (
		topic            string
		partition        int32
		producerID       int64
		producerEpoch    int16
		coordinatorEpoch int32
		startOffset      int64
	)
	cmd := &cobra.Command{
		Use:   "abort --topic TOPIC --partition N (--start-offset O | --producer-id N --producer-epoch E --coordinator-epoch C)",
		Short: "Abort a hanging transaction on one partition by writing an ABORT marker",
		Long: `abort writes an ABORT marker for one producer to one partition through its
leader, as kafka-transactions.sh abort does (KIP-664): the partition's last
stable offset moves past the transaction and read_committed consumers skip
its records. Use it for a transaction that its coordinator no longer
finishes; a live transaction is better ended by its producer or by its
coordinator's timeout (transaction.timeout.ms).

Name the transaction either by --start-offset, the first offset of the open
transaction as sluice txn producers shows it, or by the producer ID, epoch
and coordinator epoch. A marker with a coordinator epoch below the one the
partition last saw for the producer is refused (TRANSACTION_COORDINATOR_FENCED).`,
		Example: `  sluice txn producers orders -p 0
  sluice txn abort --topic orders --partition 0 --start-offset 1234
  sluice txn abort --topic orders --partition 0 --producer-id 1000 --producer-epoch 3 --coordinator-epoch 0`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			explicit := f.Changed("producer-id") || f.Changed("producer-epoch") || f.Changed("coordinator-epoch")
			switch {
			case topic == "" || !f.Changed("partition"):
				return usageError{errors.New("txn abort: --topic and --partition are required")}
			case partition < 0:
				return usageError{fmt.Errorf("txn abort: --partition %d: want a partition number", partition)}
			case f.Changed("start-offset") && explicit:
				return usageError{errors.New("txn abort: give either --start-offset or --producer-id, --producer-epoch and --coordinator-epoch, not both")}
			case f.Changed("start-offset"):
				if startOffset < 0 {
					return usageError{fmt.Errorf("txn abort: --start-offset %d: want an offset", startOffset)}
				}
				parts, err := describeProducers(cmd, o, topic, partition)
				if err != nil {
					return err
				}
				found := false
				for _, p := range parts {
					for _, d := range p.ActiveProducers {
						if d.CurrentTxnStartOffset == startOffset {
							// A producer with no marker on the partition
							// yet shows coordinator epoch -1; any epoch
							// passes then, and Kafka's tool sends 0.
							producerID, producerEpoch, coordinatorEpoch, found = d.ProducerID, d.ProducerEpoch, max(d.CoordinatorEpoch, 0), true
						}
					}
				}
				if !found {
					return fmt.Errorf("txn abort: no open transaction starts at offset %d of %s/%d (see sluice txn producers %s -p %d)",
						startOffset, topic, partition, topic, partition)
				}
			case !f.Changed("producer-id") || !f.Changed("producer-epoch") || !f.Changed("coordinator-epoch"):
				return usageError{errors.New("txn abort: --producer-id, --producer-epoch and --coordinator-epoch go together (or use --start-offset)")}
			}

			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			what := fmt.Sprintf("abort transaction of producer %d (epoch %d) on %s/%d", producerID, producerEpoch, topic, partition)
			set := kadm.TopicsSet{}
			set.Add(topic, partition)
			resps, err := adm.WriteTxnMarkers(ctx, kadm.TxnMarkers{
				ProducerID:       producerID,
				ProducerEpoch:    producerEpoch,
				Commit:           false,
				CoordinatorEpoch: coordinatorEpoch,
				Topics:           set,
			})
			if err != nil {
				return o.fail(what, err)
			}
			answered := false
			for _, p := range resps.SortedPartitions() {
				if p.Topic != topic || p.Partition != partition {
					continue
				}
				answered = true
				if p.Err != nil {
					return o.fail(what, p.Err)
				}
			}
			if !answered {
				return fmt.Errorf("%s: the partition's leader did not answer for it", what)
			}
			w := cmd.OutOrStdout()
			if o.json() {
				return printJSON(w, map[string]any{"topic": topic, "partition": partition, "producer_id": producerID,
					"producer_epoch": producerEpoch, "coordinator_epoch": coordinatorEpoch, "aborted": true})
			}
			fmt.Fprintf(w, "aborted the transaction of producer %d (epoch %d) on %s/%d\n", producerID, producerEpoch, topic, partition)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&topic, "topic", "t", "", "the partition's topic")
	f.Int32VarP(&partition, "partition", "p", -1, "the partition")
	f.Int64Var(&startOffset, "start-offset", -1, "the first offset of the open transaction (finds the producer with sluice txn producers)")
	f.Int64Var(&producerID, "producer-id", -1, "the transaction's producer ID")
	f.Int16Var(&producerEpoch, "producer-epoch", -1, "the transaction's producer epoch")
	f.Int32Var(&coordinatorEpoch, "coordinator-epoch", -1, "the coordinator epoch of the producer's last marker on the partition (sluice txn producers)")
	return cmd
}
