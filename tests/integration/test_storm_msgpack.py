"""msgpack multilang end to end on the real cluster: pystorm's MsgpackSerializer <-> squall's Java serializer.

Unicode, bytes, nested maps, 64-bit integers and 200 kB strings cross spout -> echo -> sink through worker JVMs
(Kryo between executors), and the echo bolt's task-id replies come back over msgpack.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from squall.storm import nimbus
from squall.storm.harness import SparseProject

pytestmark = [pytest.mark.integration, pytest.mark.storm, pytest.mark.timeout(900)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "storm_project"
COUNT = 120


def test_rich_tuples_round_trip_over_msgpack(tmp_path: Path, storm_payloads: ModuleType) -> None:
    payloads = storm_payloads
    out_dir = tmp_path / "sink"
    options = {
        "squall.test.out": str(out_dir),
        "squall.test.count": COUNT,
        "squall.test.payload": payloads.RICH,
    }
    project = SparseProject(FIXTURE)

    def records() -> list[dict]:
        return [
            json.loads(line)
            for p in sorted(out_dir.glob("sink-*.jsonl"))
            for line in p.read_text().splitlines()
        ]

    expected = {(n, b) for n in range(COUNT) for b in (False, True)}
    with project.submitted(
        "passthrough", env="dev-msgpack", name="squall_it_msgpack", options=options
    ) as topo:
        conf = nimbus.topology_conf(topo.nimbus, topo.topo_id)
        assert conf["topology.multilang.serializer"] == "squall.multilang.MsgpackSerializer"
        topo.wait_until(
            lambda: {(r["n"], bool(r["task_ids"])) for r in records()} >= expected,
            timeout=240,
            what=f"{2 * COUNT} msgpack tuples reached the sink",
        )
    got = records()
    assert {(r["n"], bool(r["task_ids"])) for r in got} == expected
    for r in got:
        assert r["payload"] == payloads.to_jsonable(payloads.payload(r["n"], payloads.RICH))
        assert r["task_ids"] in ([], [r["sink_task"]])
