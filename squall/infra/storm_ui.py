"""The Storm UI's REST API (the read-only summary endpoints), served from Nimbus over Thrift.

Storm's own UI (the storm-webapp module) is not published on Maven Central, so squall cannot assemble it
from jars. This server answers the same JSON shapes (Storm 2.8's UIHelpers) for the endpoints squall and its
tests use:

    GET /api/v1/cluster/summary     GET /api/v1/supervisor/summary
    GET /api/v1/nimbus/summary      GET /api/v1/topology/summary
    GET /api/v1/topology/<id>[?window=W&sys=1]                    (Nimbus getTopologyPageInfo)
    GET /api/v1/topology/<id>/component/<component>[?window=W&sys=1]  (Nimbus getComponentPageInfo)
    GET /metrics      Prometheus text format, every topology's components (squall.observe.prometheus)

As in Storm, every error is a JSON body {"error": ..., "errorMessage": ...}; an unknown topology or component is
HTTP 500 (Storm's UI has no 404 for them: Nimbus answers NotAliveException and the UI maps it to 500).

Run: `python -m squall.infra.storm_ui --host 127.0.0.1 --port 8080 --nimbus 127.0.0.1:6627`
(`squall infra up ui` does this). Formatting is pure (`format_*`), serving is thin.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from squall.infra.endpoints import parse_host_port


def uptime_text(secs: int) -> str:
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
        "nimbusUptime": uptime_text(leader.uptime_secs) if leader else None,
        "nimbusUptimeSeconds": leader.uptime_secs if leader else None,
    }


def format_supervisor_summary(info: Any) -> dict[str, Any]:
    return {
        "supervisors": [
            {
                "id": s.supervisor_id,
                "host": s.host,
                "uptime": uptime_text(s.uptime_secs),
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
                "nimbusUpTime": uptime_text(n.uptime_secs),
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
                "uptime": uptime_text(t.uptime_secs),
                "uptimeSeconds": t.uptime_secs,
                "tasksTotal": t.num_tasks,
                "workersTotal": t.num_workers,
                "executorsTotal": t.num_executors,
            }
            for t in info.topologies or []
        ]
    }


ALL_TIME = ":all-time"
# Storm's Constants.COMMON_*_RESOURCE_NAME: the keys of a component's resources_map.
ONHEAP, OFFHEAP, CPU = "onheap.memory.mb", "offheap.memory.mb", "cpu.pcore.percent"


def _window_hint(window: str) -> str:
    return "All time" if window == ALL_TIME else uptime_text(int(window))


def float_str(value: float | None) -> str:
    """Storm's StatsUtil.floatStr: latencies and capacity as strings with 3 decimals, "0" when unknown."""
    return "0" if value is None else f"{value:.3f}"


def _zero(value: int | None) -> int:
    return 0 if value is None else int(value)


def _common_stats(common: Any) -> dict[str, Any]:
    out = {
        "executors": common.num_executors,
        "tasks": common.num_tasks,
        "emitted": common.emitted,
        "transferred": common.transferred,
        "acked": common.acked,
        "failed": common.failed,
    }
    if common.resources_map is not None:
        out["requestedMemOnHeap"] = common.resources_map.get(ONHEAP)
        out["requestedMemOffHeap"] = common.resources_map.get(OFFHEAP)
        out["requestedCpu"] = common.resources_map.get(CPU)
    return out


def _error_info(error: Any, now_secs: int, as_last_error: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "errorTime": error.error_time_secs,
        "errorHost": error.host,
        "errorPort": error.port,
        "errorLapsedSecs": now_secs - error.error_time_secs,
    }
    if as_last_error:
        out["lastError"] = error.error[:200]
    else:
        out["error"] = error.error
    return out


def _last_error(error: Any, now_secs: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "lastError": "",
        "errorHost": "",
        "errorPort": None,
        "errorTime": None,
        "errorLapsedSecs": None,
    }
    if error is not None:
        out.update(_error_info(error, now_secs, as_last_error=True))
    return out


def _spout_row(spout_id: str, stats: Any, now_secs: int) -> dict[str, Any]:
    return {
        **_common_stats(stats.common_stats),
        "spoutId": spout_id,
        "encodedSpoutId": quote(spout_id, safe=""),
        "completeLatency": float_str(stats.specific_stats.spout.complete_latency_ms),
        **_last_error(stats.last_error, now_secs),
    }


def _bolt_row(bolt_id: str, stats: Any, now_secs: int) -> dict[str, Any]:
    bolt = stats.specific_stats.bolt
    return {
        **_common_stats(stats.common_stats),
        "boltId": bolt_id,
        "encodedBoltId": quote(bolt_id, safe=""),
        "capacity": float_str(bolt.capacity),
        "executeLatency": float_str(bolt.execute_latency_ms),
        "executed": bolt.executed,
        "processLatency": float_str(bolt.process_latency_ms),
        **_last_error(stats.last_error, now_secs),
    }


