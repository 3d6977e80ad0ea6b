"""Injectable clocks: production code takes a Clock, tests pass a ManualClock and never sleep."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds, monotonic for scheduling."""
        ...

    def wall_ms(self) -> int:
        """Wall-clock milliseconds since the epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 0.0, wall_ms: int = 1_700_000_000_000) -> None:
        self._now = start
        self._wall0 = wall_ms
        self._start = start

    def now(self) -> float:
        return self._now

    def wall_ms(self) -> int:
        return self._wall0 + int((self._now - self._start) * 1000)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds
