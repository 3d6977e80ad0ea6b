"""Bounded in-flight writes: ack a tuple only after its write's Future succeeded, fail it otherwise.

`store_batch(store)` is the store's `batch()` context (one transaction for several writes, e.g. SQLite) or a
no-op for stores whose writes are already asynchronous (Cassandra)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager, nullcontext
from typing import Any


class WriteWindow:
    """Tracks (future, tuple id) pairs; `settle` acks/fails finished ones; `add` waits when the window is full."""

    def __init__(
        self,
        max_in_flight: int,
        on_ok: Callable[[Any], None],
        on_error: Callable[[Any, BaseException], None],
        timeout_s: float = 30.0,
    ) -> None:
        self.max_in_flight = max(1, max_in_flight)
        self.timeout_s = timeout_s
        self._on_ok = on_ok
        self._on_error = on_error
        self._pending: deque[tuple[list[Future[None]], Any]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, futures: list[Future[None]], token: Any) -> None:
        """Track a tuple's futures. Settles the confirmed entries at the head of the window (cheap: the oldest
        are the likeliest done); the rest is settled on ticks (`settle`), or here when the window is full."""
        pending = self._pending
        pending.append((futures, token))
        while pending and all(f.done() for f in pending[0][0]):
            self._resolve(*pending.popleft())
        if len(pending) >= self.max_in_flight:
            self.settle()
            while len(self._pending) >= self.max_in_flight:
                self._wait_oldest()

    def settle(self) -> None:
        """Ack/fail every entry whose futures are all done, keeping the rest."""
        keep: deque[tuple[list[Future[None]], Any]] = deque()
        for futures, token in self._pending:
            if all(f.done() for f in futures):
                self._resolve(futures, token)
            else:
                keep.append((futures, token))
        self._pending = keep

    def drain(self) -> None:
        while self._pending:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        futures, token = self._pending.popleft()
        for f in futures:
            try:
                f.result(timeout=self.timeout_s)
            except FutureTimeout:
                self._on_error(token, TimeoutError(f"write not confirmed within {self.timeout_s}s"))
                return
            except BaseException:  # noqa: BLE001 - reported by _resolve
                pass
        self._resolve(futures, token)

    def _resolve(self, futures: list[Future[None]], token: Any) -> None:
        for f in futures:
            exc = f.exception(timeout=0)
            if exc is not None:
                self._on_error(token, exc)
                return
        self._on_ok(token)


def store_batch(store: Any) -> AbstractContextManager[None]:
    batch = getattr(store, "batch", None)
    return batch() if callable(batch) else nullcontext()


def write_tuples(store: Any, buffered: list[tuple[str, list[Any], Any]]) -> dict[Any, list[Future[None]]]:
    """Write the records of several tuples ((kind, records, token) each) in one store batch, per kind through
    the store's `write_many(kind, records)` when it has one (it may group rows, e.g. Cassandra batches per
    partition; several records can then share one Future). Returns each token's distinct futures."""
    by_kind: dict[str, tuple[list[Any], list[Any]]] = {}
    for kind, records, token in buffered:
        group = by_kind.setdefault(kind, ([], []))
        group[0].extend(records)
        group[1].extend([token] * len(records))
    futures_of: dict[Any, list[Future[None]]] = {token: [] for _, _, token in buffered}
    write_many = getattr(store, "write_many", None)
    with store_batch(store):
        for kind, (records, tokens) in by_kind.items():
            # A window emitted twice in one flush (an idle close, then its amendment): write only the last emit.
            # Rows of one batch share a write timestamp, and Cassandra would merge equal-timestamp cells by value.
            last = {_window_key(r): i for i, r in enumerate(records)} if kind == "window" else None
            unique = records if last is None else [records[i] for i in sorted(last.values())]
            if callable(write_many):
                written = write_many(kind, unique)
            else:
                written = [store.write(kind, record) for record in unique]
            if last is None:
                futures = written
            else:
                by_key = {_window_key(r): f for r, f in zip(unique, written, strict=True)}
                futures = [by_key[_window_key(r)] for r in records]
            for token, future in zip(tokens, futures, strict=True):
                held = futures_of[token]
                if not held or held[-1] is not future:
                    held.append(future)
    return futures_of


def _window_key(row: Any) -> tuple[Any, ...]:
    return (row.tenant, row.device_id, row.metric, row.window_s, row.window_start)
