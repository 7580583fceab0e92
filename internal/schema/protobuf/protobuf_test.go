package protobuf

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func mustParse(t testing.TB, text string, refs map[string]string) *Schema {
	t.Helper()
	s, err := Parse(text, refs)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	return s
}

const shop = `syntax = "proto3";
package shop;

// An order.
message Order {
  message Line {
    message Note { string text = 1; }
    string sku = 1;
  }
  map<string, Line> lines = 1;
  enum State { NEW = 0; }
  message Audit {}
}

message Customer {
  string name = 1;
}
`

func TestMessageIndexes(t *testing.T) {
	s := mustParse(t, shop, nil)
	cases := map[string][]int{
		"shop.Order":           {0},
		"shop.Order.Line":      {0, 0},
		"shop.Order.Line.Note": {0, 0, 0},
		"shop.Order.Audit":     {0, 1}, // the map entry message of "lines" is not counted
		"shop.Customer":        {1},
		"Customer":             {1},
	}
	for name, want := range cases {
		got, err := s.MessageIndexes(name)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("MessageIndexes(%s) = %v, %v; want %v", name, got, err, want)
		}
		full := name
		if !strings.HasPrefix(full, "shop.") {
			full = "shop." + full
		}
		if back, err := s.MessageName(want); err != nil || back != full {
			t.Errorf("MessageName(%v) = %q, %v; want %s", want, back, err, full)
		}
	}
	if _, err := s.MessageIndexes("shop.Nope"); err == nil {
		t.Error("an unknown message has indexes")
	}
	for _, bad := range [][]int{{2}, {0, 5}, {-1}} {
		if _, err := s.MessageName(bad); err == nil {
			t.Errorf("MessageName(%v) accepted", bad)
		}
	}
	if m, err := s.Message(nil); err != nil || m.FullName() != "shop.Order" || s.FirstMessage() != "shop.Order" {
		t.Errorf("first message = %v, %v, %s", m, err, s.FirstMessage())
	}
}

func TestIndexesOnTheWire(t *testing.T) {
	for _, idx := range [][]int{{0}, {1}, {0, 0}, {3, 1, 2}, {200}} {
		b := AppendIndexes([]byte{0xAA}, idx)
		got, n, err := ReadIndexes(append(b[1:], 0x55))
		if err != nil || n != len(b)-1 || !slices.Equal(got, idx) {
			t.Errorf("%v: encoded %x, read %v, %d, %v", idx, b[1:], got, n, err)
		}
	}
	if b := AppendIndexes(nil, []int{0}); !bytes.Equal(b, []byte{0}) {
		t.Errorf("[0] is written as %x, want 00", b)
	}
	if b := AppendIndexes(nil, []int{1, 2}); !bytes.Equal(b, []byte{4, 2, 4}) {
		t.Errorf("[1 2] is written as %x, want zigzag 04 02 04", b)
	}
	for _, bad := range [][]byte{{}, {0x80}, {4, 2}, {2, 1}, {0x7f}} {
		if _, _, err := ReadIndexes(bad); err == nil {
			t.Errorf("ReadIndexes(%x) accepted", bad)
		}
	}
}

// Confluent's serializers send the schema as a base64 FileDescriptorProto; it is read like
// source, stored as source, and given back in the serialized format on request.
func TestBase64Descriptors(t *testing.T) {
	fdp := protodesc.ToFileDescriptorProto(timestamppb.File_google_protobuf_timestamp_proto)
	b, _ := proto.Marshal(fdp)
	s := mustParse(t, base64.StdEncoding.EncodeToString(b), nil)
	if !strings.Contains(s.String(), "message Timestamp {") || !strings.Contains(s.String(), "int64 seconds = 1;") {
		t.Errorf("String() = %s", s.String())
	}
	again := mustParse(t, s.Serialized(), nil)
	if again.Canonical() != s.Canonical() {
		t.Errorf("the serialized form reads back differently:\n%s\n%s", again.Canonical(), s.Canonical())
	}
	raw, err := base64.StdEncoding.DecodeString(s.Serialized())
	if err != nil {
		t.Fatal(err)
	}
	var d descriptorpb.FileDescriptorProto
	if err := proto.Unmarshal(raw, &d); err != nil || d.GetName() != "google/protobuf/timestamp.proto" || d.GetPackage() != "google.protobuf" {
		t.Errorf("serialized descriptor: %v %s %s", err, d.GetName(), d.GetPackage())
	}

	// A reference may be a descriptor too.
	other := mustParse(t, "syntax = \"proto3\";\npackage other;\nmessage Money { int64 units = 1; }\n", nil)
	order := mustParse(t, "syntax = \"proto3\";\nimport \"other.proto\";\nmessage Order { other.Money total = 1; }\n",
		map[string]string{"other.proto": other.Serialized()})
	if !strings.Contains(order.String(), `import "other.proto";`) {
		t.Errorf("String() = %s", order.String())
	}
}

