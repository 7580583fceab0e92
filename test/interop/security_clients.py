#!/usr/bin/python3
"""Drives a secured Sluice listener with kafka-python and confluent-kafka.

Run by test/security_interop_test.go with Debian's /usr/bin/python3:

  security_clients.py kp-roundtrip BROKER TOPIC N SECURITY
  security_clients.py kp-refused   BROKER SECURITY
  security_clients.py ck-roundtrip BROKER TOPIC N SECURITY
  security_clients.py ck-refused   BROKER SECURITY

SECURITY is a JSON object: protocol (SSL or SASL_SSL), mechanism (PLAIN,
SCRAM-SHA-256, SCRAM-SHA-512), user, password, ca (PEM file), cert and key
(PEM files of a client certificate, for mutual TLS).

A roundtrip produces N records (python_clients.py's record(i)) to partition
0 of TOPIC and reads them back with the same client library, checking each
one. A refusal expects the connection to be refused: it prints the error the
library gave and exits 0, or exits 1 if the client got through.
"""

import json
import sys
import time

from python_clients import check_record, fail, record, seq_of


# ---- kafka-python ----------------------------------------------------------


def kp_security(sec):
    conf = {"security_protocol": sec["protocol"], "ssl_cafile": sec["ca"], "ssl_check_hostname": True}
    if sec.get("mechanism"):
        conf.update(sasl_mechanism=sec["mechanism"], sasl_plain_username=sec["user"],
                    sasl_plain_password=sec["password"])
    if sec.get("cert"):
        conf.update(ssl_certfile=sec["cert"], ssl_keyfile=sec["key"])
    return conf


def kp_roundtrip(broker, topic, n, sec):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    origin = "kafka-python-" + sec["protocol"].lower()
    p = KafkaProducer(bootstrap_servers=[broker], acks="all", linger_ms=5, request_timeout_ms=15000,
                      **kp_security(sec))
    futures = []
    for i in range(n):
        key, value, headers = record(i, origin)
        futures.append(p.send(topic, key=key, value=value, headers=headers, partition=0))
    p.flush(timeout=30)
    for i, f in enumerate(futures):
        md = f.get(timeout=30)
        if md.partition != 0 or md.offset != i:
            fail("record %d: written at %d/%d, want 0/%d" % (i, md.partition, md.offset, i))
    p.close(timeout=10)

    c = KafkaConsumer(bootstrap_servers=[broker], group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", fetch_max_wait_ms=200, request_timeout_ms=30000,
                      **kp_security(sec))
    c.assign([TopicPartition(topic, 0)])
    c.seek_to_beginning()
    got = []
    deadline = time.time() + 30
    while len(got) < n:
        if time.time() > deadline:
            fail("consumed %d of %d records" % (len(got), n))
        for _, msgs in c.poll(timeout_ms=500).items():
            got.extend(msgs)
    c.close(autocommit=False)
    for i, m in enumerate(got[:n]):
        if m.offset != i or seq_of(m.headers) != i:
            fail("record at offset %d has seq %d, want %d" % (m.offset, seq_of(m.headers), i))
        check_record(i, m.key, m.value, m.headers, origin)
    print(json.dumps({"produced": n, "consumed": len(got), "origin": origin}))


def kp_refused(broker, sec):
    """kafka-python 2.0.2 authenticates with raw SASL frames (SaslHandshake
    v0/v1 without SaslAuthenticate), so a refusal reaches it as the broker
    closing the connection while authenticating; it logs that, then gives
    up with NoBrokersAvailable. Both are reported."""
    import logging
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    logged = []

    class Collect(logging.Handler):
        def emit(self, record):
            logged.append(record.getMessage())

    log = logging.getLogger("kafka")
    log.addHandler(Collect())
    log.setLevel(logging.WARNING)
    try:
        a = KafkaAdminClient(bootstrap_servers=[broker], request_timeout_ms=5000, **kp_security(sec))
        a.list_topics()
    except KafkaError as e:
        print(json.dumps({"refused": True, "error": "%s: %s; logged: %s" % (type(e).__name__, e, "; ".join(logged[:2]))}))
        return
    fail("kafka-python connected and listed topics with %s" % {k: v for k, v in sec.items() if k != "password"})


