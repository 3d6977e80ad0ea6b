"""Faults lose nothing: the reference pipeline on real Kafka and Cassandra (`squall run iot_pipeline -e dev`) with a
fault injected mid-stream, ending with metric_windows equal to the independent truth (squall.pipeline.truth),
every malformed event in the dead-letter topic with its reason, every late event dead-lettered as late, and the
committed offsets at the end of every partition.

1. Cassandra stopped for 30 s, then started again;
2. the Kafka broker stopped and started again;
3. `squall run` itself SIGKILLed, then started again;
4. 20 random SIGKILLs of component task processes in one `squall run`.

4 is an expected failure for now: it sometimes loses events (an open bug; docs/pipeline.md, Faults).

The faults stop and start services, so these tests run their own Kafka and Cassandra (free ports, a state folder
of their own: squall.testing.private_services_context), started once for the module through squall.infra.api and
stopped by pid at its end; the shared services are never touched. Each scenario has its own topics, consumer
group and keyspace. Half the events are produced before the run starts and the rest while the fault is on, so the
pipeline is mid-stream when it strikes. Timings (fault, recovery, completion) are printed (`pytest -s`).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest

from squall.cassandra.store import read_window_rows
from squall.errors import InfraError
from squall.infra import api, process
from squall.infra.services import Context
from squall.kafka import admin
from squall.kafka.dead_letters import decode_dead_letter
from squall.kafka.simulate import open_producer, produce
from squall.pipeline.simulator import Produced, SimulatorSettings, generate
from squall.pipeline.truth import Truth, explain_rows, truth_for_settings
from squall.testing import private_services_context, restore_default_sigint
from tests.integration.pipeline_project import SQUALL, E2EProject, make_project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

PARTITIONS = 4
# 12 devices x 100 events/s of event time x 40 s: 4,000 messages (bad, duplicate, late and alarm ones included).
SIMULATION = {"devices": 12, "rate": 100.0, "duration_s": 40.0, "bad_ratio": 0.02, "late_ratio": 0.02}
PIPELINE = {"windows": {"definitions": [{"type": "tumbling", "length_s": 10}]}}
DONE_TIMEOUT_S = 300.0  # for every offset to be committed after a fault
CASSANDRA_OUTAGE_S = 30.0
KAFKA_OUTAGE_S = 10.0
TASK_KILLS = 20


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    """Kafka and Cassandra of this module's own, stopped (by pid) when the module ends."""
    ctx = private_services_context(tmp_path_factory.mktemp("fault-services"))
    try:
        try:
            api.ensure_up(["kafka", "cassandra"], ctx)
        except InfraError as exc:
            pytest.fail(f"could not start the fault tests' own Kafka and Cassandra:\n{exc}", pytrace=False)
        yield ctx
    finally:
        api.down(["kafka", "cassandra"], ctx)


@dataclass
class Scenario:
    """One fault run: its project (own topics, group and keyspace), the messages to produce and their truth."""

    name: str
    project: E2EProject
    messages: list[Produced]
    truth: Truth
    relative_accuracy: float
    produced: int = 0
    runs: list[subprocess.Popen[str]] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)
    t0: float = field(default_factory=time.monotonic)

    @property
    def total(self) -> int:
        return len(self.messages)

    def mark(self, event: str) -> float:
        self.timings[event] = round(time.monotonic() - self.t0, 1)
        return self.timings[event]

    def produce(self, fraction: float) -> None:
        """Produce the next messages, up to `fraction` of all of them (the simulator's offsets must hold)."""
        upto = round(self.total * fraction)
        k = self.project.kafka
        producer = open_producer(k)
        try:
            report = produce(self.messages[self.produced : upto], k.events_topic, producer, timeout_s=120)
        finally:
            producer.close(timeout=30)
        assert report.moved == 0, f"{report.moved} messages landed at other offsets than the simulator's"
        self.produced = upto

    def start_run(self) -> subprocess.Popen[str]:
        """`squall run iot_pipeline -e dev --json` in the background (stdout and stderr to files)."""
        n = len(self.runs)
        out = (self.project.root / f"run{n}.json").open("w")
        err = (self.project.root / f"run{n}.log").open("w")
        proc = subprocess.Popen(
            [*SQUALL, "run", "iot_pipeline", "-e", "dev", "--json", "--drain", "10"],
            cwd=self.project.root,
            env=self.project.env,
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,
            preexec_fn=restore_default_sigint,
        )
        out.close()
        err.close()
        self.runs.append(proc)
        return proc

    def committed(self) -> int:
        k = self.project.kafka
        return sum(v or 0 for v in admin.committed_offsets(k, k.events_topic).values())

    def wait_committed(self, at_least: int, proc: subprocess.Popen[str], timeout_s: float) -> int:
        """Poll the run's committed offsets (an external process's progress) until they sum to `at_least`."""
        deadline = time.monotonic() + timeout_s
        committed = self.committed()
        while committed < at_least:
            assert proc.poll() is None, f"squall run exited ({proc.returncode}):\n{self.run_log(proc)}"
            assert time.monotonic() < deadline, (
                f"{committed} of {at_least} offsets committed after {timeout_s:.0f}s:\n{self.run_log(proc)}"
            )
            time.sleep(0.5)
            committed = self.committed()
        return committed

    def run_log(self, proc: subprocess.Popen[str]) -> str:
        return (self.project.root / f"run{self.runs.index(proc)}.log").read_text()[-6000:]

    def stop_run(self, proc: subprocess.Popen[str]) -> dict[str, Any]:
        """SIGINT (the run drains and prints its summary); its JSON summary."""
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
            pytest.fail(f"squall run did not stop within 180 s of SIGINT:\n{self.run_log(proc)}")
        text = (self.project.root / f"run{self.runs.index(proc)}.json").read_text()
        assert "{" in text, f"squall run printed no summary:\n{text[-2000:]}\n{self.run_log(proc)}"
        summary: dict[str, Any] = json.loads(text[text.index("{") :])
        return summary

    def kill_leftovers(self) -> None:
        for proc in self.runs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            for pid in task_processes(proc.pid):  # orphans of a killed runner, if any
                process.terminate({pid}, grace=1.0)


