"""`sparse submit` / `sparse list` / `sparse kill` of a small Python topology on the real Storm 2.8 cluster.

Tuples cross real worker JVMs launched by the Supervisor, through Python subprocesses started by Storm's
ShellProcess from the project's .venv (envs.dev virtualenv settings of the fixture project).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from squall.storm.harness import SparseProject, listed_topologies

pytestmark = [pytest.mark.integration, pytest.mark.storm, pytest.mark.timeout(900)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "storm_project"
COUNT = 200


def read_sink(out_dir: Path) -> list[dict]:
    records = []
    for path in sorted(out_dir.glob("sink-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(json.loads(line))
    return records


def distinct_keys(out_dir: Path) -> set[tuple[int, bool]]:
    return {(r["n"], bool(r["task_ids"])) for r in read_sink(out_dir)}


def test_submit_list_kill_with_tuples_through_real_workers(tmp_path: Path) -> None:
    project = SparseProject(FIXTURE)
    name = "squall_it_submit"
    out_dir = tmp_path / "sink"
    options = {"squall.test.out": str(out_dir), "squall.test.count": COUNT}
    with project.submitted("passthrough", env="dev", name=name, options=options) as topo:
        assert name in listed_topologies(project.sparse("list", "-e", "dev").stdout)

        expected = {(n, has_ids) for n in range(COUNT) for has_ids in (False, True)}
        topo.wait_until(
            lambda: distinct_keys(out_dir) >= expected, timeout=240, what=f"{2 * COUNT} tuples reached sink"
        )

        records = read_sink(out_dir)
        assert distinct_keys(out_dir) == expected
        for r in records:
            assert r["payload"] == {"n": r["n"], "text": f"event-{r['n']}"}
            # Task-id replies: the echo bolt's first emit went to exactly the sink task that wrote this record.
            assert r["task_ids"] in ([], [r["sink_task"]])

    after = project.sparse("list", "-e", "dev").stdout
    assert name not in listed_topologies(after)
