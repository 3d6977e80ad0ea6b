"""CPU per message of the event spout and of parse, each alone, A/B against another checkout
(`python -m bench.ingest --baseline /path/to/other/checkout`).

The same messages for every measurement: `--messages` simulated events (the reference simulator: 200 devices,
1 % malformed, 2 % duplicates) produced once to a fresh topic of the real Kafka of `squall infra up`
(`--partitions` partitions), in `--format` json or msgpack. Each measurement runs in a child process that imports
squall from one checkout (this one, or `--baseline`), with this interpreter; the checkouts alternate within each
round, so both see the same load. CPU is `time.process_time` of the child (all its threads) over the loop only:
- `client`: kafka-python alone, `poll(max_records=2000)` until every message was read (the floor for the spout);
- `spout`: EventSpout on KafkaSource, hosted in-process by `squall.testing.SpoutHarness`: `next_tuple` until
  every message was emitted, each batch acked as soon as it is emitted (so commits run as in a run);
- `parse`: ParseBolt hosted by `squall.testing.BoltHarness`, fed the same messages as the spout packs them
  (batches of `spout.batch_size` per partition, msgpack serializer).
Best of `--rounds` per (checkout, measurement), in µs per message. Results: bench/results/ingest-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
BOOTSTRAP = "127.0.0.1:9092"
BATCH = 200


def simulated(messages: int, partitions: int, fmt: str) -> list[tuple[int, bytes]]:
    """(partition, payload) of `messages` simulated events, in the simulator's order."""
    from squall.pipeline.simulator import SimulatorSettings, generate

    rate = 2000
    sim = {
        "simulator": {
            "devices": 200,
            "tenants": 4,
            "rate": rate,
            "duration_s": messages / rate,
            "partitions": partitions,
            "format": fmt,
            "bad_ratio": 0.01,
            "dup_ratio": 0.02,
            "late_ratio": 0.01,
        }
    }
    return [(m.partition, m.value) for m in generate(SimulatorSettings.from_settings(sim))][:messages]


def produce(topic: str, items: list[tuple[int, bytes]], partitions: int) -> None:
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=20, batch_size=256 * 1024)
    for partition, value in items:
        producer.send(topic, value, partition=partition)
    producer.flush()
    producer.close()


def delete_topic(topic: str) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()


# --- children: one measurement, squall imported from the checkout given -----------------------------------
def child_client(topic: str, count: int) -> float:
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, max_poll_records=2000)
    partitions = consumer.partitions_for_topic(topic) or set()
    consumer.assign([TopicPartition(topic, p) for p in partitions])
    consumer.seek_to_beginning()
    seen = 0
    start = time.process_time()
    while seen < count:
        for records in consumer.poll(timeout_ms=500, max_records=2000).values():
            seen += len(records)
    cpu = time.process_time() - start
    consumer.close()
    return cpu


def pipeline_conf(topic: str) -> dict[str, Any]:
    return {
        "squall.pipeline": {
            "source": "kafka",
            "sink": "sqlite",
            "kafka": {
                "bootstrap_servers": BOOTSTRAP,
                "events_topic": topic,
                "group_id": f"bench-ingest-{uuid.uuid4().hex[:8]}",
                "start": "earliest",
                "max_uncommitted": 1_000_000,
            },
            "spout": {"batch_size": BATCH},
            "peak_events_per_s": 1000,
        },
        "topology.max.spout.pending": 1_000_000,
    }


def child_spout(topic: str, count: int) -> float:
    from spouts.events import EventSpout
    from squall.pipeline.tuples import unpack_batch
    from squall.testing import SpoutHarness

    spout = SpoutHarness(EventSpout, pipeline_conf(topic), component="events")
    spout.activate()
    seen = 0
    start = time.process_time()
    while seen < count:
        for emit in spout.next_tuple():
            seen += len(unpack_batch(emit.values[2]))
            spout.ack(emit.id)
    cpu = time.process_time() - start
    # unpacking the emitted batches to count them is not the spout's work: take it out again
    start = time.process_time()
    for emit in spout.emits:
        unpack_batch(emit.values[2])
    cpu -= time.process_time() - start
    spout.instance.source.close()
    return cpu


