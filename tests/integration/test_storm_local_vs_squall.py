"""`sparse run` (Storm 2.8 local mode: LocalCluster in one JVM) and `squall run` compute identical metric_windows
for the reference pipeline on the embedded default (simulated devices -> SQLite), both equal to the truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from squall.config import Project, pipeline_settings
from squall.pipeline.report import window_rows
from squall.pipeline.simulator import SimulatorSettings, generate
from squall.pipeline.truth import compare_rows, truth_for_settings
from squall.storm.harness import SparseProject

pytestmark = [pytest.mark.integration, pytest.mark.storm, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def local_config(tmp_path: Path, name: str) -> Path:
    config = json.loads((ROOT / "config.json").read_text())
    config["pipeline"]["simulator"].update({"devices": 6, "rate": 100, "duration_s": 30})
    config["pipeline"]["sqlite"]["path"] = str(tmp_path / f"{name}.db")
    config["pipeline"]["windows"]["idle_timeout_s"] = 1
    # One parse task keeps each device's events in order into the windows (see test_storm_pipeline.py).
    config["envs"]["local"]["parallelism"] = {"parse": 1}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    return path


def test_sparse_run_and_squall_run_store_identical_windows(tmp_path: Path) -> None:
    storm_config = local_config(tmp_path, "storm")
    SparseProject(ROOT).sparse(
        "run", "-e", "local", "-n", "iot_pipeline", "-t", "60", "--config", str(storm_config)
    )

    squall_config = local_config(tmp_path, "squall")
    squall_dir = tmp_path / "squall_project"
    squall_dir.mkdir()
    for name in ("topologies", "spouts", "bolts"):
        (squall_dir / name).symlink_to(ROOT / name, target_is_directory=True)
    (squall_dir / "config.json").write_text(squall_config.read_text())
    res = subprocess.run(
        [str(BIN / "squall"), "run", "iot_pipeline", "-e", "local", "--until-idle", "3", "--duration", "240"],
        cwd=squall_dir,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]

    settings = pipeline_settings(Project(root=ROOT, raw=json.loads(storm_config.read_text())), "local")
    truth = truth_for_settings(generate(SimulatorSettings.from_settings(settings)), settings)
    storm_rows = window_rows(tmp_path / "storm.db")
    squall_rows = window_rows(tmp_path / "squall.db")
    assert storm_rows == squall_rows
    assert not compare_rows(storm_rows, truth.rows)
