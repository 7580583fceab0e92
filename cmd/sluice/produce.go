package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newProduceCommand(o *clientOptions) *cobra.Command {
	var (
		keySep      string
		headers     []string
		partition   int32
		acks        string
		compression string
		file        string
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce records read from stdin (or a file), one per line",
		Long: `Produce reads lines from stdin, or from --file, and produces each line as one
record value. With --key-separator, the text before the first separator is
the key. It prints how many records were produced and exits non-zero if any
record failed, naming the first failed line.`,
		Example: `  echo hello | sluice produce greetings
  printf 'user-1:login\nuser-2:logout\n' | sluice produce events --key-separator ':'
  sluice produce events --file events.txt --header source=batch --acks all --compression zstd`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			var hdrs []kgo.RecordHeader
			for _, h := range headers {
				k, v, err := parseKV("--header", h)
				if err != nil {
					return err
				}
				hdrs = append(hdrs, kgo.RecordHeader{Key: k, Value: []byte(v)})
			}
			opts, err := producerOpts(acks, compression)
			if err != nil {
				return err
			}
			opts = append(opts, kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(o.timeout))
			if partition >= 0 {
				opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			}
			var in io.Reader = cmd.InOrStdin()
			if file != "" {
				f, err := os.Open(file)
				if err != nil {
					return fmt.Errorf("--file: %w", err)
				}
				defer f.Close()
				in = f
			}
			cl, err := o.client(opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			return produceLines(cmd.Context(), cmd, o, cl, topic, in, keySep, hdrs, partition)
		},
	}
	f := cmd.Flags()
	f.StringVar(&keySep, "key-separator", "", "split each line at the first occurrence into key and value")
	f.StringArrayVarP(&headers, "header", "H", nil, "header to add to every record, name=value (repeatable)")
	f.Int32VarP(&partition, "partition", "p", -1, "produce to this partition (default: by key hash, or sticky when no key)")
	f.StringVar(&acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0")
	f.StringVar(&compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.StringVarP(&file, "file", "f", "", "read lines from this file instead of stdin")
	return cmd
}

func produceLines(ctx context.Context, cmd *cobra.Command, o *clientOptions, cl *kgo.Client, topic string, in io.Reader, keySep string, hdrs []kgo.RecordHeader, partition int32) error {
	var (
		mu       sync.Mutex
		ok       int
		failed   int
		firstErr error
		wg       sync.WaitGroup
	)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		r := &kgo.Record{Topic: topic, Headers: hdrs, Partition: partition}
		if keySep != "" {
			if k, v, found := strings.Cut(text, keySep); found {
				r.Key, text = []byte(k), v
			}
		}
		r.Value = []byte(text)
		n := line
		wg.Add(1)
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = fmt.Errorf("line %d: %w", n, err)
				}
				return
			}
			ok++
		})
	}
	readErr := sc.Err()
	wg.Wait()
	if o.json() {
		printJSON(cmd.OutOrStdout(), map[string]any{"topic": topic, "produced": ok, "failed": failed})
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "produced %d records to %s\n", ok, topic)
	}
	if readErr != nil {
		return fmt.Errorf("read input after line %d: %w", line, readErr)
	}
	if failed > 0 {
		return o.fail(fmt.Sprintf("produce: %d of %d records failed; first", failed, line), firstErr)
	}
	return nil
}
