"""squall's Storm UI REST server (squall.infra.storm_ui) against the real Nimbus: the per-topology endpoints show
what config.json asked for. The test starts its own UI instance on a free loopback port (never the shared one)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from squall.storm.harness import SparseProject

pytestmark = [pytest.mark.integration, pytest.mark.storm, pytest.mark.timeout(900)]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "storm_project"


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def ui(own_ui: str) -> Iterator[str]:
    """This test's own UI server (the `own_ui` fixture) on a free port, against the running Nimbus."""
    yield f"{own_ui}/api/v1"


def test_topology_and_component_pages_show_what_config_asked_for(
    tmp_path: Path, ui: str, storm_fixture_config: Callable[..., Path]
) -> None:
    config_path = storm_fixture_config(
        parallelism={"echo": 2, "sink": 3},
        # One worker: the cluster has 2 slots, shared with whatever else the suite runs.
        options={
            "topology.workers": 1,
            "topology.acker.executors": 2,
            "topology.max.spout.pending": 77,
            "topology.message.timeout.secs": 45,
        },
    )
    options = {"squall.test.out": str(tmp_path / "sink"), "squall.test.count": 10}

    with SparseProject(FIXTURE).submitted(
        "passthrough", env="dev", name="squall_it_ui", options=options, config=config_path
    ) as topo:
        url = f"{ui}/topology/{topo.topo_id}"
        # The executors appear once the scheduler has assigned the topology to the Supervisor's slots.
        topo.wait_until(
            lambda: len(_get(url)[1].get("bolts", [])) == 2 and _get(url)[1].get("workersTotal") == 1,
            timeout=180,
            what="the UI lists the topology's bolts on one worker",
        )
        status, page = _get(url)
        assert status == 200
        assert (page["id"], page["name"], page["status"]) == (topo.topo_id, "squall_it_ui", "ACTIVE")
        assert isinstance(page["uptimeSeconds"], int) and page["uptime"]
        # numbers 1 + echo 2 + sink 3 + 2 ackers (system components count in Storm's totals)
        assert (page["executorsTotal"], page["tasksTotal"]) == (8, 8)
        assert {s["spoutId"]: (s["executors"], s["tasks"]) for s in page["spouts"]} == {"numbers": (1, 1)}
        assert {b["boltId"]: (b["executors"], b["tasks"]) for b in page["bolts"]} == {
            "echo": (2, 2),
            "sink": (3, 3),
        }
        for row in page["spouts"] + page["bolts"]:
            assert {"emitted", "transferred", "acked", "failed", "lastError"} <= set(row)
        conf = page["configuration"]
        assert conf["topology.max.spout.pending"] == 77
        assert conf["topology.message.timeout.secs"] == 45 == page["msgTimeout"]
        assert conf["topology.acker.executors"] == 2
        assert conf["topology.workers"] == 1
        [worker] = page["workers"]
        assert worker["componentNumTasks"]["sink"] == 3

        status, sink = _get(f"{url}/component/sink")
        assert status == 200
        assert (sink["componentType"], sink["executors"], sink["tasks"]) == ("bolt", 3, 3)
        hosts = {(e["host"], e["port"]) for e in sink["executorStats"]}
        assert len(sink["executorStats"]) == 3 and hosts == {(worker["host"], worker["port"])}
        status, spout = _get(f"{url}/component/numbers")
        assert status == 200 and spout["componentType"] == "spout" and len(spout["executorStats"]) == 1

        status, summary = _get(f"{ui}/topology/summary")
        assert status == 200 and topo.topo_id in {t["id"] for t in summary["topologies"]}

    # Killed: Nimbus no longer knows it, and the UI answers as Storm's does (500 with a JSON error).
    status, body = _get(url)
    assert status == 500 and "Unable to fetch topo conf" in body["errorMessage"]
