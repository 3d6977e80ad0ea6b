"""Serving the dashboard for a local run (`squall run --ui`): a thread in the `squall run` process answering the
same pages as the Storm UI server and the REST API's JSON for the local topology, from a `LocalMonitor`."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from squall.errors import ConfigError
from squall.web import app
from squall.web.graph import TopologyGraph
from squall.web.local import (
    LocalMonitor,
    format_local_cluster,
    format_local_component,
    format_local_topologies,
    format_local_topology,
)
from squall.web.pipeline_page import StoreReader

DEFAULT_UI_PORT = 8090  # clear of the services' ports (8080 Storm UI, 2181, 9092, 9042, 6627, 6628, 2000)
TOPOLOGY_PATH = re.compile(r"^/api/v1/topology/(?P<id>[^/]+)(?:/component/(?P<component>[^/]+))?$")


class LocalBackend:
    """The dashboard's backend for a local run."""

    local = True

    def __init__(self, monitor: LocalMonitor, reader: StoreReader | None = None) -> None:
        self.monitor = monitor
        self.reader = reader

    def pipeline_reader(self) -> StoreReader | None:
        return self.reader

    def json(self, path: str) -> dict[str, Any]:
        snap = self.monitor.snapshot
        if path == "/api/v1/cluster/summary":
            return format_local_cluster(snap)
        if path == "/api/v1/topology/summary":
            return format_local_topologies(snap)
        if path == "/api/v1/nimbus/summary":
            return {"nimbuses": []}
        if path == "/api/v1/supervisor/summary":
            return {"supervisors": []}
        match = TOPOLOGY_PATH.match(path)
        if match is None:
            raise KeyError(path)
        if snap is None or unquote(match["id"]) != snap.topology_id:
            raise LookupError(
                f"no local topology {unquote(match['id'])!r} (this run is not started yet, or serves another)"
            )
        if match["component"] is None:
            return format_local_topology(snap)
        return format_local_component(snap, unquote(match["component"]))

    def graph(self, topo_id: str) -> TopologyGraph:
        if self.monitor.graph is None:
            return TopologyGraph((), ())
        return self.monitor.graph

    def act(self, topo_id: str, action: str, wait_secs: int | None, body: Mapping[str, Any]) -> None:
        snap = self.monitor.snapshot
        if snap is None or topo_id != snap.topology_id:
            raise app.ActionError(f"no local topology {topo_id!r}")
        try:
            self.monitor.request(action)
        except ValueError as exc:
            raise app.ActionError(str(exc)) from exc


def make_handler(backend: LocalBackend) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urlsplit(self.path).path
            if path == "/" or path == "/index.html":
                snap = backend.monitor.snapshot
                if snap is not None:  # one topology: its page is the front page
                    self._send(
                        app.Response(
                            302, "text/plain", b"", {"Location": f"/topology.html?id={snap.topology_id}"}
                        )
                    )
                    return
            page = app.get(self.path, backend)
            if page is not None:
                self._send(page)
                return
            try:
                body = backend.json(path.rstrip("/"))
            except KeyError:
                self._send(app._json(404, {"error": "not found", "errorMessage": f"no endpoint {path}"}))
                return
            except LookupError as exc:
                self._send(app._json(500, {"error": "500 Server Error", "errorMessage": str(exc)}))
                return
            self._send(app._json(200, body))

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            answer = app.post(self.path, body, dict(self.headers.items()), backend)
            if answer is None:
                answer = app._json(404, {"error": "not found", "errorMessage": f"no action at {self.path}"})
            self._send(answer)

        def _send(self, response: app.Response) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass

    return Handler


class LocalUI:
    """The local run's web server on a daemon thread; `monitor` is the run's on_step hook."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_UI_PORT,
        period: float = 1.0,
        pipeline: Mapping[str, Any] | None = None,
    ) -> None:
        """`pipeline`: the run's pipeline settings (its store is shown on the pipeline page)."""
        self.monitor = LocalMonitor(period=period)
        self.reader = StoreReader(pipeline) if pipeline else None
        try:
            backend = LocalBackend(self.monitor, self.reader)
            self.server = ThreadingHTTPServer((host, port), make_handler(backend))
        except OSError as exc:
            raise ConfigError(
                "--ui-port",
                f"{port}: cannot listen on {host}:{port} ({exc.strerror})",
                "choose a free port with --ui-port, or leave out --ui",
            ) from exc
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="squall-ui", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}/"

    def __enter__(self) -> LocalUI:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
        if self.reader is not None:
            self.reader.close()
