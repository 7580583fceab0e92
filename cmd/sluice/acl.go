package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The acl subcommands follow kafka-acls.sh: an ACL allows or denies a
// principal an operation on a resource (topic, group, the cluster, a
// transactional ID) whose name is matched literally or as a prefix, from a
// host. KIP-11 (the model), KIP-290 (prefixed patterns).

func newACLCommand(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Create, list and delete ACLs",
		Long: `Create, list and delete access control lists, with kafka-acls.sh's model:
an ACL allows or denies a principal (User:name) an operation (read, write,
create, delete, alter, describe, cluster-action, describe-configs,
alter-configs, idempotent-write, all) on a resource (--topic, --group,
--transactional-id or --cluster) from a host (--host, default any host).
A principal without a type prefix is taken as User:name.`,
		Example: `  sluice acl create --allow-principal User:alice --operation read,describe --topic orders
  sluice acl create --allow-principal alice --operation read --group billing- --resource-pattern-type prefixed
  sluice acl create --deny-principal User:mallory --operation all --topic '*'
  sluice acl list --topic orders --resource-pattern-type match
  sluice acl delete --allow-principal User:alice --operation read --topic orders`,
	}
	cmd.AddCommand(newACLCreate(o), newACLList(o), newACLDelete(o))
	return cmd
}

// aclFlags are the resource, principal, operation and host flags the acl
// subcommands share.
type aclFlags struct {
	allow, deny, principals []string
	operations              []string
	topics, groups, txnIDs  []string
	cluster                 bool
	hosts                   []string
	pattern                 string
}

func (f *aclFlags) resourceFlags(cmd *cobra.Command, defPattern, patternHelp string) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.topics, "topic", nil, "topic name (repeatable; '*' is every topic)")
	fl.StringArrayVar(&f.groups, "group", nil, "consumer group ID (repeatable; '*' is every group)")
	fl.StringArrayVar(&f.txnIDs, "transactional-id", nil, "transactional ID (repeatable; '*' is every ID)")
	fl.BoolVar(&f.cluster, "cluster", false, "the cluster resource (kafka-cluster)")
	fl.StringVar(&f.pattern, "resource-pattern-type", defPattern, patternHelp)
	fl.StringSliceVar(&f.operations, "operation", nil, "operations, comma-separated or repeated: read, write, create, delete, alter, describe, cluster-action, describe-configs, alter-configs, idempotent-write, all")
}

func (f *aclFlags) principalFlags(cmd *cobra.Command, what string) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.allow, "allow-principal", nil, "principal to allow, User:name ("+what+"; repeatable)")
	fl.StringArrayVar(&f.deny, "deny-principal", nil, "principal to deny, User:name ("+what+"; repeatable)")
	fl.StringArrayVar(&f.hosts, "host", nil, "client host (IP address) the ACL applies to (repeatable; default any host, *)")
}

func (f *aclFlags) hasResource() bool {
	return len(f.topics)+len(f.groups)+len(f.txnIDs) > 0 || f.cluster
}

// builder turns the flags into a kadm ACL builder. forCreate asks for
// concrete operations and a literal or prefixed pattern.
func (f *aclFlags) builder(forCreate bool) (*kadm.ACLBuilder, error) {
	b := kadm.NewACLs()
	pattern, err := kmsg.ParseACLResourcePatternType(f.pattern)
	if err != nil || pattern == kmsg.ACLResourcePatternTypeUnknown {
		return nil, fmt.Errorf("--resource-pattern-type %q: want literal, prefixed, match or any", f.pattern)
	}
	if forCreate && pattern != kmsg.ACLResourcePatternTypeLiteral && pattern != kmsg.ACLResourcePatternTypePrefixed {
		return nil, fmt.Errorf("--resource-pattern-type %q: an ACL is created literal or prefixed", f.pattern)
	}
	b.ResourcePatternType(pattern)
	var ops []kadm.ACLOperation
	for _, s := range f.operations {
		op, err := kmsg.ParseACLOperation(strings.TrimSpace(s))
		if err != nil || op == kmsg.ACLOperationUnknown || (forCreate && op == kmsg.ACLOperationAny) {
			return nil, fmt.Errorf("--operation %q: want read, write, create, delete, alter, describe, cluster-action, describe-configs, alter-configs, idempotent-write or all", s)
		}
		ops = append(ops, op)
	}
	if forCreate && len(ops) == 0 {
		return nil, errors.New("--operation is required")
	}
	b.Operations(ops...) // none: any operation
	if f.hasResource() {
		b.MaybeTopics(f.topics...).MaybeGroups(f.groups...).MaybeTransactionalIDs(f.txnIDs...).MaybeClusters(f.cluster)
	} else {
		b.AnyResource()
	}
	return b, nil
}

