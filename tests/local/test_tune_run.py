"""`squall tune` for real: it measures a `squall run` of the observe fixture project (a bolt that sleeps per
event behind a cheap one), writes the proposal into config.json, and a `squall run` with that parallelism at
the target rate keeps the slow bolt's capacity under the headroom."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)
OBSERVE = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "observe"
SQUALL = [sys.executable, "-m", "squall"]


def squall(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*SQUALL, *args], cwd=project, capture_output=True, text=True, timeout=240, env=dict(os.environ)
    )
    assert done.returncode == 0, f"squall {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def test_tune_gives_the_slow_bolt_the_tasks_and_the_run_keeps_it_under_the_headroom(tmp_path: Path) -> None:
    project = tmp_path / "observe"
    shutil.copytree(OBSERVE, project)
    before = (project / "config.json").read_text()
    # measured at 1,000 events/s (100 tuples of 10 events); the slow bolt sleeps 0.2 ms per event
    slow = ["-o", "ob.slow_ms=0.2"]
    tuned = squall(
        project,
        "tune",
        "observe",
        "-e",
        "local",
        "--target-rate",
        "4000",
        "--duration",
        "6",
        "-o",
        "ob.rate=100",
        *slow,
        "--write",
        "--json",
    )
    plan = json.loads(tuned.stdout)
    par = {c["name"]: c["tasks"] for c in plan["components"]}
    assert par["slow"] >= 2 and par["slow"] > par["fast"] == 1, plan
    slow_row = next(c for c in plan["components"] if c["name"] == "slow")
    assert 150 <= slow_row["cost_us_per_event"] <= 600, (
        slow_row
    )  # 200 us of sleep per event, and its overshoot
    assert slow_row["capacity_at_target"] <= 0.7
    assert "@@" in tuned.stderr and '"slow": ' in tuned.stderr  # the diff of config.json
    written = json.loads((project / "config.json").read_text())
    assert written["envs"]["local"]["parallelism"] == par
    rest = dict(written)
    rest["envs"] = {**written["envs"], "local": {**written["envs"]["local"], "parallelism": {}}}
    original = json.loads(before)
    original["envs"]["local"]["parallelism"] = {}
    assert rest == original  # nothing else changed

    # the target rate (400 tuples of 10 events a second) from one spout task, with the written bolts' tasks
    ran = squall(
        project,
        "run",
        "observe",
        "-e",
        "local",
        "--duration",
        "8",
        "--par",
        "source=1",
        "-o",
        "ob.rate=400",
        *slow,
        "--json",
    )
    c = {x["name"]: x for x in json.loads(ran.stdout)["components"]}
    assert c["slow"]["tasks"] == par["slow"]
    assert c["source"]["events_per_s"] >= 3000, c["source"]  # the target rate was reached
    assert 0 < c["slow"]["capacity"] < 0.7, c["slow"]
