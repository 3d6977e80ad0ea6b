"""AggregateBolt: event-time windows per (tenant, device_id, metric) -> window records for persist."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from streamparse import Stream

from squall.pipeline.model import Store, WindowResult
from squall.pipeline.stores import make_store
from squall.pipeline.tuples import LATE_FIELDS, RECORD_FIELDS, record_values
from squall.windowing.bolt import STORM_DEFAULT_MESSAGE_TIMEOUT_S, WindowedBolt
from squall.windowing.definitions import WindowDefinition
from squall.windowing.manager import ClosedWindow, Key


class AggregateBolt(WindowedBolt):
    outputs = [Stream(RECORD_FIELDS, "default"), Stream(LATE_FIELDS, "late")]
    store: Store | None = None

    def setup(
        self, settings: Mapping[str, Any], storm_conf: Mapping[str, Any], context: Mapping[str, Any]
    ) -> None:
        # After a restart, replays arrive within the message timeout (a failed tree replays, a restarted spout
        # resumes at its committed offset): for twice that, windows the store already holds are not rebuilt.
        timeout = float(storm_conf.get("topology.message.timeout.secs", STORM_DEFAULT_MESSAGE_TIMEOUT_S))
        self.pipeline_settings = settings
        self.windows.recover_from(self.stored, 2.0 * timeout)

    def stored(self, key: Key, definition: WindowDefinition, window_start: int, metric: str) -> bool:
        if self.store is None:
            self.store = make_store(self.pipeline_settings)  # the env's store, opened on first use
        return self.store.has_window(key[0], key[1], metric, definition.length_s, window_start)

    def extract(self, tup: Any) -> tuple[Key, str, int, Mapping[str, float]]:
        tenant, device_id, event, _source = tup.values
        return (tenant, device_id), event["event_id"], int(event["ts"]), event["metrics"]

    def emit_window(self, window: ClosedWindow, anchors: list[Hashable]) -> None:
        tenant, device_id = window.key
        for metric, s in window.results.items():
            row = WindowResult(
                tenant=tenant,
                device_id=device_id,
                metric=metric,
                window_s=window.definition.length_s,
                window_start=window.start,
                window_end=window.end,
                count=s.count,
                sum=s.sum,
                min=s.min,
                max=s.max,
                mean=s.mean,
                p50=s.p50,
                p95=s.p95,
            )
            self.emit(record_values("window", row), anchors=anchors)