def task_processes(runner_pid: int) -> dict[int, str]:
    """The component task processes `squall run` started (its children): pid -> command line."""
    out = {}
    for info in process.all_processes():
        if info.ppid == runner_pid:
            try:
                cmdline = Path(f"/proc/{info.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            out[info.pid] = cmdline.strip()
    return out


@pytest.fixture
def scenario(services: Context, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Scenario]:
    """A project on the module's own services, its schema and topics, and the messages with their truth."""
    api.ensure_up(["kafka", "cassandra"], services)  # no-op unless an earlier scenario left one down
    run = uuid.uuid4().hex[:8]
    project = make_project(
        tmp_path / "project",
        run,
        services.endpoints.address("kafka"),
        services.endpoints.address("cassandra"),
        prefix="faults",
        pipeline=PIPELINE,
    )
    project.squall("db", "init", "-e", "dev", timeout_s=300)
    k = project.kafka
    admin.ensure_topics(k, [k.events_topic], PARTITIONS)
    admin.ensure_topics(k, [k.dlq_topic, k.alerts_topic])
    sim = SimulatorSettings.from_settings(
        project.pipeline, topic=k.events_topic, partitions=PARTITIONS, seed=23, **SIMULATION
    )
    messages = list(generate(sim))
    truth = truth_for_settings(messages, project.pipeline)
    accuracy = float(project.pipeline["windows"].get("sketch_relative_accuracy", 0.01))
    made = Scenario(request.node.name, project, messages, truth, accuracy)
    try:
        yield made
    finally:
        made.kill_leftovers()
        print(f"\n{made.name}: {made.timings}")
        if api.is_healthy("kafka", services) and api.is_healthy("cassandra", services):
            made.project.drop()


def assert_nothing_lost(s: Scenario) -> None:
    """metric_windows equals the truth; every malformed event is dead-lettered with its reason and every late
    event as late; every offset is committed."""
    k = s.project.kafka
    rows = read_window_rows(s.project.cassandra)
    dead = [decode_dead_letter(r.value) for r in admin.read_topic(k, k.dlq_topic)]
    assert s.truth.rows
    diff = explain_rows(rows, s.truth.rows, s.relative_accuracy)
    reasons = Counter(d.reason for d in dead)
    assert diff == "", (
        f"{diff}\ndead letters by reason: {dict(reasons)} (malformed expected: {s.truth.dead_lettered})"
        f"\n{wrongly_late(dead, s.truth)}"
    )
    malformed = {
        (d.source_topic, d.source_partition, d.source_offset): d.reason for d in dead if d.reason != "late"
    }
    assert s.truth.dead_lettered > 0 and malformed == s.truth.bad_reasons
    late = {(d.source_topic, d.source_partition, d.source_offset) for d in dead if d.reason == "late"}
    assert s.truth.late > 0 and len(late) == s.truth.late
    ends = admin.end_offsets(k, k.events_topic)
    assert sum(ends.values()) == s.total
    committed = admin.committed_offsets(k, k.events_topic)
    assert {p: committed.get(p) or 0 for p in ends} == ends  # an empty partition has no committed offset


def wrongly_late(dead: list[Any], truth: Truth) -> str:
    """The events dead-lettered as late that the truth counts in a window, per device (event time in s), for a
    failure message: on-time events a restarted task took for late would show here."""
    by_device: dict[str, list[float]] = {}
    for d in dead:
        if d.reason != "late":
            continue
        try:
            event = (
                json.loads(d.payload)
                if d.payload[:1] in b"{ \t\r\n"
                else msgpack.unpackb(d.payload, raw=False)
            )
        except Exception:  # noqa: BLE001 - a late letter always holds a valid event; skip anything else
            continue
        if (event.get("tenant"), event.get("event_id")) not in truth.late_ids:
            by_device.setdefault(f"{event.get('tenant')}/{event.get('device_id')}", []).append(
                event["ts"] / 1000
            )
    shown = {device: sorted(set(ts))[:20] for device, ts in sorted(by_device.items())}
    return f"late letters of on-time events: {sum(len(v) for v in by_device.values())} {shown}"


def run_with_fault(s: Scenario, fault: Callable[[subprocess.Popen[str]], subprocess.Popen[str]]) -> None:
    """Half the messages, a run, the fault once a tenth of them are committed (the rest is produced during the
    fault; `fault` returns the run to wait for), then wait for every offset to be committed and stop the run."""
    s.produce(0.5)
    proc = s.start_run()
    s.mark("run started")
    s.wait_committed(s.total // 10, proc, timeout_s=300)
    s.mark("fault")
    proc = fault(proc)
    s.mark("fault over")
    s.wait_committed(s.total, proc, timeout_s=DONE_TIMEOUT_S)
    s.mark("all committed")
    summary = s.stop_run(proc)
    s.timings["recovery_s"] = round(s.timings["all committed"] - s.timings["fault over"], 1)
    assert summary["components"], summary
    # What the last run went through (printed with the timings): tuples failed per component, task deaths.
    s.timings["failed_tuples"] = {c["name"]: c["failed"] for c in summary["components"] if c["failed"]}
    s.timings["task_errors"] = len(summary.get("errors") or [])
    assert_nothing_lost(s)


def test_cassandra_stopped_for_30s_loses_nothing(scenario: Scenario, services: Context) -> None:
    def outage(proc: subprocess.Popen[str]) -> subprocess.Popen[str]:
        api.down(["cassandra"], services)
        try:
            stopped = time.monotonic()
            scenario.produce(1.0)
            time.sleep(max(0.0, CASSANDRA_OUTAGE_S - (time.monotonic() - stopped)))  # the outage lasts 30 s
            assert proc.poll() is None, f"squall run exited during the outage:\n{scenario.run_log(proc)}"
            assert scenario.committed() < scenario.total, "the run finished before the outage mattered"
        finally:
            scenario.mark("cassandra starting")
            api.ensure_up(["cassandra"], services)
        return proc

    run_with_fault(scenario, outage)


def test_kafka_broker_restarted_loses_nothing(scenario: Scenario, services: Context) -> None:
    def restart(proc: subprocess.Popen[str]) -> subprocess.Popen[str]:
        api.down(["kafka"], services)
        try:
            time.sleep(KAFKA_OUTAGE_S)  # the broker stays down this long
            assert proc.poll() is None, f"squall run exited while Kafka was down:\n{scenario.run_log(proc)}"
        finally:
            scenario.mark("kafka starting")
            api.ensure_up(["kafka"], services)
        scenario.produce(1.0)
        return proc

    run_with_fault(scenario, restart)


def test_squall_run_sigkilled_and_started_again_loses_nothing(scenario: Scenario) -> None:
    def kill_runner(proc: subprocess.Popen[str]) -> subprocess.Popen[str]:
        tasks = task_processes(proc.pid)
        assert tasks, "squall run has no task processes"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert scenario.committed() < scenario.total // 2, "the run finished before the kill mattered"
        deadline = time.monotonic() + 30
        while (
            left := [p for p in tasks if process.proc_info(p) is not None]
        ) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"task processes outlived their killed runner by 30 s: {left}"
        scenario.produce(1.0)
        return scenario.start_run()

    run_with_fault(scenario, kill_runner)


def test_twenty_random_task_kills_lose_nothing(scenario: Scenario) -> None:
    rng = random.Random(5)
    killed: list[str] = []

    def kill_tasks(proc: subprocess.Popen[str]) -> subprocess.Popen[str]:
        while len(killed) < TASK_KILLS:
            assert proc.poll() is None, f"squall run exited:\n{scenario.run_log(proc)}"
            tasks = task_processes(proc.pid)
            if not tasks:  # all restarting
                time.sleep(0.2)
                continue
            pid = rng.choice(sorted(tasks))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.append(tasks[pid].split()[-1])
            if len(killed) == TASK_KILLS // 2:
                scenario.produce(1.0)
            time.sleep(rng.uniform(0.5, 2.0))  # kills spread over the stream
        assert scenario.committed() < scenario.total, "the run finished before the kills mattered"
        return proc

    run_with_fault(scenario, kill_tasks)
    print(f"killed: {sorted(killed)}")
    assert len(killed) == TASK_KILLS
