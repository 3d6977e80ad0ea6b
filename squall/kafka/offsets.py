"""Per-partition offset bookkeeping, as storm-kafka-client's OffsetManager does it.

The committed offset is the next offset a restarted consumer reads. It only ever moves over a *contiguous
done prefix*: every offset this task emitted below the new commit position is done (acked, or dead-lettered
after its last retry). Offsets the broker never returned (transaction markers, compacted records) are gaps
and do not hold the commit back, because a consumer fetches a partition in order: an offset below the
highest emitted one that was never emitted does not exist.
"""

from __future__ import annotations


class OffsetManager:
    """Tracks emitted and done offsets of one partition, starting at `committed` (the next offset to read)."""

    def __init__(self, committed: int) -> None:
        if committed < 0:
            raise ValueError(f"committed offset must be >= 0, got {committed}")
        self._committed = committed
        self._pending: set[int] = set()  # emitted, not done yet
        self._done: set[int] = set()  # done, not committed yet
        self._max_emitted = committed - 1

    @property
    def committed(self) -> int:
        return self._committed

    @property
    def max_emitted(self) -> int:
        return self._max_emitted

    def emitted(self, offset: int) -> None:
        """The source handed out `offset` for the first time (re-emits of a retried offset do not call this)."""
        if offset < self._committed or offset in self._done:
            return  # already done: a stale record from a re-fetch
        self._pending.add(offset)
        if offset > self._max_emitted:
            self._max_emitted = offset

    def emitted_run(self, first: int, count: int) -> None:
        """The source handed out `count` offsets from `first` for the first time, all above `max_emitted`."""
        if first <= self._max_emitted or count < 1:
            raise ValueError(f"a run must start above {self._max_emitted}, got {first} (+{count})")
        self._pending.update(range(first, first + count))
        self._max_emitted = first + count - 1

    def done_run(self, first: int, count: int) -> int:
        """`done` for each offset of a run; returns how many were pending."""
        hit = self._pending.intersection(range(first, first + count))
        self._pending -= hit
        self._done |= hit
        return len(hit)

    def is_pending(self, offset: int) -> bool:
        return offset in self._pending

    def done(self, offset: int) -> bool:
        """Mark `offset` done (acked or dead-lettered). Returns False when it was not pending (a duplicate ack)."""
        if offset not in self._pending:
            return False
        self._pending.discard(offset)
        self._done.add(offset)
        return True

    def next_commit(self) -> int | None:
        """The offset to commit now, or None when the commit position would not move."""
        if not self._done:
            return None
        limit = min(self._pending) if self._pending else self._max_emitted + 1
        below = [o for o in self._done if o < limit]
        if not below:
            return None
        candidate = max(below) + 1  # one past the last done offset of the prefix, as Storm commits
        return candidate if candidate > self._committed else None

    def committed_to(self, offset: int) -> None:
        """The broker accepted a commit of `offset`; forget the done offsets below it."""
        if offset <= self._committed:
            return
        self._committed = offset
        self._done = {o for o in self._done if o >= offset}

    @property
    def num_uncommitted(self) -> int:
        """Emitted offsets at or above the committed one (pending or done-but-not-committed): the pause cap."""
        return len(self._pending) + len(self._done)

    @property
    def num_pending(self) -> int:
        return len(self._pending)
