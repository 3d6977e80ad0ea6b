"""CPU per record of kafka-python's producer at a trickle, by linger (`python -m bench.producer_linger`).

The pipeline's publishers (dead letters, alerts) send a few records per second each, so what a record costs is
what a produce request costs: each record of a trickle travels alone unless the producer lingers. This sends
`--count` records at `--rate` per second for each linger and reports the producer process's CPU per record
(needs `squall infra up`; it makes a throw-away topic and deletes it). The result set `kafka.linger_ms`'s
default (squall/kafka/settings.py).
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from kafka import KafkaProducer

from bench.machine import write_result
from squall.kafka import admin
from squall.kafka.client import client_config
from squall.kafka.settings import KafkaSettings


def measure(settings: KafkaSettings, topic: str, linger_ms: int, rate: float, count: int) -> dict[str, Any]:
    producer = KafkaProducer(**client_config(settings, acks="all", linger_ms=linger_ms))
    try:
        producer.send(topic, b"warm-up").get(timeout=30)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        sent = []
        for i in range(count):
            sent.append(producer.send(topic, key=b"k%d" % (i % 50), value=b"x" * 300))
            if rate:
                time.sleep(1.0 / rate)  # pacing the trickle being measured
        for future in sent:
            future.get(timeout=60)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        producer.close()
    return {
        "linger_ms": linger_ms,
        "rate": rate,
        "records": count,
        "cpu_us_per_record": round(cpu / count * 1e6),
        "core_share": round(cpu / wall, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.producer_linger", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--rate", type=float, default=100.0, help="records per second (0: as fast as possible)"
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--linger", type=int, nargs="+", default=[0, 5, 20, 50, 100])
    ns = parser.parse_args(argv)
    settings = KafkaSettings()
    topic = f"bench.linger.{uuid.uuid4().hex[:8]}"
    admin.ensure_topics(settings, [topic], partitions=1)
    try:
        rows = [measure(settings, topic, linger, ns.rate, ns.count) for linger in ns.linger]
        rows.append(measure(settings, topic, 5, 0, ns.count * 5))  # batched, for scale
    finally:
        admin.delete_topics(settings, [topic])
    for row in rows:
        print(row)
    print(f"written: {write_result('producer_linger', {'runs': rows})}")


if __name__ == "__main__":
    main()
