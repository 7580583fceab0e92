package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startSpec is a parsed --from.
type startSpec struct {
	kind string // "start", "end", "offset", "fromEnd", "time"
	n    int64
}

func parseFrom(s string) (startSpec, error) {
	switch s {
	case "beginning", "earliest", "start":
		return startSpec{kind: "start"}, nil
	case "end", "latest":
		return startSpec{kind: "end"}, nil
	}
	if ms, ok := strings.CutPrefix(s, "timestamp:"); ok {
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			return startSpec{}, usageError{fmt.Errorf("--from %q: want timestamp:MILLIS", s)}
		}
		return startSpec{kind: "time", n: n}, nil
	}
	if ms, ok := strings.CutPrefix(s, "@"); ok {
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			return startSpec{}, usageError{fmt.Errorf("--from %q: want @MILLIS", s)}
		}
		return startSpec{kind: "time", n: n}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return startSpec{kind: "time", n: t.UnixMilli()}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return startSpec{}, badValue("--from", s, "want beginning, end, an offset, -N, timestamp:MILLIS or an RFC 3339 time",
			"beginning", "end", "earliest", "latest")
	}
	if n < 0 {
		return startSpec{kind: "fromEnd", n: -n}, nil
	}
	return startSpec{kind: "offset", n: n}, nil
}

// kgoOffset is the reset offset used in group mode, where a committed
// offset wins.
func (s startSpec) kgoOffset() kgo.Offset {
	switch s.kind {
	case "start":
		return kgo.NewOffset().AtStart()
	case "fromEnd":
		return kgo.NewOffset().AtEnd().Relative(-s.n)
	case "offset":
		return kgo.NewOffset().At(s.n)
	case "time":
		return kgo.NewOffset().AfterMilli(s.n)
	}
	return kgo.NewOffset().AtEnd()
}

// resolve turns the spec into an exact offset per partition of ends,
// clamped to the log's bounds.
func (s startSpec) resolve(ctx context.Context, cl *kgo.Client, topic string, starts, ends map[int32]int64) (map[int32]int64, error) {
	out := map[int32]int64{}
	var times map[int32]kadm.ListedOffset
	if s.kind == "time" {
		parts := make([]int32, 0, len(ends))
		for p := range ends {
			parts = append(parts, p)
		}
		times = listPartitionOffsets(ctx, cl, topic, parts, s.n, 0)
	}
	for p, end := range ends {
		start := starts[p]
		var at int64
		switch s.kind {
		case "start":
			at = start
		case "end":
			at = end
		case "offset":
			at = s.n
		case "fromEnd":
			at = end - s.n
		case "time":
			at = end
			if lo, ok := times[p]; ok && lo.Err == nil && lo.Offset >= 0 {
				at = lo.Offset
			}
		}
		out[p] = min(max(at, start), end)
	}
	return out, nil
}

// offsetMap turns listPartitionOffsets' answer into offsets, or the first
// partition's error.
func offsetMap(lo map[int32]kadm.ListedOffset) (map[int32]int64, error) {
	out := map[int32]int64{}
	for p, o := range lo {
		if o.Err != nil {
			return nil, fmt.Errorf("partition %d: %w", p, o.Err)
		}
		out[p] = o.Offset
	}
	return out, nil
}

func listedMap(lo kadm.ListedOffsets, topic string) (map[int32]int64, error) {
	out := map[int32]int64{}
	for p, o := range lo[topic] {
		if o.Err != nil {
			return nil, fmt.Errorf("partition %d: %w", p, o.Err)
		}
		out[p] = o.Offset
	}
	return out, nil
}

