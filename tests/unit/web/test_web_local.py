"""A local run's figures in Storm UI's JSON shapes (pure formatting of a snapshot)."""

from __future__ import annotations

import pytest

from squall.runner.metrics import ComponentStats, TaskMetrics
from squall.web.local import (
    Snapshot,
    TaskFigures,
    format_local_component,
    format_local_topologies,
    format_local_topology,
)


def snapshot(hosting: str = "inline") -> Snapshot:
    return Snapshot(
        name="iot",
        status="ACTIVE",
        uptime_secs=10.0,
        hosting=hosting,
        components=(
            ComponentStats(
                "events", "spout", 1, hosting, emitted=100, transferred=100, acked=90, latency_ms=5.0
            ),
            ComponentStats(
                "parse",
                "bolt",
                2,
                hosting,
                emitted=80,
                executed=95,
                acked=95,
                latency_ms=1.5,
                execute_ms=0.5,
                capacity=0.9,
            ),
        ),
        tasks={
            "events": (TaskFigures(2, 11, TaskMetrics(emitted=100, executed=90, latency_sum=0.45)),),
            "parse": (
                TaskFigures(
                    0,
                    12,
                    TaskMetrics(
                        executed=50,
                        acked=50,
                        latency_sum=0.1,
                        exec_ns=25_000_000,
                        exec_count=50,
                        exec_measured=True,
                    ),
                ),
                TaskFigures(
                    1,
                    13,
                    TaskMetrics(
                        executed=45,
                        acked=45,
                        latency_sum=0.09,
                        exec_ns=20_000_000,
                        exec_count=45,
                        exec_measured=True,
                    ),
                ),
            ),
        },
        last_errors={"parse": "ValueError: bad"},
    )


def test_topology_json_has_the_fields_the_pages_read() -> None:
    page = format_local_topology(snapshot())
    assert (page["id"], page["name"], page["status"], page["tasksTotal"]) == ("iot-local", "iot", "ACTIVE", 3)
    [spout] = page["spouts"]
    assert (spout["spoutId"], spout["emitted"], spout["completeLatency"]) == ("events", 100, "5.000")
    [bolt] = page["bolts"]
    assert (bolt["boltId"], bolt["executed"], bolt["capacity"], bolt["processLatency"]) == (
        "parse",
        95,
        "0.900",
        "1.500",
    )
    assert bolt["lastError"] == "ValueError: bad"
    assert format_local_topologies(snapshot())["topologies"][0]["id"] == "iot-local"


def test_component_json_has_an_executor_per_task() -> None:
    comp = format_local_component(snapshot(), "parse")
    assert comp["componentType"] == "bolt" and comp["topologyId"] == "iot-local"
    rows = comp["executorStats"]
    assert [(r["id"], r["host"], r["pid"], r["executed"]) for r in rows] == [
        ("[0-0]", "localhost", 12, 50),
        ("[1-1]", "localhost", 13, 45),
    ]
    assert rows[0]["processLatency"] == "2.000" and rows[0]["executeLatency"] == "0.500"
    assert rows[0]["capacity"] == "0.003"  # 25 ms busy in 10 s


def test_a_task_whose_execute_time_was_not_measured_does_not_claim_one() -> None:
    snap = snapshot("process")
    for figures in snap.tasks["parse"]:
        figures.metrics.exec_measured = False  # e.g. a component not started through squall's bootstrap
    rows = format_local_component(snap, "parse")["executorStats"]
    assert rows[0]["executeLatency"] == "0" and rows[0]["capacity"] == "0"
    measured = format_local_component(snapshot("process"), "parse")["executorStats"]
    assert measured[0]["executeLatency"] == "0.500"  # both hostings measure it


def test_unknown_component() -> None:
    with pytest.raises(KeyError):
        format_local_component(snapshot(), "nope")
