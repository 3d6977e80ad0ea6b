"""The upsert for each record kind: its CQL (rendered for a keyspace) and how a record becomes bind values.

Pure: no session, nothing sent (only the driver's UNSET marker). The Store prepares these once and binds per write.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from cassandra.query import UNSET_VALUE

from squall.errors import ConfigError
from squall.pipeline.model import RECORD_KINDS, WINDOW_COLUMNS, Alert, DeadLetter, Event, WindowResult

DEAD_LETTER_BUCKET = 1_000_000
_EPOCH = dt.date(1970, 1, 1)
_EPOCH_DT = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# metric_windows' day bucket (a partition key column) stands right before window_start.
_DAY_AT = WINDOW_COLUMNS.index("window_start")
_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "window": (
        "metric_windows",
        (*WINDOW_COLUMNS[:_DAY_AT], "day", *WINDOW_COLUMNS[_DAY_AT:], "draft", "source"),
    ),
    "event": ("events", ("tenant", "device_id", "day", "ts", "event_id", "type", "metrics", "attrs")),
    "alert": (
        "alerts",
        ("tenant", "device_id", "day", "ts", "alert_id", "metric", "kind", "value", "message"),
    ),
    "dead_letter": (
        "dead_letters",
        ("source_topic", "source_partition", "bucket", "source_offset", "reason", "detail", "payload", "ts"),
    ),
}

# How many leading insert columns form each table's partition key (rows sharing them can share a batch).
PARTITION_KEY_SIZE = {"window": 5, "event": 3, "alert": 3, "dead_letter": 3}


def utc_day(ms: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=ms // 86_400_000)


def datetime_to_ms(value: dt.datetime) -> int:
    """A timestamp the driver returned (naive, UTC) as ms since the epoch."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value - _EPOCH_DT) // dt.timedelta(milliseconds=1)


def table_for(kind: str) -> str:
    check_kind(kind)
    return _COLUMNS[kind][0]


def check_kind(kind: str) -> None:
    if kind not in RECORD_KINDS:
        raise ConfigError("kind", f"{kind!r} is not a record kind", f"use one of {', '.join(RECORD_KINDS)}")


def insert_cql(keyspace: str, kind: str) -> str:
    check_kind(kind)
    table, columns = _COLUMNS[kind]
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {keyspace}.{table} ({', '.join(columns)}) VALUES ({marks})"


def timestamped_insert_cql(keyspace: str, kind: str) -> str:
    """`insert_cql` with the write time bound as its last value (`USING TIMESTAMP ?`, microseconds since the
    epoch). The store fixes a row's write time when it first takes the row, so a write sent again after a
    failure never overwrites a newer write of the same row (e.g. a window's amended emit): Cassandra keeps the
    cell with the highest timestamp, whatever order the requests arrive in."""
    return f"{insert_cql(keyspace, kind)} USING TIMESTAMP ?"


def window_exists_cql(keyspace: str) -> str:
    """Whether one metric_windows row is stored (a point read of the row's full primary key)."""
    return (
        f"SELECT window_start FROM {keyspace}.metric_windows"
        " WHERE tenant = ? AND device_id = ? AND metric = ? AND window_s = ? AND day = ? AND window_start = ?"
    )


def window_starts_cql(keyspace: str) -> str:
    """The window_start, draft and source of every metric_windows row of one partition (a device, metric, length and UTC
    day)."""
    return (
        f"SELECT window_start, draft, source FROM {keyspace}.metric_windows"
        " WHERE tenant = ? AND device_id = ? AND metric = ? AND window_s = ? AND day = ?"
    )


def window_starts_in_cql(keyspace: str) -> str:
    """The (metric, window_s, window_start, draft, source) of every metric_windows row of one device and UTC day, for the
    metrics and lengths bound as lists: one request over metrics x lengths partitions."""
    return (
        f"SELECT metric, window_s, window_start, draft, source FROM {keyspace}.metric_windows"
        " WHERE tenant = ? AND device_id = ? AND metric IN ? AND window_s IN ? AND day = ?"
    )


def dead_letter_reasons_cql(keyspace: str) -> str:
    """Offset and reason of every dead letter of one (source topic, partition, offset bucket) partition."""
    return (
        f"SELECT source_offset, reason FROM {keyspace}.dead_letters"
        " WHERE source_topic = ? AND source_partition = ? AND bucket = ?"
    )


def window_key_values(
    tenant: str, device_id: str, metric: str, window_s: int, window_start: int
) -> tuple[Any, ...]:
    """The values for `window_exists_cql`; the day bucket is computed exactly as the writer's (`_window`)."""
    return (tenant, device_id, metric, window_s, utc_day(window_start), window_start)


def _window(r: WindowResult) -> tuple[Any, ...]:
    values = [getattr(r, column) for column in WINDOW_COLUMNS]
    values.insert(_DAY_AT, utc_day(r.window_start))
    # no draft: leave the stored one as it is (UNSET writes no cell, so most rows carry no draft and no tombstone)
    values.append(UNSET_VALUE if r.draft is None else r.draft)
    values.append(UNSET_VALUE if r.source is None else r.source)
    return tuple(values)


def _event(r: Event) -> tuple[Any, ...]:
    attrs = json.dumps(r.attrs, sort_keys=True, separators=(",", ":")) if r.attrs else "{}"
    return (r.tenant, r.device_id, utc_day(r.ts), r.ts, r.event_id, r.type, dict(r.metrics), attrs)


def _alert(r: Alert) -> tuple[Any, ...]:
    return (r.tenant, r.device_id, utc_day(r.ts), r.ts, r.alert_id, r.metric, r.kind, r.value, r.message)


def _dead_letter(r: DeadLetter) -> tuple[Any, ...]:
    return (
        r.source_topic,
        r.source_partition,
        r.source_offset // DEAD_LETTER_BUCKET,
        r.source_offset,
        r.reason,
        r.detail,
        bytes(r.payload),
        r.ts,
    )


_BINDERS: dict[str, tuple[type, Callable[[Any], tuple[Any, ...]]]] = {
    "window": (WindowResult, _window),
    "event": (Event, _event),
    "alert": (Alert, _alert),
    "dead_letter": (DeadLetter, _dead_letter),
}


def bind_values(kind: str, record: Any) -> tuple[Any, ...]:
    """The values for `insert_cql(kind)`, in column order; a record of the wrong type is a ConfigError."""
    check_kind(kind)
    want, binder = _BINDERS[kind]
    if not isinstance(record, want):
        raise ConfigError("record", f"kind {kind!r} takes a {want.__name__}, got {type(record).__name__}")
    return binder(record)
