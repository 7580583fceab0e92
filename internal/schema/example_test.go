package schema_test

import (
	"fmt"

	"github.com/sluice-io/sluice/internal/schema"
)

func ExampleCheck() {
	v1, _ := schema.Parse(schema.Avro, `{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}`, nil)
	// A field without a default: the new schema cannot read records written with v1.
	v2, _ := schema.Parse(schema.Avro, `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string"}]}`, nil)
	for _, m := range schema.CheckVersions(schema.Backward, v2, []schema.Parsed{v1}, []int{1}) {
		fmt.Println(m)
	}
	// With a default it can.
	v2, _ = schema.Parse(schema.Avro, `{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string","default":""}]}`, nil)
	fmt.Println(len(schema.Check(schema.Backward, v2, []schema.Parsed{v1})) == 0)
	// Output:
	// {errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The new schema has a field 'email' at path '/fields/1' with no default value, and the old schema has no such field', additionalInfo:'email'}
	// {oldSchemaVersion: 1}
	// {oldSchema: '{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}'}
	// {compatibility: 'BACKWARD'}
	// true
}

func ExampleParse_protobufMessageIndexes() {
	p, _ := schema.Parse(schema.Protobuf, `syntax = "proto3"; package shop; message Order { message Line {} } message Refund {}`, nil)
	pb := schema.ProtobufSchema(p)
	idx, _ := pb.MessageIndexes("shop.Order.Line")
	name, _ := pb.MessageName([]int{1})
	fmt.Println(idx, name)
	// Output: [0 0] shop.Refund
}
