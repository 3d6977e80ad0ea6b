"""`squall report` and `squall dlq show` on the embedded SQLite store, after a real `squall run iot_pipeline -e local
--until-idle 3` of a throw-away copy of the project: the figures they print equal the run's own truth (the
simulator's malformed messages per reason, its late events, the stored windows)."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from squall.config import load_project, pipeline_settings
from squall.pipeline.simulator import SimulatorSettings, generate
from squall.pipeline.truth import Truth, truth_for_settings
from squall.testing import isolated_pipeline_project

ROOT = Path(__file__).resolve().parents[2]
SQUALL = str(Path(sys.executable).with_name("squall"))


def squall(project: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    return subprocess.run(
        [SQUALL, *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth, Path]:
    """One local run of the reference pipeline: (project root, its truth, its SQLite file)."""
    made = isolated_pipeline_project(
        tmp_path_factory.mktemp("ops") / "project",
        "ops",
        prefix="local",
        source=ROOT,
        env=None,
        pipeline={
            "simulator": {"devices": 6, "rate": 100, "duration_s": 30, "bad_ratio": 0.05},
            "windows": {"idle_timeout_s": 3},
        },
    )
    settings = pipeline_settings(load_project(made.root), "local")
    truth = truth_for_settings(generate(SimulatorSettings.from_settings(settings)), settings)
    assert truth.dead_lettered and truth.late  # the run has malformed and late events to count
    proc = squall(made.root, "run", "iot_pipeline", "-e", "local", "--until-idle", "3", timeout=400)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return made.root, truth, Path(settings["sqlite"]["path"])


def expected_reasons(truth: Truth) -> dict[str, int]:
    counts = Counter(truth.bad_reasons.values())
    counts["late"] += truth.late
    return dict(counts)


@pytest.mark.timeout(600)
def test_report_json_equals_the_truth(ran: tuple[Path, Truth, Path]) -> None:
    project, truth, db = ran
    proc = squall(project, "report", "-e", "local", "--json")
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert set(doc) == {
        "store",
        "sqlite_path",
        "rows",
        "dead_letters_by_reason",
        "alerts_by_kind",
        "temperature_windows",
        "example_windows",
    }
    assert doc["store"] == "sqlite" and doc["sqlite_path"] == str(db)
    assert doc["rows"]["metric_windows"] == len(truth.rows)
    assert doc["rows"]["dead_letters"] == truth.dead_lettered + truth.late
    assert doc["dead_letters_by_reason"] == expected_reasons(truth)
    ten_s = sum(row["count"] for key, row in truth.rows.items() if key[2] == "temperature" and key[3] == 10)
    assert doc["temperature_windows"]["10"]["events"] == ten_s
    text = squall(project, "report", "-e", "local")
    assert text.returncode == 0, text.stderr
    assert f"dead_letters={truth.dead_lettered + truth.late}" in text.stdout


@pytest.mark.timeout(600)
def test_dlq_show_by_reason_json_equals_the_simulators_reasons(ran: tuple[Path, Truth, Path]) -> None:
    project, truth, _ = ran
    proc = squall(project, "dlq", "show", "-e", "local", "--by-reason", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    want = expected_reasons(truth)
    assert doc == {
        "source": "sqlite",
        "total": sum(want.values()),
        "skipped_undecodable": 0,
        "by_reason": dict(sorted(want.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    table = squall(project, "dlq", "show", "-e", "local", "--by-reason")
    assert table.returncode == 0, table.stderr
    for reason, n in want.items():
        assert any(
            reason in line and line.rstrip(" │|").endswith(str(n)) for line in table.stdout.splitlines()
        )


@pytest.mark.timeout(600)
def test_dlq_show_lists_whole_reasons_at_80_columns_and_full_payloads_in_json(
    ran: tuple[Path, Truth, Path],
) -> None:
    project, truth, db = ran
    proc = squall(project, "dlq", "show", "-e", "local", "--limit", "1000", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    with sqlite3.connect(db) as conn:
        stored = {
            (t, p, o): (r, bytes(b))
            for t, p, o, r, b in conn.execute(
                "SELECT source_topic, source_partition, source_offset, reason, payload FROM dead_letters"
            )
        }
    assert doc["source"] == "sqlite" and doc["count"] == len(stored)
    listed = {
        (d["source_topic"], d["source_partition"], d["source_offset"]): (
            d["reason"],
            base64.b64decode(d["payload_base64"]),
        )
        for d in doc["dead_letters"]
    }
    assert listed == stored  # every letter, its bytes whole
    assert all(d["payload_size"] == len(base64.b64decode(d["payload_base64"])) for d in doc["dead_letters"])
    malformed = {k: r for k, (r, _) in listed.items() if r != "late"}
    assert malformed == truth.bad_reasons

    table = squall(project, "dlq", "show", "-e", "local", "--limit", "1000")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert f"{len(stored)} dead letter(s) shown from sqlite" in table.stdout
    rows = [line for line in lines if line.startswith("│")]
    for reason in set(truth.bad_reasons.values()):
        assert any(f" {reason} " in row for row in rows), reason  # on one line, never wrapped
    assert len(rows) == len(stored)  # one line per letter: nothing wrapped


def test_report_without_a_store_is_a_one_line_error(tmp_path: Path) -> None:
    made = isolated_pipeline_project(tmp_path / "project", "none", prefix="local", source=ROOT, env=None)
    for args in (["report", "-e", "local"], ["dlq", "show", "-e", "local", "--by-reason"]):
        proc = squall(made.root, *args)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("error: pipeline.sqlite.path: no SQLite store at ")
        assert "(fix: run the pipeline first" in lines[0]


def test_dlq_show_topic_without_kafka_is_a_one_line_error(tmp_path: Path) -> None:
    made = isolated_pipeline_project(tmp_path / "project", "topic", prefix="local", source=ROOT, env=None)
    proc = squall(made.root, "dlq", "show", "-e", "local", "--topic", "iot.dlq")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --topic: 'iot.dlq' names a Kafka topic, but the dead letters are read from sqlite "
        "(fix: add --source kafka)"
    ]
