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


def test_a_provisional_windows_rows_carry_its_values_and_event_ids() -> None:
    """A window an idle timeout closed early: each metric's row carries that metric's values and the window's
    event ids, and round-trips through WindowResult and the stores' state column."""
    from squall.pipeline.model import decode_state
    from squall.pipeline.tuples import record_from_values
    from squall.windowing.manager import Provisional

    values = {"a": (1.0, 2.5), "b": (7.0,)}
    window = ClosedWindow(
        ("t0", "d0"),
        tumbling(10),
        T0,
        T0 + 10_000,
        {m: summarize(v) for m, v in values.items()},
        ("tok",),
        frozenset({"e1", "e2"}),
        final=False,
        values=values,
    )
    bolt = AggregateBolt.__new__(AggregateBolt)
    bolt.shards = 4
    emitted: list[Any] = []
    bolt.emit = lambda values, anchors=None, stream="default": emitted.append(values)
    bolt.emit_windows([window], ["tok"])
    [[kind, rows, _]] = emitted
    assert kind == "window" and [r["metric"] for r in rows] == ["a", "b"]
    for row in rows:
        assert row["provisional"] is True and sorted(row["event_ids"]) == ["e1", "e2"]
        assert row["values"] == list(values[row["metric"]])
        record = record_from_values("window", row)
        assert record.to_dict() == row
        state = decode_state(record.state())
        assert sorted(state.event_ids) == ["e1", "e2"]
        assert state == Provisional(state.event_ids, values[row["metric"]])
