"""End to end on the real services: Kafka -> `squall run iot_pipeline -e dev` -> Cassandra, exact, beside Quix Streams.

`python -m bench.end_to_end [--rate-limit R --devices N --duration S] [--no-quix] [--inline]` (needs the
services up: `squall infra up`; Quix Streams from `make bench-deps`).

1. A throw-away copy of the project (same topologies/spouts/bolts, config.json with this run's topics, group and
   keyspace); `squall db init`; the topics are created.
2. `squall run iot_pipeline -e dev --json` is started and left to warm up (start-up is not counted). Then the
   simulated device messages (bad/dup/late included) are produced: paced in real time at `--rate-limit`
   events/s with event times that follow the wall clock (a sustained rate, as from live devices), or, with
   `--rate-limit 0`, as fast as the producer goes (a backlog; event times at `--rate`).
3. The committed offsets of the run's consumer group are read every 0.5 s; when they reach every partition's end,
   every event is processed end to end (the spout commits an offset only after its tuple tree was acked, i.e.
   after persist's Cassandra write). CPU of every process (runner, spout, each bolt, Kafka, Cassandra) is read
   from /proc over that span, then over `--idle` seconds with nothing to do (what each process burns idle:
   polling, ticks, heartbeats), and the run is interrupted (SIGINT: it drains and prints its summary).
4. metric_windows is compared with the truth (every window, every column); each aggregated event's latency,
   from its Kafka record timestamp to the WRITETIME of its window rows, is summarized per window length.
5. Quix Streams (bench/quix_job.py, its own virtualenv) runs the job a Python team would write instead on the
   same topic with a consumer group of its own (10 s tumbling windows per device, count/sum/min/max of three
   metrics, final windows to a topic), measured the same way; its output is counted against the windows the
   messages hold. The result compares CPU per message and messages/s of the two.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.cpu import CpuMeter, cpu_seconds_now, net_of_idle, per_event_us, squall_total
from bench.latency import Arrival, RowKey, latencies_ms, summarize
from bench.machine import write_result
from bench.paced import PaceReport, paced
from squall.cassandra.settings import CassandraSettings
from squall.cassandra.store import connect, datetime_to_ms, read_window_rows
from squall.infra.process import all_processes, family
from squall.kafka import admin
from squall.kafka.settings import KafkaSettings
from squall.kafka.simulate import (
    ProduceReport,
    open_producer,
    produce,
    truth_document,
    truth_rows,
    with_broker_offsets,
)
from squall.pipeline.settings import PipelineSettings
from squall.pipeline.simulator import Produced, SimulatorSettings, generate
from squall.pipeline.truth import compare_rows, truth_for_settings
from squall.testing import IsolatedProject, isolated_pipeline_project, restore_default_sigint

ROOT = Path(__file__).resolve().parents[1]
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"  # `make bench-deps`
TARGET_EVENTS_PER_S = 50_000
HOLD_SPAN_S = 65  # longest default window (60 s) + allowed lateness (5 s)
WARMUP_S = 6.0  # squall run starts its components and joins the group before the first message
LIMITS = (
    "CPU. The run's processes share 2 cores: the runner, 10 Python component processes, the Kafka broker and "
    "Cassandra (machine_busy_cores). cpu_us_per_event_by_process says where it goes, per event, net of what "
    "each process burns idle (..._gross: not). Every component that sees an event does per-event Python work "
    "(parse: decode + validate; aggregate: windows; alerts: detectors; persist: window rows, and a raw-event "
    "row per event with --archive, which shows what the opt-in raw archive costs). 50k events/s would leave 40 us of CPU per event on 2 cores for all of it. A window row is written "
    "when the device's watermark (its newest event time - allowed lateness) passes the window's end, so an "
    "event's latency is at least the rest of its window + the allowed lateness (5 s): up to 65 s for the 60 s "
    "windows; latency_after_close_s is the part the pipeline adds."
)


def make_project(
    dest: Path,
    run: str,
    hold_events: int,
    idle_timeout_s: float | None = None,
    serializer: str | None = None,
    spout_batch_size: int | None = None,
    archive: bool = False,
    windows: dict[str, Any] | None = None,
    fetch_min_bytes: int | None = None,
) -> IsolatedProject:
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
    if fetch_min_bytes is not None:
        pipeline["kafka"]["fetch_min_bytes"] = fetch_min_bytes
    if idle_timeout_s is not None:  # must stay below topology.message.timeout.secs - window - lateness - tick
        pipeline["windows"] = {"idle_timeout_s": idle_timeout_s}
    if windows:
        pipeline["windows"] = {**pipeline.get("windows", {}), **windows}
    if spout_batch_size is not None:
        pipeline["spout"] = {"batch_size": spout_batch_size}
    rules = [r for r in config["pipeline"]["routing"]["rules"] if r.get("stream") != "archive"]
    if archive:  # the config's routing plus the opt-in raw-event archive: one `events` row per valid event
        rules.append({"stream": "archive"})
    pipeline["routing"] = {"rules": rules}
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
    return made


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


@dataclass(frozen=True)
class Options:
    devices: int = 100
    rate: float = 500.0  # events/s of event time, for a backlog (rate_limit 0)
    duration: float = 60.0  # seconds of event time
    rate_limit: float = 1000.0  # events/s produced in real time; 0: a backlog, as fast as the producer goes
    inline: bool = False
    timeout_s: float = 1800.0
    idle_s: float = 10.0
    quix: bool = True
    idle_timeout_s: float | None = None
    allowed_lateness_s: float | None = None
    serializer: str | None = None
    spout_batch_size: int | None = None
    archive: bool = False
    fetch_min_bytes: int | None = None

    @property
    def paced(self) -> bool:
        return self.rate_limit > 0

    @property
    def event_rate(self) -> float:
        return self.rate_limit if self.paced else self.rate


@dataclass
class Consumer:
    """A job under measurement: its process, its consumer group on `topic`, the CPU of its process tree."""

    name: str
    proc: subprocess.Popen[str]
    group: str
    topic: str
    meter: CpuMeter
    log: Path
    done_at: float | None = None
    first_commit_at: float | None = None
    progress: list[tuple[float, int]] = field(default_factory=list)
    busy_cpu: dict[str, float] = field(default_factory=dict)
    busy_s: float = 0.0
    idle_cpu: dict[str, float] = field(default_factory=dict)
    idle_s: float = 0.0


def service_ports(kafka: KafkaSettings, cassandra: CassandraSettings) -> dict[str, int]:
    """The ports of the Kafka broker and Cassandra node the run uses (the first of each)."""
    return {"kafka": int(kafka.servers[0].rsplit(":", 1)[1]), "cassandra": cassandra.port}


def start_squall(project: Path, inline: bool, services: dict[str, int]) -> Consumer:
    args = [sys.executable, "-m", "squall", "run", "iot_pipeline", "-e", "dev", "--json", "--drain", "10"]
    if inline:
        args.append("--inline")
    log = project / "run.log"
    proc = subprocess.Popen(
        args,
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=restore_default_sigint,  # it is stopped with SIGINT, even from a background job
    )
    return Consumer("squall", proc, "", "", CpuMeter(lambda: proc.pid, service_ports=services), log)


def start_quix(
    kafka: KafkaSettings, topic: str, out_topic: str, group: str, state: Path, services: dict[str, int]
) -> Consumer:
    if not BENCH_PYTHON.exists():
        raise SystemExit(f"{BENCH_PYTHON} is missing: run `make bench-deps` (or pass --no-quix)")
    log = state.parent / "quix.log"
    proc = subprocess.Popen(
        [str(BENCH_PYTHON), "-m", "bench.quix_job", "--broker", kafka.bootstrap_servers, "--input", topic]
        + ["--output", out_topic, "--group", group, "--state-dir", str(state)],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=restore_default_sigint,
    )
    return Consumer("quix", proc, group, topic, CpuMeter(lambda: proc.pid, service_ports=services), log)


def simulated(
    o: Options, pipeline: dict[str, Any], topic: str, partitions: int, start_ms: int | None
) -> list[Produced]:
    """The run's messages, JSON (what the Quix job reads); event times from `start_ms` when paced."""
    lateness = o.allowed_lateness_s
    extra: dict[str, Any] = {} if start_ms is None else {"start_ms": start_ms}
    sim = SimulatorSettings.from_settings(
        pipeline,
        devices=o.devices,
        rate=o.event_rate,
        duration_s=o.duration,
        format="json",
        topic=topic,
        seed=5,
        partitions=partitions,
        jitter_ms=min(200, int(lateness * 500)) if lateness is not None else None,
        **extra,
    )
    return list(generate(sim))


