from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from streamparse import thrift
from thriftpy2.protocol import TBinaryProtocolFactory
from thriftpy2.utils import deserialize

from squall.infra.storm_ui import (
    format_cluster_summary,
    format_component,
    format_supervisor_summary,
    format_topology,
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


CAPTURED = Path(__file__).resolve().parents[2] / "fixtures" / "nimbus"  # see capture.py there
TOPO_ID = "it_pipeline_d7b655d2-1-1795813481"  # the Storm pipeline test's topology, its worker killed once


def _captured(kind: Any, name: str) -> Any:
    return deserialize(kind(), (CAPTURED / name).read_bytes(), TBinaryProtocolFactory())


def _topology_page() -> Any:
    return _captured(thrift.TopologyPageInfo, "topology_page.bin")


def _component_page(component: str) -> Any:
    return _captured(thrift.ComponentPageInfo, f"component_page_{component}.bin")


def test_topology_page_has_storms_fields_from_a_real_nimbus_answer() -> None:
    out = format_topology(_topology_page(), now_secs=0)
    assert (out["id"], out["name"], out["status"]) == (TOPO_ID, "it_pipeline_d7b655d2", "ACTIVE")
    assert (out["uptime"], out["uptimeSeconds"]) == ("2m 27s", 147)
    assert (out["tasksTotal"], out["executorsTotal"], out["workersTotal"]) == (10, 10, 1)
    assert "schedulerInfo" in out and out["msgTimeout"] == 90
    # configuration: the effective topology conf, parsed, as Storm's UI gives it
    assert out["configuration"]["topology.max.spout.pending"] == 30000
    assert out["configuration"]["topology.workers"] == 1
    [spout] = out["spouts"]
    assert (spout["spoutId"], spout["executors"], spout["tasks"]) == ("events", 1, 1)
    assert (spout["emitted"], spout["transferred"], spout["acked"], spout["failed"]) == (6100, 6100, 6000, 0)
    assert spout["completeLatency"] == "16141.433" and spout["lastError"] == ""
    bolts = {b["boltId"]: b for b in out["bolts"]}
    assert list(bolts) == ["aggregate", "alerts", "dlq", "parse", "persist", "route"]
    assert {k: (b["executors"], b["tasks"]) for k, b in bolts.items()} == {
        "aggregate": (2, 2),
        "alerts": (1, 1),
        "dlq": (1, 1),
        "parse": (1, 1),
        "persist": (2, 2),
        "route": (1, 1),
    }
    assert (bolts["aggregate"]["executed"], bolts["aggregate"]["acked"]) == (5660, 5660)
    assert out["workers"][0]["port"] == 6700
    assert out["workers"][0]["componentNumTasks"]["persist"] == 2
    all_time = next(s for s in out["topologyStats"] if s["window"] == ":all-time")
    assert all_time == {
        "windowPretty": "All time",
        "window": ":all-time",
        "emitted": 23700,
        "transferred": 29060,
        "completeLatency": "16141.433",
        "acked": 6000,
        "failed": 0,
    }
    json.dumps(out)  # serializable as is


def test_component_page_lists_executors_with_host_and_port() -> None:
    bolt = format_component(_component_page("aggregate"), TOPO_ID, now_secs=0)
    assert (bolt["id"], bolt["componentType"], bolt["executors"], bolt["tasks"]) == (
        "aggregate",
        "bolt",
        2,
        2,
    )
    assert [(e["id"], e["host"], e["port"]) for e in bolt["executorStats"]] == [
        ("[2-2]", "127.0.0.1", 6700),
        ("[3-3]", "127.0.0.1", 6700),
    ]
    assert sum(e["executed"] for e in bolt["executorStats"]) == 5660
    assert {(i["component"], i["stream"]) for i in bolt["inputStats"]} >= {("route", "telemetry")}
    assert [o["stream"] for o in bolt["outputStats"]] == ["default", "late"]
    assert bolt["topologyId"] == TOPO_ID and bolt["name"] == "it_pipeline_d7b655d2"
    spout = format_component(_component_page("events"), TOPO_ID, now_secs=0)
    assert spout["componentType"] == "spout" and "inputStats" not in spout and "spoutSummary" in spout
    assert [(e["id"], e["port"], e["acked"]) for e in spout["executorStats"]] == [("[6-6]", 6700, 6000)]


def test_last_error_is_truncated_and_aged_as_storm_does() -> None:
    page = _topology_page()
    error = thrift.ErrorInfo(error="x" * 300, error_time_secs=1000, host="h", port=6701)
    page.id_to_bolt_agg_stats["parse"].last_error = error
    parse = next(b for b in format_topology(page, now_secs=1030)["bolts"] if b["boltId"] == "parse")
    assert parse["lastError"] == "x" * 200
    assert (parse["errorHost"], parse["errorPort"], parse["errorTime"], parse["errorLapsedSecs"]) == (
        "h",
        6701,
        1000,
        30,
    )


class CapturedNimbus:
    """Answers the UI's three Nimbus calls with captured answers; an unknown id raises what Nimbus raises."""

    def __init__(self) -> None:
        self.cluster: Any = _info()

    def getClusterInfo(self) -> Any:  # noqa: N802 - Nimbus's Thrift names
        if isinstance(self.cluster, Exception):
            raise self.cluster
        return self.cluster

    def getTopologyPageInfo(self, topo_id: str, window: str, sys: bool) -> Any:  # noqa: N802
        if topo_id != TOPO_ID:
            raise thrift.NotAliveException(msg=topo_id)
        return _topology_page()

    def getComponentPageInfo(self, topo_id: str, component: str, window: str, sys: bool) -> Any:  # noqa: N802
        if topo_id != TOPO_ID:
            raise thrift.NotAliveException(msg=topo_id)
        return _component_page(component)


@pytest.fixture
def server() -> Iterator[tuple[str, CapturedNimbus]]:
    nimbus = CapturedNimbus()

    @contextlib.contextmanager
    def connect() -> Iterator[CapturedNimbus]:
        yield nimbus

    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(connect))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", nimbus
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_server_serves_json_404_and_500(server: tuple[str, CapturedNimbus]) -> None:
    base, nimbus = server
    status, body = _get(f"{base}/api/v1/cluster/summary")
    assert status == 200 and body["slotsTotal"] == 2
    assert _get(f"{base}/api/v1/nope")[0] == 404
    nimbus.cluster = ConnectionRefusedError("nimbus down")
    status, body = _get(f"{base}/api/v1/cluster/summary")
    assert status == 500 and "nimbus down" in body["errorMessage"]


def test_server_serves_topology_and_component_pages(server: tuple[str, CapturedNimbus]) -> None:
    base, _ = server
    status, topo = _get(f"{base}/api/v1/topology/{TOPO_ID}?window=600")
    assert status == 200
    assert (topo["id"], topo["window"], topo["windowHint"]) == (TOPO_ID, "600", "10m 0s")
    status, comp = _get(f"{base}/api/v1/topology/{TOPO_ID}/component/aggregate/")
    assert status == 200 and len(comp["executorStats"]) == 2


def test_unknown_topology_is_storms_500_json_error(server: tuple[str, CapturedNimbus]) -> None:
    base, _ = server
    for path in ("/api/v1/topology/gone-1-2", "/api/v1/topology/gone-1-2/component/events"):
        status, body = _get(base + path)
        assert status == 500
        assert body["error"] == "500 Server Error"
        assert "Unable to fetch topo conf for topo id gone-1-2" in body["errorMessage"]
