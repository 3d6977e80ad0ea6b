from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from squall.infra.storm_ui import (
    format_cluster_summary,
    format_supervisor_summary,
    format_topology_summary,
    make_handler,
)


def _info() -> Any:
    sup = SimpleNamespace(
        host="127.0.0.1",
        uptime_secs=3725,
        num_workers=2,
        num_used_workers=1,
        supervisor_id="s1",
        version="2.8.3",
    )
    nimbus = SimpleNamespace(host="127.0.0.1", port=6627, uptime_secs=90, isLeader=True, version="2.8.3")
    topo = SimpleNamespace(
        id="t-1", name="t", status="ACTIVE", uptime_secs=5, num_tasks=7, num_workers=1, num_executors=6
    )
    return SimpleNamespace(supervisors=[sup], nimbuses=[nimbus], topologies=[topo])


def test_cluster_summary_counts_slots_and_tasks() -> None:
    out = format_cluster_summary(_info())
    assert out["stormVersion"] == "2.8.3"
    assert (out["supervisors"], out["slotsTotal"], out["slotsUsed"], out["slotsFree"]) == (1, 2, 1, 1)
    assert (out["topologies"], out["executorsTotal"], out["tasksTotal"]) == (1, 6, 7)
    assert out["nimbusUptime"] == "1m 30s"


def test_supervisor_and_topology_summaries() -> None:
    sup = format_supervisor_summary(_info())["supervisors"][0]
    assert sup["uptime"] == "1h 2m 5s" and sup["slotsFree"] == 1
    topo = format_topology_summary(_info())["topologies"][0]
    assert (topo["name"], topo["status"], topo["workersTotal"]) == ("t", "ACTIVE", 1)


def test_cluster_without_leader_has_no_version() -> None:
    info = SimpleNamespace(supervisors=[], nimbuses=[], topologies=[])
    assert format_cluster_summary(info)["stormVersion"] is None


@pytest.fixture
def server() -> Iterator[tuple[str, list[Any]]]:
    answers: list[Any] = [_info()]

    def fetch() -> Any:
        value = answers[0]
        if isinstance(value, Exception):
            raise value
        return value

    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fetch))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", answers
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def test_server_serves_json_404_and_500(server: tuple[str, list[Any]]) -> None:
    base, answers = server
    with urllib.request.urlopen(f"{base}/api/v1/cluster/summary", timeout=5) as resp:
        assert resp.status == 200
        assert json.loads(resp.read())["slotsTotal"] == 2
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}/api/v1/nope", timeout=5)
    assert err.value.code == 404
    answers[0] = ConnectionRefusedError("nimbus down")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}/api/v1/cluster/summary", timeout=5)
    assert err.value.code == 500
    assert "nimbus down" in json.loads(err.value.read())["errorMessage"]