@dataclass
class Production:
    report: ProduceReport
    pace: PaceReport
    seconds: float  # producing took
    done_at: float  # when the last message was acknowledged, on the jobs' measuring clock (0: before it)


def measure(
    o: Options,
    kafka: KafkaSettings,
    jobs: list[Consumer],
    messages: list[Produced],
    topic: str,
    start_s: float,
) -> Production:
    """Produce `messages` to `topic` and measure `jobs` consuming them, until every job's group has committed
    every offset; then `o.idle_s` more seconds of them idle.

    Paced: produced from `start_s` on in a thread while the jobs run. A backlog: the jobs' processes are
    stopped (SIGSTOP) while the whole backlog is produced, and measured from when they continue (SIGCONT), so
    the producer neither shares the cores with them nor bounds their rate. (squall's spout assigns its
    partitions itself and Quix's consumer session outlives a pause of seconds.)"""
    with ExitStack() as stack:
        return _measure(o, kafka, jobs, messages, topic, start_s, stack)


def _measure(
    o: Options,
    kafka: KafkaSettings,
    jobs: list[Consumer],
    messages: list[Produced],
    topic: str,
    start_s: float,
    stack: ExitStack,
) -> Production:
    pace = PaceReport()
    reports: list[ProduceReport] = []
    failures: list[BaseException] = []

    def producing() -> None:
        producer = open_producer(kafka)
        try:
            items = paced(messages, o.rate_limit, start_s, pace) if o.paced else messages
            reports.append(produce(items, topic, producer, timeout_s=kafka.request_timeout_s * 2))
        except BaseException as exc:  # noqa: BLE001 - reported by the caller's thread below
            failures.append(exc)
        finally:
            producer.close(timeout=kafka.request_timeout_s)

    thread = threading.Thread(target=producing, name="producer", daemon=True)
    produce_t0 = time.perf_counter()
    if not o.paced:
        frozen = [pid for job in jobs for pid in sorted(family(job.proc.pid, all_processes()))]
        signal_each(frozen, signal.SIGSTOP)
        try:
            producing()
        finally:
            signal_each(frozen, signal.SIGCONT)
        if failures:
            raise SystemExit(f"producing to {topic} failed: {failures[0]}")
    produce_s = time.perf_counter() - produce_t0
    cpu0 = {job.name: job.meter.snapshot() for job in jobs}
    readers = {job.name: stack.enter_context(CommittedReader(kafka, job.topic, job.group)) for job in jobs}
    started = time.perf_counter()
    produced_at: float | None = 0.0 if reports else None
    if o.paced:
        thread.start()
    while time.perf_counter() - started < o.timeout_s:
        now = time.perf_counter() - started
        if produced_at is None and not thread.is_alive():
            produced_at = now
            produce_s = time.perf_counter() - produce_t0
            if failures:
                raise SystemExit(f"producing to {topic} failed: {failures[0]}")
        for job in jobs:
            if job.done_at is not None or job.proc.poll() is not None:
                continue
            committed = readers[job.name].read()
            consumed = sum(v or 0 for v in committed.values())
            job.progress.append((round(now, 2), consumed))
            if consumed and job.first_commit_at is None:
                job.first_commit_at = now
            if reports and all((committed.get(p) or 0) >= end for p, end in reports[0].end_offsets.items()):
                job.done_at = now
                job.busy_cpu = diff(job.meter.snapshot(), cpu0[job.name])
                job.busy_s = now
        if all(job.done_at is not None or job.proc.poll() is not None for job in jobs):
            break
        time.sleep(0.5)  # polling external processes' progress (not making test time pass)
    if o.paced:
        thread.join(timeout=60)
    if not reports:
        raise SystemExit(f"producing to {topic} did not finish: {failures[:1]}")
    idle0 = {job.name: job.meter.snapshot() for job in jobs}
    t_idle = time.perf_counter()
    time.sleep(o.idle_s)  # measuring what the jobs burn with nothing to do
    for job in jobs:
        job.idle_cpu = diff(job.meter.stop(), idle0[job.name])
        job.idle_s = time.perf_counter() - t_idle
    done_at = produced_at if produced_at is not None else time.perf_counter() - started
    return Production(reports[0], pace, produce_s, done_at)