func newConsumeCommand(o *clientOptions) *cobra.Command {
	var (
		from          string
		count         int
		group         string
		groupProtocol string
		assignor      string
		format        string
		exitAtEnd     bool
		follow        bool
		readCommitted bool
		partitions    []int32
		encoding      string
		decodeSchema  *decodeSchemaFlags // schema.go
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic",
		Long: `Consume prints the records of a topic, one per line, until interrupted
(Ctrl-C), or with --exit-at-end (-e) until it reaches the end of every
partition as it was when it started.

-n N stops after N records. Unless --from is end, it also stops at the end
of the partitions, as -e does, and says on stderr when it printed fewer than
N; --follow waits for new records until N were printed.

--format is a template: %k key, %v value, %p partition, %o offset, %t
timestamp (ms), %T topic, %h headers (k=v,k=v), %% a percent sign, \n and
\t. A newline follows every record. --output json prints JSON lines instead:
topic, partition, offset, timestamp, key, value and headers, with null for a
null key or value (a tombstone).

--encoding says how keys, values and header values are written: auto (the
default) writes UTF-8 text as it is and other bytes as base64, and the JSON
names the encoding of each (key_encoding, value_encoding, and encoding in
each header); utf8, base64 or hex use one for all. In --format templates an
explicit --encoding applies to %k and %v.

With --group, records are consumed as a member of the group, starting at its
committed offsets (--from applies only where it has none), and the printed
records are committed before exit. There -e stops at the end of the
partitions the group assigns to this consumer, as they were when assigned,
not of those other members own; it stops at once if it is assigned none.

--group-protocol is Kafka's group.protocol: classic (the default) joins
with JoinGroup and SyncGroup, and the client assigns partitions; consumer
joins a KIP-848 group, whose partitions the broker assigns, with the
assignor --group-remote-assignor names (Kafka's group.remote.assignor:
uniform, the default, or range). A group is of one type: a consumer group refuses classic
members while it has members, and a classic group with members refuses
consumer ones. There -e waits until the broker has given this consumer
every partition of its target assignment.`,
		Example: `  sluice consume orders --from beginning -e
  sluice consume orders --from -10 -n 10          # the last 10, or fewer if there are fewer
  sluice consume orders --from end -n 1           # wait for the next record
  sluice consume orders --format '%p/%o %k=%v [%h]'
  sluice consume orders --group billing --from beginning
  sluice consume orders --group billing --group-protocol consumer -e
  sluice consume orders --group billing --group-protocol consumer --group-remote-assignor range
  sluice consume orders --from timestamp:1767225600000 --output json --encoding base64`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			spec, err := parseFrom(from)
			if err != nil {
				return err
			}
			if count < 0 {
				return usageError{fmt.Errorf("--count must not be negative")}
			}
			if group != "" && len(partitions) > 0 {
				return usageError{fmt.Errorf("--partition cannot be used with --group")}
			}
			if err := oneOf("--group-protocol", groupProtocol, groupProtocols...); err != nil {
				return err
			}
			if group == "" && cmd.Flags().Changed("group-protocol") {
				return usageError{fmt.Errorf("--group-protocol needs --group")}
			}
			if err := oneOf("--group-remote-assignor", assignor, remoteAssignors...); err != nil {
				return err
			}
			if groupProtocol != "consumer" && cmd.Flags().Changed("group-remote-assignor") {
				return usageError{fmt.Errorf("--group-remote-assignor needs --group-protocol consumer")}
			}
			enc, err := parseEncoding(encoding)
			if err != nil {
				return err
			}
			// -n stops at the end too, unless the start is the end
			// itself or --follow asks to wait for new records.
			stopAtEnd := exitAtEnd || (count > 0 && !follow && spec.kind != "end")
			c := &consumer{o: o, topic: topic, count: count, format: format, exitAtEnd: stopAtEnd, group: group, groupProtocol: groupProtocol, assignor: assignor, encoding: enc,
				explicitEncoding: cmd.Flags().Changed("encoding")}
			if c.decode, err = decodeSchema.decoder(); err != nil { // schema.go
				return err
			}
			return c.run(cmd, spec, readCommitted, partitions)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "beginning", "where to start: beginning, end, an offset, -N (N before the end), timestamp:MILLIS or an RFC 3339 time")
	f.IntVarP(&count, "count", "n", 0, "stop after this many records (0: no limit)")
	f.StringVarP(&group, "group", "g", "", "consume as a member of this group and commit what was printed")
	f.StringVar(&groupProtocol, "group-protocol", "classic", "with --group, how to join it (group.protocol): classic, or consumer (KIP-848)")
	f.StringVar(&assignor, "group-remote-assignor", "uniform", "with --group-protocol consumer, the broker's assignor to ask for (group.remote.assignor): uniform or range")
	f.StringVar(&format, "format", "%v", "output template, see above")
	f.BoolVarP(&exitAtEnd, "exit-at-end", "e", false, "stop at the end of the partitions (as they were at the start)")
	f.BoolVar(&follow, "follow", false, "with -n, wait for new records rather than stop at the end")
	f.StringVar(&encoding, "encoding", encAuto, "how keys and values are written: auto (UTF-8 text as is, other bytes base64), utf8, base64 or hex")
	f.BoolVar(&readCommitted, "read-committed", false, "skip records of aborted transactions and stop at the last stable offset")
	f.Int32SliceVarP(&partitions, "partition", "p", nil, "consume only these partitions (comma-separated)")
	decodeSchema = addDecodeSchemaFlags(f)
	return cmd
}