def _topology_stats(stats: Any) -> list[dict[str, Any]]:
    if stats is None:
        return []
    emitted = stats.window_to_emitted or {}
    latency = stats.window_to_complete_latencies_ms or {}
    return [
        {
            "windowPretty": _window_hint(window),
            "window": window,
            "emitted": emitted[window],
            "transferred": (stats.window_to_transferred or {}).get(window),
            "completeLatency": float_str(latency.get(window)),
            "acked": (stats.window_to_acked or {}).get(window, 0),
            "failed": (stats.window_to_failed or {}).get(window, 0),
        }
        for window in emitted
    ]


def _worker(w: Any) -> dict[str, Any]:
    return {
        "supervisorId": w.supervisor_id,
        "host": w.host,
        "port": w.port,
        "topologyId": w.topology_id,
        "topologyName": w.topology_name,
        "executorsTotal": w.num_executors,
        "assignedMemOnHeap": w.assigned_memonheap,
        "assignedMemOffHeap": w.assigned_memoffheap,
        "assignedCpu": w.assigned_cpu,
        "componentNumTasks": w.component_to_num_tasks,
        "uptime": uptime_text(w.uptime_secs or 0),
        "uptimeSeconds": w.uptime_secs,
    }


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def format_topology(page: Any, window: str = ALL_TIME, now_secs: int | None = None) -> dict[str, Any]:
    """`/api/v1/topology/<id>`: Storm 2.8's getTopologySummary of a Nimbus TopologyPageInfo. `configuration` is
    the topology's effective conf as Nimbus holds it (a JSON object, as Storm gives it)."""
    now = int(time.time()) if now_secs is None else now_secs
    conf: dict[str, Any] = json.loads(page.topology_conf) if page.topology_conf else {}
    debug = bool(page.debug_options is not None and page.debug_options.enable)
    return {
        "id": page.id,
        "encodedId": quote(page.id, safe=""),
        "owner": page.owner,
        "name": page.name,
        "status": page.status,
        "uptime": uptime_text(page.uptime_secs or 0),
        "uptimeSeconds": page.uptime_secs,
        "tasksTotal": page.num_tasks,
        "workersTotal": page.num_workers,
        "executorsTotal": page.num_executors,
        "schedulerInfo": page.sched_status,
        "requestedMemOnHeap": page.requested_memonheap,
        "requestedMemOffHeap": page.requested_memoffheap,
        "requestedCpu": page.requested_cpu,
        "requestedTotalMem": _sum(page.requested_memonheap, page.requested_memoffheap),
        "assignedMemOnHeap": page.assigned_memonheap,
        "assignedMemOffHeap": page.assigned_memoffheap,
        "assignedTotalMem": _sum(page.assigned_memonheap, page.assigned_memoffheap),
        "assignedCpu": page.assigned_cpu,
        "topologyStats": _topology_stats(page.topology_stats),
        "workers": [_worker(w) for w in page.workers or []],
        "spouts": [_spout_row(k, v, now) for k, v in sorted((page.id_to_spout_agg_stats or {}).items())],
        "bolts": [_bolt_row(k, v, now) for k, v in sorted((page.id_to_bolt_agg_stats or {}).items())],
        "configuration": conf,
        "debug": debug,
        "samplingPct": page.debug_options.samplingpct if debug else 10,
        "replicationCount": page.replication_count,
        "user": None,
        "window": window,
        "windowHint": _window_hint(window),
        "msgTimeout": conf.get("topology.message.timeout.secs"),
        "visualizationTable": [],
        "schedulerDisplayResource": False,
    }


def _executor(summary: Any) -> dict[str, Any]:
    info = summary.executor_info
    executor_id = f"[{info.task_start}-{info.task_end}]"
    return {
        "id": executor_id,
        "encodedId": quote(executor_id, safe=""),
        "uptime": uptime_text(summary.uptime_secs),
        "uptimeSeconds": summary.uptime_secs,
        "host": summary.host,
        "port": summary.port,
    }


def _window_rows(page: Any, spout: bool) -> list[dict[str, Any]]:
    rows = []
    for window, stats in (page.window_to_stats or {}).items():
        common = stats.common_stats
        row: dict[str, Any] = {
            "window": window,
            "windowPretty": _window_hint(window),
            "emitted": common.emitted,
            "transferred": common.transferred,
            "acked": common.acked,
            "failed": common.failed,
        }
        if spout:
            row["completeLatency"] = float_str(stats.specific_stats.spout.complete_latency_ms)
        else:
            bolt = stats.specific_stats.bolt
            row["executeLatency"] = float_str(bolt.execute_latency_ms)
            row["executed"] = bolt.executed
            row["processLatency"] = float_str(bolt.process_latency_ms)
            row["capacity"] = float_str(bolt.capacity)
        rows.append(row)
    return rows


