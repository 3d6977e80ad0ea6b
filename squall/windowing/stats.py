"""What one window computes for one metric: count, exact sum, min, max, mean and p50/p95.

A window keeps each counted event's value once (the window de-duplicates by event id before adding), so at
close the values are sorted once and everything follows from them, independent of arrival order, bit for bit:
the sum is `math.fsum` (correctly rounded), min/max the ends. p50/p95 are those of a mergeable quantile sketch
(DDSketch, relative accuracy `pipeline.windows.sketch_relative_accuracy`) holding the window's values: since its
bins are contiguous ranges of value, the bin a quantile's rank falls in is the bin of one element of the sorted
values, so each quantile is read off that element in O(1) instead of filling a sketch (an insert cost ~6 µs per
value per window measured under load, bench.pipeline; one pass over the sorted values still cost the aggregate
bolt a tenth of its CPU). A sketch's bins are counts, so the result does not depend on arrival order either. Its
quantiles are within the relative accuracy of the exact lower quantiles `sorted(v)[floor(q (n - 1))]`, which is
what the truth comparison checks; they are clamped to [min, max].
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

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


def sketch_quantiles(ordered: list[float], relative_accuracy: float) -> tuple[float, float]:
    """p50 and p95 of sorted, non-empty values as a DDSketch of `relative_accuracy` fed every value would give
    them, clamped to [min, max]; without building the sketch.

    A sketch's bins are contiguous ranges of value, so the bin its rank search stops at is the bin of one
    element of the sorted values, which the rank says: the answer is that element's bin value, found in O(1).
    The ranks are computed with DDSketch's own float expressions (`get_quantile_value`, `key_at_rank`), so the
    result is the sketch's, bit for bit (tests/unit/windowing/test_engine_equivalence.py checks it against a
    sketch fed one value at a time, bin edges and signs included)."""
    mapping = _mapping(relative_accuracy)
    lowest = mapping.min_possible
    negatives = bisect_left(
        ordered, -lowest
    )  # ordered[:negatives] go to the negative store (keyed by -value)
    positives_from = bisect_right(ordered, lowest)  # ordered[positives_from:] to the positive store
    negative = float(negatives)
    zero = float(positives_from - negatives)
    count = float(len(ordered))
    key, value_of = mapping.key, mapping.value
    results: list[float] = []
    for quantile in (0.5, 0.95):
        rank = quantile * (count - 1)
        if rank < negative:
            # key_at_rank(negative - rank - 1, lower=False): the first bin, by magnitude, whose running count
            # reaches that rank + 1; its magnitude-ascending index j, i.e. value index negatives - 1 - j
            j = math.ceil((negative - rank - 1) + 1) - 1
            result: float = -value_of(key(-ordered[negatives - 1 - j]))
        elif rank < zero + negative:
            result = 0  # what the sketch returns for a rank among its zeros (an int, as DDSketch gives it)
        else:
            # key_at_rank(rank - zero - negative): the first bin whose running count exceeds that rank
            j = min(math.floor(rank - zero - negative), len(ordered) - positives_from - 1)
            result = value_of(key(ordered[positives_from + j]))
        results.append(min(max(result, ordered[0]), ordered[-1]))
    return results[0], results[1]


def summarize(values: Iterable[float], relative_accuracy: float = 0.01) -> Summary:
    """The window's summary of its (distinct events') values; ValueError for no values."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("summary of an empty window")
    total = math.fsum(ordered)
    count = len(ordered)
    p50, p95 = sketch_quantiles(ordered, relative_accuracy)
    return Summary(count, total, ordered[0], ordered[-1], total / count, p50, p95)