type consumer struct {
	o         *clientOptions
	topic     string
	count     int
	format    string
	exitAtEnd bool
	group     string
	// groupProtocol is how the consumer joins its group: "classic" or
	// "consumer" (KIP-848).
	groupProtocol string
	// assignor is the broker's assignor a KIP-848 member asks for:
	// "uniform" or "range".
	assignor string

	encoding         string // encAuto, encUTF8, encBase64, encHex
	explicitEncoding bool   // --encoding was given: it applies to --format too
	// decode turns schema-framed keys and values into JSON
	// (--decode-schema, schema.go); nil leaves them as they are.
	decode func(*kgo.Record) error
}

func (c *consumer) run(cmd *cobra.Command, spec startSpec, readCommitted bool, only []int32) (err error) {
	ctx := cmd.Context()
	topic := c.topic

	// Find the partitions, their bounds and where to start.
	acl, err := c.o.client()
	if err != nil {
		return err
	}
	// acl stays open for the whole run: a group consumer with -e lists the
	// bounds of each partition when the group assigns it.
	defer acl.Close()
	actx, cancel := context.WithTimeout(ctx, c.o.timeout)
	defer cancel()
	adm := kadm.NewClient(acl)
	td, err := describeTopic(actx, adm, topic)
	if err != nil {
		return c.o.fail("consume "+topic, err)
	}
	for _, p := range only {
		if _, ok := td.Partitions[p]; !ok {
			return fmt.Errorf("consume %s: no partition %d", topic, p)
		}
	}
	if len(only) == 0 {
		only = td.Partitions.Numbers()
	}
	// A partition without a leader cannot be read now: read the others
	// and say so.
	var readable, leaderless []int32
	for _, p := range only {
		if td.Partitions[p].Leader >= 0 {
			readable = append(readable, p)
		} else {
			leaderless = append(leaderless, p)
		}
	}
	if len(readable) == 0 {
		return fmt.Errorf("consume %s: no partition has a leader (their brokers are down)", topic)
	}
	if len(leaderless) > 0 {
		what := "partition"
		if len(leaderless) > 1 {
			what = "partitions"
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "sluice: consume %s: skipping %s %s, with no leader (their brokers are down)\n",
			topic, what, int32List(leaderless))
	}
	starts, err := offsetMap(listPartitionOffsets(actx, acl, topic, readable, -2, 0))
	if err != nil {
		return c.o.fail("list start offsets of "+topic, err)
	}
	var isolation int8
	if readCommitted {
		isolation = 1
	}
	ends, err := offsetMap(listPartitionOffsets(actx, acl, topic, readable, -1, isolation))
	if err != nil {
		return c.o.fail("list end offsets of "+topic, err)
	}
	pos, err := spec.resolve(actx, acl, topic, starts, ends)
	if err != nil {
		return c.o.fail("resolve --from", err)
	}

	// Control records (transaction markers) take an offset but are never
	// printed; the client keeps them so that a log ending in a COMMIT or ABORT
	// marker still counts as read to its end for -e.
	opts := []kgo.Opt{kgo.FetchMaxWait(500 * time.Millisecond), kgo.KeepControlRecords()}
	if readCommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	if c.group != "" {
		offs, err := adm.FetchOffsets(actx, c.group)
		if err != nil {
			return c.o.fail("fetch committed offsets of group "+c.group, err)
		}
		for p := range pos {
			if or, ok := offs.Lookup(topic, p); ok && or.Err == nil && or.At >= 0 {
				pos[p] = or.At
			}
		}
		opts = append(opts, kgo.ConsumerGroup(c.group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(spec.kgoOffset()), kgo.AutoCommitMarks())
		if c.groupProtocol == "consumer" {
			if err := requireConsumerProtocol(actx, adm); err != nil {
				return c.o.fail("consume "+topic+" in group "+c.group, err)
			}
			// KIP-848: the broker assigns. kgo joins with
			// ConsumerGroupHeartbeat when the first balancer is sticky
			// (the default cooperative-sticky, asking for the broker's
			// uniform assignor) or range (asking for range).
			opts = append(opts, kgo.ServerSideBalancer())
			if c.assignor == "range" {
				opts = append(opts, kgo.Balancers(kgo.RangeBalancer()))
			}
		}
	} else {
		assign := map[int32]kgo.Offset{}
		for p, at := range pos {
			assign[p] = kgo.NewOffset().At(at)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}))
	}
	cancel()

	reached := func() bool {
		for p, end := range ends {
			if pos[p] < end {
				return false
			}
		}
		return true
	}
	printed := 0
	// endNote says so when -n asked for more records than there were.
	endNote := func() {
		if c.count > 0 && printed < c.count {
			fmt.Fprintf(cmd.ErrOrStderr(), "sluice: reached the end of %s after %s, fewer than -n %d (--follow waits for more)\n",
				topic, plural(printed, "record"), c.count)
		}
	}
	if c.exitAtEnd && reached() {
		endNote()
		return nil
	}
	// A group member ends at the end of the partitions the group assigns
	// to it, not of those other members own.
	var assigned *groupEnd
	if c.group != "" && c.exitAtEnd {
		assigned = newGroupEnd()
		defer assigned.stop()
		opts = append(opts, assigned.opts(c.startAt(acl, spec, isolation, assigned, cmd.ErrOrStderr()))...)
		reached = assigned.reached
	}

	cl, err := c.o.client(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if assigned != nil && c.groupProtocol == "consumer" {
		assigned.settle = c.brokerSettled(ctx, adm, cl)
	}
	if c.group != "" {
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), c.o.timeout)
			defer cancel()
			if cerr := cl.CommitMarkedOffsets(cctx); cerr != nil && err == nil {
				err = c.o.fail("commit offsets of group "+c.group, cerr)
			}
		}()
	}

	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	for {
		pctx := ctx
		if assigned != nil {
			pctx = assigned.pollContext(ctx) // ended early when the assignment changes
		}
		fs := cl.PollFetches(pctx)
		if ctx.Err() != nil {
			return nil // interrupted: a normal way to stop
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, kgo.ErrClientClosed) {
				continue
			}
			if fe.Topic == "" && c.group != "" {
				return c.groupError(fe.Err)
			}
			return c.o.fail(fmt.Sprintf("consume %s/%d", fe.Topic, fe.Partition), fe.Err)
		}
		for _, r := range fs.Records() {
			if r.Attrs.IsControl() {
				if c.group != "" {
					cl.MarkCommitRecords(r)
				}
				pos[r.Partition] = r.Offset + 1
				assigned.read(r.Partition, r.Offset+1)
				continue
			}
			if err := c.print(out, r); err != nil {
				return err
			}
			if c.group != "" {
				cl.MarkCommitRecords(r)
			}
			pos[r.Partition] = r.Offset + 1
			assigned.read(r.Partition, r.Offset+1)
			printed++
			if c.count > 0 && printed >= c.count {
				return nil
			}
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		if c.exitAtEnd && reached() {
			if err := out.Flush(); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			if assigned != nil && printed == 0 && assigned.none() {
				fmt.Fprintf(cmd.ErrOrStderr(), "sluice: consume %s: group %s assigned no partition to this consumer (other members own them)\n", topic, c.group)
			}
			endNote()
			return nil
		}
	}
}

