package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	havro "github.com/hamba/avro/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/sluice-io/sluice/internal/node"
	"github.com/sluice-io/sluice/internal/schema"
)

// defaultSchemaRegistryListen is where sluice serve runs the schema
// registry when it is a single node and no --schema-registry-listen says
// otherwise.
const defaultSchemaRegistryListen = "127.0.0.1:8081"

// applySchemaRegistryFlag sets where the schema registry listens: the flag
// when given; otherwise its default for a single node (best effort: the
// address may be taken), and off in a cluster, whose nodes on one machine
// would all want the default port.
func applySchemaRegistryFlag(cmd *cobra.Command, cfg *node.Config, listen string) {
	if cmd.Flags().Changed("schema-registry-listen") {
		cfg.SchemaRegistryListen = listen
		return
	}
	if cfg.Settings["controller.quorum.voters"] != "" {
		return
	}
	cfg.SchemaRegistryListen, cfg.SchemaRegistryBestEffort = listen, true
}

// schemaOptions are the flags of sluice schema.
type schemaOptions struct {
	registry string
	timeout  time.Duration
}

func (o *schemaOptions) client() (*sr.Client, error) {
	return sr.NewClient(sr.URLs(strings.Split(o.registry, ",")...), sr.HTTPClient(&http.Client{Timeout: o.timeout}))
}

// session returns a registry client and a context bounded by
// --registry-timeout.
func (o *schemaOptions) session(cmd *cobra.Command) (*sr.Client, context.Context, context.CancelFunc, error) {
	cl, err := o.client()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	return cl, ctx, cancel, nil
}

// parseVersion parses --version: a number, or latest (and empty) as -1.
func parseVersion(version string) (int, error) {
	if version == "latest" || version == "" {
		return -1, nil
	}
	v, err := strconv.Atoi(version)
	if err != nil {
		return 0, usageError{fmt.Errorf("--version %q: want a number or latest", version)}
	}
	return v, nil
}

// jsonOutput reports whether --output json was asked for.
func jsonOutput(cmd *cobra.Command) bool {
	out, _ := cmd.Flags().GetString("output")
	return out == "json"
}

func newSchemaCommand() *cobra.Command {
	o := &schemaOptions{}
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Register, read and check schemas in the schema registry",
		Long: `Work with the schema registry that sluice serve runs (Confluent Schema
Registry's REST API): register schemas under subjects, read them by subject
and version or by ID, delete them, check compatibility and set levels.`,
		Example: `  sluice schema register orders-value --file order.avsc
  sluice schema register orders-value --type PROTOBUF --file order.proto
  sluice schema get orders-value --version latest
  sluice schema get --id 1
  sluice schema list
  sluice schema check-compat orders-value --file order-v2.avsc
  sluice schema config orders-value --set FULL`,
	}
	registry := os.Getenv("SLUICE_SCHEMA_REGISTRY")
	if registry == "" {
		registry = "http://" + defaultSchemaRegistryListen
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.registry, "registry", registry, "schema registry URL(s), comma-separated (env SLUICE_SCHEMA_REGISTRY)")
	f.DurationVar(&o.timeout, "registry-timeout", 30*time.Second, "how long to wait for the registry to answer")
	cmd.AddCommand(newSchemaRegisterCommand(o), newSchemaGetCommand(o), newSchemaListCommand(o),
		newSchemaDeleteCommand(o), newSchemaCheckCommand(o), newSchemaConfigCommand(o))
	return cmd
}

// schemaInput reads the schema of a command: --schema text or --file.
type schemaInput struct {
	text, file, typ string
	refs            []string
}

func (in *schemaInput) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&in.text, "schema", "", "the schema text")
	f.StringVar(&in.file, "file", "", "file holding the schema (- for standard input)")
	f.StringVar(&in.typ, "type", "AVRO", "schema type: AVRO, JSON or PROTOBUF")
	f.StringArrayVar(&in.refs, "reference", nil, "a reference as name=subject:version (repeatable)")
}

func (in *schemaInput) schema() (sr.Schema, error) {
	var s sr.Schema
	text := in.text
	switch {
	case in.file != "" && text != "":
		return s, usageError{errors.New("give --schema or --file, not both")}
	case in.file == "-":
		b, err := readAllStdin()
		if err != nil {
			return s, err
		}
		text = string(b)
	case in.file != "":
		b, err := os.ReadFile(in.file)
		if err != nil {
			return s, err
		}
		text = string(b)
	case text == "":
		return s, usageError{errors.New("give the schema with --schema or --file")}
	}
	if err := s.Type.UnmarshalText([]byte(strings.ToUpper(in.typ))); err != nil {
		return s, usageError{fmt.Errorf("--type %q: want AVRO, JSON or PROTOBUF", in.typ)}
	}
	s.Schema = text
	for _, r := range in.refs {
		name, rest, ok := strings.Cut(r, "=")
		subj, ver, ok2 := strings.Cut(rest, ":")
		v, err := strconv.Atoi(ver)
		if !ok || !ok2 || err != nil || name == "" || subj == "" {
			return s, usageError{fmt.Errorf("--reference %q: want name=subject:version", r)}
		}
		s.References = append(s.References, sr.SchemaReference{Name: name, Subject: subj, Version: v})
	}
	return s, nil
}

func readAllStdin() ([]byte, error) { return io.ReadAll(os.Stdin) }

func newSchemaRegisterCommand(o *schemaOptions) *cobra.Command {
	var in schemaInput
	var normalize bool
	cmd := &cobra.Command{
		Use:   "register SUBJECT",
		Short: "Register a schema under a subject and print its ID",
		Example: `  sluice schema register orders-value --file order.avsc
  sluice schema register orders-value --type JSON --schema '{"type":"object"}'
  sluice schema register lines-value --file line.avsc --reference shop.Order=orders-value:1`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := in.schema()
			if err != nil {
				return err
			}
			cl, ctx, cancel, err := o.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			if normalize {
				ctx = sr.WithParams(ctx, sr.Normalize)
			}
			ss, err := cl.CreateSchema(ctx, args[0], s)
			if err != nil {
				return fmt.Errorf("register under %s: %w", args[0], err)
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), map[string]any{"subject": ss.Subject, "version": ss.Version, "id": ss.ID})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "registered %s version %d with id %d\n", ss.Subject, ss.Version, ss.ID)
			return nil
		},
	}
	in.flags(cmd)
	cmd.Flags().BoolVar(&normalize, "normalize", false, "store the schema in its normalized form")
	return cmd
}

func printSchema(cmd *cobra.Command, ss sr.SubjectSchema) error {
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), ss)
	}
	w := cmd.OutOrStdout()
	if ss.Subject != "" {
		fmt.Fprintf(w, "subject: %s\nversion: %d\n", ss.Subject, ss.Version)
	}
	fmt.Fprintf(w, "id:      %d\ntype:    %s\n", ss.ID, ss.Type)
	for _, r := range ss.References {
		fmt.Fprintf(w, "reference: %s = %s version %d\n", r.Name, r.Subject, r.Version)
	}
	fmt.Fprintln(w, ss.Schema.Schema)
	return nil
}

func newSchemaGetCommand(o *schemaOptions) *cobra.Command {
	var version string
	var id int
	cmd := &cobra.Command{
		Use:   "get [SUBJECT]",
		Short: "Print a schema by subject and version, or by ID",
		Example: `  sluice schema get orders-value
  sluice schema get orders-value --version 2 --output json
  sluice schema get --id 1`,
		Args: usage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, ctx, cancel, err := o.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			if id > 0 {
				s, err := cl.SchemaByID(ctx, id)
				if err != nil {
					return fmt.Errorf("schema %d: %w", id, err)
				}
				return printSchema(cmd, sr.SubjectSchema{ID: id, Schema: s})
			}
			if len(args) != 1 {
				return usageError{errors.New("give a SUBJECT or --id")}
			}
			v, err := parseVersion(version)
			if err != nil {
				return err
			}
			ss, err := cl.SchemaByVersion(ctx, args[0], v)
			if err != nil {
				return fmt.Errorf("%s version %s: %w", args[0], version, err)
			}
			return printSchema(cmd, ss)
		},
	}
	cmd.Flags().StringVar(&version, "version", "latest", "version of the subject, or latest")
	cmd.Flags().IntVar(&id, "id", 0, "the schema's ID (instead of a subject)")
	return cmd
}

