"""CPU per event of each bolt of `iot_pipeline`, alone, in one process: what a change to one bolt saves.

    python -m bench.components [--devices 50] [--rate 2000] [--duration 80] [--repeat 3] [--only parse,...]

The backlog benchmark's messages (bench.end_to_end.simulated: the same generator, seed and mix of duplicates,
malformed and late messages, JSON) are cut into spout batches as the spout makes them (per partition, up to
`pipeline.spout.batch_size` messages) and fed, batch by batch, through the real bolt classes driven by
squall.testing.BoltHarness (the multilang messages Storm sends, without a process or a pipe): parse, then
route (what parse emitted), then aggregate and alerts (what route emitted on `telemetry`/`alarms`, by shard to
as many tasks as config.json's dev env runs), then the dead-letter bolt (every `invalid` and `late` batch).

Settings: config.json's pipeline section with the embedded sink and publisher (SQLite in a temporary folder),
so no service is needed and nothing outside the bolts' own work is counted except the embedded publisher's
(alerts, dead letters) and the harness's per-tuple cost (one dict per tuple; batches carry hundreds of events).
With `--services`, the dev env's Cassandra store (what a recovering aggregate reads) and Kafka publisher (alerts
and dead letters): process time then includes the clients' own threads, counted in whichever bolt was running.

Reported per bolt: CPU seconds (process time around its `process` calls) and µs per message of the run, best
of `--repeat` runs (each run starts fresh bolts); the sum is comparable with bench.end_to_end's per-process
figures for the same bolts, minus what the multilang pipe and the runner cost there. Use it for A/B decisions:
run it on both trees in one sitting (`--repeat` evens out a busy machine).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.end_to_end import Options, simulated
from bench.machine import write_result
from squall.pipeline.tuples import (
    BATCH_FIELDS,
    INVALID_FIELDS,
    LATE_FIELDS,
    SPOUT_FIELDS,
    pack_batch,
)
from squall.testing import BoltHarness

ROOT = Path(__file__).resolve().parents[1]
BOLTS = ("parse", "route", "aggregate", "alerts", "dlq")
KEYSPACE = "squall_bench_components"  # --services: its own keyspace, its schema applied at the start


def pipeline_conf(state: Path, services: bool = False) -> dict[str, Any]:
    config = json.loads((ROOT / "config.json").read_text())
    pipeline = dict(config["pipeline"])
    pipeline.update(
        {
            "source": "simulator",
            "sink": "cassandra" if services else "sqlite",
            "publisher": "kafka" if services else "embedded",
            "sqlite": {**pipeline.get("sqlite", {}), "path": str(state / "bench.db")},
            "shards": math.lcm(*parallelism().values()),  # what shards_for gives the dev env's topology
            "cassandra": {**pipeline.get("cassandra", {}), "keyspace": KEYSPACE},
        }
    )
    return {
        "squall.pipeline": pipeline,
        "topology.message.timeout.secs": 90,
        "topology.tick.tuple.freq.secs": 1,
    }


def parallelism() -> dict[str, int]:
    config = json.loads((ROOT / "config.json").read_text())
    par = config.get("envs", {}).get("dev", {}).get("parallelism", {})
    return {name: int(par.get(name, 1)) for name in ("parse", "route", "aggregate", "alerts", "dlq")}


def spout_batches(o: Options, batch_size: int) -> list[list[Any]]:
    """[topic, partition, packed [[offset, payload], ...]] per run of up to `batch_size` messages of one
    partition, partitions interleaved as a consumer sees them."""
    messages = simulated(o, {}, "iot.events", 4, None)
    by_partition: dict[int, list[list[Any]]] = defaultdict(list)
    for m in messages:
        by_partition[m.partition].append([m.offset, m.value])
    batches: list[list[Any]] = []
    pending = {p: 0 for p in by_partition}
    while pending:
        for p in list(pending):
            at = pending[p]
            chunk = by_partition[p][at : at + batch_size]
            if not chunk:
                del pending[p]
                continue
            pending[p] = at + len(chunk)
            batches.append(["iot.events", p, pack_batch(chunk, binary=True)])
    return batches


class Timed:
    """A bolt under one harness per task, its process time summed over its `process` calls."""

    def __init__(self, cls: type, conf: dict[str, Any], tasks: int, inputs: dict[Any, list[str]]) -> None:
        ids = list(range(1, tasks + 1))
        self.harnesses = [
            BoltHarness(cls, conf, component=cls.__name__, task=i, inputs=inputs, task_ids=ids) for i in ids
        ]
        self.seconds = 0.0

    def feed(self, task: int, values: list[Any], stream: str, component: str) -> list[Any]:
        h = self.harnesses[task]
        before = len(h.emits)
        t0 = time.process_time()
        h.process(values, stream=stream, component=component)
        self.seconds += time.process_time() - t0
        return h.emits[before:]

    def close(self) -> None:
        for h in self.harnesses:
            h.close()


def one_run(batches: list[list[Any]], only: set[str], services: bool = False) -> dict[str, float]:
    from bolts.aggregate import AggregateBolt
    from bolts.alerts import AlertsBolt
    from bolts.dlq import DeadLetterBolt
    from bolts.parse import ParseBolt
    from bolts.route import RouteBolt

    par = parallelism()
    with tempfile.TemporaryDirectory(prefix="bench-components-") as tmp:
        conf = pipeline_conf(Path(tmp), services)
        from squall.pipeline.settings import from_conf
        from squall.pipeline.stores import make_store

        settings = from_conf(conf)
        if services:
            from squall.cassandra.schema import apply_schema
            from squall.cassandra.store import connect

            cluster, session = connect(settings.cassandra)
            try:
                apply_schema(session, settings.cassandra)
            finally:
                cluster.shutdown()
        make_store(settings).close()  # SQLite: the schema, as `squall db init` makes it
        parse = Timed(ParseBolt, conf, par["parse"], {"events": list(SPOUT_FIELDS)})
        route = Timed(RouteBolt, conf, par["route"], {"parse": list(BATCH_FIELDS)})
        aggregate = Timed(AggregateBolt, conf, par["aggregate"], {("route", "telemetry"): list(BATCH_FIELDS)})
        alerts = Timed(
            AlertsBolt,
            conf,
            par["alerts"],
            {("route", "telemetry"): list(BATCH_FIELDS), ("route", "alarms"): list(BATCH_FIELDS)},
        )
        dlq = Timed(
            DeadLetterBolt,
            conf,
            par["dlq"],
            {
                ("parse", "invalid"): list(INVALID_FIELDS),
                ("route", "invalid"): list(INVALID_FIELDS),
                ("aggregate", "late"): list(LATE_FIELDS),
                ("aggregate", "invalid"): list(INVALID_FIELDS),
                ("alerts", "invalid"): list(INVALID_FIELDS),
            },
        )
        timed = {"parse": parse, "route": route, "aggregate": aggregate, "alerts": alerts, "dlq": dlq}
        letters: list[tuple[list[Any], str, str]] = []

        def shard_task(values: list[Any], tasks: int) -> int:
            return int(values[0]) % tasks  # a fields grouping on `shard`: any stable map will do here

        def through(bolt: Timed, values: list[Any], stream: str, component: str, task: int) -> list[Any]:
            out = bolt.feed(task, values, stream, component)
            for e in out:
                if e.stream in ("invalid", "late"):
                    letters.append((e.values, e.stream, bolt.harnesses[0].component))
            return out

        partitions_per_task = par["parse"]
        for values in batches:
            for e in through(parse, values, "default", "events", int(values[1]) % partitions_per_task):
                if (
                    e.stream != "default"
                    or "route" not in only
                    and "aggregate" not in only
                    and "alerts" not in only
                ):
                    continue
                for r in through(route, e.values, "default", "parse", shard_task(e.values, par["route"])):
                    if r.stream == "telemetry":
                        if "aggregate" in only:
                            through(
                                aggregate,
                                r.values,
                                "telemetry",
                                "route",
                                shard_task(r.values, par["aggregate"]),
                            )
                        if "alerts" in only:
                            through(
                                alerts, r.values, "telemetry", "route", shard_task(r.values, par["alerts"])
                            )
                    elif r.stream == "alarms" and "alerts" in only:
                        through(alerts, r.values, "alarms", "route", shard_task(r.values, par["alerts"]))
        if "dlq" in only:
            source = {
                "ParseBolt": "parse",
                "RouteBolt": "route",
                "AggregateBolt": "aggregate",
                "AlertsBolt": "alerts",
            }
            for values, stream, component in letters:
                dlq.feed(0, values, stream, source[component])
        for bolt in timed.values():
            bolt.close()
        return {name: timed[name].seconds for name in BOLTS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.components", description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s of event time")
    parser.add_argument("--duration", type=float, default=80.0, help="seconds of event time")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only", default=",".join(BOLTS), help=f"comma-separated subset of {','.join(BOLTS)}"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, write no result file")
    parser.add_argument(
        "--services",
        action="store_true",
        help="Cassandra store (recovery reads) and Kafka publisher as on the dev env (`squall infra up kafka cassandra` first)",
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    o = Options(devices=args.devices, rate=args.rate, duration=args.duration, rate_limit=0, quix=False)
    batch_size = int(json.loads((ROOT / "config.json").read_text())["pipeline"]["spout"]["batch_size"])
    batches = spout_batches(o, batch_size)
    messages = int(o.rate * o.duration)
    runs = [one_run(batches, only, args.services) for _ in range(args.repeat)]
    best = {name: min(r[name] for r in runs) for name in BOLTS if name in only}
    us: Callable[[float], float] = lambda s: round(s * 1e6 / messages, 2)  # noqa: E731
    result = {
        "benchmark": "components",
        "messages": messages,
        "spout_batches": len(batches),
        "services": args.services,
        "parallelism": parallelism(),
        "cpu_us_per_message_best": {name: us(s) for name, s in best.items()},
        "cpu_us_per_message_runs": [{name: us(r[name]) for name in best} for r in runs],
        "cpu_us_per_message_total_best": us(sum(best.values())),
    }
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_result("components", result)


if __name__ == "__main__":
    main()
