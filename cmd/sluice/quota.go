package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The quota subcommands follow kafka-configs.sh --entity-type users/clients/ips
// (KIP-13, KIP-55, KIP-124, KIP-546): a quota is set for a user, a client
// ID, both together, or an IP address, each named or the default, and the
// broker applies the most specific one a client matches.

// quotaEntityFlags name the entity the quota subcommands act on.
type quotaEntityFlags struct {
	user, clientID, ip                      string
	defaultUser, defaultClientID, defaultIP bool
}

func (f *quotaEntityFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.user, "user", "", "user (principal name without User:)")
	fl.BoolVar(&f.defaultUser, "default-user", false, "the default user: every user without a quota of its own")
	fl.StringVar(&f.clientID, "client-id", "", "client ID")
	fl.BoolVar(&f.defaultClientID, "default-client-id", false, "the default client ID")
	fl.StringVar(&f.ip, "ip", "", "client IP address (connection_creation_rate only)")
	fl.BoolVar(&f.defaultIP, "default-ip", false, "the default IP address")
}

// entity is the entity the flags name; optional allows none (list).
func (f *quotaEntityFlags) entity(optional bool) (kadm.ClientQuotaEntity, error) {
	var e kadm.ClientQuotaEntity
	add := func(typ, name string, def bool) error {
		switch {
		case name != "" && def:
			return fmt.Errorf("give --%s or --default-%s, not both", typ, typ)
		case def:
			e = append(e, kadm.ClientQuotaEntityComponent{Type: typ})
		case name != "":
			e = append(e, kadm.ClientQuotaEntityComponent{Type: typ, Name: &name})
		}
		return nil
	}
	if err := errors.Join(add("user", f.user, f.defaultUser), add("client-id", f.clientID, f.defaultClientID), add("ip", f.ip, f.defaultIP)); err != nil {
		return nil, err
	}
	if len(e) == 0 && !optional {
		return nil, errors.New("name an entity: --user, --client-id (or both), --ip, or a --default-* one")
	}
	return e, nil
}

func newQuotaCommand(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Set, list and delete client quotas",
		Long: `Set, list and delete client quotas, as kafka-configs.sh does for users,
clients and IPs. Keys: producer_byte_rate and consumer_byte_rate (bytes per
second), request_percentage (time the broker spends on the client's
requests, 100 = one thread), controller_mutation_rate (partitions created or
deleted per second), and connection_creation_rate (--ip only). A client
over a quota is answered with throttle_time_ms and not read from meanwhile.
A client gets the quota of the most specific entity it matches: user and
client ID, user with the default client ID, user, default user and client
ID, ..., client ID, default client ID.`,
		Example: `  sluice quota set --client-id batch-loader producer_byte_rate=1048576
  sluice quota set --user alice --client-id reports consumer_byte_rate=5242880 request_percentage=50
  sluice quota set --default-user producer_byte_rate=10485760
  sluice quota list
  sluice quota list --user alice
  sluice quota delete --client-id batch-loader producer_byte_rate
  sluice quota delete --default-user`,
	}
	cmd.AddCommand(newQuotaSet(o), newQuotaList(o), newQuotaDelete(o))
	return cmd
}

func newQuotaSet(o *clientOptions) *cobra.Command {
	var f quotaEntityFlags
	cmd := &cobra.Command{
		Use:   "set KEY=VALUE...",
		Short: "Set quota values of an entity",
		Args:  usage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := f.entity(false)
			if err != nil {
				return usageError{fmt.Errorf("quota set: %w", err)}
			}
			var ops []kadm.AlterClientQuotaOp
			for _, a := range args {
				k, v, err := parseKV("quota set", a)
				if err != nil {
					return usageError{err}
				}
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return usageError{fmt.Errorf("quota set %s: %q is not a number", k, v)}
				}
				ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Value: n})
			}
			return o.alterQuotas(cmd, "set quotas", e, ops)
		},
	}
	f.register(cmd)
	return cmd
}

func newQuotaDelete(o *clientOptions) *cobra.Command {
	var f quotaEntityFlags
	cmd := &cobra.Command{
		Use:   "delete [KEY...]",
		Short: "Remove quota values of an entity (all of them without keys)",
		Args:  usage(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := f.entity(false)
			if err != nil {
				return usageError{fmt.Errorf("quota delete: %w", err)}
			}
			keys := args
			if len(keys) == 0 {
				// Every key the entity has.
				qs, err := o.describeQuotas(cmd, e, true)
				if err != nil {
					return err
				}
				for _, q := range qs {
					for _, v := range q.Values {
						keys = append(keys, v.Key)
					}
				}
				if len(keys) == 0 {
					return fmt.Errorf("quota delete: %s has no quota", e)
				}
			}
			var ops []kadm.AlterClientQuotaOp
			for _, k := range keys {
				ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
			}
			return o.alterQuotas(cmd, "delete quotas", e, ops)
		},
	}
	f.register(cmd)
	return cmd
}

