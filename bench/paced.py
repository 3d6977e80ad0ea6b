"""A producer paced in real time: message i is handed on no earlier than `start + i / rate` (wall clock).

With the simulator's event times starting at `start` and spaced by 1/rate, each event reaches Kafka when its
own time comes, as from live devices: a sustained rate, not a backlog. The clock and the sleep are passed in
(tests drive them by hand).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass
class PaceReport:
    sent: int = 0
    first_s: float | None = None  # clock when the first message was handed on
    last_s: float | None = None  # and the last
    max_behind_s: float = 0.0  # how late the caller was at worst (it could not keep the rate)

    @property
    def achieved_per_s(self) -> float | None:
        if self.sent < 2 or self.first_s is None or self.last_s is None or self.last_s <= self.first_s:
            return None
        return (self.sent - 1) / (self.last_s - self.first_s)


def paced(
    items: Iterable[T],
    rate: float,
    start_s: float,
    report: PaceReport,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[T]:
    """Yield `items`, the i-th at `start_s + i / rate` by `clock` or later; record in `report` how it went."""
    if rate <= 0:
        raise ValueError(f"rate {rate} must be > 0 messages/s")
    step = 1.0 / rate
    for i, item in enumerate(items):
        due = start_s + i * step
        now = clock()
        if now < due:
            sleep(due - now)
            now = clock()
        report.max_behind_s = max(report.max_behind_s, now - due)
        if report.first_s is None:
            report.first_s = now
        report.last_s = now
        report.sent += 1
        yield item