// groupError is a failure of the group session (joining, heartbeating),
// which the client reports as a fetch error of no partition. A group of
// the other protocol says so and names the flag that joins it.
func (c *consumer) groupError(err error) error {
	what := "consume " + c.topic + " in group " + c.group
	switch {
	case c.groupProtocol == "classic" && errors.Is(err, kerr.InconsistentGroupProtocol):
		err = fmt.Errorf("%w; if it is a consumer group (KIP-848; see sluice group list), join it with --group-protocol consumer", plainError(err))
	case c.groupProtocol == "consumer" && errors.Is(err, kerr.GroupIDNotFound):
		err = fmt.Errorf("%w; it is a classic group with members (see sluice group list): join it with --group-protocol classic", plainError(err))
	}
	return c.o.fail(what, err)
}

// groupProtocols are consume --group-protocol's values, Kafka's
// group.protocol.
var groupProtocols = []string{"classic", "consumer"}

// remoteAssignors are consume --group-remote-assignor's values: the
// broker's KIP-848 assignors.
var remoteAssignors = []string{"uniform", "range"}

// requireConsumerProtocol fails unless every broker serves
// ConsumerGroupHeartbeat v1+ (KIP-848 as Kafka 4.0 has it). Without it kgo
// would quietly join with the classic protocol instead; Kafka's client
// fails, and so does this.
func requireConsumerProtocol(ctx context.Context, adm *kadm.Client) error {
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		return fmt.Errorf("check the brokers' API versions: %w", plainError(err))
	}
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			return fmt.Errorf("check broker %d's API versions: %w", v.NodeID, plainError(v.Err))
		}
		if max, ok := v.KeyMaxVersion(int16(kmsg.ConsumerGroupHeartbeat)); !ok || max < 1 {
			return fmt.Errorf("broker %d does not serve the consumer group protocol (KIP-848, ConsumerGroupHeartbeat v1); use --group-protocol classic", v.NodeID)
		}
	}
	return nil
}

