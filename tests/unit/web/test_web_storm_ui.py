"""The dashboard on the Storm UI server (squall.infra.storm_ui), from captured answers of a real Nimbus (the
reference pipeline on Storm): pages in HTML next to the JSON API, actions by POST only."""

from __future__ import annotations

import contextlib
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from streamparse.thrift import GlobalStreamId, NullStruct, StormTopology
from streamparse.thrift import Grouping as ThriftGrouping

from squall.infra.storm_ui import make_handler
from tests.unit.infra.test_storm_ui import TOPO_ID, CapturedNimbus
from tests.unit.web.test_web_pages import parse


class _Spec:
    def __init__(self, inputs: dict[Any, Any]) -> None:
        self.common = type("Common", (), {"inputs": inputs, "parallelism_hint": 1})()


class Nimbus(CapturedNimbus):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []

    def getUserTopology(self, topo_id: str) -> Any:  # noqa: N802 - Nimbus's Thrift names
        shuffle = ThriftGrouping(shuffle=NullStruct())
        return StormTopology(
            spouts={"events": _Spec({})},
            bolts={
                "parse": _Spec({GlobalStreamId("events", "default"): shuffle}),
                "aggregate": _Spec({GlobalStreamId("parse", "default"): ThriftGrouping(fields=["tenant"])}),
            },
            state_spouts={},
        )

    def deactivate(self, name: str) -> None:
        self.calls.append(("deactivate", name))


@pytest.fixture
def server() -> Iterator[tuple[str, Nimbus]]:
    nimbus = Nimbus()

    @contextlib.contextmanager
    def connect() -> Iterator[Nimbus]:
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


def _html(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_pages_from_a_real_nimbus_answer(server: tuple[str, Nimbus]) -> None:
    base, _ = server
    status, index = _html(base + "/")
    assert status == 200 and "Cluster summary" in index
    status, page = _html(f"{base}/topology.html?id={TOPO_ID}")
    assert status == 200
    doc = parse(page)
    bolts = {row[0][1] for row in doc.tables["bolts"] if row}
    assert {"aggregate", "persist", "parse"} <= bolts
    assert 'data-component="aggregate"' in page and "fields(tenant)" in page  # the graph
    status, comp = _html(f"{base}/component.html?topology_id={TOPO_ID}&id=aggregate")
    assert status == 200 and len([r for r in parse(comp).tables["executors"] if r]) == 2
    status, gone = _html(f"{base}/topology.html?id=gone-1-2")
    assert status == 500 and "Unable to fetch topo conf for topo id gone-1-2" in gone


def test_actions_by_post_reach_nimbus_by_name(server: tuple[str, Nimbus]) -> None:
    base, nimbus = server
    [topo] = nimbus.cluster.topologies
    topo.id, topo.name = TOPO_ID, "it_pipeline"  # Nimbus's actions take the name the cluster lists for the id
    name = "it_pipeline"
    url = f"{base}/api/v1/topology/{TOPO_ID}/deactivate"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=5)
    assert err.value.code == 405 and nimbus.calls == []
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=5) as resp:
        assert resp.status == 200
    assert nimbus.calls == [("deactivate", name)]
