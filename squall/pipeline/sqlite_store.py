"""The embedded default Store and Publisher: one SQLite file (WAL), tables shaped like Cassandra's.

Writes are idempotent upserts (INSERT OR REPLACE on the record's key, as documented in model.py), so a replay
overwrites. SQLite is synchronous: `write` returns an already-completed Future. Several task processes may
write the same file; SQLite's locking serialises them (busy timeout `pipeline.sqlite.busy_timeout_s`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from squall.errors import ConfigError, InfraError
from squall.pipeline.model import (
    DAY_MS,
    RECORD_KINDS,
    WINDOW_COLUMNS,
    Alert,
    DeadLetter,
    Event,
    StoredWindow,
    WindowResult,
)
from squall.pipeline.settings import PipelineSettings
from squall.private_state import STATE_DIR_NAME, ensure_state_dir, open_private, private_dir, private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  tenant TEXT NOT NULL, event_id TEXT NOT NULL, device_id TEXT NOT NULL, ts INTEGER NOT NULL, type TEXT NOT NULL,
  metrics TEXT NOT NULL, attrs TEXT NOT NULL, PRIMARY KEY (tenant, event_id));
CREATE TABLE IF NOT EXISTS metric_windows (
  tenant TEXT NOT NULL, device_id TEXT NOT NULL, metric TEXT NOT NULL, window_s INTEGER NOT NULL,
  window_start INTEGER NOT NULL, window_end INTEGER NOT NULL, count INTEGER NOT NULL, sum REAL NOT NULL,
  min REAL NOT NULL, max REAL NOT NULL, mean REAL NOT NULL, p50 REAL NOT NULL, p95 REAL NOT NULL, draft TEXT,
  source TEXT, PRIMARY KEY (tenant, device_id, metric, window_s, window_start));
CREATE TABLE IF NOT EXISTS alerts (
  tenant TEXT NOT NULL, device_id TEXT NOT NULL, alert_id TEXT NOT NULL, ts INTEGER NOT NULL, metric TEXT NOT NULL,
  kind TEXT NOT NULL, value REAL NOT NULL, message TEXT NOT NULL, PRIMARY KEY (tenant, device_id, alert_id));
CREATE TABLE IF NOT EXISTS dead_letters (
  source_topic TEXT NOT NULL, source_partition INTEGER NOT NULL, source_offset INTEGER NOT NULL,
  reason TEXT NOT NULL, detail TEXT NOT NULL, payload BLOB NOT NULL, ts INTEGER NOT NULL,
  PRIMARY KEY (source_topic, source_partition, source_offset));
CREATE TABLE IF NOT EXISTS published (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
  UNIQUE (topic, key, value));
"""
TABLES = ("metric_windows", "events", "alerts", "dead_letters", "published")
_TABLE_OF = {"event": "events", "window": "metric_windows", "alert": "alerts", "dead_letter": "dead_letters"}
_TYPE_OF: dict[str, type[Any]] = {
    "event": Event,
    "window": WindowResult,
    "alert": Alert,
    "dead_letter": DeadLetter,
}