// brokerSettled returns groupEnd's settle check for a KIP-848 member. There
// the broker hands out a partition another member holds only once that
// member has released it, so an assignment the callbacks report (even an
// empty one) may be partial. The check asks ConsumerGroupDescribe whether
// this member's assignment is its whole target, at the group's current
// epoch, and is what this consumer holds (held: the partitions of the
// topic). If this consumer may not describe the group, it trusts the
// callbacks, as for a classic group; any other failure asks again later.
func (c *consumer) brokerSettled(ctx context.Context, adm *kadm.Client, cl *kgo.Client) func(held []int32) bool {
	return func(held []int32) bool {
		member, _ := cl.GroupMetadata()
		dctx, cancel := context.WithTimeout(ctx, c.o.timeout)
		defer cancel()
		dg, isConsumer, err := describeConsumerGroup(dctx, adm, c.group) // group.go
		var ae *kadm.AuthError
		switch {
		case errors.As(err, &ae), errors.Is(err, kerr.GroupAuthorizationFailed):
			return true
		case err != nil, !isConsumer, dg.Epoch != dg.AssignmentEpoch:
			return false // not yet a consumer group, or its target is being computed
		}
		for _, m := range dg.Members {
			if m.MemberID != member {
				continue
			}
			want := kadm.TopicsSet{}
			want.Add(c.topic, held...)
			return sameTopicsSet(m.Assignment, m.TargetAssignment) && sameTopicsSet(m.Assignment, want)
		}
		return false // not a member yet, as far as the broker knows
	}
}

// sameTopicsSet reports whether a and b hold the same partitions.
func sameTopicsSet(a, b kadm.TopicsSet) bool {
	n := 0
	same := true
	a.Each(func(t string, p int32) { n++; same = same && b.Lookup(t, p) })
	b.Each(func(string, int32) { n-- })
	return same && n == 0
}

