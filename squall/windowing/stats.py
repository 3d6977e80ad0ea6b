"""What one window computes for one metric: count, exact sum, min, max, mean and p50/p95.

A window keeps each counted event's value once (the window de-duplicates by event id before adding), so at
close the values are sorted once and everything follows from them, independent of arrival order, bit for bit:
the sum is `math.fsum` (correctly rounded), min/max the ends. p50/p95 come from a mergeable quantile sketch
(DDSketch, relative accuracy `pipeline.windows.sketch_relative_accuracy`), filled once at close from the
sorted values rather than per value per window on the hot path (~6 µs an insert measured under load,
bench.pipeline), and fed one `add(value, weight)` per run of sorted values sharing a bin (`feed_sorted`: the
same bins and counts as one add per value, for a fraction of the cost); a sketch's bins are counts, so the
result does not depend on arrival order either. Its quantiles are within the relative accuracy of the exact
lower quantiles `sorted(v)[floor(q (n - 1))]`, which is what the truth comparison checks; they are clamped to
[min, max].
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping


@dataclass(frozen=True)
class Summary:
    count: int
    sum: float
    min: float
    max: float
    mean: float
    p50: float
    p95: float


@functools.cache
def _mapping(relative_accuracy: float) -> LogarithmicMapping:
    """The key mapping a DDSketch of this accuracy uses (the same class and parameter: the same keys)."""
    return LogarithmicMapping(relative_accuracy)


def feed_sorted(sketch: DDSketch, ordered: list[float], mapping: LogarithmicMapping) -> None:
    """Add sorted values to `sketch` as one `add(value, weight)` per run of values that fall in the same bin, the
    weight being the run's length: the bins, the zero count and the count (integer-valued floats, summed
    exactly) are those of adding every value one by one, so are the quantiles (only the sketch's own
    sum/min/max, unused here, see one value per run). `mapping` must be the sketch's (same class and accuracy).

    The bin of a value is the mapping's `key`; it is computed for a value unless the value lies strictly inside
    the current bin's bounds narrowed by a relative margin (MARGIN, orders of magnitude above the rounding of the
    logarithm and power), where the key is certainly the current one."""
    lowest = mapping.min_possible
    below = bisect_left(ordered, -lowest)  # ordered[:below] go to the negative store (keyed by -value)
    above = bisect_right(ordered, lowest)  # ordered[above:] to the positive store; in between: zero count
    if below:
        _feed_bins(sketch, ordered[:below], mapping, -1.0)
    if above > below:
        sketch.add(ordered[below], float(above - below))
    if above < len(ordered):
        _feed_bins(sketch, ordered[above:], mapping, 1.0)


MARGIN = 1e-9


def _feed_bins(sketch: DDSketch, values: list[float], mapping: LogarithmicMapping, sign: float) -> None:
    add, key, value_of, gamma = sketch.add, mapping.key, mapping.value, mapping.gamma
    to_upper = (1.0 + gamma) / 2.0  # value(k) is the bin's upper bound times 2 / (1 + gamma)
    inner_low, inner_high = (1.0 + MARGIN) / gamma, 1.0 - MARGIN
    low = high = 0.0  # the current bin's safe interior (magnitudes); empty before the first value
    first = 0.0
    weight = 0.0
    current: int | None = None
    for value in values:
        magnitude = value * sign
        if low < magnitude < high:
            weight += 1.0
            continue
        bin_key = key(magnitude)
        if bin_key == current:
            weight += 1.0
            continue
        if weight:
            add(first, weight)
        first, weight, current = value, 1.0, bin_key
        try:
            upper = value_of(bin_key) * to_upper
        except OverflowError:
            upper = math.inf
        if 1e-300 < upper < 1e300:
            low, high = upper * inner_low, upper * inner_high
        else:  # near the ends of the float range: key every value of this bin
            low = high = 0.0
    if weight:
        add(first, weight)


def sketch_quantiles(ordered: list[float], relative_accuracy: float) -> tuple[float, float]:
    """p50 and p95 of sorted, non-empty values from a DDSketch, clamped to [min, max]."""
    sketch = DDSketch(relative_accuracy)
    feed_sorted(sketch, ordered, _mapping(relative_accuracy))
    low, high = ordered[0], ordered[-1]
    p50, p95 = (sketch.get_quantile_value(q) for q in (0.5, 0.95))
    return min(max(p50, low), high), min(max(p95, low), high)  # type: ignore[type-var, return-value]


def summarize(values: Iterable[float], relative_accuracy: float = 0.01) -> Summary:
    """The window's summary of its (distinct events') values; ValueError for no values."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("summary of an empty window")
    total = math.fsum(ordered)
    count = len(ordered)
    p50, p95 = sketch_quantiles(ordered, relative_accuracy)
    return Summary(count, total, ordered[0], ordered[-1], total / count, p50, p95)
