"""A confluent-kafka (librdkafka) producer for Sluice's quota test.

Usage: quota_client.py BOOTSTRAP TOPIC CLIENT_ID SECONDS

Produces 10 KiB values as fast as librdkafka allows for SECONDS and prints
one JSON line: the bytes acknowledged in each second since the start and
the throttle times (seconds) librdkafka was told of (its throttle_cb).
"""

import json
import sys
import time

from confluent_kafka import Producer


def main():
    bootstrap, topic, client_id, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    throttles = []
    buckets = [0] * (int(seconds * 10) + 200)
    start = time.monotonic()

    def on_throttle(event):
        throttles.append(event.throttle_time)

    def on_delivery(err, msg):
        if err is None:
            i = int((time.monotonic() - start) * 10)
            if i < len(buckets):
                buckets[i] += len(msg.value())

    p = Producer({
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "compression.type": "none",
        "linger.ms": 5,
        "queue.buffering.max.kbytes": 512,
        "batch.size": 102400,
        "throttle_cb": on_throttle,
    })
    value = b"x" * 10240
    while time.monotonic() - start < seconds:
        try:
            p.produce(topic, value, on_delivery=on_delivery)
        except BufferError:
            p.poll(0.01)
            continue
        p.poll(0)
    p.flush(30)
    per_second = [sum(buckets[i:i + 10]) for i in range(0, int(seconds * 10), 10)]
    print(json.dumps({"per_second": per_second, "throttles": throttles}))


if __name__ == "__main__":
    main()
