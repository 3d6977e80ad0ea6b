"""Event-to-store latency: from an event's arrival in Kafka to the window row that holds it in Cassandra.

An event's arrival is its Kafka record's timestamp (the producer's CreateTime); its window row is written when
Cassandra's `WRITETIME` says (the client-side timestamp persist's driver gives the write, µs since the epoch).
An event is in one row per metric and window length; its latency for a window length is the latest of those
rows' write times less its arrival: when the store holds every aggregate the event contributes to. A row that
was amended after an early close counts at its last write (Cassandra keeps the newest timestamp).

Only events the pipeline aggregates count (valid, in time, first copy, routed to windows); a late event's
window was written before it arrived, a duplicate's by its first copy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

RowKey = tuple[str, str, str, int, int]  # tenant, device_id, metric, window_s, window_start (ms)


@dataclass(frozen=True)
class Arrival:
    tenant: str
    device_id: str
    ts: int  # event time, ms
    metrics: tuple[str, ...]
    record_ms: int  # Kafka record timestamp


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100) of `values`: the smallest value that at least q% of
    the values are less than or equal to. Raises ValueError on no values or q out of range."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile q={q} is outside (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[rank - 1]


def window_start(ts: int, length_s: int) -> int:
    """Start (ms) of the tumbling window of `length_s` seconds holding event time `ts` (ms)."""
    length_ms = length_s * 1000
    return ts - ts % length_ms


def latencies_ms(
    arrivals: Iterable[Arrival], written_ms: Mapping[RowKey, int], lengths_s: Iterable[int]
) -> tuple[dict[int, list[int]], dict[int, int]]:
    """Per window length: each event's latency (ms) to the last write of its rows, and how many events had a
    row missing from `written_ms` (0 when the store is complete)."""
    lengths = list(lengths_s)
    out: dict[int, list[int]] = {n: [] for n in lengths}
    missing: dict[int, int] = dict.fromkeys(lengths, 0)
    for a in arrivals:
        for n in lengths:
            start = window_start(a.ts, n)
            times = [written_ms.get((a.tenant, a.device_id, m, n, start)) for m in a.metrics]
            if not times or any(t is None for t in times):
                missing[n] += 1
                continue
            out[n].append(max(t for t in times if t is not None) - a.record_ms)
    return out, missing


def summarize(latencies: Mapping[int, list[int]], missing: Mapping[int, int]) -> dict[str, dict[str, float]]:
    """p50/p99/max in seconds and the event count, per window length ("10s", "60s")."""
    out: dict[str, dict[str, float]] = {}
    for n, values in sorted(latencies.items()):
        row: dict[str, float] = {"events": len(values), "missing_rows": missing.get(n, 0)}
        if values:
            row |= {
                "p50_s": round(percentile(values, 50) / 1000, 3),
                "p99_s": round(percentile(values, 99) / 1000, 3),
                "max_s": round(max(values) / 1000, 3),
            }
        out[f"{n}s"] = row
    return out