// startAt returns the group's AdjustFetchOffsetsFn for -e: it reads the
// bounds of the partitions just assigned, notes where each will be read
// from and to in g, and makes the start exact. A partition without a
// committed offset, or whose committed offset is below the log's start,
// starts where --from says, resolved here rather than by the client so
// that it is known.
func (c *consumer) startAt(acl *kgo.Client, spec startSpec, isolation int8, g *groupEnd, stderr io.Writer) func(context.Context, map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	reset := spec.kgoOffset()
	return func(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
		at := offsets[c.topic]
		parts := make([]int32, 0, len(at))
		for p := range at {
			parts = append(parts, p)
		}
		lctx, cancel := context.WithTimeout(ctx, c.o.timeout)
		defer cancel()
		starts := listPartitionOffsets(lctx, acl, c.topic, parts, -2, 0)
		ends := listPartitionOffsets(lctx, acl, c.topic, parts, -1, isolation)
		if err := ctx.Err(); err != nil {
			return nil, err // the session is ending; the next one lists again
		}
		logStarts, logEnds := map[int32]int64{}, map[int32]int64{}
		for _, p := range parts {
			s, e := starts[p], ends[p]
			if err := cmp.Or(s.Err, e.Err); err != nil {
				fmt.Fprintf(stderr, "sluice: consume %s: not waiting for partition %d: %v\n", c.topic, p, plainError(err))
				g.skip(p)
				continue
			}
			logStarts[p], logEnds[p] = s.Offset, e.Offset
		}
		resolved, err := spec.resolve(lctx, acl, c.topic, logStarts, logEnds)
		if err != nil {
			return nil, err
		}
		for p, end := range logEnds {
			o := at[p]
			from := o.EpochOffset().Offset
			if o == reset || from < logStarts[p] {
				from = resolved[p]
				at[p] = kgo.NewOffset().At(from)
			}
			g.positioned(p, from, end)
		}
		return offsets, nil
	}
}

// groupEnd is, for a group consumer with -e, the partitions the group
// assigned to this consumer, each with the end it had when assigned and how
// far it has been read. The group's callbacks change it; the poll loop asks
// it whether every assigned partition is read to its end, and is woken
// when the assignment changes.
type groupEnd struct {
	mu      sync.Mutex
	settled bool // the group has answered with an assignment, and no rebalance has started since
	parts   map[int32]*partitionEnd
	changed bool               // since reached last looked
	wake    context.CancelFunc // ends the current poll

	// settle, when set, asks the broker whether the assignment the
	// callbacks gave, held, is final (KIP-848: brokerSettled); nil trusts
	// the callbacks, as a classic group's assignment after a rebalance is
	// final. It is set before the first poll and only read by the poll loop.
	settle func(held []int32) bool
	// recheck is set when settle said no: the broker's view can change
	// without a callback (a member's epoch, a target computed later), so
	// the next poll ends after settleRecheck to ask again.
	recheck bool
	timer   *time.Timer // ends the current poll after settleRecheck
}

// settleRecheck is how long a KIP-848 member with -e waits before asking
// the broker again whether its assignment is final, when no callback says
// it changed.
const settleRecheck = 500 * time.Millisecond

// partitionEnd is one assigned partition: not yet positioned (its
// offsets are being fetched), skipped (its bounds cannot be listed), or
// read up to pos of end.
type partitionEnd struct {
	positioned, skipped bool
	pos, end            int64
}

func newGroupEnd() *groupEnd { return &groupEnd{parts: map[int32]*partitionEnd{}} }

// opts are the group options that keep g up to date. A revoke commits what
// was printed, as the client does when no OnPartitionsRevoked is given.
func (g *groupEnd) opts(startAt func(context.Context, map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error)) []kgo.Opt {
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, added map[string][]int32) { g.assign(added) }),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
			g.remove(revoked)
			cl.CommitMarkedOffsets(ctx) // a failure shows in the commit at exit
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { g.remove(lost) }),
		kgo.AdjustFetchOffsetsFn(startAt),
	}
}

// assign adds partitions the group assigned, waiting for their offsets.
// Every assignment, even an empty one, settles the group.
func (g *groupEnd) assign(added map[string][]int32) {
	g.update(func() {
		g.settled = true
		for _, ps := range added {
			for _, p := range ps {
				g.parts[p] = &partitionEnd{}
			}
		}
	})
}

// remove drops revoked or lost partitions. A revoke means a rebalance is
// under way (or the consumer is leaving): the assignment that ends it
// settles the group again.
func (g *groupEnd) remove(ps map[string][]int32) {
	g.update(func() {
		g.settled = false
		for _, parts := range ps {
			for _, p := range parts {
				delete(g.parts, p)
			}
		}
	})
}

// update changes g under its lock and wakes the poll loop.
func (g *groupEnd) update(change func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	change()
	g.changed = true
	if g.wake != nil {
		g.wake()
	}
}

// positioned notes that partition p is read from pos up to end.
func (g *groupEnd) positioned(p int32, pos, end int64) {
	g.update(func() { g.parts[p] = &partitionEnd{positioned: true, pos: pos, end: end} })
}