func newSchemaListCommand(o *schemaOptions) *cobra.Command {
	var deleted bool
	cmd := &cobra.Command{
		Use:   "list [SUBJECT]",
		Short: "List the subjects, or the versions of one subject",
		Example: `  sluice schema list
  sluice schema list orders-value --deleted`,
		Args: usage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, ctx, cancel, err := o.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			if deleted {
				ctx = sr.WithParams(ctx, sr.ShowDeleted)
			}
			if len(args) == 1 {
				versions, err := cl.SubjectVersions(ctx, args[0])
				if err != nil {
					return fmt.Errorf("versions of %s: %w", args[0], err)
				}
				if jsonOutput(cmd) {
					return printJSON(cmd.OutOrStdout(), versions)
				}
				for _, v := range versions {
					fmt.Fprintln(cmd.OutOrStdout(), v)
				}
				return nil
			}
			subjects, err := cl.Subjects(ctx)
			if err != nil {
				return fmt.Errorf("subjects: %w", err)
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), subjects)
			}
			for _, s := range subjects {
				fmt.Fprintln(cmd.OutOrStdout(), s)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&deleted, "deleted", false, "include soft-deleted subjects or versions")
	return cmd
}

func newSchemaDeleteCommand(o *schemaOptions) *cobra.Command {
	var version string
	var permanent bool
	cmd := &cobra.Command{
		Use:   "delete SUBJECT",
		Short: "Delete a subject, or one version of it (soft; --permanent after a soft delete removes it)",
		Example: `  sluice schema delete orders-value --version 2
  sluice schema delete orders-value
  sluice schema delete orders-value --permanent`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, ctx, cancel, err := o.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			how := sr.SoftDelete
			if permanent {
				how = sr.HardDelete
			}
			if version == "" {
				versions, err := cl.DeleteSubject(ctx, args[0], how)
				if err != nil {
					return fmt.Errorf("delete %s: %w", args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s versions %v\n", args[0], versions)
				return nil
			}
			v, err := parseVersion(version)
			if err != nil {
				return err
			}
			if err := cl.DeleteSchema(ctx, args[0], v, how); err != nil {
				return fmt.Errorf("delete %s version %s: %w", args[0], version, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s version %s\n", args[0], version)
			return nil
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "delete only this version (a number or latest)")
	cmd.Flags().BoolVar(&permanent, "permanent", false, "remove for good what was soft-deleted before")
	return cmd
}

func newSchemaCheckCommand(o *schemaOptions) *cobra.Command {
	var in schemaInput
	var version string
	cmd := &cobra.Command{
		Use:   "check-compat SUBJECT",
		Short: "Check whether a schema could be registered under a subject; exits 1 when it could not",
		Example: `  sluice schema check-compat orders-value --file order-v2.avsc
  sluice schema check-compat orders-value --file order-v2.avsc --version 1`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := in.schema()
			if err != nil {
				return err
			}
			cl, ctx, cancel, err := o.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			v, err := parseVersion(version)
			if err != nil {
				return err
			}
			res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), args[0], v, s)
			if err != nil {
				return fmt.Errorf("check against %s: %w", args[0], err)
			}
			if jsonOutput(cmd) {
				if err := printJSON(cmd.OutOrStdout(), res); err != nil {
					return err
				}
			} else if res.Is {
				fmt.Fprintln(cmd.OutOrStdout(), "compatible")
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), "incompatible:")
				for _, m := range res.Messages {
					fmt.Fprintln(cmd.OutOrStdout(), "  "+m)
				}
			}
			if !res.Is {
				return errIncompatible
			}
			return nil
		},
	}
	in.flags(cmd)
	cmd.Flags().StringVar(&version, "version", "latest", "check against this version (a number or latest); with all, against every version the level compares with")
	return cmd
}

