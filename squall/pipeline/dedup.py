"""Dropping producer duplicates in parse, with bounded memory.

A device (or its gateway) may send the same event twice: same (tenant, event_id), a different Kafka offset.
Storm may also *replay* the same Kafka message after a downstream failure: same (tenant, event_id) AND the
same source (topic, partition, offset). The first is a duplicate and is dropped; the second must go through,
or a failed write would never be retried. Memory is bounded globally: one LRU of `horizon` (tenant, event_id)
pairs across all tenants, however many tenants there are; duplicates older than that pass parse and are
removed by aggregate's per-window de-duplication instead.
"""

from __future__ import annotations

from collections import OrderedDict
from enum import Enum

Source = tuple[str, int, int]
DEFAULT_HORIZON = 10_000


class Seen(Enum):
    NEW = "new"
    REPLAY = "replay"  # same event from the same source offset: Storm re-delivery, process it again
    DUPLICATE = "duplicate"  # same event from another offset: the producer sent it twice, drop it


class Deduplicator:
    """Remembers the source of the last `horizon` distinct (tenant, event_id) pairs, least recently seen
    forgotten first."""

    def __init__(self, horizon: int = DEFAULT_HORIZON) -> None:
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise ValueError("horizon must be an int >= 1")
        self.horizon = horizon
        self._seen: OrderedDict[tuple[str, str], Source] = OrderedDict()

    def check(self, tenant: str, event_id: str, source: Source) -> Seen:
        seen = self._seen
        key = (tenant, event_id)
        first = seen.get(key)
        if first is not None:
            seen.move_to_end(key)
            return Seen.REPLAY if first == source else Seen.DUPLICATE
        seen[key] = source
        if len(seen) > self.horizon:
            seen.popitem(last=False)
        return Seen.NEW

    def size(self) -> int:
        return len(self._seen)
