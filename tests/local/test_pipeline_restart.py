"""Exact results across a restart, as after a SIGKILL of a Storm worker: the first run stops abruptly mid-stream
(nothing drained, nothing closed); the second run is a fresh topology whose spout resumes at the committed
offsets (the contiguous done prefix per partition, committed every few hundred acks like the Kafka source's
commit interval) over the same SQLite store. Windows that closed and were stored before the stop have events on
both sides of the committed offset; the fresh aggregate must not rebuild them from the replayed tail."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from streamparse import Topology

from bolts.aggregate import AggregateBolt
from bolts.alerts import AlertsBolt
from bolts.dlq import DeadLetterBolt
from bolts.parse import ParseBolt
from bolts.persist import PersistBolt
from bolts.route import RouteBolt
from spouts.events import EventSpout
from squall.config import load_project, pipeline_settings
from squall.pipeline.events import decode_raw
from squall.pipeline.report import summarize, window_rows
from squall.pipeline.simulated_source import SimulatedSource
from squall.pipeline.simulator import Produced, SimulatorSettings, generate
from squall.pipeline.sqlite_store import SqliteStore
from squall.pipeline.truth import RowKey, compare_rows, telemetry_filter, truth_for_settings
from squall.testing import run_topology
from squall.windowing.assigner import window_ranges
from squall.windowing.definitions import parse_window_settings
from tests.local.test_pipeline_local import count, make_project, stop_when_stored
from topologies.iot_pipeline import BY_DEVICE, BY_PARTITION, SHUFFLE, TICKS

COMMIT_EVERY = 300  # acks between commits


def offsets_file(settings: Mapping[str, Any]) -> Path:
    return Path(settings["sqlite"]["path"]).with_name("committed.json")


class CommittingSource(SimulatedSource):
    """The simulator with the Kafka source's resume semantics: per partition only the contiguous done prefix
    is committed (to a file next to the store), and a new instance starts at the committed offsets."""

    def __init__(self, settings: Mapping[str, Any], task_index: int = 0, num_tasks: int = 1) -> None:
        super().__init__(settings, task_index, num_tasks)
        self.path = offsets_file(settings)
        saved = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.committed = {int(p): int(o) for p, o in saved.items()}
        self._next = dict(self.committed)  # partition -> first offset not done
        self._done: dict[int, set[int]] = defaultdict(set)
        self._acks = 0
        self._stream = (
            m
            for m in generate(self.sim)
            if m.partition % num_tasks == task_index and m.offset >= self.committed.get(m.partition, 0)
        )

    polled: list[tuple[int, int]] = []  # (partition, offset) of every poll (inline hosting: same process)

    def poll(self) -> Any:
        polled = super().poll()
        if polled is not None:
            CommittingSource.polled.append((polled[3], polled[4]))
        return polled

    def ack(self, msg_id: Any) -> None:
        super().ack(msg_id)
        _, partition, offset = str(msg_id).rsplit(":", 2)
        p = int(partition)
        done = self._done[p]
        done.add(int(offset))
        nxt = self._next.get(p, 0)
        while nxt in done:
            done.discard(nxt)
            nxt += 1
        self._next[p] = nxt
        self._acks += 1
        if self._acks % COMMIT_EVERY == 0:
            self.committed = dict(self._next)
            tmp = self.path.with_suffix(".part")
            tmp.write_text(json.dumps(self.committed))
            tmp.replace(self.path)


class CommittingSpout(EventSpout):
    def initialize(self, stormconf: dict[str, Any], context: dict[str, Any]) -> None:
        super().initialize(stormconf, context)
        self.source = CommittingSource(stormconf["squall.pipeline"])


class RestartablePipeline(Topology):  # topologies/iot_pipeline.py's wiring, with the committing spout
    events = CommittingSpout.spec(par=1)
    parse = ParseBolt.spec(inputs={events: BY_PARTITION}, par=2)
    route = RouteBolt.spec(inputs={parse: BY_DEVICE}, par=1)
    aggregate = AggregateBolt.spec(inputs={route["telemetry"]: BY_DEVICE}, par=2, config=TICKS)
    alerts = AlertsBolt.spec(
        inputs={route["telemetry"]: BY_DEVICE, route["alarms"]: BY_DEVICE}, par=1, config=TICKS
    )
    dlq = DeadLetterBolt.spec(inputs=[parse["invalid"], aggregate["late"]], par=1, config=TICKS)
    persist = PersistBolt.spec(
        inputs={aggregate: BY_DEVICE, alerts: SHUFFLE, dlq: SHUFFLE, route["archive"]: SHUFFLE},
        par=2,
        config=TICKS,
    )


def straddling(
    messages: list[Produced], settings: Mapping[str, Any], stored: set[RowKey], committed: Mapping[int, int]
) -> set[RowKey]:
    """Stored window rows with counted events on both sides of the committed offset of their partition: the
    rows a fresh instance would rebuild partially from the replayed tail."""
    windows = parse_window_settings(settings.get("windows"))
    windowed = telemetry_filter(settings.get("routing"))
    sides: dict[RowKey, set[bool]] = defaultdict(set)
    for m in messages:
        if m.label != "ok":
            continue
        event = decode_raw(m.value)
        if not windowed(event):
            continue
        replayed = m.offset >= committed.get(m.partition, 0)
        for definition in windows.definitions:
            for start, _ in window_ranges(int(event["ts"]), definition):
                for metric in event["metrics"]:
                    row = (event["tenant"], event["device_id"], metric, definition.length_s, start)
                    sides[row].add(replayed)
    return {row for row, seen in sides.items() if len(seen) == 2 and row in stored}


@pytest.mark.timeout(300)
def test_results_stay_exact_when_a_fresh_topology_resumes_at_the_committed_offsets(tmp_path: Path) -> None:
    # Late events too: after a restart a device's watermark is rebuilt from the replayed tail only, so an event
    # that was late before the kill could pass for on time after it; the fresh aggregate keeps the previous
    # instance's late decisions (dead_letters rows, read while it recovers).
    project = make_project(tmp_path, devices=6, rate=60, duration_s=90, late_ratio=0.05)
    config = json.loads((project / "config.json").read_text())
    config["pipeline"]["windows"]["definitions"] = [
        {"type": "tumbling", "length_s": 10},
        {"type": "tumbling", "length_s": 30},
    ]
    (project / "config.json").write_text(json.dumps(config))
    settings = pipeline_settings(load_project(project), "local")
    messages = list(generate(SimulatorSettings.from_settings(settings)))
    truth = truth_for_settings(messages, settings)
    db_path = Path(settings["sqlite"]["path"])
    committed_path = offsets_file(settings)

    def half_way(_cluster: Any) -> bool:
        return (
            committed_path.exists()
            and count(db_path, "SELECT COUNT(*) FROM metric_windows") >= len(truth.rows) // 2
        )

    first = run_topology(
        RestartablePipeline,
        project=project,
        env="local",
        inline=True,
        until_idle=None,
        duration=120,
        conf={"topology.max.spout.pending": 30000},
        stop_when=half_way,
        drain_secs=0.0,  # a kill: nothing in flight completes
    )
    assert not first.errors, first.errors
    assert first.reason == "condition"
    committed = {int(p): int(o) for p, o in json.loads(committed_path.read_text()).items()}
    stored_before = window_rows(db_path)
    assert len(stored_before) < len(truth.rows)  # stopped mid-stream
    at_risk = straddling(messages, settings, set(stored_before), committed)
    assert at_risk, "no stored window straddles the committed offset: the run does not exercise the restart"
    with sqlite3.connect(db_path) as db:
        late_replayed = [
            (p, o)
            for p, o in db.execute(
                "SELECT source_partition, source_offset FROM dead_letters WHERE reason = 'late'"
            )
            if o >= committed.get(p, 0)
        ]
    assert late_replayed, "no late decision of the first run is replayed: the run does not exercise it"

    CommittingSource.polled = []
    second = run_topology(
        RestartablePipeline,
        project=project,
        env="local",
        inline=True,
        until_idle=3.0,
        duration=150,
        conf={"topology.max.spout.pending": 30000},
        stop_when=stop_when_stored(db_path, truth),
    )
    assert not second.errors, second.errors
    assert second.reason in ("condition", "idle")
    resumed = CommittingSource.polled  # it resumed at the committed offsets, not at 0
    assert resumed and all(offset >= committed.get(p, 0) for p, offset in resumed)
    assert len({(p, o) for p, o in resumed}) < len(messages)
    stored = window_rows(db_path)
    assert {row: stored[row] for row in at_risk} == {row: stored_before[row] for row in at_risk}
    problems = compare_rows(stored, truth.rows)
    assert problems == [], "\n".join(problems)
    reasons = summarize(db_path)["dead_letters_by_reason"]
    assert reasons.pop("late", 0) == truth.late > 0 and sum(reasons.values()) == truth.dead_lettered


def test_sqlite_store_has_window(tmp_path: Path) -> None:
    from squall.pipeline.model import WindowResult

    store = SqliteStore({"sqlite": {"path": str(tmp_path / "s.db")}})
    row = WindowResult("acme", "dev-1", "t", 10, 1_000, 11_000, 2, 3.0, 1.0, 2.0, 1.5, 1.0, 2.0)
    assert not store.has_window("acme", "dev-1", "t", 10, 1_000)
    store.write("window", row).result(timeout=5)
    assert store.has_window("acme", "dev-1", "t", 10, 1_000)
    assert not store.has_window("acme", "dev-1", "t", 60, 1_000)  # every key column is matched
    assert not store.has_window("acme", "dev-1", "h", 10, 1_000)
    assert not store.has_window("acme", "dev-2", "t", 10, 1_000)
    store.write(
        "window",
        WindowResult("acme", "dev-1", "t", 10, 86_400_000, 86_410_000, 1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    )
    assert set(store.window_starts_on_day("acme", "dev-1", "t", 10, 0)) == {1_000}  # day 0 only
    assert set(store.window_starts_on_day("acme", "dev-1", "t", 10, 1)) == {86_400_000}
    assert store.window_starts_on_day("acme", "dev-1", "t", 60, 0) == {}
    store.close()