class CommittedReader:
    """A group's committed offsets on a topic, read again and again through one consumer (a new client per read
    costs the benchmark's process CPU that its paced producer needs)."""

    def __init__(self, kafka: KafkaSettings, topic: str, group: str) -> None:
        self._kafka, self._topic, self._group = kafka, topic, group

    def __enter__(self) -> CommittedReader:
        self._cm = admin.plain_consumer(self._kafka, group_id=self._group)
        self._consumer = self._cm.__enter__()
        self._partitions = admin.partitions_of(self._consumer, self._topic)
        return self

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(None, None, None)

    def read(self) -> dict[int, int | None]:
        timeout_ms = int(self._kafka.request_timeout_s * 1000)
        return {tp.partition: self._consumer.committed(tp, timeout_ms=timeout_ms) for tp in self._partitions}


def signal_each(pids: list[int], sig: signal.Signals) -> None:
    """Send `sig` to each of these processes (this run's own jobs), skipping those gone already."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: round(v - before.get(k, 0.0), 2) for k, v in after.items()}


def stop(job: Consumer) -> str:
    """SIGINT (both drain and stop on it); its stdout."""
    if job.proc.poll() is None:
        job.proc.send_signal(signal.SIGINT)
    try:
        stdout, _ = job.proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        job.proc.kill()
        stdout, _ = job.proc.communicate()
    return stdout or ""


def cpu_report(job: Consumer, events: int, paced: bool) -> dict[str, Any]:
    """CPU per message of each role of the job (net of idle, and gross), its total, and its rates."""
    net = net_of_idle(job.busy_cpu, job.busy_s, job.idle_cpu, job.idle_s)
    own = squall_total if job.name == "squall" else (lambda cpu: round(cpu.get("quix", 0.0), 2))
    total_net, total_gross = own(net), own(job.busy_cpu)
    return {
        "completed": job.done_at is not None,
        "seconds_to_all_committed": round(job.done_at, 2) if job.done_at is not None else None,
        "messages_per_s": round(events / job.done_at, 1) if job.done_at else None,
        "messages_per_s_after_first_commit": (
            round(events / (job.done_at - job.first_commit_at), 1)
            if job.done_at is not None
            and job.first_commit_at is not None
            and job.done_at > job.first_commit_at
            else None
        ),
        "messages_per_s_steady": None if paced else steady_rate(job.progress, events),
        "processes": job.meter.processes(),
        "cpu_seconds_by_process": job.busy_cpu,
        "idle_cpu_seconds_by_process": job.idle_cpu,
        "idle_seconds": round(job.idle_s, 2),
        "busy_seconds": round(job.busy_s, 2),
        "cpu_us_per_event_by_process": per_event_us(net, events),
        "cpu_us_per_event_by_process_gross": per_event_us(job.busy_cpu, events),
        f"cpu_us_per_event_{job.name}_total": round(total_net / events * 1e6, 1) if events else None,
        f"cpu_us_per_event_{job.name}_total_gross": round(total_gross / events * 1e6, 1) if events else None,
        "progress_samples": job.progress[:: max(1, len(job.progress) // 40)],
    }


def run_bench(o: Options) -> dict[str, Any]:
    run = uuid.uuid4().hex[:10]
    with tempfile.TemporaryDirectory(prefix="squall-bench-") as tmp:
        project = Path(tmp) / "project"
        windows = {} if o.allowed_lateness_s is None else {"allowed_lateness_s": o.allowed_lateness_s}
        made = make_project(
            project,
            run,
            int(o.event_rate * HOLD_SPAN_S * 1.5),
            o.idle_timeout_s,
            o.serializer,
            o.spout_batch_size,
            o.archive,
            windows,
            o.fetch_min_bytes,
        )
        kafka, cassandra = made.kafka, made.cassandra
        quix_group, quix_in, quix_out = f"bench.quix.{run}", f"bench.quix-in.{run}", f"bench.quix-out.{run}"
        jobs: list[Consumer] = []
        try:
            squall(project, "db", "init", "-e", "dev", timeout_s=180)
            admin.ensure_topics(kafka, [kafka.events_topic], int(made.pipeline["kafka"].get("partitions", 4)))
            admin.ensure_topics(kafka, [kafka.dlq_topic, kafka.alerts_topic])
            partitions = len(admin.end_offsets(kafka, kafka.events_topic))
            result = run_jobs(o, made, project, partitions, jobs, quix_group, quix_in, quix_out)
        finally:
            for job in jobs:
                if job.proc.poll() is None:
                    job.proc.kill()
                    job.proc.wait()
            quix_topics = [t for t in admin_topics(kafka) if quix_group in t or (run in t and "quix" in t)]
            admin.delete_topics(
                kafka, [kafka.events_topic, kafka.dlq_topic, kafka.alerts_topic, *quix_topics]
            )
            cluster, session = connect(cassandra)
            session.execute(f"DROP KEYSPACE IF EXISTS {cassandra.keyspace}", timeout=120)
            cluster.shutdown()
    return result


def admin_topics(kafka: KafkaSettings) -> list[str]:
    with admin.admin_client(kafka) as client:
        return list(client.list_topics())


def draft_summary(rows: Any) -> dict[str, int]:
    """Stored rows by draft: never provisional, stored early and completed (cleared), still provisional; and the
    sizes of the drafts still stored."""
    drafts = [r.get("draft") for r in rows]
    kept = [len(d) for d in drafts if d]
    return {
        "never_provisional": sum(1 for d in drafts if d is None),
        "cleared": sum(1 for d in drafts if d == ""),
        "provisional": len(kept),
        "provisional_bytes_total": sum(kept),
        "provisional_bytes_max": max(kept, default=0),
    }


def run_jobs(
    o: Options,
    made: IsolatedProject,
    project: Path,
    partitions: int,
    jobs: list[Consumer],
    quix_group: str,
    quix_in: str,
    quix_out: str,
) -> dict[str, Any]:
    kafka, cassandra = made.kafka, made.cassandra
    topic = kafka.events_topic
    services = service_ports(kafka, cassandra)
    sq = start_squall(project, o.inline, services)
    sq.group, sq.topic = kafka.group_id, topic
    jobs.append(sq)
    qx: Consumer | None = None
    quix_produce_s: float | None = None
    if o.quix and o.paced:  # beside squall, on the same topic at the same time
        qx = start_quix(kafka, topic, quix_out, quix_group, project.parent / "quix-state", services)
        jobs.append(qx)
    for job in jobs:
        job.meter.start()
    time.sleep(WARMUP_S)  # both start, join their groups and wait for messages (start-up is not measured)
    start_s = time.time() + 2.0 + o.event_rate * o.duration / 50_000  # after the messages are generated
    messages = simulated(o, made.pipeline, topic, partitions, int(start_s * 1000) if o.paced else None)
    busy_at_start = cpu_seconds_now()
    t0 = time.perf_counter()
    production = measure(o, kafka, list(jobs), messages, topic, start_s)
    report, pace, produce_s = production.report, production.pace, production.seconds
    machine_busy = (cpu_seconds_now() - busy_at_start) / (time.perf_counter() - t0)
    summary_out = stop(sq)
    summary = json.loads(summary_out[summary_out.index("{") :]) if "{" in summary_out else {}
    if (
        qx is None and o.quix
    ):  # a backlog: Quix alone afterwards, on a copy of the topic, measured the same way
        admin.ensure_topics(kafka, [quix_in], partitions)
        qx = start_quix(kafka, quix_in, quix_out, quix_group, project.parent / "quix-state", services)
        jobs.append(qx)
        qx.meter.start()
        time.sleep(WARMUP_S)
        copy = [replace(m, topic=quix_in) for m in messages]
        quix_produce_s = measure(o, kafka, [qx], copy, quix_in, time.time()).seconds
    if qx is not None:
        stop(qx)
    events = sum(report.end_offsets.values())

    placed = with_broker_offsets(messages, report)
    truth = truth_for_settings(placed, made.pipeline)
    doc = truth_document(truth, report, {})
    accuracy = PipelineSettings.of(made.pipeline).windows  # windows settings
    rows = read_window_rows(cassandra)
    problems = compare_rows(rows, truth_rows(doc), accuracy.relative_accuracy, limit=50)
    if sq.done_at is None or problems:  # say why: the run's own log (its stderr)
        sys.stderr.write(sq.log.read_text()[-20000:])
    arrivals = windowed_arrivals(placed, kafka, topic, windowed_types(made.pipeline))
    lengths = [d.length_s for d in accuracy.definitions]
    lat, missing = latencies_ms(arrivals, written_ms(cassandra), lengths)
    latency = summarize(lat, missing)
    longest = max(lengths)
    p99s = [v.get("p99_s") for v in latency.values()]
    drain_s = sq.done_at - production.done_at if sq.done_at is not None else None
    idle_timeout = accuracy.idle_timeout_s
    result: dict[str, Any] = {
        "mode": f"paced at {o.rate_limit:g} events/s" if o.paced else "backlog (flat-out producer)",
        "hosting": "inline" if o.inline else "process",
        "serializer": o.serializer
        or f"{json.loads((ROOT / 'config.json').read_text()).get('serializer', 'json')} (config.json)",
        "spout_batch_size": o.spout_batch_size or "config.json",
        "kafka_fetch_min_bytes": o.fetch_min_bytes or "default",
        "raw_event_archive": o.archive,
        "allowed_lateness_s": accuracy.allowed_lateness_ms / 1000,
        "idle_timeout_s": idle_timeout,
        "events": events,
        "simulate": {"devices": o.devices, "event_rate": o.event_rate, "duration_s": o.duration},
        "produce": {
            "seconds": round(produce_s, 2),
            "events_per_s": round(events / produce_s, 1) if produce_s else None,
            "paced_achieved_per_s": round(pace.achieved_per_s, 1) if pace.achieved_per_s else None,
            "paced_max_behind_s": round(pace.max_behind_s, 3) if o.paced else None,
            "labels": dict(report.labels),
        },
        "squall": cpu_report(sq, events, o.paced),
        "seconds_last_produced_to_all_committed": round(drain_s, 2) if drain_s is not None else None,
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "exact": not problems,
        "problems": problems[:10],
        "windows": len(rows),
        # rows an idle timeout stored early carry a draft until their final emit clears it (docs/pipeline.md)
        "window_drafts": draft_summary(rows.values()),
        "latency_kafka_to_store": latency,
        "latency_requirement": f"p99 <= longest window ({longest} s) + 2 s",
        # below two longest windows of stream, the longest windows close by the idle close at the end, early
        "latency_steady_state": o.paced and o.duration >= 2 * longest,
        # a backlog's latency is mostly its wait in Kafka: the requirement is about a sustained rate
        "latency_requirement_met": (bool(p99s) and all(p is not None and p <= longest + 2 for p in p99s))
        if o.paced
        else None,
        "components": {
            c["name"]: {k: c[k] for k in ("tasks", "executed", "capacity", "latency_ms")}
            for c in summary.get("components", [])
        },
        "machine_busy_cores": round(machine_busy, 2),
        "dead_letters_by_reason": dlq_reasons(kafka),
        "dead_letters_expected": {"late": truth.late, "invalid (any reason)": truth.dead_lettered},
        "task_errors": [e.get("message", e) for e in summary.get("errors", [])][:20],
        "limits": LIMITS,
    }
    if o.paced:
        # kept up: the producer held the rate, and once it stopped the pipeline needed no more than closing its
        # last windows (the idle timeout, plus ticks and the write) to commit everything
        held = pace.achieved_per_s is not None and pace.achieved_per_s >= 0.95 * o.rate_limit
        drained = drain_s is not None and drain_s <= idle_timeout + 10
        result["kept_up"] = held and drained
        result["kept_up_producer"] = held  # False: the producer could not send at the rate (cores saturated)
        result["kept_up_pipeline"] = drained  # False: squall had a backlog left when the producer stopped
        result["kept_up_rule"] = (
            "producer achieved >= 95% of --rate-limit, and every offset committed within idle_timeout_s + 10 s "
            "of the last message"
        )
    if qx is not None:
        result["quix"] = quix_report(o, qx, kafka, quix_out, placed, events, qx.log.read_text())
        if quix_produce_s is not None:
            result["quix"]["copy_produced_in_s"] = round(quix_produce_s, 2)
        result["squall_vs_quix"] = ratios(result["squall"], result["quix"])
    return result


def windowed_types(pipeline: dict[str, Any]) -> set[str]:
    """Event types routed to the `telemetry` stream (the one aggregate windows)."""
    types: set[str] = set()
    for rule in pipeline["routing"]["rules"]:
        if rule.get("stream") == "telemetry":
            t = rule.get("type", [])
            types |= {t} if isinstance(t, str) else set(t)
    return types


def windowed_arrivals(
    placed: list[Produced], kafka: KafkaSettings, topic: str, types: set[str]
) -> list[Arrival]:
    """The aggregated events ("ok": valid, in time, first copy; of a windowed type) with their record times."""
    record_ms = {(r.partition, r.offset): r.timestamp for r in admin.read_topic(kafka, topic, idle_ms=10_000)}
    out = []
    for m in placed:
        if m.label != "ok":
            continue
        event = json.loads(m.value)
        if event["type"] not in types:
            continue
        out.append(
            Arrival(
                event["tenant"],
                event["device_id"],
                event["ts"],
                tuple(event["metrics"]),
                record_ms[(m.partition, m.offset)],
            )
        )
    return out


def written_ms(cassandra: CassandraSettings) -> dict[RowKey, int]:
    """WRITETIME (ms) of every metric_windows row's `count`."""
    cluster, session = connect(cassandra, cassandra.keyspace)
    try:
        query = (
            "SELECT tenant, device_id, metric, window_s, window_start, WRITETIME(count) FROM metric_windows"
        )
        return {
            (r[0], r[1], r[2], r[3], datetime_to_ms(r[4])): int(r[5]) // 1000
            for r in session.execute(query, timeout=120)
        }
    finally:
        cluster.shutdown()


