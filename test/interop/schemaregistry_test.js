// Drives Sluice's schema registry with Confluent's JavaScript client,
// @confluentinc/schemaregistry: registers and reads schemas of all three
// formats. Run by test/schema_interop_test.go:
//
//   node schemaregistry_test.js REGISTRY_URL
//
// It checks every answer itself, prints one JSON line with the IDs and
// versions it saw, and exits non-zero with a message on stderr on any
// mismatch or error.
'use strict';

const { SchemaRegistryClient } = require('@confluentinc/schemaregistry');

const avroV1 = JSON.stringify({ type: 'record', name: 'User', namespace: 'js', fields: [{ name: 'id', type: 'long' }] });
const avroV2 = JSON.stringify({ type: 'record', name: 'User', namespace: 'js', fields: [{ name: 'id', type: 'long' }, { name: 'email', type: ['null', 'string'], default: null }] });
const avroBad = JSON.stringify({ type: 'record', name: 'User', namespace: 'js', fields: [{ name: 'id', type: 'string' }] });
const jsonSchema = JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { sku: { type: 'string' }, qty: { type: 'integer' } }, required: ['sku'] });
const protoSchema = 'syntax = "proto3";\npackage js;\n\nmessage Order {\n  string sku = 1;\n  int32 qty = 2;\n}\n';

function fail(msg) {
  process.stderr.write(`node: ${msg}\n`);
  process.exit(1);
}

function expect(what, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

async function main() {
  const url = process.argv[2];
  const client = new SchemaRegistryClient({ baseURLs: [url] });
  const out = {};

  const formats = [
    ['js-avro-value', 'AVRO', avroV1],
    ['js-json-value', 'JSON', jsonSchema],
    ['js-proto-value', 'PROTOBUF', protoSchema],
  ];
  for (const [subject, schemaType, schema] of formats) {
    const id = await client.register(subject, { schemaType, schema }, false);
    const info = await client.getBySubjectAndId(subject, id);
    // The client sends Protobuf schemas in its own layout: compare them
    // without whitespace.
    const squash = (s) => s.replace(/\s+/g, '');
    if (squash(info.schema) !== squash(schema)) fail(`${schemaType} schema ${id} read back as ${JSON.stringify(info.schema)}`);
    const typ = info.schemaType || 'AVRO';
    expect(`${schemaType} type of schema ${id}`, typ, schemaType);
    const latest = await client.getLatestSchemaMetadata(subject);
    expect(`${schemaType} latest`, [latest.id, latest.version], [id, 1]);
    expect(`${schemaType} lookup`, await client.getId(subject, { schemaType, schema }, false), id);
    out[schemaType] = id;
  }

  expect('compatible Avro v2', await client.testSubjectCompatibility('js-avro-value', { schemaType: 'AVRO', schema: avroV2 }), true);
  expect('incompatible Avro change', await client.testSubjectCompatibility('js-avro-value', { schemaType: 'AVRO', schema: avroBad }), false);
  const v2 = await client.register('js-avro-value', { schemaType: 'AVRO', schema: avroV2 }, false);
  expect('Avro versions', await client.getAllVersions('js-avro-value'), [1, 2]);
  out.AVRO_V2 = v2;
  try {
    await client.register('js-avro-value', { schemaType: 'AVRO', schema: avroBad }, false);
    fail('an incompatible schema was registered');
  } catch (e) {
    expect('incompatible register: status', e.status, 409);
  }
  try {
    await client.getLatestSchemaMetadata('no-such-subject');
    fail('a missing subject was found');
  } catch (e) {
    expect('missing subject: error code', e.errorCode, 40401);
  }
  out.subjects = (await client.getAllSubjects()).sort();
  expect('deleted versions', await client.deleteSubject('js-json-value', false), [1]);
  console.log(JSON.stringify(out));
}

main().catch((e) => fail(e.stack || String(e)));
