package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func header(key, version int16, corr int32, clientID *string, tags []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if clientID == nil {
		b = binary.BigEndian.AppendUint16(b, 0xffff)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(*clientID)))
		b = append(b, *clientID...)
	}
	return append(b, tags...)
}

func TestParseRequestHeader(t *testing.T) {
	id := "client-1"
	body := []byte{1, 2, 3}
	tests := []struct {
		name     string
		frame    []byte
		flexible bool
		wantID   *string
		wantBody []byte
		wantErr  bool
	}{
		{"v1 with client id", append(header(3, 1, 7, &id, nil), body...), false, &id, body, false},
		{"v1 null client id", append(header(3, 1, 7, nil, nil), body...), false, nil, body, false},
		{"v2 no tags", append(header(3, 9, 7, &id, []byte{0}), body...), true, &id, body, false},
		{"v2 one tag", append(header(3, 9, 7, &id, []byte{1, 5, 2, 0xaa, 0xbb}), body...), true, &id, body, false},
		{"client id longer than frame", header(3, 1, 7, nil, nil)[:8:8], false, nil, nil, true},
		{"tag size past end", header(3, 9, 7, nil, []byte{1, 5, 100}), true, nil, nil, true},
		{"tag count past end", header(3, 9, 7, nil, []byte{50}), true, nil, nil, true},
		{"truncated tag count", header(3, 9, 7, nil, nil), true, nil, nil, true},
	}
	// A client ID whose length runs past the frame.
	bad := header(3, 1, 7, &id, nil)
	tests = append(tests, struct {
		name     string
		frame    []byte
		flexible bool
		wantID   *string
		wantBody []byte
		wantErr  bool
	}{"client id length past end", bad[:len(bad)-2], false, nil, nil, true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rest, err := ParseRequestHeader(tt.frame, tt.flexible)
			if tt.wantErr {
				if !errors.Is(err, ErrBadHeader) {
					t.Fatalf("err = %v, want ErrBadHeader", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.APIKey != 3 || h.CorrelationID != 7 {
				t.Fatalf("header = %+v", h)
			}
			if (h.ClientID == nil) != (tt.wantID == nil) || h.ClientID != nil && *h.ClientID != *tt.wantID {
				t.Fatalf("client id = %v, want %v", h.ClientID, tt.wantID)
			}
			if !bytes.Equal(rest, tt.wantBody) {
				t.Fatalf("body = %v, want %v", rest, tt.wantBody)
			}
		})
	}
}

func TestReadFrameSizeRefusesBeforeAllocating(t *testing.T) {
	tests := []struct {
		size    uint32
		wantErr error
	}{
		{0x7fffffff, ErrFrameTooLarge},
		{0xffffffff, ErrFrameTooLarge},
		{101, ErrFrameTooLarge},
		{3, ErrFrameTooSmall},
		{100, nil},
	}
	for _, tt := range tests {
		b := binary.BigEndian.AppendUint32(nil, tt.size)
		_, err := ReadFrameSize(bytes.NewReader(b), 100)
		if !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
			t.Errorf("size %d: err = %v, want %v", tt.size, err, tt.wantErr)
		}
	}
}

// FuzzParseRequestHeader feeds arbitrary frames to the header parser: it
// must never panic, and what it returns must lie inside the frame.
func FuzzParseRequestHeader(f *testing.F) {
	id := "sluice"
	f.Add(header(0, 9, 1, &id, []byte{0}), true)
	f.Add(header(3, 12, 2, nil, []byte{2, 1, 1, 9, 3, 0}), true)
	f.Add(header(18, 3, 3, &id, []byte{0}), true)
	f.Add(header(1, 4, 4, &id, nil), false)
	full := append(header(0, 9, 1, &id, []byte{0}), 1, 2, 3)
	for i := range full {
		f.Add(full[:i], true)
		f.Add(full[:i], false)
	}
	f.Fuzz(func(t *testing.T, frame []byte, flexible bool) {
		h, body, err := ParseRequestHeader(frame, flexible)
		if err != nil {
			return
		}
		if len(body) > len(frame) {
			t.Fatalf("body of %d bytes from a frame of %d", len(body), len(frame))
		}
		if h.ClientID != nil && len(*h.ClientID) > len(frame) {
			t.Fatalf("client id longer than the frame")
		}
	})
}

func TestLooksLikeTLS(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want bool
	}{
		{[]byte{0x16, 0x03, 0x01}, true},  // ClientHello
		{[]byte{0x15, 0x03, 0x03}, true},  // an alert opening a retried connection
		{[]byte{0x00, 0x00, 0x01}, false}, // a Kafka size prefix
		{[]byte{0x16, 0x02, 0x00}, false},
		{[]byte{0x18, 0x03, 0x01}, false},
	} {
		if got := looksLikeTLS(c.b); got != c.want {
			t.Errorf("looksLikeTLS(% x) = %v, want %v", c.b, got, c.want)
		}
	}
}
