"""Where the event spout reads from: the EventSource contract and the factory keyed by `pipeline.source`.

- "simulator": squall.pipeline.simulated_source.SimulatedSource (seeded devices, no services; the default).
- "kafka": squall.kafka.source.KafkaSource(settings, task_index, num_tasks) (imported lazily).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from squall.pipeline.settings import PipelineSettings

Polled = tuple[Any, bytes, str, int, int]  # (msg_id, payload, topic, partition, offset)
log = logging.getLogger(__name__)
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


def make_source(
    settings: PipelineSettings | Mapping[str, Any], task_index: int, num_tasks: int
) -> EventSource:
    typed = PipelineSettings.of(settings)
    module, attr = SOURCES[typed.source].split(":")
    cls = getattr(importlib.import_module(module), attr)
    source: EventSource = cls(typed, task_index, num_tasks)
    return source


DEFAULT_SPOUT_BATCH = 200


def spout_batch_size(settings: PipelineSettings | Mapping[str, Any]) -> int:
    """`pipeline.spout.batch_size`: most messages the event spout emits per next_tuple call (default 1000)."""
    return PipelineSettings.of(settings).spout.batch_size


def peak_rate(settings: PipelineSettings | Mapping[str, Any]) -> float | None:
    """`pipeline.peak_events_per_s`: the highest sustained event rate the operator expects (optional)."""
    return PipelineSettings.of(settings).peak_events_per_s


def check_source_settings(
    settings: PipelineSettings | Mapping[str, Any], storm_conf: Mapping[str, Any], spout_tasks: int
) -> None:
    """Checks that need both the source and the Storm conf. Windows hold their tuples (unacked) for the longest
    window + allowed lateness, so at the event rate (the simulator's, or `pipeline.peak_events_per_s` for Kafka)
    `topology.max.spout.pending` and the Kafka source's `max_uncommitted` per partition must hold that much;
    otherwise the spout stops, devices look idle and the idle timeout closes windows early. A violation is a
    ConfigError naming the key and the value to set; a Kafka source without a peak rate gets a warning that
    states the highest rate the limits allow."""
    from squall.windowing.definitions import hold_ceiling, validate_spout_pending, validate_uncommitted

    typed = PipelineSettings.of(settings)
    windows = typed.windows
    max_pending = storm_conf.get("topology.max.spout.pending")
    rate = typed.simulator.rate if typed.source == "simulator" else typed.peak_events_per_s
    if rate is not None:
        validate_spout_pending(windows, max_pending, rate, spout_tasks)
    if typed.source == "kafka":
        kafka = typed.kafka
        if rate is not None:
            validate_uncommitted(windows, kafka.max_uncommitted, rate, kafka.partitions)
        else:
            log.warning(
                "%s", hold_ceiling(windows, max_pending, spout_tasks, kafka.max_uncommitted, kafka.partitions)
            )
