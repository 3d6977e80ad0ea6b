"""Counters per task and their per-component roll-up, as Storm's UI shows them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(slots=True)
class TaskMetrics:
    emitted: int = 0  # emit calls
    transferred: int = 0  # tuples delivered to tasks (an emit to 3 tasks transfers 3)
    executed: int = 0  # bolts: tuples acked or failed; spouts: trees completed
    acked: int = 0
    failed: int = 0
    errors: int = 0
    restarts: int = 0
    latency_sum: float = 0.0  # seconds; bolts: delivery -> ack/fail; spouts: emit -> tree complete
    exec_secs: float = 0.0  # inline only: time measured inside the component's code


@dataclass
class ComponentStats:
    name: str
    kind: str
    tasks: int
    hosting: str
    emitted: int = 0
    transferred: int = 0
    executed: int = 0
    acked: int = 0
    failed: int = 0
    errors: int = 0
    restarts: int = 0
    latency_ms: float = 0.0  # bolts: avg process latency (delivery -> ack); spouts: avg complete latency
    # bolts: avg execute latency and capacity (executed * avg execute latency / window, Storm's UI, per task on
    # average). Measured inline only; None in process mode, where the runner cannot see inside the component
    # (its process latency, delivery -> ack, includes time a windowing/batching bolt holds the tuple).
    execute_ms: float | None = None
    capacity: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def roll_up(
    name: str, kind: str, hosting: str, tasks: list[TaskMetrics], window_secs: float
) -> ComponentStats:
    s = ComponentStats(name=name, kind=kind, tasks=len(tasks), hosting=hosting)
    latency = 0.0
    exec_secs = 0.0
    for t in tasks:
        s.emitted += t.emitted
        s.transferred += t.transferred
        s.executed += t.executed
        s.acked += t.acked
        s.failed += t.failed
        s.errors += t.errors
        s.restarts += t.restarts
        latency += t.latency_sum
        exec_secs += t.exec_secs
    if s.executed:
        s.latency_ms = round(latency / s.executed * 1000, 4)
    if kind == "bolt" and hosting == "inline":
        s.execute_ms = round(exec_secs / s.executed * 1000, 4) if s.executed else 0.0
        if window_secs > 0 and tasks:
            s.capacity = round(exec_secs / window_secs / len(tasks), 4)
    return s
