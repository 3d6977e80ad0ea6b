"""The dashboard's routes, shared by the Storm UI server (:8080, figures from Nimbus) and a local run's server
(`squall run --ui`, figures from the runner). A `Backend` answers the REST API's JSON, the topology's graph and
the actions; `get` and `post` turn a request into a `Response`, or None when the path is not the dashboard's.

    GET  /  /index.html  /topology.html?id=<id>  /component.html?topology_id=<id>&id=<component>
    GET  /static/<file>
    POST /api/v1/topology/<id>/activate | /deactivate | /rebalance/<wait-secs> | /kill/<wait-secs>
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit

from squall.web import pages
from squall.web.graph import TopologyGraph, from_storm_topology, render_svg
from squall.web.pipeline_page import StoreReader, pipeline_context

STATIC = pages.HERE / "static"
ACTION_PATH = re.compile(
    r"^/api/v1/topology/(?P<id>[^/]+)/(?P<action>activate|deactivate|rebalance|kill)(?:/(?P<wait>[^/]+))?$"
)
PAGES = ("/", "/index.html", "/topology.html", "/component.html", "/pipeline.html")


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class ActionError(Exception):
    """An action the backend refused (bad input, unknown topology): HTTP 400 with this message."""


class Backend(Protocol):
    local: bool

    def json(self, path: str) -> dict[str, Any]:
        """The REST API's answer for an /api/v1 GET path."""

    def graph(self, topo_id: str) -> TopologyGraph: ...

    def act(self, topo_id: str, action: str, wait_secs: int | None, body: Mapping[str, Any]) -> None: ...

    def pipeline_reader(self) -> StoreReader | None:
        """The pipeline's store to show on the pipeline page, if this server has one."""


def _json(status: int, body: Mapping[str, Any]) -> Response:
    return Response(status, "application/json", json.dumps(body).encode())


def _html(status: int, text: str) -> Response:
    return Response(status, "text/html; charset=utf-8", text.encode())


def static(path: str) -> Response | None:
    name = path[len("/static/") :]
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        return None
    file = STATIC / name
    if not file.is_file():
        return None
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind.endswith("javascript"):
        kind += "; charset=utf-8"
    return Response(200, kind, file.read_bytes(), {"Cache-Control": "no-cache"})


def get(raw_path: str, backend: Backend) -> Response | None:
    """The dashboard's answer to a GET, or None when `raw_path` is not one of its pages."""
    parts = urlsplit(raw_path)
    path, query = parts.path, parse_qs(parts.query)
    if path.startswith("/static/"):
        return static(path)
    if ACTION_PATH.match(path.rstrip("/")):
        return _json(
            405, {"error": "method not allowed", "errorMessage": f"{path}: actions take POST, not GET"}
        )
    if path not in PAGES:
        return None
    try:
        return _html(200, _page(path, query, backend))
    except KeyError as exc:
        return _html(400, pages.render_error(400, f"missing query parameter {exc}"))
    except Exception as exc:  # noqa: BLE001 - Nimbus unreachable or the topology gone: say so on the page
        return _html(500, pages.render_error(500, f"{type(exc).__name__}: {exc}"))


def _page(path: str, query: Mapping[str, list[str]], backend: Backend) -> str:
    if path == "/pipeline.html":
        reader = backend.pipeline_reader()
        if reader is None:
            return pages.render_pipeline(None)
        with reader.open() as store:
            return pages.render_pipeline(pipeline_context(store, query), reader.where)
    if path == "/topology.html":
        topo_id = query["id"][0]
        topo = backend.json(f"/api/v1/topology/{quote(topo_id, safe='')}")
        return pages.render_topology(topo, render_svg(backend.graph(topo_id)), backend.local)
    if path == "/component.html":
        topo_id, comp = query["topology_id"][0], query["id"][0]
        data = backend.json(f"/api/v1/topology/{quote(topo_id, safe='')}/component/{quote(comp, safe='')}")
        return pages.render_component(data, backend.local)
    return pages.render_index(
        backend.json("/api/v1/cluster/summary"),
        backend.json("/api/v1/nimbus/summary"),
        backend.json("/api/v1/supervisor/summary"),
        backend.json("/api/v1/topology/summary"),
    )


def same_origin(headers: Mapping[str, str]) -> bool:
    """A browser's POST from another site carries its Origin: refuse those (actions are not for other pages)."""
    lower = {k.lower(): v for k, v in headers.items()}  # header names are case-insensitive
    origin = lower.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == lower.get("host", "")


