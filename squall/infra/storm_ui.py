"""The Storm UI's REST API (the read-only summary endpoints), served from Nimbus over Thrift.

Storm's own UI (the storm-webapp module) is not published on Maven Central, so squall cannot assemble it
from jars. This server answers the same JSON shapes for the endpoints squall and its tests use:

    GET /api/v1/cluster/summary     GET /api/v1/supervisor/summary
    GET /api/v1/nimbus/summary      GET /api/v1/topology/summary

Run: `python -m squall.infra.storm_ui --host 127.0.0.1 --port 8080 --nimbus 127.0.0.1:6627`
(`squall infra up ui` does this). Formatting is pure (`format_*`), serving is thin.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from squall.infra.endpoints import parse_host_port


def _uptime(secs: int) -> str:
    days, rest = divmod(int(secs), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    if days or hours or minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{seconds}s")
    return " ".join(parts)


def format_cluster_summary(info: Any) -> dict[str, Any]:
    sups = info.supervisors or []
    topos = info.topologies or []
    leader = next((n for n in info.nimbuses or [] if n.isLeader), None)
    total = sum(s.num_workers for s in sups)
    used = sum(s.num_used_workers for s in sups)
    return {
        "stormVersion": leader.version if leader else None,
        "supervisors": len(sups),
        "topologies": len(topos),
        "slotsTotal": total,
        "slotsUsed": used,
        "slotsFree": total - used,
        "executorsTotal": sum(t.num_executors for t in topos),
        "tasksTotal": sum(t.num_tasks for t in topos),
        "nimbusUptime": _uptime(leader.uptime_secs) if leader else None,
        "nimbusUptimeSeconds": leader.uptime_secs if leader else None,
    }


def format_supervisor_summary(info: Any) -> dict[str, Any]:
    return {
        "supervisors": [
            {
                "id": s.supervisor_id,
                "host": s.host,
                "uptime": _uptime(s.uptime_secs),
                "uptimeSeconds": s.uptime_secs,
                "slotsTotal": s.num_workers,
                "slotsUsed": s.num_used_workers,
                "slotsFree": s.num_workers - s.num_used_workers,
                "version": s.version,
            }
            for s in info.supervisors or []
        ]
    }


def format_nimbus_summary(info: Any) -> dict[str, Any]:
    return {
        "nimbuses": [
            {
                "host": n.host,
                "port": n.port,
                "nimbusUpTime": _uptime(n.uptime_secs),
                "nimbusUpTimeSeconds": n.uptime_secs,
                "status": "Leader" if n.isLeader else "Not a Leader",
                "version": n.version,
            }
            for n in info.nimbuses or []
        ]
    }


def format_topology_summary(info: Any) -> dict[str, Any]:
    return {
        "topologies": [
            {
                "id": t.id,
                "encodedId": t.id,
                "name": t.name,
                "status": t.status,
                "uptime": _uptime(t.uptime_secs),
                "uptimeSeconds": t.uptime_secs,
                "tasksTotal": t.num_tasks,
                "workersTotal": t.num_workers,
                "executorsTotal": t.num_executors,
            }
            for t in info.topologies or []
        ]
    }


ROUTES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "/api/v1/cluster/summary": format_cluster_summary,
    "/api/v1/supervisor/summary": format_supervisor_summary,
    "/api/v1/nimbus/summary": format_nimbus_summary,
    "/api/v1/topology/summary": format_topology_summary,
}


def make_handler(fetch: Callable[[], Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0].rstrip("/")
            route = ROUTES.get(path)
            if route is None:
                self._send(
                    404,
                    {"error": "not found", "errorMessage": f"no endpoint {path}; try {', '.join(ROUTES)}"},
                )
                return
            try:
                body = route(fetch())
            except Exception as exc:  # noqa: BLE001 - report Nimbus being unreachable as the UI does: HTTP 500
                self._send(
                    500, {"error": "Internal Server Error", "errorMessage": f"{type(exc).__name__}: {exc}"}
                )
                return
            self._send(200, body)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    from squall.infra.storm import cluster_info

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--nimbus", default="127.0.0.1:6627")
    args = parser.parse_args(argv)
    nimbus_host, nimbus_port = parse_host_port(args.nimbus, "--nimbus")
    server = ThreadingHTTPServer(
        (args.host, args.port), make_handler(lambda: cluster_info(nimbus_host, nimbus_port))
    )
    server.daemon_threads = True
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
