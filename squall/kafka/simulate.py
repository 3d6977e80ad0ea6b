"""`squall simulate`: put simulated device messages on a real Kafka topic, exactly where the simulator says they land.

The simulator assigns each message a partition (crc32 of its key) and, for an empty topic, the offset a keyed
producer would give it; producing to that explicit partition with an idempotent producer keeps that promise,
and `produce` checks it against the offsets the broker returned.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from squall.errors import SquallError
from squall.kafka.client import client_config, unreachable
from squall.kafka.settings import KafkaSettings


@dataclass
class ProduceReport:
    topic: str
    produced: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    end_offsets: dict[int, int] = field(default_factory=dict)  # partition -> next offset after this run
    moved: int = 0  # messages whose broker offset differs from the simulator's (topic was not empty)
    offsets: list[int] = field(default_factory=list)  # broker offset of each message, in production order


def open_producer(settings: KafkaSettings) -> Any:
    try:
        return KafkaProducer(
            **client_config(
                settings,
                acks="all",
                enable_idempotence=True,
                linger_ms=max(settings.linger_ms, 5),
                batch_size=256 * 1024,
                client_id="squall-simulate",
            )
        )
    except KafkaError as exc:
        raise unreachable(settings, exc) from exc


def produce(
    messages: Iterable[Any],
    topic: str,
    producer: Any,
    *,
    timeout_s: float = 60.0,
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 1000,
    pace: float | None = None,
) -> ProduceReport:
    """Send every message (with .key, .value, .partition, .offset, .label) and wait until all are acknowledged.
    `pace`: send at most that many messages per second of wall-clock time (a live stream instead of a backlog)."""
    report = ProduceReport(topic=topic)
    futures: list[tuple[Any, Any]] = []
    started = time.monotonic()
    for msg in messages:
        if pace is not None:
            delay = started + report.produced / pace - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        futures.append((msg, producer.send(topic, key=msg.key, value=msg.value, partition=msg.partition)))
        report.labels[msg.label] += 1
        report.produced += 1
        if on_progress is not None and report.produced % progress_every == 0:
            on_progress(progress_every)
    producer.flush(timeout=timeout_s)
    if on_progress is not None and report.produced % progress_every:
        on_progress(report.produced % progress_every)
    for msg, fut in futures:
        try:
            meta = fut.get(timeout=timeout_s)
        except KafkaError as exc:
            raise SquallError(f"producing to {topic!r} failed: {exc}") from exc
        report.offsets.append(meta.offset)
        if meta.offset != msg.offset:
            report.moved += 1
        end = report.end_offsets.get(meta.partition, 0)
        report.end_offsets[meta.partition] = max(end, meta.offset + 1)
    return report


def with_broker_offsets(messages: list[Any], report: ProduceReport) -> list[Any]:
    """The messages with the offsets the broker gave them (differs from the simulator's on a non-empty topic)."""
    if not report.moved:
        return messages
    return [replace(m, offset=off) for m, off in zip(messages, report.offsets, strict=True)]


def truth_document(truth: Any, report: ProduceReport, meta: dict[str, Any]) -> dict[str, Any]:
    """The ground-truth file `squall simulate --truth FILE` writes (JSON)."""
    return {
        **meta,
        "topic": report.topic,
        "produced": truth.produced,
        "aggregated": truth.aggregated,
        "duplicates": truth.duplicates,
        "late": truth.late,
        "dead_lettered": truth.dead_lettered,
        "elsewhere": truth.elsewhere,  # valid, unique, not routed to the windows (e.g. alarms)
        "unique_events": truth.unique_events,
        "labels": dict(report.labels),
        "end_offsets": {str(p): o for p, o in sorted(report.end_offsets.items())},
        "bad": [
            {"topic": t, "partition": p, "offset": o, "reason": r}
            for (t, p, o), r in sorted(truth.bad_reasons.items())
        ],
        "late_ids": sorted([list(i) for i in truth.late_ids]),
        "rows": [truth.rows[k] for k in sorted(truth.rows)],
    }


def write_truth(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":")))
    tmp.replace(path)


def read_truth(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def truth_rows(doc: dict[str, Any]) -> dict[tuple[str, str, str, int, int], dict[str, Any]]:
    return {
        (r["tenant"], r["device_id"], r["metric"], r["window_s"], r["window_start"]): r for r in doc["rows"]
    }