// principal adds Kafka's User: type to a bare name.
func principal(p string) string {
	if strings.Contains(p, ":") {
		return p
	}
	return "User:" + p
}

func principals(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = principal(p)
	}
	return out
}

// aclRow is one ACL as the acl subcommands print it.
type aclRow struct {
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
}

func newACLRow(principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType, typ kmsg.ACLResourceType, name string, pattern kmsg.ACLResourcePatternType) aclRow {
	return aclRow{principal, host, op.String(), perm.String(), typ.String(), name, pattern.String()}
}

// printACLs prints rows sorted by resource, then principal, without
// duplicates (several filters can match one ACL).
func (o *clientOptions) printACLs(cmd *cobra.Command, rows []aclRow) error {
	seen := map[aclRow]bool{}
	uniq := []aclRow{}
	for _, r := range rows {
		if !seen[r] {
			seen[r] = true
			uniq = append(uniq, r)
		}
	}
	key := func(r aclRow) string {
		return strings.Join([]string{r.ResourceType, r.ResourceName, r.PatternType, r.Principal, r.Permission, r.Operation, r.Host}, "\x00")
	}
	sort.Slice(uniq, func(i, j int) bool { return key(uniq[i]) < key(uniq[j]) })
	if o.json() {
		return printJSON(cmd.OutOrStdout(), uniq)
	}
	var table [][]string
	for _, r := range uniq {
		table = append(table, []string{r.ResourceType, r.ResourceName, r.PatternType, r.Principal, r.Permission, r.Operation, r.Host})
	}
	return printTable(cmd.OutOrStdout(), []string{"RESOURCE-TYPE", "RESOURCE-NAME", "PATTERN", "PRINCIPAL", "PERMISSION", "OPERATION", "HOST"}, table)
}

func newACLCreate(o *clientOptions) *cobra.Command {
	var (
		f                  aclFlags
		producer, consumer bool
		idempotent         bool
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create ACLs: every principal x operation x resource x host given",
		Long: `Create ACLs: every principal, operation, resource and host given. As in
kafka-acls.sh, --producer stands for WRITE, DESCRIBE and CREATE on the topics
(WRITE and DESCRIBE on the transactional IDs, IDEMPOTENT_WRITE on the cluster
with --idempotent), and --consumer for READ and DESCRIBE on the topics and READ
on the groups.`,
		Example: `  sluice acl create --allow-principal User:alice --operation read,describe --topic orders --group billing
  sluice acl create --allow-principal User:etl --operation write --topic logs- --resource-pattern-type prefixed
  sluice acl create --allow-principal User:admin --operation all --cluster
  sluice acl create --allow-principal User:etl --producer --topic orders --transactional-id etl-
  sluice acl create --allow-principal User:billing --consumer --topic orders --group billing`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(f.allow)+len(f.deny) == 0 {
				return usageError{errors.New("acl create: give --allow-principal or --deny-principal")}
			}
			if !f.hasResource() {
				return usageError{errors.New("acl create: give a resource: --topic, --group, --transactional-id or --cluster")}
			}
			bs, err := createBuilders(&f, producer, consumer, idempotent)
			if err != nil {
				return usageError{fmt.Errorf("acl create: %w", err)}
			}
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			var rows []aclRow
			var errs []error
			for _, b := range bs {
				b.MaybeAllow(principals(f.allow)...).MaybeDeny(principals(f.deny)...)
				if len(f.hosts) > 0 {
					if len(f.allow) > 0 {
						b.AllowHosts(f.hosts...)
					}
					if len(f.deny) > 0 {
						b.DenyHosts(f.hosts...)
					}
				}
				res, err := adm.CreateACLs(ctx, b)
				if err != nil {
					return o.fail("create ACLs", err)
				}
				for _, r := range res {
					row := newACLRow(r.Principal, r.Host, r.Operation, r.Permission, r.Type, r.Name, r.Pattern)
					if r.Err != nil {
						errs = append(errs, fmt.Errorf("%s %s %s on %s %s: %w", row.Permission, row.Principal, row.Operation, row.ResourceType, row.ResourceName, respErr(r.Err, r.ErrMessage)))
						continue
					}
					rows = append(rows, row)
				}
			}
			if len(errs) > 0 {
				return o.fail("create ACLs", errors.Join(errs...))
			}
			return o.printACLs(cmd, rows)
		},
	}
	f.principalFlags(cmd, "at least one of --allow-principal and --deny-principal")
	f.resourceFlags(cmd, "literal", "how resource names match: literal or prefixed")
	fl := cmd.Flags()
	fl.BoolVar(&producer, "producer", false, "the ACLs a producer needs (instead of --operation): WRITE, DESCRIBE, CREATE on --topic; WRITE, DESCRIBE on --transactional-id")
	fl.BoolVar(&consumer, "consumer", false, "the ACLs a consumer needs (instead of --operation): READ, DESCRIBE on --topic, READ on --group")
	fl.BoolVar(&idempotent, "idempotent", false, "with --producer: IDEMPOTENT_WRITE on the cluster too")
	return cmd
}

