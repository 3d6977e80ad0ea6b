"""What one 10 MB message costs the pipeline, against one normal batch (`python -m bench.oversized`).

Stages, each timed alone in this process (CPU seconds, `time.process_time`, best of `--repeat`):
- `kafka`: kafka-python fetching the message(s) from the real broker of `squall infra up` (a topic of this run,
  `max.message.bytes` 32 MB);
- `spout`: what EventSpout does before it emits: the cut of an oversized payload (prefix, size, SHA-256) and
  the packing of the batch field, under msgpack (bytes) and JSON (base64 text);
- `parse`: ParseBolt's work on that batch: unpacking, parsing, the dead letter;
- `wire`: the JSON multilang encoding of the spout's tuple (what pystorm writes to the worker's pipe).
Compared: a normal batch (200 messages of ~150 bytes), the 10 MB message as it travels now (cut by the spout),
and the 10 MB message carried whole to parse, as before the cut existed. Results: bench/results/oversized-*.json.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.structs import TopicPartition

from bench.machine import write_result
from squall.pipeline.dead_letters import digest
from squall.pipeline.parse import Parser
from squall.pipeline.tuples import pack_batch, text_to_bytes, unpack_batch

BIG = 10 * 1024 * 1024
PREFIX = 4096
T0 = 1_767_225_600_000


def normal(i: int) -> bytes:
    return json.dumps(
        {
            "tenant": "acme",
            "device_id": f"d{i % 8}",
            "event_id": f"e{i}",
            "ts": T0 + i,
            "type": "telemetry",
            "metrics": {"temperature": 21.5, "humidity": 40.0},
        }
    ).encode()


def cpu(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def fetch(bootstrap: str, topic: str, partition: int, count: int) -> None:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_bytes=64 * 1024 * 1024
    )
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got = 0
        while got < count:
            got += sum(len(v) for v in consumer.poll(timeout_ms=1000, max_records=1000).values())
    finally:
        consumer.close()


def spout_batch(payloads: list[bytes], cut: bool, binary: bool) -> bytes | str:
    messages: list[Any] = []
    for offset, payload in enumerate(payloads):
        if cut and len(payload) > 65_536:
            messages.append([offset, payload[:PREFIX], len(payload), digest(payload)])
        else:
            messages.append([offset, payload])
    return pack_batch(messages, binary)


def parse_batch(packed: bytes | str) -> None:
    parser = Parser({"parse": {"dedup_horizon": 10_000}})
    for message in unpack_batch(packed):
        source = ("t", 0, int(message[0]))
        if len(message) == 4:
            parser.oversized(text_to_bytes(message[1]), int(message[2]), str(message[3]), source)
        else:
            parser.parse(text_to_bytes(message[1]), source)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.oversized", description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    topic = f"bench.oversized.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1, topic_configs={"max.message.bytes": str(32 * 1024 * 1024)})])
    normals = [normal(i) for i in range(200)]
    big = b'{"tenant":"acme","attrs":"' + bytes(range(128, 256)) * (BIG // 128) + b'"}'
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, max_request_size=32 * 1024 * 1024)
    for payload in normals:
        producer.send(topic, value=payload, partition=0)
    producer.send(topic, value=big, partition=1)
    producer.flush()
    producer.close()
    cases = {
        "normal batch (200 messages)": (normals, 0, 200, True),
        "10 MB, cut by the spout": ([big], 1, 1, True),
    }
    cases["10 MB, carried whole (no cut)"] = ([big], 1, 1, False)
    rows: dict[str, dict[str, float]] = {}
    try:
        for name, (payloads, partition, count, cut) in cases.items():
            row = {"kafka": cpu(lambda p=partition, c=count: fetch(args.bootstrap, topic, p, c), args.repeat)}
            for binary in (True, False):
                label = "msgpack" if binary else "json"
                packed = spout_batch(payloads, cut, binary)
                row[f"spout_{label}"] = cpu(
                    lambda p=payloads, c=cut, b=binary: spout_batch(p, c, b), args.repeat
                )
                row[f"parse_{label}"] = cpu(lambda v=packed: parse_batch(v), args.repeat)
                if not binary:
                    row["wire_json"] = cpu(lambda v=packed: json.dumps({"tuple": ["t", 0, v]}), args.repeat)
            row["total_msgpack"] = row["kafka"] + row["spout_msgpack"] + row["parse_msgpack"]
            row["total_json"] = row["kafka"] + row["spout_json"] + row["parse_json"] + row["wire_json"]
            rows[name] = {k: round(v * 1000, 2) for k, v in row.items()}
    finally:
        admin.delete_topics([topic])
        admin.close()
    base = rows["normal batch (200 messages)"]
    ratios = {
        name: {k: round(row[k] / base[k], 2) if base[k] else None for k in ("total_msgpack", "total_json")}
        for name, row in rows.items()
    }
    for name, row in rows.items():
        print(f"{name:32} " + "  ".join(f"{k} {v:.2f} ms" for k, v in row.items()))
    print("ratio to a normal batch:", json.dumps(ratios))
    path = write_result("oversized", {"cpu_ms": rows, "ratio_to_normal_batch": ratios, "repeat": args.repeat})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
