package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"golang.org/x/crypto/bcrypt"
)

// The user subcommands manage SCRAM credentials, which the brokers keep in
// the replicated cluster metadata (KIP-554: AlterUserScramCredentials and
// DescribeUserScramCredentials). The password is salted and hashed here,
// by kadm, with a fresh salt; only the salted password crosses the wire.

func newUserCommand(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create, delete and list SCRAM users",
		Example: `  sluice user create alice --password 's3cret'
  printf '%s\n' "$PASSWORD" | sluice user create etl --mechanism SCRAM-SHA-512
  sluice user list
  sluice user delete alice`,
	}
	cmd.AddCommand(newUserCreate(o), newUserDelete(o), newUserList(o), newUserPlainHash())
	return cmd
}

// newUserPlainHash prints a sasl.plain.users.file line. It talks to no
// broker: PLAIN users live in a file on each broker, not in the cluster.
func newUserPlainHash() *cobra.Command {
	var password string
	var cost int
	cmd := &cobra.Command{
		Use:   "plain-hash USER",
		Short: "Print a sasl.plain.users.file line (user:bcrypt-hash) for a PLAIN user",
		Long: `Print a line for the broker's sasl.plain.users.file: the user name and a bcrypt
hash of the password (never the password). The password comes from --password,
else SLUICE_USER_PASSWORD, else the first line of standard input. No broker is
contacted; append the line to the file on every broker (it is re-read when it
changes).`,
		Example: `  sluice user plain-hash alice --password 's3cret' >> /etc/sluice/plain-users
  printf '%s\n' "$PASSWORD" | sluice user plain-hash etl >> /etc/sluice/plain-users`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			user := args[0]
			if user == "" || strings.ContainsAny(user, ":\n") {
				return usageError{fmt.Errorf("user plain-hash: user name %q: must be non-empty, without ':' or newlines", user)}
			}
			if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
				return usageError{fmt.Errorf("user plain-hash: --cost %d: want %d to %d", cost, bcrypt.MinCost, bcrypt.MaxCost)}
			}
			pass, err := userPassword(password, cmd.InOrStdin())
			if err != nil {
				return usageError{fmt.Errorf("user plain-hash %s: %w", user, err)}
			}
			hash, err := bcrypt.GenerateFromPassword([]byte(pass), cost)
			if err != nil {
				return fmt.Errorf("user plain-hash %s: %w", user, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s:%s\n", user, hash)
			return nil
		},
	}
	cmd.Flags().StringVar(&password, "password", "", "the password (default: env SLUICE_USER_PASSWORD, else the first line of stdin)")
	cmd.Flags().IntVar(&cost, "cost", bcrypt.DefaultCost, "bcrypt cost: each PLAIN login costs the broker 2^cost rounds")
	return cmd
}

// scramMechanisms parses --mechanism values.
func scramMechanisms(names []string) ([]kadm.ScramMechanism, error) {
	var ms []kadm.ScramMechanism
	seen := map[kadm.ScramMechanism]bool{}
	for _, n := range names {
		var m kadm.ScramMechanism
		switch strings.ToUpper(strings.TrimSpace(n)) {
		case "SCRAM-SHA-256":
			m = kadm.ScramSha256
		case "SCRAM-SHA-512":
			m = kadm.ScramSha512
		default:
			return nil, fmt.Errorf("--mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", n)
		}
		if !seen[m] {
			seen[m] = true
			ms = append(ms, m)
		}
	}
	return ms, nil
}

// userPassword takes the password from --password, else from
// SLUICE_USER_PASSWORD, else from the first line of standard input (never
// a prompt: a terminal on stdin is refused rather than waited on).
func userPassword(flag string, stdin io.Reader) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := os.Getenv("SLUICE_USER_PASSWORD"); p != "" {
		return p, nil
	}
	if f, ok := stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return "", errors.New("no password: give --password, set SLUICE_USER_PASSWORD or pipe it on standard input")
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password: give --password, set SLUICE_USER_PASSWORD or pipe it on standard input")
	}
	return line, nil
}

