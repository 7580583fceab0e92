package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// newLogger is the broker's logger: slog's text handler (key=value) or its
// JSON handler (one object per line, with time, level and msg keys). In
// JSON a duration is written as the text handler writes it ("1.5s"), not
// as slog's integer nanoseconds, which a reader would have to know to
// divide.
func newLogger(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want text or json", format)}
}

// defaultHTTPListen is the HTTP admin listener's address unless told
// otherwise (DESIGN: 127.0.0.1:9644, Redpanda's admin port).
const defaultHTTPListen = "127.0.0.1:9644"

// applyHTTPFlags puts --http-listen and --http-pprof into the broker
// settings: a flag given wins over the config file and -c; the default
// address applies only when neither set sluice.http.listen. It reports
// whether the default is in use, whose failure to bind (another broker on
// this machine holds it) is then a warning, not an error.
func applyHTTPFlags(cmd *cobra.Command, values map[string]string, listen string, pprof bool) bool {
	if cmd.Flags().Changed("http-pprof") {
		values["sluice.http.pprof.enable"] = fmt.Sprint(pprof)
	}
	if cmd.Flags().Changed("http-listen") {
		values["sluice.http.listen"] = listen
		return false
	}
	if _, ok := values["sluice.http.listen"]; ok {
		return false
	}
	values["sluice.http.listen"] = listen
	return true
}
