"""Summary formatting, metrics roll-up and resources staging (pure functions)."""

from __future__ import annotations

import json
from pathlib import Path

from squall.config import Project
from squall.resources import import_paths, resource_entries, stage_resources
from squall.runner.cluster import Summary, TaskError
from squall.runner.metrics import TaskMetrics, roll_up
from squall.runner.view import format_summary


def test_roll_up_sums_tasks_and_takes_capacity_of_the_busiest_task() -> None:
    a = TaskMetrics(emitted=3, executed=10, acked=9, failed=1, latency_sum=0.02)
    a.exec_ns, a.exec_count, a.exec_measured = 500_000_000, 10, True
    b = TaskMetrics(emitted=1, executed=10, acked=10, latency_sum=0.02)
    b.exec_ns, b.exec_count, b.exec_measured = 100_000_000, 10, True
    stats = roll_up("x", "bolt", "inline", [a, b], window_secs=10.0)
    assert (stats.emitted, stats.executed, stats.acked, stats.failed) == (4, 20, 19, 1)
    assert stats.latency_ms == 2.0 and stats.process_ms == 2.0 and stats.execute_ms == 30.0
    assert stats.capacity == 0.05  # Storm's UI: the busiest executor, 0.5 s busy over 10 s
    assert stats.tuples_per_s == 2.0
    b.exec_measured = False  # one task's execute time unknown: no execute latency, no capacity
    unknown = roll_up("x", "bolt", "process", [a, b], window_secs=10.0)
    assert unknown.capacity is None and unknown.execute_ms is None


def test_format_summary_lists_components_and_errors() -> None:
    stats = [roll_up("count", "bolt", "inline", [TaskMetrics(executed=5, acked=5)], 1.0)]
    summary = Summary(
        "wc", "inline", 1.5, "idle", stats, [TaskError("count", 3, "boom\nValueError: x", "died")]
    )
    text = format_summary(summary)
    assert "count" in text and "stopped because: idle" in text
    assert "died: count[task 3]: ValueError: x" in text
    doc = summary.as_dict()
    assert json.loads(json.dumps(doc))["components"][0]["acked"] == 5


def project(root: Path) -> Project:
    (root / "config.json").write_text("{}")
    return Project(root=root, raw={})


def test_quickstart_layout_puts_src_contents_in_resources(tmp_path: Path) -> None:
    p = project(tmp_path)
    (tmp_path / "src" / "bolts").mkdir(parents=True)
    (tmp_path / "src" / "bolts" / "b.py").write_text("X = 1\n")
    (tmp_path / "src" / "tool.js").write_text("//\n")
    assert set(resource_entries(p)) == {"bolts", "tool.js"}
    assert import_paths(p) == [tmp_path / "src"]
    dest = stage_resources(p, tmp_path / "out" / "resources")
    assert (dest / "bolts" / "b.py").read_text() == "X = 1\n" and not (dest / "bolts").is_symlink()
    linked = stage_resources(p, tmp_path / "out2" / "resources", link=True)
    assert (linked / "bolts").is_symlink() and not (linked / "tool.js").is_symlink()


def test_top_level_spouts_and_bolts_go_to_resources(tmp_path: Path) -> None:
    p = project(tmp_path)
    for name in ("spouts", "bolts", "topologies"):
        (tmp_path / name).mkdir()
    assert set(resource_entries(p)) == {"spouts", "bolts"}
    assert import_paths(p) == [tmp_path]
