"""The whole pipeline through the runner with a window-state limit far below the number of devices: devices are
evicted all the time (their windows close early and are amended when they come back), and the stored rows still
equal the independent truth. Inline mode, so the test can read the aggregate bolt's counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from squall.config import load_project, pipeline_settings
from squall.pipeline.report import window_rows
from squall.pipeline.simulator import SimulatorSettings, generate
from squall.pipeline.truth import compare_rows, truth_for_settings
from squall.testing import isolated_pipeline_project, run_topology
from tests.local.test_pipeline_local import ROOT, count


@pytest.mark.timeout(240)
def test_evictions_past_max_keys_keep_the_stored_rows_equal_to_the_truth(tmp_path: Path) -> None:
    from topologies.iot_pipeline import IotPipeline

    # one aggregate task sees all 6 devices and keeps 3 live (and up to 3 resting): every event of a resting
    # device evicts another one, yet no device is forgotten, so nothing may differ from the truth
    project = isolated_pipeline_project(
        tmp_path / "project",
        "local",
        prefix="bounds",
        source=ROOT,
        env=None,
        pipeline={
            "simulator": {"devices": 6, "rate": 100, "duration_s": 30, "format": "mixed"},
            "windows": {"idle_timeout_s": 3, "max_keys": 3},
        },
    ).root
    settings = pipeline_settings(load_project(project), "local")
    truth = truth_for_settings(generate(SimulatorSettings.from_settings(settings)), settings)
    assert truth.late and truth.duplicates
    db_path = Path(settings["sqlite"]["path"])
    counts: dict[str, int] = {}

    def watch(cluster: Any) -> None:
        for task, name in cluster.graph.task_component.items():
            host = cluster.hosts.get(task)
            if name == "aggregate" and host is not None and host.component is not None:
                counts.update(host.component.counts)

    def done(cluster: Any) -> bool:
        return (
            count(db_path, "SELECT COUNT(*) FROM metric_windows") == len(truth.rows)
            and count(db_path, "SELECT COUNT(*) FROM dead_letters") == truth.dead_lettered + truth.late
            and cluster.in_flight() == 0
        )

    result = run_topology(
        IotPipeline,
        project=project,
        env="local",
        inline=True,
        until_idle=3.0,
        duration=150,
        par={"aggregate": 1},
        conf={"topology.max.spout.pending": 30000},
        stop_when=done,
        on_step=watch,
    )
    assert not result.errors, result.errors
    assert result.reason in ("condition", "idle"), result.reason
    assert counts["evicted_keys"] > 20 and counts["forgotten_keys"] == 0, counts
    assert compare_rows(window_rows(db_path), truth.rows, relative_accuracy=0.01) == []
    assert count(db_path, "SELECT COUNT(*) FROM dead_letters WHERE reason = 'late'") == truth.late
