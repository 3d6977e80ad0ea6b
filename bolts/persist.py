"""PersistBolt: writes records through the configured Store; acks only after the write succeeded.

Inputs carry lists of records (window rows, alerts, dead letters) or shard batches of raw events (`archive`).
Records are buffered up to `pipeline.persist.batch_size` (default 500) and written together (SQLite: one
transaction; Cassandra: unlogged batches by replica set or partition, `cassandra.batch_grouping`) when the buffer is full and on every tick tuple, so a
tuple waits at most one tick. A tuple is acked when all its records are durable, failed otherwise."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt

from squall.pipeline.confirming import AckOnConfirm
from squall.pipeline.persisting import WriteWindow, persist_batch_size, write_tuples
from squall.pipeline.settings import from_conf, section
from squall.pipeline.stores import make_store
from squall.pipeline.tuples import Record, record_from_values, unpack_batch


class PersistBolt(AckOnConfirm, Bolt):  # type: ignore[misc]
    confirming = "write"
    auto_ack = False
    outputs: list[str] = []

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        settings = from_conf(conf)
        self.store = make_store(settings)
        persist = section(settings, "persist")
        timeout = float(persist.get("write_timeout_s", 30.0))
        self.batch_size = persist_batch_size(persist)
        self.sends = WriteWindow(self.store.max_in_flight, self.ack, self._failed, timeout)
        self.buffer: list[tuple[str, list[Record], Any]] = []
        self.buffered = 0  # records in the buffer

    def process(self, tup: Any) -> None:
        if tup.stream == "archive":  # a shard batch of raw events
            records: list[Record] = [
                record_from_values("event", entry[0]) for entry in unpack_batch(tup.values[1])
            ]
            kind = "event"
        else:
            kind = tup.values[0]
            records = [record_from_values(kind, data) for data in tup.values[1]]
        self.buffer.append((kind, records, tup.id))
        self.buffered += len(records)
        if self.buffered >= self.batch_size:
            self.flush()

    def process_tick(self, tup: Any) -> None:
        self.flush()
        super().process_tick(tup)

    def flush(self) -> None:
        """Write the buffered records (one store batch; per kind, so a store can group rows), then ack/fail
        each tuple once every write holding one of its records settled."""
        if not self.buffer:
            return
        buffered, self.buffer, self.buffered = self.buffer, [], 0
        futures_of = write_tuples(self.store, buffered)
        for _, _, token in buffered:
            self.sends.add(futures_of[token], token)
