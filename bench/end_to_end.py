"""Events/s end to end on the real services: Kafka -> `squall run iot_pipeline -e dev` -> Cassandra, exact.

`python -m bench.end_to_end [--devices N --rate R --duration S] [--inline]` (needs `squall infra up`).

1. A throw-away copy of the project (same topologies/spouts/bolts, config.json with this run's topics, group and
   keyspace); `squall db init`; `squall simulate` produces the events (bad/dup/late included) and the truth.
2. `squall run iot_pipeline -e dev --json` is started; the clock starts. The committed offsets of the run's
   consumer group are read every 0.5 s; when they reach every partition's end, all events are processed
   end to end (the spout commits an offset only after its tuple tree was acked, i.e. after persist's
   Cassandra write succeeded). The run is then interrupted (SIGINT: it drains and prints its summary).
3. metric_windows is compared with the truth (every window, every column); the result records events/s and
   whether the aggregates were exact, plus each component's capacity from the run summary (what limits it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.cpu import CpuMeter, cpu_seconds_now, per_event_us
from bench.machine import write_result
from squall.cassandra.settings import CassandraSettings
from squall.cassandra.store import connect, read_window_rows
from squall.kafka import admin
from squall.kafka.settings import KafkaSettings
from squall.kafka.simulate import read_truth, truth_rows
from squall.pipeline.truth import compare_rows
from squall.testing import isolated_pipeline_project, restore_default_sigint

ROOT = Path(__file__).resolve().parents[1]
TARGET_EVENTS_PER_S = 50_000
HOLD_SPAN_S = 65  # longest default window (60 s) + allowed lateness (5 s)
LIMITS = (
    "CPU. The run's processes share 2 cores and saturate them: the runner, 10 Python component processes, the "
    "Kafka broker and Cassandra (machine_busy_cores). cpu_us_per_event_by_process says where it goes, per event, "
    "start-up included. Every component that sees an event does per-event Python work (parse: decode + "
    "validate; aggregate: windows; alerts: detectors; persist: binding a raw-event row), and Cassandra writes one "
    "raw-event row per event plus the window rows (--no-archive shows what the raw archive costs). 50k events/s "
    "would leave 40 us of CPU per event on 2 cores for all of it. aggregate's latency is the time a batch is "
    "held until its windows close (60 s of event time), not work; so is the final idle flush in the overall rate."
)


def make_project(
    dest: Path,
    run: str,
    hold_events: int,
    idle_timeout_s: float | None = None,
    serializer: str | None = None,
    spout_batch_size: int | None = None,
    archive: bool = True,
) -> tuple[KafkaSettings, CassandraSettings]:
    """This run's throw-away project (squall.testing.isolated_pipeline_project), sized for a backlog replay.

    Windows hold their events until the device's watermark passes (longest window + lateness of event time:
    `hold_events` at the simulated rate), so each partition may have that many uncommitted messages in flight
    (`pipeline.kafka.max_uncommitted`); below it partitions pause, devices look idle and windows are emitted
    early and amended later (exact, but written twice). That per-partition cap also bounds how much is in
    flight, so tuples finish well inside the message timeout. `topology.max.spout.pending` counts spout
    batches (1-200 messages each) and is set so it never binds before max_uncommitted."""
    config: dict[str, Any] = json.loads((ROOT / "config.json").read_text())
    partitions = int(config["pipeline"].get("kafka", {}).get("partitions", 4))
    uncommitted = int(config["pipeline"].get("kafka", {}).get("max_uncommitted", 10_000))
    per_partition = max(uncommitted, hold_events // partitions + 1000)
    pipeline: dict[str, Any] = {"kafka": {"max_uncommitted": per_partition}}
    if idle_timeout_s is not None:  # must stay below topology.message.timeout.secs - window - lateness - tick
        pipeline["windows"] = {"idle_timeout_s": idle_timeout_s}
    if spout_batch_size is not None:
        pipeline["spout"] = {"batch_size": spout_batch_size}
    if not archive:  # the config's routing minus its `archive` rule: no raw-event row per event
        rules = config["pipeline"]["routing"]["rules"]
        pipeline["routing"] = {"rules": [r for r in rules if r.get("stream") != "archive"]}
    made = isolated_pipeline_project(
        dest,
        run,
        prefix="bench",
        source=ROOT,
        pipeline=pipeline,
        options={"topology.max.spout.pending": per_partition * partitions},
    )
    if serializer is not None:
        path = dest / "config.json"
        written = json.loads(path.read_text())
        written["serializer"] = serializer
        path.write_text(json.dumps(written, indent=2))
    return made.kafka, made.cassandra


def squall(cwd: Path, *args: str, timeout_s: float) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "squall", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        raise SystemExit(f"squall {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def run_bench(
    devices: int,
    rate: float,
    duration: float,
    inline: bool,
    timeout_s: float,
    idle_timeout_s: float | None = None,
    serializer: str | None = None,
    spout_batch_size: int | None = None,
    archive: bool = True,
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:10]
    with tempfile.TemporaryDirectory(prefix="squall-bench-") as tmp:
        project = Path(tmp) / "project"
        hold_events = int(rate * HOLD_SPAN_S * 1.5)
        kafka, cassandra = make_project(
            project, run, hold_events, idle_timeout_s, serializer, spout_batch_size, archive
        )
        try:
            squall(project, "db", "init", "-e", "dev", timeout_s=180)
            t0 = time.perf_counter()
            out = squall(
                project,
                "simulate",
                "-e",
                "dev",
                "--devices",
                str(devices),
                "--rate",
                str(rate),
                "--duration",
                str(duration),
                "--seed",
                "5",
                "--truth",
                str(project / "truth.json"),
                timeout_s=1800,
            )
            produce_s = time.perf_counter() - t0
            truth = read_truth(project / "truth.json")
            ends = admin.end_offsets(kafka, kafka.events_topic)
            events = sum(ends.values())
            args = [
                sys.executable,
                "-m",
                "squall",
                "run",
                "iot_pipeline",
                "-e",
                "dev",
                "--json",
                "--drain",
                "10",
            ]
            if inline:
                args.append("--inline")
            started = time.perf_counter()
            run_log = (project / "run.log").open("w")
            proc = subprocess.Popen(
                args,
                cwd=project,
                stdout=subprocess.PIPE,
                stderr=run_log,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                preexec_fn=restore_default_sigint,  # it is stopped with SIGINT, even from a background job
            )
            meter = CpuMeter(lambda: proc.pid)
            meter.start()
            busy_at_start = cpu_seconds_now()
            first_progress = None
            done_at = None
            progress: list[tuple[float, int]] = []
            while time.perf_counter() - started < timeout_s and proc.poll() is None:
                committed = admin.committed_offsets(kafka, kafka.events_topic)
                consumed = sum(v or 0 for v in committed.values())
                now = time.perf_counter() - started
                progress.append((round(now, 2), consumed))
                if consumed and first_progress is None:
                    first_progress = now
                if all((committed.get(p) or 0) >= end for p, end in ends.items()):
                    done_at = now
                    break
                time.sleep(0.5)  # polling an external process's progress (not making test time pass)
            cpu_s = meter.stop()
            busy_s = cpu_seconds_now() - busy_at_start
            measured_s = time.perf_counter() - started
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                stdout, _ = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, _ = proc.communicate()
            summary = json.loads(stdout[stdout.index("{") :]) if "{" in stdout else {}
            rows = read_window_rows(cassandra)
            problems = compare_rows(rows, truth_rows(truth), truth["relative_accuracy"], limit=50)
            dead_letters = dlq_reasons(kafka)
            expected_dl = {"late": truth["late"], "invalid (any reason)": truth["dead_lettered"]}
            run_log.close()
            log_text = (project / "run.log").read_text()
            if done_at is None or problems:  # say why: the run's own log (its stderr)
                sys.stderr.write(log_text[-20000:])
        finally:
            admin.delete_topics(kafka, [kafka.events_topic, kafka.dlq_topic, kafka.alerts_topic])
            cluster, session = connect(cassandra)
            session.execute(f"DROP KEYSPACE IF EXISTS {cassandra.keyspace}", timeout=120)
            cluster.shutdown()
    components = {
        c["name"]: {
            "tasks": c["tasks"],
            "executed": c["executed"],
            "capacity": c["capacity"],
            "latency_ms": c["latency_ms"],
        }
        for c in summary.get("components", [])
    }
    wall = done_at if done_at is not None else None
    return {
        "hosting": "inline" if inline else "process",
        "hold_events": hold_events,
        "serializer": serializer or "json (config.json)",
        "spout_batch_size": spout_batch_size or "config.json",
        "raw_event_archive": archive,
        "idle_timeout_s": idle_timeout_s,
        "events": events,
        "simulate": {
            "devices": devices,
            "rate": rate,
            "duration_s": duration,
            "seconds": round(produce_s, 2),
            "events_per_s": round(events / produce_s, 1),
            "output": out.strip().splitlines()[-2:],
        },
        "completed": done_at is not None,
        "seconds_to_all_committed": round(wall, 2) if wall is not None else None,
        "seconds_first_commit_to_all_committed": (
            round(done_at - first_progress, 2) if done_at is not None and first_progress is not None else None
        ),
        "events_per_s": round(events / wall, 1) if wall else None,
        "events_per_s_steady": steady_rate(progress, events),
        "events_per_s_after_startup": (
            round(events / (done_at - first_progress), 1)
            if done_at is not None and first_progress is not None and done_at > first_progress
            else None
        ),
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "exact": not problems,
        "problems": problems[:10],
        "windows": len(rows),
        "components": components,
        "cpu_seconds_by_process": cpu_s,
        "cpu_us_per_event_by_process": per_event_us(cpu_s, events),
        "cpu_us_per_event_total": round(sum(cpu_s.values()) / events * 1e6, 1) if events else None,
        "machine_busy_cores": round(busy_s / measured_s, 2) if measured_s else None,
        "dead_letters_by_reason": dead_letters,
        "dead_letters_expected": expected_dl,
        "task_errors": [e.get("message", e) for e in summary.get("errors", [])][:20],
        "limits": LIMITS,
        "progress_samples": progress[:: max(1, len(progress) // 40)],
    }


def dlq_reasons(kafka: KafkaSettings) -> dict[str, int]:
    """How many dead letters the run published, by reason (reconciled against the truth's late and invalid)."""
    from collections import Counter

    from squall.kafka.dead_letters import decode_dead_letter

    return dict(Counter(decode_dead_letter(r.value).reason for r in admin.read_topic(kafka, kafka.dlq_topic)))


def steady_rate(progress: list[tuple[float, int]], events: int) -> float | None:
    """Committed events/s between 10% and 90% of the backlog: the sustained rate, without the start-up and the
    last windows' close (the final idle flush is latency, not throughput)."""
    lo = next(((t, n) for t, n in progress if n >= 0.1 * events), None)
    hi = next(((t, n) for t, n in progress if n >= 0.9 * events), None)
    if lo is None or hi is None or hi[0] <= lo[0]:
        return None
    return round((hi[1] - lo[1]) / (hi[0] - lo[0]), 1)


def bench_parts(events: int = 50_000) -> dict[str, Any]:
    """The real-service parts alone, to show what is and is not the limit: KafkaSource poll+ack, and
    CassandraStore window upserts (bounded async)."""
    from concurrent.futures import wait
    from dataclasses import replace

    from squall.cassandra.schema import apply_schema
    from squall.cassandra.store import CassandraStore
    from squall.kafka.simulate import open_producer, produce
    from squall.kafka.source import KafkaSource
    from squall.pipeline.model import WindowResult
    from squall.pipeline.simulator import SimulatorSettings, generate

    run = uuid.uuid4().hex[:10]
    kafka = replace(KafkaSettings(), events_topic=f"bench.parts.{run}", group_id=f"bench.parts.{run}")
    admin.ensure_topics(kafka, [kafka.events_topic], partitions=4)
    cassandra = CassandraSettings.from_section({"keyspace": f"bench_parts_{run}", "consistency": "LOCAL_ONE"})
    out: dict[str, Any] = {"events": events}
    try:
        sim = SimulatorSettings(
            devices=100, rate=1000, duration_s=events / 1000, partitions=4, topic=kafka.events_topic
        )
        messages = list(generate(sim))
        t0 = time.perf_counter()
        producer = open_producer(kafka)
        produce(messages, kafka.events_topic, producer)
        producer.close()
        out["kafka_produce_per_s"] = round(len(messages) / (time.perf_counter() - t0), 1)
        source = KafkaSource(kafka, 0, 1)
        source.activate()
        n, t0 = 0, time.perf_counter()
        while n < len(messages) and time.perf_counter() - t0 < 300:
            polled = source.poll()
            if polled is not None:
                source.ack(polled[0])
                n += 1
        out["kafka_source_poll_ack_per_s"] = round(n / (time.perf_counter() - t0), 1)
        source.close()
        cluster, session = connect(cassandra)
        apply_schema(session, cassandra)
        cluster.shutdown()
        store = CassandraStore(cassandra)
        t0 = time.perf_counter()
        futures = [
            store.write(
                "window",
                WindowResult(
                    "t",
                    f"d{i % 100}",
                    "m",
                    10,
                    1_767_225_600_000 + (i // 100) * 10_000,
                    1_767_225_610_000 + (i // 100) * 10_000,
                    3,
                    6.0,
                    1.0,
                    3.0,
                    2.0,
                    2.0,
                    3.0,
                ),
            )
            for i in range(events)
        ]
        wait(futures, timeout=600)
        out["cassandra_window_upserts_per_s"] = round(events / (time.perf_counter() - t0), 1)
        out["cassandra_max_in_flight"] = store.max_in_flight
        # raw events as persist writes them: write_many, unlogged batches per (tenant, device, day) partition
        sample = [m for m in messages if m.label == "ok"][:events]
        from squall.pipeline.events import decode_event

        decoded = [decode_event(m.value) for m in sample]
        t0 = time.perf_counter()
        futures = []
        for i in range(0, len(decoded), 500):  # persist's default batch_size
            futures += store.write_many("event", decoded[i : i + 500])
        wait(futures, timeout=600)
        out["cassandra_event_rows_batched_per_s"] = round(len(decoded) / (time.perf_counter() - t0), 1)
        out["cassandra_batch_rows"] = store.settings.batch_rows
        store.close()
    finally:
        admin.delete_topics(kafka, [kafka.events_topic])
        cluster, session = connect(cassandra)
        session.execute(f"DROP KEYSPACE IF EXISTS {cassandra.keyspace}", timeout=120)
        cluster.shutdown()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.end_to_end", description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--rate", type=float, default=500.0, help="events per second of event time")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of event time")
    parser.add_argument(
        "--inline", action="store_true", help="host components in-process (squall run --inline)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds")
    parser.add_argument("--no-parts", action="store_true", help="skip measuring Kafka and Cassandra alone")
    parser.add_argument(
        "--idle-timeout", type=float, default=None, help="pipeline.windows.idle_timeout_s for this run"
    )
    parser.add_argument(
        "--serializer",
        choices=("json", "msgpack"),
        default=None,
        help="multilang serializer (default: config)",
    )
    parser.add_argument("--spout-batch-size", type=int, default=None, help="pipeline.spout.batch_size")
    parser.add_argument(
        "--no-archive",
        action="store_true",
        help="route nothing to `archive` (no raw-event row per event): what the raw archive costs",
    )
    ns = parser.parse_args(sys.argv[1:] if argv is None else argv)
    result = run_bench(
        ns.devices,
        ns.rate,
        ns.duration,
        ns.inline,
        ns.timeout,
        ns.idle_timeout,
        ns.serializer,
        ns.spout_batch_size,
        archive=not ns.no_archive,
    )
    if not ns.no_parts:
        result["parts_alone"] = bench_parts()
    path = write_result("end_to_end", result)
    print(json.dumps({k: v for k, v in result.items() if k != "progress_samples"}, indent=2))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