// createBuilders turns the create flags into one builder per set of
// operations: --operation gives one; --producer and --consumer one per
// resource type, as kafka-acls.sh grants them.
func createBuilders(f *aclFlags, producer, consumer, idempotent bool) ([]*kadm.ACLBuilder, error) {
	if !producer && !consumer {
		if idempotent {
			return nil, errors.New("--idempotent goes with --producer")
		}
		b, err := f.builder(true)
		if err != nil {
			return nil, err
		}
		return []*kadm.ACLBuilder{b}, nil
	}
	if len(f.operations) > 0 || f.cluster {
		return nil, errors.New("--producer and --consumer stand for --operation and the cluster resource; give topics, groups and transactional IDs only")
	}
	if idempotent && !producer {
		return nil, errors.New("--idempotent goes with --producer")
	}
	pattern, err := kmsg.ParseACLResourcePatternType(f.pattern)
	if err != nil || (pattern != kmsg.ACLResourcePatternTypeLiteral && pattern != kmsg.ACLResourcePatternTypePrefixed) {
		return nil, fmt.Errorf("--resource-pattern-type %q: an ACL is created literal or prefixed", f.pattern)
	}
	var bs []*kadm.ACLBuilder
	add := func(set func(*kadm.ACLBuilder), ops ...kadm.ACLOperation) {
		b := kadm.NewACLs().ResourcePatternType(pattern).Operations(ops...)
		set(b)
		bs = append(bs, b)
	}
	if producer {
		if len(f.topics) == 0 && len(f.txnIDs) == 0 {
			return nil, errors.New("--producer needs --topic or --transactional-id")
		}
		if len(f.groups) > 0 && !consumer {
			return nil, errors.New("--producer takes no --group (a consumer's)")
		}
		if len(f.topics) > 0 {
			add(func(b *kadm.ACLBuilder) { b.Topics(f.topics...) }, kadm.OpWrite, kadm.OpDescribe, kadm.OpCreate)
		}
		if len(f.txnIDs) > 0 {
			add(func(b *kadm.ACLBuilder) { b.TransactionalIDs(f.txnIDs...) }, kadm.OpWrite, kadm.OpDescribe)
		}
		if idempotent {
			// The cluster is always the literal kafka-cluster.
			b := kadm.NewACLs().Clusters().Operations(kadm.OpIdempotentWrite)
			bs = append(bs, b)
		}
	}
	if consumer {
		if len(f.topics) == 0 || len(f.groups) == 0 {
			return nil, errors.New("--consumer needs --topic and --group")
		}
		if len(f.txnIDs) > 0 && !producer {
			return nil, errors.New("--consumer takes no --transactional-id (a producer's)")
		}
		add(func(b *kadm.ACLBuilder) { b.Topics(f.topics...) }, kadm.OpRead, kadm.OpDescribe)
		add(func(b *kadm.ACLBuilder) { b.Groups(f.groups...) }, kadm.OpRead)
	}
	return bs, nil
}