# ---- confluent-kafka (librdkafka) -------------------------------------------


def ck_security(sec):
    conf = {"security.protocol": sec["protocol"], "ssl.ca.location": sec["ca"]}
    if sec.get("mechanism"):
        conf.update({"sasl.mechanisms": sec["mechanism"], "sasl.username": sec["user"],
                     "sasl.password": sec["password"]})
    if sec.get("cert"):
        conf.update({"ssl.certificate.location": sec["cert"], "ssl.key.location": sec["key"]})
    return conf


def ck_roundtrip(broker, topic, n, sec):
    from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

    origin = "confluent-kafka-" + sec["protocol"].lower()
    errors = []
    conf = dict(ck_security(sec), **{"bootstrap.servers": broker, "error_cb": lambda e: errors.append(str(e))})
    p = Producer(dict(conf, **{"acks": "all", "linger.ms": 5}))
    delivered = []

    def on_delivery(err, msg):
        if err is not None:
            fail("delivery failed: %s" % err)
        delivered.append((msg.partition(), msg.offset()))

    for i in range(n):
        key, value, headers = record(i, origin)
        p.produce(topic, key=key, value=value, headers=headers, partition=0, on_delivery=on_delivery)
    if p.flush(30) != 0:
        fail("%d records not delivered in 30s (errors: %s)" % (len(p), errors))
    if sorted(delivered) != [(0, i) for i in range(n)]:
        fail("delivered at %r, want partition 0 offsets 0..%d" % (sorted(delivered)[:5], n - 1))

    c = Consumer(dict(conf, **{"group.id": "ck-sec-unused", "enable.auto.commit": False,
                               "fetch.wait.max.ms": 200}))
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.time() + 30
    while len(got) < n:
        if time.time() > deadline:
            fail("consumed %d of %d records (errors: %s)" % (len(got), n, errors))
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            fail("consume: %s" % m.error())
        got.append(m)
    c.close()
    for i, m in enumerate(got):
        hs = m.headers()
        if m.offset() != i or seq_of(hs) != i:
            fail("record at offset %d has seq %d, want %d" % (m.offset(), seq_of(hs), i))
        check_record(i, m.key(), m.value(), hs, origin)
    print(json.dumps({"produced": n, "consumed": len(got), "origin": origin}))


def ck_refused(broker, sec):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    import logging

    errors = []

    class Collect(logging.Handler):
        def emit(self, record):
            errors.append(record.getMessage())

    logger = logging.getLogger("librdkafka")
    logger.addHandler(Collect())
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    a = AdminClient(dict(ck_security(sec), **{"bootstrap.servers": broker, "logger": logger,
                                             "error_cb": lambda e: errors.append(str(e))}))
    try:
        md = a.list_topics(timeout=3)
    except KafkaException as e:
        a.poll(1)  # serves the queued log lines and errors
        print(json.dumps({"refused": True, "error": "%s; %s" % (e, "; ".join(errors[:3]))}))
        return
    fail("confluent-kafka listed topics %s with %s" % (sorted(md.topics),
                                                        {k: v for k, v in sec.items() if k != "password"}))


def main(argv):
    if len(argv) < 3:
        fail(__doc__)
    mode, broker = argv[1], argv[2]
    if mode in ("kp-roundtrip", "ck-roundtrip") and len(argv) == 6:
        topic, n, sec = argv[3], int(argv[4]), json.loads(argv[5])
        (kp_roundtrip if mode == "kp-roundtrip" else ck_roundtrip)(broker, topic, n, sec)
    elif mode in ("kp-refused", "ck-refused") and len(argv) == 4:
        (kp_refused if mode == "kp-refused" else ck_refused)(broker, json.loads(argv[3]))
    else:
        fail("bad arguments: %s\n%s" % (argv[1:], __doc__))


if __name__ == "__main__":
    main(sys.argv)
