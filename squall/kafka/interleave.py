"""Fetched records waiting to be emitted, handed out round-robin across partitions.

A KafkaConsumer poll returns records in per-partition runs (hundreds from one partition, then the next).
Emitting them in that order starves the devices of the other partitions for as long as a run lasts, which
stalls their event time (and can trip the windows' idle timeout). Round-robin keeps every partition moving.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class RoundRobinBuffer(Generic[K, R]):
    def __init__(self) -> None:
        self._queues: dict[K, deque[R]] = {}
        self._order: deque[K] = deque()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def extend(self, key: K, records: Iterable[R]) -> None:
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            self._order.append(key)
        before = len(queue)
        queue.extend(records)
        self._size += len(queue) - before

    def pop(self) -> tuple[K, R] | None:
        """The next record of the next partition in turn, or None when empty."""
        for _ in range(len(self._order)):
            key = self._order[0]
            self._order.rotate(-1)
            queue = self._queues[key]
            if queue:
                self._size -= 1
                return key, queue.popleft()
        return None

    def pop_run(self, limit: int) -> tuple[K, list[R]] | None:
        """Up to `limit` records of the next partition in turn that has any, in order; None when empty."""
        for _ in range(len(self._order)):
            key = self._order[0]
            self._order.rotate(-1)
            queue = self._queues[key]
            if queue:
                if len(queue) <= limit:
                    run = list(queue)
                    queue.clear()
                else:
                    popleft = queue.popleft
                    run = [popleft() for _ in range(limit)]
                self._size -= len(run)
                return key, run
        return None

    def keys_with_records(self) -> int:
        return sum(1 for queue in self._queues.values() if queue)

    def drop(self, key: K) -> int:
        """Forget a partition's buffered records (paused or revoked); returns how many were dropped."""
        queue = self._queues.pop(key, None)
        if queue is None:
            return 0
        self._order.remove(key)
        self._size -= len(queue)
        return len(queue)

    def truncate(self, key: K, keep: int) -> R | None:
        """Keep the first `keep` records of `key`; return the first record dropped (None when none was)."""
        queue = self._queues.get(key)
        if queue is None or len(queue) <= keep:
            return None
        first: R | None = None
        extra = len(queue) - keep
        kept = deque(queue.popleft() for _ in range(keep))
        first = queue[0]
        self._queues[key] = kept
        self._size -= extra
        return first

    def size(self, key: K) -> int:
        queue = self._queues.get(key)
        return len(queue) if queue is not None else 0

    def has(self, key: K) -> bool:
        return bool(self._queues.get(key))
