"""Reading dead letters back for `squall dlq show`: from the dead-letter topic or the dead_letters table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

from squall.kafka.dead_letters import DeadLetterDecodeError, decode_dead_letter
from squall.kafka.settings import KafkaSettings
from squall.pipeline.model import DeadLetter

if TYPE_CHECKING:
    from squall.pipeline.settings import PipelineSettings

PREVIEW_BYTES = 48


def preview(payload: bytes, width: int = PREVIEW_BYTES) -> str:
    """The first bytes, printable ASCII as is, everything else as \\xNN; `…` when cut."""
    head = payload[:width]
    text = "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02x}" for b in head)
    return text + ("…" if len(payload) > width else "")


def dead_letters_from_kafka(
    pipeline: PipelineSettings | Mapping[str, Any], topic: str | None, limit: int
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
    pipeline: PipelineSettings | Mapping[str, Any], limit: int
) -> list[DeadLetter]:
    from squall.cassandra.settings import CassandraSettings
    from squall.cassandra.statements import datetime_to_ms
    from squall.cassandra.store import connect

    settings = CassandraSettings.from_pipeline(pipeline)
    cluster, session = connect(settings, settings.keyspace)
    try:
        rows = session.execute(
            "SELECT source_topic, source_partition, source_offset, reason, detail, payload, ts "
            f"FROM {settings.keyspace}.dead_letters LIMIT %s",
            (limit,),
        )
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


def render_table(letters: Sequence[DeadLetter]) -> Table:
    table = Table(title="dead letters")
    for col in ("reason", "topic", "partition", "offset", "detail", "original bytes"):
        table.add_column(col, overflow="fold")
    for dl in letters:
        table.add_row(
            dl.reason,
            dl.source_topic,
            str(dl.source_partition),
            str(dl.source_offset),
            dl.detail[:60],
            preview(dl.payload),
        )
    return table