func newQuotaList(o *clientOptions) *cobra.Command {
	var f quotaEntityFlags
	var strict bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List quotas, of every entity or those matching the entity flags",
		Args:  usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.entity(true)
			if err != nil {
				return usageError{fmt.Errorf("quota list: %w", err)}
			}
			qs, err := o.describeQuotas(cmd, e, strict)
			if err != nil {
				return err
			}
			return o.printQuotas(cmd, qs)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&strict, "strict", false, "only entities made of exactly the components given")
	return cmd
}

func (o *clientOptions) alterQuotas(cmd *cobra.Command, what string, e kadm.ClientQuotaEntity, ops []kadm.AlterClientQuotaOp) error {
	adm, ctx, done, err := o.admin(cmd.Context())
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: e, Ops: ops}})
	if err != nil {
		return o.fail(what, err)
	}
	for _, r := range res {
		if r.Err != nil {
			return o.fail(what, fmt.Errorf("%s: %w", e, respErr(r.Err, r.ErrMessage)))
		}
	}
	qs, err := o.describeQuotasWith(adm, ctx, e, true)
	if err != nil {
		return o.fail(what, err)
	}
	if !o.json() && !slices.ContainsFunc(qs, func(q kadm.DescribedClientQuota) bool { return len(q.Values) > 0 }) {
		// A header over no rows reads as a failed listing; say what
		// the delete left instead.
		fmt.Fprintf(cmd.OutOrStdout(), "%s has no quotas left\n", entityName(e))
		return nil
	}
	return o.printQuotas(cmd, qs)
}

func (o *clientOptions) describeQuotas(cmd *cobra.Command, e kadm.ClientQuotaEntity, strict bool) (kadm.DescribedClientQuotas, error) {
	adm, ctx, done, err := o.admin(cmd.Context())
	if err != nil {
		return nil, err
	}
	defer done()
	qs, err := o.describeQuotasWith(adm, ctx, e, strict)
	if err != nil {
		return nil, o.fail("list quotas", err)
	}
	return qs, nil
}

func (o *clientOptions) describeQuotasWith(adm *kadm.Client, ctx context.Context, e kadm.ClientQuotaEntity, strict bool) (kadm.DescribedClientQuotas, error) {
	var comps []kadm.DescribeClientQuotaComponent
	for _, c := range e {
		dc := kadm.DescribeClientQuotaComponent{Type: c.Type, MatchName: c.Name, MatchType: kmsg.QuotasMatchTypeExact}
		if c.Name == nil {
			dc.MatchType = kmsg.QuotasMatchTypeDefault
		}
		comps = append(comps, dc)
	}
	return adm.DescribeClientQuotas(ctx, strict, comps)
}

// quotaRow is one quota value as the quota subcommands print it.
type quotaRow struct {
	Entity string  `json:"entity"`
	Key    string  `json:"key"`
	Value  float64 `json:"value"`
}

func (o *clientOptions) printQuotas(cmd *cobra.Command, qs kadm.DescribedClientQuotas) error {
	var rows []quotaRow
	for _, q := range qs {
		for _, v := range q.Values {
			rows = append(rows, quotaRow{Entity: entityName(q.Entity), Key: v.Key, Value: v.Value})
		}
	}
	slices.SortFunc(rows, func(a, b quotaRow) int {
		return strings.Compare(a.Entity+"\x00"+a.Key, b.Entity+"\x00"+b.Key)
	})
	if o.json() {
		if rows == nil {
			rows = []quotaRow{}
		}
		return printJSON(cmd.OutOrStdout(), rows)
	}
	var table [][]string
	for _, r := range rows {
		table = append(table, []string{r.Entity, r.Key, strconv.FormatFloat(r.Value, 'f', -1, 64)})
	}
	return printTable(cmd.OutOrStdout(), []string{"ENTITY", "KEY", "VALUE"}, table)
}

// entityName is how the quota subcommands print an entity:
// user=alice,client-id=<default>.
func entityName(e kadm.ClientQuotaEntity) string {
	parts := make([]string, len(e))
	for i, c := range e {
		parts[i] = c.String()
	}
	return strings.Join(parts, ",")
}
