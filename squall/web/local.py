"""A local run (`squall run --ui`) seen as Storm's UI sees a topology: the same JSON shapes, built from the
runner's figures.

`LocalMonitor` is the run's `on_step` hook: on the run's own thread it takes a snapshot of the figures at most
`period` seconds apart and carries out the actions the web thread queued (activate, deactivate). The web thread
only reads the latest snapshot (an immutable object swapped whole), so it never touches the running cluster.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from squall.infra.storm_ui import float_str as _ms
from squall.infra.storm_ui import uptime_text as _uptime
from squall.runner.metrics import ComponentStats, TaskMetrics
from squall.web.graph import TopologyGraph, from_runner_graph

LOCAL_HOST = "localhost"
ACTIONS = ("activate", "deactivate")


@dataclass(frozen=True)
class TaskFigures:
    task: int
    pid: int | None
    metrics: TaskMetrics


@dataclass(frozen=True)
class Snapshot:
    """What the page shows of a local run at one moment."""

    name: str
    status: str  # "ACTIVE" | "INACTIVE" | "KILLED" (the run ended)
    uptime_secs: float
    hosting: str
    components: tuple[ComponentStats, ...]
    tasks: dict[str, tuple[TaskFigures, ...]] = field(default_factory=dict)
    last_errors: dict[str, str] = field(default_factory=dict)

    @property
    def topology_id(self) -> str:
        return f"{self.name}-local"


def _common(c: ComponentStats) -> dict[str, Any]:
    return {
        "executors": c.tasks,
        "tasks": c.tasks,
        "emitted": c.emitted,
        "transferred": c.transferred,
        "acked": c.acked,
        "failed": c.failed,
        "lastError": "",
        "errorHost": "",
        "errorPort": None,
        "errorTime": None,
        "errorLapsedSecs": None,
    }


def format_local_topology(snap: Snapshot) -> dict[str, Any]:
    """The `/api/v1/topology/<id>` JSON (Storm 2.8's shape, the fields the dashboard reads) of a local run."""
    spouts, bolts = [], []
    for c in snap.components:
        row = _common(c)
        row["lastError"] = snap.last_errors.get(c.name, "")
        if c.kind == "spout":
            row.update(
                {
                    "spoutId": c.name,
                    "encodedSpoutId": quote(c.name, safe=""),
                    "completeLatency": _ms(c.latency_ms),
                }
            )
            spouts.append(row)
        else:
            row.update(
                {
                    "boltId": c.name,
                    "encodedBoltId": quote(c.name, safe=""),
                    "capacity": _ms(c.capacity),
                    "executeLatency": _ms(c.execute_ms),
                    "executed": c.executed,
                    "processLatency": _ms(c.latency_ms),
                }
            )
            bolts.append(row)
    tasks = sum(c.tasks for c in snap.components)
    uptime = int(snap.uptime_secs)
    emitted = sum(c.emitted for c in snap.components)
    return {
        "id": snap.topology_id,
        "encodedId": quote(snap.topology_id, safe=""),
        "name": snap.name,
        "owner": os.environ.get("USER", ""),
        "status": snap.status,
        "uptime": _uptime(uptime),
        "uptimeSeconds": uptime,
        "tasksTotal": tasks,
        "workersTotal": 1,
        "executorsTotal": tasks,
        "schedulerInfo": f"squall run ({snap.hosting})",
        "topologyStats": [
            {
                "windowPretty": "All time",
                "window": ":all-time",
                "emitted": emitted,
                "transferred": sum(c.transferred for c in snap.components),
                "completeLatency": _ms(
                    max((c.latency_ms for c in snap.components if c.kind == "spout"), default=None)
                ),
                "acked": sum(c.acked for c in snap.components if c.kind == "spout"),
                "failed": sum(c.failed for c in snap.components if c.kind == "spout"),
            }
        ],
        "workers": [
            {
                "host": LOCAL_HOST,
                "port": None,
                "topologyId": snap.topology_id,
                "topologyName": snap.name,
                "executorsTotal": tasks,
                "uptime": _uptime(uptime),
                "uptimeSeconds": uptime,
            }
        ],
        "spouts": spouts,
        "bolts": bolts,
        "configuration": {},
        "window": ":all-time",
        "windowHint": "All time",
        "local": True,
    }


def format_local_component(snap: Snapshot, component: str) -> dict[str, Any]:
    """The `/api/v1/topology/<id>/component/<component>` JSON of a local run: one executor per task."""
    stats = next((c for c in snap.components if c.name == component), None)
    if stats is None:
        raise KeyError(component)
    spout = stats.kind == "spout"
    executors = []
    for t in snap.tasks.get(component, ()):
        m = t.metrics
        latency = m.latency_sum / m.executed * 1000 if m.executed else 0.0
        row: dict[str, Any] = {
            "id": f"[{t.task}-{t.task}]",
            "encodedId": quote(f"[{t.task}-{t.task}]", safe=""),
            "uptime": _uptime(int(snap.uptime_secs)),
            "uptimeSeconds": int(snap.uptime_secs),
            "host": LOCAL_HOST,
            "port": None,  # tasks of a local run listen on no port; `pid` is the process hosting the task
            "pid": t.pid,
            "emitted": m.emitted,
            "transferred": m.transferred,
            "acked": m.acked,
            "failed": m.failed,
        }
        if spout:
            row["completeLatency"] = _ms(latency)
        else:
            row["processLatency"] = _ms(latency)
            row["executed"] = m.executed
            # the time inside the component, as the runner measures it in both hostings (squall.runner.metrics)
            measured = m.exec_measured and m.exec_count > 0
            row["executeLatency"] = _ms(m.exec_ns / m.exec_count / 1e6 if measured else None)
            row["capacity"] = _ms(
                m.exec_ns / 1e9 / snap.uptime_secs if measured and snap.uptime_secs > 0 else None
            )
        executors.append(row)
    return {
        "id": component,
        "encodedId": quote(component, safe=""),
        "name": snap.name,
        "componentType": stats.kind,
        "executors": stats.tasks,
        "tasks": stats.tasks,
        "topologyId": snap.topology_id,
        "encodedTopologyId": quote(snap.topology_id, safe=""),
        "topologyStatus": snap.status,
        "window": ":all-time",
        "windowHint": "All time",
        "executorStats": executors,
        "componentErrors": [{"error": snap.last_errors[component]}] if component in snap.last_errors else [],
        "local": True,
    }


def format_local_cluster(snap: Snapshot | None) -> dict[str, Any]:
    """`/api/v1/cluster/summary` for a local run: one process, no supervisors."""
    tasks = sum(c.tasks for c in snap.components) if snap else 0
    return {
        "stormVersion": None,
        "supervisors": 0,
        "topologies": 1 if snap else 0,
        "slotsTotal": 1,
        "slotsUsed": 1,
        "slotsFree": 0,
        "executorsTotal": tasks,
        "tasksTotal": tasks,
        "nimbusUptime": _uptime(int(snap.uptime_secs)) if snap else None,
        "local": True,
    }


def format_local_topologies(snap: Snapshot | None) -> dict[str, Any]:
    if snap is None:
        return {"topologies": []}
    tasks = sum(c.tasks for c in snap.components)
    return {
        "topologies": [
            {
                "id": snap.topology_id,
                "encodedId": quote(snap.topology_id, safe=""),
                "name": snap.name,
                "status": snap.status,
                "uptime": _uptime(int(snap.uptime_secs)),
                "uptimeSeconds": int(snap.uptime_secs),
                "tasksTotal": tasks,
                "workersTotal": 1,
                "executorsTotal": tasks,
            }
        ]
    }


def take_snapshot(cluster: Any, status: str) -> Snapshot:
    """The figures of a running squall.runner.cluster.Cluster (call on the run's own thread)."""
    summary = cluster.summary("running")
    tasks: dict[str, tuple[TaskFigures, ...]] = {}
    for name, comp in cluster.graph.components.items():
        rows = []
        for t in comp.tasks:
            ex = cluster.executors.get(t)
            if ex is None:
                continue
            rows.append(
                TaskFigures(t, getattr(cluster.hosts.get(t), "pid", None) or os.getpid(), replace(ex.metrics))
            )
        tasks[name] = tuple(rows)
    last_errors: dict[str, str] = {}
    for err in summary.errors:
        last_errors[err.component] = err.signature[:200]
    return Snapshot(
        name=cluster.graph.name,
        status=status,
        uptime_secs=max(summary.seconds, 0.0),
        hosting=summary.hosting,
        components=tuple(summary.components),
        tasks=tasks,
        last_errors=last_errors,
    )


class LocalMonitor:
    """The `on_step` hook of a local run: snapshots for the web thread, actions from it."""

    def __init__(self, period: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = period
        self.clock = clock
        self.graph: TopologyGraph | None = None
        self._snapshot: Snapshot | None = None
        self._next = 0.0
        self._lock = threading.Lock()
        self._actions: list[str] = []
        self._status = "ACTIVE"

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def request(self, action: str) -> None:
        """Queue `action` (one of ACTIONS) for the run's thread; raises ValueError for any other."""
        if action not in ACTIONS:
            raise ValueError(
                f"a local run supports {', '.join(ACTIONS)}, not {action!r} (stop the run with Ctrl-C; "
                "change parallelism with --par)"
            )
        with self._lock:
            self._actions.append(action)

    def __call__(self, cluster: Any) -> None:
        if self.graph is None:
            self.graph = from_runner_graph(cluster.graph)
        if self._actions:
            with self._lock:
                actions, self._actions = self._actions, []
            for action in actions:
                self._apply(cluster, action)
            self._next = 0.0
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.period
        self._snapshot = take_snapshot(cluster, self._status)

    def finished(self, cluster: Any) -> None:
        """The run ended: keep its last figures, marked KILLED (Storm's word for a topology that stopped)."""
        self._status = "KILLED"
        self._snapshot = take_snapshot(cluster, self._status)

    def _apply(self, cluster: Any, action: str) -> None:
        if action == "deactivate":
            cluster.deactivate()
            self._status = "INACTIVE"
        elif action == "activate":
            cluster.active = True
            for spout in cluster.spouts:
                if not spout.active:
                    spout.active = True
                    spout.tell({"command": "activate"})
            self._status = "ACTIVE"
