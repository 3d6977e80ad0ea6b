"""Reading dead letters back for `squall dlq show`: from the dead-letter topic, Cassandra's dead_letters table or
the embedded SQLite store's; counting them by reason; and the table and JSON shapes the command prints."""

from __future__ import annotations

import base64
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from squall.errors import ConfigError
from squall.kafka.dead_letters import DeadLetterDecodeError, decode_dead_letter
from squall.kafka.settings import KafkaSettings
from squall.pipeline.model import DeadLetter

if TYPE_CHECKING:
    from squall.pipeline.settings import PipelineSettings

PREVIEW_BYTES = 48
MIN_CUT_WIDTH = 8  # narrowest detail or preview column worth showing
SOURCES = ("kafka", "cassandra", "sqlite")


def preview(payload: bytes, width: int = PREVIEW_BYTES) -> str:
    """The first bytes, printable ASCII as is, everything else as \\xNN; `…` when cut."""
    head = payload[:width]
    text = "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02x}" for b in head)
    return text + ("…" if len(payload) > width else "")


def default_source(pipeline: PipelineSettings) -> str:
    """Where `squall dlq show` looks when not told: the dead-letter topic when the pipeline publishes to Kafka,
    else the store it persists to (the embedded SQLite file, or Cassandra)."""
    if pipeline.publisher == "kafka":
        return "kafka"
    return "sqlite" if pipeline.sink == "sqlite" else "cassandra"


def dead_letters_from_kafka(
    pipeline: PipelineSettings | Mapping[str, Any], topic: str | None, limit: int | None
) -> tuple[list[DeadLetter], int]:
    from squall.kafka.admin import read_topic

    kafka = KafkaSettings.from_pipeline(pipeline)
    letters: list[DeadLetter] = []
    skipped = 0
    for record in read_topic(kafka, topic or kafka.dlq_topic, limit=limit):
        try:
            letters.append(decode_dead_letter(record.value or b""))
        except DeadLetterDecodeError:
            skipped += 1
    return letters, skipped


def dead_letters_from_cassandra(
    pipeline: PipelineSettings | Mapping[str, Any], limit: int | None
) -> list[DeadLetter]:
    from squall.cassandra.settings import CassandraSettings
    from squall.cassandra.statements import datetime_to_ms
    from squall.cassandra.store import connect

    settings = CassandraSettings.from_pipeline(pipeline)
    cluster, session = connect(settings, settings.keyspace)
    try:
        query = (
            "SELECT source_topic, source_partition, source_offset, reason, detail, payload, ts "
            f"FROM {settings.keyspace}.dead_letters"
        )
        rows = session.execute(query + " LIMIT %s", (limit,)) if limit is not None else session.execute(query)
        return [
            DeadLetter(
                reason=r.reason,
                detail=r.detail or "",
                payload=bytes(r.payload or b""),
                source_topic=r.source_topic,
                source_partition=r.source_partition,
                source_offset=r.source_offset,
                ts=datetime_to_ms(r.ts) if r.ts else 0,
            )
            for r in rows
        ]
    finally:
        cluster.shutdown()


def reasons_from_cassandra(pipeline: PipelineSettings | Mapping[str, Any]) -> dict[str, int]:
    """Dead letters per reason in Cassandra's dead_letters table (reads the reason column of every row)."""
    from squall.cassandra.settings import CassandraSettings
    from squall.cassandra.store import connect

    settings = CassandraSettings.from_pipeline(pipeline)
    cluster, session = connect(settings, settings.keyspace)
    try:
        rows = session.execute(f"SELECT reason FROM {settings.keyspace}.dead_letters")
        return count_by_reason(r.reason for r in rows)
    finally:
        cluster.shutdown()


