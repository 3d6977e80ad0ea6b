"""When a failed tuple is emitted again: storm-kafka-client's KafkaSpoutRetryExponentialBackoff, clock-injected.

delay(1) = initial; delay(n) = period * 2**(n-1) for n > 1; capped at max_delay. With `max_retries` None (the
default, as storm-kafka-client's DEFAULT_MAX_RETRIES) a failed message is always scheduled again. With a number, a
message that failed more than `max_retries` times is not scheduled again (the source dead-letters it with reason
`max_retries`), so it is emitted at most 1 + max_retries times.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from squall.clock import Clock

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class BackoffPolicy:
    initial_s: float = 0.0
    period_s: float = 0.5
    max_delay_s: float = 10.0
    max_retries: int | None = None  # None: retry forever

    def __post_init__(self) -> None:
        if min(self.initial_s, self.period_s, self.max_delay_s) < 0:
            raise ValueError("backoff delays must be >= 0")
        if self.max_retries is not None and self.max_retries < 0:
            raise ValueError("max_retries must be >= 0 (or None: retry forever)")

    def delay(self, num_fails: int) -> float:
        if num_fails < 1:
            raise ValueError(f"num_fails starts at 1, got {num_fails}")
        raw = self.initial_s if num_fails == 1 else self.period_s * 2.0 ** min(num_fails - 1, 62)
        return min(raw, self.max_delay_s)

    def retriable(self, num_fails: int) -> bool:
        return self.max_retries is None or num_fails <= self.max_retries


class RetrySchedule(Generic[K]):
    """Failed message ids waiting for their retry time; `ready()` hands out those that are due, earliest first."""

    def __init__(self, policy: BackoffPolicy, clock: Clock) -> None:
        self.policy = policy
        self._clock = clock
        self._due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._seq = 0

    def schedule(self, msg_id: K, num_fails: int, not_before: float | None = None) -> bool:
        """Schedule a retry after failure number `num_fails`, not before `not_before` if given; False (and nothing
        scheduled) once retries are spent."""
        if not self.policy.retriable(num_fails):
            self._due.pop(msg_id, None)
            return False
        due = self._clock.now() + self.policy.delay(num_fails)
        if not_before is not None and not_before > due:
            due = not_before
        self._due[msg_id] = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, msg_id))
        return True

    def remove(self, msg_id: K) -> bool:
        """Unschedule `msg_id`; True if it was scheduled."""
        return self._due.pop(msg_id, None) is not None

    def due(self, msg_id: K) -> float | None:
        return self._due.get(msg_id)

    def is_scheduled(self, msg_id: K) -> bool:
        return msg_id in self._due

    def __len__(self) -> int:
        return len(self._due)

    def next_due(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def ready(self, limit: int | None = None) -> list[K]:
        """Pop the ids whose retry time has come, earliest first (at most `limit`)."""
        now = self._clock.now()
        out: list[K] = []
        while self._heap and (limit is None or len(out) < limit):
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                break
            _, _, msg_id = heapq.heappop(self._heap)
            del self._due[msg_id]
            out.append(msg_id)
        return out

    def _drop_stale(self) -> None:
        while self._heap:
            due, _, msg_id = self._heap[0]
            if self._due.get(msg_id) == due:
                return
            heapq.heappop(self._heap)
