#!/usr/bin/python3
"""Drives a Sluice broker with kafka-python and confluent-kafka (librdkafka).

Run by test/interop_test.go with Debian's /usr/bin/python3, which has the
python3-kafka and python3-confluent-kafka packages:

  python_clients.py kp-produce BROKER TOPIC N
  python_clients.py kp-resume  BROKER TOPIC GROUP N FIRST
  python_clients.py kp-admin   BROKER TOPIC PARTITIONS
  python_clients.py ck-produce-consume BROKER TOPIC GROUP N
  python_clients.py ck-admin   BROKER TOPIC PARTITIONS
  python_clients.py ck-txn     BROKER TOPIC TRANSACTIONAL_ID N

Each mode checks exact records itself, prints one JSON line for the Go side
to cross-check with franz-go, and exits non-zero with a message on stderr on
any mismatch or error.
"""

import json
import sys
import time


def fail(msg):
    sys.stderr.write("python: %s\n" % msg)
    sys.exit(1)


def record(i, origin):
    """Record i of a topic: key k-(i%7), value v-i, headers seq=i and origin."""
    return ("k-%d" % (i % 7)).encode(), ("v-%d" % i).encode(), [("seq", str(i).encode()), ("origin", origin.encode())]


def check_record(i, key, value, headers, origin):
    want = record(i, origin)
    got = (key, value, list(headers or []))
    if got != want:
        fail("record %d: got %r, want %r" % (i, got, want))


def seq_of(headers):
    for k, v in headers or []:
        if k == "seq":
            return int(v.decode())
    fail("record without a seq header: %r" % (headers,))


# ---- kafka-python ----------------------------------------------------------


def kp_produce(broker, topic, n):
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=[broker], acks="all", retries=3, linger_ms=5,
                      request_timeout_ms=15000)
    futures = []
    for i in range(n):
        key, value, headers = record(i, "kafka-python")
        futures.append(p.send(topic, key=key, value=value, headers=headers))
    p.flush(timeout=30)
    offsets = set()
    for i, f in enumerate(futures):
        md = f.get(timeout=30)  # raises on a failed record
        if md.topic != topic or md.offset < 0:
            fail("record %d: bad metadata %r" % (i, md))
        if (md.partition, md.offset) in offsets:
            fail("record %d: offset %d/%d given twice" % (i, md.partition, md.offset))
        offsets.add((md.partition, md.offset))
    p.close(timeout=10)
    print(json.dumps({"produced": n}))


def kp_consumer(broker, topic, group):
    from kafka import KafkaConsumer

    return KafkaConsumer(topic, bootstrap_servers=[broker], group_id=group,
                         enable_auto_commit=False, auto_offset_reset="earliest",
                         session_timeout_ms=10000, heartbeat_interval_ms=500,
                         fetch_max_wait_ms=200, request_timeout_ms=30000)


def kp_resume(broker, topic, group, n, first):
    """Consume FIRST records and commit them; a restarted consumer in the same
    group must then get exactly the other N-FIRST records."""
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    seen = {}  # value -> (partition, offset)

    def take(c, want, label):
        got = []
        deadline = time.time() + 30
        while len(got) < want:
            if time.time() > deadline:
                fail("%s consumer got %d of %d records" % (label, len(got), want))
            for tp, msgs in c.poll(timeout_ms=500).items():
                for m in msgs:
                    if len(got) == want:
                        break  # not processed, so not committed
                    i = seq_of(m.headers)
                    check_record(i, m.key, m.value, m.headers, "go")
                    if m.value in seen:
                        fail("%s consumer: %s at %d/%d already consumed at %r"
                             % (label, m.value, m.partition, m.offset, seen[m.value]))
                    seen[m.value] = (m.partition, m.offset)
                    got.append(m)
        return got

    c1 = kp_consumer(broker, topic, group)
    first_recs = take(c1, first, "first")
    commit = {}
    for m in first_recs:
        commit[TopicPartition(m.topic, m.partition)] = OffsetAndMetadata(m.offset + 1, "")
    c1.commit(commit)
    committed = {tp.partition: om.offset for tp, om in commit.items()}
    c1.close(autocommit=False)

    c2 = kp_consumer(broker, topic, group)
    rest = take(c2, n - first, "restarted")
    # The restarted consumer starts exactly at each committed offset.
    firsts = {}
    for m in rest:
        firsts.setdefault(m.partition, m.offset)
    for p, off in committed.items():
        if p in firsts and firsts[p] != off:
            fail("restarted consumer began partition %d at %d, committed %d" % (p, firsts[p], off))
    # Nothing more arrives (no re-delivery).
    extra = c2.poll(timeout_ms=1000)
    if any(extra.values()):
        fail("restarted consumer got extra records: %r" % extra)
    final = {}
    for m in rest:
        final[TopicPartition(m.topic, m.partition)] = OffsetAndMetadata(m.offset + 1, "")
    c2.commit(final)
    c2.close(autocommit=False)
    if len(seen) != n:
        fail("consumed %d distinct records, want %d" % (len(seen), n))
    print(json.dumps({"first": len(first_recs), "rest": len(rest),
                      "committed_after_first": {str(p): o for p, o in committed.items()}}))


