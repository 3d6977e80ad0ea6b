"""The whole reference pipeline through the runner (inline and process mode) on the embedded default
(simulated devices -> SQLite): the stored windows equal the independent truth, and the counts reconcile."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from squall.config import load_project, pipeline_settings
from squall.pipeline.report import summarize, window_rows
from squall.pipeline.routing import ARCHIVE_RULES
from squall.pipeline.simulator import SimulatorSettings, generate
from squall.pipeline.truth import compare_rows, truth_for_settings
from squall.testing import isolated_pipeline_project, run_topology

ROOT = Path(__file__).resolve().parents[2]


def make_project(tmp_path: Path, **simulator: Any) -> Path:
    """A copy of this project's config.json with a small simulation and its own SQLite file; code linked."""
    made = isolated_pipeline_project(
        tmp_path / "project",
        "local",
        prefix="local",
        source=ROOT,
        env=None,
        pipeline={
            "simulator": {"devices": 6, "rate": 100, "duration_s": 30, **simulator},
            "windows": {"idle_timeout_s": 3},  # > any processing stall of a loaded CI machine
            "routing": {"rules": ARCHIVE_RULES},  # the raw-event table is reconciled too
        },
    )
    return made.root


def count(db_path: Path, sql: str) -> int:
    if not db_path.exists():
        return 0
    with sqlite3.connect(db_path, timeout=30) as db:
        try:
            return int(db.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # tables not created yet
            return 0


def stop_when_stored(db_path: Path, truth: Any) -> Callable[[Any], bool]:
    """A `run_topology(stop_when=...)` condition, checked at most twice a second: the embedded store holds every
    expected window, dead letter and event, and every spout tuple is done (acked, after its replays). Not
    `in_flight() == 0`: like Storm's acker, the runner keeps entries for late acks of already-failed trees until
    they time out."""
    last = [0.0]

    def done(cluster: Any) -> bool:
        if time.monotonic() - last[0] < 0.5:
            return False
        last[0] = time.monotonic()
        return (
            count(db_path, "SELECT COUNT(*) FROM metric_windows") == len(truth.rows)
            and count(db_path, "SELECT COUNT(*) FROM dead_letters") == truth.dead_lettered + truth.late
            and count(db_path, "SELECT COUNT(*) FROM events") == truth.unique_events
            and all(not spout.roots for spout in cluster.spouts)
        )

    return done


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("inline", "serializer"),
    [(True, "json"), (False, "json"), (False, "msgpack")],
    ids=["inline", "process-json", "process-msgpack"],
)
@pytest.mark.parametrize("fmt", ["mixed"])
def test_pipeline_equals_truth_and_reconciles(
    tmp_path: Path, inline: bool, serializer: str, fmt: str
) -> None:
    from topologies.iot_pipeline import IotPipeline

    project = make_project(tmp_path, format=fmt)
    settings = pipeline_settings(load_project(project), "local")
    truth = truth_for_settings(generate(SimulatorSettings.from_settings(settings)), settings)
    assert truth.reconciles()
    assert truth.duplicates and truth.late and truth.dead_lettered  # the run exercises every path
    db_path = Path(settings["sqlite"]["path"])
    expected_events = truth.unique_events
    expected_dead = truth.dead_lettered + truth.late
    last_check = [0.0]

    def done(
        _cluster: Any,
    ) -> bool:  # poll the store at most twice a second; the run is bounded by `duration`
        if time.monotonic() - last_check[0] < 0.5:
            return False
        last_check[0] = time.monotonic()
        return (
            count(db_path, "SELECT COUNT(*) FROM metric_windows") == len(truth.rows)
            and count(db_path, "SELECT COUNT(*) FROM dead_letters") == expected_dead
            and count(db_path, "SELECT COUNT(*) FROM events") == expected_events
            and _cluster.in_flight() == 0
        )

    result = run_topology(
        IotPipeline,
        project=project,
        env="local",
        inline=inline,
        serializer=serializer,
        until_idle=3.0,
        duration=150,
        conf={"topology.max.spout.pending": 30000},
        stop_when=done,
    )
    assert not result.errors, result.errors
    assert result.reason in ("condition", "idle"), f"stopped by {result.reason} before the store was complete"

    problems = compare_rows(window_rows(db_path), truth.rows, relative_accuracy=0.01)
    assert problems == []

    summary = summarize(db_path)
    late = summary["dead_letters_by_reason"].get("late", 0)
    malformed = summary["rows"]["dead_letters"] - late
    windowed = summary["rows"]["events"] - late - truth.elsewhere
    assert (late, malformed) == (truth.late, truth.dead_lettered)
    assert windowed == truth.aggregated
    # produced = aggregated + duplicates + late + dead-lettered (+ events routed elsewhere, e.g. alarms)
    assert truth.produced == windowed + truth.duplicates + late + malformed + truth.elsewhere
    with sqlite3.connect(db_path) as db:
        stored_reasons = {
            (t, p, o): r
            for t, p, o, r in db.execute(
                "SELECT source_topic, source_partition, source_offset, reason FROM dead_letters WHERE reason != 'late'"
            )
        }
        sum_10s = db.execute(
            "SELECT SUM(count) FROM metric_windows WHERE window_s = 10 AND metric = 'humidity'"
        )
        assert (
            sum_10s.fetchone()[0]
            == db.execute(
                "SELECT SUM(count) FROM metric_windows WHERE window_s = 60 AND metric = 'humidity'"
            ).fetchone()[0]
        )
    assert stored_reasons == truth.bad_reasons  # every malformed message, with the reason parse must give
    spout = result.stats("events")  # the spout emits batches (one per partition and next_tuple), each acked
    assert spout.acked == spout.emitted and 0 < spout.emitted <= truth.produced and spout.failed == 0