var errIncompatible = errors.New("the schema is not compatible")

func newSchemaConfigCommand(o *schemaOptions) *cobra.Command {
	var level, mode string
	cmd := &cobra.Command{
		Use:   "config [SUBJECT]",
		Short: "Show or set the compatibility level (and mode) of a subject, or the global one",
		Example: `  sluice schema config
  sluice schema config orders-value --set FULL_TRANSITIVE
  sluice schema config --mode READONLY`,
		Args: usage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, ctx, cancel, err := o.session(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var subjects []string // none: the global setting
			if len(args) == 1 {
				subjects = args
			}
			if level != "" {
				var l sr.CompatibilityLevel
				if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
					return usageError{fmt.Errorf("--set %q: want NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE", level)}
				}
				if res := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: l}, subjects...); res[0].Err != nil {
					return fmt.Errorf("set compatibility: %w", res[0].Err)
				}
			}
			if mode != "" {
				var m sr.Mode
				if err := m.UnmarshalText([]byte(strings.ToUpper(mode))); err != nil {
					return usageError{fmt.Errorf("--mode %q: want READWRITE, READONLY or IMPORT", mode)}
				}
				if res := cl.SetMode(ctx, m, subjects...); res[0].Err != nil {
					return fmt.Errorf("set mode: %w", res[0].Err)
				}
			}
			ctx = sr.WithParams(ctx, sr.DefaultToGlobal)
			c := cl.Compatibility(ctx, subjects...)[0]
			if c.Err != nil {
				return fmt.Errorf("compatibility: %w", c.Err)
			}
			m := cl.Mode(ctx, subjects...)[0]
			if m.Err != nil {
				return fmt.Errorf("mode: %w", m.Err)
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), map[string]string{"compatibilityLevel": c.Level.String(), "mode": m.Mode.String()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "compatibility: %s\nmode:          %s\n", c.Level, m.Mode)
			return nil
		},
	}
	cmd.Flags().StringVar(&level, "set", "", "set the compatibility level")
	cmd.Flags().StringVar(&mode, "mode", "", "set the mode: READWRITE, READONLY or IMPORT")
	return cmd
}

// schemaDecoder turns records framed as Confluent's serializers frame them
// (magic byte 0, the 4-byte schema ID, then the payload) into JSON, using
// the registry: sluice consume --decode-schema.
type schemaDecoder struct {
	cl *sr.Client
	mu sync.Mutex
	// parsed caches schemas by ID.
	parsed map[int]schema.Parsed
}

func newSchemaDecoder(registry string) (*schemaDecoder, error) {
	cl, err := sr.NewClient(sr.URLs(strings.Split(registry, ",")...), sr.HTTPClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		return nil, err
	}
	return &schemaDecoder{cl: cl, parsed: map[int]schema.Parsed{}}, nil
}

// decode returns b as JSON when it is framed with a schema ID, and b as
// is otherwise (a key or value that was not serialized with a schema).
func (d *schemaDecoder) decode(ctx context.Context, b []byte) ([]byte, error) {
	if len(b) < 5 || b[0] != 0 {
		return b, nil
	}
	id := int(binary.BigEndian.Uint32(b[1:5]))
	p, err := d.schema(ctx, id)
	if err != nil {
		return nil, err
	}
	payload := b[5:]
	switch p.Type() {
	case schema.Avro:
		var v any
		if err := havro.Unmarshal(schema.AvroSchema(p).Raw(), payload, &v); err != nil {
			return nil, fmt.Errorf("decode Avro with schema %d: %w", id, err)
		}
		return json.Marshal(v)
	case schema.JSON:
		return payload, nil
	case schema.Protobuf:
		indexes, n, err := messageIndexes(payload)
		if err != nil {
			return nil, fmt.Errorf("schema %d: %w", id, err)
		}
		md, err := schema.ProtobufSchema(p).Message(indexes)
		if err != nil {
			return nil, fmt.Errorf("schema %d: %w", id, err)
		}
		msg := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(payload[n:], msg); err != nil {
			return nil, fmt.Errorf("decode Protobuf with schema %d: %w", id, err)
		}
		return protojson.Marshal(msg)
	}
	return b, nil
}