// skip notes that partition p's end is unknown: it is not waited for.
func (g *groupEnd) skip(p int32) {
	g.update(func() { g.parts[p] = &partitionEnd{skipped: true} })
}

// read notes that partition p has been read up to next. A nil g (not a
// group consumer with -e) ignores it.
func (g *groupEnd) read(p int32, next int64) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if pe := g.parts[p]; pe != nil && pe.positioned {
		pe.pos = max(pe.pos, next)
	}
}

// reached says whether the group has settled and every partition it
// assigned to this consumer is read to its end. With settle, the broker
// must agree the assignment is final, and it must not have changed while
// it was asked.
func (g *groupEnd) reached() bool {
	g.mu.Lock()
	g.changed = false
	done := g.settled
	for _, pe := range g.parts {
		if !pe.skipped && (!pe.positioned || pe.pos < pe.end) {
			done = false
		}
	}
	if !done || g.settle == nil {
		g.mu.Unlock()
		return done
	}
	held := make([]int32, 0, len(g.parts))
	for p := range g.parts {
		held = append(held, p)
	}
	g.mu.Unlock()
	settled := g.settle(held)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.recheck = !settled
	return settled && !g.changed
}

// none says whether this consumer holds no partition.
func (g *groupEnd) none() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.parts) == 0
}

// pollContext returns the context for the next poll: ctx, also ended when
// the assignment changes, or at once if it changed since reached looked.
func (g *groupEnd) pollContext(ctx context.Context) context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.endPoll()
	pctx, wake := context.WithCancel(ctx)
	g.wake = wake
	if g.changed {
		wake()
	}
	if g.recheck {
		g.timer = time.AfterFunc(settleRecheck, wake)
	}
	return pctx
}

// stop ends the last poll's context.
func (g *groupEnd) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.endPoll()
}

// endPoll ends the current poll's context and its recheck timer. The
// caller holds g.mu.
func (g *groupEnd) endPoll() {
	if g.wake != nil {
		g.wake()
	}
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
}

// print writes one record as JSON or through the --format template.
func (c *consumer) print(out *bufio.Writer, r *kgo.Record) error {
	var err error
	if c.decode != nil {
		if err := c.decode(r); err != nil {
			return err
		}
	}
	if c.o.json() {
		var j jsonRecord
		if j, err = recordJSON(r, c.encoding); err != nil {
			return err
		}
		err = printJSON(out, j)
	} else {
		key, value := r.Key, r.Value
		if c.explicitEncoding {
			if key, err = encodeField(c.encoding, "key", r, key); err != nil {
				return err
			}
			if value, err = encodeField(c.encoding, "value", r, value); err != nil {
				return err
			}
		}
		_, err = out.WriteString(formatRecord(c.format, r, key, value) + "\n")
	}
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// encodeField encodes a key or value for a --format template.
func encodeField(enc, what string, r *kgo.Record, b []byte) ([]byte, error) {
	s, _, err := encodeBytes(enc, b)
	if err != nil {
		return nil, fmt.Errorf("%s of %s/%d offset %d: %w", what, r.Topic, r.Partition, r.Offset, err)
	}
	if s == nil {
		return nil, nil
	}
	return []byte(*s), nil
}

// formatRecord expands a --format template for one record, with its key
// and value as they are to be shown.
func formatRecord(tmpl string, r *kgo.Record, key, value []byte) string {
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		ch := tmpl[i]
		if (ch != '%' && ch != '\\') || i+1 == len(tmpl) {
			b.WriteByte(ch)
			continue
		}
		i++
		next := tmpl[i]
		if ch == '\\' {
			switch next {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\\':
				b.WriteByte('\\')
			default:
				b.WriteByte('\\')
				b.WriteByte(next)
			}
			continue
		}
		switch next {
		case 'k':
			b.Write(key)
		case 'v':
			b.Write(value)
		case 'p':
			b.WriteString(strconv.Itoa(int(r.Partition)))
		case 'o':
			b.WriteString(strconv.FormatInt(r.Offset, 10))
		case 't':
			b.WriteString(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		case 'T':
			b.WriteString(r.Topic)
		case 'h':
			for j, h := range r.Headers {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(h.Key + "=" + string(h.Value))
			}
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(next)
		}
	}
	return b.String()
}