func newUserCreate(o *clientOptions) *cobra.Command {
	var (
		password   string
		mechs      []string
		iterations int32
	)
	cmd := &cobra.Command{
		Use:   "create USER",
		Short: "Create a SCRAM user, or set a new password for one",
		Long: `Create a SCRAM user, or replace its password. The password comes from
--password, else from the environment variable SLUICE_USER_PASSWORD, else from
the first line of standard input.`,
		Example: `  sluice user create alice --password 's3cret'
  SLUICE_USER_PASSWORD='s3cret' sluice user create alice --mechanism SCRAM-SHA-512 --iterations 16384
  printf '%s\n' "$PASSWORD" | sluice user create alice`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			user := args[0]
			ms, err := scramMechanisms(mechs)
			if err != nil {
				return usageError{fmt.Errorf("user create: %w", err)}
			}
			if iterations < 4096 || iterations > 16384 {
				return usageError{fmt.Errorf("user create: --iterations %d: want 4096 to 16384", iterations)}
			}
			pass, err := userPassword(password, cmd.InOrStdin())
			if err != nil {
				return usageError{fmt.Errorf("user create %s: %w", user, err)}
			}
			var upserts []kadm.UpsertSCRAM
			var names []string
			for _, m := range ms {
				upserts = append(upserts, kadm.UpsertSCRAM{User: user, Mechanism: m, Iterations: iterations, Password: pass})
				names = append(names, m.String())
			}
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			// One request per mechanism: some brokers (kfake) refuse a
			// user named twice in one request as DUPLICATE_RESOURCE.
			for _, u := range upserts {
				res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{u})
				if err == nil {
					err = res.Error()
				}
				if err != nil {
					return o.fail("create user "+user, scramErr(res, err))
				}
			}
			if o.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"user": user, "mechanisms": names, "iterations": iterations})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created user %s (%s, %d iterations)\n", user, strings.Join(names, ", "), iterations)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&password, "password", "", "the password (default: env SLUICE_USER_PASSWORD, else the first line of stdin)")
	f.StringSliceVar(&mechs, "mechanism", []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}, "SCRAM mechanisms to store the password for")
	f.Int32Var(&iterations, "iterations", 8192, "PBKDF2 iterations (4096 to 16384)")
	return cmd
}

// scramErr joins a per-user error with the broker's message.
func scramErr(res kadm.AlteredUserSCRAMs, err error) error {
	for _, r := range res {
		if r.Err != nil {
			return respErr(r.Err, r.ErrMessage)
		}
	}
	return err
}

func newUserDelete(o *clientOptions) *cobra.Command {
	var mechs []string
	cmd := &cobra.Command{
		Use:   "delete USER",
		Short: "Delete a SCRAM user's credentials (all mechanisms unless --mechanism)",
		Example: `  sluice user delete alice
  sluice user delete alice --mechanism SCRAM-SHA-256`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			user := args[0]
			ms, err := scramMechanisms(mechs)
			if err != nil {
				return usageError{fmt.Errorf("user delete: %w", err)}
			}
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			if len(ms) == 0 {
				// Every mechanism the user has: deleting one it lacks is
				// an error (RESOURCE_NOT_FOUND) in Kafka.
				d, err := adm.DescribeUserSCRAMs(ctx, user)
				if err == nil {
					err = d.Error()
				}
				if err != nil {
					return o.fail("delete user "+user, describeErr(d, err))
				}
				for _, c := range d[user].CredInfos {
					ms = append(ms, c.Mechanism)
				}
				if len(ms) == 0 {
					return fmt.Errorf("delete user %s: the user has no SCRAM credentials", user)
				}
			}
			var dels []kadm.DeleteSCRAM
			var names []string
			for _, m := range ms {
				dels = append(dels, kadm.DeleteSCRAM{User: user, Mechanism: m})
				names = append(names, m.String())
			}
			for _, d := range dels {
				res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{d}, nil)
				if err == nil {
					err = res.Error()
				}
				if err != nil {
					return o.fail("delete user "+user, scramErr(res, err))
				}
			}
			if o.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"user": user, "mechanisms": names, "deleted": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted user %s (%s)\n", user, strings.Join(names, ", "))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&mechs, "mechanism", nil, "delete only these mechanisms' credentials: SCRAM-SHA-256, SCRAM-SHA-512")
	return cmd
}

// describeErr joins a per-user describe error with the broker's message.
func describeErr(d kadm.DescribedUserSCRAMs, err error) error {
	for _, r := range d {
		if r.Err != nil {
			return fmt.Errorf("user %s: %w", r.User, respErr(r.Err, r.ErrMessage))
		}
	}
	return err
}

func newUserList(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list [USER...]",
		Short: "List SCRAM users with their mechanisms and iterations (never their passwords)",
		Example: `  sluice user list
  sluice user list alice --output json`,
		Args: usage(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			d, err := adm.DescribeUserSCRAMs(ctx, args...)
			if err == nil {
				err = d.Error()
			}
			if err != nil {
				return o.fail("list users", describeErr(d, err))
			}
			type cred struct {
				Mechanism  string `json:"mechanism"`
				Iterations int32  `json:"iterations"`
			}
			type row struct {
				User        string `json:"user"`
				Credentials []cred `json:"credentials"`
			}
			rows := []row{}
			var table [][]string
			for _, u := range d.Sorted() {
				r := row{User: u.User, Credentials: []cred{}}
				for _, c := range u.CredInfos {
					r.Credentials = append(r.Credentials, cred{c.Mechanism.String(), c.Iterations})
					table = append(table, []string{u.User, c.Mechanism.String(), fmt.Sprint(c.Iterations)})
				}
				rows = append(rows, r)
			}
			if o.json() {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			return printTable(cmd.OutOrStdout(), []string{"USER", "MECHANISM", "ITERATIONS"}, table)
		},
	}
}
