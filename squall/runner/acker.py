"""Reliability, shaped like Storm's daemon/Acker.java: one XOR ledger entry per spout tuple tree.

Every tuple in a tree carries, per root id, a random 64-bit edge id. A spout emit `init`s the root with the
XOR of the edge ids it sent; a bolt's ack XORs in the edge id of the tuple it acks and the edge ids of
the tuples it emitted anchored to it. When the ledger value returns to 0 the tree is complete: the spout
task gets `ack`. A `fail` anywhere fails the tree. Trees not complete within
`topology.message.timeout.secs` fail: entries sit in rotating buckets (Storm's RotatingMap, 2 buckets
rotated every timeout, as Storm's spout executor does), so a tree times out between 1x and 2x the timeout.

Pure logic: methods return what the spout must be told; the caller delivers it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

# A ledger entry is a plain list (no object built per tree): [XOR value, spout task or None (acks seen before
# the spout's init), started, failed, the rotation bucket holding its root (a finished tree leaves it, as an
# entry leaves Storm's RotatingMap, so a bucket holds only open trees)].
_VAL, _SPOUT, _STARTED, _FAILED, _BUCKET = 0, 1, 2, 3, 4
_new = tuple.__new__  # an Outcome made as its own __new__ makes it, without that call


class Outcome(NamedTuple):
    """A finished tree: tell `spout_task` that `root` was acked (ok) or failed (ok=False; timeout if timed_out)."""

    spout_task: int
    root: int
    ok: bool
    started: float
    timed_out: bool = False


class Acker:
    def __init__(self, timeout_secs: float, now: float = 0.0, buckets: int = 2) -> None:
        if buckets < 2:
            raise ValueError("an acker needs at least 2 buckets")
        self.timeout_secs = timeout_secs
        self._pending: dict[int, list[Any]] = {}
        # root -> its ledger entry (see above), for executors to read, and to XOR into where that leaves the
        # tree open (a nonzero value of a tree that has not failed): anything else goes through `ack`
        self.ledger = self._pending
        self._buckets: list[set[int]] = [set() for _ in range(buckets)]
        self._next_rotation = now + timeout_secs
        self._open = 0  # entries a spout task waits on (not acks for a tree that already finished)

    def __len__(self) -> int:
        return len(self._pending)

    def open_trees(self) -> int:
        """Trees a spout task is waiting on. Entries left by acks for a tree that already failed or timed out
        (Storm keeps those until they rotate out, too) are not counted."""
        return self._open

    def is_open(self, root: int) -> bool:
        entry = self._pending.get(root)
        return entry is not None and entry[_SPOUT] is not None

    def any_open(self, roots: Any) -> bool:
        """Whether any of `roots` is a tree a spout task still waits on (a tuple of no open tree is dead work)."""
        pending = self._pending
        for root in roots:
            entry = pending.get(root)
            if entry is not None and entry[_SPOUT] is not None and not entry[_FAILED]:
                return True
        return False

    def spouts_of(self, roots: Any) -> set[int]:
        """The spout tasks of those of `roots` that are open."""
        pending = self._pending
        out = set()
        for root in roots:
            entry = pending.get(root)
            if entry is not None and entry[_SPOUT] is not None:
                out.add(entry[_SPOUT])
        return out

    def fail_spouts(self, spout_tasks: set[int], now: float = 0.0) -> list[Outcome]:
        """Fail every open tree of `spout_tasks`, oldest emit first (so the spouts hear of them, and replay them,
        in the order they were emitted)."""
        pending = self._pending
        roots = [r for r, e in pending.items() if e[_SPOUT] in spout_tasks]
        roots.sort(key=lambda r: pending[r][_STARTED])  # stable: emit order within one clock reading
        out = []
        for root in roots:
            outcome = self.fail(root, now)
            if outcome is not None:
                out.append(outcome)
        return out

    def __contains__(self, root: int) -> bool:
        return root in self._pending

    def _entry(self, root: int, now: float) -> list[Any]:
        entry = self._pending.get(root)
        if entry is None:
            bucket = self._buckets[0]
            entry = [0, None, now, False, bucket]
            self._pending[root] = entry
            bucket.add(root)
        return entry

    def _settle(self, root: int, entry: list[Any]) -> Outcome | None:
        spout_task = entry[_SPOUT]
        if spout_task is None:
            return None
        if entry[_FAILED]:
            del self._pending[root]
            entry[_BUCKET].discard(root)
            self._open -= 1
            return _new(Outcome, (spout_task, root, False, entry[_STARTED], False))
        if entry[_VAL] == 0:
            del self._pending[root]
            entry[_BUCKET].discard(root)
            self._open -= 1
            return _new(Outcome, (spout_task, root, True, entry[_STARTED], False))
        return None

    def init(self, root: int, val: int, spout_task: int, now: float) -> Outcome | None:
        """A spout emitted tree `root`; `val` is the XOR of the edge ids it sent."""
        pending = self._pending
        if val and root not in pending:  # the usual case: a new root, acks not seen before it
            bucket = self._buckets[0]
            pending[root] = [val, spout_task, now, False, bucket]
            bucket.add(root)
            self._open += 1
            return None
        entry = self._entry(root, now)
        if entry[_SPOUT] is None:
            self._open += 1
        entry[_VAL] ^= val
        entry[_SPOUT] = spout_task
        entry[_STARTED] = now
        return self._settle(root, entry)

    def ack(self, root: int, val: int, now: float = 0.0) -> Outcome | None:
        entry = self._pending.get(root)
        if entry is None:
            # Ack for a tree already failed/timed out (or one whose init is still on its way).
            entry = self._entry(root, now)
        left = entry[0] ^ val
        entry[0] = left
        if left and not entry[3]:
            return None  # the tree is not complete yet
        spout_task = entry[1]
        if left or entry[3] or spout_task is None:
            return self._settle(root, entry)
        del self._pending[root]  # complete: as `_settle`, inline (a tree completes once per spout emit)
        entry[4].discard(root)
        self._open -= 1
        return _new(Outcome, (spout_task, root, True, entry[2], False))

    def opening(self) -> tuple[dict[int, list[Any]], set[int]]:
        """(the ledger, the bucket a new tree's root goes in) for an executor that opens a run of new trees
        itself, as `init`'s usual case does (a root not in the ledger), and then calls `opened`."""
        return self._pending, self._buckets[0]

    def opened(self, n: int) -> None:
        """`n` trees were opened by an executor (see `opening`)."""
        self._open += n

    def completed(self, n: int) -> None:
        """`n` trees completed and were taken out of the ledger by an executor (`BoltExecutor.run_paths`)."""
        self._open -= n

    def fail(self, root: int, now: float = 0.0) -> Outcome | None:
        entry = self._pending.get(root)
        if entry is None:
            return None  # already finished: a second fail or a fail after timeout changes nothing
        entry[_FAILED] = True
        return self._settle(root, entry)

    def forget(self, roots: set[int]) -> None:
        """Drop trees without telling anyone (their spout task is gone)."""
        for root in roots:
            entry = self._pending.pop(root, None)
            if entry is None:
                continue
            entry[_BUCKET].discard(root)
            if entry[_SPOUT] is not None:
                self._open -= 1

    def due(self, now: float) -> bool:
        return now >= self._next_rotation

    def tick(self, now: float) -> list[Outcome]:
        """Rotate the buckets if a rotation is due; return the trees that timed out."""
        out: list[Outcome] = []
        while now >= self._next_rotation:
            self._next_rotation += self.timeout_secs
            expired = self._buckets.pop()
            self._buckets.insert(0, set())
            for root in expired:
                entry = self._pending.pop(root, None)
                if entry is None:
                    continue
                if entry[_SPOUT] is None:
                    continue  # acks for a tree never initialised: nobody to tell (Storm drops them too)
                self._open -= 1
                out.append(Outcome(entry[_SPOUT], root, False, entry[_STARTED], timed_out=True))
        return out

    def next_deadline(self) -> float:
        return self._next_rotation
