"""What one window computes for one metric: count, exact sum, min, max, mean and sketched p50/p95.

Values are kept per event id, so a re-delivered event (same id) is counted once and the sum is
`math.fsum` of the values: correctly rounded, hence independent of arrival order, bit for bit.
Quantiles come from a DDSketch (mergeable, relative-accuracy guarantee; bucket counts do not depend on
the order values were added in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ddsketch import DDSketch


@dataclass(frozen=True)
class Summary:
    count: int
    sum: float
    min: float
    max: float
    mean: float
    p50: float
    p95: float


class MetricAccumulator:
    def __init__(self, relative_accuracy: float = 0.01) -> None:
        self._values: dict[str, float] = {}
        self._sketch = DDSketch(relative_accuracy=relative_accuracy)

    def add(self, event_id: str, value: float) -> bool:
        """Add a value; False (and nothing changes) when this event id was already counted."""
        if event_id in self._values:
            return False
        self._values[event_id] = value
        self._sketch.add(value)
        return True

    def __len__(self) -> int:
        return len(self._values)

    def summary(self) -> Summary:
        values = self._values.values()
        total = math.fsum(values)
        count = len(self._values)
        p50 = self._sketch.get_quantile_value(0.5)
        p95 = self._sketch.get_quantile_value(0.95)
        assert p50 is not None and p95 is not None, "summary() of an empty window"
        low, high = min(values), max(values)
        # The true quantiles lie in [min, max]; clamping keeps the sketch's guarantee and never adds error.
        return Summary(count, total, low, high, total / count, _clamp(p50, low, high), _clamp(p95, low, high))


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(float(value), low), high)