func TestTextForms(t *testing.T) {
	s := mustParse(t, "syntax = \"proto3\";\npackage p;\n// doc\nmessage M { N n = 1; message N { int32 x = 1; } }\n", nil)
	if !strings.Contains(s.String(), "// doc") {
		t.Errorf("String() lost the comment: %s", s.String())
	}
	if strings.Contains(s.Canonical(), "// doc") || !strings.Contains(s.Canonical(), "  N n = 1;") {
		t.Errorf("Canonical() = %s", s.Canonical())
	}
	if !strings.Contains(s.Normalized(), ".p.M.N n = 1;") {
		t.Errorf("Normalized() = %s", s.Normalized())
	}
	if _, err := Parse("syntax = \"proto3\"; message M {}", map[string]string{mainFile: ""}); err == nil {
		t.Error("the reserved reference name was accepted")
	}
}

func TestDifferencesIncludeCompatibleOnes(t *testing.T) {
	old := mustParse(t, "syntax = \"proto3\";\nmessage M { string a = 1; }\n", nil)
	nw := mustParse(t, "syntax = \"proto3\";\nmessage M { string b = 1; int32 c = 2; }\n", nil)
	var kinds []string
	for _, d := range Differences(nw, old) {
		kinds = append(kinds, d.Kind+" "+d.Path)
	}
	if got := strings.Join(kinds, ", "); got != "FIELD_NAME_CHANGED #/M/1, FIELD_ADDED #/M/2" {
		t.Errorf("Differences = %s", got)
	}
	if len(Check(nw, old)) != 0 {
		t.Error("compatible changes reported as incompatible")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(shop)
	f.Add("syntax = \"proto2\";\nmessage M { required int32 a = 1; optional group G = 2 { optional int32 b = 3; } extensions 100 to 200; }\n")
	f.Add("syntax = \"proto3\";\nimport \"google/protobuf/any.proto\";\nmessage M { google.protobuf.Any a = 1; oneof o { string s = 2; int64 i = 3; } optional bool b = 4; reserved 5, 8 to 10; reserved \"x\"; }\n")
	f.Add("edition = \"2023\";\nmessage M { int32 a = 1 [features.field_presence = IMPLICIT]; }\n")
	f.Add("CgR4LnByb3RvEgF4")
	f.Fuzz(func(t *testing.T, text string) {
		type parsed struct {
			s   *Schema
			err error
		}
		done := make(chan parsed, 1)
		go func() {
			s, err := Parse(text, nil)
			done <- parsed{s, err}
		}()
		var s *Schema
		select {
		case p := <-done:
			if p.err != nil {
				return
			}
			s = p.s
		case <-time.After(10 * time.Second):
			t.Fatalf("Parse did not return within 10s on %q", text)
		}
		again, err := Parse(s.String(), nil)
		if err != nil {
			t.Fatalf("the stored form does not parse: %v\n%s", err, s.String())
		}
		if again.Canonical() != s.Canonical() {
			t.Fatalf("the stored form changes the canonical form:\n%s\n%s", s.Canonical(), again.Canonical())
		}
		norm, err := Parse(s.Normalized(), nil)
		if err != nil || norm.Normalized() != s.Normalized() {
			t.Fatalf("the normalized form %s does not normalize to itself: %v", s.Normalized(), err)
		}
		if ds := Check(s, s); len(ds) != 0 {
			t.Fatalf("the schema does not read itself: %+v", ds)
		}
	})
}

func FuzzReadIndexes(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{4, 2, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, n, err := ReadIndexes(b)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("ReadIndexes(%x) read %d bytes", b, n)
		}
		again, m, err := ReadIndexes(AppendIndexes(nil, idx))
		if err != nil || !slices.Equal(again, idx) || m != len(AppendIndexes(nil, idx)) {
			t.Fatalf("ReadIndexes(%x) = %v, which does not write and read back: %v, %v", b, idx, again, err)
		}
	})
}
