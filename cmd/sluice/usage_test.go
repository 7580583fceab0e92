package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestClosest(t *testing.T) {
	for _, c := range []struct {
		typed, want string
		from        []string
	}{
		{"jsn", "json", []string{"table", "json"}},
		{"begining", "beginning", []string{"beginning", "end", "earliest", "latest"}},
		{"earlest", "earliest", []string{"earliest", "latest", "current"}},
		{"late", "latest", []string{"earliest", "latest", "current"}}, // a prefix
		{"yaml", "", []string{"table", "json"}},
		{"bogus", "", []string{"beginning", "end", "earliest", "latest"}},
		{"x", "", []string{"0", "1"}}, // never suggest a wholly different short word
	} {
		if got := closest(c.typed, c.from); got != c.want {
			t.Errorf("closest(%q, %v) = %q, want %q", c.typed, c.from, got, c.want)
		}
	}
}

func TestParseISODuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT1H": time.Hour, "P1D": 24 * time.Hour, "P1DT12H": 36 * time.Hour, "PT0.5S": 500 * time.Millisecond,
		"pt30m": 30 * time.Minute, "P1W": 7 * 24 * time.Hour, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute,
	} {
		if got, err := parseISODuration(in); err != nil || got != want {
			t.Errorf("parseISODuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "1D", "P1H", "PT1D", "P1DT", "PTT1H", "an hour"} {
		if d, err := parseISODuration(bad); err == nil {
			t.Errorf("parseISODuration(%q) = %v, want an error", bad, d)
		}
	}
}

func TestEncodings(t *testing.T) {
	bin := []byte{0, 0xff}
	for _, c := range []struct {
		enc, want, used string
		in              []byte
	}{
		{encAuto, "hi", encUTF8, []byte("hi")},
		{encAuto, "AP8=", encBase64, bin},
		{encHex, "00ff", encHex, bin},
		{encBase64, "aGk=", encBase64, []byte("hi")},
		{encUTF8, "", encUTF8, []byte{}},
	} {
		s, used, err := encodeBytes(c.enc, c.in)
		if err != nil || s == nil || *s != c.want || used != c.used {
			t.Errorf("encodeBytes(%s, %q) = %v %s %v", c.enc, c.in, s, used, err)
			continue
		}
		back, err := decodeBytes(used, s)
		if err != nil || string(back) != string(c.in) {
			t.Errorf("decodeBytes(%s, %q) = %q %v", used, *s, back, err)
		}
	}
	if s, _, err := encodeBytes(encAuto, nil); s != nil || err != nil {
		t.Errorf("null encodes as %v %v, want nil", s, err)
	}
	if _, _, err := encodeBytes(encUTF8, bin); err == nil {
		t.Error("utf8 accepted bytes that are not UTF-8")
	}
	if b, err := decodeBytes(encHex, nil); b != nil || err != nil {
		t.Errorf("null decodes as %q %v", b, err)
	}
}

func TestPlainError(t *testing.T) {
	se := &kadm.ShardErrors{Name: "ListOffsets", Errs: []kadm.ShardError{
		{Broker: kadm.BrokerDetail(kgo.BrokerMetadata{NodeID: 2, Host: "h", Port: 9092}), Err: kerr.LeaderNotAvailable},
		{Broker: kadm.BrokerDetail(kgo.BrokerMetadata{NodeID: 2, Host: "h", Port: 9092}), Err: kerr.LeaderNotAvailable},
		{Broker: kadm.BrokerDetail(kgo.BrokerMetadata{NodeID: 3, Host: "h", Port: 9093}), Err: errors.New("dial refused")},
	}}
	err := plainError(se)
	want := "broker 2 (h:9092): " + kerr.LeaderNotAvailable.Error() + "; broker 3 (h:9093): dial refused"
	if err.Error() != want {
		t.Errorf("plainError = %q, want %q", err, want)
	}
	if !errors.Is(err, kerr.LeaderNotAvailable) {
		t.Error("plainError lost the kerr code for errors.Is")
	}
	wrapped := fmt.Errorf("list offsets: %w", &kadm.ShardErrors{Name: "ListOffsets", Errs: []kadm.ShardError{{Err: kerr.LeaderNotAvailable}}})
	if got, want := errorLine(wrapped), "list offsets: "+kerr.LeaderNotAvailable.Error(); got != want {
		t.Errorf("errorLine = %q, want %q", got, want)
	}
	if plain := errors.New("x"); plainError(plain) != plain {
		t.Error("plainError changed an error that was not shard errors")
	}
	if got := plural(1, "record") + " " + plural(0, "record") + " " + plural(2, "partition"); got != "1 record 0 records 2 partitions" {
		t.Errorf("plural: %s", got)
	}
}
