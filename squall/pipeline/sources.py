"""Where the event spout reads from: the EventSource contract and the factory keyed by `pipeline.source`.

- "simulator": squall.pipeline.simulated_source.SimulatedSource (seeded devices, no services; the default).
- "kafka": squall.kafka.source.KafkaSource(settings, task_index, num_tasks) (imported lazily).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol

from squall.errors import ConfigError

Polled = tuple[Any, bytes, str, int, int]  # (msg_id, payload, topic, partition, offset)
SOURCES = {
    "simulator": "squall.pipeline.simulated_source:SimulatedSource",
    "kafka": "squall.kafka.source:KafkaSource",
}


class EventSource(Protocol):
    """At-least-once source of original message bytes. `poll` never blocks for long; None means nothing now.

    Every polled message is eventually `ack`ed or `fail`ed by its msg id; a failed one is polled again later.
    """

    def poll(self) -> Polled | None: ...

    def ack(self, msg_id: Any) -> None: ...

    def fail(self, msg_id: Any) -> None: ...

    def activate(self) -> None: ...

    def deactivate(self) -> None: ...

    def close(self) -> None: ...


def make_source(settings: Mapping[str, Any], task_index: int, num_tasks: int) -> EventSource:
    name = settings.get("source", "simulator")
    target = SOURCES.get(str(name))
    if target is None:
        raise ConfigError("pipeline.source", f"{name!r} is not a source", f"use one of {sorted(SOURCES)}")
    module, attr = target.split(":")
    cls = getattr(importlib.import_module(module), attr)
    source: EventSource = cls(dict(settings), task_index, num_tasks)
    return source


def check_source_settings(
    settings: Mapping[str, Any], storm_conf: Mapping[str, Any], spout_tasks: int
) -> None:
    """Checks that need both the source and the Storm conf; for the simulator its rate is known, so
    `topology.max.spout.pending` is checked against the windows (see validate_spout_pending)."""
    if settings.get("source", "simulator") != "simulator":
        return
    from squall.pipeline.simulator import SimulatorSettings
    from squall.windowing.definitions import parse_window_settings, validate_spout_pending

    sim = SimulatorSettings.from_settings(settings)
    windows = parse_window_settings(settings.get("windows"))
    validate_spout_pending(windows, storm_conf.get("topology.max.spout.pending"), sim.rate, spout_tasks)