def quix_report(
    o: Options,
    qx: Consumer,
    kafka: KafkaSettings,
    out_topic: str,
    placed: list[Produced],
    events: int,
    log_tail: str,
) -> dict[str, Any]:
    from bench.quix_job import GRACE_MS, WINDOW_MS, telemetry

    emitted = {}
    for r in admin.read_topic(kafka, out_topic, idle_ms=10_000):
        value = json.loads(r.value)
        emitted[(r.key, value["start"])] = value
    check = check_quix_windows(placed, emitted, telemetry, WINDOW_MS, GRACE_MS)
    check["output_topic_records"] = sum(
        admin.end_offsets(kafka, out_topic).values()
    )  # read back: windows_emitted
    report = cpu_report(qx, events, o.paced)
    report |= {
        "job": "bench/quix_job.py: JSON telemetry, 10 s tumbling windows per device (5 s grace), "
        "count/sum/min/max of temperature, humidity, battery, final windows to a topic",
        **check,
        "log_tail": log_tail[-1500:] if not check["output_plausible"] or qx.done_at is None else "",
    }
    if o.paced:
        report["note"] = "ran beside squall on the same topic at the same time (its own consumer group)"
    else:
        report["note"] = "ran after squall, alone, on a copy of the topic produced the same way"
    return report