def post(raw_path: str, body: bytes, headers: Mapping[str, str], backend: Backend) -> Response | None:
    """An action (Storm UI's POST endpoints), or None when `raw_path` is not one."""
    path = urlsplit(raw_path).path.rstrip("/")
    match = ACTION_PATH.match(path)
    if match is None:
        return None
    if not same_origin(headers):
        return _json(
            403, {"error": "forbidden", "errorMessage": "actions are accepted from this server's pages only"}
        )
    topo_id, action = unquote(match["id"]), match["action"]
    wait: int | None = None
    if action in ("rebalance", "kill"):
        raw = match["wait"]
        if raw is None or not raw.isdigit():
            return _json(
                400,
                {
                    "error": "bad request",
                    "errorMessage": f"{action}: wait time {raw!r} is not a whole number of seconds; "
                    f"POST /api/v1/topology/<id>/{action}/<seconds>",
                },
            )
        wait = int(raw)
    elif match["wait"] is not None:
        return None
    try:
        payload = json.loads(body) if body.strip() else {}
        if not isinstance(payload, dict):
            raise ValueError("the body must be a JSON object")
    except ValueError as exc:
        return _json(400, {"error": "bad request", "errorMessage": f"{action}: request body: {exc}"})
    try:
        backend.act(topo_id, action, wait, payload)
    except ActionError as exc:
        return _json(400, {"error": "bad request", "errorMessage": str(exc)})
    except Exception as exc:  # noqa: BLE001 - Nimbus refused or is unreachable: HTTP 500, as Storm's UI does
        return _json(500, {"error": "Internal Server Error", "errorMessage": f"{type(exc).__name__}: {exc}"})
    return _json(200, {"topologyOperation": action, "topologyId": topo_id, "status": "success"})


# -- Storm (Nimbus over Thrift) --------------------------------------------------------------------------------


def rebalance_options(wait: int | None, body: Mapping[str, Any]) -> dict[str, Any]:
    """Storm UI's rebalance body {"rebalanceOptions": {"numWorkers": N, "executors": {component: N}}} as the
    fields of a thrift RebalanceOptions. Raises ActionError naming a bad value."""
    opts = body.get("rebalanceOptions") or {}
    if not isinstance(opts, dict):
        raise ActionError(f"rebalanceOptions must be an object, got {opts!r}")
    out: dict[str, Any] = {"wait_secs": wait}
    workers = opts.get("numWorkers")
    if workers is not None:
        if not isinstance(workers, int) or workers < 1:
            raise ActionError(f"rebalanceOptions.numWorkers = {workers!r}: give a whole number >= 1")
        out["num_workers"] = workers
    executors = opts.get("executors") or {}
    if not isinstance(executors, dict):
        raise ActionError(
            f"rebalanceOptions.executors must be an object of component -> count, got {executors!r}"
        )
    for comp, n in executors.items():
        if not isinstance(n, int) or n < 1:
            raise ActionError(f"rebalanceOptions.executors.{comp} = {n!r}: give a whole number >= 1")
    if executors:
        out["num_executors"] = {str(k): int(v) for k, v in executors.items()}
    return out


class NimbusBackend:
    """The dashboard on the Storm UI server: `answer(path, query, client)` is the REST API's (storm_ui.answer);
    `connect()` opens a Nimbus client per request."""

    local = False

    def __init__(
        self,
        connect: Callable[[], AbstractContextManager[Any]],
        answer: Callable[[str, Mapping[str, list[str]], Any], dict[str, Any]],
    ) -> None:
        self.connect = connect
        self.answer = answer

    def json(self, path: str) -> dict[str, Any]:
        with self.connect() as client:
            return self.answer(path, {}, client)

    def pipeline_reader(self) -> StoreReader | None:
        return None

    def graph(self, topo_id: str) -> TopologyGraph:
        with self.connect() as client:
            return from_storm_topology(client.getUserTopology(topo_id))

    def act(self, topo_id: str, action: str, wait_secs: int | None, body: Mapping[str, Any]) -> None:
        from streamparse.thrift import KillOptions, RebalanceOptions

        with self.connect() as client:
            # Nimbus's actions take the topology's name; the UI's paths its id (Storm's UI looks it up the same way)
            name = next((t.name for t in client.getClusterInfo().topologies or [] if t.id == topo_id), None)
            if name is None:
                raise ActionError(
                    f"no topology with id {topo_id!r} is running (see /api/v1/topology/summary)"
                )
            if action == "activate":
                client.activate(name)
            elif action == "deactivate":
                client.deactivate(name)
            elif action == "kill":
                client.killTopologyWithOpts(name, KillOptions(wait_secs=wait_secs))
            else:
                client.rebalance(name, RebalanceOptions(**rebalance_options(wait_secs, body)))
