package schema

import (
	"fmt"
	"strings"
	"testing"
)

// benchSchemas are an order record of 20 fields (one nested) in each format, and the same
// record with one more optional field.
func benchSchemas() map[Type][2]string {
	var af, jf, pf []string
	for i := 0; i < 20; i++ {
		af = append(af, fmt.Sprintf(`{"name":"f%d","type":["null","string"],"default":null}`, i))
		jf = append(jf, fmt.Sprintf(`"f%d":{"type":"string","maxLength":64}`, i))
		pf = append(pf, fmt.Sprintf("string f%d = %d;", i, i+1))
	}
	avro := func(extra string) string {
		return `{"type":"record","name":"Order","namespace":"shop","fields":[` + strings.Join(af, ",") +
			`,{"name":"line","type":{"type":"record","name":"Line","fields":[{"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}` + extra + `]}`
	}
	json := func(extra string) string {
		return `{"type":"object","properties":{` + strings.Join(jf, ",") +
			`,"line":{"type":"object","properties":{"sku":{"type":"string"},"qty":{"type":"integer"}},"required":["sku"]}` + extra + `},"additionalProperties":false}`
	}
	proto := func(extra string) string {
		return "syntax = \"proto3\";\npackage shop;\nmessage Order {\n" + strings.Join(pf, "\n") +
			"\nLine line = 30;\n" + extra + "message Line { string sku = 1; int32 qty = 2; }\n}\n"
	}
	return map[Type][2]string{
		Avro:     {avro(""), avro(`,{"name":"note","type":"string","default":""}`)},
		JSON:     {json(""), json(`,"note":{"type":"string"}`)},
		Protobuf: {proto(""), proto("string note = 31;\n")},
	}
}

func BenchmarkParse(b *testing.B) {
	for _, typ := range []Type{Avro, JSON, Protobuf} {
		text := benchSchemas()[typ][0]
		b.Run(string(typ), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := Parse(typ, text, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCheckFull(b *testing.B) {
	for _, typ := range []Type{Avro, JSON, Protobuf} {
		s := benchSchemas()[typ]
		old, err := Parse(typ, s[0], nil)
		if err != nil {
			b.Fatal(err)
		}
		nw, err := Parse(typ, s[1], nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(typ), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Check(Full, nw, []Parsed{old})
			}
		})
	}
}
