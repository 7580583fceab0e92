package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// How record bytes (keys, values, header values) are written as text:
// --encoding on consume and produce. "auto" writes valid UTF-8 as it is and
// anything else as base64; the JSON always names the encoding it used, so
// nothing is lost and a reader never has to guess.
const (
	encAuto   = "auto"
	encUTF8   = "utf8"
	encBase64 = "base64"
	encHex    = "hex"
)

var encodings = []string{encAuto, encUTF8, encBase64, encHex}

// parseEncoding checks an --encoding value.
func parseEncoding(s string) (string, error) {
	if err := oneOf("--encoding", s, encodings...); err != nil {
		return "", err
	}
	return s, nil
}

// encodeBytes writes b in enc and returns the text and the encoding used
// (never auto). A nil b, Kafka's null, is a nil string. An explicit utf8
// refuses bytes that are not UTF-8 rather than mangle them.
func encodeBytes(enc string, b []byte) (*string, string, error) {
	used := enc
	if enc == encAuto {
		used = encUTF8
		if b != nil && !utf8.Valid(b) {
			used = encBase64
		}
	}
	if b == nil {
		return nil, used, nil
	}
	var s string
	switch used {
	case encUTF8:
		if !utf8.Valid(b) {
			return nil, "", fmt.Errorf("not valid UTF-8; use --encoding base64, hex or auto")
		}
		s = string(b)
	case encBase64:
		s = base64.StdEncoding.EncodeToString(b)
	case encHex:
		s = hex.EncodeToString(b)
	}
	return &s, used, nil
}

// decodeBytes reads text written in enc (auto reads as utf8); nil stays
// nil (null).
func decodeBytes(enc string, s *string) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	switch enc {
	case encBase64:
		return base64.StdEncoding.DecodeString(*s)
	case encHex:
		return hex.DecodeString(*s)
	case "", encAuto, encUTF8:
		return []byte(*s), nil
	}
	return nil, fmt.Errorf("unknown encoding %q: want utf8, base64 or hex", enc)
}

// jsonRecord is one record as --output json prints it and --input json
// reads it. Null keys, values and header values are JSON null.
type jsonRecord struct {
	Topic         string       `json:"topic"`
	Partition     int32        `json:"partition"`
	Offset        int64        `json:"offset"`
	Timestamp     int64        `json:"timestamp"`
	Key           *string      `json:"key"`
	KeyEncoding   string       `json:"key_encoding"`
	Value         *string      `json:"value"`
	ValueEncoding string       `json:"value_encoding"`
	Headers       []jsonHeader `json:"headers"`
}

type jsonHeader struct {
	Key      string  `json:"key"`
	Value    *string `json:"value"`
	Encoding string  `json:"encoding"`
}

// recordJSON renders a record for --output json in enc.
func recordJSON(r *kgo.Record, enc string) (jsonRecord, error) {
	j := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Headers: []jsonHeader{}}
	var err error
	if j.Key, j.KeyEncoding, err = encodeBytes(enc, r.Key); err != nil {
		return j, fmt.Errorf("key of %s/%d offset %d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if j.Value, j.ValueEncoding, err = encodeBytes(enc, r.Value); err != nil {
		return j, fmt.Errorf("value of %s/%d offset %d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		if jh.Value, jh.Encoding, err = encodeBytes(enc, h.Value); err != nil {
			return j, fmt.Errorf("header %s of %s/%d offset %d: %w", h.Key, r.Topic, r.Partition, r.Offset, err)
		}
		j.Headers = append(j.Headers, jh)
	}
	return j, nil
}

// inputRecord is one line of `produce --input json`: the fields of
// jsonRecord that make a record. topic, partition and offset are accepted
// (so consume's output can be fed back) and ignored: the topic is the
// command's and the partition comes from --partition or the key.
type inputRecord struct {
	Topic         string       `json:"topic"`
	Partition     *int32       `json:"partition"`
	Offset        *int64       `json:"offset"`
	Timestamp     *int64       `json:"timestamp"`
	Key           *string      `json:"key"`
	KeyEncoding   string       `json:"key_encoding"`
	Value         *string      `json:"value"`
	ValueEncoding string       `json:"value_encoding"`
	Headers       inputHeaders `json:"headers"`
}

// inputHeaders accepts headers as a list of {"key","value","encoding"}
// (what consume prints; keys may repeat) or as an object of strings.
type inputHeaders []jsonHeader

func (h *inputHeaders) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var m map[string]*string
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		for k, v := range m {
			*h = append(*h, jsonHeader{Key: k, Value: v})
		}
		return nil
	}
	var l []jsonHeader
	if err := strictJSON(b, &l); err != nil {
		return err
	}
	*h = l
	return nil
}

// strictJSON decodes b into v, refusing unknown fields and trailing data.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("more than one JSON value on the line")
	}
	return nil
}

// parseInputRecord turns one JSON line into a record; enc is the
// --encoding used where the line names none.
func parseInputRecord(line []byte, enc string) (*kgo.Record, error) {
	var in inputRecord
	if err := strictJSON(line, &in); err != nil {
		return nil, fmt.Errorf("want a JSON object like {\"key\":\"k\",\"value\":\"v\",\"headers\":{\"h\":\"x\"}}: %w", err)
	}
	or := func(field string) string {
		if field != "" {
			return field
		}
		return enc
	}
	r := &kgo.Record{}
	var err error
	if r.Key, err = decodeBytes(or(in.KeyEncoding), in.Key); err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if r.Value, err = decodeBytes(or(in.ValueEncoding), in.Value); err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	for _, h := range in.Headers {
		v, err := decodeBytes(or(h.Encoding), h.Value)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", h.Key, err)
		}
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: v})
	}
	if in.Timestamp != nil && *in.Timestamp >= 0 {
		r.Timestamp = timeFromMillis(*in.Timestamp)
	}
	return r, nil
}