def _open_sqlite(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ConfigError(
            "pipeline.sqlite.path",
            f"no SQLite store at {path}",
            "run the pipeline first with `squall run iot_pipeline -e local`, or name the env that wrote it with -e",
        )
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def dead_letters_from_sqlite(path: Path, limit: int | None) -> list[DeadLetter]:
    """Dead letters of the embedded store, oldest first (then by source position)."""
    query = (
        "SELECT reason, detail, payload, source_topic, source_partition, source_offset, ts FROM dead_letters "
        "ORDER BY ts, source_topic, source_partition, source_offset"
    )
    with _open_sqlite(path) as db:
        rows = db.execute(query + " LIMIT ?", (limit,)).fetchall() if limit is not None else db.execute(query)
        return [
            DeadLetter(
                reason=str(r[0]),
                detail=str(r[1]),
                payload=bytes(r[2]),
                source_topic=str(r[3]),
                source_partition=int(r[4]),
                source_offset=int(r[5]),
                ts=int(r[6]),
            )
            for r in rows
        ]


def reasons_from_sqlite(path: Path) -> dict[str, int]:
    """Dead letters per reason in the embedded store, most frequent first."""
    with _open_sqlite(path) as db:
        rows = db.execute("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason").fetchall()
    return _ranked({str(r): int(n) for r, n in rows})


def count_by_reason(reasons: Iterable[str]) -> dict[str, int]:
    """{reason: count}, most frequent first, ties by reason."""
    return _ranked(Counter(reasons))


def _ranked(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def letter_document(dl: DeadLetter) -> dict[str, Any]:
    """One dead letter for `--json`: every field, the original bytes whole (base64) and as escaped text."""
    return {
        "reason": dl.reason,
        "detail": dl.detail,
        "source_topic": dl.source_topic,
        "source_partition": dl.source_partition,
        "source_offset": dl.source_offset,
        "ts": dl.ts,
        "payload_size": len(dl.payload),
        "payload_base64": base64.b64encode(dl.payload).decode("ascii"),
        "payload_text": preview(dl.payload, len(dl.payload)),
    }


def letters_document(source: str, letters: Sequence[DeadLetter], skipped: int = 0) -> dict[str, Any]:
    """`squall dlq show --json`."""
    return {
        "source": source,
        "count": len(letters),
        "skipped_undecodable": skipped,
        "dead_letters": [letter_document(dl) for dl in letters],
    }


def reasons_document(source: str, by_reason: Mapping[str, int], skipped: int = 0) -> dict[str, Any]:
    """`squall dlq show --by-reason --json`."""
    return {
        "source": source,
        "total": sum(by_reason.values()),
        "skipped_undecodable": skipped,
        "by_reason": dict(by_reason),
    }


def render_table(letters: Sequence[DeadLetter], width: int = 80) -> Table:
    """One line per dead letter, for a terminal `width` columns wide. The reason and the source
    (`topic/partition@offset`) are never wrapped nor cut; the detail and the preview of the original bytes share
    the width left and are cut with `…` (`--json` has them whole). When the width left is too narrow for both,
    the detail goes first, then the preview. Print it with `crop=False`: a reason or a source wider than the
    terminal then runs past the edge instead of being cut."""
    sources = [f"{dl.source_topic}/{dl.source_partition}@{dl.source_offset}" for dl in letters]
    reason_w = max([len("reason"), *(len(dl.reason) for dl in letters)])
    source_w = max([len("source"), *map(len, sources)])
    left = width - reason_w - source_w - 7  # two columns: 3 borders and 2 spaces of padding each
    table = Table(title="dead letters", width=width - left if left < 0 else None)
    table.add_column("reason", no_wrap=True, min_width=reason_w)
    table.add_column("source", no_wrap=True, min_width=source_w)
    columns = 0
    if left >= 2 * (MIN_CUT_WIDTH + 3):  # each column adds a border and 2 spaces of padding
        detail_w = (left - 6) // 2
        table.add_column("detail", no_wrap=True, overflow="ellipsis", width=detail_w)
        table.add_column("original bytes", no_wrap=True, overflow="ellipsis", width=left - 6 - detail_w)
        columns = 2
    elif left >= MIN_CUT_WIDTH + 3:
        table.add_column("original bytes", no_wrap=True, overflow="ellipsis", width=left - 3)
        columns = 1
    for dl, source in zip(letters, sources, strict=True):
        extra = [dl.detail, preview(dl.payload)][2 - columns :] if columns else []
        table.add_row(dl.reason, source, *extra)
    return table


def render_reasons(by_reason: Mapping[str, int]) -> Table:
    table = Table(title="dead letters by reason")
    table.add_column("reason", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    for reason, n in by_reason.items():
        table.add_row(reason, str(n))
    return table
