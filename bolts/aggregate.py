"""AggregateBolt: event-time windows per (tenant, device_id, metric) -> window records for persist."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from streamparse import Stream

from squall.pipeline.model import WindowResult
from squall.pipeline.tuples import LATE_FIELDS, RECORD_FIELDS, record_values
from squall.windowing.bolt import WindowedBolt
from squall.windowing.manager import ClosedWindow, Key


class AggregateBolt(WindowedBolt):
    outputs = [Stream(RECORD_FIELDS, "default"), Stream(LATE_FIELDS, "late")]

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