def _executor_stats(page: Any, spout: bool) -> list[dict[str, Any]]:
    out = []
    for item in page.exec_stats or []:
        common = item.stats.common_stats
        row = {
            **_executor(item.exec_summary),
            "emitted": _zero(common.emitted),
            "transferred": _zero(common.transferred),
            "acked": _zero(common.acked),
            "failed": _zero(common.failed),
        }
        if spout:
            row["completeLatency"] = float_str(item.stats.specific_stats.spout.complete_latency_ms)
        else:
            bolt = item.stats.specific_stats.bolt
            row["capacity"] = float_str(bolt.capacity or 0.0)
            row["executeLatency"] = float_str(bolt.execute_latency_ms)
            row["executed"] = _zero(bolt.executed)
            row["processLatency"] = float_str(bolt.process_latency_ms)
        out.append(row)
    return sorted(out, key=lambda r: int(r["id"][1:].split("-")[0]))


def _output_stats(page: Any, spout: bool) -> list[dict[str, Any]]:
    out = []
    for stream, stats in sorted((page.sid_to_output_stats or {}).items()):
        common = stats.common_stats
        row: dict[str, Any] = {
            "stream": stream,
            "emitted": _zero(common.emitted),
            "transferred": _zero(common.transferred),
        }
        if spout:
            row["completeLatency"] = float_str(stats.specific_stats.spout.complete_latency_ms)
            row["acked"] = _zero(common.acked)
            row["failed"] = _zero(common.failed)
        out.append(row)
    return out


def _input_stats(page: Any) -> list[dict[str, Any]]:
    out = []
    for gsid, stats in (page.gsid_to_input_stats or {}).items():
        bolt, common = stats.specific_stats.bolt, stats.common_stats
        out.append(
            {
                "component": gsid.componentId,
                "encodedComponentId": quote(gsid.componentId, safe=""),
                "stream": gsid.streamId,
                "executeLatency": float_str(bolt.execute_latency_ms),
                "processLatency": float_str(bolt.process_latency_ms),
                "executed": _zero(bolt.executed),
                "acked": _zero(common.acked),
                "failed": _zero(common.failed),
            }
        )
    return sorted(out, key=lambda r: (r["component"], r["stream"]))


COMPONENT_TYPES = {1: "bolt", 2: "spout"}  # storm.thrift ComponentType


def format_component(
    page: Any, topo_id: str, window: str = ALL_TIME, now_secs: int | None = None
) -> dict[str, Any]:
    """`/api/v1/topology/<id>/component/<component>`: Storm 2.8's getComponentPage of a ComponentPageInfo:
    per-window stats, output (and for bolts input) streams, one entry per executor with its host and port."""
    now = int(time.time()) if now_secs is None else now_secs
    kind = COMPONENT_TYPES.get(int(page.component_type), str(page.component_type))
    spout = kind == "spout"
    resources = page.resources_map or {}
    debug = bool(page.debug_options is not None and page.debug_options.enable)
    errors = sorted(page.errors or [], key=lambda e: e.error_time_secs)
    out: dict[str, Any] = {
        "spoutSummary" if spout else "boltStats": _window_rows(page, spout),
        "outputStats": _output_stats(page, spout),
        "executorStats": _executor_stats(page, spout),
        "componentErrors": [_error_info(e, now, as_last_error=False) for e in errors],
    }
    if not spout:
        out["inputStats"] = _input_stats(page)
    out.update(
        {
            "user": None,
            "id": page.component_id,
            "encodedId": quote(page.component_id, safe=""),
            "name": page.topology_name,
            "executors": page.num_executors,
            "tasks": page.num_tasks,
            "requestedMemOnHeap": resources.get(ONHEAP),
            "requestedMemOffHeap": resources.get(OFFHEAP),
            "requestedCpu": resources.get(CPU),
            "schedulerDisplayResource": False,
            "topologyId": topo_id,
            "topologyStatus": page.topology_status,
            "encodedTopologyId": quote(topo_id, safe=""),
            "window": window,
            "componentType": kind,
            "windowHint": _window_hint(window),
            "debug": debug,
            "samplingPct": page.debug_options.samplingpct if page.debug_options is not None else 10,
            "profilingAndDebuggingCapable": False,
            "profileActionEnabled": False,
            "profilerActive": [],
        }
    )
    return out


