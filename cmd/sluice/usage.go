package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
)

// A misused command exits 2 and, when what was typed is close to something
// the command knows, says what was probably meant.

// requireSubcommands makes every command that only groups others (topic,
// group, ...) refuse an unknown subcommand with exit status 2 and a
// suggestion, instead of printing its help and succeeding. Without
// arguments it still prints its help.
func requireSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		requireSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(append(names, sub.Name()), sub.Aliases...)
			}
		}
		if s := closest(args[0], names); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return usageError{fmt.Errorf("%s (see %s --help)", msg, cmd.CommandPath())}
	}
}

// oneOf checks that a flag's value is one of choices, suggesting the
// closest one when it is a likely typo.
func oneOf(flag, value string, choices ...string) error {
	for _, c := range choices {
		if value == c {
			return nil
		}
	}
	return badValue(flag, value, "want "+orList(choices), choices...)
}

// badValue is a usage error for a flag value, with "did you mean" when one
// of the candidates is within a small edit distance of it.
func badValue(flag, value, want string, candidates ...string) error {
	msg := fmt.Sprintf("%s %q: %s", flag, value, want)
	if s := closest(value, candidates); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return usageError{errors.New(msg)}
}

// closest returns the candidate nearest to s if it is a likely typo of it:
// at most two edits away (cobra's SuggestionsMinimumDistance), or s is a
// prefix of it.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := levenshtein(ls, strings.ToLower(c))
		if len(s) >= 3 && strings.HasPrefix(strings.ToLower(c), ls) {
			d = 1
		}
		if d < bestD && d < len(c) {
			best, bestD = c, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func orList(choices []string) string {
	switch len(choices) {
	case 0:
		return ""
	case 1:
		return choices[0]
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}

// unknownFlagHint suggests a flag for pflag's "unknown flag: --x" and
// "unknown shorthand flag" errors.
func unknownFlagHint(cmd *cobra.Command, err error) string {
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return ""
	}
	var names []string
	add := func(f *pflag.Flag) { names = append(names, f.Name) }
	cmd.Flags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	if s := closest(name, names); s != "" {
		return fmt.Sprintf("; did you mean --%s?", s)
	}
	return ""
}

// isCobraUsage tells cobra's own misuse errors, which it does not type,
// from failures: required flags left out and flag groups broken.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"required flag(s) ", "if any flags in the group ", "none of the others can be; ", "at least one of the flags in the group "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// plural writes a count with its noun, "1 record", "2 records".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// plainError turns a franz-go admin client's shard errors ("request
// ListOffsets has 2 separate shard errors, first: ...") into what went
// wrong, once per distinct cause and broker.
func plainError(err error) error {
	var se *kadm.ShardErrors
	if !errors.As(err, &se) || len(se.Errs) == 0 {
		return err
	}
	seen := map[string]bool{}
	var parts []string
	for _, e := range se.Errs {
		s := e.Err.Error()
		if e.Broker.NodeID >= 0 && e.Broker.Host != "" {
			s = fmt.Sprintf("broker %d (%s:%d): %s", e.Broker.NodeID, e.Broker.Host, e.Broker.Port, s)
		}
		if !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
	}
	return plainErr{msg: strings.Join(parts, "; "), err: err}
}

// errorLine is the one line main prints for err: without the admin
// client's wording for errors that did not pass through plainError
// ("request ListOffsets has 1 separate shard errors, first: ..."), and
// without line breaks.
func errorLine(err error) string {
	msg := regexp.MustCompile(`request \w+ has \d+ separate shard errors?, first: `).ReplaceAllString(err.Error(), "")
	return strings.ReplaceAll(msg, "\n", " ")
}

// plainErr keeps the original error for errors.Is/As under a readable
// message.
type plainErr struct {
	msg string
	err error
}

func (e plainErr) Error() string { return e.msg }
func (e plainErr) Unwrap() error { return e.err }

func timeFromMillis(ms int64) time.Time { return time.UnixMilli(ms) }
