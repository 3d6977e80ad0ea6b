"""PersistBolt: writes records through the configured Store; acks only after the write succeeded.

Inputs carry lists of records (window rows, alerts, dead letters) or shard batches of raw events (`archive`).
Records are buffered up to `pipeline.persist.batch_size` (default 500) and written together (SQLite: one
transaction; Cassandra: unlogged batches by replica set or partition, `cassandra.batch_grouping`) when the buffer
is full, when a tuple comes after the buffer's first waited MAX_WAIT_S, and on every tick tuple, so a tuple waits
at most one tick. A tuple is acked when all its records are durable, failed otherwise (a store that is
down fails tuples, and the spout replays them). A record that cannot be read or written at all (not the store's
fault: the same record would fail on every replay) is written as a dead letter in its place
(processing_error:persist:<type>), so one record never stops the stream."""

from __future__ import annotations

from typing import Any

from streamparse import Bolt

from squall.clock import SystemClock
from squall.pipeline.confirming import AckOnConfirm
from squall.pipeline.dead_letters import coordinates, event_payload, processing_error
from squall.pipeline.model import DeadLetter, event_of
from squall.pipeline.persisting import WriteWindow, write_tuples
from squall.pipeline.settings import from_conf
from squall.pipeline.stores import make_store
from squall.pipeline.tuples import Record, record_from_values, unpack_batch

# A tuple that comes while the buffer's first has waited this long writes the buffer out (besides a full
# buffer and every tick): under steady input a record waits at most about this long, not up to a tick (1 s).
MAX_WAIT_S = 0.2


class PersistBolt(AckOnConfirm, Bolt):  # type: ignore[misc]
    confirming = "write"
    auto_ack = False
    outputs: list[str] = []

    def initialize(self, conf: dict[str, Any], ctx: dict[str, Any]) -> None:
        settings = from_conf(conf)
        self.store = make_store(settings)
        self.batch_size = settings.persist.batch_size
        self.sends = WriteWindow(
            self.store.max_in_flight, self.ack, self._failed, settings.persist.write_timeout_s
        )
        self.clock = SystemClock()
        self.buffer: list[tuple[str, list[Record], Any]] = []
        self.buffered = 0  # records in the buffer
        self.buffered_since = 0.0  # clock.now() when the buffer's first tuple came

    def process(self, tup: Any) -> None:
        letters: list[Record] = []
        if tup.stream == "archive":  # a shard batch of raw events
            kind = "event"
            records: list[Record] = []
            for entry in unpack_batch(tup.values[1]):
                try:
                    records.append(record_from_values("event", entry[0]))
                except Exception as exc:  # noqa: BLE001 - one event never stops the stream
                    letters.append(self._letter(exc, event_of(entry[0]), entry[1]))
        else:
            kind = tup.values[0]
            records = []
            for data in tup.values[1]:
                try:
                    records.append(record_from_values(kind, data))
                except Exception as exc:  # noqa: BLE001
                    letters.append(self._letter(exc, data, (f"persist:{kind}", -1, -1)))
        if not self.buffer:
            self.buffered_since = self.clock.now()
        if letters:
            self.buffer.append(("dead_letter", letters, tup.id))
        self.buffer.append((kind, records, tup.id))
        self.buffered += len(records) + len(letters)
        if self.buffered >= self.batch_size or self.clock.now() - self.buffered_since >= MAX_WAIT_S:
            self.flush()

    def _letter(self, exc: Exception, data: Any, source: Any) -> Record:
        where = coordinates(source, ("persist", -1, -1))
        return processing_error("persist", exc, event_payload(data), where, self.clock.wall_ms())

    def process_tick(self, tup: Any) -> None:
        self.flush()
        super().process_tick(tup)

    def flush(self) -> None:
        """Write the buffered records (one store batch; per kind, so a store can group rows), then ack/fail
        each tuple once every write holding one of its records settled."""
        if not self.buffer:
            return
        buffered, self.buffer, self.buffered = self.buffer, [], 0
        try:
            futures_of = write_tuples(self.store, buffered)
        except Exception:  # noqa: BLE001 - a record the store refuses at once: find it, write the rest
            futures_of = self._write_one_by_one(buffered)
        for token, futures in futures_of.items():
            self.sends.add(futures, token)

    def _write_one_by_one(self, buffered: list[tuple[str, list[Record], Any]]) -> dict[Any, list[Any]]:
        """Each record alone; one the store refuses synchronously (it cannot be bound or encoded: a replay would
        fail the same way) is written as a processing_error dead letter instead. Writes are idempotent upserts, so
        records the failed batch wrote already are simply written again."""
        futures_of: dict[Any, list[Any]] = {token: [] for _, _, token in buffered}
        for kind, records, token in buffered:
            for record in records:
                try:
                    written = write_tuples(self.store, [(kind, [record], token)])
                except Exception as exc:  # noqa: BLE001
                    where = (
                        (record.source_topic, record.source_partition, record.source_offset)
                        if isinstance(record, DeadLetter)
                        else (f"persist:{kind}", -1, -1)
                    )
                    letter = self._letter(exc, record.to_dict(), where)
                    written = write_tuples(self.store, [("dead_letter", [letter], token)])
                futures_of[token].extend(written[token])
        return futures_of