func newACLList(o *clientOptions) *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List ACLs, all of them or those matching the filters",
		Example: `  sluice acl list
  sluice acl list --topic orders
  sluice acl list --topic orders --resource-pattern-type match   # every ACL that applies to orders
  sluice acl list --principal User:alice --output json`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := f.builder(false)
			if err != nil {
				return usageError{fmt.Errorf("acl list: %w", err)}
			}
			filterPrincipals(b, principals(f.principals), principals(f.principals), f.hosts)
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			res, err := adm.DescribeACLs(ctx, b)
			if err != nil {
				return o.fail("list ACLs", err)
			}
			rows := []aclRow{}
			for _, r := range res {
				if r.Err != nil {
					return o.fail("list ACLs", respErr(r.Err, r.ErrMessage))
				}
				for _, d := range r.Described {
					rows = append(rows, newACLRow(d.Principal, d.Host, d.Operation, d.Permission, d.Type, d.Name, d.Pattern))
				}
			}
			return o.printACLs(cmd, rows)
		},
	}
	cmd.Flags().StringArrayVar(&f.principals, "principal", nil, "only ACLs of this principal, User:name (repeatable)")
	cmd.Flags().StringArrayVar(&f.hosts, "host", nil, "only ACLs for this host (repeatable)")
	f.resourceFlags(cmd, "any", "which patterns to list: literal, prefixed, any (either, by exact name) or match (every ACL that applies to the named resource)")
	return cmd
}

// filterPrincipals sets a describe or delete filter's principals and hosts;
// no principals or hosts match any.
func filterPrincipals(b *kadm.ACLBuilder, allow, deny, hosts []string) {
	b.Allow(allow...).AllowHosts(hosts...).Deny(deny...).DenyHosts(hosts...)
}

func newACLDelete(o *clientOptions) *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete the ACLs of a resource that match the filters",
		Long: `Delete the ACLs of the named resources that match the filters. Without
--allow-principal or --deny-principal it deletes the ACLs of every principal;
without --operation, every operation. It prints the ACLs it deleted.`,
		Example: `  sluice acl delete --allow-principal User:alice --operation read --topic orders
  sluice acl delete --topic orders                     # every literal ACL on topic orders
  sluice acl delete --group billing- --resource-pattern-type prefixed`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !f.hasResource() {
				return usageError{errors.New("acl delete: give a resource: --topic, --group, --transactional-id or --cluster")}
			}
			b, err := f.builder(false)
			if err != nil {
				return usageError{fmt.Errorf("acl delete: %w", err)}
			}
			switch {
			case len(f.allow)+len(f.deny) == 0:
				filterPrincipals(b, nil, nil, f.hosts)
			default:
				b.MaybeAllow(principals(f.allow)...).MaybeDeny(principals(f.deny)...)
				if len(f.allow) > 0 {
					b.AllowHosts(f.hosts...)
				}
				if len(f.deny) > 0 {
					b.DenyHosts(f.hosts...)
				}
			}
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			res, err := adm.DeleteACLs(ctx, b)
			if err != nil {
				return o.fail("delete ACLs", err)
			}
			rows := []aclRow{}
			for _, r := range res {
				if r.Err != nil {
					return o.fail("delete ACLs", respErr(r.Err, r.ErrMessage))
				}
				for _, d := range r.Deleted {
					if d.Err != nil {
						return o.fail("delete ACLs", respErr(d.Err, d.ErrMessage))
					}
					rows = append(rows, newACLRow(d.Principal, d.Host, d.Operation, d.Permission, d.Type, d.Name, d.Pattern))
				}
			}
			return o.printACLs(cmd, rows)
		},
	}
	f.principalFlags(cmd, "default: every principal")
	f.resourceFlags(cmd, "literal", "which patterns to delete: literal, prefixed, any (either, by exact name) or match (every ACL that applies to the named resource)")
	return cmd
}
