"""The dashboard's routes: pages, static files, and the actions' input checks (a recording backend: pure logic)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from squall.web import app
from squall.web.graph import TopologyGraph


class Recording:
    """A backend answering fixed JSON and recording the actions it is asked for."""

    local = False

    def __init__(self) -> None:
        self.acts: list[tuple[str, str, int | None, dict[str, Any]]] = []

    def json(self, path: str) -> dict[str, Any]:
        if path.startswith("/api/v1/topology/t-1"):
            return {"id": "t-1", "name": "t", "status": "ACTIVE", "spouts": [], "bolts": [], "workers": []}
        return {}

    def graph(self, topo_id: str) -> TopologyGraph:
        return TopologyGraph((), ())

    def pipeline_reader(self) -> None:
        return None

    def act(self, topo_id: str, action: str, wait_secs: int | None, body: Mapping[str, Any]) -> None:
        if topo_id == "gone":
            raise app.ActionError("no topology with id 'gone'")
        self.acts.append((topo_id, action, wait_secs, dict(body)))


SAME = {"Host": "127.0.0.1:8080", "Origin": "http://127.0.0.1:8080"}


def test_pages_and_static_files_and_what_is_not_ours() -> None:
    backend = Recording()
    page = app.get("/topology.html?id=t-1", backend)
    assert page is not None and page.status == 200 and page.content_type.startswith("text/html")
    assert b"Topology" in page.body
    js = app.get("/static/dashboard.js", backend)
    assert js is not None and js.status == 200 and "javascript" in js.content_type
    assert app.get("/static/../app.py", backend) is None
    assert app.get("/static/missing.css", backend) is None
    assert app.get("/api/v1/cluster/summary", backend) is None  # the REST API answers that
    pipeline = app.get("/pipeline.html", backend)
    assert (
        pipeline is not None and pipeline.status == 200 and b"no pipeline store configured" in pipeline.body
    )
    missing = app.get("/topology.html", backend)
    assert missing is not None and missing.status == 400 and b"id" in missing.body


def test_actions_take_post_only() -> None:
    res = app.get("/api/v1/topology/t-1/deactivate", Recording())
    assert res is not None and res.status == 405 and "POST" in json.loads(res.body)["errorMessage"]


def test_actions_reach_the_backend_with_their_wait_and_options() -> None:
    backend = Recording()
    for path in (
        "/api/v1/topology/t-1/deactivate",
        "/api/v1/topology/t-1/activate",
        "/api/v1/topology/t-1/kill/5",
    ):
        res = app.post(path, b"", SAME, backend)
        assert res is not None and res.status == 200, res
    body = json.dumps({"rebalanceOptions": {"numWorkers": 2, "executors": {"parse": 4}}}).encode()
    res = app.post("/api/v1/topology/t-1/rebalance/0", body, SAME, backend)
    assert res is not None and json.loads(res.body) == {
        "topologyOperation": "rebalance",
        "topologyId": "t-1",
        "status": "success",
    }
    assert backend.acts == [
        ("t-1", "deactivate", None, {}),
        ("t-1", "activate", None, {}),
        ("t-1", "kill", 5, {}),
        ("t-1", "rebalance", 0, {"rebalanceOptions": {"numWorkers": 2, "executors": {"parse": 4}}}),
    ]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "says"),
    [
        ("/api/v1/topology/t-1/kill/soon", b"", SAME, 400, "'soon' is not a whole number"),
        ("/api/v1/topology/t-1/rebalance", b"", SAME, 400, "rebalance/<seconds>"),
        ("/api/v1/topology/t-1/activate", b"[1]", SAME, 400, "JSON object"),
        ("/api/v1/topology/gone/activate", b"", SAME, 400, "no topology with id 'gone'"),
        (
            "/api/v1/topology/t-1/kill/0",
            b"",
            {"Host": "127.0.0.1:8080", "Origin": "http://evil.example"},
            403,
            "pages only",
        ),
        (
            "/api/v1/topology/t-1/kill/0",
            b"",
            {"host": "h:1", "origin": "http://evil.example"},
            403,
            "pages only",
        ),
        ("/api/v1/topology/t-1/kill/0", b"", {"Host": "h:1", "Origin": "null"}, 403, "pages only"),
    ],
)
def test_bad_actions_get_a_clear_error(
    path: str, body: bytes, headers: dict[str, str], status: int, says: str
) -> None:
    backend = Recording()
    res = app.post(path, body, headers, backend)
    assert res is not None and res.status == status
    assert says in json.loads(res.body)["errorMessage"]
    assert backend.acts == []


def test_a_post_elsewhere_is_not_an_action() -> None:
    assert app.post("/api/v1/topology/t-1", b"", SAME, Recording()) is None


def test_rebalance_options() -> None:
    assert app.rebalance_options(10, {}) == {"wait_secs": 10}
    assert app.rebalance_options(0, {"rebalanceOptions": {"numWorkers": 3, "executors": {"a": 2}}}) == {
        "wait_secs": 0,
        "num_workers": 3,
        "num_executors": {"a": 2},
    }
    with pytest.raises(app.ActionError, match=r"rebalanceOptions.executors.a = 0: give a whole number >= 1"):
        app.rebalance_options(0, {"rebalanceOptions": {"executors": {"a": 0}}})
    with pytest.raises(app.ActionError, match=r"numWorkers = 'x'"):
        app.rebalance_options(0, {"rebalanceOptions": {"numWorkers": "x"}})
