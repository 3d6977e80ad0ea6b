"""PersistBolt: writes records through the configured Store; acks only after the write succeeded.

Records are buffered up to `pipeline.persist.batch_size` (default 100) and written together (SQLite: one
transaction) when the buffer is full and on every tick tuple, so a tuple waits at most one tick."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt

from squall.pipeline.persisting import WriteWindow, persist_batch_size, store_batch
from squall.pipeline.settings import from_conf, section
from squall.pipeline.stores import make_store
from squall.pipeline.tuples import Record, record_from_values


class PersistBolt(Bolt):  # type: ignore[misc]
    auto_ack = False
    outputs: list[str] = []

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        settings = from_conf(conf)
        self.store = make_store(settings)
        persist = section(settings, "persist")
        timeout = float(persist.get("write_timeout_s", 30.0))
        self.batch_size = persist_batch_size(persist)
        self.writes = WriteWindow(self.store.max_in_flight, self.ack, self._failed, timeout)
        self.buffer: list[tuple[str, Record, Any]] = []

    def process(self, tup: Any) -> None:
        if tup.stream == "archive":
            kind, record = "event", record_from_values("event", tup.values[2])
        else:
            kind, record = tup.values[0], record_from_values(tup.values[0], tup.values[1])
        self.buffer.append((kind, record, tup.id))
        if len(self.buffer) >= self.batch_size:
            self.flush()

    def process_tick(self, tup: Any) -> None:
        self.flush()
        self.writes.settle()
        self.ack(tup)

    def flush(self) -> None:
        """Write the buffered records (one store batch), then ack/fail each tuple as its write settles."""
        if not self.buffer:
            return
        buffered, self.buffer = self.buffer, []
        with store_batch(self.store):
            futures = [self.store.write(kind, record) for kind, record, _ in buffered]
        for (_, _, token), future in zip(buffered, futures, strict=True):
            self.writes.add([future], token)

    def _failed(self, token: Any, exc: BaseException) -> None:
        self.logger.warning("write failed, tuple %s fails and will be replayed: %s", token, exc)
        self.fail(token)