def check_quix_windows(
    placed: list[Produced],
    emitted: dict[tuple[bytes, int], dict[str, Any]],
    telemetry: Callable[[bytes], dict[str, Any] | None],
    window_ms: int,
    grace_ms: int,
) -> dict[str, Any]:
    """The Quix job's windows against the messages: each emitted window must count exactly the messages its job
    keeps (duplicates included, late ones past the grace not), and a window may be missing only if it was still
    open when the stream stopped (its end + grace after its device's newest event: no idle close in Quix)."""
    expected: Counter[tuple[bytes, int]] = Counter()
    newest: dict[bytes, int] = {}
    for m in placed:
        kept = telemetry(m.value)
        if kept is None or m.label == "late":
            continue
        expected[(m.key, kept["ts"] - kept["ts"] % window_ms)] += 1
        newest[m.key] = max(newest.get(m.key, 0), kept["ts"])
    wrong = [k for k, v in emitted.items() if v.get("temperature_count") != expected.get(k)]
    missing = [k for k in expected if k not in emitted]
    closed_but_missing = [k for k in missing if k[1] + window_ms + grace_ms <= newest[k[0]]]
    return {
        "windows_emitted": len(emitted),
        "windows_in_the_messages": len(expected),
        "windows_open_at_the_end": len(missing) - len(closed_but_missing),
        "windows_with_a_wrong_count": len(wrong),
        "windows_closed_but_missing": len(closed_but_missing),
        "messages_counted": sum(int(v.get("temperature_count", 0)) for v in emitted.values()),
        "output_plausible": bool(emitted) and not wrong and not closed_but_missing,
    }


