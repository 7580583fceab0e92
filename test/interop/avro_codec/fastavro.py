"""The three fastavro functions confluent-kafka's AvroSerializer and
AvroDeserializer call, over Debian's python3-avro (Apache Avro), for
systems where fastavro is not packaged (Debian has no python3-fastavro).

schema_registry_clients.py puts this directory on sys.path only when the
real fastavro cannot be imported. The serializers' own code (registration,
framing with magic byte 0 and the schema ID, lookups by ID) runs unchanged;
only the Avro binary coding is Apache's.
"""

import json

import avro.io
import avro.schema


class _Parsed(dict):
    """The schema as a dict (the serializer reads its "name"), carrying the
    parsed Apache Avro schema."""


def parse_schema(schema, *args, **kwargs):
    parsed = _Parsed(schema if isinstance(schema, dict) else {"type": schema})
    parsed.avro = avro.schema.parse(json.dumps(schema))
    return parsed


def schemaless_writer(fo, schema, record, *args, **kwargs):
    avro.io.DatumWriter(schema.avro).write(record, avro.io.BinaryEncoder(fo))


def schemaless_reader(fo, writer_schema, reader_schema=None, *args, **kwargs):
    reader = reader_schema.avro if reader_schema is not None else writer_schema.avro
    return avro.io.DatumReader(writer_schema.avro, reader).read(avro.io.BinaryDecoder(fo))
