package config

// Broker-side schema validation (issue 16, internal/schemaregistry):
// Confluent Server's topic configs, under their names, so that tools that
// set them on Confluent set them on Sluice.

// The names of the schema validation topic configs.
const (
	ValueSchemaValidationConfig = "confluent.value.schema.validation"
	KeySchemaValidationConfig   = "confluent.key.schema.validation"
)

func schemaTopicDefs() []*Def {
	return []*Def{
		{
			Name: KeySchemaValidationConfig, Type: TypeBoolean, Default: "false", HasDefault: true,
			Doc: "Refuse (INVALID_RECORD) records whose key does not start with a schema registry framing: " +
				"magic byte 0 and the 4-byte ID of a schema registered in Sluice's schema registry.",
		},
		{
			Name: ValueSchemaValidationConfig, Type: TypeBoolean, Default: "false", HasDefault: true,
			Doc: "Refuse (INVALID_RECORD) records whose value does not start with a schema registry framing: " +
				"magic byte 0 and the 4-byte ID of a schema registered in Sluice's schema registry.",
		},
	}
}