// messageIndexes reads Confluent's Protobuf message indexes: a zigzag
// varint count, then that many zigzag varints; a count of 0 is [0], the
// first message.
func messageIndexes(b []byte) ([]int, int, error) {
	count, n := binary.Varint(b)
	if n <= 0 || count < 0 || count > 64 {
		return nil, 0, errors.New("bad Protobuf message indexes")
	}
	if count == 0 {
		return []int{0}, n, nil
	}
	out := make([]int, count)
	for i := range out {
		v, m := binary.Varint(b[n:])
		if m <= 0 || v < 0 {
			return nil, 0, errors.New("bad Protobuf message indexes")
		}
		out[i], n = int(v), n+m
	}
	return out, n, nil
}

// schema returns the parsed schema of an ID, with its references.
func (d *schemaDecoder) schema(ctx context.Context, id int) (schema.Parsed, error) {
	d.mu.Lock()
	p := d.parsed[id]
	d.mu.Unlock()
	if p != nil {
		return p, nil
	}
	s, err := d.cl.SchemaByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("schema %d: %w", id, err)
	}
	refs := map[string]string{}
	if err := d.resolve(ctx, s.References, refs, 0); err != nil {
		return nil, err
	}
	p, err = schema.Parse(schema.Type(s.Type.String()), s.Schema, refs)
	if err != nil {
		return nil, fmt.Errorf("schema %d: %w", id, err)
	}
	d.mu.Lock()
	d.parsed[id] = p
	d.mu.Unlock()
	return p, nil
}

func (d *schemaDecoder) resolve(ctx context.Context, refs []sr.SchemaReference, into map[string]string, depth int) error {
	if depth > 32 {
		return errors.New("schema references nest too deep")
	}
	for _, r := range refs {
		if _, ok := into[r.Name]; ok {
			continue
		}
		ss, err := d.cl.SchemaByVersion(ctx, r.Subject, r.Version)
		if err != nil {
			return fmt.Errorf("reference %s: %w", r.Name, err)
		}
		into[r.Name] = ss.Schema.Schema
		if err := d.resolve(ctx, ss.References, into, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// decodeSchemaFlags are sluice consume's --decode-schema and
// --schema-registry.
type decodeSchemaFlags struct {
	on       bool
	registry string
}

func addDecodeSchemaFlags(f *pflag.FlagSet) *decodeSchemaFlags {
	d := &decodeSchemaFlags{}
	registry := os.Getenv("SLUICE_SCHEMA_REGISTRY")
	if registry == "" {
		registry = "http://" + defaultSchemaRegistryListen
	}
	f.BoolVar(&d.on, "decode-schema", false, "print keys and values written by schema registry serializers (Avro, JSON Schema, Protobuf) as JSON, using the registry")
	f.StringVar(&d.registry, "schema-registry", registry, "schema registry URL for --decode-schema (env SLUICE_SCHEMA_REGISTRY)")
	return d
}

// decoder returns what --decode-schema does to each record, or nil.
func (d *decodeSchemaFlags) decoder() (func(*kgo.Record) error, error) {
	if !d.on {
		return nil, nil
	}
	sd, err := newSchemaDecoder(d.registry)
	if err != nil {
		return nil, err
	}
	return func(r *kgo.Record) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		if r.Key, err = sd.decode(ctx, r.Key); err != nil {
			return fmt.Errorf("key of %s/%d offset %d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		if r.Value, err = sd.decode(ctx, r.Value); err != nil {
			return fmt.Errorf("value of %s/%d offset %d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		return nil
	}, nil
}