def connect(path: Path, busy_timeout_s: float = 30.0) -> sqlite3.Connection:
    try:
        _private_store_file(path)
        db = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        _enable_wal(db, busy_timeout_s)
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        _add_missing_columns(db)
    except (OSError, sqlite3.Error) as exc:
        raise InfraError(f"cannot open SQLite store {path} (pipeline.sqlite.path): {exc}") from exc
    return db


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """A store made before metric_windows had its draft and source columns gets them (existing rows: complete,
    no source mark)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(metric_windows)")}
    for column in ("draft", "source"):
        if column not in columns:
            db.execute(f"ALTER TABLE metric_windows ADD COLUMN {column} TEXT")


def _private_store_file(path: Path) -> None:
    """Create the store file 0600 before SQLite opens it, so its -wal and -shm (which SQLite creates with the
    database file's mode) are 0600 too; folders it needs are created 0700, and squall's state folder is made
    0700 when the store lives in it."""
    parent = path.parent
    if parent.name == STATE_DIR_NAME:
        ensure_state_dir(parent)
    elif not parent.exists():
        private_dir(parent)
    if not path.exists():
        os.close(open_private(path, append=True))
    for suffix in ("", "-wal", "-shm"):
        private_file(path.with_name(path.name + suffix))


def _enable_wal(db: sqlite3.Connection, busy_timeout_s: float) -> None:
    """`PRAGMA journal_mode=WAL` does not wait on SQLite's busy handler: when several task processes open a new
    file at once, one of them can get "database is locked" (seen in 4 of 30 trials of 8 processes). Retry it,
    bounded by the busy timeout."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _row(kind: str, record: Any) -> dict[str, Any]:
    want = _TYPE_OF[kind]
    if not isinstance(record, want):
        raise ConfigError("record", f"kind {kind!r} takes a {want.__name__}, got {type(record).__name__}")
    row = record.to_dict()
    if kind == "event":
        row["metrics"] = json.dumps(row["metrics"], sort_keys=True)
        row["attrs"] = json.dumps(row["attrs"], sort_keys=True)
    return dict(row)


class SqliteStore:
    """Store over SQLite; `pipeline.sqlite`: path (default .state/squall.db), busy_timeout_s, max_in_flight.

    Outside `batch()` every write is its own transaction. Inside `with store.batch():` the writes share one
    transaction and their Futures complete when it commits (all succeed) or fails (all fail and were rolled
    back); a write rejected on its own (e.g. NOT NULL) fails at once and does not affect the others."""

    def __init__(self, settings: PipelineSettings | Mapping[str, Any]) -> None:
        typed = PipelineSettings.of(settings)
        self.path = typed.sqlite_file
        self.max_in_flight = typed.sqlite.max_in_flight
        self._db = connect(self.path, typed.sqlite.busy_timeout_s)
        self._batch: list[Future[None]] | None = None
        self.written = 0

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for the writes made inside; their Futures complete at commit."""
        if self._batch is not None:
            raise RuntimeError("SqliteStore.batch() does not nest")
        pending: list[Future[None]] = []
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            yield  # could not open a transaction: the writes autocommit one by one as outside a batch
            return
        self._batch = pending
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            for done in pending:
                done.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            if not isinstance(exc, sqlite3.Error):
                raise
            return
        finally:
            self._batch = None
        self.written += len(pending)
        for done in pending:
            done.set_result(None)

    def write(self, kind: str, record: Event | WindowResult | Alert | DeadLetter) -> Future[None]:
        done: Future[None] = Future()
        if kind not in RECORD_KINDS:
            done.set_exception(
                ConfigError("kind", f"{kind!r} is not a record kind", f"use one of {RECORD_KINDS}")
            )
            return done
        try:
            row = _row(kind, record)
            cols = ", ".join(row)
            marks = ", ".join(f":{c}" for c in row)
            self._db.execute(f"INSERT OR REPLACE INTO {_TABLE_OF[kind]} ({cols}) VALUES ({marks})", row)
        except Exception as exc:  # the Future carries the failure; persist fails the tuple
            done.set_exception(exc)
            return done
        if self._batch is not None:
            self._batch.append(done)  # completes at the batch's commit
            return done
        self.written += 1
        done.set_result(None)
        return done

    def has_window(self, tenant: str, device_id: str, metric: str, window_s: int, window_start: int) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM metric_windows"
            " WHERE tenant = ? AND device_id = ? AND metric = ? AND window_s = ? AND window_start = ?",
            (tenant, device_id, metric, window_s, window_start),
        ).fetchone()
        return row is not None

    def window_starts_on_day(
        self, tenant: str, device_id: str, metric: str, window_s: int, day: int
    ) -> dict[int, StoredWindow]:
        rows = self._db.execute(
            "SELECT window_start, draft, source FROM metric_windows WHERE tenant = ? AND device_id = ?"
            " AND metric = ? AND window_s = ? AND window_start >= ? AND window_start < ?",
            (tenant, device_id, metric, window_s, day * DAY_MS, (day + 1) * DAY_MS),
        )
        return {int(r[0]): StoredWindow(r[1], r[2]) for r in rows}

    def window_starts_of_days(
        self, requests: list[tuple[str, str, int, tuple[str, ...], tuple[int, ...]]]
    ) -> list[dict[tuple[str, int], dict[int, StoredWindow]]]:
        return [
            {
                (metric, window_s): self.window_starts_on_day(tenant, device_id, metric, window_s, day)
                for metric in metrics
                for window_s in lengths
            }
            for tenant, device_id, day, metrics, lengths in requests
        ]

    def late_offsets(self, source_topic: str, source_partition: int, first: int, end: int) -> set[int]:
        rows = self._db.execute(
            "SELECT source_offset FROM dead_letters WHERE source_topic = ? AND source_partition = ?"
            " AND source_offset >= ? AND source_offset < ? AND reason = 'late'",
            (source_topic, source_partition, first, end),
        )
        return {int(r[0]) for r in rows}

    # -- reads for the dashboard (squall.web.pipeline_page): small, newest first ---------------------------
    def window_series(self, limit: int = 500) -> list[tuple[str, str, str, int]]:
        """(tenant, device_id, metric, window_s) of the stored windows."""
        rows = self._db.execute(
            "SELECT DISTINCT tenant, device_id, metric, window_s FROM metric_windows"
            " ORDER BY tenant, device_id, metric, window_s LIMIT ?",
            (limit,),
        )
        return [(str(t), str(d), str(m), int(w)) for t, d, m, w in rows]

    def recent_windows(
        self, tenant: str, device_id: str, metric: str, window_s: int, limit: int = 120
    ) -> list[WindowResult]:
        cols = list(WINDOW_COLUMNS)
        rows = self._db.execute(
            f"SELECT {', '.join(cols)} FROM metric_windows WHERE tenant = ? AND device_id = ? AND metric = ?"
            " AND window_s = ? ORDER BY window_start DESC LIMIT ?",
            (tenant, device_id, metric, window_s, limit),
        )
        return [WindowResult(**dict(zip(cols, r, strict=True))) for r in rows]

    def recent_alerts(self, limit: int = 50) -> list[Alert]:
        cols = [f.name for f in fields(Alert)]
        rows = self._db.execute(f"SELECT {', '.join(cols)} FROM alerts ORDER BY ts DESC LIMIT ?", (limit,))
        return [Alert(**dict(zip(cols, r, strict=True))) for r in rows]

    def recent_dead_letters(self, limit: int = 500) -> list[DeadLetter]:
        cols = [f.name for f in fields(DeadLetter)]
        rows = self._db.execute(
            f"SELECT {', '.join(cols)} FROM dead_letters ORDER BY ts DESC LIMIT ?", (limit,)
        )
        return [DeadLetter(**dict(zip(cols, r, strict=True))) for r in rows]

    def close(self) -> None:
        self._db.close()


class EmbeddedPublisher:
    """Publisher for runs without Kafka: messages are appended to the `published` table, like a topic's log;
    re-publishing an identical (topic, key, value) after a replay is a no-op."""

    def __init__(self, settings: PipelineSettings | Mapping[str, Any]) -> None:
        typed = PipelineSettings.of(settings)
        self.path = typed.sqlite_file
        self._db = connect(self.path, typed.sqlite.busy_timeout_s)

    def publish(self, topic: str, key: bytes | None, value: bytes) -> Future[None]:
        done: Future[None] = Future()
        try:
            self._db.execute(
                "INSERT OR IGNORE INTO published (topic, key, value) VALUES (?, ?, ?)",
                (topic, key or b"", value),
            )
        except sqlite3.Error as exc:
            done.set_exception(exc)
            return done
        done.set_result(None)
        return done

    def publish_many(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> Future[None]:
        """Every (key, value) in one transaction; one Future for all of them."""
        done: Future[None] = Future()
        db = self._db
        try:
            db.execute("BEGIN")
            try:
                db.executemany(
                    "INSERT OR IGNORE INTO published (topic, key, value) VALUES (?, ?, ?)",
                    [(topic, key or b"", value) for key, value in records],
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            done.set_exception(exc)
            return done
        done.set_result(None)
        return done

    def close(self) -> None:
        self._db.close()
