package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceInput is how produce reads its records.
type produceInput struct {
	json      bool   // --input json: one JSON object a line
	keySep    string // text: key and value split at this
	nullEmpty bool   // text: an empty value is null (a tombstone)
	encoding  string // how keys and values are written in the input
	headers   []kgo.RecordHeader
	partition int32
}

func newProduceCommand(o *clientOptions) *cobra.Command {
	var (
		keySep      string
		headers     []string
		partition   int32
		acks        string
		compression string
		file        string
		input       string
		encoding    string
		nullEmpty   bool
		create      bool
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce records read from stdin (or a file), one per line",
		Long: `Produce reads lines from stdin, or from --file, and produces each line as one
record value. With --key-separator, the text before the first separator is
the key; with --null-empty (-Z) an empty value is sent as null, a tombstone
for a compacted topic. It prints how many records were produced and exits
non-zero if any record failed, naming the first failed line.

--input json reads one JSON object a line instead, as consume --output json
prints them: {"key": "k", "value": "v", "headers": {"h": "x"}}, with null for
a null key or value; headers may also be a list of {"key", "value",
"encoding"}, and key_encoding and value_encoding (utf8, base64 or hex) say
how a field is written. --encoding is the encoding of fields that name none
(and, for text input, of keys and values); auto and utf8 read text as is.

A topic that does not exist is created by the broker when it allows it
(auto.create.topics.enable, on by default); --create creates it in any case,
with the broker's default partitions and replication factor.`,
		Example: `  echo hello | sluice produce greetings
  printf 'user-1:login\nuser-2:logout\n' | sluice produce events --key-separator ':'
  printf 'user-1:\n' | sluice produce users --key-separator ':' --null-empty   # a tombstone for user-1
  echo '{"key":"user-1","value":null}' | sluice produce users --input json
  sluice consume events --output json -e | sluice produce events-copy --input json
  sluice produce events --file events.txt --header source=batch --acks all --compression zstd`,
		Args: usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			in := produceInput{keySep: keySep, nullEmpty: nullEmpty, partition: partition}
			if err := oneOf("--input", input, "text", "json"); err != nil {
				return err
			}
			in.json = input == "json"
			var err error
			if in.encoding, err = parseEncoding(encoding); err != nil {
				return err
			}
			if in.json && (keySep != "" || nullEmpty) {
				return usageError{errors.New("--key-separator and --null-empty are for text input; JSON input has its own key and null values")}
			}
			for _, h := range headers {
				k, v, err := parseKV("--header", h)
				if err != nil {
					return usageError{err}
				}
				in.headers = append(in.headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
			}
			opts, err := producerOpts(acks, compression)
			if err != nil {
				return err
			}
			// The broker creates a missing topic if it is allowed to, as
			// for any Kafka producer that asks. Delivery is bounded per
			// record in produceLines, not with kgo.RecordDeliveryTimeout:
			// kgo measures that from the record's timestamp, and JSON
			// input carries the original timestamps of copied records.
			opts = append(opts, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
			if partition >= 0 {
				opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			}
			var r io.Reader = cmd.InOrStdin()
			if file != "" {
				f, err := os.Open(file)
				if err != nil {
					return fmt.Errorf("--file: %w", err)
				}
				defer f.Close()
				r = f
			}
			cl, err := o.client(opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			if create {
				if err := createIfMissing(cmd.Context(), o, cl, topic); err != nil {
					return err
				}
			}
			return produceLines(cmd.Context(), cmd, o, cl, topic, r, in)
		},
	}
	f := cmd.Flags()
	f.StringVar(&keySep, "key-separator", "", "split each line at the first occurrence into key and value")
	f.StringArrayVarP(&headers, "header", "H", nil, "header to add to every record, name=value (repeatable)")
	f.Int32VarP(&partition, "partition", "p", -1, "produce to this partition (default: by key hash, or sticky when no key)")
	f.StringVar(&acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0")
	f.StringVar(&compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.StringVarP(&file, "file", "f", "", "read lines from this file instead of stdin")
	f.StringVar(&input, "input", "text", "input format: text (a record a line) or json (a JSON object a line)")
	f.StringVar(&encoding, "encoding", encAuto, "encoding of keys and values in the input: auto or utf8 (text as is), base64 or hex")
	f.BoolVarP(&nullEmpty, "null-empty", "Z", false, "send an empty value as null (a tombstone)")
	f.BoolVar(&create, "create", false, "create the topic first if it does not exist (the broker's default partitions and replication factor)")
	return cmd
}

// createIfMissing creates topic with the broker's defaults unless it exists.
func createIfMissing(ctx context.Context, o *clientOptions, cl *kgo.Client, topic string) error {
	adm, actx, done, err := o.admin(ctx)
	if err != nil {
		return err
	}
	defer done()
	_, err = createTopic(actx, adm, -1, -1, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return o.fail("create topic "+topic, err)
	}
	return nil
}

// readRecord turns one input line into a record.
func (in produceInput) readRecord(topic string, line []byte) (*kgo.Record, error) {
	var r *kgo.Record
	if in.json {
		var err error
		if r, err = parseInputRecord(line, in.encoding); err != nil {
			return nil, err
		}
		r.Headers = append(append([]kgo.RecordHeader(nil), in.headers...), r.Headers...)
	} else {
		text := string(line)
		var key *string
		if in.keySep != "" {
			if k, v, found := strings.Cut(text, in.keySep); found {
				key, text = &k, v
			}
		}
		value := &text
		if in.nullEmpty && text == "" {
			value = nil
		}
		k, err := decodeBytes(in.encoding, key)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		v, err := decodeBytes(in.encoding, value)
		if err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		if v == nil && value != nil {
			v = []byte{}
		}
		r = &kgo.Record{Key: k, Value: v, Headers: in.headers}
	}
	r.Topic, r.Partition = topic, in.partition
	return r, nil
}

func produceLines(ctx context.Context, cmd *cobra.Command, o *clientOptions, cl *kgo.Client, topic string, rd io.Reader, in produceInput) error {
	var (
		mu       sync.Mutex
		ok       int
		failed   int
		firstErr error
		wg       sync.WaitGroup
	)
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	line := 0
	var inputErr error
	for sc.Scan() {
		line++
		if in.json && len(strings.TrimSpace(sc.Text())) == 0 {
			continue // blank lines between JSON objects
		}
		r, err := in.readRecord(topic, sc.Bytes())
		if err != nil {
			inputErr = fmt.Errorf("line %d: %w; it and the lines after it were not produced", line, err)
			break
		}
		n := line
		wg.Add(1)
		// Each record has --timeout from when it was read, so a long
		// stream on stdin is not cut off, and a record that cannot be
		// delivered fails instead of waiting forever.
		rctx, cancel := context.WithTimeout(ctx, o.timeout)
		cl.Produce(rctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			cancel()
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
	if inputErr == nil && sc.Err() != nil {
		inputErr = fmt.Errorf("read input after line %d: %w", line, sc.Err())
	}
	wg.Wait()
	if o.json() {
		printJSON(cmd.OutOrStdout(), map[string]any{"topic": topic, "produced": ok, "failed": failed})
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "produced %s to %s\n", plural(ok, "record"), topic)
	}
	if inputErr != nil {
		return inputErr
	}
	if failed > 0 {
		if errors.Is(firstErr, kerr.UnknownTopicOrPartition) {
			firstErr = fmt.Errorf("%w (topic %s does not exist and the broker does not create topics on use: create it with sluice topic create, or add --create)", firstErr, topic)
		}
		return o.fail(fmt.Sprintf("produce: %d of %s failed; first", failed, plural(failed+ok, "record")), firstErr)
	}
	return nil
}
