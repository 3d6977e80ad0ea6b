"""AggregateBolt.emit_windows builds its rows without WindowResult: the tuples must be what
`record_values("window", [WindowResult(...)])` made, key order, values and value types included."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from bolts.aggregate import ROWS_PER_TUPLE, AggregateBolt
from squall.pipeline.model import WINDOW_COLUMNS, WindowResult
from squall.pipeline.tuples import record_values, shard_of
from squall.windowing.definitions import sliding, tumbling
from squall.windowing.manager import ClosedWindow
from squall.windowing.stats import summarize

T0 = 1_767_225_600_000


def previous_emit_windows(windows: list[ClosedWindow], shards: int) -> list[list[Any]]:
    """bolts.aggregate.emit_windows as it was (squall 47f9f3b)."""
    by_shard: dict[int, list[WindowResult]] = {}
    for window in windows:
        tenant, device_id = window.key
        rows = by_shard.setdefault(shard_of(tenant, device_id, shards), [])
        for metric, s in window.results.items():
            rows.append(
                WindowResult(
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
            )
    out = []
    for shard, rows in by_shard.items():
        for i in range(0, len(rows), ROWS_PER_TUPLE):
            out.append([*record_values("window", rows[i : i + ROWS_PER_TUPLE]), shard])
    return out


def test_window_rows_are_the_window_results_dicts() -> None:
    windows = [
        ClosedWindow(
            (f"t{d % 3}", f"d{d}"),
            definition,
            T0 + d * 1000,
            T0 + d * 1000 + definition.length_ms,
            {
                m: summarize([float(d), d / 3, -0.0, 1e-310][: 1 + d % 4])
                for m in ["a", "b", "c"][: 1 + d % 3]
            },
            (d,),
            frozenset({str(d)}),
        )
        for d in range(1000)
        for definition in (tumbling(10), sliding(60, 10))
    ]
    bolt = AggregateBolt.__new__(AggregateBolt)
    bolt.shards = 4
    emitted: list[Any] = []

    def emit(values: list[Any], anchors: list[Hashable] | None = None, stream: str = "default") -> None:
        emitted.append((values, anchors, stream))

    bolt.emit = emit
    bolt.emit_windows(windows, ["a1", "a2"])
    want = previous_emit_windows(windows, 4)
    assert [v for v, _, _ in emitted] == want
    assert all(anchors == ["a1", "a2"] and stream == "default" for _, anchors, stream in emitted)
    assert repr([v for v, _, _ in emitted]) == repr(want)
    assert all(list(row) == list(WINDOW_COLUMNS) for values, _, _ in emitted for row in values[1])
    assert max(len(values[1]) for values, _, _ in emitted) == ROWS_PER_TUPLE  # chunked as before
