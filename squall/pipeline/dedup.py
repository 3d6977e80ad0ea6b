"""Dropping producer duplicates in parse, with bounded memory.

A device (or its gateway) may send the same event twice: same (tenant, event_id), a different Kafka offset.
Storm may also *replay* the same Kafka message after a downstream failure: same (tenant, event_id) AND the
same source (topic, partition, offset). The first is a duplicate and is dropped; the second must go through,
or a failed write would never be retried. Memory is bounded per tenant by an LRU of `horizon` event ids;
duplicates older than that pass parse and are removed by aggregate's per-window de-duplication instead.
"""

from __future__ import annotations

from collections import OrderedDict
from enum import Enum

Source = tuple[str, int, int]


class Seen(Enum):
    NEW = "new"
    REPLAY = "replay"  # same event from the same source offset: Storm re-delivery, process it again
    DUPLICATE = "duplicate"  # same event from another offset: the producer sent it twice, drop it


class Deduplicator:
    def __init__(self, horizon: int = 10_000) -> None:
        if horizon < 1:
            raise ValueError("horizon must be >= 1")
        self.horizon = horizon
        self._seen: dict[str, OrderedDict[str, Source]] = {}

    def check(self, tenant: str, event_id: str, source: Source) -> Seen:
        lru = self._seen.setdefault(tenant, OrderedDict())
        first = lru.get(event_id)
        if first is not None:
            lru.move_to_end(event_id)
            return Seen.REPLAY if first == source else Seen.DUPLICATE
        lru[event_id] = source
        if len(lru) > self.horizon:
            lru.popitem(last=False)
        return Seen.NEW

    def size(self) -> int:
        return sum(len(lru) for lru in self._seen.values())