def child_parse(topic: str, count: int, fmt: str, partitions: int) -> float:
    from bolts.parse import ParseBolt
    from squall.pipeline.tuples import SPOUT_FIELDS, pack_batch
    from squall.testing import BoltHarness

    del topic
    items = simulated(count, partitions, fmt)
    by_partition: dict[int, list[list[Any]]] = {}
    for offset, (partition, value) in enumerate(items):
        by_partition.setdefault(partition, []).append([offset, value])
    tuples = []
    for partition, messages in by_partition.items():
        for i in range(0, len(messages), BATCH):
            tuples.append(["bench.events", partition, pack_batch(messages[i : i + BATCH], True)])
    conf = pipeline_conf("bench.events")
    conf["squall.pipeline"]["source"] = "simulator"
    bolt = BoltHarness(ParseBolt, conf, inputs={"events": SPOUT_FIELDS})
    start = time.process_time()
    for values in tuples:
        bolt.process(values, component="events")
    return time.process_time() - start


def child_main(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(args.root).resolve()))
    import squall

    if args.child == "client":
        cpu = child_client(args.topic, args.messages)
    elif args.child == "spout":
        cpu = child_spout(args.topic, args.messages)
    else:
        cpu = child_parse(args.topic, args.messages, args.format, args.partitions)
    print(json.dumps({"cpu_s": cpu, "squall": squall.__file__}))


# --- parent ---------------------------------------------------------------------------------------------
def measure(root: Path, what: str, topic: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE), "--child", what, "--root", str(root), "--topic", topic]
    cmd += ["--messages", str(args.messages), "--format", args.format, "--partitions", str(args.partitions)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=str(root))
    if out.returncode != 0:
        raise RuntimeError(f"{what} in {root} failed:\n{out.stderr[-3000:]}")
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if not got["squall"].startswith(str(root.resolve())):
        raise RuntimeError(f"{what} imported squall from {got['squall']}, not from {root}")
    return {"us_per_message": round(got["cpu_s"] / args.messages * 1e6, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest")
    parser.add_argument("--baseline", type=Path, help="another checkout of squall to compare with (A/B)")
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--format", choices=("json", "msgpack"), default="json")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=("client", "spout", "parse"), nargs="+")
    parser.add_argument("--child", choices=("client", "spout", "parse"), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args)
        return
    sys.path.insert(0, str(ROOT))
    from bench.machine import write_result

    checkouts = {"this": ROOT}
    if args.baseline:
        checkouts = {"baseline": args.baseline.resolve(), **checkouts}
    topic = f"bench.ingest.{uuid.uuid4().hex[:8]}"
    produce(topic, simulated(args.messages, args.partitions, args.format), args.partitions)
    measurements = args.only or ["client", "spout", "parse"]
    runs: dict[str, dict[str, list[float]]] = {name: {m: [] for m in measurements} for name in checkouts}
    try:
        for round_ in range(args.rounds):
            order = list(checkouts.items())
            if round_ % 2:
                order.reverse()
            for what in measurements:
                for name, root in order:
                    if what == "client" and name != "this":
                        continue  # the client alone does not depend on the checkout
                    us = measure(root, what, topic, args)["us_per_message"]
                    runs[name][what].append(us)
                    print(f"round {round_ + 1}: {name:8} {what:6} {us:7.2f} µs/message", flush=True)
    finally:
        delete_topic(topic)
    best = {name: {m: min(v) for m, v in by.items() if v} for name, by in runs.items()}
    print(json.dumps(best, indent=2))
    path = write_result(
        "ingest",
        {
            "messages": args.messages,
            "partitions": args.partitions,
            "format": args.format,
            "rounds": args.rounds,
            "checkouts": {name: str(root) for name, root in checkouts.items()},
            "us_per_message_best": best,
            "us_per_message_runs": runs,
            "method": "CPU (time.process_time) of a child process per measurement over its loop only, checkouts "
            "alternating within each round; spout = EventSpout + KafkaSource in SpoutHarness with each batch "
            "acked at once; parse = ParseBolt in BoltHarness on the spout's packed batches; client = "
            "kafka-python poll(max_records=2000) alone.",
        },
    )
    print(f"written: {path}")


if __name__ == "__main__":
    main()
