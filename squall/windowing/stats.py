"""What one window computes for one metric: count, exact sum, min, max, mean and p50/p95.

A window keeps each counted event's value once (the window de-duplicates by event id before adding), so at
close the values are sorted once and everything follows from them, independent of arrival order, bit for bit:
the sum is `math.fsum` (correctly rounded), min/max the ends, and p50/p95 the exact lower quantiles
`sorted(v)[floor(q (n - 1))]`. Exact quantiles are within any relative accuracy a sketch would guarantee
(`pipeline.windows.sketch_relative_accuracy` stays the tolerance reconciliation allows) and cost one C sort per
window at close instead of a DDSketch insert per value per window (measured: ~6 µs per insert, bench.pipeline).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    count: int
    sum: float
    min: float
    max: float
    mean: float
    p50: float
    p95: float


def lower_quantile(ordered: list[float], q: float) -> float:
    """The exact lower q-quantile of sorted, non-empty values."""
    return ordered[math.floor(q * (len(ordered) - 1))]


def summarize(values: Iterable[float]) -> Summary:
    """The window's summary of its (distinct events') values; ValueError for no values."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("summary of an empty window")
    total = math.fsum(ordered)
    count = len(ordered)
    return Summary(
        count,
        total,
        ordered[0],
        ordered[-1],
        total / count,
        lower_quantile(ordered, 0.5),
        lower_quantile(ordered, 0.95),
    )