def ratios(sq: dict[str, Any], qx: dict[str, Any]) -> dict[str, Any]:
    def ratio(a: Any, b: Any) -> float | None:
        return round(a / b, 2) if a and b else None

    return {
        "cpu_per_message_squall_over_quix": ratio(
            sq["cpu_us_per_event_squall_total"], qx["cpu_us_per_event_quix_total"]
        ),
        "cpu_per_message_squall_over_quix_gross": ratio(
            sq["cpu_us_per_event_squall_total_gross"], qx["cpu_us_per_event_quix_total_gross"]
        ),
        "messages_per_s_squall_over_quix": ratio(sq["messages_per_s"], qx["messages_per_s"]),
        "note": "squall: runner + spout + every bolt; Quix: its one process. Kafka and Cassandra apart. The jobs "
        "differ: squall validates, de-duplicates, dead-letters, alerts, keeps 10 s and 60 s windows with "
        "percentiles and writes windows (and each raw event with --archive) to Cassandra; the Quix job keeps 10 s windows of "
        "three metrics and produces them to Kafka",
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
    d = Options()
    parser.add_argument("--devices", type=int, default=d.devices)
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=d.rate_limit,
        help="events/s produced in real time, event times following the clock (0: a backlog, flat out)",
    )
    parser.add_argument(
        "--rate", type=float, default=d.rate, help="events/s of event time of a backlog (--rate-limit 0)"
    )
    parser.add_argument("--duration", type=float, default=d.duration, help="seconds of event time")
    parser.add_argument("--idle", type=float, default=d.idle_s, help="seconds measuring the jobs idle")
    parser.add_argument("--no-quix", action="store_true", help="skip Quix Streams (needs make bench-deps)")
    parser.add_argument(
        "--inline", action="store_true", help="host components in-process (squall run --inline)"
    )
    parser.add_argument("--timeout", type=float, default=d.timeout_s, help="give up after this many seconds")
    parser.add_argument("--parts", action="store_true", help="also measure Kafka and Cassandra alone")
    parser.add_argument(
        "--idle-timeout", type=float, default=None, help="pipeline.windows.idle_timeout_s for this run"
    )
    parser.add_argument(
        "--allowed-lateness",
        type=float,
        default=None,
        help="pipeline.windows.allowed_lateness_s for this run",
    )
    parser.add_argument(
        "--serializer",
        choices=("json", "msgpack"),
        default=None,
        help="multilang serializer (default: config)",
    )
    parser.add_argument("--spout-batch-size", type=int, default=None, help="pipeline.spout.batch_size")
    parser.add_argument(
        "--fetch-min-bytes",
        type=int,
        default=None,
        help="pipeline.kafka.fetch_min_bytes (1: the broker answers a fetch at once, as before it was a setting)",
    )
    parser.add_argument(
        "--archive",
        action="store_true",
        help="also route every valid event to `archive` (one raw-event row each, opt-in): what the archive costs",
    )
    ns = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if ns.rate_limit < 0:
        raise SystemExit(
            f"--rate-limit {ns.rate_limit:g} is negative: give events/s (> 0), or 0 for a backlog"
        )
    options = Options(
        devices=ns.devices,
        rate=ns.rate,
        duration=ns.duration,
        rate_limit=ns.rate_limit,
        inline=ns.inline,
        timeout_s=ns.timeout,
        idle_s=ns.idle,
        quix=not ns.no_quix,
        idle_timeout_s=ns.idle_timeout,
        allowed_lateness_s=ns.allowed_lateness,
        serializer=ns.serializer,
        spout_batch_size=ns.spout_batch_size,
        archive=ns.archive,
        fetch_min_bytes=ns.fetch_min_bytes,
    )
    result = run_bench(options)
    if ns.parts:
        result["parts_alone"] = bench_parts()
    path = write_result("end_to_end", result)
    print(json.dumps(brief(result), indent=2))
    print(f"-> {path}")


def brief(result: dict[str, Any]) -> dict[str, Any]:
    """The result without its progress samples (printed; the file keeps them)."""
    out = {k: v for k, v in result.items() if k not in ("squall", "quix")}
    for job in ("squall", "quix"):
        if job in result:
            out[job] = {k: v for k, v in result[job].items() if k != "progress_samples"}
    return out


if __name__ == "__main__":
    main()
