"""`sparse run` on Storm 2.8 local mode (org.apache.storm.LocalCluster in one JVM), JSON and msgpack multilang."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from squall.storm.harness import SparseProject

pytestmark = [pytest.mark.integration, pytest.mark.storm, pytest.mark.timeout(600)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "storm_project"


def test_sparse_run_local_mode_msgpack_rich_payloads(tmp_path: Path, storm_payloads: ModuleType) -> None:
    payload, to_jsonable = storm_payloads.payload, storm_payloads.to_jsonable
    count = 60
    out_dir = tmp_path / "sink"
    res = SparseProject(FIXTURE).sparse(
        "run",
        "-e",
        "local-msgpack",
        "-n",
        "passthrough",
        "-t",
        "40",
        "-o",
        f"squall.test.out={out_dir}",
        "-o",
        f"squall.test.count={count}",
        "-o",
        "squall.test.payload=rich",
    )
    assert "squall.multilang.MsgpackSerializer" in res.stdout + res.stderr
    records = [
        json.loads(line) for p in sorted(out_dir.glob("sink-*.jsonl")) for line in p.read_text().splitlines()
    ]
    assert {(r["n"], bool(r["task_ids"])) for r in records} == {
        (n, b) for n in range(count) for b in (False, True)
    }
    for r in records:
        assert r["payload"] == to_jsonable(payload(r["n"], "rich"))
        assert r["task_ids"] in ([], [r["sink_task"]])