ROUTES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "/api/v1/cluster/summary": format_cluster_summary,
    "/api/v1/supervisor/summary": format_supervisor_summary,
    "/api/v1/nimbus/summary": format_nimbus_summary,
    "/api/v1/topology/summary": format_topology_summary,
}
TOPOLOGY_PATH = re.compile(r"^/api/v1/topology/(?P<id>[^/]+)(?:/component/(?P<component>[^/]+))?$")

Connect = Callable[[], AbstractContextManager[Any]]


class NotFound(Exception):
    """Nimbus does not know the topology or component (its NotAliveException)."""


def _not_alive(exc: Exception) -> bool:
    return type(exc).__name__ == "NotAliveException"


def answer(path: str, query: Mapping[str, list[str]], client: Any) -> dict[str, Any]:
    """The JSON for `path` (already stripped of its query string), asked of a Nimbus `client`. Raises KeyError
    for an unknown endpoint and NotFound for a topology or component Nimbus does not know."""
    route = ROUTES.get(path)
    if route is not None:
        return route(client.getClusterInfo())
    match = TOPOLOGY_PATH.match(path)
    if match is None:
        raise KeyError(path)
    topo_id = unquote(match["id"])
    window = query.get("window", [ALL_TIME])[0]
    sys = query.get("sys", ["0"])[0] in ("1", "true")
    try:
        if match["component"] is None:
            return format_topology(client.getTopologyPageInfo(topo_id, window, sys), window)
        component = unquote(match["component"])
        page = client.getComponentPageInfo(topo_id, component, window, sys)
        return format_component(page, topo_id, window)
    except Exception as exc:
        if _not_alive(exc):
            raise NotFound(
                f"Unable to fetch topo conf for topo id {topo_id}: NotAliveException({getattr(exc, 'msg', exc)})"
            ) from exc
        raise


def make_handler(connect: Connect) -> type[BaseHTTPRequestHandler]:
    """A request handler answering from the Nimbus client that `connect()` opens (a context manager) per request."""

    from squall.web import app as web

    dashboard = web.NimbusBackend(connect, answer)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            raw_path, _, raw_query = self.path.partition("?")
            path = raw_path.rstrip("/")
            if path == "/metrics":  # Prometheus text format (squall.observe.prometheus)
                self._metrics()
                return
            page = web.get(self.path, dashboard)  # the HTML dashboard (squall.web)
            if page is not None:
                self._reply(page)
                return
            if path not in ROUTES and not TOPOLOGY_PATH.match(path):
                self._send(
                    404,
                    {
                        "error": "not found",
                        "errorMessage": f"no endpoint {path}; try {', '.join(ROUTES)}, "
                        "/api/v1/topology/<id>, /api/v1/topology/<id>/component/<component>",
                    },
                )
                return
            try:
                with connect() as client:
                    body = answer(path, parse_qs(raw_query), client)
            except NotFound as exc:
                # Storm's UI: getTopologyConf throws NotAliveException -> AuthorizedUserFilter answers 500.
                self._send(
                    500,
                    {
                        "error": "500 Server Error",
                        "errorMessage": str(exc),
                    },
                )
                return
            except Exception as exc:  # noqa: BLE001 - report Nimbus being unreachable as the UI does: HTTP 500
                self._send(
                    500, {"error": "Internal Server Error", "errorMessage": f"{type(exc).__name__}: {exc}"}
                )
                return
            self._send(200, body)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            reply = web.post(
                self.path, self.rfile.read(length) if length else b"", dict(self.headers), dashboard
            )
            if reply is None:
                self._send(404, {"error": "not found", "errorMessage": f"no action at {self.path}"})
                return
            self._reply(reply)

        def _reply(self, reply: web.Response) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def _metrics(self) -> None:
            from prometheus_client import CONTENT_TYPE_LATEST

            from squall.observe.prometheus import storm_metrics_text

            try:
                with connect() as client:
                    data = storm_metrics_text(client)
            except Exception as exc:  # noqa: BLE001 - Nimbus unreachable: HTTP 500, as the other endpoints
                self._send(
                    500, {"error": "Internal Server Error", "errorMessage": f"{type(exc).__name__}: {exc}"}
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

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
    from squall.infra.storm import nimbus_client

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--nimbus", default="127.0.0.1:6627")
    args = parser.parse_args(argv)
    nimbus_host, nimbus_port = parse_host_port(args.nimbus, "--nimbus")
    server = ThreadingHTTPServer(
        (args.host, args.port), make_handler(lambda: nimbus_client(nimbus_host, nimbus_port, timeout=15.0))
    )
    server.daemon_threads = True
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
