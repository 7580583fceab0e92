#!/usr/bin/python3
"""Drives Sluice's schema registry with confluent-kafka's Python
SchemaRegistryClient and its Avro and JSON Schema serializers, end to end
through a Sluice broker.

Run by test/schema_interop_test.go with Debian's /usr/bin/python3
(python3-confluent-kafka, python3-requests, python3-jsonschema,
python3-avro):

  schema_registry_clients.py REGISTRY_URL BROKER TOPIC N

It registers, reads and checks schemas with the client, produces N records
with AvroSerializer to TOPIC-avro and N with JSONSerializer to TOPIC-json,
consumes them back with the deserializers, checks every record, and prints
one JSON line with the IDs and versions it saw. Any mismatch exits non-zero
with a message on stderr.
"""

import json
import os
import sys

try:
    import fastavro  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "avro_codec"))

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

AVRO_V1 = json.dumps({"type": "record", "name": "Payment", "namespace": "py",
                      "fields": [{"name": "id", "type": "long"}, {"name": "amount", "type": "double"}]})
AVRO_V2 = json.dumps({"type": "record", "name": "Payment", "namespace": "py",
                      "fields": [{"name": "id", "type": "long"}, {"name": "amount", "type": "double"},
                                 {"name": "currency", "type": "string", "default": "EUR"}]})
AVRO_BAD = json.dumps({"type": "record", "name": "Payment", "namespace": "py",
                       "fields": [{"name": "id", "type": "string"}]})
JSON_SCHEMA = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Event",
                          "type": "object", "properties": {"n": {"type": "integer"}, "name": {"type": "string"}},
                          "required": ["n"]})


def fail(msg):
    sys.stderr.write("python: %s\n" % msg)
    sys.exit(1)


def expect(what, got, want):
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))


def roundtrip(broker, topic, serializer, deserializer, values):
    producer = Producer({"bootstrap.servers": broker})
    for i, v in enumerate(values):
        ctx = SerializationContext(topic, MessageField.VALUE)
        producer.produce(topic, key=str(i).encode(), value=serializer(v, ctx))
    if producer.flush(30) != 0:
        fail("%s: records not delivered" % topic)
    consumer = Consumer({"bootstrap.servers": broker, "group.id": "py-" + topic,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    got = []
    while len(got) < len(values):
        msg = consumer.poll(30)
        if msg is None:
            fail("%s: only %d of %d records consumed" % (topic, len(got), len(values)))
        if msg.error():
            fail("%s: %s" % (topic, msg.error()))
        raw = msg.value()
        if raw[0] != 0:
            fail("%s: record %s does not start with magic byte 0" % (topic, msg.key()))
        got.append((int(msg.key()), deserializer(raw, SerializationContext(topic, MessageField.VALUE)), int.from_bytes(raw[1:5], "big")))
    consumer.close()
    got.sort(key=lambda g: g[0])
    for i, v in enumerate(values):
        expect("%s record %d" % (topic, i), got[i][1], v)
    return sorted(set(g[2] for g in got))


def main():
    url, broker, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = SchemaRegistryClient({"url": url})
    out = {}

    subject = topic + "-avro-value"
    v1 = client.register_schema(subject, Schema(AVRO_V1, "AVRO"))
    expect("register v1 twice", client.register_schema(subject, Schema(AVRO_V1, "AVRO")), v1)
    expect("schema by id", json.loads(client.get_schema(v1).schema_str), json.loads(AVRO_V1))
    found = client.lookup_schema(subject, Schema(AVRO_V1, "AVRO"))
    expect("lookup", (found.schema_id, found.version), (v1, 1))
    expect("compatible v2", client.test_compatibility(subject, Schema(AVRO_V2, "AVRO")), True)
    expect("incompatible change of a field's type", client.test_compatibility(subject, Schema(AVRO_BAD, "AVRO")), False)
    try:
        client.register_schema(subject, Schema(AVRO_BAD, "AVRO"))
        fail("an incompatible schema was registered")
    except SchemaRegistryError as e:
        expect("incompatible register: HTTP status", e.http_status_code, 409)
    expect("compatibility", client.get_compatibility(), "BACKWARD")
    try:
        client.get_version(subject, 9)
        fail("version 9 was found")
    except SchemaRegistryError as e:
        expect("missing version: error code", e.error_code, 40402)
    out["avro_v1"] = v1

    # Avro end to end with the serializers: the producer registers v2.
    values = [{"id": i, "amount": i * 1.5, "currency": "EUR" if i % 2 else "USD"} for i in range(n)]
    ser = AvroSerializer(client, AVRO_V2)
    de = AvroDeserializer(client)
    out["avro_ids"] = roundtrip(broker, topic + "-avro", ser, de, values)
    latest = client.get_latest_version(topic + "-avro-value")
    out["avro_latest"] = [latest.schema_id, latest.version]
    expect("versions", client.get_versions(topic + "-avro-value"), [1, 2])

    # JSON Schema end to end.
    values = [{"n": i, "name": "event-%d" % i} for i in range(n)]
    ser = JSONSerializer(JSON_SCHEMA, client)
    de = JSONDeserializer(JSON_SCHEMA)
    out["json_ids"] = roundtrip(broker, topic + "-json", ser, de, values)
    js = client.get_latest_version(topic + "-json-value")
    expect("JSON schema type", js.schema.schema_type, "JSON")
    out["subjects"] = sorted(client.get_subjects())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