def kp_admin(broker, topic, partitions):
    from kafka.admin import KafkaAdminClient, NewTopic

    a = KafkaAdminClient(bootstrap_servers=[broker], request_timeout_ms=15000)
    resp = a.create_topics([NewTopic(name=topic, num_partitions=partitions, replication_factor=1)])
    for t, code, *_ in resp.topic_errors:
        if code != 0:
            fail("create_topics %s: error code %d" % (t, code))
    topics = a.list_topics()
    if topic not in topics:
        fail("list_topics %r lacks %s" % (topics, topic))
    a.close()
    print(json.dumps({"topics": sorted(topics)}))


# ---- confluent-kafka -------------------------------------------------------


def ck_produce_consume(broker, topic, group, n):
    from confluent_kafka import Consumer, Producer

    p = Producer({"bootstrap.servers": broker, "acks": "all", "linger.ms": 5})
    errors = []
    delivered = set()

    def on_delivery(err, msg):
        if err is not None:
            errors.append("delivery of %r: %s" % (msg.value(), err))
        else:
            delivered.add((msg.partition(), msg.offset()))

    for i in range(n):
        key, value, headers = record(i, "confluent-kafka")
        p.produce(topic, key=key, value=value, headers=headers, on_delivery=on_delivery)
        p.poll(0)
    left = p.flush(30)
    if left:
        fail("%d records still undelivered after 30s" % left)
    if errors:
        fail("; ".join(errors[:5]))
    if len(delivered) != n:
        fail("%d distinct offsets delivered, want %d" % (len(delivered), n))

    # A group consumer takes about half, commits and closes; a second one in
    # the same group resumes exactly after the commit: together they see
    # every record once.
    seen = set()

    def consume_until(want, label):
        c = Consumer({"bootstrap.servers": broker, "group.id": group, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "session.timeout.ms": 10000,
                      "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 200})
        c.subscribe([topic])
        deadline = time.time() + 30
        while len(seen) < want:
            if time.time() > deadline:
                fail("%s got %d of %d records" % (label, len(seen), want))
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                fail("%s: %s" % (label, m.error()))
            i = seq_of(m.headers())
            check_record(i, m.key(), m.value(), m.headers(), "confluent-kafka")
            if (m.partition(), m.offset()) not in delivered:
                fail("consumed %d/%d which the producer never got a report for" % (m.partition(), m.offset()))
            if i in seen:
                fail("%s: record %d consumed twice (not resumed at the commit)" % (label, i))
            seen.add(i)
        c.commit(asynchronous=False)
        return c

    consume_until(n // 2, "first consumer").close()
    first = len(seen)
    c = consume_until(n, "restarted consumer")
    extra = c.poll(1.0)
    if extra is not None and not extra.error():
        fail("extra record %d/%d" % (extra.partition(), extra.offset()))
    c.close()
    print(json.dumps({"produced": n, "consumed": len(seen), "before_restart": first}))


def ck_admin(broker, topic, partitions):
    from confluent_kafka.admin import AdminClient, NewTopic

    a = AdminClient({"bootstrap.servers": broker})
    futs = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                           operation_timeout=10, request_timeout=15)
    for t, f in futs.items():
        f.result(timeout=20)  # raises on failure
    md = a.list_topics(timeout=10)
    if topic not in md.topics:
        fail("list_topics %r lacks %s" % (sorted(md.topics), topic))
    got = len(md.topics[topic].partitions)
    if got != partitions:
        fail("topic %s has %d partitions, want %d" % (topic, got, partitions))
    print(json.dumps({"topics": sorted(md.topics)}))


def ck_txn(broker, topic, txn_id, n):
    """Three transactions of n records each, spread over the topic's
    partitions: records 0..n-1 committed, n..2n-1 aborted, 2n..3n-1
    committed. A read_committed consumer must see exactly the committed
    ones and a read_uncommitted consumer all of them, each in order within
    its partition."""
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

    origin = "confluent-kafka-txn"
    p = Producer({"bootstrap.servers": broker, "transactional.id": txn_id, "linger.ms": 5,
                  "transaction.timeout.ms": 30000})
    p.init_transactions(30)
    partitions = sorted(p.list_topics(topic, timeout=10).topics[topic].partitions)
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append("delivery of %r: %s" % (msg.value(), err))

    for first, commit in ((0, True), (n, False), (2 * n, True)):
        p.begin_transaction()
        for i in range(first, first + n):
            key, value, headers = record(i, origin)
            p.produce(topic, key=key, value=value, headers=headers, partition=partitions[i % len(partitions)],
                      on_delivery=on_delivery)
            p.poll(0)
        left = p.flush(30)
        if left:
            fail("%d records still undelivered after 30s" % left)
        if errors:
            fail("; ".join(errors[:5]))
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)

    committed = set(range(0, n)) | set(range(2 * n, 3 * n))

    def read(isolation, want):
        c = Consumer({"bootstrap.servers": broker, "group.id": "ck-txn-check-" + isolation,
                      "enable.auto.commit": False, "isolation.level": isolation,
                      "enable.partition.eof": True, "fetch.wait.max.ms": 200})
        c.assign([TopicPartition(topic, q, 0) for q in partitions])
        seen, eof = [], set()
        last = {}
        deadline = time.time() + 30
        # The end of a partition (its last stable offset for read_committed)
        # is reported once it is reached; every transaction ended above, so
        # that is the high watermark.
        while len(eof) < len(partitions) or len(seen) < len(want):
            if time.time() > deadline:
                fail("%s: %d of %d records, end reached on partitions %s" % (isolation, len(seen), len(want), sorted(eof)))
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                    continue
                fail("%s: %s" % (isolation, m.error()))
            eof.discard(m.partition())
            i = seq_of(m.headers())
            check_record(i, m.key(), m.value(), m.headers(), origin)
            if i not in want:
                fail("%s: record %d (%s) at %d/%d should not be visible" %
                     (isolation, i, "aborted" if n <= i < 2 * n else "unknown", m.partition(), m.offset()))
            if m.partition() != partitions[i % len(partitions)]:
                fail("%s: record %d in partition %d" % (isolation, i, m.partition()))
            if last.get(m.partition(), -1) >= i:
                fail("%s: record %d after %d in partition %d" % (isolation, i, last[m.partition()], m.partition()))
            last[m.partition()] = i
            seen.append(i)
        c.close()
        if sorted(seen) != sorted(want):
            fail("%s: got %d records, want %d" % (isolation, len(seen), len(want)))
        return len(seen)

    rc = read("read_committed", committed)
    ru = read("read_uncommitted", set(range(3 * n)))
    print(json.dumps({"committed": len(committed), "aborted": n, "read_committed": rc, "read_uncommitted": ru}))


def main(argv):
    if len(argv) < 3:
        fail(__doc__)
    mode, broker, args = argv[1], argv[2], argv[3:]
    try:
        if mode == "kp-produce":
            kp_produce(broker, args[0], int(args[1]))
        elif mode == "kp-resume":
            kp_resume(broker, args[0], args[1], int(args[2]), int(args[3]))
        elif mode == "kp-admin":
            kp_admin(broker, args[0], int(args[1]))
        elif mode == "ck-produce-consume":
            ck_produce_consume(broker, args[0], args[1], int(args[2]))
        elif mode == "ck-admin":
            ck_admin(broker, args[0], int(args[1]))
        elif mode == "ck-txn":
            ck_txn(broker, args[0], args[1], int(args[2]))
        else:
            fail("unknown mode %s\n%s" % (mode, __doc__))
    except SystemExit:
        raise
    except BaseException as e:  # one clear line plus the traceback
        import traceback
        traceback.print_exc()
        fail("%s: %s: %s" % (mode, type(e).__name__, e))


if __name__ == "__main__":
    main(sys.argv)
